/*
 * cmd-quarantine: input set aside, with where it came from and why.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "out.h"
#include "util.h"

static int
run(struct cmd_ctx *c)
{
	const char *limit = "1000";
	struct out_rows o;
	struct err e;
	int i;

	for (i = 1; i < c->argc; i++) {
		int64_t n;

		if (strcmp(c->argv[i], "--limit") == 0 && i + 1 < c->argc) {
			limit = c->argv[++i];
			if (parse_int64(limit, &n) != 0 || n <= 0)
				return cmd_usage(c, "--limit: expected a positive number, got '%s'", limit);
		} else
			return cmd_usage(c, "unexpected argument '%s'", c->argv[i]);
	}
	out_rows_init(&o, c->json);
	{
		const char *p[1] = { limit };

		if (query_run(c->s, "quarantine", p, 1, out_rows_add, &o, &e) < 0) {
			out_rows_flush(&o, stdout);
			return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		}
	}
	out_rows_flush(&o, stdout);
	return EXIT_OK;
}

const struct cmd_entry cmd_quarantine_entry = {
	"quarantine", "[--limit N]", "input set aside: file, byte offset and reason",
	CMD_STORE, run
};
