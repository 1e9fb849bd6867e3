/*
 * actions: adjust, reverse, resync and replay, each as a preview and an
 * apply.  See actions.h for the contract and doc/actions.md for the
 * operator's view (keys, confirmation, pending pushes, exit codes).
 *
 * The shape of every apply is the same: read-only mode refuses; a write
 * transaction (BEGIN IMMEDIATE) decides again from the mirror what the
 * preview decided, so a sync that ran in between is taken into account;
 * the ledger rows and the attempt's audit row are written together; a call
 * to Stripe or to the webhook endpoint happens after that transaction has
 * committed, and its outcome is a second short transaction.  Nothing holds
 * the write lock across the network.
 *
 * This file also holds the one HTTP request tally makes outside the Stripe
 * API: a replayed webhook POSTed to the product's endpoint (hook_post).  It
 * is deliberately not stripe-api.c's client: that one sends the API key.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "access.h"
#include "actions.h"
#include "apply.h"
#include "audit.h"
#include "drift.h"
#include "ledger.h"
#include "sig.h"
#include "stripe-api.h"
#include "sync.h"

#define ACTIONS_MAX_RETRIES 3           /* a push or retry request: 1 + 3 attempts */
#define HOOK_ANSWER_KEEP 256            /* bytes of an endpoint's answer kept */
#define HOOK_ANSWER_MAX (1 << 20)       /* an answer longer than this is cut off */
#define KEY_MAX 200                     /* an operator's --key */

/* --- names ---------------------------------------------------------------- */

const char *
action_kind_name(enum action_kind k)
{
	static const char *const names[] = { "adjust", "reverse", "resync", "replay" };

	return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

const char *
action_result_name(enum action_result r)
{
	static const char *const names[] = { "ok", "noop", "refused", "failed", "pending" };

	return (size_t)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

const char *
action_push_name(enum action_push p)
{
	static const char *const names[] = { "none", "balance", "grant" };

	return (size_t)p < sizeof names / sizeof names[0] ? names[p] : "?";
}

int
action_push_parse(const char *s, enum action_push *out)
{
	if (strcmp(s, "none") == 0)
		*out = ACTION_PUSH_NONE;
	else if (strcmp(s, "balance") == 0)
		*out = ACTION_PUSH_BALANCE;
	else if (strcmp(s, "grant") == 0)
		*out = ACTION_PUSH_GRANT;
	else
		return -1;
	return 0;
}

/* --- small helpers -------------------------------------------------------- */

static void pv_note(struct action_preview *pv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void pv_refuse(struct action_preview *pv, int why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void out_msg(struct action_outcome *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
pv_init(struct action_preview *pv, const struct action_env *env, enum action_kind kind)
{
	memset(pv, 0, sizeof *pv);
	pv->kind = kind;
	snprintf(pv->unit, sizeof pv->unit, "%s",
	    env->cat != NULL && env->cat->unit != NULL ? env->cat->unit : "credits");
}

void
action_preview_done(struct action_preview *pv)
{
	free(pv->http.body);
	pv->http.body = NULL;
	pv->http.bodylen = 0;
}

static void
pv_note(struct action_preview *pv, const char *fmt, ...)
{
	va_list ap;

	if (pv->nnotes >= ACTION_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(pv->notes[pv->nnotes++], sizeof pv->notes[0], fmt, ap);
	va_end(ap);
}

static void
pv_refuse(struct action_preview *pv, int why, const char *fmt, ...)
{
	va_list ap;

	pv->refused = why;
	pv->confirm = ACTION_CONFIRM_NONE;
	va_start(ap, fmt);
	vsnprintf(pv->why, sizeof pv->why, fmt, ap);
	va_end(ap);
}

static void
out_msg(struct action_outcome *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->message, sizeof out->message, fmt, ap);
	va_end(ap);
}

static void
out_init(struct action_outcome *out)
{
	memset(out, 0, sizeof *out);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
stopped(const struct action_env *env)
{
	return env->stop != NULL && atomic_load(env->stop);
}

/* An id or key safe to show and to send: printable ASCII, no space. */
static int
word_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++, n++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || n >= max)
			return 0;
	return 1;
}

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

/* A JSON value as compact text (a new string), dropping the reference. */
static char *
jtext(json_t *v)
{
	char *s = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;

	json_decref(v);
	return s;
}

static void
http_set(struct action_preview *pv, const char *method, const char *url, const char *idem,
         const char *ctype, const char *body, size_t len)
{
	free(pv->http.body);
	memset(&pv->http, 0, sizeof pv->http);
	pv->has_http = 1;
	snprintf(pv->http.method, sizeof pv->http.method, "%s", method);
	snprintf(pv->http.url, sizeof pv->http.url, "%s", url);
	snprintf(pv->http.idem_key, sizeof pv->http.idem_key, "%s", nz(idem));
	snprintf(pv->http.content_type, sizeof pv->http.content_type, "%s", nz(ctype));
	pv->http.body = xmalloc(len + 1);
	memcpy(pv->http.body, body, len);
	pv->http.body[len] = '\0';
	pv->http.bodylen = len;
}

/* Typed for live-mode keys and for amounts above adjust_cap, else y/N.
 * `amount` counts only when has_amount; `live_text` is what a live-mode
 * operator types (the customer, the event). */
static void
confirm_rule(const struct action_env *env, struct action_preview *pv, int has_amount,
             int64_t amount, const char *live_text)
{
	int64_t mag = amount < 0 ? -amount : amount;

	pv->confirm = ACTION_CONFIRM_YES;
	if (has_amount && mag > env->cfg->adjust_cap) {
		pv->confirm = ACTION_CONFIRM_TYPED;
		snprintf(pv->confirm_text, sizeof pv->confirm_text, "%" PRId64, amount);
		snprintf(pv->confirm_why, sizeof pv->confirm_why,
		    "%" PRId64 " %s is above adjust_cap (%" PRId64 ")", mag, pv->unit,
		    env->cfg->adjust_cap);
	} else if (config_is_live(env->cfg)) {
		pv->confirm = ACTION_CONFIRM_TYPED;
		snprintf(pv->confirm_text, sizeof pv->confirm_text, "%s", live_text);
		snprintf(pv->confirm_why, sizeof pv->confirm_why, "the Stripe key is a live-mode key");
	}
}

/* --- the mirror ----------------------------------------------------------- */

/* Is the customer in the mirror (a row, or ledger entries)?  *currency gets
 * its currency ("" when none).  1 yes, 0 no, -1 error. */
static int
customer_known(struct store *s, const char *id, char *currency, size_t cursz, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT COALESCE(currency, ''), 1 FROM customers WHERE id = ?1 AND placeholder = 0 "
	    "UNION ALL SELECT '', 1 FROM ledger WHERE customer = ?1 LIMIT 1", e);
	int rc;

	currency[0] = '\0';
	if (st == NULL)
		return -1;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(currency, cursz, "%s", col_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading customers");
	return rc == SQLITE_ROW;
}

struct entry {
	int64_t seq, amount, recorded_at;
	char key[320], customer[256], kind[16], actor[128], reason[512];
};

/* One ledger entry by key, or by seq when `by` is digits.  1 found, 0 not,
 * -1 error. */
static int
entry_get(struct store *s, const char *by, struct entry *en, struct err *e)
{
	sqlite3_stmt *st;
	int64_t seq;
	int rc, numeric = parse_int64(by, &seq) == 0 && by[0] != '-' && by[0] != '+';

	memset(en, 0, sizeof *en);
	st = numeric ? store_stmt(s,
	    "SELECT seq, amount, recorded_at, key, customer, kind, actor, COALESCE(reason, '') "
	    "FROM ledger WHERE seq = ?", e)
	    : store_stmt(s,
	    "SELECT seq, amount, recorded_at, key, customer, kind, actor, COALESCE(reason, '') "
	    "FROM ledger WHERE key = ?", e);
	if (st == NULL)
		return -1;
	if (numeric)
		bind_int(st, 1, seq);
	else
		bind_text(st, 1, by);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		en->seq = sqlite3_column_int64(st, 0);
		en->amount = sqlite3_column_int64(st, 1);
		en->recorded_at = sqlite3_column_int64(st, 2);
		snprintf(en->key, sizeof en->key, "%s", col_text(st, 3));
		snprintf(en->customer, sizeof en->customer, "%s", col_text(st, 4));
		snprintf(en->kind, sizeof en->kind, "%s", col_text(st, 5));
		snprintf(en->actor, sizeof en->actor, "%s", col_text(st, 6));
		snprintf(en->reason, sizeof en->reason, "%s", col_text(st, 7));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading the ledger");
	return rc == SQLITE_ROW;
}

static int
max_seq(struct store *s, int64_t *out, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT COALESCE(max(seq), 0) FROM ledger", e);
	int rc;

	*out = 0;
	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_err(s, e, "reading the ledger");
}

/* One audit row; *id (may be NULL) gets its id. */
static int
audit_row(const struct action_env *env, enum action_kind kind, const char *target,
          const char *reason, const char *idem, const char *before, const char *after,
          enum action_result result, const char *request_id, const char *detail, int64_t *id,
          struct err *e)
{
	struct audit_entry a;

	memset(&a, 0, sizeof a);
	a.operator_name = env->cfg->operator_name;
	a.action = action_kind_name(kind);
	a.target = target;
	a.reason = reason;
	a.idem_key = idem != NULL && *idem != '\0' ? idem : NULL;
	a.before = before;
	a.after = after;
	a.result = action_result_name(result);
	a.request_id = request_id != NULL && *request_id != '\0' ? request_id : NULL;
	a.detail = detail;
	return audit_append(env->s, &a, id, e);
}

/* Write one audit row in its own transaction. */
static int
audit_alone(const struct action_env *env, enum action_kind kind, const char *target,
            const char *reason, const char *idem, const char *before, const char *after,
            enum action_result result, const char *request_id, const char *detail, int64_t *id,
            struct err *e)
{
	if (store_begin(env->s, e) != 0)
		return -1;
	if (audit_row(env, kind, target, reason, idem, before, after, result, request_id, detail,
	    id, e) != 0) {
		store_rollback(env->s);
		return -1;
	}
	return store_commit(env->s, e);
}

int
actions_record_declined(const struct action_env *env, const struct action_preview *pv,
                        const char *reason, const char *why, struct action_outcome *out,
                        struct err *e)
{
	out_init(out);
	out->result = ACTION_REFUSED;
	out_msg(out, "%s %s: not done: %s", action_kind_name(pv->kind), pv->target, why);
	if (env->cfg->read_only)
		return 0;
	return audit_alone(env, pv->kind, pv->target[0] != '\0' ? pv->target : "-", reason,
	    pv->idem_key, NULL, NULL, ACTION_REFUSED, NULL, why, &out->audit_id, e);
}

static int
refuse_read_only(const struct action_env *env, enum action_kind kind, struct action_outcome *out)
{
	if (!env->cfg->read_only)
		return 0;
	out->result = ACTION_REFUSED;
	out->refused = ACTION_REFUSED_INPUT;
	out_msg(out, "read-only mode: %s changes nothing here (turn read_only off, or drop "
	    "--read-only, to act)", action_kind_name(kind));
	return 1;
}

/* A refused preview becomes the attempt's one audit row. */
static int
record_refusal(const struct action_env *env, const struct action_preview *pv, const char *reason,
               struct action_outcome *out, struct err *e)
{
	out->result = ACTION_REFUSED;
	out->refused = pv->refused;
	out_msg(out, "%s", pv->why);
	return audit_row(env, pv->kind, pv->target[0] != '\0' ? pv->target : "-", reason,
	    pv->idem_key, NULL, NULL, ACTION_REFUSED, NULL, pv->why, &out->audit_id, e);
}

/* --- the Stripe client for one action ------------------------------------- */

static int
api_client_open(const struct action_env *env, struct api_client **out, struct err *e)
{
	struct api_opts ao;

	memset(&ao, 0, sizeof ao);
	ao.base = env->cfg->api_base;
	ao.key = env->cfg->api_key;
	ao.version = env->cfg->stripe_version;
	ao.rate = env->cfg->rate_limit;
	ao.max_retries = ACTIONS_MAX_RETRIES;
	ao.stop = env->stop;
	return api_open(&ao, out, e);
}

static int
have_key(const struct action_env *env)
{
	return env->cfg->api_key != NULL && env->cfg->api_key[0] != '\0';
}

/* Percent-decode a form body back into parameters (the inverse of
 * api_params_encode), so a retried push sends exactly what was first sent. */
static int
hexdig(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *
form_unescape(const char *s, size_t n)
{
	char *o = xmalloc(n + 1);
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexdig((unsigned char)s[i + 1]) >= 0 &&
		    hexdig((unsigned char)s[i + 2]) >= 0) {
			o[k++] = (char)(hexdig((unsigned char)s[i + 1]) * 16 +
			    hexdig((unsigned char)s[i + 2]));
			i += 2;
		} else if (s[i] == '+') {
			o[k++] = ' ';
		} else {
			o[k++] = s[i];
		}
	}
	o[k] = '\0';
	return o;
}

static void
form_decode(const char *body, struct api_params *p)
{
	const char *s = body, *amp, *eq;

	while (*s != '\0') {
		char *k, *v;

		amp = strchr(s, '&');
		if (amp == NULL)
			amp = s + strlen(s);
		eq = memchr(s, '=', (size_t)(amp - s));
		if (eq == NULL)
			eq = amp;
		k = form_unescape(s, (size_t)(eq - s));
		v = form_unescape(eq < amp ? eq + 1 : amp, eq < amp ? (size_t)(amp - eq - 1) : 0);
		api_params_add(p, k, v);
		free(k);
		free(v);
		s = *amp != '\0' ? amp + 1 : amp;
	}
}

/* --- adjust --------------------------------------------------------------- */

void
actions_adjust_key(const char *customer, int64_t amount, const char *reason,
                   const char *operator_name, char *out, size_t outsz)
{
	struct buf b;
	char hex[65];

	buf_init(&b, 0);
	buf_printf(&b, "%s\n%" PRId64 "\n%s\n%s", nz(customer), amount, nz(reason),
	    nz(operator_name));
	if (sig_hmac_hex("tally adjust key v1", 19, b.data, b.len, hex) != 0)
		snprintf(hex, sizeof hex, "%016" PRIx64, (uint64_t)hash64(b.data, b.len));
	buf_done(&b);
	snprintf(out, outsz, "%s:%" PRId64 ":%.12s", nz(customer), amount, hex);
}

/* The push's state as the last push-state audit row of the key says. */
struct push_state {
	int found;
	enum action_push mode;
	char state[16];                 /* pending | confirmed | failed */
	char body[2048];
	char url[1280];
	char request_id[64], object[128];
	int64_t at;
};

static int
push_state_read(struct store *s, const char *idem, struct push_state *ps, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT json_extract(after, '$.push.mode'), json_extract(after, '$.push.state'), "
	    "json_extract(after, '$.push.body'), json_extract(after, '$.push.url'), "
	    "COALESCE(json_extract(after, '$.push.request_id'), ''), "
	    "COALESCE(json_extract(after, '$.push.object'), ''), at "
	    "FROM audit WHERE idem_key = ? AND action = 'adjust' "
	    "AND result IN ('ok', 'pending', 'failed') AND json_valid(after) "
	    "ORDER BY id DESC LIMIT 1", e);
	int rc;

	memset(ps, 0, sizeof *ps);
	if (st == NULL)
		return -1;
	bind_text(st, 1, idem);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ps->found = 1;
		if (action_push_parse(col_text(st, 0), &ps->mode) != 0)
			ps->mode = ACTION_PUSH_NONE;
		snprintf(ps->state, sizeof ps->state, "%s", col_text(st, 1));
		snprintf(ps->body, sizeof ps->body, "%s", col_text(st, 2));
		snprintf(ps->url, sizeof ps->url, "%s", col_text(st, 3));
		snprintf(ps->request_id, sizeof ps->request_id, "%s", col_text(st, 4));
		snprintf(ps->object, sizeof ps->object, "%s", col_text(st, 5));
		ps->at = sqlite3_column_int64(st, 6);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading the audit log");
	return 0;
}

/* Has sync seen the push?  Stripe's events caused by a request carry its
 * idempotency key (request.idempotency_key) and id (request.id).  Only
 * events created since the entry was recorded (less a day of clock skew)
 * are looked at.  1 found (event and request id filled), 0 not, -1 error. */
static int
push_seen_by_sync(struct store *s, const char *idem, int64_t since, char *event, size_t evsz,
                  char *request_id, size_t ridsz, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT id, COALESCE(CASE WHEN json_valid(body) THEN json_extract(body, '$.request.id') "
	    "END, '') FROM events WHERE created >= ?2 "
	    "AND type IN ('customer.updated', 'customer.balance_transaction.created', "
	    "'billing.credit_grant.created') "
	    "AND CASE WHEN json_valid(body) THEN json_extract(body, '$.request.idempotency_key') "
	    "END = ?1 ORDER BY created, id LIMIT 1", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, idem);
	bind_int(st, 2, since - 86400);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(event, evsz, "%s", col_text(st, 0));
		snprintf(request_id, ridsz, "%s", col_text(st, 1));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading events");
	return rc == SQLITE_ROW;
}

/* The form parameters of a new push. */
static void
push_params(const struct action_env *env, enum action_push push, const char *customer,
            int64_t amount, int64_t minor, const char *currency, const char *reason,
            const char *idem, struct api_params *p)
{
	char text[400], clean[400];

	text_clean(nz(reason), strlen(nz(reason)), clean, 80);
	if (push == ACTION_PUSH_BALANCE) {
		/* Stripe counts a negative balance transaction as credit the
		 * customer has: credits given are a negative amount. */
		api_params_addf(p, "amount", "%" PRId64, -minor);
		api_params_add(p, "currency", currency);
		snprintf(text, sizeof text, "tally adjust: %s", clean);
		api_params_add(p, "description", text);
	} else {
		api_params_add(p, "customer", customer);
		api_params_add(p, "amount[type]", "monetary");
		api_params_addf(p, "amount[monetary][value]", "%" PRId64, minor);
		api_params_add(p, "amount[monetary][currency]", currency);
		api_params_add(p, "applicability_config[scope][price_type]", "metered");
		api_params_add(p, "category", "promotional");
		snprintf(text, sizeof text, "tally adjust: %s", clean);
		api_params_add(p, "name", text);
	}
	api_params_add(p, "metadata[tally_key]", idem);
	api_params_add(p, "metadata[tally_operator]", env->cfg->operator_name);
	api_params_addf(p, "metadata[tally_credits]", "%" PRId64, amount);
}

static const char *
push_path(enum action_push push, const char *customer, char *buf, size_t n)
{
	if (push == ACTION_PUSH_BALANCE)
		snprintf(buf, n, "/v1/customers/%s/balance_transactions", customer);
	else
		snprintf(buf, n, "/v1/billing/credit_grants");
	return buf;
}

/* What an adjustment found in the mirror, shared by preview and apply. */
struct adjust_plan {
	char key[300];                  /* without "adjust:" */
	char idem[320];
	struct entry existing;
	int exists;
	struct push_state ps;
	int retry;                      /* the entry exists; its push must be finished */
	int seen;                       /* ... and sync has seen it: just record that */
	char seen_event[256], seen_request[64];
	char currency[16];
	int64_t minor;
};

static int
adjust_plan(const struct action_env *env, const struct action_adjust *r, struct action_preview *pv,
            struct adjust_plan *ap, struct err *e)
{
	char cur[16], path[400], url[1300];
	struct api_params p = { 0 };
	char *body;
	int known, rc;

	memset(ap, 0, sizeof *ap);
	pv_init(pv, env, ACTION_ADJUST);
	snprintf(pv->target, sizeof pv->target, "%s", nz(r->customer));
	snprintf(pv->customer, sizeof pv->customer, "%s", nz(r->customer));
	if (!word_ok(r->customer, 255)) {
		pv_refuse(pv, ACTION_REFUSED_INPUT, "expected a customer id (printable, no spaces)");
		return 0;
	}
	if (r->reason == NULL || r->reason[0] == '\0') {
		pv_refuse(pv, ACTION_REFUSED_INPUT, "a reason is required (--reason TEXT)");
		return 0;
	}
	if (r->amount == 0 || r->amount == INT64_MIN) {
		pv_refuse(pv, ACTION_REFUSED_INPUT, r->amount == 0 ? "an adjustment of 0 changes nothing"
		    : "the amount is out of range");
		return 0;
	}
	if (r->key != NULL) {
		if (!word_ok(r->key, KEY_MAX)) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "--key: expected up to %d printable "
			    "characters without spaces", KEY_MAX);
			return 0;
		}
		snprintf(ap->key, sizeof ap->key, "%s", r->key);
	} else {
		actions_adjust_key(r->customer, r->amount, r->reason, env->cfg->operator_name,
		    ap->key, sizeof ap->key);
		pv->key_derived = 1;
	}
	snprintf(ap->idem, sizeof ap->idem, "adjust:%s", ap->key);
	snprintf(pv->idem_key, sizeof pv->idem_key, "%s", ap->idem);
	if (strlen(ap->idem) > 255) {
		pv_refuse(pv, ACTION_REFUSED_INPUT, "the key adjust:%.40s... is longer than the 255 "
		    "characters Stripe allows; pass a shorter --key", ap->key);
		return 0;
	}

	if ((known = customer_known(env->s, r->customer, cur, sizeof cur, e)) < 0)
		return -1;
	if (!known) {
		pv_refuse(pv, ACTION_REFUSED_STATE, "no customer %s in the mirror (tally resync %s "
		    "fetches it from Stripe)", r->customer, r->customer);
		return 0;
	}
	if (ledger_balance(env->s, r->customer, &pv->balance_before, e) != 0)
		return -1;
	pv->has_balance = 1;
	pv->balance_after = pv->balance_before;

	if ((rc = entry_get(env->s, ap->idem, &ap->existing, e)) < 0)
		return -1;
	ap->exists = rc;
	if (ap->exists) {
		if (strcmp(ap->existing.customer, r->customer) != 0 ||
		    ap->existing.amount != r->amount || strcmp(ap->existing.kind, "adjust") != 0) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "the key %s is already used by entry %" PRId64
			    " (%s %+" PRId64 " for %s); a key names one adjustment: choose another --key",
			    ap->idem, ap->existing.seq, ap->existing.kind, ap->existing.amount,
			    ap->existing.customer);
			return 0;
		}
		if (push_state_read(env->s, ap->idem, &ap->ps, e) != 0)
			return -1;
		if (ap->ps.mode != r->push) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "%s (entry %" PRId64 ") was recorded with "
			    "--push %s; run it with --push %s to see it again, or choose another --key",
			    ap->idem, ap->existing.seq, action_push_name(ap->ps.mode),
			    action_push_name(ap->ps.mode));
			return 0;
		}
		if (ap->ps.mode == ACTION_PUSH_NONE || strcmp(ap->ps.state, "confirmed") == 0) {
			pv->noop = 1;
			if (ap->ps.mode == ACTION_PUSH_NONE)
				snprintf(pv->why, sizeof pv->why, "%s is already recorded (entry %" PRId64
				    ", %+" PRId64 " %s, by %s): nothing to do", ap->idem,
				    ap->existing.seq, ap->existing.amount, pv->unit, ap->existing.actor);
			else
				snprintf(pv->why, sizeof pv->why, "%s is already recorded (entry %" PRId64
				    ") and pushed to Stripe (%s, request %s): nothing to do", ap->idem,
				    ap->existing.seq, ap->ps.object[0] ? ap->ps.object : "-",
				    ap->ps.request_id[0] ? ap->ps.request_id : "-");
			snprintf(pv->summary, sizeof pv->summary, "adjust %s by %+" PRId64 " %s: already "
			    "done", r->customer, r->amount, pv->unit);
			return 0;
		}
		/* The entry is there; its push is pending or failed. */
		ap->retry = 1;
		rc = push_seen_by_sync(env->s, ap->idem, ap->existing.recorded_at, ap->seen_event,
		    sizeof ap->seen_event, ap->seen_request, sizeof ap->seen_request, e);
		if (rc < 0)
			return -1;
		ap->seen = rc;
		snprintf(pv->summary, sizeof pv->summary, "finish the %s push of %s (entry %" PRId64
		    ", %+" PRId64 " %s): it is %s", action_push_name(ap->ps.mode), ap->idem,
		    ap->existing.seq, ap->existing.amount, pv->unit, ap->ps.state);
		if (ap->seen) {
			pv->confirm = ACTION_CONFIRM_NONE;
			pv_note(pv, "Stripe already has it: event %s (request %s), seen by sync; "
			    "only the confirmation is recorded", ap->seen_event,
			    ap->seen_request[0] ? ap->seen_request : "-");
			return 0;
		}
		if (!have_key(env)) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "the push of %s is %s and needs the Stripe "
			    "API key to finish (STRIPE_API_KEY or stripe_api_key)", ap->idem,
			    ap->ps.state);
			return 0;
		}
		http_set(pv, "POST", ap->ps.url, ap->idem, "application/x-www-form-urlencoded",
		    ap->ps.body, strlen(ap->ps.body));
		pv_note(pv, "first Stripe is asked for an object with metadata tally_key=%s (GET, "
		    "one page); only if it has none is the request below sent again, under the same "
		    "Idempotency-Key, so Stripe answers with the first result", ap->idem);
		confirm_rule(env, pv, 1, r->amount, r->customer);
		return 0;
	}

	/* A new adjustment. */
	if ((r->amount > 0 && pv->balance_before > INT64_MAX - r->amount) ||
	    (r->amount < 0 && pv->balance_before < INT64_MIN - r->amount)) {
		pv_refuse(pv, ACTION_REFUSED_INPUT, "the balance of %s (%" PRId64 ") would overflow",
		    r->customer, pv->balance_before);
		return 0;
	}
	pv->balance_after = pv->balance_before + r->amount;
	snprintf(pv->summary, sizeof pv->summary, "adjust %s by %+" PRId64 " %s", r->customer,
	    r->amount, pv->unit);
	pv->nrows = 1;
	snprintf(pv->rows[0].key, sizeof pv->rows[0].key, "%s", ap->idem);
	snprintf(pv->rows[0].kind, sizeof pv->rows[0].kind, "adjust");
	snprintf(pv->rows[0].customer, sizeof pv->rows[0].customer, "%s", r->customer);
	pv->rows[0].amount = r->amount;

	if (r->push != ACTION_PUSH_NONE) {
		const struct catalog *cat = env->cat;

		if (!have_key(env)) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "--push %s needs the Stripe API key "
			    "(STRIPE_API_KEY or stripe_api_key); --push none records the entry only",
			    action_push_name(r->push));
			return 0;
		}
		if (r->push == ACTION_PUSH_GRANT && r->amount < 0) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "--push grant cannot take credits back (a "
			    "credit grant is positive); use --push balance or --push none");
			return 0;
		}
		rc = catalog_credits_to_minor(cat, r->amount, &ap->minor);
		if (rc == 1) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "the catalog has no \"credit_value\", so "
			    "tally cannot say what %+" PRId64 " %s is worth in money; add one (for "
			    "example {\"currency\": \"usd\", \"credits\": 100, \"minor_units\": 1}) or "
			    "use --push none", r->amount, pv->unit);
			return 0;
		}
		if (rc == 2) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "%+" PRId64 " %s is not a whole number of "
			    "minor units of %s at the catalog's credit_value (%" PRId64 " %s = %" PRId64
			    "); use a multiple of %" PRId64, r->amount, pv->unit, cat->value_currency,
			    cat->value_credits, pv->unit, cat->value_minor_units, cat->value_credits);
			return 0;
		}
		if (cur[0] != '\0' && strcmp(cur, cat->value_currency) != 0) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "%s pays in %s, but the catalog's "
			    "credit_value is in %s; tally does not convert currencies", r->customer, cur,
			    cat->value_currency);
			return 0;
		}
		snprintf(ap->currency, sizeof ap->currency, "%s", cat->value_currency);
		push_params(env, r->push, r->customer, r->amount, ap->minor, ap->currency, r->reason,
		    ap->idem, &p);
		body = api_params_encode(&p);
		api_params_free(&p);
		snprintf(url, sizeof url, "%s%s", env->cfg->api_base,
		    push_path(r->push, r->customer, path, sizeof path));
		http_set(pv, "POST", url, ap->idem, "application/x-www-form-urlencoded", body,
		    strlen(body));
		free(body);
		pv_note(pv, "%+" PRId64 " %s = %" PRId64 " minor units of %s; %s", r->amount, pv->unit,
		    ap->minor, ap->currency, r->push == ACTION_PUSH_BALANCE ?
		    "a customer balance transaction's amount is negated: negative is credit the "
		    "customer has" : "a promotional credit grant for metered prices");
		pv_note(pv, "the push stays pending until Stripe's answer, or the next run with the "
		    "same key, or sync, confirms it");
	}
	confirm_rule(env, pv, 1, r->amount, r->customer);
	return 0;
}

int
actions_adjust_preview(const struct action_env *env, const struct action_adjust *r,
                       struct action_preview *pv, struct err *e)
{
	struct adjust_plan ap;

	if (adjust_plan(env, r, pv, &ap, e) != 0)
		return -1;
	if (!pv->refused && !pv->noop && pv->key_derived)
		pv_note(pv, "the key was derived from customer, amount, reason and operator: the same "
		    "submission again lands on it; --key sets your own");
	return 0;
}

/* The push object of an audit row's after JSON (a new reference). */
static json_t *
push_json(enum action_push mode, const char *state, const char *url, const char *body,
          const char *idem, const char *request_id, const char *object, const char *error)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s?, s:s?, s:s?}",
	    "mode", action_push_name(mode), "state", state, "method", "POST", "url", url,
	    "body", body, "idempotency_key", idem,
	    "request_id", request_id != NULL && *request_id ? request_id : NULL,
	    "object", object != NULL && *object ? object : NULL, "error", error);
}

/* Ask Stripe whether it already has the push (one page, newest first):
 * 1 found (object and request filled), 0 not, -1 could not ask (ae). */
static int
push_lookup(struct api_client *api, enum action_push mode, const char *customer, const char *idem,
            char *object, size_t objsz, char *request_id, size_t ridsz, struct api_error *ae)
{
	struct api_params p = { 0 };
	char path[400];
	json_t *page = NULL, *o;
	size_t i;
	int found = 0;

	api_params_add(&p, "limit", "100");
	if (mode == ACTION_PUSH_GRANT)
		api_params_add(&p, "customer", customer);
	if (api_get(api, push_path(mode, customer, path, sizeof path), &p, &page, NULL, ae) != 0) {
		api_params_free(&p);
		return -1;
	}
	api_params_free(&p);
	snprintf(request_id, ridsz, "%s", ae->request_id);
	json_array_foreach(json_object_get(page, "data"), i, o) {
		const char *k = json_string_value(json_object_get(json_object_get(o, "metadata"),
		    "tally_key"));

		if (k != NULL && strcmp(k, idem) == 0) {
			snprintf(object, objsz, "%s", nz(json_string_value(json_object_get(o, "id"))));
			found = 1;
			break;
		}
	}
	json_decref(page);
	return found;
}

/* Send (or finish) a push, outside any transaction, then record its
 * outcome as one audit row.  `first` is 1 when the entry was just written
 * (a pending row already says so), 0 for a retry (this row is the
 * attempt's only one). */
static int
push_run(const struct action_env *env, const struct action_adjust *r, const struct adjust_plan *ap,
         const struct action_preview *pv, int first, struct action_outcome *out, struct err *e)
{
	enum action_push mode = first ? r->push : ap->ps.mode;
	struct api_client *api = NULL;
	struct api_params p = { 0 };
	struct api_error ae;
	enum action_result res;
	json_t *answer = NULL;
	const char *state;
	char path[400], object[128] = "", rid[64] = "", errline[800] = "", detail[1100];
	char prior[sizeof out->message];
	char *after;
	int rc, found = 0;

	memset(&ae, 0, sizeof ae);
	if (api_client_open(env, &api, e) != 0) {
		/* Nothing was sent. */
		snprintf(errline, sizeof errline, "%s", e->msg);
		res = ACTION_FAILED;
		goto record;
	}
	if (!first) {
		found = push_lookup(api, mode, r->customer, ap->idem, object, sizeof object, rid,
		    sizeof rid, &ae);
		if (found < 0) {
			api_error_format(&ae, errline, sizeof errline);
			res = ACTION_PENDING;
			goto record;
		}
	}
	if (found) {
		res = ACTION_OK;
		goto record;
	}
	form_decode(pv->http.body, &p);
	rc = api_post(api, push_path(mode, r->customer, path, sizeof path), &p, ap->idem, &answer,
	    &ae);
	api_params_free(&p);
	snprintf(rid, sizeof rid, "%s", ae.request_id);
	out->http_status = ae.status;
	if (rc == 0) {
		snprintf(object, sizeof object, "%s",
		    nz(json_string_value(json_object_get(answer, "id"))));
		res = ACTION_OK;
	} else {
		api_error_format(&ae, errline, sizeof errline);
		/* No answer, a 5xx (Stripe may have saved it under the key), a
		 * conflict or a rate limit: the outcome is unknown or not yet
		 * there.  Any other 4xx: Stripe refused; nothing was applied
		 * and the key keeps no result. */
		if (ae.status == 0 ? strcmp(ae.type, "invalid_request") != 0
		    : (ae.status >= 500 || ae.status == 409 || ae.status == 429))
			res = ACTION_PENDING;
		else
			res = ACTION_FAILED;
	}
	json_decref(answer);
record:
	api_close(api);
	state = res == ACTION_OK ? "confirmed" : res == ACTION_PENDING ? "pending" : "failed";
	snprintf(out->request_id, sizeof out->request_id, "%s", rid);
	snprintf(out->object_id, sizeof out->object_id, "%s", object);
	if (res == ACTION_OK)
		snprintf(detail, sizeof detail, "push %s confirmed: %s%s", action_push_name(mode),
		    object[0] ? object : "-", found ? " (found at Stripe by metadata tally_key)" : "");
	else
		snprintf(detail, sizeof detail, "push %s %s: %s", action_push_name(mode), state,
		    errline);
	after = jtext(json_pack("{s:I, s:o}", "balance", (json_int_t)pv->balance_after,
	    "push", push_json(mode, state, pv->http.url, pv->http.body, ap->idem, rid, object,
	    res == ACTION_OK ? NULL : errline)));
	rc = audit_alone(env, ACTION_ADJUST, r->customer, r->reason, ap->idem,
	    NULL, after, res, rid, detail, &out->audit_id, e);
	free(after);
	if (rc != 0)
		return -1;
	out->result = res;
	snprintf(prior, sizeof prior, "%s%s", out->message, out->message[0] ? "; " : "");
	if (res == ACTION_OK)
		out_msg(out, "%s%s: %s (request %s)", prior, found ? "Stripe already had the push "
		    "(found by its metadata tally_key)" : "pushed to Stripe", object[0] ? object : "-",
		    rid[0] ? rid : "-");
	else if (res == ACTION_PENDING)
		out_msg(out, "%spush PENDING: %s.  The entry stands; run the same command again "
		    "(same key %s) to finish the push: Stripe answers a retry under the same "
		    "Idempotency-Key with its first result", prior, errline, ap->idem);
	else
		out_msg(out, "%spush FAILED: %s.  The entry stands (tally reverse %s undoes it); "
		    "Stripe kept nothing under the key, so the same command can try again", prior,
		    errline, ap->idem);
	return 0;
}

int
actions_adjust_apply(const struct action_env *env, const struct action_adjust *r,
                     struct action_outcome *out, struct err *e)
{
	struct action_preview pv;
	struct adjust_plan ap;
	struct ledger_entry en;
	char *before = NULL, *after = NULL, detail[700];
	int appended = 0, rc = -1;
	int64_t now = tally_now();

	out_init(out);
	if (refuse_read_only(env, ACTION_ADJUST, out))
		return 0;
	if (store_begin(env->s, e) != 0)
		return -1;
	if (adjust_plan(env, r, &pv, &ap, e) != 0)
		goto rollback;
	if (pv.refused) {
		if (record_refusal(env, &pv, r->reason, out, e) != 0)
			goto rollback;
		goto commit;
	}
	out->has_balance = 1;
	out->balance_before = pv.balance_before;
	out->balance_after = pv.balance_after;
	snprintf(out->entry_key, sizeof out->entry_key, "%s", ap.idem);
	if (pv.noop) {
		out->result = ACTION_NOOP;
		out->entry_seq = ap.existing.seq;
		out_msg(out, "%s", pv.why);
		if (audit_row(env, ACTION_ADJUST, r->customer, r->reason, ap.idem, NULL, NULL,
		    ACTION_NOOP, NULL, pv.why, &out->audit_id, e) != 0)
			goto rollback;
		goto commit;
	}
	if (ap.retry) {
		out->entry_seq = ap.existing.seq;
		if (ap.seen) {
			snprintf(detail, sizeof detail, "push %s confirmed by event %s seen by sync",
			    action_push_name(ap.ps.mode), ap.seen_event);
			after = jtext(json_pack("{s:I, s:o}", "balance", (json_int_t)pv.balance_before,
			    "push", push_json(ap.ps.mode, "confirmed", ap.ps.url, ap.ps.body, ap.idem,
			    ap.seen_request, ap.seen_event, NULL)));
			if (audit_row(env, ACTION_ADJUST, r->customer, r->reason, ap.idem, NULL, after,
			    ACTION_OK, ap.seen_request, detail, &out->audit_id, e) != 0)
				goto rollback;
			out->result = ACTION_OK;
			snprintf(out->request_id, sizeof out->request_id, "%s", ap.seen_request);
			out_msg(out, "%s was already recorded (entry %" PRId64 "); its push is confirmed "
			    "by event %s (request %s), seen by sync", ap.idem, ap.existing.seq,
			    ap.seen_event, ap.seen_request[0] ? ap.seen_request : "-");
			goto commit;
		}
		/* Nothing to write before the network: this attempt's one row
		 * comes with its outcome. */
		store_rollback(env->s);
		out_msg(out, "%s was already recorded (entry %" PRId64 ")", ap.idem, ap.existing.seq);
		rc = push_run(env, r, &ap, &pv, 0, out, e);
		action_preview_done(&pv);
		return rc;
	}

	memset(&en, 0, sizeof en);
	en.customer = r->customer;
	en.amount = r->amount;
	en.kind = "adjust";
	en.key = ap.idem;
	en.source_type = "operator";
	en.source_id = ap.key;
	en.effective_at = now;
	en.actor = env->cfg->operator_name;
	en.reason = r->reason;
	rc = ledger_append(env->s, &en, now, &appended, e);
	if (rc < 0)
		goto rollback;
	rc = -1;
	out->entries = appended;
	if (ledger_balance(env->s, r->customer, &out->balance_after, e) != 0)
		goto rollback;
	{
		struct entry got;

		if (entry_get(env->s, ap.idem, &got, e) < 0)
			goto rollback;
		out->entry_seq = got.seq;
	}
	before = jtext(json_pack("{s:I}", "balance", (json_int_t)out->balance_before));
	if (r->push == ACTION_PUSH_NONE)
		after = jtext(json_pack("{s:I, s:{s:I, s:s, s:I}}", "balance",
		    (json_int_t)out->balance_after, "entry", "seq", (json_int_t)out->entry_seq, "key",
		    ap.idem, "amount", (json_int_t)r->amount));
	else
		after = jtext(json_pack("{s:I, s:{s:I, s:s, s:I}, s:o}", "balance",
		    (json_int_t)out->balance_after, "entry", "seq", (json_int_t)out->entry_seq, "key",
		    ap.idem, "amount", (json_int_t)r->amount, "push",
		    push_json(r->push, "pending", pv.http.url, pv.http.body, ap.idem, NULL, NULL,
		    NULL)));
	snprintf(detail, sizeof detail, "%+" PRId64 " %s: balance %" PRId64 " -> %" PRId64 "%s",
	    r->amount, pv.unit, out->balance_before, out->balance_after,
	    r->push == ACTION_PUSH_NONE ? "" : r->push == ACTION_PUSH_BALANCE ?
	    "; push balance pending" : "; push grant pending");
	if (audit_row(env, ACTION_ADJUST, r->customer, r->reason, ap.idem, before, after,
	    r->push == ACTION_PUSH_NONE ? ACTION_OK : ACTION_PENDING, NULL, detail, &out->audit_id,
	    e) != 0)
		goto rollback;
	if (store_commit(env->s, e) != 0)
		goto out;
	out->result = r->push == ACTION_PUSH_NONE ? ACTION_OK : ACTION_PENDING;
	out_msg(out, "adjusted %s by %+" PRId64 " %s: balance %" PRId64 " -> %" PRId64 " (entry %"
	    PRId64 ", %s)", r->customer, r->amount, pv.unit, out->balance_before,
	    out->balance_after, out->entry_seq, ap.idem);
	rc = r->push == ACTION_PUSH_NONE ? 0 : push_run(env, r, &ap, &pv, 1, out, e);
	goto out;
commit:
	if (store_commit(env->s, e) == 0)
		rc = 0;
	goto out;
rollback:
	store_rollback(env->s);
out:
	free(before);
	free(after);
	action_preview_done(&pv);
	return rc;
}

/* --- reverse -------------------------------------------------------------- */

struct reverse_plan {
	struct entry en;
	char rkey[340];
};

static int
reverse_plan(const struct action_env *env, const struct action_reverse *r,
             struct action_preview *pv, struct reverse_plan *rp, struct err *e)
{
	struct entry prior;
	char cur[16];
	int rc;

	memset(rp, 0, sizeof *rp);
	pv_init(pv, env, ACTION_REVERSE);
	snprintf(pv->target, sizeof pv->target, "%s", nz(r->entry));
	if (!word_ok(r->entry, 300)) {
		pv_refuse(pv, ACTION_REFUSED_INPUT, "expected an entry: its seq number or its key");
		return 0;
	}
	if (r->reason == NULL || r->reason[0] == '\0') {
		pv_refuse(pv, ACTION_REFUSED_INPUT, "a reason is required (--reason TEXT)");
		return 0;
	}
	if ((rc = entry_get(env->s, r->entry, &rp->en, e)) < 0)
		return -1;
	if (rc == 0) {
		pv_refuse(pv, ACTION_REFUSED_STATE, "no ledger entry %s in the mirror", r->entry);
		return 0;
	}
	snprintf(pv->target, sizeof pv->target, "%s", rp->en.key);
	snprintf(pv->customer, sizeof pv->customer, "%s", rp->en.customer);
	snprintf(rp->rkey, sizeof rp->rkey, "reverse:%s", rp->en.key);
	snprintf(pv->idem_key, sizeof pv->idem_key, "%s", rp->rkey);
	if (strcmp(rp->en.kind, "reverse") == 0) {
		pv_refuse(pv, ACTION_REFUSED_STATE, "entry %" PRId64 " (%s) is itself a reversal and "
		    "is not reversed; adjust instead", rp->en.seq, rp->en.key);
		return 0;
	}
	if (strcmp(rp->en.kind, "expire") == 0) {
		pv_refuse(pv, ACTION_REFUSED_STATE, "entry %" PRId64 " (%s) is an expiry, which the "
		    "ledger settles itself from the entries; adjust instead", rp->en.seq, rp->en.key);
		return 0;
	}
	if ((rc = entry_get(env->s, rp->rkey, &prior, e)) < 0)
		return -1;
	if (rc) {
		pv_refuse(pv, ACTION_REFUSED_STATE, "entry %" PRId64 " (%s) was already reversed by "
		    "entry %" PRId64 " (by %s: %s); an entry is reversed once", rp->en.seq, rp->en.key,
		    prior.seq, prior.actor, prior.reason[0] ? prior.reason : "-");
		return 0;
	}
	if (customer_known(env->s, rp->en.customer, cur, sizeof cur, e) < 0 ||
	    ledger_balance(env->s, rp->en.customer, &pv->balance_before, e) != 0)
		return -1;
	pv->has_balance = 1;
	if ((rp->en.amount < 0 && pv->balance_before > INT64_MAX + rp->en.amount) ||
	    rp->en.amount == INT64_MIN ||
	    (rp->en.amount > 0 && pv->balance_before < INT64_MIN + rp->en.amount)) {
		pv_refuse(pv, ACTION_REFUSED_INPUT, "the balance of %s would overflow",
		    rp->en.customer);
		return 0;
	}
	pv->balance_after = pv->balance_before - rp->en.amount;
	snprintf(pv->summary, sizeof pv->summary, "reverse entry %" PRId64 " (%s %+" PRId64
	    " %s for %s)", rp->en.seq, rp->en.kind, rp->en.amount, pv->unit, rp->en.customer);
	pv->nrows = 1;
	snprintf(pv->rows[0].key, sizeof pv->rows[0].key, "%s", rp->rkey);
	snprintf(pv->rows[0].kind, sizeof pv->rows[0].kind, "reverse");
	snprintf(pv->rows[0].customer, sizeof pv->rows[0].customer, "%s", rp->en.customer);
	snprintf(pv->rows[0].ref, sizeof pv->rows[0].ref, "%s", rp->en.key);
	pv->rows[0].amount = -rp->en.amount;
	if (strcmp(rp->en.kind, "adjust") == 0) {
		struct push_state ps;

		if (push_state_read(env->s, rp->en.key, &ps, e) != 0)
			return -1;
		if (ps.mode != ACTION_PUSH_NONE)
			pv_note(pv, "%s was pushed to Stripe (%s, %s); this reversal is not: adjust with "
			    "--push to change Stripe's side", rp->en.key, action_push_name(ps.mode),
			    ps.state);
	} else {
		pv_note(pv, "the key %s stays taken: a late or replayed event cannot write it "
		    "again", rp->en.key);
	}
	confirm_rule(env, pv, 1, -rp->en.amount, rp->en.customer);
	return 0;
}

int
actions_reverse_preview(const struct action_env *env, const struct action_reverse *r,
                        struct action_preview *pv, struct err *e)
{
	struct reverse_plan rp;

	return reverse_plan(env, r, pv, &rp, e);
}

int
actions_reverse_apply(const struct action_env *env, const struct action_reverse *r,
                      struct action_outcome *out, struct err *e)
{
	struct action_preview pv;
	struct reverse_plan rp;
	struct entry got;
	char *before = NULL, *after = NULL, detail[700];
	int appended = 0, rc = -1;
	int64_t now = tally_now();

	out_init(out);
	if (refuse_read_only(env, ACTION_REVERSE, out))
		return 0;
	if (store_begin(env->s, e) != 0)
		return -1;
	if (reverse_plan(env, r, &pv, &rp, e) != 0)
		goto rollback;
	if (pv.refused) {
		if (record_refusal(env, &pv, r->reason, out, e) != 0)
			goto rollback;
		goto commit;
	}
	if (ledger_reverse(env->s, rp.en.key, env->cfg->operator_name, r->reason, now, &appended,
	    e) != LEDGER_APPENDED)
		goto rollback;
	out->entries = appended;
	out->has_balance = 1;
	out->balance_before = pv.balance_before;
	if (ledger_balance(env->s, rp.en.customer, &out->balance_after, e) != 0 ||
	    entry_get(env->s, rp.rkey, &got, e) < 0)
		goto rollback;
	out->entry_seq = got.seq;
	snprintf(out->entry_key, sizeof out->entry_key, "%s", rp.rkey);
	before = jtext(json_pack("{s:I, s:{s:I, s:s, s:s, s:I}}", "balance",
	    (json_int_t)out->balance_before, "entry", "seq", (json_int_t)rp.en.seq, "key", rp.en.key,
	    "kind", rp.en.kind, "amount", (json_int_t)rp.en.amount));
	after = jtext(json_pack("{s:I, s:{s:I, s:s, s:I, s:s}}", "balance",
	    (json_int_t)out->balance_after, "entry", "seq", (json_int_t)got.seq, "key", rp.rkey,
	    "amount", (json_int_t)-rp.en.amount, "ref", rp.en.key));
	snprintf(detail, sizeof detail, "reversed entry %" PRId64 " (%+" PRId64 "): balance %" PRId64
	    " -> %" PRId64, rp.en.seq, rp.en.amount, out->balance_before, out->balance_after);
	if (audit_row(env, ACTION_REVERSE, rp.en.key, r->reason, rp.rkey, before, after, ACTION_OK,
	    NULL, detail, &out->audit_id, e) != 0)
		goto rollback;
	out->result = ACTION_OK;
	out_msg(out, "reversed entry %" PRId64 " (%s) for %s: %+" PRId64 " %s, balance %" PRId64
	    " -> %" PRId64 " (entry %" PRId64 ", %s)", rp.en.seq, rp.en.key, rp.en.customer,
	    -rp.en.amount, pv.unit, out->balance_before, out->balance_after, got.seq, rp.rkey);
commit:
	if (store_commit(env->s, e) == 0)
		rc = 0;
	goto out;
rollback:
	store_rollback(env->s);
out:
	free(before);
	free(after);
	action_preview_done(&pv);
	return rc;
}

/* --- resync --------------------------------------------------------------- */

int
actions_resync_preview(const struct action_env *env, const struct action_resync *r,
                       struct action_preview *pv, struct err *e)
{
	static const struct {
		const char *path, *extra;
	} reqs[] = {
		{ "/v1/subscriptions", "&status=all" },
		{ "/v1/invoices", "&expand[]=data.payments" },
		{ "/v1/checkout/sessions", "" },
		{ "/v1/charges", "" },
		{ "/v1/billing/credit_grants", "" },
	};
	size_t i;

	(void)e;
	pv_init(pv, env, ACTION_RESYNC);
	snprintf(pv->target, sizeof pv->target, "%s", nz(r->customer));
	snprintf(pv->customer, sizeof pv->customer, "%s", nz(r->customer));
	if (!word_ok(r->customer, 255)) {
		pv_refuse(pv, ACTION_REFUSED_INPUT, "expected a customer id (printable, no spaces)");
		return 0;
	}
	if (!have_key(env)) {
		pv_refuse(pv, ACTION_REFUSED_INPUT, "resync fetches from Stripe and needs the API key "
		    "(STRIPE_API_KEY or stripe_api_key)");
		return 0;
	}
	snprintf(pv->summary, sizeof pv->summary, "fetch %s and its objects from Stripe now and "
	    "apply them (nothing is written to Stripe)", r->customer);
	/* A label for the audit row, as drift repairs write it: applying is
	 * idempotent by version and ledger key, so no request needs a key. */
	snprintf(pv->idem_key, sizeof pv->idem_key, "resync:%s", r->customer);
	pv_note(pv, "GET /v1/customers/%s", r->customer);
	for (i = 0; i < sizeof reqs / sizeof reqs[0]; i++)
		pv_note(pv, "GET %s?customer=%s%s", reqs[i].path, r->customer, reqs[i].extra);
	pv_note(pv, "then the refunds and disputes of its charges that have some, its active "
	    "entitlements and its credit balance; all pages (limit=100)");
	pv->confirm = ACTION_CONFIRM_NONE;
	return 0;
}

/* Access to every catalog feature, into slot `after` of the report. */
static int
access_all(const struct action_env *env, const char *customer, struct action_resync_report *rep,
           int after, struct err *e)
{
	const struct catalog *cat = env->cat;
	struct access_answer *ans = xmalloc(sizeof *ans);
	const char *f;
	size_t i, j;
	int k, rc = 0;

	for (i = 0; cat != NULL && i < cat->nplans + cat->nmeters; i++) {
		size_t nf = i < cat->nplans ? cat->plans[i].nfeatures : 1;

		for (j = 0; j < nf; j++) {
			f = i < cat->nplans ? cat->plans[i].features[j] : cat->meters[i - cat->nplans].feature;
			for (k = 0; k < rep->nfeatures; k++)
				if (strcmp(rep->features[k].feature, f) == 0)
					break;
			if (k == rep->nfeatures) {
				if (rep->nfeatures >= ACTION_MAX_FEATURES)
					continue;
				rep->nfeatures++;
				snprintf(rep->features[k].feature, sizeof rep->features[k].feature, "%s", f);
			}
			if (access_check(env->s, cat, customer, f, tally_now(), env->cfg->stale_after,
			    ans, e) != 0) {
				rc = -1;
				goto out;
			}
			if (after) {
				rep->features[k].after = ans->allow;
				snprintf(rep->features[k].reason_after, sizeof rep->features[k].reason_after,
				    "%s", ans->reason);
			} else {
				rep->features[k].before = ans->allow;
				snprintf(rep->features[k].reason_before,
				    sizeof rep->features[k].reason_before, "%s", ans->reason);
			}
		}
	}
out:
	free(ans);
	return rc;
}

/* The entries after seq `from` for this customer, into the report. */
static int
entries_since(const struct action_env *env, const char *customer, int64_t from,
              struct action_resync_report *rep, struct err *e)
{
	sqlite3_stmt *st = store_stmt(env->s,
	    "SELECT key, kind, amount, COALESCE(ref, '') FROM ledger WHERE seq > ? AND customer = ? "
	    "ORDER BY seq", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_int(st, 1, from);
	bind_text(st, 2, customer);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (rep->nentries < ACTION_MAX_ENTRIES) {
			struct action_row *row = &rep->entries[rep->nentries];

			snprintf(row->key, sizeof row->key, "%s", col_text(st, 0));
			snprintf(row->kind, sizeof row->kind, "%s", col_text(st, 1));
			snprintf(row->customer, sizeof row->customer, "%s", customer);
			row->amount = sqlite3_column_int64(st, 2);
			snprintf(row->ref, sizeof row->ref, "%s", col_text(st, 3));
		}
		rep->nentries++;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_err(env->s, e, "reading the ledger");
}

static json_t *
report_json(const struct action_outcome *out)
{
	const struct action_resync_report *rep = &out->resync;
	json_t *access = json_object(), *entries = json_array();
	int i;

	for (i = 0; i < rep->nfeatures; i++)
		json_object_set_new(access, rep->features[i].feature, json_pack("{s:s, s:s}",
		    "before", rep->features[i].before ? "allow" : "deny",
		    "after", rep->features[i].after ? "allow" : "deny"));
	for (i = 0; i < rep->nentries && i < ACTION_MAX_ENTRIES; i++)
		json_array_append_new(entries, json_pack("{s:s, s:s, s:I}", "key", rep->entries[i].key,
		    "kind", rep->entries[i].kind, "amount", (json_int_t)rep->entries[i].amount));
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:i, s:o, s:I, s:o}",
	    "objects", (json_int_t)rep->counts.objects, "written", (json_int_t)rep->counts.changed,
	    "unchanged", (json_int_t)rep->counts.unchanged,
	    "conflicts", (json_int_t)rep->counts.conflicts,
	    "quarantined", (json_int_t)rep->counts.quarantined,
	    "ledger_entries", rep->nentries, "entries", entries,
	    "balance", (json_int_t)out->balance_after, "access", access);
}

int
actions_resync_run(const struct action_env *env, const struct action_resync *r,
                   struct action_outcome *out, struct err *e)
{
	struct action_resync_report *rep = &out->resync;
	struct action_preview pv;
	struct sync_opts so;
	struct sync *y = NULL;
	struct sync_fetched *f = NULL;
	struct drift *d = NULL;
	struct drift_report dr;
	int64_t seq0 = 0;
	char *before = NULL, *after = NULL, detail[1100], changes[600] = "";
	size_t n = 0;
	int i, rc = -1;

	out_init(out);
	drift_report_init(&dr);
	if (!r->dry_run && refuse_read_only(env, ACTION_RESYNC, out))
		return 0;
	if (actions_resync_preview(env, r, &pv, e) != 0)
		return -1;
	if (pv.refused) {
		out->result = ACTION_REFUSED;
		out->refused = pv.refused;
		out_msg(out, "%s", pv.why);
		if (!r->dry_run && audit_alone(env, ACTION_RESYNC, pv.target[0] ? pv.target : "-",
		    r->reason, NULL, NULL, NULL, ACTION_REFUSED, NULL, pv.why, &out->audit_id, e) != 0)
			goto out;
		rc = 0;
		goto out;
	}
	memset(&so, 0, sizeof so);
	so.cfg = env->cfg;
	so.cat = env->cat;
	so.stop = env->stop;
	if (sync_open(env->s, &so, &y, e) != 0)
		goto out;
	if (sync_customer_fetch(y, r->customer, &f, e) != 0) {
		char why[sizeof e->msg];

		snprintf(why, sizeof why, "%s", e->msg);
		out->result = ACTION_FAILED;
		out_msg(out, "resync %s failed: %s", r->customer, why);
		snprintf(out->request_id, sizeof out->request_id, "%s", sync_last_request_id(y));
		if (!r->dry_run && audit_alone(env, ACTION_RESYNC, r->customer, r->reason,
		    pv.idem_key, NULL, NULL, ACTION_FAILED, out->request_id, why, &out->audit_id,
		    e) != 0)
			goto out;
		rc = 0;
		goto out;
	}
	snprintf(out->request_id, sizeof out->request_id, "%s", sync_last_request_id(y));
	if (drift_open(env->s, env->cat, env->cfg, &d, e) != 0)
		goto out;

	if (store_begin(env->s, e) != 0)
		goto out;
	out->has_balance = 1;
	if (ledger_balance(env->s, r->customer, &out->balance_before, e) != 0 ||
	    max_seq(env->s, &seq0, e) != 0 || access_all(env, r->customer, rep, 0, e) != 0)
		goto rollback;
	if (sync_customer_apply(y, f, &rep->counts, e) != 0)
		goto rollback;
	if (ledger_balance(env->s, r->customer, &out->balance_after, e) != 0 ||
	    entries_since(env, r->customer, seq0, rep, e) != 0 ||
	    access_all(env, r->customer, rep, 1, e) != 0)
		goto rollback;
	/* Its alerts, re-evaluated against what was just applied. */
	if (drift_check_customer(d, r->customer, tally_now(), r->dry_run ? DRIFT_DRY : 0, &dr,
	    e) != 0)
		goto rollback;
	rep->drift_checked = 1;
	rep->nalerts = (int)dr.n;
	for (i = 0; i < (int)dr.n && i < 8; i++)
		snprintf(rep->alerts[i], sizeof rep->alerts[i], "%s %s %s: %s",
		    dr.v[i].kind == DRIFT_OPENED ? "opened" : dr.v[i].kind == DRIFT_REOPENED ?
		    "reopened" : "resolved", dr.v[i].rule, dr.v[i].subject, nz(dr.v[i].summary));
	out->entries = rep->nentries;
	for (i = 0; i < rep->nfeatures && n < sizeof changes - 80; i++)
		if (rep->features[i].before != rep->features[i].after)
			n += (size_t)snprintf(changes + n, sizeof changes - n, "%s%s %s -> %s",
			    n ? ", " : "", rep->features[i].feature,
			    rep->features[i].before ? "allow" : "deny",
			    rep->features[i].after ? "allow" : "deny");
	snprintf(detail, sizeof detail, "%" PRId64 " objects fetched, %" PRId64 " written, %" PRId64
	    " unchanged%s; %d ledger entries; balance %" PRId64 " -> %" PRId64 "; access %s; "
	    "%d alert changes",
	    rep->counts.objects, rep->counts.changed, rep->counts.unchanged,
	    rep->counts.conflicts ? " (some conflicts marked for refetch)" : "", rep->nentries,
	    out->balance_before, out->balance_after, changes[0] ? changes : "unchanged",
	    rep->nalerts);
	out->result = ACTION_OK;
	if (r->dry_run) {
		store_rollback(env->s);
		out_msg(out, "dry run: resync %s would apply: %s (nothing was written)", r->customer,
		    detail);
		rc = 0;
		goto out;
	}
	{
		json_t *b = json_object(), *acc = json_object();

		for (i = 0; i < rep->nfeatures; i++)
			json_object_set_new(acc, rep->features[i].feature,
			    json_string(rep->features[i].before ? "allow" : "deny"));
		json_object_set_new(b, "balance", json_integer((json_int_t)out->balance_before));
		json_object_set_new(b, "access", acc);
		before = jtext(b);
		after = jtext(report_json(out));
	}
	if (audit_row(env, ACTION_RESYNC, r->customer, r->reason, pv.idem_key, before, after, ACTION_OK,
	    out->request_id, detail, &out->audit_id, e) != 0)
		goto rollback;
	if (store_commit(env->s, e) != 0)
		goto out;
	out_msg(out, "resync %s: %s", r->customer, detail);
	rc = 0;
	goto out;
rollback:
	store_rollback(env->s);
out:
	free(before);
	free(after);
	drift_report_done(&dr);
	drift_close(d);
	sync_fetched_free(f);
	sync_close(y);
	action_preview_done(&pv);
	return rc;
}

/* --- a drift repair that resyncs ----------------------------------------- */

struct repair_fetched {
	struct sync *y;
	struct sync_fetched *f;
	struct sync_customer_counts n;
};

static int
repair_apply(void *arg, struct err *e)
{
	struct repair_fetched *rf = arg;

	memset(&rf->n, 0, sizeof rf->n);
	return sync_customer_apply(rf->y, rf->f, &rf->n, e);
}

int
actions_repair_resync(const struct action_env *env, struct drift *d, const struct drift_alert *a,
                      const char *reason, int flags, struct drift_repair *r,
                      struct sync_customer_counts *n, struct err *e)
{
	struct repair_fetched rf;
	struct sync_opts o;
	struct err fe;
	int rc;

	memset(&rf, 0, sizeof rf);
	memset(&o, 0, sizeof o);
	o.cfg = env->cfg;
	o.cat = env->cat;
	o.stop = env->stop;
	if (sync_open(env->s, &o, &rf.y, e) != 0)
		return -1;
	if (sync_customer_fetch(rf.y, a->customer, &rf.f, &fe) != 0) {
		rc = 0;
		if (!(flags & DRIFT_DRY))
			rc = drift_repair_resynced(d, a->id, env->cfg->operator_name, reason, NULL, NULL,
			    fe.msg, tally_now(), flags, r, e);
		if (rc == 0)
			rc = err_set(e, "the resync of %s failed: %s", a->customer, fe.msg);
	} else {
		rc = drift_repair_resynced(d, a->id, env->cfg->operator_name, reason, repair_apply, &rf,
		    NULL, tally_now(), flags, r, e);
	}
	sync_fetched_free(rf.f);
	sync_close(rf.y);
	if (n != NULL)
		*n = rf.n;
	return rc;
}

/* --- replay: the webhook POST --------------------------------------------- */

static pthread_once_t hook_once = PTHREAD_ONCE_INIT;
static CURLcode hook_init_rc;

static void
hook_init(void)
{
	/* Reference-counted by libcurl: harmless beside stripe-api.c's. */
	hook_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct hook_answer {
	char head[HOOK_ANSWER_KEEP + 1];
	size_t n, total;
	const atomic_int *stop;
};

static size_t
hook_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct hook_answer *a = arg;
	size_t len = size * nmemb, take;

	if (a->n < HOOK_ANSWER_KEEP) {
		take = HOOK_ANSWER_KEEP - a->n < len ? HOOK_ANSWER_KEEP - a->n : len;
		memcpy(a->head + a->n, p, take);
		a->n += take;
		a->head[a->n] = '\0';
	}
	a->total += len;
	return a->total > HOOK_ANSWER_MAX ? 0 : len;
}

static int
hook_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct hook_answer *a = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return a->stop != NULL && atomic_load(a->stop);
}

/* POST a webhook body to url with a Stripe-Signature, as Stripe delivers:
 * one attempt, no redirects followed.  0 when an HTTP answer came (any
 * status; *status set), -1 on a network error (message in err). */
static int
hook_post(const char *url, const char *signature, const char *body, size_t len,
          const atomic_int *stop, long *status, int64_t *latency_ms, char *answer,
          size_t answersz, char *errmsg, size_t errsz)
{
	struct curl_slist *h = NULL, *h2;
	struct hook_answer a;
	char sighdr[256], errbuf[CURL_ERROR_SIZE] = "";
	CURL *c;
	CURLcode cc;
	int64_t t0;
	int rc = -1;

	*status = 0;
	*latency_ms = 0;
	answer[0] = '\0';
	memset(&a, 0, sizeof a);
	a.stop = stop;
	pthread_once(&hook_once, hook_init);
	if (hook_init_rc != CURLE_OK) {
		snprintf(errmsg, errsz, "curl_global_init: %s", curl_easy_strerror(hook_init_rc));
		return -1;
	}
	if ((c = curl_easy_init()) == NULL) {
		snprintf(errmsg, errsz, "curl_easy_init failed");
		return -1;
	}
	snprintf(sighdr, sizeof sighdr, "Stripe-Signature: %s", signature);
	h2 = curl_slist_append(h, "Content-Type: application/json; charset=utf-8");
	if (h2 != NULL)
		h = h2;
	if ((h2 = curl_slist_append(h, sighdr)) != NULL)
		h = h2;
	if ((h2 = curl_slist_append(h, "Expect:")) != NULL)
		h = h2;
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
#else
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK ||
#endif
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT,
	        "tally/" PACKAGE_VERSION " (webhook replay)") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hook_body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, hook_progress) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &a) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK) {
		snprintf(errmsg, errsz, "cannot set up the request to %s (a bad URL?)", url);
		goto out;
	}
	t0 = mono_ms();
	cc = curl_easy_perform(c);
	*latency_ms = mono_ms() - t0;
	if (cc == CURLE_WRITE_ERROR && a.total > HOOK_ANSWER_MAX)
		cc = CURLE_OK;          /* an answer too long to keep: its status still counts */
	if (cc != CURLE_OK) {
		snprintf(errmsg, errsz, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
		if (cc == CURLE_ABORTED_BY_CALLBACK)
			snprintf(errmsg, errsz, "stopped");
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	text_clean(a.head, a.n, answer, answersz);
	rc = 0;
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}

/* --- replay --------------------------------------------------------------- */

struct replay_plan {
	char event[256], type[128], state[32];
	int64_t delivery;               /* the delivery named, 0 when an event was */
	char url[1280];                 /* where it goes (or Stripe's retry URL) */
	char endpoint[300];             /* what the delivery row records */
	char dkey[320];
	int n;                          /* this is replay number n of the event */
	char *body;                     /* the stored raw body */
	size_t bodylen;
	int64_t deliveries;
	int api_body;                   /* the body came from /v1/events, not a delivery */
};

static void
replay_plan_done(struct replay_plan *rp)
{
	free(rp->body);
	rp->body = NULL;
}

/* The replay number for the next delivery row of the event. */
static int
replay_next(struct store *s, const char *event, int *n, struct err *e)
{
	char lo[300], hi[300];
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT count(*) FROM deliveries WHERE dkey > ? AND dkey < ?", e);
	int rc;

	if (st == NULL)
		return -1;
	snprintf(lo, sizeof lo, "replay:%s:", event);
	snprintf(hi, sizeof hi, "replay:%s;", event);
	bind_text(st, 1, lo);
	bind_text(st, 2, hi);
	rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) + 1 : 1;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_err(s, e, "reading deliveries");
}

static int
url_ok(const char *u)
{
	return (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) &&
	       word_ok(u, 1200);
}

static int
replay_plan(const struct action_env *env, const struct action_replay *r, struct action_preview *pv,
            struct replay_plan *rp, int64_t sign_at, struct err *e)
{
	sqlite3_stmt *st;
	const char *to;
	char sig[200];
	int64_t id;
	int rc;

	memset(rp, 0, sizeof *rp);
	pv_init(pv, env, ACTION_REPLAY);
	snprintf(pv->target, sizeof pv->target, "%s", nz(r->target));
	if (!word_ok(r->target, 255)) {
		pv_refuse(pv, ACTION_REFUSED_INPUT, "expected a delivery id or an event id");
		return 0;
	}
	if (parse_int64(r->target, &id) == 0 && id > 0) {
		st = store_stmt(env->s, "SELECT COALESCE(d.event_id, ''), d.sig_state, "
		    "COALESCE(d.endpoint, ''), e.id IS NOT NULL FROM deliveries AS d "
		    "LEFT JOIN events AS e ON e.id = d.event_id WHERE d.id = ?", e);
		if (st == NULL)
			return -1;
		bind_int(st, 1, id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			snprintf(rp->event, sizeof rp->event, "%s", col_text(st, 0));
			snprintf(rp->state, sizeof rp->state, "%s", col_text(st, 1));
			snprintf(rp->endpoint, sizeof rp->endpoint, "%s", col_text(st, 2));
			rp->api_body = !sqlite3_column_int(st, 3);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return store_err(env->s, e, "reading deliveries");
		if (rc == SQLITE_DONE) {
			pv_refuse(pv, ACTION_REFUSED_STATE, "no delivery %" PRId64 " in the mirror", id);
			return 0;
		}
		rp->delivery = id;
		if (rp->event[0] == '\0' || rp->api_body) {
			pv_refuse(pv, ACTION_REFUSED_STATE, "delivery %" PRId64 " has no stored event "
			    "(%s); only a stored event is replayed, from the body first received",
			    id, strcmp(rp->state, "invalid") == 0 ? "its signature did not verify, so "
			    "its body may not come from Stripe" : "its body was not a Stripe event");
			return 0;
		}
		rp->api_body = 0;
	} else {
		snprintf(rp->event, sizeof rp->event, "%s", r->target);
	}
	st = store_stmt(env->s, "SELECT type, state, body, delivery_count, "
	    "(SELECT count(*) FROM deliveries WHERE event_id = events.id) FROM events WHERE id = ?",
	    e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, rp->event);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(st, 2);
		int blen = sqlite3_column_bytes(st, 2);

		snprintf(rp->type, sizeof rp->type, "%s", col_text(st, 0));
		snprintf(rp->state, sizeof rp->state, "%s", col_text(st, 1));
		rp->bodylen = (size_t)blen;
		rp->body = xmalloc(rp->bodylen + 1);
		if (blen > 0)
			memcpy(rp->body, b, rp->bodylen);
		rp->body[rp->bodylen] = '\0';
		rp->deliveries = sqlite3_column_int64(st, 4);
		rp->api_body = rp->deliveries == 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(env->s, e, "reading events");
	snprintf(pv->target, sizeof pv->target, "%s", rp->event);
	if (rc == SQLITE_DONE) {
		pv_refuse(pv, ACTION_REFUSED_STATE, "no event %s in the mirror", rp->event);
		return 0;
	}
	if (replay_next(env->s, rp->event, &rp->n, e) != 0)
		return -1;
	snprintf(rp->dkey, sizeof rp->dkey, "replay:%s:%d", rp->event, rp->n);
	snprintf(pv->idem_key, sizeof pv->idem_key, "%s", rp->dkey);
	snprintf(pv->state, sizeof pv->state, "no change to tally's billing state: event %s (%s) is "
	    "stored (state %s) and a delivery of it is a duplicate by id; one delivery row is "
	    "added (%s)", rp->event, rp->type, rp->state, rp->dkey);

	if (r->via_stripe) {
		char url[1300], body[400];

		if (r->to_url != NULL) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "--to and --via-stripe exclude each other");
			return 0;
		}
		if (!have_key(env)) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "--via-stripe asks Stripe and needs the API "
			    "key (STRIPE_API_KEY or stripe_api_key)");
			return 0;
		}
		if (env->cfg->webhook_endpoint_id == NULL) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "--via-stripe needs the endpoint Stripe "
			    "resends to: set webhook_endpoint_id = we_... in the configuration");
			return 0;
		}
		if (strlen(rp->dkey) > 255) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "the event id is too long for an "
			    "Idempotency-Key");
			return 0;
		}
		snprintf(url, sizeof url, "%s/v1/events/%s/retry", env->cfg->api_base, rp->event);
		snprintf(rp->url, sizeof rp->url, "%s", url);
		snprintf(rp->endpoint, sizeof rp->endpoint, "stripe:%s", env->cfg->webhook_endpoint_id);
		{
			struct api_params p = { 0 };
			char *enc;

			api_params_add(&p, "webhook_endpoint", env->cfg->webhook_endpoint_id);
			enc = api_params_encode(&p);
			api_params_free(&p);
			snprintf(body, sizeof body, "%s", enc);
			free(enc);
		}
		http_set(pv, "POST", url, rp->dkey, "application/x-www-form-urlencoded", body,
		    strlen(body));
		snprintf(pv->summary, sizeof pv->summary, "ask Stripe to resend event %s (%s) to %s",
		    rp->event, rp->type, env->cfg->webhook_endpoint_id);
		pv_note(pv, "Stripe delivers it to the endpoint with its own signature; that delivery "
		    "reaches tally through the webhook log like any other");
	} else {
		to = r->to_url != NULL ? r->to_url : env->cfg->webhook_endpoint_url;
		if (to == NULL) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "no endpoint to deliver to: set "
			    "webhook_endpoint_url (or, on the command line, pass --to URL)%s%s%s",
			    rp->endpoint[0] ? " (the delivery was made to " : "", rp->endpoint,
			    rp->endpoint[0] ? ")" : "");
			return 0;
		}
		if (!url_ok(to)) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "--to: expected an http:// or https:// URL");
			return 0;
		}
		if (env->cfg->webhook_secrets.n == 0) {
			pv_refuse(pv, ACTION_REFUSED_INPUT, "no webhook secret to sign with: set "
			    "STRIPE_WEBHOOK_SECRET or webhook_secret (the endpoint's whsec_...)");
			return 0;
		}
		snprintf(rp->url, sizeof rp->url, "%s", to);
		snprintf(rp->endpoint, sizeof rp->endpoint, "%s", to);
		if (sig_sign(env->cfg->webhook_secrets.v[0], sign_at, rp->body, rp->bodylen, sig,
		    sizeof sig) != 0)
			return err_set(e, "replay %s: cannot sign the body", rp->event);
		http_set(pv, "POST", to, NULL, "application/json; charset=utf-8", rp->body,
		    rp->bodylen);
		snprintf(pv->http.signature, sizeof pv->http.signature, "%s", sig);
		snprintf(pv->summary, sizeof pv->summary, "re-deliver event %s (%s) to %s", rp->event,
		    rp->type, to);
		pv_note(pv, "the body is the %d bytes first received%s; the signature is made when it "
		    "is sent (t = that time) with the first configured webhook secret",
		    (int)rp->bodylen, rp->api_body ? " (from GET /v1/events: Stripe's rendering, "
		    "not a delivery's bytes)" : "");
	}
	confirm_rule(env, pv, 0, 0, rp->event);
	return 0;
}

int
actions_replay_preview(const struct action_env *env, const struct action_replay *r,
                       struct action_preview *pv, struct err *e)
{
	struct replay_plan rp;
	int rc = replay_plan(env, r, pv, &rp, tally_now(), e);

	replay_plan_done(&rp);
	return rc;
}

int
actions_replay_apply(const struct action_env *env, const struct action_replay *r,
                     struct action_outcome *out, struct err *e)
{
	struct action_preview pv;
	struct replay_plan rp;
	struct apply_ctx ac;
	struct delivery d;
	char errmsg[800] = "", detail[1200], *before = NULL, *after = NULL;
	long status = 0;
	int64_t latency = 0, sent_at = tally_now();
	int inserted = 0, tries, rc = -1, got_answer = 0;

	out_init(out);
	memset(&pv, 0, sizeof pv);
	if (refuse_read_only(env, ACTION_REPLAY, out))
		return 0;
	if (replay_plan(env, r, &pv, &rp, sent_at, e) != 0)
		goto out;
	if (pv.refused) {
		if (store_begin(env->s, e) != 0)
			goto out;
		if (record_refusal(env, &pv, r->reason, out, e) != 0) {
			store_rollback(env->s);
			goto out;
		}
		rc = store_commit(env->s, e);
		goto out;
	}

	/* Send, outside any transaction. */
	if (r->via_stripe) {
		struct api_client *api = NULL;
		struct api_params p = { 0 };
		struct api_error ae;
		json_t *ans = NULL;
		char path[400];
		int64_t t0 = mono_ms();

		memset(&ae, 0, sizeof ae);
		if (api_client_open(env, &api, e) != 0) {
			snprintf(errmsg, sizeof errmsg, "%s", e->msg);
		} else {
			api_params_add(&p, "webhook_endpoint", env->cfg->webhook_endpoint_id);
			snprintf(path, sizeof path, "/v1/events/%s/retry", rp.event);
			if (api_post(api, path, &p, rp.dkey, &ans, &ae) == 0) {
				char *txt = json_dumps(ans, JSON_COMPACT);

				got_answer = 1;
				text_clean(nz(txt), strlen(nz(txt)), out->response, sizeof out->response);
				free(txt);
			} else {
				api_error_format(&ae, errmsg, sizeof errmsg);
				got_answer = ae.status != 0;
				text_clean(errmsg, strlen(errmsg), out->response, sizeof out->response);
			}
			status = ae.status;
			snprintf(out->request_id, sizeof out->request_id, "%s", ae.request_id);
			api_params_free(&p);
			json_decref(ans);
		}
		api_close(api);
		latency = mono_ms() - t0;
	} else {
		got_answer = hook_post(rp.url, pv.http.signature, rp.body, rp.bodylen, env->stop,
		    &status, &latency, out->response, sizeof out->response, errmsg,
		    sizeof errmsg) == 0;
	}
	out->http_status = status;
	out->latency_ms = latency;
	out->result = got_answer && status >= 200 && status < 300 ? ACTION_OK : ACTION_FAILED;
	if (out->result != ACTION_OK && errmsg[0] == '\0')
		snprintf(errmsg, sizeof errmsg, "HTTP %ld", status);

	/* Record the attempt as a delivery, and audit it. */
	if (store_begin(env->s, e) != 0)
		goto out;
	memset(&ac, 0, sizeof ac);
	ac.s = env->s;
	ac.cat = env->cat;
	ac.now = tally_now();
	for (tries = 0; tries < 1000; tries++) {
		memset(&d, 0, sizeof d);
		d.event_id = rp.event;
		d.received_at = sent_at;
		d.endpoint = rp.endpoint;
		d.attempt = rp.n;
		d.status = out->result == ACTION_OK ? "ok" : "failed";
		d.http_status = status;
		d.error = out->result == ACTION_OK ? NULL : errmsg;
		d.sig_state = r->via_stripe ? "unsigned" : "valid";
		d.dkey = rp.dkey;
		d.source = r->via_stripe ? "tally replay --via-stripe" : "tally replay";
		d.latency_ms = latency;
		d.response = got_answer ? out->response : NULL;
		if (apply_delivery(&ac, &d, &inserted, e) != 0)
			goto rollback;
		if (inserted)
			break;
		/* Another replay took the number meanwhile: the next one. */
		rp.n++;
		snprintf(rp.dkey, sizeof rp.dkey, "replay:%s:%d", rp.event, rp.n);
	}
	out->delivery_id = sqlite3_last_insert_rowid(store_db(env->s));
	snprintf(out->dkey, sizeof out->dkey, "%s", rp.dkey);
	before = jtext(json_pack("{s:s, s:s, s:I}", "event", rp.event, "type", rp.type,
	    "deliveries", (json_int_t)rp.deliveries));
	after = jtext(json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:s?}",
	    "delivery", (json_int_t)out->delivery_id, "dkey", rp.dkey, "endpoint", rp.endpoint,
	    "status", out->result == ACTION_OK ? "ok" : "failed", "http_status", (json_int_t)status,
	    "latency_ms", (json_int_t)latency, "response", out->response,
	    "error", out->result == ACTION_OK ? NULL : errmsg));
	if (got_answer)
		snprintf(detail, sizeof detail, "%s %s: HTTP %ld in %" PRId64 " ms",
		    r->via_stripe ? "asked Stripe to resend to" : "re-delivered to", rp.endpoint,
		    status, latency);
	else
		snprintf(detail, sizeof detail, "%s %s: no answer after %" PRId64 " ms",
		    r->via_stripe ? "asked Stripe to resend to" : "re-delivered to", rp.endpoint,
		    latency);
	if (audit_row(env, ACTION_REPLAY, rp.event, r->reason, rp.dkey, before, after, out->result,
	    out->request_id, detail, &out->audit_id, e) != 0)
		goto rollback;
	if (store_commit(env->s, e) != 0)
		goto out;
	if (out->result == ACTION_OK)
		out_msg(out, "replay %s (%s): %s; recorded as delivery %" PRId64 " (%s)", rp.event,
		    rp.type, detail, out->delivery_id, rp.dkey);
	else
		out_msg(out, "replay %s (%s) FAILED: %s (%s); recorded as delivery %" PRId64 " (%s)",
		    rp.event, rp.type, detail, errmsg, out->delivery_id, rp.dkey);
	rc = 0;
	goto out;
rollback:
	store_rollback(env->s);
out:
	free(before);
	free(after);
	replay_plan_done(&rp);
	action_preview_done(&pv);
	return rc;
}

void
actions_ids_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int
actions_replay_bulk_preview(const struct action_env *env, const struct action_replay_filter *f,
                            const struct action_replay *tmpl, struct action_preview *pv,
                            char ***ids, size_t *nids, struct err *e)
{
	sqlite3_stmt *st = store_stmt(env->s,
	    "SELECT e.id FROM events AS e WHERE EXISTS (SELECT 1 FROM deliveries AS d "
	    " WHERE d.event_id = e.id AND d.status = 'failed' AND (?1 = 0 OR d.received_at >= ?1)) "
	    "AND NOT EXISTS (SELECT 1 FROM deliveries AS d WHERE d.event_id = e.id "
	    " AND d.status = 'ok' AND d.sig_state <> 'invalid') "
	    "AND (?2 IS NULL OR e.type = ?2 OR (substr(?2, -1) = '*' "
	    " AND substr(e.type, 1, length(?2) - 1) = substr(?2, 1, length(?2) - 1))) "
	    "ORDER BY e.created, e.id", e);
	struct action_replay one;
	char **v = NULL;
	size_t n = 0, cap = 0, i;
	int rc;

	*ids = NULL;
	*nids = 0;
	if (st == NULL)
		return -1;
	bind_int(st, 1, f->since);
	bind_text(st, 2, f->type);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = xstrdup(col_text(st, 0));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		actions_ids_free(v, n);
		return store_err(env->s, e, "reading deliveries");
	}
	if (n == 0) {
		pv_init(pv, env, ACTION_REPLAY);
		snprintf(pv->target, sizeof pv->target, "failed deliveries");
		pv->noop = 1;
		snprintf(pv->why, sizeof pv->why, "no stored event has a failed delivery and no "
		    "successful one%s%s", f->type ? " of type " : "", f->type ? f->type : "");
		snprintf(pv->summary, sizeof pv->summary, "replay failed deliveries: none");
		free(v);
		return 0;
	}
	one = *tmpl;
	one.target = v[0];
	if (actions_replay_preview(env, &one, pv, e) != 0) {
		actions_ids_free(v, n);
		return -1;
	}
	pv->count = (int64_t)n;
	snprintf(pv->target, sizeof pv->target, "failed deliveries");
	if (!pv->refused) {
		snprintf(pv->summary, sizeof pv->summary, "replay %zu event%s with failed deliveries "
		    "%s, at most %.3g a second", n, n == 1 ? "" : "s", tmpl->via_stripe ?
		    "through Stripe" : "to the endpoint", env->cfg->replay_rate);
		snprintf(pv->state, sizeof pv->state, "no change to tally's billing state: each event "
		    "is stored once; one delivery row is added per event");
		for (i = 0; i < n && i < 5; i++)
			pv_note(pv, "%s%s", v[i], i == 0 ? " (its request below; each event is sent "
			    "the same way with its own body and signature)" : "");
		if (n > 5)
			pv_note(pv, "... and %zu more", n - 5);
		pv->confirm = ACTION_CONFIRM_YES;
		if (config_is_live(env->cfg)) {
			pv->confirm = ACTION_CONFIRM_TYPED;
			snprintf(pv->confirm_text, sizeof pv->confirm_text, "%zu", n);
			snprintf(pv->confirm_why, sizeof pv->confirm_why,
			    "the Stripe key is a live-mode key: type the number of events");
		}
	}
	*ids = v;
	*nids = n;
	return 0;
}

int
actions_replay_pace(const struct action_env *env, int64_t *next_ms)
{
	double rate = env->cfg->replay_rate > 0 ? env->cfg->replay_rate : 1;
	int64_t now = mono_ms(), step = (int64_t)(1000.0 / rate);

	if (*next_ms == 0 || *next_ms < now)
		*next_ms = now;
	while (mono_ms() < *next_ms) {
		struct timespec ts = { 0, 20 * 1000000L };

		if (stopped(env))
			return -1;
		nanosleep(&ts, NULL);
	}
	*next_ms += step > 0 ? step : 1;
	return stopped(env) ? -1 : 0;
}

/* --- the preview as text --------------------------------------------------- */

static const char *
clean(const char *s, char *buf, size_t n)
{
	return text_clean(nz(s), strlen(nz(s)), buf, n);
}

void
action_preview_render(const struct action_preview *pv, struct buf *b)
{
	char c1[1400], c2[1400];
	int i;

	if (pv->summary[0] != '\0')
		buf_printf(b, "%s\n", clean(pv->summary, c1, sizeof c1));
	else
		buf_printf(b, "%s %s\n", action_kind_name(pv->kind), clean(pv->target, c1, sizeof c1));
	if (pv->refused) {
		buf_printf(b, "  REFUSED: %s\n", clean(pv->why, c1, sizeof c1));
		return;
	}
	if (pv->noop) {
		buf_printf(b, "  nothing to do: %s\n", clean(pv->why, c1, sizeof c1));
		return;
	}
	if (pv->idem_key[0] != '\0')
		buf_printf(b, "  key:      %s%s\n", clean(pv->idem_key, c1, sizeof c1),
		    pv->key_derived ? " (derived)" : "");
	if (pv->has_balance)
		buf_printf(b, "  balance:  %" PRId64 " -> %" PRId64 " %s (%s%" PRId64 ")\n",
		    pv->balance_before, pv->balance_after, pv->unit,
		    pv->balance_after >= pv->balance_before ? "+" : "",
		    pv->balance_after - pv->balance_before);
	for (i = 0; i < pv->nrows; i++)
		buf_printf(b, "  ledger:   + %s %+" PRId64 " %s%s%s\n", pv->rows[i].kind,
		    pv->rows[i].amount, clean(pv->rows[i].key, c1, sizeof c1),
		    pv->rows[i].ref[0] ? " ref " : "", clean(pv->rows[i].ref, c2, sizeof c2));
	if (pv->state[0] != '\0')
		buf_printf(b, "  mirror:   %s\n", clean(pv->state, c1, sizeof c1));
	if (pv->has_http) {
		buf_printf(b, "  request:  %s %s\n", pv->http.method, clean(pv->http.url, c1, sizeof c1));
		if (pv->http.content_type[0] != '\0')
			buf_printf(b, "            Content-Type: %s\n", pv->http.content_type);
		if (pv->http.idem_key[0] != '\0')
			buf_printf(b, "            Idempotency-Key: %s\n",
			    clean(pv->http.idem_key, c1, sizeof c1));
		if (pv->http.signature[0] != '\0')
			buf_printf(b, "            Stripe-Signature: %s\n", pv->http.signature);
		buf_printf(b, "            (%zu bytes) ", pv->http.bodylen);
		{
			char *cb = xmalloc(pv->http.bodylen + 1);

			text_clean(pv->http.body != NULL ? pv->http.body : "", pv->http.bodylen, cb,
			    pv->http.bodylen + 1);
			buf_printf(b, "%s\n", cb);
			free(cb);
		}
	}
	for (i = 0; i < pv->nnotes; i++)
		buf_printf(b, "  note:     %s\n", clean(pv->notes[i], c1, sizeof c1));
	if (pv->confirm == ACTION_CONFIRM_TYPED)
		buf_printf(b, "  confirm:  type %s (%s)\n", clean(pv->confirm_text, c1, sizeof c1),
		    pv->confirm_why);
}
