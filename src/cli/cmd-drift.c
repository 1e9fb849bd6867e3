/*
 * cmd-drift: a full drift scan.  Every rule of doc/drift.md over the whole
 * mirror: the alerts it opens, reopens and resolves are recorded and
 * printed, then the alerts that are not resolved.  In read-only mode, or
 * with --dry-run, it evaluates and says what would change, writing nothing.
 * Exit 1 when open (unacknowledged) alerts remain.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "drift.h"
#include "out.h"
#include "util.h"

static const char *
change_name(enum drift_change_kind k)
{
	switch (k) {
	case DRIFT_OPENED:      return "opened";
	case DRIFT_REOPENED:    return "reopened";
	case DRIFT_RESOLVED:    return "resolved";
	}
	return "?";
}

static json_t *
change_json(const struct drift_change *ch)
{
	json_t *o = json_object();

	json_object_set_new(o, "alert", ch->alert ? json_integer(ch->alert) : json_null());
	json_object_set_new(o, "change", json_string(change_name(ch->kind)));
	json_object_set_new(o, "rule", json_string(ch->rule));
	json_object_set_new(o, "severity", json_string(ch->severity));
	json_object_set_new(o, "subject", json_string(ch->subject));
	json_object_set_new(o, "customer", ch->customer ? json_string(ch->customer) : json_null());
	json_object_set_new(o, "summary", json_string(ch->summary));
	return o;
}

/* query_row_fn over the "alerts" query: count them by state, and keep
 * them (JSON) or print one line each (text). */
struct listing {
	struct out_rows rows;
	struct buf text;
	int64_t open, acknowledged;
};

static const char *
col(const struct qval *cols, int ncols, const char *name)
{
	int i;

	for (i = 0; i < ncols; i++)
		if (strcmp(cols[i].name, name) == 0)
			return cols[i].type == QV_TEXT ? cols[i].s : NULL;
	return NULL;
}

static int
list_row(const struct qval *cols, int ncols, void *arg)
{
	struct listing *l = arg;
	const char *state = col(cols, ncols, "state"), *cust = col(cols, ncols, "customer");
	char s1[300], s2[300], s3[700];

	if (state != NULL && strcmp(state, "open") == 0)
		l->open++;
	else
		l->acknowledged++;
	if (l->rows.json)
		return out_rows_add(cols, ncols, &l->rows);
	buf_printf(&l->text, "#%-5lld %-8s %-12s %-23s %s%s%s: %s\n", (long long)cols[0].i,
	    col(cols, ncols, "severity"), state, col(cols, ncols, "rule"),
	    out_clean(col(cols, ncols, "subject"), s1, sizeof s1), cust ? " " : "",
	    cust ? out_clean(cust, s2, sizeof s2) : "",
	    out_clean(col(cols, ncols, "summary"), s3, sizeof s3));
	return 0;
}

static int
run(struct cmd_ctx *c)
{
	static const char *const json_cols[] = { "evidence", NULL };
	const char *p[5] = { NULL, NULL, NULL, NULL, "100000" };
	struct drift_report r;
	struct listing l;
	struct drift *d = NULL;
	struct err e;
	char buf[700], sub[300], cus[300];
	int64_t now = tally_now(), open_after;
	int i, dry = c->cfg.read_only, rc = EXIT_RUNTIME;
	size_t k;

	for (i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--dry-run") == 0)
			dry = 1;
		else
			return cmd_usage(c, "unknown argument '%s'", c->argv[i]);
	}
	drift_report_init(&r);
	memset(&l, 0, sizeof l);
	out_rows_init(&l.rows, c->json);
	l.rows.json_cols = json_cols;
	buf_init(&l.text, 0);
	if (drift_open(c->s, c->cat, &c->cfg, &d, &e) != 0) {
		rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		goto out;
	}
	if (dry) {
		if (drift_scan(d, now, DRIFT_DRY, &r, &e) != 0) {
			rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
			goto out;
		}
	} else {
		if (store_begin(c->s, &e) != 0 || drift_scan(d, now, 0, &r, &e) != 0 ||
		    store_commit(c->s, &e) != 0) {
			if (store_in_txn(c->s))
				store_rollback(c->s);
			rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
			goto out;
		}
	}
	if (query_run(c->s, "alerts", p, 5, list_row, &l, &e) < 0) {
		rc = cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		goto out;
	}
	/* After a dry run the table still holds the old state: what would be
	 * open is what is open, less what would resolve, plus what would
	 * open. */
	open_after = l.open;
	if (dry)
		for (k = 0; k < r.n; k++)
			open_after += r.v[k].kind != DRIFT_RESOLVED ? 1 : r.v[k].acknowledged ? 0 : -1;
	if (c->json) {
		json_t *j = json_object(), *opened = json_array(), *reopened = json_array(),
		    *resolved = json_array();

		for (k = 0; k < r.n; k++)
			json_array_append_new(r.v[k].kind == DRIFT_OPENED ? opened
			    : r.v[k].kind == DRIFT_REOPENED ? reopened : resolved, change_json(&r.v[k]));
		json_object_set_new(j, "recorded", json_boolean(!dry));
		json_object_set_new(j, "rules", json_integer(r.rules));
		json_object_set_new(j, "found", json_integer(r.found));
		json_object_set_new(j, "opened", opened);
		json_object_set_new(j, "reopened", reopened);
		json_object_set_new(j, "resolved", resolved);
		json_object_set_new(j, "alerts", json_incref(l.rows.array));
		out_json(j);
		out_rows_done(&l.rows);
	} else {
		printf("drift: %lld rules over the whole mirror found %lld instance(s)%s\n",
		    (long long)r.rules, (long long)r.found,
		    dry ? (c->cfg.read_only ? " (read-only: nothing recorded)"
		    : " (dry run: nothing recorded)") : "");
		for (k = 0; k < r.n; k++) {
			const struct drift_change *ch = &r.v[k];

			if (ch->alert)
				snprintf(buf, sizeof buf, "#%lld", (long long)ch->alert);
			else
				snprintf(buf, sizeof buf, "new");
			printf("%-9s %-6s %-8s %-24s %s%s%s: %s\n", change_name(ch->kind), buf,
			    ch->severity, ch->rule, out_clean(ch->subject, sub, sizeof sub),
			    ch->customer ? " " : "", ch->customer ? out_clean(ch->customer, cus, sizeof cus)
			    : "", out_clean(ch->summary, buf, sizeof buf));
		}
		printf("\nalerts not resolved: %lld open, %lld acknowledged%s\n", (long long)l.open,
		    (long long)l.acknowledged, dry ? " (before this scan)" : "");
		if (l.text.len > 0)
			fputs(l.text.data, stdout);
	}
	rc = open_after > 0 ? EXIT_NO : EXIT_OK;
out:
	out_rows_done(&l.rows);
	buf_done(&l.text);
	drift_report_done(&r);
	drift_close(d);
	return rc;
}

const struct cmd_entry cmd_drift_entry = {
	"drift", "[--dry-run]",
	"scan the whole mirror for drift; record and print the alerts (exit 1: open alerts)",
	CMD_STORE | CMD_CATALOG, run
};
