/*
 * cmd-ingest: read webhook and usage logs into the mirror and report what
 * happened to every value.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "drift.h"
#include "ingest.h"
#include "out.h"

static void
print_counts(const char *what, const struct ingest_counts *n)
{
	printf("%s: %lld values: %lld applied, %lld duplicate, %lld superseded, %lld conflict, "
	    "%lld stored, %lld unpriced, %lld quarantined, %lld invalid signature\n",
	    what, (long long)n->values, (long long)n->applied, (long long)n->duplicate,
	    (long long)n->superseded, (long long)n->conflict, (long long)n->stored,
	    (long long)n->unpriced, (long long)n->quarantined, (long long)n->invalid_signature);
}

static json_t *
counts_json(const struct ingest_counts *n)
{
	return json_pack("{sI sI sI sI sI sI sI sI sI sI sI sI sI}",
	    "values", (json_int_t)n->values, "applied", (json_int_t)n->applied,
	    "duplicate", (json_int_t)n->duplicate, "superseded", (json_int_t)n->superseded,
	    "conflict", (json_int_t)n->conflict, "stored", (json_int_t)n->stored,
	    "unpriced", (json_int_t)n->unpriced, "quarantined", (json_int_t)n->quarantined,
	    "invalid_signature", (json_int_t)n->invalid_signature,
	    "unverified", (json_int_t)n->unverified, "ledger_entries", (json_int_t)n->ledger_entries,
	    "restarted", (json_int_t)n->restarted, "pending_bytes", (json_int_t)n->pending_bytes);
}

static int
run(struct cmd_ctx *c)
{
	struct strlist webhooks = { NULL, 0 }, usages = { NULL, 0 };
	struct ingest_counts wn, un, total;
	struct ingest_opts o = { 0 };
	struct err e;
	size_t k;
	int i, mode = 0, rc = EXIT_OK;

	for (i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--webhooks") == 0)
			mode = 1;
		else if (strcmp(c->argv[i], "--usage") == 0)
			mode = 2;
		else if (c->argv[i][0] == '-' && c->argv[i][1] != '\0')
			return cmd_usage(c, "unknown option '%s'", c->argv[i]);
		else if (mode == 1)
			strlist_add(&webhooks, c->argv[i]);
		else if (mode == 2)
			strlist_add(&usages, c->argv[i]);
		else
			return cmd_usage(c, "'%s': say --webhooks or --usage before the files", c->argv[i]);
	}
	/* Without files on the command line, the configured logs. */
	if (webhooks.n == 0 && usages.n == 0) {
		for (k = 0; k < c->cfg.webhook_logs.n; k++)
			strlist_add(&webhooks, c->cfg.webhook_logs.v[k]);
		for (k = 0; k < c->cfg.usage_logs.n; k++)
			strlist_add(&usages, c->cfg.usage_logs.v[k]);
	}
	if (webhooks.n == 0 && usages.n == 0) {
		rc = cmd_usage(c, "no logs given and none configured (webhook_log, usage_log)");
		goto out;
	}
	if (c->cfg.catalog_path == NULL)
		fprintf(stderr, "tally ingest: warning: no catalog configured (--catalog, TALLY_CATALOG or "
		    "catalog in the configuration): "
		    "no credits will be granted or consumed\n");

	memset(&o, 0, sizeof o);
	o.cat = c->cat;
	o.secrets = (const char *const *)c->cfg.webhook_secrets.v;
	o.nsecrets = (int)c->cfg.webhook_secrets.n;
	o.tolerance = c->cfg.webhook_tolerance;
	o.cap = (size_t)c->cfg.max_value_bytes;
	/* The customers the logs changed are re-checked for drift at the end
	 * (ingest_finish; doc/drift.md). */
	if (drift_open(c->s, c->cat, &c->cfg, &o.drift, &e) != 0) {
		rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		goto out;
	}
	memset(&wn, 0, sizeof wn);
	memset(&un, 0, sizeof un);
	for (k = 0; k < webhooks.n; k++)
		if (ingest_file(c->s, &o, INGEST_WEBHOOK, webhooks.v[k], &wn, &e) != 0) {
			rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
			goto out;
		}
	for (k = 0; k < usages.n; k++)
		if (ingest_file(c->s, &o, INGEST_USAGE, usages.v[k], &un, &e) != 0) {
			rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
			goto out;
		}
	memset(&total, 0, sizeof total);
	if (ingest_finish(c->s, &o, &total, &e) != 0) {
		rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		goto out;
	}
	if (c->json) {
		json_t *j = json_object();

		json_object_set_new(j, "webhooks", counts_json(&wn));
		json_object_set_new(j, "usage", counts_json(&un));
		json_object_set_new(j, "ledger_entries",
		    json_integer(wn.ledger_entries + un.ledger_entries + total.ledger_entries));
		json_object_set_new(j, "expired", json_integer(total.ledger_entries));
		out_json(j);
	} else {
		if (webhooks.n > 0)
			print_counts("webhooks", &wn);
		if (usages.n > 0)
			print_counts("usage", &un);
		printf("ledger: %lld entries appended (%lld expiries)\n",
		    (long long)(wn.ledger_entries + un.ledger_entries + total.ledger_entries),
		    (long long)total.ledger_entries);
		if (wn.quarantined + un.quarantined > 0)
			printf("see `tally quarantine` for what was set aside and why\n");
		if (wn.invalid_signature > 0)
			printf("see `tally deliveries --failed` for deliveries whose signature failed\n");
		if (wn.pending_bytes + un.pending_bytes > 0)
			printf("%lld bytes of an incomplete value left at the end of a log for the next run\n",
			    (long long)(wn.pending_bytes + un.pending_bytes));
	}
out:
	drift_close(o.drift);
	strlist_free(&webhooks);
	strlist_free(&usages);
	return rc;
}

const struct cmd_entry cmd_ingest_entry = {
	"ingest", "[--webhooks FILE...] [--usage FILE...]",
	"read webhook and usage logs into the mirror",
	CMD_STORE | CMD_WRITES | CMD_CATALOG, run
};
