/*
 * cmd-customers: the customers in the mirror, by id, keyset-paginated.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "out.h"
#include "util.h"

static int
run(struct cmd_ctx *c)
{
	const char *after = NULL, *limit = "100";
	struct out_rows o;
	struct err e;
	int i;

	for (i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--after") == 0 && i + 1 < c->argc)
			after = c->argv[++i];
		else if (strcmp(c->argv[i], "--limit") == 0 && i + 1 < c->argc) {
			int64_t n;

			limit = c->argv[++i];
			if (parse_int64(limit, &n) != 0 || n <= 0)
				return cmd_usage(c, "--limit: expected a positive number, got '%s'", limit);
		} else
			return cmd_usage(c, "unexpected argument '%s'", c->argv[i]);
	}
	out_rows_init(&o, c->json);
	{
		const char *p[2] = { after, limit };

		if (query_run(c->s, "customers", p, 2, out_rows_add, &o, &e) < 0) {
			out_rows_flush(&o, stdout);
			return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		}
	}
	out_rows_flush(&o, stdout);
	return EXIT_OK;
}

const struct cmd_entry cmd_customers_entry = {
	"customers", "[--after ID] [--limit N]", "list customers with balance and subscription states",
	CMD_STORE, run
};
