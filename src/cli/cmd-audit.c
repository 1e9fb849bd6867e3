/*
 * cmd-audit: the audit log of operator actions, newest first, a page at a
 * time: who did what to which target, why, under which key, the state
 * before and after (JSON), the result (ok, noop, refused, failed, pending)
 * and Stripe's request id.  --pending keeps adjustments whose push to
 * Stripe is not confirmed yet (doc/actions.md).
 */
#include "cmd.h"
#include "out.h"

static const struct out_list list = {
	.query = "audit",
	.opts = {
		{ "--action", OUT_OPT_TEXT, NULL },
		{ "--target", OUT_OPT_TEXT, NULL },
		{ "--result", OUT_OPT_TEXT, NULL },
		{ "--pending", OUT_OPT_SWITCH, NULL },
	},
	.key = "id",
	.key_int = 1,
	.key_what = "an audit id",
	.cursor_check = "audit-exists",
	.limit = 100,
};

static int
run(struct cmd_ctx *c)
{
	return out_list_run(c, &list);
}

const struct cmd_entry cmd_audit_entry = {
	"audit", "[--action A] [--target T] [--result R] [--pending] [--after ID] [--limit N]",
	"the audit log of operator actions, newest first",
	CMD_STORE, run
};
