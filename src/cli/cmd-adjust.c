/*
 * cmd-adjust: add or take credits by hand, with a reason, under an
 * idempotency key, optionally pushed to Stripe.
 *
 *   tally adjust CUSTOMER AMOUNT --reason TEXT [--key KEY]
 *                [--push balance|grant|none] [--dry-run] [--yes] [--confirm TEXT]
 *
 * The work is actions_adjust_* (src/core/actions.c); this file parses the
 * words.  AMOUNT is a signed whole number of credits ("-500" is an amount,
 * not an option).
 */
#include <string.h>

#include "actions.h"
#include "cmd.h"
#include "confirm.h"
#include "util.h"

static int
preview(const struct action_env *env, const void *req, struct action_preview *pv, struct err *e)
{
	return actions_adjust_preview(env, req, pv, e);
}

static int
apply(const struct action_env *env, const void *req, struct action_outcome *out, struct err *e)
{
	return actions_adjust_apply(env, req, out, e);
}

/* A signed whole number, as AMOUNT may be. */
static int
is_amount(const char *s)
{
	int64_t v;

	return (s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')) && parse_int64(s, &v) == 0;
}

static int
run(struct cmd_ctx *c)
{
	struct action_adjust r;
	struct act_opts o;
	const char *pos[2] = { NULL, NULL };
	int i, npos = 0, k;

	memset(&r, 0, sizeof r);
	memset(&o, 0, sizeof o);
	for (i = 1; i < c->argc; i++) {
		const char *a = c->argv[i];

		if (a[0] != '-' || a[1] == '\0' || is_amount(a)) {
			if (npos >= 2)
				return cmd_usage(c, "unexpected argument '%s'", a);
			pos[npos++] = a;
			continue;
		}
		if ((k = act_flag(c, &i, &o)) < 0)
			return EXIT_USAGE;
		if (k > 0)
			continue;
		if (strcmp(a, "--key") == 0 || strcmp(a, "--push") == 0) {
			if (i + 1 >= c->argc)
				return cmd_usage(c, "%s needs a value", a);
			if (strcmp(a, "--key") == 0)
				r.key = c->argv[++i];
			else if (action_push_parse(c->argv[++i], &r.push) != 0)
				return cmd_usage(c, "--push: expected balance, grant or none, got '%s'",
				    c->argv[i]);
			continue;
		}
		return cmd_usage(c, "unknown option '%s'", a);
	}
	if (npos < 2)
		return cmd_usage(c, "expected a customer id and an amount");
	if (parse_int64(pos[1], &r.amount) != 0)
		return cmd_usage(c, "AMOUNT: expected a signed whole number of credits, got '%s'",
		    pos[1]);
	if (r.amount == 0)
		return cmd_usage(c, "AMOUNT: an adjustment of 0 changes nothing");
	if (o.reason == NULL || o.reason[0] == '\0')
		return cmd_usage(c, "--reason TEXT is required: say why, for the audit log");
	r.customer = pos[0];
	r.reason = o.reason;
	return act_run(c, &o, preview, apply, &r);
}

const struct cmd_entry cmd_adjust_entry = {
	"adjust", "CUSTOMER AMOUNT --reason TEXT [--key KEY] [--push balance|grant|none] "
	"[--dry-run] [--yes] [--confirm TEXT]",
	"add (or, negative, take) credits by hand under an idempotency key, optionally pushed "
	"to Stripe",
	CMD_STORE | CMD_WRITES | CMD_CATALOG, run
};
