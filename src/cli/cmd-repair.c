/*
 * cmd-repair: run the repair a drift alert's rule offers (doc/drift.md).
 *
 *   tally repair ALERT_ID [--dry-run] [--yes] [--reason TEXT]
 *
 * First the repair runs in a transaction that is rolled back, which shows
 * exactly what it would change (ledger entries, balance, the alert's state
 * after); --dry-run stops there.  Then it asks: --yes, or "y" typed on a
 * terminal; with neither (no terminal, no --yes) it refuses, exit 2.  Then
 * it runs for real, with one audit row (operator, time, reason, before and
 * after).  A resync fetches the customer from the Stripe API (it needs a
 * key) and applies it through the same path as the sync.
 *
 * Exit: 0 done (or dry run, or the condition had cleared), 1 no such alert,
 * already resolved, declined, or the repair cannot apply in this state, 2
 * usage, no automatic repair for the rule, no API key for a resync, or no
 * confirmation, 3 runtime failure.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "actions.h"
#include "cmd.h"
#include "confirm.h"
#include "drift.h"
#include "out.h"
#include "sync.h"
#include "util.h"

static const char *
kind_name(enum drift_repair_kind k)
{
	switch (k) {
	case DRIFT_REPAIR_NONE:         return "none";
	case DRIFT_REPAIR_LEDGER:       return "ledger";
	case DRIFT_REPAIR_RESYNC:       return "resync";
	}
	return "?";
}

static void
print_alert(const struct drift_alert *a)
{
	char s1[300], s2[300], s3[600];

	printf("alert %lld: %s %s %s%s%s%s\n  %s\n", (long long)a->id, a->severity, a->rule,
	    out_clean(a->subject, s1, sizeof s1), a->customer[0] ? " (" : "",
	    a->customer[0] ? out_clean(a->customer, s2, sizeof s2) : "", a->customer[0] ? ")" : "",
	    out_clean(a->summary, s3, sizeof s3));
}

static void
print_result(const struct drift_repair *r, int dry)
{
	char t1[32], t2[32], s1[400], s2[600];
	int i;

	printf("%s: %s\n", dry ? "would" : "repair", out_clean(r->what, s2, sizeof s2));
	for (i = 0; i < r->nentries && i < DRIFT_REPAIR_MAX_ENTRIES; i++) {
		time_fmt(r->entries[i].effective_at, t1, sizeof t1);
		time_fmt(r->entries[i].expires_at, t2, sizeof t2);
		printf("  + entry %lld %-8s %-40s %+lld  effective %s%s%s\n",
		    (long long)r->entries[i].seq, r->entries[i].kind,
		    out_clean(r->entries[i].key, s1, sizeof s1), (long long)r->entries[i].amount, t1,
		    r->entries[i].expires_at ? ", expires " : "", r->entries[i].expires_at ? t2 : "");
	}
	if (r->nentries > DRIFT_REPAIR_MAX_ENTRIES)
		printf("  ... and %d more entries\n", r->nentries - DRIFT_REPAIR_MAX_ENTRIES);
	if (r->cache_fixed)
		printf("  cached balance recomputed from the ledger\n");
	if (r->customer[0])
		printf("  balance of %s: %lld -> %lld (ledger sum %lld -> %lld)\n",
		    out_clean(r->customer, s1, sizeof s1), (long long)r->balance_before,
		    (long long)r->balance_after, (long long)r->sum_before, (long long)r->sum_after);
	printf("  the alert after the re-check: %s\n", r->state_after[0] ? r->state_after : "-");
}

static json_t *
result_json(const struct drift_alert *a, const struct drift_repair *r, int dry, int done)
{
	json_t *j = json_object(), *entries = json_array();
	int i;

	for (i = 0; i < r->nentries && i < DRIFT_REPAIR_MAX_ENTRIES; i++)
		json_array_append_new(entries, json_pack("{sI ss ss sI sI so}",
		    "seq", (json_int_t)r->entries[i].seq, "key", r->entries[i].key,
		    "kind", r->entries[i].kind, "amount", (json_int_t)r->entries[i].amount,
		    "effective_at", (json_int_t)r->entries[i].effective_at,
		    "expires_at", r->entries[i].expires_at ? json_integer(r->entries[i].expires_at)
		    : json_null()));
	json_object_set_new(j, "alert", json_integer(a->id));
	json_object_set_new(j, "rule", json_string(a->rule));
	json_object_set_new(j, "subject", json_string(a->subject));
	json_object_set_new(j, "customer", a->customer[0] ? json_string(a->customer) : json_null());
	json_object_set_new(j, "repair", json_string(r->what));
	json_object_set_new(j, "kind", json_string(kind_name(r->kind)));
	json_object_set_new(j, "dry_run", json_boolean(dry));
	json_object_set_new(j, "done", json_boolean(done));
	json_object_set_new(j, "refused", r->refused[0] ? json_string(r->refused) : json_null());
	json_object_set_new(j, "idempotency_key", r->idem_key[0] ? json_string(r->idem_key) : json_null());
	json_object_set_new(j, "entries_appended", json_integer(r->nentries));
	json_object_set_new(j, "entries", entries);
	json_object_set_new(j, "cache_recomputed", json_boolean(r->cache_fixed));
	json_object_set_new(j, "balance_before", json_integer(r->balance_before));
	json_object_set_new(j, "balance_after", json_integer(r->balance_after));
	json_object_set_new(j, "ledger_sum_before", json_integer(r->sum_before));
	json_object_set_new(j, "ledger_sum_after", json_integer(r->sum_after));
	json_object_set_new(j, "alert_state_after",
	    r->state_after[0] ? json_string(r->state_after) : json_null());
	return j;
}

/* --yes, or a "y" typed on a terminal.  EXIT_OK to go on, else the exit. */
static int
confirm(struct cmd_ctx *c, int yes)
{
	char line[64];

	if (yes)
		return EXIT_OK;
	if (!isatty(STDIN_FILENO))
		return cmd_fail(c, EXIT_USAGE, "refused: no confirmation (standard input is not a "
		    "terminal); run with --dry-run to see the change, --yes to make it");
	fflush(stdout);
	fprintf(stderr, "Repair as shown? [y/N] ");
	if (fgets(line, sizeof line, stdin) == NULL ||
	    (strcmp(line, "y\n") != 0 && strcmp(line, "yes\n") != 0 && strcmp(line, "Y\n") != 0))
		return cmd_fail(c, EXIT_NO, "declined: nothing changed");
	return EXIT_OK;
}

/* The repair is a resync of the customer: fetch (no transaction open), then
 * apply, re-check and audit in one transaction (rolled back for a dry run). */
static int
run_resync(struct cmd_ctx *c, struct drift *d, const struct drift_alert *a, const char *reason,
           int dry, int yes, struct drift_repair *r)
{
	struct action_env env;
	struct sync_customer_counts n;
	struct err e;
	char buf[1200];
	int rc;

	if (c->cfg.api_key == NULL || c->cfg.api_key[0] == '\0')
		return cmd_fail(c, EXIT_USAGE, "refused: this repair resyncs %s from the Stripe API, "
		    "and no API key is configured (stripe_api_key, STRIPE_API_KEY or "
		    "STRIPE_API_KEY_FILE); run it where a key is available, or ingest the missing "
		    "webhooks", out_clean(a->customer, buf, sizeof buf));
	if (!c->json) {
		print_alert(a);
		printf("repair: %s\n  GET /v1/customers/%s, then its subscriptions, invoices, checkout "
		    "sessions, charges, refunds, disputes, credit grants and balance, applied like "
		    "a sync\n", out_clean(r->what, buf, sizeof buf), a->customer);
	}
	if (!dry && (rc = confirm(c, yes)) != EXIT_OK)
		return rc;
	act_env_init(c, &env);
	if (actions_repair_resync(&env, d, a, reason, dry ? DRIFT_DRY : 0, r, &n, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", out_clean(e.msg, buf, sizeof buf));
	if (c->json) {
		out_json(result_json(a, r, dry, !dry));
	} else {
		printf("%s %lld object(s) from the API: %lld changed, %lld unchanged\n",
		    dry ? "fetched (dry run)" : "resynced", (long long)n.objects,
		    (long long)n.changed, (long long)n.unchanged);
		print_result(r, dry);
		if (dry)
			printf("dry run: nothing changed\n");
	}
	return EXIT_OK;
}

static int
run(struct cmd_ctx *c)
{
	const char *idtext = NULL, *reason = NULL;
	struct drift_alert a;
	struct drift_repair plan, done;
	struct drift *d = NULL;
	struct err e;
	char buf[1200];
	int64_t id;
	int i, dry = 0, yes = 0, rc;

	memset(&a, 0, sizeof a);
	memset(&plan, 0, sizeof plan);
	memset(&done, 0, sizeof done);
	for (i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--dry-run") == 0)
			dry = 1;
		else if (strcmp(c->argv[i], "--yes") == 0)
			yes = 1;
		else if (strcmp(c->argv[i], "--reason") == 0) {
			if (i + 1 >= c->argc)
				return cmd_usage(c, "--reason needs a value");
			reason = c->argv[++i];
		} else if (c->argv[i][0] == '-' && c->argv[i][1] != '\0')
			return cmd_usage(c, "unknown option '%s'", c->argv[i]);
		else if (idtext == NULL)
			idtext = c->argv[i];
		else
			return cmd_usage(c, "unexpected argument '%s'", c->argv[i]);
	}
	if (idtext == NULL || parse_int64(idtext, &id) != 0 || id <= 0)
		return cmd_usage(c, "expected an alert id (a number, see tally alerts)");
	if (reason != NULL && reason[0] == '\0')
		return cmd_usage(c, "--reason needs a text");

	if (drift_open(c->s, c->cat, &c->cfg, &d, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	rc = drift_alert_load(c->s, id, &a, &e);
	if (rc != 0) {
		rc = rc == DRIFT_ENOENT ? cmd_fail(c, EXIT_NO, "no alert %lld (see tally alerts)",
		    (long long)id) : cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		goto out;
	}
	/* The preview: the repair itself, rolled back. */
	rc = drift_repair_run(d, id, c->cfg.operator_name, reason, tally_now(), DRIFT_DRY, &plan, &e);
	if (rc == DRIFT_ECLEARED) {
		/* Record the re-check that resolved it (unless dry). */
		if (!dry)
			rc = drift_repair_run(d, id, c->cfg.operator_name, reason, tally_now(), 0, &done, &e);
		if (rc != DRIFT_ECLEARED && rc != 0) {
			rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
			goto out;
		}
		if (c->json)
			out_json(json_pack("{sI ss ss sb}", "alert", (json_int_t)id, "rule", a.rule,
			    "alert_state_after", dry ? "open" : "resolved", "done", 0));
		else
			printf("%s\n", out_clean(e.msg, buf, sizeof buf));
		rc = EXIT_OK;
		goto out;
	}
	if (rc == DRIFT_ENOENT || rc == DRIFT_ESTATE) {
		rc = cmd_fail(c, EXIT_NO, "%s", out_clean(e.msg, buf, sizeof buf));
		goto out;
	}
	if (rc != 0) {
		rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		goto out;
	}
	if (plan.refused[0] != '\0') {
		if (c->json)
			out_json(result_json(&a, &plan, dry, 0));
		rc = cmd_fail(c, plan.kind == DRIFT_REPAIR_NONE ? EXIT_USAGE : EXIT_NO,
		    "alert %lld: %s", (long long)id, out_clean(plan.refused, buf, sizeof buf));
		goto out;
	}
	if (plan.kind == DRIFT_REPAIR_RESYNC) {
		rc = run_resync(c, d, &a, reason, dry, yes, &plan);
		goto out;
	}
	if (!c->json) {
		print_alert(&a);
		print_result(&plan, 1);
	}
	if (dry) {
		if (c->json)
			out_json(result_json(&a, &plan, 1, 0));
		else
			printf("dry run: nothing changed\n");
		rc = EXIT_OK;
		goto out;
	}
	if ((rc = confirm(c, yes)) != EXIT_OK)
		goto out;
	rc = drift_repair_run(d, id, c->cfg.operator_name, reason, tally_now(), 0, &done, &e);
	if (rc == DRIFT_ECLEARED || rc == DRIFT_ESTATE || rc == DRIFT_ENOENT) {
		/* The state moved between the preview and now. */
		rc = cmd_fail(c, rc == DRIFT_ECLEARED ? EXIT_OK : EXIT_NO, "%s",
		    out_clean(e.msg, buf, sizeof buf));
		goto out;
	}
	if (rc != 0) {
		rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		goto out;
	}
	if (done.refused[0] != '\0') {
		rc = cmd_fail(c, EXIT_NO, "alert %lld: %s", (long long)id,
		    out_clean(done.refused, buf, sizeof buf));
		goto out;
	}
	if (c->json) {
		out_json(result_json(&a, &done, 0, 1));
	} else {
		printf("done: %d entr%s appended; alert %lld is %s\n", done.nentries,
		    done.nentries == 1 ? "y" : "ies", (long long)id, done.state_after);
	}
	rc = EXIT_OK;
out:
	drift_repair_done(&plan);
	drift_repair_done(&done);
	drift_alert_done(&a);
	drift_close(d);
	return rc;
}

const struct cmd_entry cmd_repair_entry = {
	"repair", "ALERT_ID [--dry-run] [--yes] [--reason TEXT]",
	"run a drift alert's offered repair, after showing exactly what it changes",
	CMD_STORE | CMD_WRITES | CMD_CATALOG, run
};
