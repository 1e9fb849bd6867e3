/*
 * cmd-quarantine: input set aside, oldest first, with where it came from
 * and why, a page at a time.
 */
#include "cmd.h"
#include "out.h"

static const struct out_list list = {
	.query = "quarantine",
	.key = "id",
	.key_int = 1,
	.key_what = "a quarantine id",
	.limit = 1000,
};

static int
run(struct cmd_ctx *c)
{
	return out_list_run(c, &list);
}

const struct cmd_entry cmd_quarantine_entry = {
	"quarantine", "[--after ID] [--limit N]", "input set aside: file, byte offset and reason",
	CMD_STORE, run
};
