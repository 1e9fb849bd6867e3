/*
 * view-overview: the first screen: the mirror's sync state and age
 * (sync_status, the thread's snapshot), the lag behind the newest event,
 * events per minute, the delivery failure rate, what the mirror holds and
 * the open alerts by rule.  Each figure is one indexed or bounded query
 * (the failure rate is over the last 1000 deliveries, not the table); the
 * counts of what the mirror holds come from sync_status and are re-read
 * only when the mirror changed.  Enter on a line that names a view opens
 * it (an alert rule opens the alerts filtered by it).
 */
#include <stdio.h>
#include <string.h>

#include "sync.h"
#include "tui-int.h"
#include "util.h"

static void
line_to(struct doc *d, const char *target, int role, const char *name, const char *text)
{
	struct dline *l = doc_add(d, role, 1, target, "%-18s %s", name, text);

	l->target = xstrdup(target);
}

struct rules {
	struct doc *d;
	int n;
};

static int
add_rule(const struct qval *c, int n, void *arg)
{
	struct rules *r = arg;
	char key[200];
	struct dline *l;

	snprintf(key, sizeof key, "rule:%s", c[0].s);
	l = doc_add(r->d, strcmp(c[1].s, "critical") == 0 ? R_BAD :
	    strcmp(c[1].s, "warning") == 0 ? R_WARN : R_NORMAL, 1, key,
	    "%-24s %-9s %5lld open  %5lld acknowledged", c[0].s, c[1].s, (long long)c[2].i,
	    (long long)c[3].i);
	l->target = xstrdup(key);
	r->n++;
	return 0;
}

static int
build(struct view *v, struct tui *t)
{
	struct doc *d = &v->doc;
	struct sync_status st;
	struct err e;
	struct rules rules = { d, 0 };
	char a[64], b[64], c[64], buf[600];
	int64_t now = tally_now(), newest, recent, dl, dlf;
	struct qval p[1];

	doc_begin(d);
	view_set_title(v, "overview");
	if (v->priv == NULL) {
		/* The first screen comes before the counts: sync_status counts
		 * whole tables (tens of ms on a million entries), so they are
		 * read right after it is drawn. */
		v->priv = v;
		t->again = 1;
		doc_add(d, R_HEADER, 0, NULL, "sync");
		doc_add(d, R_NORMAL, 1, NULL, "%-18s %s", "mirror", store_path(t->s));
		doc_add(d, R_DIM, 1, NULL, "reading the mirror's state...");
		doc_end(d);
		return 0;
	}
	if (sync_status(t->s, &st, &e) != 0) {
		tui_error(t, "sync status", e.msg);
		memset(&st, 0, sizeof st);
	}
	doc_add(d, R_HEADER, 0, NULL, "sync");
	doc_add(d, R_NORMAL, 1, NULL, "%-18s %s", "mirror", store_path(t->s));
	doc_add(d, config_is_live(t->cfg) ? R_BAD : R_NORMAL, 1, NULL, "%-18s %s", "mode",
	    t->cfg->api_key == NULL ? "no API key: the logs only" :
	    config_is_live(t->cfg) ? "LIVE key" : "test key");
	fmt_age(t->age, a, sizeof a);
	doc_add(d, t->age < 0 || (t->cfg->stale_after > 0 && t->age > t->cfg->stale_after) ?
	    R_WARN : R_GOOD, 1, NULL, "%-18s %s%s%s", "age", a, t->age >= 0 ? " since the last sync or ingest" : "",
	    t->age < 0 || (t->cfg->stale_after > 0 && t->age > t->cfg->stale_after) ? " (STALE)" : "");
	fmt_time(st.last_sync_at, a, sizeof a);
	fmt_time(st.last_ingest_at, b, sizeof b);
	doc_add(d, R_NORMAL, 1, NULL, "%-18s sync %s, ingest %s", "last", a, b);
	fmt_time(st.reconciled_at, a, sizeof a);
	doc_add(d, R_NORMAL, 1, NULL, "%-18s %s (pass %lld%s)", "reconciled", a, (long long)st.pass,
	    st.pass > st.pass_done ? ", in progress" : "");
	if (t->sync != NULL) {
		struct sync_snapshot snap;

		sync_thread_snapshot(t->sync, &snap);
		doc_add(d, snap.running ? R_GOOD : R_BAD, 1, NULL, "%-18s %s, %lld rounds%s%s",
		    "sync thread", snap.running ? sync_phase_name(snap.phase) : "stopped",
		    (long long)snap.rounds, snap.what[0] ? ", " : "", snap.what);
	} else {
		doc_add(d, R_DIM, 1, NULL, "%-18s %s", "sync thread", t->cfg->read_only ?
		    "off (read-only mode)" : "off (no API key or logs configured)");
	}
	if (st.last_error[0] != '\0') {
		fmt_time(st.last_error_at, a, sizeof a);
		doc_add(d, st.last_success_at > st.last_error_at ? R_DIM : R_BAD, 1, NULL,
		    "%-18s %s: %s%s", "last error", a, st.last_error,
		    st.last_success_at > st.last_error_at ? " (recovered since)" : "");
	}
	doc_add(d, R_NORMAL, 1, NULL, "%-18s %lld (%lld retries)%s%s", "requests",
	    (long long)st.requests, (long long)st.retries, st.last_request_id[0] ? ", last " : "",
	    st.last_request_id);

	doc_add(d, R_NORMAL, 0, NULL, "%s", "");
	doc_add(d, R_HEADER, 0, NULL, "flow");
	newest = tui_query_int(t, "SELECT max(created) FROM events", NULL, 0, 0);
	fmt_age(newest > 0 ? now - newest : -1, a, sizeof a);
	fmt_time(newest, b, sizeof b);
	doc_add(d, R_NORMAL, 1, NULL, "%-18s %s behind the newest event (%s)", "lag", a, b);
	p[0] = qv_int(now - 600);
	recent = tui_query_int(t, "SELECT count(*) FROM events WHERE created > ?1", p, 1, 0);
	doc_add(d, R_NORMAL, 1, NULL, "%-18s %lld.%lld (over the last 10 minutes)", "events/minute",
	    (long long)(recent / 10), (long long)(recent % 10));
	dl = tui_query_int(t, "SELECT count(*) FROM (SELECT 1 FROM deliveries ORDER BY id DESC "
	    "LIMIT 1000)", NULL, 0, 0);
	dlf = tui_query_int(t, "SELECT count(*) FROM (SELECT status FROM deliveries ORDER BY id "
	    "DESC LIMIT 1000) WHERE status = 'failed'", NULL, 0, 0);
	snprintf(a, sizeof a, "%lld.%lld%%", dl > 0 ? (long long)(dlf * 100 / dl) : 0LL,
	    dl > 0 ? (long long)(dlf * 1000 / dl % 10) : 0LL);
	snprintf(buf, sizeof buf, "%s of the last %lld failed (%lld)", a, (long long)dl,
	    (long long)dlf);
	line_to(d, "view:deliveries", dlf > 0 ? R_WARN : R_NORMAL, "delivery failures", buf);

	doc_add(d, R_NORMAL, 0, NULL, "%s", "");
	doc_add(d, R_HEADER, 0, NULL, "the mirror holds (Enter opens the list)");
	fmt_amount(st.customers, a, sizeof a);
	line_to(d, "view:customers", R_NORMAL, "customers", a);
	fmt_amount(st.ledger_entries, a, sizeof a);
	line_to(d, "view:ledger", R_NORMAL, "ledger entries", a);
	fmt_amount(st.events, a, sizeof a);
	line_to(d, "view:events", R_NORMAL, "events", a);
	fmt_amount(st.deliveries, a, sizeof a);
	fmt_amount(st.deliveries_failed, b, sizeof b);
	snprintf(buf, sizeof buf, "%s (%s failed)", a, b);
	line_to(d, "view:deliveries", R_NORMAL, "deliveries", buf);
	fmt_amount(st.quarantined, a, sizeof a);
	line_to(d, "view:quarantine", st.quarantined > 0 ? R_WARN : R_NORMAL, "quarantined", a);
	fmt_amount(st.subscriptions, a, sizeof a);
	fmt_amount(st.invoices, b, sizeof b);
	fmt_amount(st.refetch_pending, c, sizeof c);
	doc_add(d, R_DIM, 1, NULL, "%-18s %s subscriptions, %s invoices, %s waiting for a refetch",
	    "", a, b, c);

	doc_add(d, R_NORMAL, 0, NULL, "%s", "");
	doc_add(d, R_HEADER, 0, "alerts", "open alerts by rule (Enter lists them)");
	tui_query(t, "SELECT rule, CASE max(CASE severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 "
	    "ELSE 1 END) WHEN 3 THEN 'critical' WHEN 2 THEN 'warning' ELSE 'info' END, "
	    "sum(state = 'open'), sum(state = 'acknowledged') "
	    "FROM alerts WHERE state IN ('open', 'acknowledged') GROUP BY rule ORDER BY rule",
	    NULL, 0, add_rule, &rules);
	if (rules.n == 0)
		doc_add(d, R_GOOD, 1, NULL, "none");
	doc_end(d);
	return 0;
}

static int
on_action(struct view *v, struct tui *t, int act)
{
	const struct dline *l = doc_selected(&v->doc);
	int i;

	if (act != ACT_OPEN)
		return 0;
	if (l == NULL || l->target == NULL) {
		tui_message(t, R_DIM, "nothing to open on this line");
		return 1;
	}
	if (strncmp(l->target, "rule:", 5) == 0) {
		if (tui_push(t, &view_alerts_ops, NULL) == 0)
			list_set_filter(t, &tui_view(t)->list, l->target + 5);
		return 1;
	}
	for (i = 0; view_table[i] != NULL; i++)
		if (strcmp(l->target + 5, view_table[i]->name) == 0)
			tui_push(t, view_table[i], NULL);
	return 1;
}

const struct view_ops view_overview_ops = {
	.name = "overview",
	.aliases = "ov o home",
	.bit = V_OVERVIEW,
	.rows = build,
	.on_action = on_action,
};
