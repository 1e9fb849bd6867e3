/*
 * apply: writes decoded Stripe objects, usage and deliveries into the
 * mirror, and derives the ledger effects of the state they leave.  See
 * apply.h for the rules; doc/ledger.md for the keys.
 *
 * Each mirrored kind has a row in `kinds` below: how to read its version,
 * how to mark it for refetch, how to mark it deleted, and how to order its
 * statuses within one second.  The upsert for each kind is its own function,
 * because each writes its own columns; all of them go through `guard` first,
 * which is the only place the version rule lives.
 *
 * Errors caused by the value rather than the store (credits that overflow,
 * a stub of a kind never deleted) return APPLY_EINPUT, so the caller can set
 * the value aside instead of stopping (apply.h).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "drift.h"
#include "ledger.h"
#include "util.h"

/* How far along an invoice status is, for ties within one second: a
 * status further along is the later state.  -1 for a status without a
 * place (the tie stays a conflict). */
static int
invoice_rank(const char *status)
{
	static const struct {
		const char *status;
		int rank;
	} ranks[] = {
		{ "draft", 0 }, { "open", 1 }, { "paid", 2 }, { "uncollectible", 2 },
		{ "void", 2 }, { "deleted", 2 },
	};
	size_t i;

	for (i = 0; status != NULL && i < sizeof ranks / sizeof ranks[0]; i++)
		if (strcmp(ranks[i].status, status) == 0)
			return ranks[i].rank;
	return -1;
}

struct kind_sql {
	enum stripe_kind kind;
	const char *version;    /* ver, raw_hash, placeholder, status of one row */
	const char *refetch;    /* mark one row for refetch */
	const char *deleted;    /* mark one row deleted (id, ver, hash, now), or
	                         * write one that says so; NULL: never deleted */
	int (*rank)(const char *status);        /* orders same-second states; may be NULL */
};

static const struct kind_sql kinds[] = {
	{ SK_CUSTOMER,
	  "SELECT ver, raw_hash, placeholder, NULL FROM customers WHERE id = ?",
	  "UPDATE customers SET refetch = 1 WHERE id = ?",
	  "INSERT INTO customers(id, deleted, placeholder, ver, raw_hash, refetch, updated_at) "
	  "VALUES (?, 1, 0, ?, ?, 0, ?) ON CONFLICT(id) DO UPDATE SET deleted = 1, "
	  "placeholder = 0, ver = excluded.ver, raw_hash = excluded.raw_hash, refetch = 0, "
	  "updated_at = excluded.updated_at",
	  NULL },
	{ SK_SUBSCRIPTION,
	  "SELECT ver, raw_hash, placeholder, status FROM subscriptions WHERE id = ?",
	  "UPDATE subscriptions SET refetch = 1 WHERE id = ?",
	  "INSERT INTO subscriptions(id, customer, status, placeholder, ver, raw_hash, refetch, "
	  "updated_at) VALUES (?, '', 'deleted', 0, ?, ?, 0, ?) ON CONFLICT(id) DO UPDATE SET "
	  "status = 'deleted', placeholder = 0, ver = excluded.ver, raw_hash = excluded.raw_hash, "
	  "refetch = 0, updated_at = excluded.updated_at",
	  NULL },
	{ SK_INVOICE,
	  "SELECT ver, raw_hash, placeholder, status FROM invoices WHERE id = ?",
	  "UPDATE invoices SET refetch = 1 WHERE id = ?",
	  "INSERT INTO invoices(id, customer, status, placeholder, ver, raw_hash, refetch, "
	  "updated_at) VALUES (?, '', 'deleted', 0, ?, ?, 0, ?) ON CONFLICT(id) DO UPDATE SET "
	  "status = 'deleted', placeholder = 0, ver = excluded.ver, raw_hash = excluded.raw_hash, "
	  "refetch = 0, updated_at = excluded.updated_at",
	  invoice_rank },
	{ SK_PRICE,
	  "SELECT ver, raw_hash, 0, NULL FROM prices WHERE id = ?",
	  NULL,
	  "INSERT INTO prices(id, active, ver, raw_hash, updated_at) VALUES (?, 0, ?, ?, ?) "
	  "ON CONFLICT(id) DO UPDATE SET active = 0, ver = excluded.ver, "
	  "raw_hash = excluded.raw_hash, updated_at = excluded.updated_at",
	  NULL },
	{ SK_CHECKOUT_SESSION,
	  "SELECT ver, raw_hash, 0, NULL FROM checkout_sessions WHERE id = ?",
	  "UPDATE checkout_sessions SET refetch = 1 WHERE id = ?",
	  NULL, NULL },
	{ SK_CHARGE,
	  "SELECT ver, raw_hash, 0, NULL FROM charges WHERE id = ?",
	  "UPDATE charges SET refetch = 1 WHERE id = ?",
	  NULL, NULL },
	{ SK_REFUND,
	  "SELECT ver, raw_hash, 0, NULL FROM reversals WHERE id = ?",
	  "UPDATE reversals SET refetch = 1 WHERE id = ?",
	  NULL, NULL },
	{ SK_DISPUTE,
	  "SELECT ver, raw_hash, 0, NULL FROM reversals WHERE id = ?",
	  "UPDATE reversals SET refetch = 1 WHERE id = ?",
	  NULL, NULL },
	{ SK_CREDIT_GRANT,
	  "SELECT ver, raw_hash, 0, NULL FROM credit_grants WHERE id = ?",
	  "UPDATE credit_grants SET refetch = 1 WHERE id = ?",
	  NULL, NULL },
	{ SK_ENTITLEMENT_SUMMARY,
	  "SELECT ver, 0, 0, NULL FROM entitlement_summaries WHERE customer = ?",
	  NULL, NULL, NULL },
};

static const struct kind_sql *
kind_sql(enum stripe_kind k)
{
	size_t i;

	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (kinds[i].kind == k)
			return &kinds[i];
	return NULL;
}

/* The status an object's write would leave, for kinds whose statuses are
 * ranked. */
static const char *
object_status(const struct stripe_object *o)
{
	if (o->deleted)
		return "deleted";
	switch (o->kind) {
	case SK_INVOICE:        return o->u.invoice.status;
	default:                return NULL;
	}
}

const char *
apply_result_name(enum apply_result r)
{
	switch (r) {
	case APPLY_APPLIED:     return "applied";
	case APPLY_DUPLICATE:   return "duplicate";
	case APPLY_SUPERSEDED:  return "superseded";
	case APPLY_CONFLICT:    return "conflict";
	case APPLY_STORED:      return "stored";
	case APPLY_UNPRICED:    return "unpriced";
	}
	return "?";
}

/*
 * The version rule.  Sets *res to APPLY_APPLIED when the write should go
 * ahead (no row, a placeholder, or an older version), APPLY_DUPLICATE for the
 * same version and content, APPLY_SUPERSEDED for an older write, and
 * APPLY_CONFLICT for the same version with other content (then the row is
 * marked for refetch).  Within one second, a kind with ranked statuses lets
 * the status further along win instead of conflicting (c->note says so when
 * the incoming write loses).
 */
static int
guard(struct apply_ctx *c, const struct stripe_object *o, const char *id, int64_t ver,
      int64_t hash, enum apply_result *res, struct err *e)
{
	const struct kind_sql *k = kind_sql(o->kind);
	sqlite3_stmt *st;
	int64_t sver, shash;
	int rc, placeholder, srank = -1, rank;

	*res = APPLY_APPLIED;
	if (k == NULL)
		return 0;
	if ((st = store_stmt(c->s, k->version, e)) == NULL)
		return -1;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return store_err(c->s, e, "reading object version");
	}
	sver = sqlite3_column_int64(st, 0);
	shash = sqlite3_column_int64(st, 1);
	placeholder = sqlite3_column_int(st, 2);
	if (k->rank != NULL && sqlite3_column_type(st, 3) != SQLITE_NULL)
		srank = k->rank(col_text(st, 3));
	sqlite3_reset(st);
	if (placeholder || ver > sver)
		return 0;
	if (ver < sver) {
		*res = APPLY_SUPERSEDED;
		return 0;
	}
	if (hash == shash) {
		*res = APPLY_DUPLICATE;
		return 0;
	}
	rank = k->rank != NULL ? k->rank(object_status(o)) : -1;
	if (rank >= 0 && srank >= 0 && rank != srank) {
		if (rank < srank) {
			*res = APPLY_SUPERSEDED;
			c->note = "same second as the mirrored state, whose status is further along; "
			    "recorded, not applied";
		}
		return 0;
	}
	*res = APPLY_CONFLICT;
	if (k->refetch == NULL)
		return 0;
	if ((st = store_stmt(c->s, k->refetch, e)) == NULL)
		return -1;
	bind_text(st, 1, id);
	return store_step_done(c->s, st, e);
}

/* A deletion stub: mark the row deleted, or write one that says so. */
static int
put_deleted(struct apply_ctx *c, const struct stripe_object *o, int64_t ver, int64_t hash,
            struct err *e)
{
	const struct kind_sql *k = kind_sql(o->kind);
	sqlite3_stmt *st;

	assert(k != NULL && k->deleted != NULL);
	if ((st = store_stmt(c->s, k->deleted, e)) == NULL)
		return -1;
	bind_text(st, 1, o->id);
	bind_int(st, 2, ver);
	bind_int(st, 3, hash);
	bind_int(st, 4, c->now);
	return store_step_done(c->s, st, e);
}

/* A row for an object named before it is seen. */
static int
placeholder_customer(struct apply_ctx *c, const char *id, struct err *e)
{
	sqlite3_stmt *st;

	if (id == NULL || *id == '\0')
		return 0;
	st = store_stmt(c->s,
	    "INSERT INTO customers(id, placeholder, updated_at) VALUES (?, 1, ?) "
	    "ON CONFLICT(id) DO NOTHING", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, id);
	bind_int(st, 2, c->now);
	return store_step_done(c->s, st, e);
}

static int
placeholder_subscription(struct apply_ctx *c, const char *id, const char *customer,
                         struct err *e)
{
	sqlite3_stmt *st;

	if (id == NULL || *id == '\0' || customer == NULL)
		return 0;
	st = store_stmt(c->s,
	    "INSERT INTO subscriptions(id, customer, placeholder, updated_at) VALUES (?, ?, 1, ?) "
	    "ON CONFLICT(id) DO NOTHING", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, id);
	bind_text(st, 2, customer);
	bind_int(st, 3, c->now);
	return store_step_done(c->s, st, e);
}

/* --- upserts, one per kind ---------------------------------------------- */

static int
put_customer(struct apply_ctx *c, const struct stripe_object *o, int64_t ver, int64_t hash,
             struct err *e)
{
	const struct s_customer *x = &o->u.customer;
	sqlite3_stmt *st = store_stmt(c->s,
	    "INSERT INTO customers(id, email, name, currency, created, deleted, placeholder, "
	    "ver, raw_hash, refetch, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?) "
	    "ON CONFLICT(id) DO UPDATE SET email = excluded.email, name = excluded.name, "
	    "currency = excluded.currency, created = excluded.created, "
	    "deleted = excluded.deleted, placeholder = 0, ver = excluded.ver, "
	    "raw_hash = excluded.raw_hash, refetch = 0, updated_at = excluded.updated_at", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, o->id);
	bind_text(st, 2, x->email);
	bind_text(st, 3, x->name);
	bind_text(st, 4, x->currency);
	bind_opt_int(st, 5, x->created);
	bind_int(st, 6, x->deleted);
	bind_int(st, 7, ver);
	bind_int(st, 8, hash);
	bind_int(st, 9, c->now);
	return store_step_done(c->s, st, e);
}

static int
put_subscription(struct apply_ctx *c, const struct stripe_object *o, int64_t ver,
                 int64_t hash, struct err *e)
{
	const struct s_subscription *x = &o->u.subscription;
	sqlite3_stmt *st;
	size_t i;

	if (placeholder_customer(c, x->customer, e) != 0)
		return -1;
	st = store_stmt(c->s,
	    "INSERT INTO subscriptions(id, customer, status, current_period_start, "
	    "current_period_end, cancel_at, canceled_at, ended_at, trial_end, created, "
	    "placeholder, ver, raw_hash, refetch, updated_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?) "
	    "ON CONFLICT(id) DO UPDATE SET customer = excluded.customer, "
	    "status = excluded.status, current_period_start = excluded.current_period_start, "
	    "current_period_end = excluded.current_period_end, cancel_at = excluded.cancel_at, "
	    "canceled_at = excluded.canceled_at, ended_at = excluded.ended_at, "
	    "trial_end = excluded.trial_end, created = excluded.created, placeholder = 0, "
	    "ver = excluded.ver, raw_hash = excluded.raw_hash, refetch = 0, "
	    "updated_at = excluded.updated_at", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, o->id);
	bind_text(st, 2, x->customer);
	bind_text(st, 3, x->status);
	bind_opt_int(st, 4, x->period_start);
	bind_opt_int(st, 5, x->period_end);
	bind_opt_int(st, 6, x->cancel_at);
	bind_opt_int(st, 7, x->canceled_at);
	bind_opt_int(st, 8, x->ended_at);
	bind_opt_int(st, 9, x->trial_end);
	bind_opt_int(st, 10, x->created);
	bind_int(st, 11, ver);
	bind_int(st, 12, hash);
	bind_int(st, 13, c->now);
	if (store_step_done(c->s, st, e) != 0)
		return -1;

	if ((st = store_stmt(c->s, "DELETE FROM subscription_items WHERE subscription = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, o->id);
	if (store_step_done(c->s, st, e) != 0)
		return -1;
	for (i = 0; i < x->nitems; i++) {
		const struct s_sub_item *it = &x->items[i];

		st = store_stmt(c->s,
		    "INSERT OR REPLACE INTO subscription_items(subscription, id, price, quantity, "
		    "current_period_start, current_period_end) VALUES (?, ?, ?, ?, ?, ?)", e);
		if (st == NULL)
			return -1;
		bind_text(st, 1, o->id);
		bind_text(st, 2, it->id ? it->id : "");
		bind_text(st, 3, it->price);
		bind_int(st, 4, it->quantity);
		bind_opt_int(st, 5, it->period_start ? it->period_start : x->period_start);
		bind_opt_int(st, 6, it->period_end ? it->period_end : x->period_end);
		if (store_step_done(c->s, st, e) != 0)
			return -1;
	}
	return 0;
}

/*
 * What an invoice's two shapes disagree on: events before 2025-03-31.basil
 * carry `charge` and `payment_intent`, the current shape carries neither
 * (the payment intent only through its payments, when expanded, which
 * events never are).  Which of them the mirror knows must not depend on
 * which shape came last, for a refund finds the credits it takes back
 * through them.
 *
 * An invoice has one payment intent for all its attempts, so one learnt
 * from any state is kept.  The charge that paid it is final once it is
 * paid, but an earlier one may be a failed attempt: put_invoice forgets a
 * charge learnt before the invoice was paid when it turns paid without
 * one.  And a write arriving older than the mirror's row (superseded, so
 * not applied) still fills what a newer write left unknown: its payment
 * intent, and its charge if it is a paid state.
 */
static int
invoice_ids_fill(struct apply_ctx *c, const struct stripe_object *o, struct err *e)
{
	const struct s_invoice *x = &o->u.invoice;
	int paid = x->status != NULL && strcmp(x->status, "paid") == 0;
	sqlite3_stmt *st;

	if (x->payment_intent == NULL && (x->charge == NULL || !paid))
		return 0;
	st = store_stmt(c->s, "UPDATE invoices SET payment_intent = COALESCE(payment_intent, ?2), "
	    "charge = CASE WHEN charge IS NULL AND status = 'paid' AND ?4 THEN ?3 ELSE charge END "
	    "WHERE id = ?1", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, o->id);
	bind_text(st, 2, x->payment_intent);
	bind_text(st, 3, x->charge);
	bind_int(st, 4, paid);
	return store_step_done(c->s, st, e);
}

static int
put_invoice(struct apply_ctx *c, const struct stripe_object *o, int64_t ver, int64_t hash,
            struct err *e)
{
	const struct s_invoice *x = &o->u.invoice;
	sqlite3_stmt *st;
	size_t i;

	if (placeholder_customer(c, x->customer, e) != 0 ||
	    placeholder_subscription(c, x->subscription, x->customer, e) != 0)
		return -1;
	st = store_stmt(c->s,
	    "INSERT INTO invoices(id, customer, subscription, status, billing_reason, currency, "
	    "amount_due, amount_paid, charge, payment_intent, period_start, period_end, paid_at, "
	    "created, placeholder, ver, raw_hash, refetch, updated_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?) "
	    "ON CONFLICT(id) DO UPDATE SET customer = excluded.customer, "
	    "subscription = excluded.subscription, status = excluded.status, "
	    "billing_reason = excluded.billing_reason, currency = excluded.currency, "
	    "amount_due = excluded.amount_due, amount_paid = excluded.amount_paid, "
	    "charge = CASE WHEN excluded.charge IS NOT NULL THEN excluded.charge "
	    "WHEN excluded.status = 'paid' AND status <> 'paid' THEN NULL ELSE charge END, "
	    "payment_intent = COALESCE(excluded.payment_intent, payment_intent), "
	    "period_start = excluded.period_start, period_end = excluded.period_end, "
	    "paid_at = COALESCE(excluded.paid_at, paid_at), created = excluded.created, "
	    "placeholder = 0, ver = excluded.ver, raw_hash = excluded.raw_hash, "
	    "refetch = CASE WHEN ?19 THEN excluded.refetch ELSE MAX(refetch, excluded.refetch) END, "
	    "updated_at = excluded.updated_at", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, o->id);
	bind_text(st, 2, x->customer);
	bind_text(st, 3, x->subscription);
	bind_text(st, 4, x->status);
	bind_text(st, 5, x->billing_reason);
	bind_text(st, 6, x->currency);
	bind_int(st, 7, x->amount_due);
	bind_int(st, 8, x->amount_paid);
	bind_text(st, 9, x->charge);
	bind_text(st, 10, x->payment_intent);
	bind_opt_int(st, 11, x->period_start);
	bind_opt_int(st, 12, x->period_end);
	bind_opt_int(st, 13, x->paid_at);
	bind_opt_int(st, 14, x->created);
	bind_int(st, 15, ver);
	bind_int(st, 16, hash);
	/* An incomplete line list cannot price a grant: the invoice waits for
	 * the API to fill it (apply_effects_invoice grants nothing meanwhile).
	 * A rendering without a line list keeps the lines we had, and so
	 * whether they were complete. */
	bind_int(st, 17, x->lines_more ? 1 : 0);
	bind_int(st, 18, c->now);
	bind_int(st, 19, x->nlines > 0 || x->lines_more);
	if (store_step_done(c->s, st, e) != 0)
		return -1;
	if (x->nlines == 0 && x->lines_more == 0)
		return 0;       /* no line list in this rendering: keep what we had */
	if ((st = store_stmt(c->s, "DELETE FROM invoice_lines WHERE invoice = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, o->id);
	if (store_step_done(c->s, st, e) != 0)
		return -1;
	for (i = 0; i < x->nlines; i++) {
		const struct s_inv_line *l = &x->lines[i];
		char idbuf[32];

		st = store_stmt(c->s,
		    "INSERT OR REPLACE INTO invoice_lines(invoice, id, price, quantity, amount, "
		    "period_start, period_end) VALUES (?, ?, ?, ?, ?, ?, ?)", e);
		if (st == NULL)
			return -1;
		snprintf(idbuf, sizeof idbuf, "line-%zu", i);
		bind_text(st, 1, o->id);
		bind_text(st, 2, l->id ? l->id : idbuf);
		bind_text(st, 3, l->price);
		bind_int(st, 4, l->quantity);
		bind_int(st, 5, l->amount);
		bind_opt_int(st, 6, l->period_start);
		bind_opt_int(st, 7, l->period_end);
		if (store_step_done(c->s, st, e) != 0)
			return -1;
	}
	return 0;
}

static int
put_price(struct apply_ctx *c, const struct stripe_object *o, int64_t ver, int64_t hash,
          struct err *e)
{
	const struct s_price *x = &o->u.price;
	sqlite3_stmt *st = store_stmt(c->s,
	    "INSERT OR REPLACE INTO prices(id, product, type, currency, unit_amount, interval, "
	    "lookup_key, nickname, active, ver, raw_hash, updated_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, o->id);
	bind_text(st, 2, x->product);
	bind_text(st, 3, x->type);
	bind_text(st, 4, x->currency);
	bind_int(st, 5, x->unit_amount);
	bind_text(st, 6, x->interval);
	bind_text(st, 7, x->lookup_key);
	bind_text(st, 8, x->nickname);
	bind_int(st, 9, x->active);
	bind_int(st, 10, ver);
	bind_int(st, 11, hash);
	bind_int(st, 12, c->now);
	return store_step_done(c->s, st, e);
}

static int
put_checkout(struct apply_ctx *c, const struct stripe_object *o, int64_t ver, int64_t hash,
             struct err *e)
{
	const struct s_checkout *x = &o->u.checkout;
	sqlite3_stmt *st;

	if (placeholder_customer(c, x->customer, e) != 0)
		return -1;
	st = store_stmt(c->s,
	    "INSERT OR REPLACE INTO checkout_sessions(id, customer, mode, status, payment_status, "
	    "payment_intent, invoice, price, quantity, amount_total, currency, created, ver, "
	    "raw_hash, refetch, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, o->id);
	bind_text(st, 2, x->customer);
	bind_text(st, 3, x->mode);
	bind_text(st, 4, x->status);
	bind_text(st, 5, x->payment_status);
	bind_text(st, 6, x->payment_intent);
	bind_text(st, 7, x->invoice);
	bind_text(st, 8, x->price);
	bind_int(st, 9, x->quantity);
	bind_int(st, 10, x->amount_total);
	bind_text(st, 11, x->currency);
	bind_opt_int(st, 12, x->created);
	bind_int(st, 13, ver);
	bind_int(st, 14, hash);
	bind_int(st, 15, c->now);
	return store_step_done(c->s, st, e);
}

static int
put_charge(struct apply_ctx *c, const struct stripe_object *o, int64_t ver, int64_t hash,
           struct err *e)
{
	const struct s_charge *x = &o->u.charge;
	sqlite3_stmt *st;

	if (placeholder_customer(c, x->customer, e) != 0)
		return -1;
	st = store_stmt(c->s,
	    "INSERT OR REPLACE INTO charges(id, customer, invoice, payment_intent, currency, "
	    "amount, amount_refunded, disputed, created, ver, raw_hash, refetch, updated_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, o->id);
	bind_text(st, 2, x->customer);
	bind_text(st, 3, x->invoice);
	bind_text(st, 4, x->payment_intent);
	bind_text(st, 5, x->currency);
	bind_int(st, 6, x->amount);
	bind_int(st, 7, x->amount_refunded);
	bind_int(st, 8, x->disputed);
	bind_opt_int(st, 9, x->created);
	bind_int(st, 10, ver);
	bind_int(st, 11, hash);
	/* Refunded, but the refunds are not in this rendering: ask the API. */
	bind_int(st, 12, x->amount_refunded > 0 && x->nrefunds == 0);
	bind_int(st, 13, c->now);
	return store_step_done(c->s, st, e);
}

static int
put_reversal(struct apply_ctx *c, const struct stripe_object *o, int64_t ver, int64_t hash,
             struct err *e)
{
	const struct s_reversal *x = &o->u.reversal;
	sqlite3_stmt *st = store_stmt(c->s,
	    "INSERT OR REPLACE INTO reversals(id, kind, charge, payment_intent, status, currency, "
	    "amount, created, ver, raw_hash, refetch, updated_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, o->id);
	bind_text(st, 2, o->kind == SK_DISPUTE ? "dispute" : "refund");
	bind_text(st, 3, x->charge);
	bind_text(st, 4, x->payment_intent);
	bind_text(st, 5, x->status);
	bind_text(st, 6, x->currency);
	bind_int(st, 7, x->amount);
	bind_opt_int(st, 8, x->created);
	bind_int(st, 9, ver);
	bind_int(st, 10, hash);
	bind_int(st, 11, c->now);
	return store_step_done(c->s, st, e);
}

static int
put_credit_grant(struct apply_ctx *c, const struct stripe_object *o, int64_t ver,
                 int64_t hash, struct err *e)
{
	const struct s_credit_grant *x = &o->u.credit_grant;
	sqlite3_stmt *st;

	if (placeholder_customer(c, x->customer, e) != 0)
		return -1;
	st = store_stmt(c->s,
	    "INSERT OR REPLACE INTO credit_grants(id, customer, category, currency, amount, "
	    "effective_at, expires_at, voided_at, created, ver, raw_hash, refetch, updated_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, o->id);
	bind_text(st, 2, x->customer);
	bind_text(st, 3, x->category);
	bind_text(st, 4, x->currency);
	bind_int(st, 5, x->amount);
	bind_opt_int(st, 6, x->effective_at);
	bind_opt_int(st, 7, x->expires_at);
	bind_opt_int(st, 8, x->voided_at);
	bind_opt_int(st, 9, x->created);
	bind_int(st, 10, ver);
	bind_int(st, 11, hash);
	bind_int(st, 12, c->now);
	return store_step_done(c->s, st, e);
}

static int
put_entitlements(struct apply_ctx *c, const struct stripe_object *o, int64_t ver,
                 struct err *e)
{
	const struct s_entitlement_summary *x = &o->u.entitlements;
	sqlite3_stmt *st;
	size_t i;

	if (placeholder_customer(c, x->customer, e) != 0)
		return -1;
	st = store_stmt(c->s,
	    "INSERT OR REPLACE INTO entitlement_summaries(customer, ver, updated_at) VALUES (?, ?, ?)", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, x->customer);
	bind_int(st, 2, ver);
	bind_int(st, 3, c->now);
	if (store_step_done(c->s, st, e) != 0)
		return -1;
	if ((st = store_stmt(c->s, "DELETE FROM entitlements WHERE customer = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, x->customer);
	if (store_step_done(c->s, st, e) != 0)
		return -1;
	for (i = 0; i < x->n; i++) {
		st = store_stmt(c->s,
		    "INSERT OR REPLACE INTO entitlements(customer, lookup_key, feature) VALUES (?, ?, ?)", e);
		if (st == NULL)
			return -1;
		bind_text(st, 1, x->customer);
		bind_text(st, 2, x->items[i].lookup_key ? x->items[i].lookup_key : "");
		bind_text(st, 3, x->items[i].feature);
		if (store_step_done(c->s, st, e) != 0)
			return -1;
	}
	return 0;
}

/* --- effects: credits implied by state ------------------------------------ */

static int effects_payment(struct apply_ctx *c, const char *charge, const char *payment_intent,
                           struct err *e);

static int
append_credit(struct apply_ctx *c, const char *customer, int64_t amount, const char *kind,
              const char *key, const char *source_type, const char *source_id,
              int64_t effective_at, int64_t expires_at, const char *reason, struct err *e)
{
	struct ledger_entry en;
	int rc;

	memset(&en, 0, sizeof en);
	en.customer = customer;
	en.amount = amount;
	en.kind = kind;
	en.key = key;
	en.source_type = source_type;
	en.source_id = source_id;
	en.effective_at = effective_at;
	en.expires_at = expires_at;
	en.reason = reason;
	rc = ledger_append(c->s, &en, c->now, &c->ledger_entries, e);
	return rc < 0 ? -1 : 0;
}

/* Credits are products of outside numbers (quantities, usage values) and the
 * catalog's: one that does not fit 64 bits is the input's fault. */
static int
credits_mul(int64_t a, int64_t b, int64_t *out)
{
	return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

static int
credits_add(int64_t *sum, int64_t x)
{
	return __builtin_add_overflow(*sum, x, sum) ? -1 : 0;
}

/*
 * A paid invoice's credits.  Plan lines make the grant, top-up lines the
 * top-up; both are sums over the lines, so neither depends on the order the
 * lines come in.  The grant expires at the latest period end of its lines
 * (never, if a plan rolls over); the top-up when the longest-lived of its
 * lines would (never, if one never expires).  An invoice whose line list is
 * incomplete (marked for refetch) waits.
 */
int
apply_effects_invoice(struct apply_ctx *c, const char *invoice_id, struct err *e)
{
	sqlite3_stmt *st;
	char customer[256], charge[256], pi[256], key[300], reason[200];
	int64_t at, grant = 0, grant_exp = 0, topup = 0, topup_days = 0;
	int rollover = 0, topup_never = 0, rc, has_charge, has_pi, waiting;

	st = store_stmt(c->s,
	    "SELECT customer, status, COALESCE(paid_at, created, ver), charge, payment_intent, "
	    "refetch FROM invoices WHERE id = ? AND placeholder = 0", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, invoice_id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || strcmp(col_text(st, 1), "paid") != 0) {
		sqlite3_reset(st);
		return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_err(c->s, e, "reading invoice");
	}
	snprintf(customer, sizeof customer, "%s", col_text(st, 0));
	at = sqlite3_column_int64(st, 2);
	has_charge = sqlite3_column_type(st, 3) != SQLITE_NULL;
	has_pi = sqlite3_column_type(st, 4) != SQLITE_NULL;
	snprintf(charge, sizeof charge, "%s", col_text(st, 3));
	snprintf(pi, sizeof pi, "%s", col_text(st, 4));
	waiting = sqlite3_column_int(st, 5) != 0;
	sqlite3_reset(st);
	if (waiting)
		goto payment;

	st = store_stmt(c->s,
	    "SELECT price, quantity, period_end, id FROM invoice_lines WHERE invoice = ? ORDER BY id", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, invoice_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *price = col_text(st, 0);
		int64_t qty = sqlite3_column_int64(st, 1), end = sqlite3_column_int64(st, 2), x;
		const struct catalog_plan *p = catalog_plan(c->cat, price);
		const struct catalog_topup *t = catalog_topup(c->cat, price);
		int bad = 0;

		if (qty <= 0)
			qty = 1;
		if (p != NULL) {
			bad = credits_mul(p->credits_per_period, qty, &x) != 0 || credits_add(&grant, x) != 0;
			rollover |= p->rollover;
			if (end > grant_exp)
				grant_exp = end;
		} else if (t != NULL) {
			bad = credits_mul(t->credits, qty, &x) != 0 || credits_add(&topup, x) != 0;
			if (t->expires_after_days <= 0)
				topup_never = 1;
			else if (t->expires_after_days > topup_days)
				topup_days = t->expires_after_days;
		}
		if (bad) {
			err_set(e, "invoice %s: line %s: %lld times %s: the credits overflow 64 bits; "
			    "not applied", invoice_id, col_text(st, 3), (long long)qty, price);
			sqlite3_reset(st);
			return APPLY_EINPUT;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_err(c->s, e, "reading invoice lines");

	if (grant > 0) {
		snprintf(key, sizeof key, "grant:invoice:%s", invoice_id);
		snprintf(reason, sizeof reason, "plan credits for paid invoice %s", invoice_id);
		if (append_credit(c, customer, grant, "grant", key, "invoice", invoice_id, at,
		    rollover ? 0 : grant_exp, reason, e) != 0)
			return -1;
	}
	if (topup > 0) {
		snprintf(key, sizeof key, "topup:invoice:%s", invoice_id);
		snprintf(reason, sizeof reason, "top-up paid by invoice %s", invoice_id);
		if (append_credit(c, customer, topup, "topup", key, "invoice", invoice_id, at,
		    topup_never ? 0 : at + topup_days * 86400, reason, e) != 0)
			return -1;
	}
payment:
	return effects_payment(c, has_charge ? charge : NULL, has_pi ? pi : NULL, e);
}

int
apply_effects_checkout(struct apply_ctx *c, const char *session_id, struct err *e)
{
	sqlite3_stmt *st;
	const struct catalog_topup *t;
	char customer[256], invoice[256], pi[256], price[256], key[300], reason[200];
	int64_t qty, at, credits;
	int rc, has_invoice, has_pi, paid;

	st = store_stmt(c->s,
	    "SELECT customer, mode, status, payment_status, invoice, payment_intent, price, "
	    "quantity, COALESCE(created, ver) FROM checkout_sessions WHERE id = ?", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, session_id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : store_err(c->s, e, "reading checkout session");
	}
	paid = strcmp(col_text(st, 1), "payment") == 0 && strcmp(col_text(st, 2), "complete") == 0 &&
	    (strcmp(col_text(st, 3), "paid") == 0 || strcmp(col_text(st, 3), "no_payment_required") == 0);
	snprintf(customer, sizeof customer, "%s", col_text(st, 0));
	has_invoice = sqlite3_column_type(st, 4) != SQLITE_NULL;
	snprintf(invoice, sizeof invoice, "%s", col_text(st, 4));
	has_pi = sqlite3_column_type(st, 5) != SQLITE_NULL;
	snprintf(pi, sizeof pi, "%s", col_text(st, 5));
	snprintf(price, sizeof price, "%s", col_text(st, 6));
	qty = sqlite3_column_int64(st, 7);
	at = sqlite3_column_int64(st, 8);
	sqlite3_reset(st);

	t = catalog_topup(c->cat, price);
	if (!paid || t == NULL || customer[0] == '\0')
		return 0;
	if (has_invoice) {
		/* One payment, one source: a session that made an invoice is
		 * credited by that invoice (topup:invoice:<in>), so the order the
		 * two arrive in cannot change the entry.  Until the invoice is
		 * seen, a placeholder asks the API for it. */
		st = store_stmt(c->s,
		    "INSERT INTO invoices(id, customer, placeholder, refetch, updated_at) "
		    "VALUES (?, ?, 1, 1, ?) ON CONFLICT(id) DO NOTHING", e);
		if (st == NULL)
			return -1;
		bind_text(st, 1, invoice);
		bind_text(st, 2, customer);
		bind_int(st, 3, c->now);
		return store_step_done(c->s, st, e);
	}
	if (qty <= 0)
		qty = 1;
	if (credits_mul(t->credits, qty, &credits) != 0) {
		err_set(e, "checkout session %s: %lld times %s: the credits overflow 64 bits; not applied",
		    session_id, (long long)qty, price);
		return APPLY_EINPUT;
	}
	snprintf(key, sizeof key, "topup:checkout:%s", session_id);
	snprintf(reason, sizeof reason, "top-up %s bought in checkout session %s", price, session_id);
	if (append_credit(c, customer, credits, "topup", key, "checkout.session",
	    session_id, at, t->expires_after_days > 0 ? at + t->expires_after_days * 86400 : 0,
	    reason, e) != 0)
		return -1;
	return effects_payment(c, NULL, has_pi ? pi : NULL, e);
}

/*
 * The payment a refund or dispute takes back: the invoice or checkout session
 * whose credits it claws back, its customer and the amount paid.
 */
struct payment {
	char source[256];
	char customer[256];
	int64_t paid;
};

static int
payment_find(struct apply_ctx *c, const char *charge, const char *pi, struct payment *p,
             struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	memset(p, 0, sizeof p[0]);
	st = store_stmt(c->s,
	    "SELECT id, customer, amount_paid FROM invoices "
	    "WHERE (charge = ?1 AND ?1 IS NOT NULL) OR (payment_intent = ?2 AND ?2 IS NOT NULL) "
	    "UNION ALL "
	    "SELECT i.id, i.customer, i.amount_paid FROM charges AS ch JOIN invoices AS i "
	    "ON i.id = ch.invoice WHERE ch.id = ?1 "
	    "UNION ALL "
	    "SELECT COALESCE(invoice, id), "
	    "COALESCE(customer, (SELECT i.customer FROM invoices AS i "
	    "WHERE i.id = checkout_sessions.invoice)), amount_total "
	    "FROM checkout_sessions "
	    "WHERE payment_intent = ?2 AND ?2 IS NOT NULL "
	    "   OR payment_intent = (SELECT payment_intent FROM charges WHERE id = ?1) "
	    "LIMIT 1", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, charge);
	bind_text(st, 2, pi);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(p->source, sizeof p->source, "%s", col_text(st, 0));
		snprintf(p->customer, sizeof p->customer, "%s", col_text(st, 1));
		p->paid = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(c->s, e, "finding the payment of a refund");
	return 0;
}

static int
effects_reversal(struct apply_ctx *c, const char *id, struct err *e)
{
	sqlite3_stmt *st;
	struct payment p;
	char kind[16], status[64], charge[256], pi[256], key[300], first[300], reason[300];
	int64_t amount, created, credited, take;
	int rc, has_charge, has_pi, active;

	st = store_stmt(c->s,
	    "SELECT kind, charge, payment_intent, status, amount, COALESCE(created, ver) "
	    "FROM reversals WHERE id = ?", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : store_err(c->s, e, "reading refund");
	}
	snprintf(kind, sizeof kind, "%s", col_text(st, 0));
	has_charge = sqlite3_column_type(st, 1) != SQLITE_NULL;
	snprintf(charge, sizeof charge, "%s", col_text(st, 1));
	has_pi = sqlite3_column_type(st, 2) != SQLITE_NULL;
	snprintf(pi, sizeof pi, "%s", col_text(st, 2));
	snprintf(status, sizeof status, "%s", col_text(st, 3));
	amount = sqlite3_column_int64(st, 4);
	created = sqlite3_column_int64(st, 5);
	sqlite3_reset(st);

	if (strcmp(kind, "refund") == 0)
		active = strcmp(status, "failed") != 0 && strcmp(status, "canceled") != 0;
	else
		active = strcmp(status, "won") != 0 && strcmp(status, "warning_closed") != 0;
	snprintf(key, sizeof key, "clawback:%s:%s", kind, id);

	if (!active) {
		/* A refund that failed or a dispute that was won gives back what
		 * was taken, once. */
		char why[64];

		snprintf(why, sizeof why, "%s %s %s", kind, id, status);
		rc = ledger_reverse(c->s, key, NULL, why, c->now, &c->ledger_entries, e);
		if (rc < 0 && strncmp(e->msg, "no ledger entry", 15) == 0)
			rc = 0;
		return rc < 0 ? -1 : 0;
	}

	if (payment_find(c, has_charge ? charge : NULL, has_pi ? pi : NULL, &p, e) != 0)
		return -1;
	if (p.source[0] == '\0')
		return 0;       /* the payment is not known yet: its own write will come back here */
	if (ledger_credited(c->s, p.source, &credited, first, sizeof first, e) != 0)
		return -1;
	if (credited <= 0)
		return 0;       /* nothing granted (yet): the grant's effects call us again */
	if (p.paid <= 0 || amount >= p.paid)
		take = credited;
	else
		take = (int64_t)((__int128)credited * amount / p.paid);
	if (take <= 0)
		return 0;
	if (p.customer[0] == '\0') {
		err_set(e, "%s %s: its payment %s names no customer to take credits from; "
		    "not applied", kind, id, p.source);
		return APPLY_EINPUT;
	}
	snprintf(reason, sizeof reason, "%s %s of %lld (of %lld paid) on %s", kind, id,
	    (long long)amount, (long long)p.paid, p.source);
	{
		struct ledger_entry en;

		memset(&en, 0, sizeof en);
		en.customer = p.customer;
		en.amount = -take;
		en.kind = "clawback";
		en.key = key;
		en.source_type = kind;
		en.source_id = id;
		en.ref = first;
		en.effective_at = created;
		en.reason = reason;
		rc = ledger_append(c->s, &en, c->now, &c->ledger_entries, e);
	}
	return rc < 0 ? -1 : 0;
}

/* Every refund or dispute of one payment. */
static int
effects_payment(struct apply_ctx *c, const char *charge, const char *payment_intent,
                struct err *e)
{
	sqlite3_stmt *st;
	char **ids = NULL;
	size_t n = 0, i;
	int rc;

	if (charge == NULL && payment_intent == NULL)
		return 0;
	st = store_stmt(c->s,
	    "SELECT id FROM reversals WHERE (charge = ?1 AND ?1 IS NOT NULL) "
	    "OR (payment_intent = ?2 AND ?2 IS NOT NULL) "
	    "OR charge IN (SELECT id FROM charges WHERE payment_intent = ?2 AND ?2 IS NOT NULL) "
	    "ORDER BY id", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, charge);
	bind_text(st, 2, payment_intent);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ids = xrealloc(ids, (n + 1) * sizeof *ids);
		ids[n++] = xstrdup(col_text(st, 0));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		rc = store_err(c->s, e, "finding refunds");
	else
		rc = 0;
	for (i = 0; i < n; i++) {
		if (rc == 0)
			rc = effects_reversal(c, ids[i], e);
		free(ids[i]);
	}
	free(ids);
	return rc;
}

int
apply_effects_reversal(struct apply_ctx *c, const char *id, struct err *e)
{
	return effects_reversal(c, id, e);
}

static int
effects(struct apply_ctx *c, const struct stripe_object *o, struct err *e)
{
	switch (o->kind) {
	case SK_INVOICE:
		return apply_effects_invoice(c, o->id, e);
	case SK_CHECKOUT_SESSION:
		return apply_effects_checkout(c, o->id, e);
	case SK_CHARGE:
		return effects_payment(c, o->id, o->u.charge.payment_intent, e);
	case SK_REFUND:
	case SK_DISPUTE:
		return effects_reversal(c, o->id, e);
	default:
		return 0;
	}
}

/* --- objects and events ---------------------------------------------------- */

int
apply_object(struct apply_ctx *c, const struct stripe_object *o, int64_t ver,
             int64_t hash, enum apply_result *res, struct err *e)
{
	const char *id = o->kind == SK_ENTITLEMENT_SUMMARY ? o->u.entitlements.customer : o->id;
	int rc;
	size_t i;

	*res = APPLY_STORED;
	c->note = NULL;
	if (o->kind == SK_UNKNOWN)
		return 0;
	if (o->deleted && (kind_sql(o->kind) == NULL || kind_sql(o->kind)->deleted == NULL)) {
		err_set(e, "%s %s: a deletion stub (\"deleted\": true), but Stripe never deletes a %s; "
		    "not applied", o->type, id ? id : "?", o->type);
		return APPLY_EINPUT;
	}
	if (guard(c, o, id, ver, hash, res, e) != 0)
		return -1;
	/* Drift: anything but a write of the very same state changes what the
	 * rules may find for the object's customer (a superseded event is
	 * event-out-of-order; a refund or dispute names no customer, so its
	 * payment's).  Marked here, in the caller's transaction; see drift.h. */
	if (*res != APPLY_DUPLICATE) {
		rc = o->kind == SK_REFUND || o->kind == SK_DISPUTE
		    ? drift_mark_dirty_payment(c->s, o->u.reversal.charge, o->u.reversal.payment_intent, e)
		    : drift_mark_dirty(c->s, stripe_object_customer(o), e);
		if (rc != 0)
			return -1;
	}
	if (*res == APPLY_SUPERSEDED && o->kind == SK_INVOICE && !o->deleted &&
	    invoice_ids_fill(c, o, e) != 0)
		return -1;
	if (*res != APPLY_APPLIED)
		return 0;
	if (o->deleted) {
		/* Nothing follows from a deletion: Stripe deletes only what was
		 * never paid (draft invoices). */
		if (put_deleted(c, o, ver, hash, e) != 0)
			return err_prefix(e, "%s %s: ", o->type, id);
		return 0;
	}
	switch (o->kind) {
	case SK_CUSTOMER:       rc = put_customer(c, o, ver, hash, e); break;
	case SK_SUBSCRIPTION:   rc = put_subscription(c, o, ver, hash, e); break;
	case SK_INVOICE:        rc = put_invoice(c, o, ver, hash, e); break;
	case SK_PRICE:          rc = put_price(c, o, ver, hash, e); break;
	case SK_CHECKOUT_SESSION: rc = put_checkout(c, o, ver, hash, e); break;
	case SK_CHARGE:         rc = put_charge(c, o, ver, hash, e); break;
	case SK_REFUND:
	case SK_DISPUTE:        rc = put_reversal(c, o, ver, hash, e); break;
	case SK_CREDIT_GRANT:   rc = put_credit_grant(c, o, ver, hash, e); break;
	case SK_ENTITLEMENT_SUMMARY: rc = put_entitlements(c, o, ver, e); break;
	default:                rc = 0; break;
	}
	if (rc != 0)
		return err_prefix(e, "%s %s: ", o->type, id ? id : "?");
	/* A charge carries its refunds: each is a refund written at this version. */
	if (o->kind == SK_CHARGE) {
		for (i = 0; i < o->u.charge.nrefunds; i++) {
			struct stripe_object r;
			enum apply_result rres;

			memset(&r, 0, sizeof r);
			r.kind = SK_REFUND;
			r.type = "refund";
			r.id = o->u.charge.refund_ids[i];
			r.u.reversal = o->u.charge.refunds[i];
			if (r.u.reversal.charge == NULL)
				r.u.reversal.charge = o->id;
			if (r.id != NULL && (rc = apply_object(c, &r, ver,
			    hash64(r.id, strlen(r.id)) ^ hash, &rres, e)) != 0)
				return rc;
		}
	}
	return effects(c, o, e);
}

int
apply_event(struct apply_ctx *c, const struct stripe_event *ev, const char *raw,
            size_t rawlen, int64_t hash, enum apply_result *res, struct err *e)
{
	const struct stripe_object *o = &ev->obj;
	const char *oid = o->kind == SK_ENTITLEMENT_SUMMARY ? o->u.entitlements.customer : o->id;
	const char *state, *note = NULL;
	sqlite3_stmt *st;
	int rc;

	st = store_stmt(c->s,
	    "INSERT INTO events(id, type, created, api_version, livemode, object_type, object_id, "
	    "customer, state, delivery_count, first_seen_at, body) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT(id) DO NOTHING", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, ev->id);
	bind_text(st, 2, ev->type);
	bind_int(st, 3, ev->created);
	bind_text(st, 4, ev->api_version);
	bind_int(st, 5, ev->livemode);
	bind_text(st, 6, o->type);
	bind_text(st, 7, oid);
	bind_text(st, 8, stripe_object_customer(o));
	bind_int(st, 9, c->now);
	sqlite3_bind_text(st, 10, raw, (int)rawlen, SQLITE_STATIC);
	if (store_step_done(c->s, st, e) != 0)
		return err_prefix(e, "event %s: ", ev->id);
	if (sqlite3_changes(store_db(c->s)) == 0) {
		*res = APPLY_DUPLICATE;
		return 0;
	}
	if ((rc = apply_object(c, o, ev->created, hash, res, e)) != 0) {
		err_prefix(e, "event %s: ", ev->id);
		return rc;
	}
	switch (*res) {
	case APPLY_DUPLICATE:
		/* Another event already left the object in this very state. */
		*res = APPLY_APPLIED;
		state = "applied";
		note = "object already in this state";
		break;
	case APPLY_SUPERSEDED:
		state = "superseded";
		note = c->note != NULL ? c->note
		    : "older than the object's mirrored state; recorded, not applied";
		break;
	case APPLY_CONFLICT:
		state = "conflict";
		note = "same second as the mirrored state with other content; marked for refetch";
		break;
	default:
		state = apply_result_name(*res);
		break;
	}
	st = store_stmt(c->s, "UPDATE events SET state = ?, note = ? WHERE id = ?", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, state);
	bind_text(st, 2, note);
	bind_text(st, 3, ev->id);
	return store_step_done(c->s, st, e);
}

/* --- usage ------------------------------------------------------------------ */

int
apply_usage(struct apply_ctx *c, const struct usage_rec *u, const char *source,
            int64_t offset, enum apply_result *res, struct err *e)
{
	const struct catalog_meter *m;
	sqlite3_stmt *st;
	struct ledger_entry en;
	char key[600], reason[300];
	int64_t credits = 0;
	int rc;

	st = store_stmt(c->s,
	    "SELECT event_name, customer, value, timestamp, source, source_offset "
	    "FROM usage WHERE identifier = ?", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, u->identifier);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int same = strcmp(col_text(st, 0), u->event_name) == 0 &&
		    strcmp(col_text(st, 1), u->customer) == 0 &&
		    sqlite3_column_int64(st, 2) == u->value &&
		    sqlite3_column_int64(st, 3) == u->timestamp;
		char why[900], first[256];

		snprintf(first, sizeof first, "%s", col_text(st, 1));
		snprintf(why, sizeof why,
		    "usage identifier %s repeated with a different payload: first seen as "
		    "%s=%lld for %s at %lld (%s offset %lld), now %s=%lld for %s at %lld; not applied",
		    u->identifier, col_text(st, 0), (long long)sqlite3_column_int64(st, 2),
		    col_text(st, 1), (long long)sqlite3_column_int64(st, 3), col_text(st, 4),
		    (long long)sqlite3_column_int64(st, 5), u->event_name, (long long)u->value,
		    u->customer, (long long)u->timestamp);
		sqlite3_reset(st);
		if (same) {
			*res = APPLY_DUPLICATE;
			st = store_stmt(c->s, "UPDATE usage SET repeats = repeats + 1 WHERE identifier = ?", e);
			if (st == NULL)
				return -1;
			bind_text(st, 1, u->identifier);
			return store_step_done(c->s, st, e);
		}
		*res = APPLY_CONFLICT;
		/* Drift: a usage-conflict for the customer it was applied to. */
		if (drift_mark_dirty(c->s, first, e) != 0)
			return -1;
		return apply_quarantine(c, "usage-conflict", source, offset, 0, why,
		    u->identifier, strlen(u->identifier), e);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_err(c->s, e, "reading usage");

	m = catalog_meter(c->cat, u->event_name);
	if (m != NULL && credits_mul(u->value, m->credits_per_unit, &credits) != 0) {
		err_set(e, "usage %s: value %lld times %lld credits per unit of '%s' overflows "
		    "64 bits; not applied", u->identifier, (long long)u->value,
		    (long long)m->credits_per_unit, u->event_name);
		return APPLY_EINPUT;
	}
	if (placeholder_customer(c, u->customer, e) != 0)
		return -1;
	st = store_stmt(c->s,
	    "INSERT INTO usage(identifier, event_name, customer, value, timestamp, source, "
	    "source_offset, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, u->identifier);
	bind_text(st, 2, u->event_name);
	bind_text(st, 3, u->customer);
	bind_int(st, 4, u->value);
	bind_int(st, 5, u->timestamp);
	bind_text(st, 6, source);
	bind_int(st, 7, offset);
	bind_int(st, 8, c->now);
	if (store_step_done(c->s, st, e) != 0)
		return -1;

	if (m == NULL) {
		char why[400];

		/* Drift: unpriced usage writes no entry (which would mark it). */
		if (drift_mark_dirty(c->s, u->customer, e) != 0)
			return -1;
		*res = APPLY_UNPRICED;
		snprintf(why, sizeof why, "usage %s: meter '%s' is not in the catalog; recorded "
		    "but no credits consumed", u->identifier, u->event_name);
		return apply_quarantine(c, "usage-unpriced", source, offset, 0, why,
		    u->identifier, strlen(u->identifier), e);
	}
	snprintf(key, sizeof key, "consume:usage:%s", u->identifier);
	snprintf(reason, sizeof reason, "%lld %s", (long long)u->value, u->event_name);
	memset(&en, 0, sizeof en);
	en.customer = u->customer;
	en.amount = -credits;
	en.kind = "consume";
	en.key = key;
	en.source_type = "usage";
	en.source_id = u->identifier;
	en.effective_at = u->timestamp;
	en.reason = reason;
	if (ledger_append(c->s, &en, c->now, &c->ledger_entries, e) < 0)
		return -1;
	*res = APPLY_APPLIED;
	return 0;
}

/* --- deliveries and quarantine ------------------------------------------------ */

int
apply_delivery(struct apply_ctx *c, const struct delivery *d, int *inserted, struct err *e)
{
	sqlite3_stmt *st = store_stmt(c->s,
	    "INSERT INTO deliveries(dkey, event_id, received_at, endpoint, attempt, status, "
	    "http_status, error, sig_state, sig_error, body, source, source_offset, recorded_at, "
	    "latency_ms, response) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dkey) DO NOTHING", e);
	int added;

	if (st == NULL)
		return -1;
	bind_text(st, 1, d->dkey);
	bind_text(st, 2, d->event_id);
	bind_opt_int(st, 3, d->received_at);
	bind_text(st, 4, d->endpoint);
	bind_opt_int(st, 5, d->attempt);
	bind_text(st, 6, d->status ? d->status : "ok");
	bind_opt_int(st, 7, d->http_status);
	bind_text(st, 8, d->error);
	bind_text(st, 9, d->sig_state);
	bind_text(st, 10, d->sig_error);
	bind_text(st, 11, d->body);
	bind_text(st, 12, d->source);
	bind_int(st, 13, d->source_offset);
	bind_int(st, 14, c->now);
	if (d->response != NULL)
		bind_int(st, 15, d->latency_ms);
	bind_text(st, 16, d->response);
	if (store_step_done(c->s, st, e) != 0)
		return -1;
	added = sqlite3_changes(store_db(c->s)) > 0;
	if (inserted != NULL)
		*inserted = added;
	if (!added || d->event_id == NULL)
		return 0;
	/* Drift: a new delivery of a stored event can open or close
	 * webhook-failed for the event's customer. */
	if (drift_mark_dirty_event(c->s, d->event_id, e) != 0)
		return -1;
	st = store_stmt(c->s,
	    "UPDATE events SET delivery_count = delivery_count + 1 WHERE id = ?", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, d->event_id);
	return store_step_done(c->s, st, e);
}

int
apply_quarantine(struct apply_ctx *c, const char *kind, const char *source,
                 int64_t offset, int64_t size, const char *reason,
                 const void *excerpt, size_t excerptlen, struct err *e)
{
	sqlite3_stmt *st = store_stmt(c->s,
	    "INSERT INTO quarantine(kind, source, source_offset, reason, size, excerpt, hash, "
	    "quarantined_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
	    "ON CONFLICT(source, source_offset, hash) DO NOTHING", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, kind);
	bind_text(st, 2, source ? source : "-");
	bind_int(st, 3, offset);
	bind_text(st, 4, reason);
	bind_int(st, 5, size);
	sqlite3_bind_blob(st, 6, excerpt, (int)excerptlen, SQLITE_TRANSIENT);
	bind_int(st, 7, hash64(reason, strlen(reason)) ^ hash64(excerpt, excerptlen));
	bind_int(st, 8, c->now);
	return store_step_done(c->s, st, e);
}
