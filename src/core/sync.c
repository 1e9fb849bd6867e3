/*
 * sync: the mirror kept current from the Stripe API and the logs.  See
 * sync.h for the round and doc/sync.md for the state it keeps.
 *
 * Network calls never happen inside a transaction: a page is fetched (with
 * any nested list it needs completed) first, then applied and its cursor
 * moved in one short write transaction, so the console and the CLI are
 * never held up by Stripe.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "drift.h"
#include "ledger.h"
#include "stripe-api.h"
#include "stripe-decode.h"
#include "sync.h"
#include "util.h"

#define PAGE_LIMIT "100"

struct sync {
	struct store *s;
	struct sync_opts o;
	struct api_client *api;         /* NULL without an API key */
	struct arena arena;
	struct sync_counts n;
	enum sync_phase phase;
	int fatal;
	int64_t requests_seen;          /* api_stats()->requests already counted */
	struct drift *drift;            /* re-checks what a round changed (drift.h) */
	int64_t retries_seen;
};

/* --- the resources a reconciliation pass lists ------------------------ */

struct resource {
	const char *name;               /* sync_resources.name */
	const char *path;
	const char *param, *value;      /* one fixed parameter, or NULL */
	int events;                     /* a list of events (applied as events) */
	/* Per-customer resources: which customers (after the cursor, in id
	 * order), and how one customer's answer is applied. */
	const char *customers;
	int (*per_customer)(struct sync *y, const char *customer, struct err *e);
};

static int entitlements_for(struct sync *y, const char *customer, struct err *e);
struct apply_ctx;
static int apply_event_json(struct sync *y, struct apply_ctx *c, json_t *ev, struct err *e);
static int credit_balance_for(struct sync *y, const char *customer, struct err *e);

/* Since basil an invoice names its payment (which a refund's clawback
 * needs) only through its invoice payments, listed when expanded. */
static const struct resource resources[] = {
	{ "customers", "/v1/customers", NULL, NULL, 0, NULL, NULL },
	{ "prices", "/v1/prices", NULL, NULL, 0, NULL, NULL },
	{ "subscriptions", "/v1/subscriptions", "status", "all", 0, NULL, NULL },
	{ "invoices", "/v1/invoices", "expand[]", "data.payments", 0, NULL, NULL },
	{ "checkout_sessions", "/v1/checkout/sessions", NULL, NULL, 0, NULL, NULL },
	{ "charges", "/v1/charges", NULL, NULL, 0, NULL, NULL },
	{ "refunds", "/v1/refunds", NULL, NULL, 0, NULL, NULL },
	{ "disputes", "/v1/disputes", NULL, NULL, 0, NULL, NULL },
	{ "credit_grants", "/v1/billing/credit_grants", NULL, NULL, 0, NULL, NULL },
	/* The events Stripe still keeps (30 days): each is recorded once;
	 * those older than the state just listed change nothing. */
	{ "events", "/v1/events", NULL, NULL, 1, NULL, NULL },
	{ "credit_balances", "/v1/billing/credit_balance_summary", NULL, NULL, 0,
	  "SELECT DISTINCT customer FROM credit_grants WHERE customer > ? "
	  "ORDER BY customer LIMIT 50", credit_balance_for },
	{ "entitlements", "/v1/entitlements/active_entitlements", NULL, NULL, 0,
	  "SELECT id FROM customers WHERE id > ? AND placeholder = 0 AND deleted = 0 "
	  "ORDER BY id LIMIT 50", entitlements_for },
};
#define NRESOURCES (sizeof resources / sizeof resources[0])

/* Objects fetched again by id: placeholders and rows marked for refetch. */
struct refetch {
	const char *path;               /* GET path/<id> */
	const char *expand;             /* expand[] value, or NULL */
	const char *select;             /* ids wanting a fetch, after ? */
	const char *clear;              /* clear the mark once fetched */
	/* Credits the object's state implies, derived again once the mark is
	 * cleared (a fetch older than the mirror changes no row, but an
	 * invoice held back by its mark may now grant). */
	int (*effects)(struct apply_ctx *c, const char *id, struct err *e);
};

static const struct refetch refetches[] = {
	{ "/v1/customers/", NULL,
	  "SELECT id FROM customers WHERE (refetch = 1 OR placeholder = 1) AND id > ? "
	  "ORDER BY id LIMIT 100",
	  "UPDATE customers SET refetch = 0 WHERE id = ?", NULL },
	{ "/v1/subscriptions/", NULL,
	  "SELECT id FROM subscriptions WHERE (refetch = 1 OR placeholder = 1) AND id > ? "
	  "ORDER BY id LIMIT 100",
	  "UPDATE subscriptions SET refetch = 0 WHERE id = ?", NULL },
	{ "/v1/invoices/", "payments",
	  "SELECT id FROM invoices WHERE (refetch = 1 OR placeholder = 1) AND id > ? "
	  "ORDER BY id LIMIT 100",
	  "UPDATE invoices SET refetch = 0 WHERE id = ?", apply_effects_invoice },
	{ "/v1/checkout/sessions/", NULL,
	  "SELECT id FROM checkout_sessions WHERE refetch = 1 AND id > ? ORDER BY id LIMIT 100",
	  "UPDATE checkout_sessions SET refetch = 0 WHERE id = ?", apply_effects_checkout },
	{ "/v1/charges/", NULL,
	  "SELECT id FROM charges WHERE refetch = 1 AND id > ? ORDER BY id LIMIT 100",
	  "UPDATE charges SET refetch = 0 WHERE id = ?", NULL },
	{ "/v1/refunds/", NULL,
	  "SELECT id FROM reversals WHERE kind = 'refund' AND refetch = 1 AND id > ? "
	  "ORDER BY id LIMIT 100",
	  "UPDATE reversals SET refetch = 0 WHERE id = ?", NULL },
	{ "/v1/disputes/", NULL,
	  "SELECT id FROM reversals WHERE kind = 'dispute' AND refetch = 1 AND id > ? "
	  "ORDER BY id LIMIT 100",
	  "UPDATE reversals SET refetch = 0 WHERE id = ?", NULL },
	{ "/v1/billing/credit_grants/", NULL,
	  "SELECT id FROM credit_grants WHERE refetch = 1 AND id > ? ORDER BY id LIMIT 100",
	  "UPDATE credit_grants SET refetch = 0 WHERE id = ?", NULL },
};
#define NREFETCHES (sizeof refetches / sizeof refetches[0])

const char *
sync_phase_name(enum sync_phase p)
{
	static const char *const names[] = { "idle", "logs", "backfill", "refetch", "events" };

	return (size_t)p < sizeof names / sizeof names[0] ? names[p] : "?";
}

/* --- small helpers ---------------------------------------------------- */

static int
stopped(const struct sync *y)
{
	return y->o.stop != NULL && atomic_load(y->o.stop);
}

static void
progress(struct sync *y, const char *what)
{
	if (y->o.on_progress != NULL)
		y->o.on_progress(y->phase, what, &y->n, y->o.arg);
}

static void
count_requests(struct sync *y)
{
	const struct api_stats *st;

	if (y->api == NULL)
		return;
	st = api_stats(y->api);
	y->n.requests += st->requests - y->requests_seen;
	y->n.retries += st->retries - y->retries_seen;
	y->requests_seen = st->requests;
	y->retries_seen = st->retries;
}

/* An API failure into e; a bad key or missing permission is fatal. */
static int
api_fail(struct sync *y, const struct api_error *ae, const char *what, struct err *e)
{
	char msg[700];

	if (strcmp(ae->type, "stopped") == 0)
		return err_set(e, "stopped");
	if (ae->status == 401 || ae->status == 403)
		y->fatal = 1;
	api_error_format(ae, msg, sizeof msg);
	return err_set(e, "%s: %s", what, msg);
}

static int64_t
meta_int(struct store *s, const char *key)
{
	int64_t v = 0;

	if (store_meta_get_int(s, key, &v) != 0)
		v = 0;
	return v;
}

static int
meta_add_int(struct store *s, const char *key, int64_t delta, struct err *e)
{
	return store_meta_set_int(s, key, meta_int(s, key) + delta, e);
}

static void
apply_ctx_init(struct sync *y, struct apply_ctx *c)
{
	memset(c, 0, sizeof *c);
	c->s = y->s;
	c->cat = y->o.cat;
	c->now = tally_now();
}

/* Record where an unreadable API value came from; reading goes on. */
static int
quarantine_json(struct sync *y, struct apply_ctx *c, const char *source, const json_t *v,
                const char *reason, struct err *e)
{
	char *text = json_dumps(v, JSON_COMPACT);
	size_t len = text != NULL ? strlen(text) : 0;
	int rc;

	rc = apply_quarantine(c, "api", source, 0, (int64_t)len, reason, text,
	    len > 4096 ? 4096 : len, e);
	free(text);
	y->n.quarantined++;
	return rc;
}

/* --- fetching --------------------------------------------------------- */

/* The id of a list's last item ("" when it has none), the next page's
 * starting_after. */
static void
last_id(const json_t *data, char *dst, size_t n)
{
	const char *id = json_string_value(json_object_get(
	    json_array_get(data, json_array_size(data) - 1), "id"));

	snprintf(dst, n, "%s", id != NULL ? id : "");
}

/* GET a whole nested list (invoice lines, subscription items) into one
 * array: path?limit=100 [&param=value], then starting_after. */
static int
fetch_all(struct sync *y, const char *path, const char *param, const char *value,
          json_t **out, int64_t *server_time, struct err *e)
{
	json_t *all = json_array(), *page = NULL, *data;
	char after[256] = "";
	int64_t ver = 0;
	struct api_error ae;
	int more = 1;

	while (more) {
		struct api_params p = { 0 };

		api_params_add(&p, "limit", PAGE_LIMIT);
		if (param != NULL)
			api_params_add(&p, param, value);
		if (after[0] != '\0')
			api_params_add(&p, "starting_after", after);
		if (api_get(y->api, path, &p, &page, &ver, &ae) != 0) {
			api_params_free(&p);
			json_decref(all);
			return api_fail(y, &ae, path, e);
		}
		api_params_free(&p);
		data = json_object_get(page, "data");
		if (!json_is_array(data)) {
			json_decref(page);
			json_decref(all);
			return err_set(e, "GET %s: the answer is not a list", path);
		}
		json_array_extend(all, data);
		more = json_is_true(json_object_get(page, "has_more")) && json_array_size(data) > 0;
		if (more)
			last_id(data, after, sizeof after);
		if (server_time != NULL && ver > *server_time)
			*server_time = ver;
		json_decref(page);
		if (more && after[0] == '\0') {
			json_decref(all);
			return err_set(e, "GET %s: a list item without an id", path);
		}
	}
	*out = all;
	return 0;
}

/* Replace obj[field] (a list cut short: has_more) by the whole list. */
static int
complete_list(struct sync *y, json_t *obj, const char *field, const char *path,
              const char *param, const char *value, struct err *e)
{
	json_t *list = json_object_get(obj, field), *all;

	if (!json_is_object(list) || !json_is_true(json_object_get(list, "has_more")))
		return 0;
	if (fetch_all(y, path, param, value, &all, NULL, e) != 0)
		return -1;
	json_object_set_new(list, "data", all);
	json_object_set_new(list, "has_more", json_false());
	return 0;
}

/* Complete the nested lists of a fetched object before it is applied. */
static int
complete_object(struct sync *y, json_t *obj, struct err *e)
{
	const char *type = json_string_value(json_object_get(obj, "object"));
	const char *id = json_string_value(json_object_get(obj, "id"));
	char path[300];

	if (type == NULL || id == NULL)
		return 0;
	if (strcmp(type, "invoice") == 0) {
		snprintf(path, sizeof path, "/v1/invoices/%s/lines", id);
		return complete_list(y, obj, "lines", path, NULL, NULL, e);
	}
	if (strcmp(type, "subscription") == 0)
		return complete_list(y, obj, "items", "/v1/subscription_items", "subscription", id, e);
	return 0;
}

/* Applies run under a savepoint: one that apply finds unappliable
 * (APPLY_EINPUT: the object itself is at fault) is rolled back alone and
 * quarantined, and the rest of the page goes on. */
static int
savepoint_begin(struct sync *y, struct err *e)
{
	return store_exec(y->s, "SAVEPOINT object", e);
}

static int
savepoint_end(struct sync *y, struct apply_ctx *c, int rc, const char *source, const json_t *v,
              struct err *e)
{
	char why[sizeof e->msg];

	if (rc != APPLY_EINPUT)
		return rc != 0 ? rc : store_exec(y->s, "RELEASE object", e);
	snprintf(why, sizeof why, "%s", e->msg);
	if (store_exec(y->s, "ROLLBACK TO object", e) != 0 ||
	    store_exec(y->s, "RELEASE object", e) != 0)
		return -1;
	return quarantine_json(y, c, source, v, why, e);
}

/* Decode and apply one object at version ver, in the caller's transaction.
 * An object that does not decode is quarantined. */
static int
apply_json(struct sync *y, struct apply_ctx *c, json_t *obj, int64_t ver, const char *source,
           struct err *e)
{
	struct stripe_object o;
	enum apply_result res;
	struct err de;

	arena_reset(&y->arena);
	if (stripe_object_decode(&y->arena, obj, &o, &de) != 0)
		return quarantine_json(y, c, source, obj, de.msg, e);
	if (savepoint_begin(y, e) != 0)
		return -1;
	if (savepoint_end(y, c, apply_object(c, &o, ver, ingest_json_hash(obj), &res, e), source,
	    obj, e) != 0)
		return -1;
	y->n.objects++;
	return 0;
}

/* --- reconciliation ---------------------------------------------------- */

static int
resource_state(struct sync *y, const struct resource *r, char *cursor, size_t n, int *done)
{
	sqlite3_stmt *st = store_stmt(y->s,
	    "SELECT cursor, done FROM sync_resources WHERE name = ?", NULL);
	int rc;

	*cursor = '\0';
	*done = 0;
	if (st == NULL)
		return -1;
	bind_text(st, 1, r->name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(cursor, n, "%s", col_text(st, 0));
		*done = sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int
resource_advance(struct sync *y, const struct resource *r, const char *cursor, int done,
                 int64_t objects, struct err *e)
{
	/* An upsert: a resource a pass started without (a mirror from a build
	 * that listed fewer resources) gets its row here, or its cursor would
	 * never move. */
	sqlite3_stmt *st = store_stmt(y->s,
	    "INSERT INTO sync_resources(name, pass, cursor, done, pages, objects, started_at, "
	    "finished_at) VALUES (?6, (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'sync.pass'), "
	    "?1, ?2, 1, ?3, ?5, CASE WHEN ?4 THEN ?5 END) "
	    "ON CONFLICT(name) DO UPDATE SET cursor = ?1, done = ?2, pages = pages + 1, "
	    "objects = objects + ?3, finished_at = CASE WHEN ?4 THEN ?5 END", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, cursor);
	bind_int(st, 2, done);
	bind_int(st, 3, objects);
	bind_int(st, 4, done);
	bind_int(st, 5, tally_now());
	bind_text(st, 6, r->name);
	return store_step_done(y->s, st, e);
}

/* One page of a listed resource: fetch, complete, apply, move the cursor. */
static int
list_page(struct sync *y, const struct resource *r, const char *cursor, struct err *e)
{
	struct api_params p = { 0 };
	struct api_error ae;
	struct apply_ctx c;
	json_t *page = NULL, *data, *obj;
	int64_t ver = 0;
	char source[128], next[256] = "";
	size_t i;
	int more, rc = -1;

	api_params_add(&p, "limit", PAGE_LIMIT);
	if (r->param != NULL)
		api_params_add(&p, r->param, r->value);
	if (cursor[0] != '\0')
		api_params_add(&p, "starting_after", cursor);
	rc = api_get(y->api, r->path, &p, &page, &ver, &ae);
	api_params_free(&p);
	count_requests(y);
	if (rc != 0)
		return api_fail(y, &ae, r->path, e);
	rc = -1;
	data = json_object_get(page, "data");
	if (!json_is_array(data)) {
		err_set(e, "GET %s: the answer is not a list", r->path);
		goto out;
	}
	if (ver <= 0)
		ver = tally_now();
	json_array_foreach(data, i, obj) {
		if (complete_object(y, obj, e) != 0)
			goto out;
	}
	count_requests(y);
	more = json_is_true(json_object_get(page, "has_more")) && json_array_size(data) > 0;
	if (more)
		last_id(data, next, sizeof next);
	if (more && next[0] == '\0') {
		err_set(e, "GET %s: a list item without an id", r->path);
		goto out;
	}

	snprintf(source, sizeof source, "GET %s", r->path);
	if (store_begin(y->s, e) != 0)
		goto out;
	apply_ctx_init(y, &c);
	json_array_foreach(data, i, obj) {
		if ((r->events ? apply_event_json(y, &c, obj, e)
		    : apply_json(y, &c, obj, ver, source, e)) != 0)
			goto rollback;
	}
	if (resource_advance(y, r, more ? next : cursor, !more, (int64_t)json_array_size(data), e) != 0)
		goto rollback;
	if (store_commit(y->s, e) != 0)
		goto out;
	y->n.pages++;
	progress(y, r->name);
	rc = 0;
	goto out;
rollback:
	store_rollback(y->s);
out:
	json_decref(page);
	return rc;
}

/* A per-customer resource: up to 50 customers after the cursor. */
static int
customer_batch(struct sync *y, const struct resource *r, const char *cursor, struct err *e)
{
	sqlite3_stmt *st;
	char ids[50][256];
	int n = 0, i, rc;

	if ((st = store_stmt(y->s, r->customers, e)) == NULL)
		return -1;
	bind_text(st, 1, cursor);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 50)
		snprintf(ids[n++], sizeof ids[0], "%s", col_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store_err(y->s, e, r->name);
	if (n == 0) {
		if (store_begin(y->s, e) != 0)
			return -1;
		if (resource_advance(y, r, cursor, 1, 0, e) != 0) {
			store_rollback(y->s);
			return -1;
		}
		return store_commit(y->s, e);
	}
	for (i = 0; i < n && !stopped(y); i++) {
		if (r->per_customer(y, ids[i], e) != 0)
			return -1;
		if (store_begin(y->s, e) != 0)
			return -1;
		if (resource_advance(y, r, ids[i], 0, 1, e) != 0) {
			store_rollback(y->s);
			return -1;
		}
		if (store_commit(y->s, e) != 0)
			return -1;
		progress(y, r->name);
	}
	return stopped(y) ? err_set(e, "stopped") : 0;
}

/* Stripe Entitlements: the customer's active entitlements, as the summary
 * object the entitlements.active_entitlement_summary.updated event carries. */
static int
entitlements_for(struct sync *y, const char *customer, struct err *e)
{
	json_t *all, *summary;
	struct apply_ctx c;
	int64_t ver = 0;
	int rc;

	if (fetch_all(y, "/v1/entitlements/active_entitlements", "customer", customer, &all,
	    &ver, e) != 0)
		return -1;
	count_requests(y);
	summary = json_pack("{s:s, s:s, s:{s:s, s:o, s:b}}",
	    "object", "entitlements.active_entitlement_summary", "customer", customer,
	    "entitlements", "object", "list", "data", all, "has_more", 0);
	if (summary == NULL)
		return err_set(e, "entitlements of %s: out of memory", customer);
	if (store_begin(y->s, e) != 0) {
		json_decref(summary);
		return -1;
	}
	apply_ctx_init(y, &c);
	rc = apply_json(y, &c, summary, ver > 0 ? ver : tally_now(),
	    "GET /v1/entitlements/active_entitlements", e);
	json_decref(summary);
	if (rc != 0) {
		store_rollback(y->s);
		return -1;
	}
	return store_commit(y->s, e);
}

/* Billing credits: Stripe's own available balance for the customer,
 * fetched (no transaction) ... */
static int
credit_balance_fetch(struct sync *y, const char *customer, char *currency, size_t cursz,
                     int64_t *available, int64_t *ver, struct err *e)
{
	struct api_params p = { 0 };
	struct api_error ae;
	json_t *sum = NULL, *b;
	const char *cur = NULL;
	size_t i;
	int rc;

	*available = 0;
	*ver = 0;
	currency[0] = '\0';
	api_params_add(&p, "customer", customer);
	api_params_add(&p, "filter[type]", "applicability_scope");
	api_params_add(&p, "filter[applicability_scope][price_type]", "metered");
	rc = api_get(y->api, "/v1/billing/credit_balance_summary", &p, &sum, ver, &ae);
	api_params_free(&p);
	count_requests(y);
	if (rc != 0)
		return api_fail(y, &ae, "GET /v1/billing/credit_balance_summary", e);
	json_array_foreach(json_object_get(sum, "balances"), i, b) {
		json_t *m = json_object_get(json_object_get(b, "available_balance"), "monetary");

		if (json_is_integer(json_object_get(m, "value")))
			*available += json_integer_value(json_object_get(m, "value"));
		if (cur == NULL)
			cur = json_string_value(json_object_get(m, "currency"));
	}
	if (cur != NULL)
		snprintf(currency, cursz, "%s", cur);
	json_decref(sum);
	return 0;
}

/* ... and kept, in the caller's transaction. */
static int
credit_balance_store(struct sync *y, const char *customer, const char *currency,
                     int64_t available, int64_t ver, struct err *e)
{
	sqlite3_stmt *st = store_stmt(y->s,
	    "INSERT INTO credit_balances(customer, currency, available, ver, updated_at) "
	    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(customer) DO UPDATE SET "
	    "currency = excluded.currency, available = excluded.available, "
	    "ver = excluded.ver, updated_at = excluded.updated_at WHERE excluded.ver >= ver", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	bind_text(st, 2, currency[0] != '\0' ? currency : NULL);
	bind_int(st, 3, available);
	bind_int(st, 4, ver > 0 ? ver : tally_now());
	bind_int(st, 5, tally_now());
	/* Drift: Stripe's balance is compared with the ledger (balance-mismatch). */
	if (store_step_done(y->s, st, e) != 0)
		return -1;
	return drift_mark_dirty(y->s, customer, e);
}

static int
credit_balance_for(struct sync *y, const char *customer, struct err *e)
{
	char currency[16];
	int64_t available, ver;

	if (credit_balance_fetch(y, customer, currency, sizeof currency, &available, &ver, e) != 0)
		return -1;
	if (store_begin(y->s, e) != 0)
		return -1;
	if (credit_balance_store(y, customer, currency, available, ver, e) != 0) {
		store_rollback(y->s);
		return -1;
	}
	return store_commit(y->s, e);
}

/* Does the account use Stripe Entitlements at all?  (One feature is
 * enough; an account without any is not asked customer by customer.) */
static int
uses_entitlements(struct sync *y, int *yes, struct err *e)
{
	struct api_params p = { 0 };
	struct api_error ae;
	json_t *page = NULL;
	int rc;

	api_params_add(&p, "limit", "1");
	rc = api_get(y->api, "/v1/entitlements/features", &p, &page, NULL, &ae);
	api_params_free(&p);
	count_requests(y);
	if (rc != 0) {
		if (ae.status == 404) {         /* not available to this account */
			*yes = 0;
			return 0;
		}
		return api_fail(y, &ae, "GET /v1/entitlements/features", e);
	}
	*yes = json_array_size(json_object_get(page, "data")) > 0;
	json_decref(page);
	return 0;
}

/* The newest event now, so a catch-up can start from it; taken before the
 * first pass lists anything. */
static int
events_start(struct sync *y, struct err *e)
{
	struct api_params p = { 0 };
	struct api_error ae;
	json_t *page = NULL;
	const char *id;
	int64_t server = 0;
	int rc;

	api_params_add(&p, "limit", "1");
	rc = api_get(y->api, "/v1/events", &p, &page, &server, &ae);
	api_params_free(&p);
	count_requests(y);
	if (rc != 0)
		return api_fail(y, &ae, "GET /v1/events", e);
	id = json_string_value(json_object_get(json_array_get(json_object_get(page, "data"), 0), "id"));
	rc = id != NULL ? store_meta_set_text(y->s, "sync.events_cursor", id, e)
	    : store_meta_set_int(y->s, "sync.events_since", server > 0 ? server : tally_now(), e);
	json_decref(page);
	return rc;
}

/* Start a pass: every resource back to its first page. */
static int
pass_start(struct sync *y, int64_t pass, struct err *e)
{
	sqlite3_stmt *st;
	char cur[256];
	size_t i;

	if (store_meta_get_text(y->s, "sync.events_cursor", cur, sizeof cur) == 1 &&
	    meta_int(y->s, "sync.events_since") == 0 && events_start(y, e) != 0)
		return -1;
	if (store_begin(y->s, e) != 0)
		return -1;
	for (i = 0; i < NRESOURCES; i++) {
		st = store_stmt(y->s,
		    "INSERT INTO sync_resources(name, pass, cursor, done, pages, objects, started_at) "
		    "VALUES (?, ?, NULL, 0, 0, 0, ?) ON CONFLICT(name) DO UPDATE SET "
		    "pass = excluded.pass, cursor = NULL, done = 0, pages = 0, objects = 0, "
		    "started_at = excluded.started_at, finished_at = NULL", e);
		if (st == NULL)
			goto fail;
		bind_text(st, 1, resources[i].name);
		bind_int(st, 2, pass);
		bind_int(st, 3, tally_now());
		if (store_step_done(y->s, st, e) != 0)
			goto fail;
	}
	if (store_meta_set_int(y->s, "sync.pass", pass, e) != 0)
		goto fail;
	return store_commit(y->s, e);
fail:
	store_rollback(y->s);
	return -1;
}

/* Run (or resume) a reconciliation pass if one is due. */
static int
reconcile(struct sync *y, int force, struct err *e)
{
	int64_t pass = meta_int(y->s, "sync.pass"), done = meta_int(y->s, "sync.pass_done");
	int64_t at = meta_int(y->s, "sync.reconciled_at"), now = tally_now();
	int64_t every = y->o.cfg->reconcile_interval;
	int ents = -1, rdone;
	char cursor[256];
	size_t i;

	if (pass == 0 || (done >= pass && (force || (every > 0 && now - at >= every)))) {
		if (pass_start(y, ++pass, e) != 0)
			return -1;
	} else if (done >= pass) {
		return 0;
	}
	y->phase = SYNC_BACKFILL;
	for (i = 0; i < NRESOURCES; i++) {
		const struct resource *r = &resources[i];

		for (;;) {
			if (stopped(y))
				return err_set(e, "stopped");
			if (resource_state(y, r, cursor, sizeof cursor, &rdone) != 0)
				return store_err(y->s, e, "reading sync state");
			if (rdone)
				break;
			if (r->per_customer == entitlements_for && ents < 0 &&
			    uses_entitlements(y, &ents, e) != 0)
				return -1;
			if (r->per_customer == entitlements_for && !ents) {
				if (store_begin(y->s, e) != 0)
					return -1;
				if (resource_advance(y, r, cursor, 1, 0, e) != 0) {
					store_rollback(y->s);
					return -1;
				}
				if (store_commit(y->s, e) != 0)
					return -1;
				continue;
			}
			if ((r->per_customer != NULL ? customer_batch(y, r, cursor, e)
			    : list_page(y, r, cursor, e)) != 0)
				return -1;
		}
	}
	if (store_begin(y->s, e) != 0)
		return -1;
	if (store_meta_set_int(y->s, "sync.pass_done", pass, e) != 0 ||
	    store_meta_set_int(y->s, "sync.reconciled_at", tally_now(), e) != 0) {
		store_rollback(y->s);
		return -1;
	}
	return store_commit(y->s, e);
}

/* --- refetches --------------------------------------------------------- */

static int
refetch_one(struct sync *y, const struct refetch *f, const char *id, struct err *e)
{
	struct api_params p = { 0 };
	struct api_error ae;
	struct apply_ctx c;
	sqlite3_stmt *st;
	json_t *obj = NULL;
	int64_t ver = 0;
	char path[300], source[320];
	int rc;

	snprintf(path, sizeof path, "%s%s", f->path, id);
	if (f->expand != NULL)
		api_params_add(&p, "expand[]", f->expand);
	rc = api_get(y->api, path, &p, &obj, &ver, &ae);
	api_params_free(&p);
	count_requests(y);
	if (rc != 0 && ae.status != 404)
		return api_fail(y, &ae, path, e);
	if (rc == 0 && complete_object(y, obj, e) != 0) {
		json_decref(obj);
		return -1;
	}
	snprintf(source, sizeof source, "GET %s", path);
	if (store_begin(y->s, e) != 0)
		goto fail;
	apply_ctx_init(y, &c);
	if (rc != 0) {
		/* Stripe does not know it: keep that fact, stop asking. */
		char why[700];

		api_error_format(&ae, why, sizeof why);
		if (apply_quarantine(&c, "api", source, 0, 0, why, id, strlen(id), e) != 0)
			goto rollback;
		y->n.quarantined++;
	} else if (apply_json(y, &c, obj, ver > 0 ? ver : tally_now(), source, e) != 0) {
		goto rollback;
	}
	/* Fetched: whatever it said, the mark has been answered. */
	if ((st = store_stmt(y->s, f->clear, e)) == NULL)
		goto rollback;
	bind_text(st, 1, id);
	if (store_step_done(y->s, st, e) != 0)
		goto rollback;
	if (f->effects != NULL && (rc = f->effects(&c, id, e)) != 0) {
		if (rc != APPLY_EINPUT)
			goto rollback;
		if (apply_quarantine(&c, "api", source, 0, 0, e->msg, id, strlen(id), e) != 0)
			goto rollback;
	}
	if (store_commit(y->s, e) != 0)
		goto rollback;
	json_decref(obj);
	y->n.refetched++;
	progress(y, id);
	return 0;
rollback:
	store_rollback(y->s);
fail:
	json_decref(obj);
	return -1;
}

/* Placeholders that Stripe does not know stay placeholders; each id is
 * asked once a round (the cursor walks past it). */
static int
refetch_all(struct sync *y, struct err *e)
{
	char ids[100][256], after[256];
	sqlite3_stmt *st;
	size_t k;
	int n, i, rc;

	y->phase = SYNC_REFETCH;
	for (k = 0; k < NREFETCHES; k++) {
		after[0] = '\0';
		do {
			if ((st = store_stmt(y->s, refetches[k].select, e)) == NULL)
				return -1;
			bind_text(st, 1, after);
			n = 0;
			while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 100)
				snprintf(ids[n++], sizeof ids[0], "%s", col_text(st, 0));
			sqlite3_reset(st);
			if (rc != SQLITE_DONE && rc != SQLITE_ROW)
				return store_err(y->s, e, "reading refetch marks");
			for (i = 0; i < n; i++) {
				if (stopped(y))
					return err_set(e, "stopped");
				if (refetch_one(y, &refetches[k], ids[i], e) != 0)
					return -1;
			}
			if (n > 0)
				snprintf(after, sizeof after, "%s", ids[n - 1]);
		} while (n == 100);
	}
	return 0;
}

/* --- event catch-up ---------------------------------------------------- */

/* Decode and apply one event from the API, in the caller's transaction;
 * one that does not decode is quarantined. */
static int
apply_event_json(struct sync *y, struct apply_ctx *c, json_t *ev, struct err *e)
{
	struct stripe_event se;
	enum apply_result res;
	struct err de;
	char *raw;
	int rc;

	arena_reset(&y->arena);
	y->n.events++;
	if (stripe_event_decode(&y->arena, ev, &se, &de) != 0)
		return quarantine_json(y, c, "GET /v1/events", ev, de.msg, e);
	if ((raw = json_dumps(ev, JSON_COMPACT)) == NULL)
		return err_set(e, "event %s: out of memory", se.id);
	if (savepoint_begin(y, e) != 0) {
		free(raw);
		return -1;
	}
	rc = apply_event(c, &se, raw, strlen(raw),
	    ingest_json_hash(json_object_get(json_object_get(ev, "data"), "object")), &res, e);
	free(raw);
	if (rc == 0 && res == APPLY_APPLIED)
		y->n.events_applied++;
	return savepoint_end(y, c, rc, "GET /v1/events", ev, e);
}

/* Apply events (an array, oldest first) in one transaction and move the
 * events cursor to the last of them. */
static int
apply_events(struct sync *y, json_t *evs, struct err *e)
{
	struct apply_ctx c;
	json_t *ev;
	const char *last = NULL;
	size_t i;

	if (json_array_size(evs) == 0)
		return 0;
	if (store_begin(y->s, e) != 0)
		return -1;
	apply_ctx_init(y, &c);
	json_array_foreach(evs, i, ev) {
		if (json_string_value(json_object_get(ev, "id")) != NULL)
			last = json_string_value(json_object_get(ev, "id"));
		if (apply_event_json(y, &c, ev, e) != 0)
			goto fail;
	}
	if (last != NULL && store_meta_set_text(y->s, "sync.events_cursor", last, e) != 0)
		goto fail;
	if (store_commit(y->s, e) != 0)
		return -1;
	progress(y, last != NULL ? last : "events");
	return 0;
fail:
	store_rollback(y->s);
	return -1;
}

static json_t *
reversed(json_t *a)
{
	json_t *r = json_array();
	size_t i = json_array_size(a);

	while (i-- > 0)
		json_array_append(r, json_array_get(a, i));
	return r;
}

/* The events cursor is gone (older than Stripe keeps): start again from
 * the newest event and make a full pass due, which covers the gap. */
static int
events_lost(struct sync *y, struct err *e)
{
	if (store_begin(y->s, e) != 0)
		return -1;
	if (store_meta_set_text(y->s, "sync.events_cursor", "", e) != 0 ||
	    store_meta_set_int(y->s, "sync.events_since", 0, e) != 0 ||
	    store_meta_set_int(y->s, "sync.reconciled_at", 0, e) != 0) {
		store_rollback(y->s);
		return -1;
	}
	if (store_commit(y->s, e) != 0)
		return -1;
	return events_start(y, e);
}

static int
catch_up(struct sync *y, struct err *e)
{
	char cursor[256];
	int64_t since;
	int more = 1;

	y->phase = SYNC_EVENTS;
	while (more) {
		struct api_params p = { 0 };
		struct api_error ae;
		json_t *page = NULL, *data, *evs, *all = NULL;
		int rc;

		if (stopped(y))
			return err_set(e, "stopped");
		store_meta_get_text(y->s, "sync.events_cursor", cursor, sizeof cursor);
		since = meta_int(y->s, "sync.events_since");
		if (cursor[0] == '\0' && since == 0)
			return events_start(y, e);
		if (cursor[0] == '\0') {
			/* No event seen yet: everything since the first pass
			 * began, all pages, applied oldest first. */
			all = json_array();
			for (;;) {
				char after[256];

				memset(&p, 0, sizeof p);
				api_params_add(&p, "limit", PAGE_LIMIT);
				api_params_addf(&p, "created[gte]", "%lld", (long long)since);
				if (json_array_size(all) > 0) {
					last_id(all, after, sizeof after);
					api_params_add(&p, "starting_after", after);
				}
				rc = api_get(y->api, "/v1/events", &p, &page, NULL, &ae);
				api_params_free(&p);
				count_requests(y);
				if (rc != 0) {
					json_decref(all);
					return api_fail(y, &ae, "GET /v1/events", e);
				}
				data = json_object_get(page, "data");
				json_array_extend(all, data);
				more = json_is_true(json_object_get(page, "has_more")) &&
				    json_array_size(data) > 0;
				json_decref(page);
				if (!more)
					break;
			}
			evs = reversed(all);
			json_decref(all);
			rc = apply_events(y, evs, e);
			more = json_array_size(evs) > 0;
			json_decref(evs);
			if (rc != 0)
				return -1;
			continue;
		}
		api_params_add(&p, "limit", PAGE_LIMIT);
		api_params_add(&p, "ending_before", cursor);
		rc = api_get(y->api, "/v1/events", &p, &page, NULL, &ae);
		api_params_free(&p);
		count_requests(y);
		if (rc != 0) {
			if ((ae.status == 400 || ae.status == 404) &&
			    strcmp(ae.code, "resource_missing") == 0)
				return events_lost(y, e);
			return api_fail(y, &ae, "GET /v1/events", e);
		}
		data = json_object_get(page, "data");
		more = json_is_true(json_object_get(page, "has_more")) && json_array_size(data) > 0;
		evs = reversed(data);
		json_decref(page);
		rc = apply_events(y, evs, e);
		json_decref(evs);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* --- the round --------------------------------------------------------- */

static int
follow_logs(struct sync *y, struct err *e)
{
	const struct config *cfg = y->o.cfg;
	struct ingest_opts io;
	size_t k;

	if (cfg->webhook_logs.n == 0 && cfg->usage_logs.n == 0)
		return 0;
	y->phase = SYNC_LOGS;
	memset(&io, 0, sizeof io);
	io.cat = y->o.cat;
	io.secrets = (const char *const *)cfg->webhook_secrets.v;
	io.nsecrets = (int)cfg->webhook_secrets.n;
	io.tolerance = cfg->webhook_tolerance;
	io.cap = (size_t)cfg->max_value_bytes;
	io.drift = y->drift;
	for (k = 0; k < cfg->webhook_logs.n; k++)
		if (ingest_file(y->s, &io, INGEST_WEBHOOK, cfg->webhook_logs.v[k], &y->n.logs, e) != 0)
			return -1;
	for (k = 0; k < cfg->usage_logs.n; k++)
		if (ingest_file(y->s, &io, INGEST_USAGE, cfg->usage_logs.v[k], &y->n.logs, e) != 0)
			return -1;
	if (ingest_finish(y->s, &io, &y->n.logs, e) != 0)
		return -1;
	progress(y, "logs");
	return 0;
}

/* Credits whose expiry has passed are expired at the end of every round,
 * whatever brought them in. */
static int
expire_due(struct sync *y, struct err *e)
{
	int appended = 0;

	if (store_begin(y->s, e) != 0)
		return -1;
	if (ledger_expire_due(y->s, tally_now(), &appended, e) != 0) {
		store_rollback(y->s);
		return -1;
	}
	if (store_commit(y->s, e) != 0)
		return -1;
	y->n.logs.ledger_entries += appended;
	return 0;
}

/* Write the outcome of a round: counters, last success or last error. */
static void
record(struct sync *y, int ok, const struct err *fail, int64_t requests, int64_t retries)
{
	struct err e;
	int64_t now = tally_now();

	if (store_in_txn(y->s))
		store_rollback(y->s);
	if (store_begin(y->s, &e) != 0)
		return;
	if (meta_add_int(y->s, "sync.requests", requests, &e) != 0 ||
	    meta_add_int(y->s, "sync.retries", retries, &e) != 0 ||
	    (ok && store_meta_set_int(y->s, "sync.last_success_at", now, &e) != 0) ||
	    (ok && store_meta_set_int(y->s, "last_sync_at", now, &e) != 0) ||
	    (!ok && store_meta_set_text(y->s, "sync.last_error", fail->msg, &e) != 0) ||
	    (!ok && store_meta_set_int(y->s, "sync.last_error_at", now, &e) != 0) ||
	    (y->api != NULL && api_stats(y->api)->last_request_id[0] != '\0' &&
	     store_meta_set_text(y->s, "sync.last_request_id", api_stats(y->api)->last_request_id, &e) != 0)) {
		store_rollback(y->s);
		return;
	}
	store_commit(y->s, &e);
}

/* Drift, once the round's writes (and its outcome, which sync-stale reads)
 * are in: a full scan when the round talked to the API or the last scan is
 * older than sync_interval (time alone opens and closes some alerts: a
 * period ends, a failed delivery ages), else a re-check of the customers
 * the round marked.  doc/drift.md. */
static int
drift_round(struct sync *y, int full, struct err *e)
{
	int64_t now = tally_now(), every = y->o.cfg->sync_interval > 0 ? y->o.cfg->sync_interval : 60;
	int rc;

	if (now - meta_int(y->s, "drift.scanned_at") >= every)
		full = 1;
	/* The thread polls the logs every second: no transaction for nothing. */
	if (!full && (rc = drift_has_dirty(y->s, e)) <= 0)
		return rc;
	if (store_begin(y->s, e) != 0)
		return -1;
	rc = full ? drift_scan(y->drift, now, 0, NULL, e) : drift_check_dirty(y->drift, now, NULL, e);
	if (rc != 0) {
		store_rollback(y->s);
		return -1;
	}
	if (store_commit(y->s, e) != 0)
		return -1;
	progress(y, "drift");
	return 0;
}

int
sync_round(struct sync *y, int flags, struct err *e)
{
	int64_t requests = y->n.requests, retries = y->n.retries;
	int rc;

	y->fatal = 0;
	rc = follow_logs(y, e);
	if (rc == 0 && y->api != NULL && !(flags & SYNC_LOGS_ONLY)) {
		rc = reconcile(y, flags & SYNC_RECONCILE, e);
		if (rc == 0)
			rc = refetch_all(y, e);
		if (rc == 0)
			rc = catch_up(y, e);
		/* Events can name objects not seen yet: fetch those now. */
		if (rc == 0)
			rc = refetch_all(y, e);
		if (rc == 0)
			rc = expire_due(y, e);
		count_requests(y);
		if (rc != 0 && stopped(y))
			err_set(e, "stopped");
		if (!stopped(y))
			record(y, rc == 0, e, y->n.requests - requests, y->n.retries - retries);
	} else if (rc != 0 && !stopped(y)) {
		record(y, 0, e, 0, 0);
	}
	/* After a failed round too: sync-stale is about failing rounds. */
	if (!stopped(y)) {
		struct err de;
		int drc = drift_round(y, rc == 0 && y->api != NULL && !(flags & SYNC_LOGS_ONLY),
		    rc == 0 ? e : &de);

		if (rc == 0)
			rc = drc;
	}
	y->phase = SYNC_IDLE;
	progress(y, rc == 0 ? "done" : "failed");
	return rc;
}

int
sync_open(struct store *s, const struct sync_opts *o, struct sync **out, struct err *e)
{
	struct sync *y = calloc(1, sizeof *y);

	if (y == NULL)
		return err_set(e, "out of memory");
	y->s = s;
	y->o = *o;
	arena_init(&y->arena);
	if (drift_open(s, o->cat, o->cfg, &y->drift, e) != 0) {
		arena_done(&y->arena);
		free(y);
		return -1;
	}
	if (o->cfg->api_key != NULL && o->cfg->api_key[0] != '\0') {
		struct api_opts ao;

		memset(&ao, 0, sizeof ao);
		ao.base = o->cfg->api_base;
		ao.key = o->cfg->api_key;
		ao.version = o->cfg->stripe_version;
		ao.rate = o->cfg->rate_limit;
		ao.max_retries = -1;
		ao.stop = o->stop;
		if (api_open(&ao, &y->api, e) != 0) {
			sync_close(y);
			return -1;
		}
	}
	*out = y;
	return 0;
}

void
sync_close(struct sync *y)
{
	if (y == NULL)
		return;
	api_close(y->api);
	drift_close(y->drift);
	arena_done(&y->arena);
	free(y);
}

const struct sync_counts *
sync_counts(const struct sync *y)
{
	return &y->n;
}

int
sync_fatal(const struct sync *y)
{
	return y->fatal;
}

/* --- one customer, now (tally resync) ------------------------------------ */

/* What sync_customer_fetch got: each object with the Date of the answer
 * that carried it, and Stripe's credit balance when the customer has
 * credit grants. */
struct sync_fetched {
	char customer[256];
	json_t *objects;                /* [[object, ver, "GET path"], ...] */
	int has_balance;
	char currency[16];
	int64_t available, balance_ver;
};

void
sync_fetched_free(struct sync_fetched *f)
{
	if (f == NULL)
		return;
	json_decref(f->objects);
	free(f);
}

static void
fetched_add(struct sync_fetched *f, json_t *obj, int64_t ver, const char *path)
{
	json_array_append_new(f->objects, json_pack("[O, I, s]", obj,
	    (json_int_t)(ver > 0 ? ver : tally_now()), path));
}

/* Every page of path?customer=<id>[&k=v], each object completed and kept. */
static int
fetch_for_customer(struct sync *y, struct sync_fetched *f, const char *path, const char *filter,
                   const char *id, const char *k, const char *v, struct err *e)
{
	char after[256] = "";
	struct api_error ae;
	json_t *page, *data, *obj;
	int64_t ver;
	size_t i;
	int more = 1, rc;

	while (more) {
		struct api_params p = { 0 };

		api_params_add(&p, "limit", PAGE_LIMIT);
		api_params_add(&p, filter, id);
		if (k != NULL)
			api_params_add(&p, k, v);
		if (after[0] != '\0')
			api_params_add(&p, "starting_after", after);
		page = NULL;
		ver = 0;
		rc = api_get(y->api, path, &p, &page, &ver, &ae);
		api_params_free(&p);
		count_requests(y);
		if (rc != 0)
			return api_fail(y, &ae, path, e);
		data = json_object_get(page, "data");
		if (!json_is_array(data)) {
			json_decref(page);
			return err_set(e, "GET %s: the answer is not a list", path);
		}
		json_array_foreach(data, i, obj) {
			if (complete_object(y, obj, e) != 0) {
				json_decref(page);
				return -1;
			}
			fetched_add(f, obj, ver, path);
		}
		more = json_is_true(json_object_get(page, "has_more")) && json_array_size(data) > 0;
		if (more)
			last_id(data, after, sizeof after);
		json_decref(page);
		if (more && after[0] == '\0')
			return err_set(e, "GET %s: a list item without an id", path);
	}
	return 0;
}

int
sync_customer_fetch(struct sync *y, const char *customer, struct sync_fetched **out,
                    struct err *e)
{
	static const struct {
		const char *path, *k, *v;
	} lists[] = {
		{ "/v1/subscriptions", "status", "all" },
		{ "/v1/invoices", "expand[]", "data.payments" },
		{ "/v1/checkout/sessions", NULL, NULL },
		{ "/v1/charges", NULL, NULL },
		{ "/v1/billing/credit_grants", NULL, NULL },
	};
	struct sync_fetched *f;
	struct api_error ae;
	json_t *obj = NULL, *all, *summary, *o;
	int64_t ver = 0;
	char path[320];
	size_t i, n;
	int ents = 0, grants = 0;

	*out = NULL;
	if (y->api == NULL)
		return err_set(e, "no Stripe API key: set STRIPE_API_KEY (or stripe_api_key in the "
		    "configuration) to fetch %s", customer);
	f = xcalloc(1, sizeof *f);
	snprintf(f->customer, sizeof f->customer, "%s", customer);
	f->objects = json_array();
	y->phase = SYNC_REFETCH;

	snprintf(path, sizeof path, "/v1/customers/%s", customer);
	if (api_get(y->api, path, NULL, &obj, &ver, &ae) != 0) {
		count_requests(y);
		api_fail(y, &ae, path, e);
		if (ae.status == 404)
			err_set(e, "Stripe has no customer %s (GET %s: 404)", customer, path);
		goto fail;
	}
	count_requests(y);
	fetched_add(f, obj, ver, path);
	json_decref(obj);
	for (i = 0; i < sizeof lists / sizeof lists[0]; i++)
		if (fetch_for_customer(y, f, lists[i].path, "customer", customer, lists[i].k,
		    lists[i].v, e) != 0)
			goto fail;
	/* Refunds and disputes are listed by charge: only for charges that
	 * have some. */
	n = json_array_size(f->objects);
	for (i = 0; i < n; i++) {
		const char *type, *id;

		o = json_array_get(json_array_get(f->objects, i), 0);
		type = json_string_value(json_object_get(o, "object"));
		id = json_string_value(json_object_get(o, "id"));
		if (type == NULL || id == NULL)
			continue;
		if (strcmp(type, "billing.credit_grant") == 0)
			grants = 1;
		if (strcmp(type, "charge") != 0)
			continue;
		if (json_integer_value(json_object_get(o, "amount_refunded")) > 0 &&
		    fetch_for_customer(y, f, "/v1/refunds", "charge", id, NULL, NULL, e) != 0)
			goto fail;
		if (json_is_true(json_object_get(o, "disputed")) &&
		    fetch_for_customer(y, f, "/v1/disputes", "charge", id, NULL, NULL, e) != 0)
			goto fail;
	}
	if (uses_entitlements(y, &ents, e) != 0)
		goto fail;
	if (ents) {
		ver = 0;
		if (fetch_all(y, "/v1/entitlements/active_entitlements", "customer", customer, &all,
		    &ver, e) != 0)
			goto fail;
		count_requests(y);
		summary = json_pack("{s:s, s:s, s:{s:s, s:o, s:b}}",
		    "object", "entitlements.active_entitlement_summary", "customer", customer,
		    "entitlements", "object", "list", "data", all, "has_more", 0);
		if (summary == NULL) {
			err_set(e, "entitlements of %s: out of memory", customer);
			goto fail;
		}
		fetched_add(f, summary, ver, "/v1/entitlements/active_entitlements");
		json_decref(summary);
	}
	if (grants) {
		if (credit_balance_fetch(y, customer, f->currency, sizeof f->currency, &f->available,
		    &f->balance_ver, e) != 0)
			goto fail;
		f->has_balance = 1;
	}
	count_requests(y);
	y->phase = SYNC_IDLE;
	*out = f;
	return 0;
fail:
	y->phase = SYNC_IDLE;
	sync_fetched_free(f);
	return -1;
}

int
sync_customer_apply(struct sync *y, struct sync_fetched *f, struct sync_customer_counts *n,
                    struct err *e)
{
	struct apply_ctx c;
	json_t *item;
	size_t i;

	memset(n, 0, sizeof *n);
	if (!store_in_txn(y->s))
		return err_set(e, "internal error: sync_customer_apply needs a transaction");
	apply_ctx_init(y, &c);
	json_array_foreach(f->objects, i, item) {
		json_t *obj = json_array_get(item, 0);
		int64_t ver = json_integer_value(json_array_get(item, 1));
		const char *path = json_string_value(json_array_get(item, 2));
		struct stripe_object o;
		enum apply_result res;
		struct err de;
		char source[320];
		int rc;

		snprintf(source, sizeof source, "GET %s", path != NULL ? path : "?");
		n->objects++;
		arena_reset(&y->arena);
		if (stripe_object_decode(&y->arena, obj, &o, &de) != 0) {
			if (quarantine_json(y, &c, source, obj, de.msg, e) != 0)
				return -1;
			n->quarantined++;
			continue;
		}
		if (savepoint_begin(y, e) != 0)
			return -1;
		rc = apply_object(&c, &o, ver, ingest_json_hash(obj), &res, e);
		if (rc == APPLY_EINPUT)
			n->quarantined++;
		if (savepoint_end(y, &c, rc, source, obj, e) != 0)
			return -1;
		if (rc != 0)
			continue;
		switch (res) {
		case APPLY_APPLIED:
			n->changed++;
			break;
		case APPLY_CONFLICT:
			n->conflicts++;
			break;
		default:
			n->unchanged++;
			break;
		}
	}
	if (f->has_balance &&
	    credit_balance_store(y, f->customer, f->currency, f->available, f->balance_ver, e) != 0)
		return -1;
	n->ledger_entries = c.ledger_entries;
	return 0;
}

const char *
sync_last_request_id(const struct sync *y)
{
	return y->api != NULL ? api_stats(y->api)->last_request_id : "";
}

/* --- status ------------------------------------------------------------ */

static const struct {
	const char *sql;
	size_t off;
} status_counts[] = {
	{ "SELECT count(*) FROM customers WHERE placeholder = 0",
	  offsetof(struct sync_status, customers) },
	{ "SELECT count(*) FROM subscriptions WHERE placeholder = 0",
	  offsetof(struct sync_status, subscriptions) },
	{ "SELECT count(*) FROM invoices WHERE placeholder = 0",
	  offsetof(struct sync_status, invoices) },
	{ "SELECT count(*) FROM events", offsetof(struct sync_status, events) },
	{ "SELECT count(*) FROM deliveries", offsetof(struct sync_status, deliveries) },
	{ "SELECT count(*) FROM deliveries WHERE status <> 'ok'",
	  offsetof(struct sync_status, deliveries_failed) },
	{ "SELECT count(*) FROM ledger", offsetof(struct sync_status, ledger_entries) },
	{ "SELECT count(*) FROM quarantine", offsetof(struct sync_status, quarantined) },
	{ "SELECT (SELECT count(*) FROM customers WHERE refetch = 1 OR placeholder = 1) + "
	  "(SELECT count(*) FROM subscriptions WHERE refetch = 1 OR placeholder = 1) + "
	  "(SELECT count(*) FROM invoices WHERE refetch = 1 OR placeholder = 1) + "
	  "(SELECT count(*) FROM checkout_sessions WHERE refetch = 1) + "
	  "(SELECT count(*) FROM charges WHERE refetch = 1) + "
	  "(SELECT count(*) FROM reversals WHERE refetch = 1) + "
	  "(SELECT count(*) FROM credit_grants WHERE refetch = 1)",
	  offsetof(struct sync_status, refetch_pending) },
};

static const struct {
	const char *key;
	size_t off;
} status_meta[] = {
	{ "last_sync_at", offsetof(struct sync_status, last_sync_at) },
	{ "last_ingest_at", offsetof(struct sync_status, last_ingest_at) },
	{ "sync.last_success_at", offsetof(struct sync_status, last_success_at) },
	{ "sync.last_error_at", offsetof(struct sync_status, last_error_at) },
	{ "sync.reconciled_at", offsetof(struct sync_status, reconciled_at) },
	{ "sync.pass", offsetof(struct sync_status, pass) },
	{ "sync.pass_done", offsetof(struct sync_status, pass_done) },
	{ "sync.requests", offsetof(struct sync_status, requests) },
	{ "sync.retries", offsetof(struct sync_status, retries) },
	{ "sync.events_since", offsetof(struct sync_status, events_since) },
};

int
sync_status(struct store *s, struct sync_status *out, struct err *e)
{
	sqlite3_stmt *st;
	size_t i;

	memset(out, 0, sizeof *out);
	for (i = 0; i < sizeof status_meta / sizeof status_meta[0]; i++)
		*(int64_t *)((char *)out + status_meta[i].off) = meta_int(s, status_meta[i].key);
	store_meta_get_text(s, "sync.last_error", out->last_error, sizeof out->last_error);
	store_meta_get_text(s, "sync.last_request_id", out->last_request_id, sizeof out->last_request_id);
	store_meta_get_text(s, "sync.events_cursor", out->events_cursor, sizeof out->events_cursor);
	for (i = 0; i < sizeof status_counts / sizeof status_counts[0]; i++) {
		if ((st = store_stmt(s, status_counts[i].sql, e)) == NULL)
			return -1;
		if (sqlite3_step(st) == SQLITE_ROW)
			*(int64_t *)((char *)out + status_counts[i].off) = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	for (i = 0; i < NRESOURCES && out->nres < SYNC_STATUS_MAX; i++) {
		if ((st = store_stmt(s, "SELECT cursor, pass, pages, objects, started_at, "
		    "finished_at, done FROM sync_resources WHERE name = ?", e)) == NULL)
			return -1;
		bind_text(st, 1, resources[i].name);
		if (sqlite3_step(st) == SQLITE_ROW) {
			int k = out->nres++;

			snprintf(out->res[k].name, sizeof out->res[k].name, "%s", resources[i].name);
			snprintf(out->res[k].cursor, sizeof out->res[k].cursor, "%s", col_text(st, 0));
			out->res[k].pass = sqlite3_column_int64(st, 1);
			out->res[k].pages = sqlite3_column_int64(st, 2);
			out->res[k].objects = sqlite3_column_int64(st, 3);
			out->res[k].started_at = sqlite3_column_int64(st, 4);
			out->res[k].finished_at = sqlite3_column_int64(st, 5);
			out->res[k].done = sqlite3_column_int(st, 6);
		}
		sqlite3_reset(st);
	}
	if ((st = store_stmt(s, "SELECT path, kind, offset, updated_at FROM cursors ORDER BY path",
	    e)) == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW && out->nlogs < SYNC_STATUS_MAX) {
		int k = out->nlogs++;

		snprintf(out->logs[k].path, sizeof out->logs[k].path, "%s", col_text(st, 0));
		snprintf(out->logs[k].kind, sizeof out->logs[k].kind, "%s", col_text(st, 1));
		out->logs[k].offset = sqlite3_column_int64(st, 2);
		out->logs[k].updated_at = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	return 0;
}

/* --- the background thread ---------------------------------------------- */

struct sync_thread {
	pthread_t tid;
	atomic_int stop;
	int wake[2];                    /* thread -> listener: something changed */
	int kick[2];                    /* listener -> thread: run now / stop */
	pthread_mutex_t mu;
	struct sync_snapshot snap;
	char *db_path;
	const struct config *cfg;
	const struct catalog *cat;
};

static void
notify(struct sync_thread *t)
{
	ssize_t w = write(t->wake[1], "x", 1);

	(void)w;        /* a full pipe already says "something changed" */
}

static void
thread_progress(enum sync_phase phase, const char *what, const struct sync_counts *n, void *arg)
{
	struct sync_thread *t = arg;

	pthread_mutex_lock(&t->mu);
	t->snap.phase = phase;
	snprintf(t->snap.what, sizeof t->snap.what, "%s", what);
	t->snap.counts = *n;
	pthread_mutex_unlock(&t->mu);
	notify(t);
}

static void
thread_error(struct sync_thread *t, const char *msg, int fatal)
{
	pthread_mutex_lock(&t->mu);
	snprintf(t->snap.last_error, sizeof t->snap.last_error, "%s", msg);
	t->snap.fatal = fatal;
	pthread_mutex_unlock(&t->mu);
	notify(t);
}

/* Scheduling runs on the monotonic clock: tally_now() may be pinned
 * (TALLY_NOW) or jump. */
static int64_t
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* Wait up to ms for a kick; 1 when kicked (or stopping). */
static int
thread_wait(struct sync_thread *t, int ms)
{
	struct pollfd pfd = { .fd = t->kick[0], .events = POLLIN };
	char drain[64];
	int kicked = 0;

	if (poll(&pfd, 1, ms) > 0) {
		while (read(t->kick[0], drain, sizeof drain) > 0)
			kicked = 1;
	}
	return kicked || atomic_load(&t->stop);
}

static void *
thread_main(void *arg)
{
	struct sync_thread *t = arg;
	struct store *s = NULL;
	struct sync *y = NULL;
	struct sync_opts o;
	struct err e;
	int64_t next = 0, now;
	int flags;

	if (store_open(t->db_path, 0, &s, &e) != 0) {
		thread_error(t, e.msg, 1);
		goto out;
	}
	memset(&o, 0, sizeof o);
	o.cfg = t->cfg;
	o.cat = t->cat;
	o.stop = &t->stop;
	o.on_progress = thread_progress;
	o.arg = t;
	if (sync_open(s, &o, &y, &e) != 0) {
		thread_error(t, e.msg, 1);
		goto out;
	}
	while (!atomic_load(&t->stop)) {
		now = mono_seconds();
		flags = now >= next ? 0 : SYNC_LOGS_ONLY;
		if (sync_round(y, flags, &e) != 0 && !atomic_load(&t->stop)) {
			thread_error(t, e.msg, sync_fatal(y));
			if (sync_fatal(y))
				break;
		}
		pthread_mutex_lock(&t->mu);
		if (!(flags & SYNC_LOGS_ONLY))
			t->snap.rounds++;
		pthread_mutex_unlock(&t->mu);
		if (!(flags & SYNC_LOGS_ONLY))
			next = mono_seconds() + (t->cfg->sync_interval > 0 ? t->cfg->sync_interval : 60);
		if (thread_wait(t, 1000))
			next = 0;       /* kicked: a whole round now */
	}
out:
	sync_close(y);
	store_close(s);
	pthread_mutex_lock(&t->mu);
	t->snap.running = 0;
	pthread_mutex_unlock(&t->mu);
	notify(t);
	return NULL;
}

static int
pipe_nonblock(int fds[2])
{
	if (pipe(fds) != 0)
		return -1;
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	return 0;
}

int
sync_thread_start(const char *db_path, const struct config *cfg, const struct catalog *cat,
                  struct sync_thread **out, struct err *e)
{
	struct sync_thread *t = calloc(1, sizeof *t);
	int rc;

	if (t == NULL || (t->db_path = strdup(db_path)) == NULL) {
		free(t);
		return err_set(e, "out of memory");
	}
	t->cfg = cfg;
	t->cat = cat;
	atomic_init(&t->stop, 0);
	pthread_mutex_init(&t->mu, NULL);
	t->snap.running = 1;
	if (pipe_nonblock(t->wake) != 0) {
		err_set(e, "sync thread: pipe: %s", strerror(errno));
		goto fail;
	}
	if (pipe_nonblock(t->kick) != 0) {
		err_set(e, "sync thread: pipe: %s", strerror(errno));
		close(t->wake[0]);
		close(t->wake[1]);
		goto fail;
	}
	if ((rc = pthread_create(&t->tid, NULL, thread_main, t)) != 0) {
		err_set(e, "sync thread: %s", strerror(rc));
		close(t->wake[0]);
		close(t->wake[1]);
		close(t->kick[0]);
		close(t->kick[1]);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	pthread_mutex_destroy(&t->mu);
	free(t->db_path);
	free(t);
	return -1;
}

int
sync_thread_fd(const struct sync_thread *t)
{
	return t->wake[0];
}

void
sync_thread_snapshot(struct sync_thread *t, struct sync_snapshot *out)
{
	pthread_mutex_lock(&t->mu);
	*out = t->snap;
	pthread_mutex_unlock(&t->mu);
}

void
sync_thread_kick(struct sync_thread *t)
{
	ssize_t w = write(t->kick[1], "k", 1);

	(void)w;
}

void
sync_thread_stop(struct sync_thread *t)
{
	if (t == NULL)
		return;
	atomic_store(&t->stop, 1);
	sync_thread_kick(t);
	pthread_join(t->tid, NULL);
	close(t->wake[0]);
	close(t->wake[1]);
	close(t->kick[0]);
	close(t->kick[1]);
	pthread_mutex_destroy(&t->mu);
	free(t->db_path);
	free(t);
}
