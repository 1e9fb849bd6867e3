/*
 * cmd-resync: fetch one customer's objects from Stripe now, apply them
 * through the same path as sync, and report what changed: objects written,
 * ledger entries added, balance, and access to every catalog feature before
 * and after.
 *
 *   tally resync CUSTOMER [--dry-run] [--reason TEXT]
 *
 * --dry-run fetches and applies inside a transaction that is rolled back:
 * the report is exact and nothing is kept.  Resync writes nothing to Stripe
 * and applies only what sync would, so it asks for no confirmation (--yes
 * is accepted and changes nothing).  The work is actions_resync_*
 * (src/core/actions.c).
 */
#include <stdio.h>
#include <string.h>

#include "actions.h"
#include "cmd.h"
#include "confirm.h"
#include "out.h"

static void
print_report(const struct action_outcome *out)
{
	const struct action_resync_report *rep = &out->resync;
	char b1[400], b2[100];
	int i;

	printf("objects: %lld fetched, %lld written (newer than the mirror), %lld unchanged, "
	    "%lld conflicts (marked for refetch), %lld quarantined\n", (long long)rep->counts.objects,
	    (long long)rep->counts.changed, (long long)rep->counts.unchanged,
	    (long long)rep->counts.conflicts, (long long)rep->counts.quarantined);
	printf("balance: %lld -> %lld\n", (long long)out->balance_before,
	    (long long)out->balance_after);
	printf("ledger:  %d entries added\n", rep->nentries);
	for (i = 0; i < rep->nentries && i < ACTION_MAX_ENTRIES; i++)
		printf("         + %s %+lld %s\n", rep->entries[i].kind,
		    (long long)rep->entries[i].amount, out_clean(rep->entries[i].key, b1, sizeof b1));
	if (rep->nentries > ACTION_MAX_ENTRIES)
		printf("         ... and %d more\n", rep->nentries - ACTION_MAX_ENTRIES);
	for (i = 0; i < rep->nfeatures; i++)
		printf("%s %-16s %s (%s) -> %s (%s)%s\n", i == 0 ? "access: " : "        ",
		    out_clean(rep->features[i].feature, b2, sizeof b2),
		    rep->features[i].before ? "allow" : "deny", rep->features[i].reason_before,
		    rep->features[i].after ? "allow" : "deny", rep->features[i].reason_after,
		    rep->features[i].before != rep->features[i].after ? "  CHANGED" : "");
	printf("alerts:  %d changed%s\n", rep->nalerts, rep->drift_checked ? "" : " (not re-evaluated)");
	for (i = 0; i < rep->nalerts && i < 8; i++)
		printf("         %s\n", out_clean(rep->alerts[i], b1, sizeof b1));
}

static int
run(struct cmd_ctx *c)
{
	struct action_resync r;
	struct action_env env;
	struct action_preview pv;
	struct action_outcome out;
	struct act_opts o;
	struct err e;
	char buf[1400];
	int i, k;

	memset(&r, 0, sizeof r);
	memset(&o, 0, sizeof o);
	for (i = 1; i < c->argc; i++) {
		const char *a = c->argv[i];

		if (a[0] != '-' || a[1] == '\0') {
			if (r.customer != NULL)
				return cmd_usage(c, "unexpected argument '%s'", a);
			r.customer = a;
			continue;
		}
		if ((k = act_flag(c, &i, &o)) < 0)
			return EXIT_USAGE;
		if (k == 0 || o.confirm != NULL)
			return cmd_usage(c, "unknown option '%s'", a);
	}
	if (r.customer == NULL)
		return cmd_usage(c, "expected a customer id");
	r.reason = o.reason;
	r.dry_run = o.dry_run;
	act_env_init(c, &env);
	if (actions_resync_preview(&env, &r, &pv, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	act_print_preview(c, &pv);
	if (pv.refused) {
		action_preview_done(&pv);
		if (!o.dry_run && actions_resync_run(&env, &r, &out, &e) != 0)
			return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		return cmd_fail(c, pv.refused == ACTION_REFUSED_INPUT ? EXIT_USAGE : EXIT_NO, "%s",
		    out_clean(pv.why, buf, sizeof buf));
	}
	action_preview_done(&pv);
	if (actions_resync_run(&env, &r, &out, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	if (c->json) {
		json_t *j = act_outcome_json(&out);
		json_t *acc = json_object(), *ents = json_array();

		json_object_set_new(j, "dry_run", json_boolean(o.dry_run));
		json_object_set_new(j, "customer", json_string(r.customer));
		json_object_set_new(j, "objects", json_integer(out.resync.counts.objects));
		json_object_set_new(j, "written", json_integer(out.resync.counts.changed));
		json_object_set_new(j, "unchanged", json_integer(out.resync.counts.unchanged));
		json_object_set_new(j, "conflicts", json_integer(out.resync.counts.conflicts));
		json_object_set_new(j, "quarantined", json_integer(out.resync.counts.quarantined));
		for (i = 0; i < out.resync.nentries && i < ACTION_MAX_ENTRIES; i++)
			json_array_append_new(ents, json_pack("{s:s, s:s, s:I}",
			    "key", out.resync.entries[i].key, "kind", out.resync.entries[i].kind,
			    "amount", (json_int_t)out.resync.entries[i].amount));
		json_object_set_new(j, "entries", ents);
		for (i = 0; i < out.resync.nfeatures; i++)
			json_object_set_new(acc, out.resync.features[i].feature,
			    json_pack("{s:b, s:s, s:b, s:s}",
			    "before", out.resync.features[i].before,
			    "reason_before", out.resync.features[i].reason_before,
			    "after", out.resync.features[i].after,
			    "reason_after", out.resync.features[i].reason_after));
		json_object_set_new(j, "access", acc);
		json_object_set_new(j, "alerts_rechecked", json_boolean(out.resync.drift_checked));
		{
			json_t *al = json_array();

			for (i = 0; i < out.resync.nalerts && i < 8; i++)
				json_array_append_new(al, json_string(out.resync.alerts[i]));
			json_object_set_new(j, "alert_changes", al);
		}
		out_json(j);
	} else {
		printf("%s: %s\n", action_result_name(out.result),
		    out_clean(out.message, buf, sizeof buf));
		if (out.result == ACTION_OK)
			print_report(&out);
		if (o.dry_run)
			printf("dry run: nothing was changed\n");
	}
	return act_exit_code(&out);
}

const struct cmd_entry cmd_resync_entry = {
	"resync", "CUSTOMER [--dry-run] [--reason TEXT]",
	"fetch one customer's objects from Stripe now, apply them, and report what changed",
	CMD_STORE | CMD_WRITES | CMD_CATALOG, run
};
