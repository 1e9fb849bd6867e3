/*
 * cmd-ledger: one customer's ledger entries in sequence, keyset-paginated.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "out.h"
#include "util.h"

static int
run(struct cmd_ctx *c)
{
	const char *after = NULL, *limit = "1000", *customer = NULL;
	struct out_rows o;
	struct err e;
	int i;

	for (i = 1; i < c->argc; i++) {
		int64_t n;

		if (strcmp(c->argv[i], "--after") == 0 && i + 1 < c->argc) {
			after = c->argv[++i];
			if (parse_int64(after, &n) != 0)
				return cmd_usage(c, "--after: expected an entry number, got '%s'", after);
		} else if (strcmp(c->argv[i], "--limit") == 0 && i + 1 < c->argc) {
			limit = c->argv[++i];
			if (parse_int64(limit, &n) != 0 || n <= 0)
				return cmd_usage(c, "--limit: expected a positive number, got '%s'", limit);
		} else if (customer == NULL && c->argv[i][0] != '-')
			customer = c->argv[i];
		else
			return cmd_usage(c, "unexpected argument '%s'", c->argv[i]);
	}
	if (customer == NULL)
		return cmd_usage(c, "expected a customer id");
	out_rows_init(&o, c->json);
	{
		const char *p[3] = { customer, after, limit };

		if (query_run(c->s, "ledger", p, 3, out_rows_add, &o, &e) < 0) {
			out_rows_flush(&o, stdout);
			return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		}
	}
	out_rows_flush(&o, stdout);
	return EXIT_OK;
}

const struct cmd_entry cmd_ledger_entry = {
	"ledger", "CUSTOMER [--after SEQ] [--limit N]", "a customer's ledger entries, oldest first",
	CMD_STORE, run
};
