/*
 * cmd-events: Stripe events in the mirror, newest first, with what tally
 * did with each (applied, superseded, conflict, stored).
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "out.h"
#include "util.h"

static int
run(struct cmd_ctx *c)
{
	const char *customer = NULL, *before = NULL, *limit = "100";
	struct out_rows o;
	struct err e;
	int i;

	for (i = 1; i < c->argc; i++) {
		int64_t n;

		if (strcmp(c->argv[i], "--customer") == 0 && i + 1 < c->argc)
			customer = c->argv[++i];
		else if (strcmp(c->argv[i], "--before") == 0 && i + 1 < c->argc) {
			before = c->argv[++i];
			if (parse_int64(before, &n) != 0)
				return cmd_usage(c, "--before: expected Unix seconds, got '%s'", before);
		} else if (strcmp(c->argv[i], "--limit") == 0 && i + 1 < c->argc) {
			limit = c->argv[++i];
			if (parse_int64(limit, &n) != 0 || n <= 0)
				return cmd_usage(c, "--limit: expected a positive number, got '%s'", limit);
		} else
			return cmd_usage(c, "unexpected argument '%s'", c->argv[i]);
	}
	out_rows_init(&o, c->json);
	{
		const char *p[3] = { customer, before, limit };

		if (query_run(c->s, "events", p, 3, out_rows_add, &o, &e) < 0) {
			out_rows_flush(&o, stdout);
			return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		}
	}
	out_rows_flush(&o, stdout);
	return EXIT_OK;
}

const struct cmd_entry cmd_events_entry = {
	"events", "[--customer ID] [--before T] [--limit N]", "Stripe events, newest first, and their fate",
	CMD_STORE, run
};
