/*
 * cmd-demo: `tally demo`, the demo mirror (SPEC 11, doc/demo.md).  Builds a
 * realistic product's logs, fake-Stripe state and mirror from a seed (all
 * in src/core/demo.c), then opens the console on it; with --out it only
 * writes them and says where everything is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "demo.h"
#include "out.h"
#include "tui.h"
#include "util.h"

#define DEFAULT_CUSTOMERS 300
#define DEFAULT_MONTHS 6

static const char *const demo_files[] = {
	"webhooks.log", "usage.log", "catalog.json", "state.json", "plants.json", "tally.conf",
};

/* "--flag VALUE" or "--flag=VALUE" at argv[*i]: the value, NULL if this is
 * not the flag, and *missing when the value is. */
static const char *
opt(struct cmd_ctx *c, int *i, const char *flag, int *missing)
{
	size_t n = strlen(flag);
	const char *a = c->argv[*i];

	if (strncmp(a, flag, n) != 0 || (a[n] != '\0' && a[n] != '='))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (*i + 1 >= c->argc) {
		*missing = 1;
		return NULL;
	}
	return c->argv[++*i];
}

/* A whole decimal number in [lo, hi]: 0, or -1. */
static int
parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static json_t *
counts_json(const struct ingest_counts *n)
{
	return json_pack("{sI sI sI sI sI sI sI sI sI}",
	    "values", (json_int_t)n->values, "applied", (json_int_t)n->applied,
	    "duplicate", (json_int_t)n->duplicate, "superseded", (json_int_t)n->superseded,
	    "conflict", (json_int_t)n->conflict, "stored", (json_int_t)n->stored,
	    "quarantined", (json_int_t)n->quarantined,
	    "invalid_signature", (json_int_t)n->invalid_signature,
	    "ledger_entries", (json_int_t)n->ledger_entries);
}

static void
print_json(const struct demo_opts *o, const struct demo_result *r, const char *now)
{
	json_t *j = json_object(), *files = json_object(), *plants = json_array();
	json_t *actions = json_array();
	char path[4096], open_cmd[4300];
	size_t i;
	int k;

	for (i = 0; i < sizeof demo_files / sizeof demo_files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", o->dir, demo_files[i]);
		json_object_set_new(files, demo_files[i], json_string(path));
	}
	for (k = 0; k < r->nplants; k++)
		json_array_append_new(plants, json_pack("{ss ss? ss? ss}", "rule", r->plants[k].rule,
		    "customer", r->plants[k].customer[0] ? r->plants[k].customer : NULL,
		    "subject", r->plants[k].subject[0] ? r->plants[k].subject : NULL,
		    "detail", r->plants[k].detail));
	for (k = 0; k < r->nactions; k++)
		json_array_append_new(actions, json_pack("{sI ss ss ss ss}",
		    "at", (json_int_t)r->actions[k].at,
		    "action", r->actions[k].kind == DEMO_ACT_REVERSE ? "reverse" : "adjust",
		    "operator", r->actions[k].operator_name, "customer", r->actions[k].customer,
		    "reason", r->actions[k].reason));
	snprintf(open_cmd, sizeof open_cmd, "TALLY_NOW=%s tally --config %s/tally.conf", now, o->dir);
	json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
	json_object_set_new(j, "customers", json_integer(o->customers));
	json_object_set_new(j, "months", json_integer(o->months));
	json_object_set_new(j, "start", json_integer(r->start));
	json_object_set_new(j, "now", json_integer(r->now));
	json_object_set_new(j, "api_upgrade_at", json_integer(r->api_upgrade_at));
	json_object_set_new(j, "mirror", json_string(o->db_path));
	json_object_set_new(j, "dir", json_string(o->dir));
	json_object_set_new(j, "files", files);
	json_object_set_new(j, "counts", json_pack("{sI sI sI sI sI sI sI sI sI sI}",
	    "events", (json_int_t)r->events, "webhook_values", (json_int_t)r->deliveries,
	    "usage_lines", (json_int_t)r->usage_lines,
	    "usage_identifiers", (json_int_t)r->usage_identifiers,
	    "ledger_entries", (json_int_t)r->ledger_entries, "expired", (json_int_t)r->expired,
	    "open_alerts", (json_int_t)r->alerts, "webhook_bytes", (json_int_t)r->webhook_bytes,
	    "usage_bytes", (json_int_t)r->usage_bytes, "state_bytes", (json_int_t)r->state_bytes));
	json_object_set_new(j, "ingest", json_pack("{so so}", "webhooks", counts_json(&r->webhooks),
	    "usage", counts_json(&r->usage)));
	json_object_set_new(j, "plants", plants);
	json_object_set_new(j, "actions", actions);
	json_object_set_new(j, "seconds", json_pack("{sf sf}", "generate", r->gen_seconds,
	    "ingest", r->ingest_seconds));
	json_object_set_new(j, "open", json_string(open_cmd));
	out_json(j);
}

static void
print_text(const struct demo_opts *o, const struct demo_result *r, const char *now)
{
	char start[32], buf[512];
	int k;

	time_fmt(r->start, start, sizeof start);
	printf("tally demo: seed %llu, %d customers, %d months, %.10s to %.10s (the demo's now)\n",
	    (unsigned long long)o->seed, o->customers, o->months, start, now);
	printf("  history  %lld events in %lld webhook log values, %lld usage lines "
	    "(%lld identifiers)\n", (long long)r->events, (long long)r->deliveries,
	    (long long)r->usage_lines, (long long)r->usage_identifiers);
	printf("  ingest   webhooks: %lld applied, %lld duplicate, %lld superseded, %lld conflict, "
	    "%lld quarantined, %lld invalid signature\n", (long long)r->webhooks.applied,
	    (long long)r->webhooks.duplicate, (long long)r->webhooks.superseded,
	    (long long)r->webhooks.conflict, (long long)r->webhooks.quarantined,
	    (long long)r->webhooks.invalid_signature);
	printf("           usage: %lld applied, %lld duplicate, %lld conflict, %lld quarantined\n",
	    (long long)r->usage.applied, (long long)r->usage.duplicate,
	    (long long)r->usage.conflict, (long long)r->usage.quarantined);
	printf("  mirror   %s\n           %lld ledger entries (%lld expiries), %lld open alerts\n",
	    out_clean(o->db_path, buf, sizeof buf), (long long)r->ledger_entries,
	    (long long)r->expired, (long long)r->alerts);
	printf("  files    %s/\n           webhooks.log usage.log catalog.json state.json "
	    "plants.json tally.conf\n", out_clean(o->dir, buf, sizeof buf));
	printf("  took     %.1f s to generate, %.1f s to ingest\n", r->gen_seconds,
	    r->ingest_seconds);
	printf("planted (plants.json has the details; doc/demo.md the story):\n");
	for (k = 0; k < r->nplants; k++)
		printf("  %-24s %-20s %s\n", r->plants[k].rule,
		    r->plants[k].customer[0] ? r->plants[k].customer : "-", r->plants[k].subject);
	printf("the demo's clock stands at its end; read it with:\n  TALLY_NOW=%s tally --config "
	    "%s/tally.conf\n", now, out_clean(o->dir, buf, sizeof buf));
}

/* Open the console on the demo: a context of its own, from the demo's
 * configuration only (no key: no network), keeping the operator's
 * read-only mode and name. */
static int
console(struct cmd_ctx *c, const struct demo_opts *o)
{
	struct cmd_ctx dc;
	struct err e;
	char path[4096];
	int rc;

	memset(&dc, 0, sizeof dc);
	config_init(&dc.cfg);
	free(dc.cfg.db_path);
	dc.cfg.db_path = xstrdup(o->db_path);
	snprintf(path, sizeof path, "%s/catalog.json", o->dir);
	dc.cfg.catalog_path = xstrdup(path);
	snprintf(path, sizeof path, "%s/webhooks.log", o->dir);
	strlist_add(&dc.cfg.webhook_logs, path);
	snprintf(path, sizeof path, "%s/usage.log", o->dir);
	strlist_add(&dc.cfg.usage_logs, path);
	strlist_add(&dc.cfg.webhook_secrets, DEMO_WEBHOOK_SECRET);
	dc.cfg.read_only = c->cfg.read_only;
	free(dc.cfg.operator_name);
	dc.cfg.operator_name = xstrdup(c->cfg.operator_name);
	dc.argc = 1;
	dc.argv = c->argv;
	if (catalog_load(dc.cfg.catalog_path, &dc.cat, &e) != 0) {
		rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		goto out;
	}
	rc = tui_run(&dc);
out:
	catalog_free(dc.cat);
	config_done(&dc.cfg);
	return rc;
}

static int
run(struct cmd_ctx *c)
{
	struct demo_opts o;
	struct demo_result *r = NULL;
	struct err e;
	const char *out = NULL, *v;
	char *db = NULL, *dir = NULL, now[32];
	uint64_t seed = 1, customers = DEFAULT_CUSTOMERS, months = DEFAULT_MONTHS;
	int i, missing = 0, rc = EXIT_OK;

	for (i = 1; i < c->argc; i++) {
		if ((v = opt(c, &i, "--seed", &missing)) != NULL) {
			if (parse_u64(v, 0, UINT64_MAX, &seed) != 0)
				return cmd_usage(c, "--seed: '%s' is not a whole number", v);
		} else if ((v = opt(c, &i, "--customers", &missing)) != NULL) {
			if (parse_u64(v, DEMO_MIN_CUSTOMERS, DEMO_MAX_CUSTOMERS, &customers) != 0)
				return cmd_usage(c, "--customers: '%s' is not a number from %d to %d", v,
				    DEMO_MIN_CUSTOMERS, DEMO_MAX_CUSTOMERS);
		} else if ((v = opt(c, &i, "--months", &missing)) != NULL) {
			if (parse_u64(v, DEMO_MIN_MONTHS, DEMO_MAX_MONTHS, &months) != 0)
				return cmd_usage(c, "--months: '%s' is not a number from %d to %d", v,
				    DEMO_MIN_MONTHS, DEMO_MAX_MONTHS);
		} else if ((v = opt(c, &i, "--out", &missing)) != NULL) {
			if (v[0] == '\0')
				return cmd_usage(c, "--out: empty file name");
			out = v;
		} else if (missing) {
			return cmd_usage(c, "%s needs a value", c->argv[i]);
		} else {
			return cmd_usage(c, "unexpected argument '%s'", c->argv[i]);
		}
	}

	db = out != NULL ? xstrdup(out) : demo_default_path();
	dir = demo_dir_for(db);
	if (demo_check_target(db, &e) != 0) {
		rc = cmd_fail(c, EXIT_USAGE, "%s", e.msg);
		goto done;
	}
	memset(&o, 0, sizeof o);
	o.seed = seed;
	o.customers = (int)customers;
	o.months = (int)months;
	o.dir = dir;
	o.db_path = db;
	if (!c->json)
		fprintf(stderr, "tally demo: building %d customers over %d months (seed %llu)...\n",
		    o.customers, o.months, (unsigned long long)seed);
	r = xcalloc(1, sizeof *r);
	if (demo_build(&o, r, &e) != 0) {
		rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		goto done;
	}
	time_fmt(r->now, now, sizeof now);
	o.dir = r->dir;
	o.db_path = r->db_path;
	if (c->json)
		print_json(&o, r, now);
	else
		print_text(&o, r, now);
	if (out == NULL) {
		/* demo_build left TALLY_NOW at the demo's now: the console's ages
		 * and access answers are as of the end of the history. */
		if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
			fprintf(stderr, "tally demo: not on a terminal: the console was not opened\n");
		} else {
			fflush(stdout);
			rc = console(c, &o);
		}
	}
done:
	free(r);
	free(db);
	free(dir);
	return rc;
}

/* Not CMD_STORE: the demo builds and opens a mirror of its own, never the
 * configured one. */
const struct cmd_entry cmd_demo_entry = {
	"demo", "[--seed N] [--customers N] [--months N] [--out FILE]",
	"build a realistic demo mirror from a seed (no key, no network) and open the console on it",
	0, run
};
