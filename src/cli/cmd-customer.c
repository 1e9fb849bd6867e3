/*
 * cmd-customer: one customer: its record, subscriptions, invoices (with the
 * credits each granted), and its balance.  Exit 1 when unknown.
 */
#include <stdio.h>

#include "cmd.h"
#include "out.h"

static int
first_row(const struct qval *cols, int ncols, void *arg)
{
	json_t **o = arg;

	*o = out_row_json(cols, ncols);
	return 1;
}

static int
run(struct cmd_ctx *c)
{
	const char *p[1];
	json_t *rec = NULL;
	static const char *const json_cols[] = { "evidence", NULL };
	struct out_rows subs, invs, alerts;
	struct err e;
	char buf[300];
	int n;

	if (c->argc != 2)
		return cmd_usage(c, "expected one customer id");
	p[0] = c->argv[1];
	n = query_run(c->s, "customer", p, 1, first_row, &rec, &e);
	if (n < 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	if (n == 0)
		return cmd_fail(c, EXIT_NO, "no customer %s in the mirror", out_clean(p[0], buf, sizeof buf));

	out_rows_init(&subs, c->json);
	out_rows_init(&invs, c->json);
	/* The drift alerts that touch it, not resolved (doc/drift.md). */
	out_rows_init(&alerts, c->json);
	alerts.json_cols = json_cols;
	if (query_run(c->s, "customer-subscriptions", p, 1, out_rows_add, &subs, &e) < 0 ||
	    query_run(c->s, "customer-invoices", p, 1, out_rows_add, &invs, &e) < 0 ||
	    query_run(c->s, "customer-alerts", p, 1, out_rows_add, &alerts, &e) < 0) {
		json_decref(rec);
		out_rows_done(&alerts);
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	}
	if (c->json) {
		json_object_set_new(rec, "subscriptions", json_incref(subs.array));
		json_object_set_new(rec, "invoices", json_incref(invs.array));
		json_object_set_new(rec, "alerts", json_incref(alerts.array));
		json_object_set_new(rec, "unit", json_string(c->cat->unit));
		json_decref(subs.array);
		json_decref(invs.array);
		out_rows_done(&alerts);
		out_json(rec);
		return EXIT_OK;
	}
	{
		const char *key;
		json_t *v;

		json_object_foreach(rec, key, v) {
			if (json_is_string(v))
				printf("%-12s %s\n", key, out_clean(json_string_value(v), buf, sizeof buf));
			else if (json_is_integer(v))
				printf("%-12s %lld\n", key, (long long)json_integer_value(v));
		}
	}
	json_decref(rec);
	printf("\nsubscriptions\n");
	out_rows_flush(&subs, stdout);
	printf("\ninvoices\n");
	out_rows_flush(&invs, stdout);
	printf("\nalerts (not resolved; tally alerts --customer %s)\n", out_clean(p[0], buf, sizeof buf));
	out_rows_flush(&alerts, stdout);
	return EXIT_OK;
}

const struct cmd_entry cmd_customer_entry = {
	"customer", "CUSTOMER", "one customer: subscriptions, invoices and the credits they granted",
	CMD_STORE | CMD_CATALOG, run
};
