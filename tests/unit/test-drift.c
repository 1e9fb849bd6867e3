/*
 * test-drift: the rule table is complete (every rule of SPEC 7, in order,
 * each with a severity, the evidence it records and both forms of its SQL,
 * global rules aside), every statement prepares against the schema, and
 * the plans SQLite chooses go through indexes: the one-customer form of a
 * rule never scans a table that grows with the mirror, and the
 * whole-mirror form never scans the tables that grow with every event
 * (ledger, events, deliveries, usage) except through an index.
 * The behaviour of each rule is tested from the command line
 * (tests/drift.sh).
 */
#include <stdlib.h>

#include "catalog.h"
#include "config.h"
#include "drift.h"
#include "store.h"
#include "t.h"

static const char *const spec_rules[] = {
	"grant-missing", "grant-duplicate", "usage-conflict", "subscription-stale",
	"access-after-expiry", "usage-after-cancel", "payment-failed-access",
	"refund-without-clawback", "balance-mismatch", "negative-balance", "event-out-of-order",
	"webhook-failed", "signature-invalid", "sync-stale",
};
#define NSPEC (sizeof spec_rules / sizeof spec_rules[0])

/* Tables whose size grows with the mirror, by the aliases the rules give
 * them ("AS x") and their names. */
static const char *const growing[] = {
	"ledger", "events", "deliveries", "usage", "invoices", "invoice_lines", "subscriptions",
	"subscription_items", "balances", "charges", "checkout_sessions", "reversals",
	"credit_balances", "entitlements", "customers", "alerts", NULL
};
static const char *const per_event[] = { "ledger", "events", "deliveries", "usage", NULL };
/* Partial indexes hold only the rows a rule looks for: scanning one whole
 * is reading those rows, not the table. */
static const char *const partial[] = { "events_superseded", "deliveries_invalid", "deliveries_failed",
	NULL };

static int
partial_scan(const char *detail)
{
	const char *p = strstr(detail, " USING INDEX ");
	size_t i;

	if (p == NULL)
		return 0;
	p += strlen(" USING INDEX ");
	for (i = 0; partial[i] != NULL; i++)
		if (strncmp(p, partial[i], strlen(partial[i])) == 0)
			return 1;
	return 0;
}

/* A SEARCH bounded only below ("(customer>?)": every row whose key is not
 * NULL) reads the whole index: a scan by another name. */
static int
open_range(const char *detail)
{
	const char *p = strrchr(detail, '(');

	return strncmp(detail, "SEARCH ", 7) == 0 && p != NULL && strchr(p, '=') == NULL &&
	    strchr(p, '>') != NULL;
}

/* The table a plan line scans ("SCAN x", "SCAN x USING ...", or an open
 * range), resolved through the aliases of the statement's text:
 * "<table> AS x". */
static const char *
scanned_table(const char *sql, const char *detail, char *out, size_t outsz)
{
	char alias[64], pat[80];
	const char *p, *q;
	size_t n, at;

	if (strncmp(detail, "SCAN ", 5) == 0)
		at = 5;
	else if (open_range(detail))
		at = 7;
	else
		return NULL;
	for (n = 0; detail[at + n] != '\0' && detail[at + n] != ' ' && n + 1 < sizeof alias; n++)
		alias[n] = detail[at + n];
	alias[n] = '\0';
	snprintf(pat, sizeof pat, " AS %s ", alias);
	p = strstr(sql, pat);
	if (p == NULL) {
		snprintf(out, outsz, "%s", alias);     /* a table named as itself */
		return out;
	}
	for (q = p; q > sql && q[-1] != ' '; q--)
		;
	snprintf(out, outsz, "%.*s", (int)(p - q), q);
	return out;
}

static int
in_list(const char *const *l, const char *s)
{
	for (; *l != NULL; l++)
		if (strcmp(*l, s) == 0)
			return 1;
	return 0;
}

static const char catalog_json[] =
	"{\"plans\": {\"price_pro\": {\"name\": \"Pro\", \"credits_per_period\": 1000, "
	"\"features\": [\"chat\", \"api\"]}}, "
	"\"topups\": {\"price_topup\": {\"credits\": 100, \"expires_after_days\": 30}}, "
	"\"meters\": {\"api_tokens\": {\"feature\": \"api\", \"credits_per_unit\": 1}}}";

int
main(void)
{
	char path[512], table[128];
	struct store *s;
	struct catalog *cat;
	struct config cfg;
	struct drift *d;
	struct err e;
	size_t i, k;
	int one;

	is_int(drift_rule_count(), NSPEC, "fourteen rules");
	for (i = 0; i < NSPEC && i < drift_rule_count(); i++) {
		const struct drift_rule_info *r = drift_rule_at(i);

		is_str(r->id, spec_rules[i], "rule %zu is in SPEC 7 order", i);
		ok(strcmp(r->severity, "info") == 0 || strcmp(r->severity, "warning") == 0 ||
		    strcmp(r->severity, "critical") == 0, "%s has a severity", r->id);
		ok(r->finds != NULL && r->evidence != NULL, "%s says what it finds and records", r->id);
		ok(drift_rule_sql(i, 0) != NULL, "%s has a whole-mirror form", r->id);
		ok((drift_rule_sql(i, 1) == NULL) == r->global, "%s: a per-customer form unless global",
		    r->id);
		ok(drift_rule(r->id) == r, "%s is found by id", r->id);
	}
	ok(drift_rule("no-such-rule") == NULL, "an unknown rule is not found");

	snprintf(path, sizeof path, "%s/d.db", t_dir());
	if (store_open(path, 0, &s, &e) != 0 ||
	    catalog_parse(catalog_json, strlen(catalog_json), "catalog", &cat, &e) != 0) {
		printf("Bail out! %s\n", e.msg);
		return 99;
	}
	config_init(&cfg);
	if (!ok(drift_open(s, cat, &cfg, &d, &e) == 0, "drift_open"))
		printf("# %s\n", e.msg);

	for (i = 0; i < drift_rule_count(); i++) {
		for (one = 0; one <= 1; one++) {
			const char *sql = drift_rule_sql(i, one), *id = drift_rule_at(i)->id;
			sqlite3_stmt *st = NULL;
			char eqp[8300];
			int bad = 0;

			if (sql == NULL)
				continue;
			/* DRIFT_SQL=rule-id prints the rule's SQL (for timing it by hand). */
			if (getenv("DRIFT_SQL") != NULL && strcmp(getenv("DRIFT_SQL"), id) == 0)
				fprintf(stderr, "-- %s\n%s;\n", one ? "one customer" : "whole mirror", sql);
			snprintf(eqp, sizeof eqp, "EXPLAIN QUERY PLAN %s", sql);
			if (!ok(sqlite3_prepare_v2(store_db(s), eqp, -1, &st, NULL) == SQLITE_OK,
			    "%s (%s) prepares", id, one ? "one customer" : "whole mirror")) {
				printf("# %s\n", sqlite3_errmsg(store_db(s)));
				continue;
			}
			while (sqlite3_step(st) == SQLITE_ROW) {
				const char *detail = (const char *)sqlite3_column_text(st, 3);

				if (getenv("DRIFT_PLANS") != NULL)
					printf("# %s/%d: %s\n", id, one, detail);
				if (scanned_table(sql, detail, table, sizeof table) == NULL ||
				    partial_scan(detail))
					continue;
				if (one ? in_list(growing, table) : in_list(per_event, table)) {
					printf("# %s\n", detail);
					bad = 1;
				}
			}
			sqlite3_finalize(st);
			ok(!bad, "%s (%s): no scan of a table that grows with the mirror", id,
			    one ? "one customer" : "whole mirror");
		}
	}

	/* An empty mirror: only the mirror's age is drift. */
	{
		struct drift_report r;

		drift_report_init(&r);
		store_begin(s, &e);
		ok(drift_scan(d, 1763000000, 0, &r, &e) == 0, "a scan of an empty mirror");
		store_commit(s, &e);
		is_int(r.n, 1, "finds one thing");
		for (k = 0; k < r.n; k++)
			is_str(r.v[k].rule, "sync-stale", "the mirror was never synced");
		drift_report_done(&r);
	}
	drift_close(d);
	config_done(&cfg);
	catalog_free(cat);
	store_close(s);
	return t_done();
}
