/*
 * demo: building the demo mirror (see demo.h): the directory and its files,
 * the history (demo-history.c), then the mirror, ingested from the logs
 * through ingest_file/ingest_finish like any other, and last the two plants
 * no log can make: a cached balance edited behind the ledger's back
 * (balance-mismatch) and an API sync that has failed since its key was
 * rolled days ago (sync-stale).
 *
 * The mirror is built beside its final path and renamed into place, so a
 * console or command reading the old demo never sees half a new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>
#include <sqlite3.h>

#include "catalog.h"
#include "actions.h"
#include "config.h"
#include "demo.h"
#include "drift.h"
#include "ingest.h"
#include "ledger.h"
#include "store.h"
#include "util.h"

#define TAMPER_CREDITS 2500
#define SYNC_AGO (3 * 86400 + 4 * 3600)

/* Files of an earlier demo (or of the fake Stripe server run over it) that
 * no longer describe the new one. */
static const char *const stale_files[] = {
	"requests.jsonl", "writes.jsonl", "port", "webhooks.log.tmp", "usage.log.tmp",
	"state.json.tmp", "plants.json.tmp", "tally.conf.tmp", "catalog.json.tmp",
};

static double
seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *
demo_default_path(void)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	struct buf b;

	buf_init(&b, 0);
	if (xdg != NULL && xdg[0] == '/')
		buf_printf(&b, "%s/tally/demo.db", xdg);
	else if (home != NULL && home[0] != '\0')
		buf_printf(&b, "%s/.local/share/tally/demo.db", home);
	else
		buf_printf(&b, "tally-demo.db");
	return b.data;
}

char *
demo_dir_for(const char *db_path)
{
	size_t n = strlen(db_path);
	char *d;

	if (n > 3 && strcmp(db_path + n - 3, ".db") == 0)
		n -= 3;
	d = xmalloc(n + 3);
	memcpy(d, db_path, n);
	memcpy(d + n, ".d", 3);
	return d;
}

int
demo_check_target(const char *path, struct err *e)
{
	struct stat st;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int ok = 0;

	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : err_set(e, "%s: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode) &&
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT 1 FROM meta WHERE key = 'demo.seed'", -1, &q, NULL) == SQLITE_OK)
		ok = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	sqlite3_close(db);
	if (!ok)
		return err_set(e, "%s exists and is not a demo mirror; tally demo replaces only "
		    "its own (give another --out)", path);
	return 0;
}

/* An absolute path for p (relative to the working directory); new string. */
static char *
abs_path(const char *p, struct err *e)
{
	char cwd[4096];
	struct buf b;

	if (p[0] == '/')
		return xstrdup(p);
	if (getcwd(cwd, sizeof cwd) == NULL) {
		err_set(e, "cannot find the working directory: %s", strerror(errno));
		return NULL;
	}
	buf_init(&b, 0);
	buf_printf(&b, "%s/%s", cwd, p);
	return b.data;
}

/* A configuration value cannot hold " #" (it would start a comment) or a
 * control character. */
static int
conf_safe(const char *p)
{
	const unsigned char *s;

	for (s = (const unsigned char *)p; *s != '\0'; s++)
		if (*s < 0x20 || *s == 0x7f || ((*s == ' ' || *s == '\t') && s[1] == '#'))
			return 0;
	return 1;
}

static int
write_file(const char *dir, const char *name, const char *text, size_t len, struct err *e)
{
	char tmp[4096], path[4096];
	FILE *f;
	int fd;

	snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return err_set(e, "%s: cannot create: %s", tmp, strerror(errno));
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return err_set(e, "%s: %s", tmp, strerror(errno));
	}
	if ((len > 0 && fwrite(text, 1, len, f) != len) || fflush(f) != 0) {
		err_set(e, "%s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return -1;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The full catalog, and the one the mirror is ingested with: the same
 * without DEMO_LATE_PRICE, which "the product launched before telling
 * tally" (grant-missing). */
static int
catalogs(struct catalog **full, struct catalog **early, struct err *e)
{
	json_error_t je;
	json_t *j = json_loads(demo_catalog_json, 0, &je);
	char *text = NULL;
	int rc = -1;

	*full = *early = NULL;
	if (j == NULL) {
		err_set(e, "demo catalog: %s (line %d)", je.text, je.line);
		goto out;
	}
	if (catalog_parse(demo_catalog_json, strlen(demo_catalog_json), "demo catalog", full, e) != 0)
		goto out;
	if (json_object_del(json_object_get(j, "plans"), DEMO_LATE_PRICE) != 0) {
		err_set(e, "demo catalog: no plan %s", DEMO_LATE_PRICE);
		goto out;
	}
	if ((text = json_dumps(j, JSON_PRESERVE_ORDER)) == NULL) {
		err_set(e, "demo catalog: cannot encode");
		goto out;
	}
	if (catalog_parse(text, strlen(text), "demo catalog (before " DEMO_LATE_PRICE ")", early, e) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		catalog_free(*full);
		*full = NULL;
	}
	free(text);
	json_decref(j);
	return rc;
}

static int
meta_text(struct store *s, const char *k, const char *v, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "INSERT INTO meta(key, value) VALUES (?, ?) "
	    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, k);
	bind_text(st, 2, v);
	return store_step_done(s, st, e);
}

static struct demo_plant *
plant_find(struct demo_result *r, const char *rule)
{
	int i;

	for (i = 0; i < r->nplants; i++)
		if (strcmp(r->plants[i].rule, rule) == 0)
			return &r->plants[i];
	return NULL;
}

static struct demo_plant *
plant_new(struct demo_result *r)
{
	if (r->nplants >= DEMO_MAX_PLANTS)
		return NULL;
	return memset(&r->plants[r->nplants++], 0, sizeof r->plants[0]);
}

/* The resources of a reconciliation pass, as sync.c's table names them: a
 * pass in progress has a row for each. */
static const char *const sync_resources[] = {
	"customers", "prices", "subscriptions", "invoices", "checkout_sessions", "charges",
	"refunds", "disputes", "credit_grants", "events", "credit_balances", "entitlements",
};

/*
 * The sync state of an account whose API key was set at `at`: the first
 * reconciliation pass listed the customers and prices, then every request
 * failed with a 401 (the key was rolled).  A consistent state (every
 * resource of the pass has its row), so a later `tally sync` with a good
 * key resumes the pass where it stopped.
 */
static int
sync_plant(struct store *s, const struct demo_result *r, int64_t at, struct err *e)
{
	sqlite3_stmt *st;
	int64_t objects;
	size_t i;

	for (i = 0; i < sizeof sync_resources / sizeof sync_resources[0]; i++) {
		int done = i < 2;

		objects = i == 0 ? r->customers : i == 1 ? 8 : 0;
		st = store_stmt(s,
		    "INSERT INTO sync_resources(name, pass, cursor, done, pages, objects, started_at, "
		    "finished_at) VALUES (?, 1, NULL, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING", e);
		if (st == NULL)
			return -1;
		bind_text(st, 1, sync_resources[i]);
		bind_int(st, 2, done);
		bind_int(st, 3, done ? (objects + 99) / 100 : 0);
		bind_int(st, 4, objects);
		bind_int(st, 5, at);
		bind_opt_int(st, 6, done ? at + 40 + (int64_t)i * 5 : 0);
		if (store_step_done(s, st, e) != 0)
			return -1;
	}
	if (store_meta_set_int(s, "sync.pass", 1, e) != 0 ||
	    store_meta_set_int(s, "sync.requests", (r->customers + 99) / 100 + 1 + 3 * 24 * 60, e) != 0 ||
	    store_meta_set_int(s, "sync.retries", 0, e) != 0 ||
	    store_meta_set_int(s, "sync.last_error_at", r->now - 60, e) != 0 ||
	    meta_text(s, "sync.last_error",
	    "GET /v1/subscriptions: 401 authentication_error: Invalid API Key provided: "
	    "sk_test_...Xq2f (request req_demoRolledKey01)", e) != 0)
		return -1;
	return 0;
}

/* What only an outside hand makes, and what says this is a demo. */
static int
plant_after_ingest(struct store *s, const struct demo_opts *o, struct demo_result *r,
                   struct err *e)
{
	struct demo_plant *p = plant_find(r, "balance-mismatch");
	sqlite3_stmt *st;
	int64_t cached = 0, sum = 0, at = r->now - SYNC_AGO;
	char when[32], v[64];

	if (store_begin(s, e) != 0)
		return -1;
	if (p != NULL) {
		if (ledger_balance(s, p->customer, &cached, e) != 0 ||
		    ledger_sum(s, p->customer, &sum, e) != 0)
			goto fail;
		st = store_stmt(s,
		    "INSERT INTO balances(customer, balance, updated_at) VALUES (?1, ?2, ?3) "
		    "ON CONFLICT(customer) DO UPDATE SET balance = balance + ?2, updated_at = ?3", e);
		if (st == NULL)
			goto fail;
		bind_text(st, 1, p->customer);
		bind_int(st, 2, TAMPER_CREDITS);
		bind_int(st, 3, r->now);
		if (store_step_done(s, st, e) != 0)
			goto fail;
		snprintf(p->detail, sizeof p->detail,
		    "the cached balance was raised by %d behind the ledger's back after the ingest "
		    "(cache %lld, ledger sum %lld)", TAMPER_CREDITS,
		    (long long)(cached + TAMPER_CREDITS), (long long)sum);
	}
	time_fmt(at, when, sizeof when);
	if (sync_plant(s, r, at, e) != 0)
		goto fail;
	if ((p = plant_new(r)) != NULL) {
		snprintf(p->rule, sizeof p->rule, "sync-stale");
		snprintf(p->subject, sizeof p->subject, "mirror");
		snprintf(p->detail, sizeof p->detail,
		    "an API key was configured %s: the first backfill got through customers and "
		    "prices, then the key was rolled, and every sync since has failed with a 401: "
		    "no API sync has ever succeeded", when);
	}
	snprintf(v, sizeof v, "%llu", (unsigned long long)o->seed);
	if (meta_text(s, "demo.seed", v, e) != 0 ||
	    store_meta_set_int(s, "demo.customers", o->customers, e) != 0 ||
	    store_meta_set_int(s, "demo.months", o->months, e) != 0 ||
	    store_meta_set_int(s, "demo.start", r->start, e) != 0 ||
	    store_meta_set_int(s, "demo.now", r->now, e) != 0 ||
	    meta_text(s, "demo.dir", o->dir, e) != 0)
		goto fail;
	if (store_commit(s, e) != 0)
		goto fail;
	return 0;
fail:
	store_rollback(s);
	return -1;
}

static int
count_rows(struct store *s, const char *sql, int64_t *out, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s, sql, e);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_err(s, e, "counting");
}

static void
remove_db(const char *path)
{
	char p[4096];

	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-journal", path);
	unlink(p);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* When the mirror reads the logs: every two weeks, daily in the last week,
 * hourly in the last twelve hours, and at each operator action, as a mirror
 * following the logs would have (so recorded and first-seen times,
 * expiries and alerts fall about when they would have, and the last day is
 * exact to the hour).  Each step commits, so there are few of them.  New
 * array of *n times, the last one r->now. */
static int64_t *
steps_make(const struct demo_result *r, size_t *n)
{
	size_t cap = (size_t)((r->now - r->start) / (14 * 86400)) + 32 + DEMO_MAX_ACTIONS, k = 0, i, j;
	int64_t *v = xcalloc(cap, sizeof *v), t;

	for (t = r->start + 14 * 86400; t < r->now - 7 * 86400 && k < cap; t += 14 * 86400)
		v[k++] = t;
	for (t = r->now - 7 * 86400; t < r->now - 43200 && k < cap; t += 86400)
		v[k++] = t;
	for (t = r->now - 43200; t < r->now && k < cap; t += 3600)
		v[k++] = t;
	for (i = 0; i < (size_t)r->nactions && k < cap; i++)
		v[k++] = r->actions[i].at;
	if (k < cap)
		v[k++] = r->now;
	qsort(v, k, sizeof *v, cmp_i64);
	for (i = 0, j = 0; i < k; i++)
		if (j == 0 || v[i] != v[j - 1])
			v[j++] = v[i];
	*n = j;
	return v;
}

/* A scan of every drift rule as of t, in its own transaction. */
static int
scan(struct store *s, struct drift *d, int64_t t, struct err *e)
{
	if (store_begin(s, e) != 0)
		return -1;
	if (drift_scan(d, t, 0, NULL, e) != 0 || store_commit(s, e) != 0) {
		store_rollback(s);
		return -1;
	}
	return 0;
}

static int
clock_set(int64_t t, struct err *e)
{
	char now[32];

	snprintf(now, sizeof now, "%lld", (long long)t);
	if (setenv("TALLY_NOW", now, 1) != 0)
		return err_set(e, "cannot set TALLY_NOW: %s", strerror(errno));
	return 0;
}

/* An operator action of the history, through the operator's own path. */
static int
action_run(struct store *s, const struct catalog *cat, const struct demo_action *a,
           struct err *e)
{
	struct action_env env;
	struct action_outcome out;
	struct config cfg;
	int rc;

	config_init(&cfg);
	free(cfg.operator_name);
	cfg.operator_name = xstrdup(a->operator_name);
	memset(&env, 0, sizeof env);
	env.s = s;
	env.cfg = &cfg;
	env.cat = cat;
	memset(&out, 0, sizeof out);
	if (a->kind == DEMO_ACT_REVERSE) {
		struct action_reverse rv = { a->entry, a->reason };

		rc = actions_reverse_apply(&env, &rv, &out, e);
	} else {
		struct action_adjust ad;

		memset(&ad, 0, sizeof ad);
		ad.customer = a->customer;
		ad.amount = a->amount;
		ad.reason = a->reason;
		ad.push = ACTION_PUSH_NONE;
		rc = actions_adjust_apply(&env, &ad, &out, e);
	}
	config_done(&cfg);
	if (rc == 0 && out.result != ACTION_OK)
		rc = err_set(e, "demo action on %s: %s", a->customer, out.message);
	return rc;
}

/* Follow the logs into a new mirror beside o->db_path as they are written,
 * plant, scan, and move the mirror into place. */
static int
build_mirror(const struct demo_opts *o, struct demo_history *h, const struct catalog *full,
             const struct catalog *early, struct demo_result *r, struct err *e)
{
	const char *secrets[] = { DEMO_WEBHOOK_SECRET };
	char tmp[4096], wlog[4096], ulog[4096];
	struct ingest_opts io;
	struct ingest_counts fin;
	struct store *s = NULL;
	struct drift *d = NULL;
	struct config cfg;
	int64_t *steps = NULL;
	size_t nsteps = 0, i;
	int rc = -1, done[DEMO_MAX_ACTIONS] = { 0 }, k;
	double t0 = seconds_now();

	config_init(&cfg);
	snprintf(tmp, sizeof tmp, "%s.building", o->db_path);
	snprintf(wlog, sizeof wlog, "%s/webhooks.log", o->dir);
	snprintf(ulog, sizeof ulog, "%s/usage.log", o->dir);
	remove_db(tmp);
	if (store_open(tmp, STORE_MKDIR, &s, e) != 0)
		goto out;
	if (drift_open(s, full, &cfg, &d, e) != 0)
		goto out;
	memset(&io, 0, sizeof io);
	io.cat = early;
	io.secrets = secrets;
	io.nsecrets = 1;
	io.tolerance = 300;
	memset(&r->webhooks, 0, sizeof r->webhooks);
	memset(&r->usage, 0, sizeof r->usage);
	steps = steps_make(r, &nsteps);
	for (i = 0; i < nsteps; i++) {
		if (clock_set(steps[i], e) != 0 || demo_history_write_until(h, steps[i], e) != 0 ||
		    ingest_file(s, &io, INGEST_WEBHOOK, wlog, &r->webhooks, e) != 0 ||
		    ingest_file(s, &io, INGEST_USAGE, ulog, &r->usage, e) != 0)
			goto out;
		memset(&fin, 0, sizeof fin);
		if (ingest_finish(s, &io, &fin, e) != 0)
			goto out;
		r->expired += fin.ledger_entries;
		for (k = 0; k < r->nactions; k++)
			if (!done[k] && r->actions[k].at <= steps[i]) {
				done[k] = 1;
				if (action_run(s, full, &r->actions[k], e) != 0)
					goto out;
			}
		/* The drift rules a week before the end (so some alerts are
		 * older than others and some have resolved since; skipped for
		 * large demos, where a scan costs) and at the end; not at every
		 * step, which would cost more than the ingest. */
		if (i > 0 && o->customers <= 1000 && steps[i] >= r->now - 7 * 86400 &&
		    steps[i - 1] < r->now - 7 * 86400 && scan(s, d, steps[i], e) != 0)
			goto out;
	}
	if (demo_history_finish(h, e) != 0 || plant_after_ingest(s, o, r, e) != 0)
		goto out;
	if (scan(s, d, r->now, e) != 0)
		goto out;
	if (count_rows(s, "SELECT COUNT(*) FROM ledger", &r->ledger_entries, e) != 0 ||
	    count_rows(s, "SELECT COUNT(*) FROM alerts WHERE state = 'open'", &r->alerts, e) != 0)
		goto out;
	rc = 0;
out:
	drift_close(d);
	store_close(s);
	config_done(&cfg);
	free(steps);
	if (rc == 0) {
		remove_db(o->db_path);
		if (rename(tmp, o->db_path) != 0) {
			err_set(e, "%s: cannot move the new mirror into place: %s", o->db_path,
			    strerror(errno));
			rc = -1;
		}
	}
	if (rc != 0)
		remove_db(tmp);
	r->ingest_seconds = seconds_now() - t0;
	return rc;
}

static int
write_plants(const struct demo_opts *o, const struct demo_result *r, struct err *e)
{
	json_t *j = json_object(), *a = json_array();
	char *text;
	int i, rc;

	for (i = 0; i < r->nplants; i++) {
		const struct demo_plant *p = &r->plants[i];

		json_array_append_new(a, json_pack("{ss ss? ss? ss}", "rule", p->rule,
		    "customer", p->customer[0] ? p->customer : NULL,
		    "subject", p->subject[0] ? p->subject : NULL, "detail", p->detail));
	}
	json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
	json_object_set_new(j, "customers", json_integer(o->customers));
	json_object_set_new(j, "months", json_integer(o->months));
	json_object_set_new(j, "start", json_integer(r->start));
	json_object_set_new(j, "now", json_integer(r->now));
	json_object_set_new(j, "plants", a);
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (text == NULL)
		return err_set(e, "plants.json: cannot encode");
	rc = write_file(o->dir, "plants.json", text, strlen(text), e);
	free(text);
	return rc;
}

static int
write_conf(const struct demo_opts *o, const struct demo_result *r, struct err *e)
{
	struct buf b;
	struct config c;
	char now[32];
	int rc;

	time_fmt(r->now, now, sizeof now);
	buf_init(&b, 0);
	buf_printf(&b,
	    "# tally demo: seed %llu, %d customers, %d months of history.\n"
	    "# Written by `tally demo`; running it again replaces everything here.\n"
	    "#\n"
	    "# The history ends at %s, the demo's \"now\".  Read the mirror at\n"
	    "# that time, or every subscription will look long expired:\n"
	    "#   TALLY_NOW=%s tally --config %s/tally.conf status\n"
	    "#\n"
	    "# The same account as a fake Stripe API (tests/lib/fake_stripe.py,\n"
	    "# doc/fake-stripe.md), to try a sync with no network:\n"
	    "#   python3 fake_stripe.py --state %s --port-file %s/port\n"
	    "#   STRIPE_API_KEY=%s STRIPE_API_BASE=http://127.0.0.1:PORT \\\n"
	    "#     TALLY_NOW=%s tally --config %s/tally.conf sync\n"
	    "\n"
	    "db = %s\n"
	    "catalog = %s/catalog.json\n"
	    "webhook_log = %s/webhooks.log\n"
	    "usage_log = %s/usage.log\n"
	    "webhook_secret = %s\n",
	    (unsigned long long)o->seed, o->customers, o->months, now, now, o->dir, o->dir,
	    o->dir, DEMO_API_KEY, now, o->dir, o->db_path, o->dir, o->dir, o->dir,
	    DEMO_WEBHOOK_SECRET);
	/* What we write, tally must read back. */
	config_init(&c);
	rc = config_parse(&c, b.data, b.len, "tally.conf", e);
	config_done(&c);
	if (rc == 0)
		rc = write_file(o->dir, "tally.conf", b.data, b.len, e);
	buf_done(&b);
	return rc;
}

int
demo_build(const struct demo_opts *opts, struct demo_result *r, struct err *e)
{
	struct demo_opts o = *opts;
	struct catalog *full = NULL, *early = NULL;
	struct demo_history *h = NULL;
	char *dir = NULL, *db = NULL, probe[4096];
	double t0;
	size_t i;
	int rc = -1;

	memset(r, 0, sizeof *r);
	if ((dir = abs_path(opts->dir, e)) == NULL || (db = abs_path(opts->db_path, e)) == NULL)
		goto out;
	o.dir = dir;
	o.db_path = db;
	snprintf(r->dir, sizeof r->dir, "%s", dir);
	snprintf(r->db_path, sizeof r->db_path, "%s", db);
	if (!conf_safe(dir) || !conf_safe(db)) {
		err_set(e, "%s: tally.conf cannot name this path (a control character, or \" #\"); "
		    "choose another --out", db);
		goto out;
	}
	if (demo_check_target(db, e) != 0)
		goto out;
	snprintf(probe, sizeof probe, "%s/x", dir);
	if (mkdir_parents(probe, 0700, e) != 0)
		goto out;
	for (i = 0; i < sizeof stale_files / sizeof stale_files[0]; i++) {
		snprintf(probe, sizeof probe, "%s/%s", dir, stale_files[i]);
		unlink(probe);
	}
	if (catalogs(&full, &early, e) != 0 ||
	    write_file(dir, "catalog.json", demo_catalog_json, strlen(demo_catalog_json), e) != 0)
		goto out;
	t0 = seconds_now();
	if (demo_history_new(&o, full, r, &h, e) != 0)
		goto out;
	r->gen_seconds = seconds_now() - t0;
	if (build_mirror(&o, h, full, early, r, e) != 0 || write_plants(&o, r, e) != 0 ||
	    write_conf(&o, r, e) != 0)
		goto out;
	rc = 0;
out:
	demo_history_free(h);
	catalog_free(full);
	catalog_free(early);
	free(dir);
	free(db);
	return rc;
}
