/*
 * confirm: what the action commands (adjust, reverse, resync, replay)
 * share on the command line: their common flags, the preview printed as
 * text or JSON, the confirmation (a y/N prompt or a typed text on a
 * terminal; --yes, --confirm TEXT without one), the outcome, and the exit
 * code it maps to.  The decisions themselves are the core's (actions.h).
 */
#ifndef TALLY_CLI_CONFIRM_H
#define TALLY_CLI_CONFIRM_H

#include "actions.h"
#include "cmd.h"

struct act_opts {
	int dry_run;
	int yes;
	const char *confirm;    /* --confirm TEXT: the typed confirmation */
	const char *reason;
};

/* Take argv[*i] if it is --dry-run, --yes, --confirm TEXT or --reason
 * TEXT (moving *i past a value).  1 taken, 0 not one of them, -1 usage
 * error already printed (a flag without its value). */
int act_flag(struct cmd_ctx *c, int *i, struct act_opts *o);

void act_env_init(struct cmd_ctx *c, struct action_env *env);

typedef int (*act_preview_fn)(const struct action_env *env, const void *req,
                              struct action_preview *pv, struct err *e);
typedef int (*act_apply_fn)(const struct action_env *env, const void *req,
                            struct action_outcome *out, struct err *e);

/* One action, start to end: preview, print it, stop there for --dry-run,
 * confirm, apply, print the outcome.  Returns the exit code: 0 ok or
 * no-op (a dry run: 0 unless the preview refuses), 1 refused by the
 * mirror's state or declined, 2 refused for what was asked or no way to
 * confirm, 3 failed or pending. */
int act_run(struct cmd_ctx *c, const struct act_opts *o, act_preview_fn preview,
            act_apply_fn apply, const void *req);

/* Pieces of act_run, for commands with their own flow (bulk replay,
 * resync). */
void act_print_preview(struct cmd_ctx *c, const struct action_preview *pv);
json_t *act_preview_json(const struct action_preview *pv);     /* new reference */
json_t *act_outcome_json(const struct action_outcome *out);    /* new reference */
/* 1 confirmed, 0 declined, -1 no way to confirm; why[] says why not. */
int act_confirm(const struct action_preview *pv, const struct act_opts *o, char *why, size_t n);
int act_exit_code(const struct action_outcome *out);

#endif
