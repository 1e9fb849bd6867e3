/*
 * cmd-deliveries: webhook deliveries, newest first; --failed keeps the
 * failed ones and those whose signature did not verify.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "out.h"
#include "util.h"

static int
run(struct cmd_ctx *c)
{
	const char *failed = "0", *customer = NULL, *limit = "100";
	struct out_rows o;
	struct err e;
	int i;

	for (i = 1; i < c->argc; i++) {
		int64_t n;

		if (strcmp(c->argv[i], "--failed") == 0)
			failed = "1";
		else if (strcmp(c->argv[i], "--customer") == 0 && i + 1 < c->argc)
			customer = c->argv[++i];
		else if (strcmp(c->argv[i], "--limit") == 0 && i + 1 < c->argc) {
			limit = c->argv[++i];
			if (parse_int64(limit, &n) != 0 || n <= 0)
				return cmd_usage(c, "--limit: expected a positive number, got '%s'", limit);
		} else
			return cmd_usage(c, "unexpected argument '%s'", c->argv[i]);
	}
	out_rows_init(&o, c->json);
	{
		const char *p[3] = { failed, customer, limit };

		if (query_run(c->s, "deliveries", p, 3, out_rows_add, &o, &e) < 0) {
			out_rows_flush(&o, stdout);
			return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		}
	}
	out_rows_flush(&o, stdout);
	return EXIT_OK;
}

const struct cmd_entry cmd_deliveries_entry = {
	"deliveries", "[--failed] [--customer ID] [--limit N]",
	"webhook deliveries, newest first, with signature state",
	CMD_STORE, run
};
