/*
 * cmd-deliveries: webhook deliveries, newest first, a page at a time;
 * --failed keeps the failed ones and those whose signature did not verify.
 */
#include "cmd.h"
#include "out.h"

static const struct out_list list = {
	.query = "deliveries",
	.opts = {
		{ "--failed", OUT_OPT_SWITCH, NULL },
		{ "--customer", OUT_OPT_TEXT, NULL },
	},
	.key = "id",
	.key_int = 1,
	.key_what = "a delivery id",
	.limit = 100,
};

static int
run(struct cmd_ctx *c)
{
	return out_list_run(c, &list);
}

const struct cmd_entry cmd_deliveries_entry = {
	"deliveries", "[--failed] [--customer ID] [--after ID] [--limit N]",
	"webhook deliveries, newest first, with signature state",
	CMD_STORE, run
};
