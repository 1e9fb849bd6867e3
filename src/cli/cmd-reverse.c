/*
 * cmd-reverse: undo a ledger entry by appending its reversal
 * (reverse:<key>, the amount negated).  An entry is reversed once; a
 * reversal and an expiry are not reversed.
 *
 *   tally reverse ENTRY --reason TEXT [--dry-run] [--yes] [--confirm TEXT]
 *
 * ENTRY is the entry's seq number or its key.  The work is
 * actions_reverse_* (src/core/actions.c).
 */
#include <string.h>

#include "actions.h"
#include "cmd.h"
#include "confirm.h"

static int
preview(const struct action_env *env, const void *req, struct action_preview *pv, struct err *e)
{
	return actions_reverse_preview(env, req, pv, e);
}

static int
apply(const struct action_env *env, const void *req, struct action_outcome *out, struct err *e)
{
	return actions_reverse_apply(env, req, out, e);
}

static int
run(struct cmd_ctx *c)
{
	struct action_reverse r;
	struct act_opts o;
	int i, k;

	memset(&r, 0, sizeof r);
	memset(&o, 0, sizeof o);
	for (i = 1; i < c->argc; i++) {
		const char *a = c->argv[i];

		if (a[0] != '-' || a[1] == '\0') {
			if (r.entry != NULL)
				return cmd_usage(c, "unexpected argument '%s'", a);
			r.entry = a;
			continue;
		}
		if ((k = act_flag(c, &i, &o)) < 0)
			return EXIT_USAGE;
		if (k == 0)
			return cmd_usage(c, "unknown option '%s'", a);
	}
	if (r.entry == NULL)
		return cmd_usage(c, "expected an entry: its seq number or its key");
	if (o.reason == NULL || o.reason[0] == '\0')
		return cmd_usage(c, "--reason TEXT is required: say why, for the audit log");
	r.reason = o.reason;
	return act_run(c, &o, preview, apply, &r);
}

const struct cmd_entry cmd_reverse_entry = {
	"reverse", "ENTRY --reason TEXT [--dry-run] [--yes] [--confirm TEXT]",
	"append the reversal of a ledger entry (once; nothing is edited or deleted)",
	CMD_STORE | CMD_WRITES | CMD_CATALOG, run
};
