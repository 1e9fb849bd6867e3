/*
 * cmd-events: Stripe events in the mirror, newest first, with what tally
 * did with each (applied, superseded, conflict, stored), a page at a time.
 */
#include "cmd.h"
#include "out.h"

static const struct out_list list = {
	.query = "events",
	.opts = {
		{ "--customer", OUT_OPT_TEXT, NULL },
		{ "--before", OUT_OPT_INT, "Unix seconds" },
	},
	.key = "id",
	.key_what = "an event id",
	.cursor_check = "event-exists",
	.limit = 100,
};

static int
run(struct cmd_ctx *c)
{
	return out_list_run(c, &list);
}

const struct cmd_entry cmd_events_entry = {
	"events", "[--customer ID] [--before T] [--after ID] [--limit N]",
	"Stripe events, newest first, and their fate",
	CMD_STORE, run
};
