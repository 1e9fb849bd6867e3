/*
 * cmd-replay: send a stored webhook event again.
 *
 *   tally replay DELIVERY|EVENT [--to URL | --via-stripe] [--dry-run] [--yes]
 *                [--confirm TEXT] [--reason TEXT]
 *   tally replay --failed [--since T] [--type TYPE] [--to URL | --via-stripe]
 *                [--dry-run] [--yes] [--confirm TEXT] [--reason TEXT]
 *
 * To an endpoint (--to, else webhook_endpoint_url): the raw body first
 * received, with a fresh Stripe-Signature made with the first webhook
 * secret.  Through Stripe: POST /v1/events/{id}/retry naming
 * webhook_endpoint_id.  Each attempt is a new delivery row and an audit
 * row.  --failed replays, oldest first, every stored event with a failed
 * delivery and no successful one, after showing how many, at most
 * replay_rate a second.  The work is actions_replay_* (src/core/actions.c).
 */
#include <stdio.h>
#include <string.h>

#include "actions.h"
#include "cmd.h"
#include "confirm.h"
#include "out.h"
#include "util.h"

static int
preview(const struct action_env *env, const void *req, struct action_preview *pv, struct err *e)
{
	return actions_replay_preview(env, req, pv, e);
}

static int
apply(const struct action_env *env, const void *req, struct action_outcome *out, struct err *e)
{
	return actions_replay_apply(env, req, out, e);
}

static int
run_bulk(struct cmd_ctx *c, const struct act_opts *o, const struct action_replay_filter *f,
         const struct action_replay *tmpl)
{
	struct action_env env;
	struct action_preview pv;
	struct action_outcome out;
	struct action_replay one;
	struct err e;
	char **ids = NULL, why[600], buf[1400];
	size_t n = 0, i, ok = 0, failed = 0;
	int64_t next = 0;
	json_t *results = NULL;
	int rc, code = EXIT_OK;

	act_env_init(c, &env);
	if (actions_replay_bulk_preview(&env, f, tmpl, &pv, &ids, &n, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	if (!c->json)
		printf("%zu event%s to replay\n", n, n == 1 ? "" : "s");
	act_print_preview(c, &pv);
	if (o->dry_run || pv.noop || pv.refused) {
		if (c->json)
			out_json(json_pack("{s:b, s:I, s:o}", "dry_run", o->dry_run, "count",
			    (json_int_t)n, "preview", act_preview_json(&pv)));
		else if (o->dry_run)
			printf("dry run: nothing was changed\n");
		code = pv.refused == ACTION_REFUSED_INPUT ? EXIT_USAGE
		    : pv.refused == ACTION_REFUSED_STATE ? EXIT_NO : EXIT_OK;
		goto out;
	}
	rc = act_confirm(&pv, o, why, sizeof why);
	if (rc <= 0) {
		if (actions_record_declined(&env, &pv, o->reason, why, &out, &e) != 0) {
			code = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
			goto out;
		}
		code = cmd_fail(c, rc < 0 ? EXIT_USAGE : EXIT_NO, "%s", out_clean(why, buf, sizeof buf));
		goto out;
	}
	results = json_array();
	for (i = 0; i < n; i++) {
		if (actions_replay_pace(&env, &next) != 0)
			break;
		one = *tmpl;
		one.target = ids[i];
		if (actions_replay_apply(&env, &one, &out, &e) != 0) {
			code = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
			goto out;
		}
		if (out.result == ACTION_OK)
			ok++;
		else
			failed++;
		if (c->json)
			json_array_append_new(results, act_outcome_json(&out));
		else
			printf("%s: %s\n", action_result_name(out.result),
			    out_clean(out.message, buf, sizeof buf));
		fflush(stdout);
	}
	if (c->json)
		out_json(json_pack("{s:b, s:I, s:I, s:I, s:O}", "dry_run", 0, "count", (json_int_t)n,
		    "ok", (json_int_t)ok, "failed", (json_int_t)failed, "results", results));
	else
		printf("replayed %zu of %zu: %zu ok, %zu failed\n", ok + failed, n, ok, failed);
	code = failed > 0 ? EXIT_RUNTIME : EXIT_OK;
out:
	json_decref(results);
	actions_ids_free(ids, n);
	action_preview_done(&pv);
	return code;
}

static int
run(struct cmd_ctx *c)
{
	struct action_replay r;
	struct action_replay_filter f;
	struct act_opts o;
	int i, k, bulk = 0;

	memset(&r, 0, sizeof r);
	memset(&f, 0, sizeof f);
	memset(&o, 0, sizeof o);
	for (i = 1; i < c->argc; i++) {
		const char *a = c->argv[i];

		if (a[0] != '-' || a[1] == '\0') {
			if (r.target != NULL)
				return cmd_usage(c, "unexpected argument '%s'", a);
			r.target = a;
			continue;
		}
		if ((k = act_flag(c, &i, &o)) < 0)
			return EXIT_USAGE;
		if (k > 0)
			continue;
		if (strcmp(a, "--via-stripe") == 0) {
			r.via_stripe = 1;
		} else if (strcmp(a, "--failed") == 0) {
			bulk = 1;
		} else if (strcmp(a, "--to") == 0 || strcmp(a, "--since") == 0 ||
		    strcmp(a, "--type") == 0) {
			if (i + 1 >= c->argc)
				return cmd_usage(c, "%s needs a value", a);
			if (strcmp(a, "--to") == 0)
				r.to_url = c->argv[++i];
			else if (strcmp(a, "--type") == 0)
				f.type = c->argv[++i];
			else if (time_parse(c->argv[++i], &f.since) != 0)
				return cmd_usage(c, "--since: expected Unix seconds or an RFC 3339 time, "
				    "got '%s'", c->argv[i]);
		} else {
			return cmd_usage(c, "unknown option '%s'", a);
		}
	}
	if (r.via_stripe && r.to_url != NULL)
		return cmd_usage(c, "--to and --via-stripe exclude each other");
	r.reason = o.reason;
	if (bulk) {
		if (r.target != NULL)
			return cmd_usage(c, "--failed replays a filtered set: give no DELIVERY or EVENT");
		return run_bulk(c, &o, &f, &r);
	}
	if (f.type != NULL || f.since != 0)
		return cmd_usage(c, "--since and --type go with --failed");
	if (r.target == NULL)
		return cmd_usage(c, "expected a delivery id, an event id, or --failed");
	return act_run(c, &o, preview, apply, &r);
}

const struct cmd_entry cmd_replay_entry = {
	"replay", "DELIVERY|EVENT | --failed [--since T] [--type TYPE]  [--to URL | --via-stripe] "
	"[--dry-run] [--yes] [--confirm TEXT] [--reason TEXT]",
	"send a stored webhook event again: signed, to the endpoint, or through Stripe's retry",
	CMD_STORE | CMD_WRITES | CMD_CATALOG, run
};
