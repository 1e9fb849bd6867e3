/*
 * cmd-access: does this customer have this feature, and why.  Exit 0 allow,
 * 1 deny.
 */
#include <stdio.h>

#include "access.h"
#include "cmd.h"
#include "out.h"
#include "util.h"

static int
run(struct cmd_ctx *c)
{
	static const char *const json_cols[] = { "evidence", NULL };
	struct access_answer a;
	struct out_rows alerts;
	struct err e;
	char buf[600];
	int i;

	if (c->argc != 3)
		return cmd_usage(c, "expected a customer id and a feature");
	if (access_check(c->s, c->cat, c->argv[1], c->argv[2], tally_now(), c->cfg.stale_after,
	    &a, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	/* The drift alerts that touch the customer, not resolved. */
	out_rows_init(&alerts, c->json);
	alerts.json_cols = json_cols;
	if (query_run(c->s, "customer-alerts", (const char *const *)&c->argv[1], 1, out_rows_add,
	    &alerts, &e) < 0) {
		out_rows_done(&alerts);
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	}
	if (c->json) {
		json_t *j = json_object(), *trace = json_array();

		json_object_set_new(j, "customer", json_string(c->argv[1]));
		json_object_set_new(j, "feature", json_string(c->argv[2]));
		json_object_set_new(j, "decision", json_string(a.allow ? "allow" : "deny"));
		json_object_set_new(j, "reason", json_string(a.reason));
		json_object_set_new(j, "detail", json_string(a.detail));
		json_object_set_new(j, "subscription",
		    a.subscription[0] ? json_string(a.subscription) : json_null());
		for (i = 0; i < a.ntrace; i++)
			json_array_append_new(trace, json_pack("{ss sb ss}", "rule", a.trace[i].rule,
			    "pass", a.trace[i].pass, "detail", a.trace[i].detail));
		json_object_set_new(j, "trace", trace);
		json_object_set_new(j, "mirror_age_seconds",
		    a.mirror_age >= 0 ? json_integer(a.mirror_age) : json_null());
		json_object_set_new(j, "stale", json_boolean(a.stale));
		json_object_set_new(j, "alerts", json_incref(alerts.array));
		out_rows_done(&alerts);
		out_json(j);
	} else {
		printf("%s: %s (%s)\n", a.allow ? "allow" : "deny", out_clean(a.detail, buf, sizeof buf),
		    a.reason);
		for (i = 0; i < a.ntrace; i++)
			printf("  %s %-13s %s\n", a.trace[i].pass ? "ok  " : "FAIL", a.trace[i].rule,
			    out_clean(a.trace[i].detail, buf, sizeof buf));
		if (a.mirror_age < 0)
			printf("mirror: never synced or ingested (stale)\n");
		else
			printf("mirror: %llds old%s\n", (long long)a.mirror_age,
			    a.stale ? " (STALE: past the threshold; run tally sync or ingest)" : "");
		if (alerts.nrows > 0) {
			printf("alerts on this customer (not resolved):\n");
			out_rows_flush(&alerts, stdout);
		} else {
			out_rows_done(&alerts);
		}
	}
	return a.allow ? EXIT_OK : EXIT_NO;
}

const struct cmd_entry cmd_access_entry = {
	"access", "CUSTOMER FEATURE", "allow or deny, with the reason and every rule checked",
	CMD_STORE | CMD_CATALOG, run
};
