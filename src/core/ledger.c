/*
 * ledger: append, settle expiries, reverse, read balances.  See ledger.h for
 * the model; this comment is about the replay that settles expiries.
 *
 * ledger_settle loads one customer's entries and replays them in effective
 * time.  Positive entries (other than expiry corrections) open buckets;
 * negative ones (other than expiries) are debits.  At one instant, buckets
 * close first (an expiry at t takes what was left before t), then buckets
 * open (paying any deficit left by debits that found no credit), then debits
 * draw: first from the bucket they name in `ref` if it is open, then from
 * open buckets by earliest expiry (never-expiring last), then oldest, then
 * key.  Ties in the sort are broken by key, so the replay is a function of
 * the set of entries alone.  A closed bucket's remainder is the amount its
 * expiry entries must add up to (negated).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift.h"
#include "ledger.h"
#include "util.h"

static int
balance_add(struct store *s, const char *customer, int64_t amount, int64_t now, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "INSERT INTO balances(customer, balance, updated_at) VALUES (?, ?, ?) "
	    "ON CONFLICT(customer) DO UPDATE SET balance = balance + excluded.balance, "
	    "updated_at = excluded.updated_at", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	bind_int(st, 2, amount);
	bind_int(st, 3, now);
	return store_step_done(s, st, e);
}

/* Is there an expiry entry for this customer effective after t? */
static int
expiry_after(struct store *s, const char *customer, int64_t t, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT 1 FROM ledger WHERE customer = ? AND effective_at > ? "
	    "AND kind = 'expire' LIMIT 1", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	bind_int(st, 2, t);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_err(s, e, "checking expiries");
}

static int
ledger_insert(struct store *s, const struct ledger_entry *en, int64_t now, struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (en->customer == NULL || *en->customer == '\0' || en->key == NULL || en->kind == NULL)
		return err_set(e, "ledger: internal error: entry without customer, key or kind");
	st = store_stmt(s,
	    "INSERT INTO ledger(customer, amount, kind, key, source_type, source_id, ref, "
	    "effective_at, expires_at, recorded_at, actor, reason) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, en->customer);
	bind_int(st, 2, en->amount);
	bind_text(st, 3, en->kind);
	bind_text(st, 4, en->key);
	bind_text(st, 5, en->source_type);
	bind_text(st, 6, en->source_id);
	bind_text(st, 7, en->ref);
	bind_int(st, 8, en->effective_at);
	bind_opt_int(st, 9, en->expires_at);
	bind_int(st, 10, now);
	bind_text(st, 11, en->actor ? en->actor : "system");
	bind_text(st, 12, en->reason);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return err_set(e, "%s: ledger entry %s for %s: %s", store_path(s), en->key,
		    en->customer, sqlite3_errmsg(store_db(s)));
	if (sqlite3_changes(store_db(s)) == 0)
		return LEDGER_EXISTS;
	/* The balance cache, and the drift mark (drift.h), commit with the
	 * entry. */
	if (balance_add(s, en->customer, en->amount, now, e) != 0 ||
	    drift_mark_dirty(s, en->customer, e) != 0)
		return -1;
	return LEDGER_APPENDED;
}

int
ledger_append(struct store *s, const struct ledger_entry *en, int64_t now, int *appended,
              struct err *e)
{
	int rc, late;

	rc = ledger_insert(s, en, now, e);
	if (rc != LEDGER_APPENDED)
		return rc;
	if (appended != NULL)
		(*appended)++;
	if (strcmp(en->kind, "expire") == 0)
		return rc;
	late = expiry_after(s, en->customer, en->effective_at, e);
	if (late < 0)
		return -1;
	if (late && ledger_settle(s, en->customer, now, appended, e) != 0)
		return -1;
	return LEDGER_APPENDED;
}

/* --- the replay ---------------------------------------------------------- */

struct bucket {
	char *key;
	int64_t amount, remaining, left_at_close;
	int64_t effective_at, expires_at;       /* expires_at 0 = never */
	int open, closed;
};

struct debit {
	char *key, *ref;
	int64_t amount;                 /* positive: what to draw */
	int64_t at;
};

struct replay {
	struct bucket *b;
	size_t nb, ab;
	struct debit *d;
	size_t nd, ad;
	int64_t deficit;
};

static void
replay_done(struct replay *r)
{
	size_t i;

	for (i = 0; i < r->nb; i++)
		free(r->b[i].key);
	for (i = 0; i < r->nd; i++) {
		free(r->d[i].key);
		free(r->d[i].ref);
	}
	free(r->b);
	free(r->d);
}

/* Order in which buckets are drawn from: earliest expiry, never last; then
 * oldest; then key. */
static int
bucket_cmp(const void *pa, const void *pb)
{
	const struct bucket *a = pa, *b = pb;
	int64_t ea = a->expires_at ? a->expires_at : INT64_MAX;
	int64_t eb = b->expires_at ? b->expires_at : INT64_MAX;

	if (ea != eb)
		return ea < eb ? -1 : 1;
	if (a->effective_at != b->effective_at)
		return a->effective_at < b->effective_at ? -1 : 1;
	return strcmp(a->key, b->key);
}

static int
debit_cmp(const void *pa, const void *pb)
{
	const struct debit *a = pa, *b = pb;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return strcmp(a->key, b->key);
}

static int
replay_load(struct store *s, const char *customer, struct replay *r, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT key, kind, amount, ref, effective_at, expires_at FROM ledger "
	    "WHERE customer = ?", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = col_text(st, 0), *kind = col_text(st, 1);
		int64_t amount = sqlite3_column_int64(st, 2);

		if (strcmp(kind, "expire") == 0)
			continue;
		if (amount > 0) {
			struct bucket *b;

			if (r->nb == r->ab) {
				r->ab = r->ab ? r->ab * 2 : 16;
				r->b = xrealloc(r->b, r->ab * sizeof *r->b);
			}
			b = &r->b[r->nb++];
			memset(b, 0, sizeof *b);
			b->key = xstrdup(key);
			b->amount = amount;
			b->effective_at = sqlite3_column_int64(st, 4);
			b->expires_at = sqlite3_column_int64(st, 5);
		} else if (amount < 0) {
			struct debit *d;

			if (r->nd == r->ad) {
				r->ad = r->ad ? r->ad * 2 : 16;
				r->d = xrealloc(r->d, r->ad * sizeof *r->d);
			}
			d = &r->d[r->nd++];
			d->key = xstrdup(key);
			d->ref = sqlite3_column_type(st, 3) == SQLITE_NULL ? NULL : xstrdup(col_text(st, 3));
			d->amount = -amount;
			d->at = sqlite3_column_int64(st, 4);
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_err(s, e, "reading ledger");
	if (r->nb > 1)
		qsort(r->b, r->nb, sizeof *r->b, bucket_cmp);
	if (r->nd > 1)
		qsort(r->d, r->nd, sizeof *r->d, debit_cmp);
	return 0;
}

static void
replay_draw(struct replay *r, const struct debit *d)
{
	int64_t want = d->amount;
	size_t i;

	if (d->ref != NULL) {
		for (i = 0; i < r->nb && want > 0; i++) {
			struct bucket *b = &r->b[i];

			if (b->open && strcmp(b->key, d->ref) == 0) {
				int64_t take = b->remaining < want ? b->remaining : want;

				b->remaining -= take;
				want -= take;
			}
		}
	}
	for (i = 0; i < r->nb && want > 0; i++) {
		struct bucket *b = &r->b[i];
		int64_t take;

		if (!b->open)
			continue;
		take = b->remaining < want ? b->remaining : want;
		b->remaining -= take;
		want -= take;
	}
	r->deficit += want;
}

/* Advance every bucket to time t: close those expiring at or before t, open
 * those effective at or before t (in draw order, paying the deficit). */
static void
replay_advance(struct replay *r, int64_t t)
{
	size_t i;

	for (i = 0; i < r->nb; i++) {
		struct bucket *b = &r->b[i];

		if (!b->closed && b->expires_at != 0 && b->expires_at <= t) {
			if (!b->open) {
				/* Opened and closed between two debits. */
				int64_t pay = r->deficit < b->amount ? r->deficit : b->amount;

				b->remaining = b->amount - pay;
				r->deficit -= pay;
			}
			b->left_at_close = b->remaining;
			b->remaining = 0;
			b->open = 0;
			b->closed = 1;
		}
	}
	for (i = 0; i < r->nb; i++) {
		struct bucket *b = &r->b[i];

		if (!b->open && !b->closed && b->effective_at <= t &&
		    (b->expires_at == 0 || b->expires_at > t)) {
			int64_t pay = r->deficit < b->amount ? r->deficit : b->amount;

			b->remaining = b->amount - pay;
			r->deficit -= pay;
			b->open = 1;
		}
	}
}

static int
expired_so_far(struct store *s, const char *grant_key, int64_t *sum, int64_t *count,
               struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM ledger "
	    "WHERE ref = ? AND kind = 'expire'", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, grant_key);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return store_err(s, e, "reading expiries");
	}
	*sum = sqlite3_column_int64(st, 0);
	*count = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

int
ledger_settle(struct store *s, const char *customer, int64_t now, int *appended,
              struct err *e)
{
	struct replay r;
	size_t i, j;
	int rc = -1;

	memset(&r, 0, sizeof r);
	if (replay_load(s, customer, &r, e) != 0)
		goto out;
	for (j = 0; j < r.nd; j++) {
		replay_advance(&r, r.d[j].at);
		replay_draw(&r, &r.d[j]);
	}
	replay_advance(&r, now);

	for (i = 0; i < r.nb; i++) {
		struct bucket *b = &r.b[i];
		struct ledger_entry en;
		int64_t sum = 0, count = 0;
		char key[512], reason[160];

		if (!b->closed)
			continue;
		if (expired_so_far(s, b->key, &sum, &count, e) != 0)
			goto out;
		if (count > 0 && sum == -b->left_at_close)
			continue;
		if (count == 0) {
			snprintf(key, sizeof key, "expire:%s", b->key);
			snprintf(reason, sizeof reason, "unconsumed remainder at expiry");
		} else {
			snprintf(key, sizeof key, "expire:%s:%lld", b->key, (long long)count + 1);
			snprintf(reason, sizeof reason,
			    "expiry corrected: entries recorded after the expiry changed the remainder");
		}
		memset(&en, 0, sizeof en);
		en.customer = customer;
		en.amount = -b->left_at_close - sum;
		en.kind = "expire";
		en.key = key;
		en.source_type = "ledger";
		en.source_id = b->key;
		en.ref = b->key;
		en.effective_at = b->expires_at;
		en.reason = reason;
		if (ledger_insert(s, &en, now, e) < 0)
			goto out;
		if (appended != NULL)
			(*appended)++;
	}
	rc = 0;
out:
	replay_done(&r);
	return rc;
}

int
ledger_expire_due(struct store *s, int64_t now, int *appended, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT DISTINCT customer FROM ledger AS g "
	    "WHERE g.expires_at IS NOT NULL AND g.expires_at <= ? AND g.amount > 0 "
	    "AND NOT EXISTS (SELECT 1 FROM ledger AS x WHERE x.ref = g.key AND x.kind = 'expire')", e);
	char **customers = NULL;
	size_t n = 0, a = 0, i;
	int rc;

	if (st == NULL)
		return -1;
	bind_int(st, 1, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == a) {
			a = a ? a * 2 : 16;
			customers = xrealloc(customers, a * sizeof *customers);
		}
		customers[n++] = xstrdup(col_text(st, 0));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = store_err(s, e, "finding due expiries");
		goto out;
	}
	rc = 0;
	for (i = 0; i < n && rc == 0; i++)
		rc = ledger_settle(s, customers[i], now, appended, e);
out:
	for (i = 0; i < n; i++)
		free(customers[i]);
	free(customers);
	return rc;
}

int
ledger_reverse(struct store *s, const char *key, const char *actor,
               const char *reason, int64_t now, int *appended, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT seq, customer, amount, kind FROM ledger WHERE key = ?", e);
	struct ledger_entry en;
	char rkey[512], customer[256], kind[16];
	int64_t seq, amount;
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return err_set(e, "no ledger entry with key '%s'", key);
		return store_err(s, e, "reading ledger");
	}
	seq = sqlite3_column_int64(st, 0);
	snprintf(customer, sizeof customer, "%s", col_text(st, 1));
	amount = sqlite3_column_int64(st, 2);
	snprintf(kind, sizeof kind, "%s", col_text(st, 3));
	sqlite3_reset(st);
	if (strcmp(kind, "reverse") == 0)
		return err_set(e, "entry %lld (%s) is itself a reversal; append an adjustment instead",
		    (long long)seq, key);

	snprintf(rkey, sizeof rkey, "reverse:%s", key);
	memset(&en, 0, sizeof en);
	en.customer = customer;
	en.amount = -amount;
	en.kind = "reverse";
	en.key = rkey;
	en.source_type = "ledger";
	en.source_id = key;
	en.ref = key;
	en.effective_at = now;
	en.actor = actor;
	en.reason = reason;
	rc = ledger_append(s, &en, now, appended, e);
	if (rc == LEDGER_EXISTS)
		err_set(e, "entry %lld (%s) was already reversed", (long long)seq, key);
	return rc;
}

static int
one_int(struct store *s, sqlite3_stmt *st, int64_t *out, struct err *e)
{
	int rc = sqlite3_step(st);

	*out = 0;
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading balance");
	return 0;
}

int
ledger_balance(struct store *s, const char *customer, int64_t *out, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT balance FROM balances WHERE customer = ?", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	return one_int(s, st, out, e);
}

int
ledger_sum(struct store *s, const char *customer, int64_t *out, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE customer = ?", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	return one_int(s, st, out, e);
}

int
ledger_credited(struct store *s, const char *source_id, int64_t *out,
                char *first_key, size_t keysz, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT COALESCE(SUM(amount), 0), MIN(key) FROM ledger "
	    "WHERE source_id = ? AND kind IN ('grant', 'topup')", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, source_id);
	rc = sqlite3_step(st);
	*out = 0;
	if (first_key != NULL && keysz > 0)
		first_key[0] = '\0';
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		if (first_key != NULL)
			snprintf(first_key, keysz, "%s", col_text(st, 1));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return store_err(s, e, "reading credits");
	return 0;
}
