/*
 * cmd-alerts: drift alerts, newest first, a page at a time; by default the
 * open and acknowledged ones.  doc/drift.md says what each rule finds.
 */
#include <string.h>

#include "cmd.h"
#include "drift.h"
#include "out.h"

static const char *const json_cols[] = { "evidence", NULL };

static const struct out_list list = {
	.query = "alerts",
	.opts = {
		{ "--rule", OUT_OPT_TEXT, NULL },
		{ "--state", OUT_OPT_TEXT, NULL },
		{ "--customer", OUT_OPT_TEXT, NULL },
	},
	.key = "id",
	.key_int = 1,
	.key_what = "an alert id",
	.limit = 100,
	.json_cols = json_cols,
};

static int
run(struct cmd_ctx *c)
{
	static const char *const states[] = { "open", "acknowledged", "resolved", "all", NULL };
	int i, k;

	/* The values out_list_run would pass on as they are: a typo must not
	 * look like "no alerts". */
	for (i = 1; i + 1 < c->argc; i++) {
		const char *v = c->argv[i + 1];

		if (strcmp(c->argv[i], "--state") == 0) {
			for (k = 0; states[k] != NULL && strcmp(states[k], v) != 0; k++)
				;
			if (states[k] == NULL)
				return cmd_usage(c, "--state: expected open, acknowledged, resolved or all, "
				    "got '%s'", v);
			i++;
		} else if (strcmp(c->argv[i], "--rule") == 0) {
			if (drift_rule(v) == NULL)
				return cmd_usage(c, "--rule: no rule '%s' (see doc/drift.md)", v);
			i++;
		}
	}
	return out_list_run(c, &list);
}

const struct cmd_entry cmd_alerts_entry = {
	"alerts", "[--rule R] [--state S] [--customer ID] [--after ID] [--limit N]",
	"drift alerts, newest first (open and acknowledged unless --state says)",
	CMD_STORE, run
};
