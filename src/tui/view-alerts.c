/*
 * view-alerts: drift alerts (doc/drift.md), open and acknowledged first
 * (two keyset segments over the alerts_state index), then resolved, each
 * newest first; all of them, or one customer's (the arg).  Sorts by id or
 * by when last seen.  The filter looks in the rule, subject, customer and
 * summary.  Enter shows the alert with its evidence and history.
 */
#include <string.h>

#include "tui-int.h"

static const struct list_spec spec = {
	.select = "a.id, a.severity, a.rule, a.state, a.customer, a.summary, a.last_seen_at",
	.from = "alerts AS a",
	.where_ctx = "a.customer = ?1",
	.filter = "a.rule || ' ' || a.subject || ' ' || COALESCE(a.customer, '') || ' ' || "
	    "a.severity || ' ' || a.summary",
	.parts = { "a.state <> 'resolved'", "a.state = 'resolved'" },
	.ncols = 7,
	.cols = {
		{ "id", CF_INT, 5 },
		{ "severity", CF_TEXT, 8 },
		{ "rule", CF_TEXT, 22 },
		{ "state", CF_TEXT, 12 },
		{ "customer", CF_TEXT, 18 },
		{ "summary", CF_TEXT, 0 },
		{ "last seen", CF_TIME, 16 },
	},
	.nsorts = 2,
	.sorts = {
		{ "id", 0, NULL, "a.id", 1 },
		{ "last seen", 6, "a.last_seen_at", "a.id", 1 },
	},
	.key_col = 0,
};

static int
open(struct view *v, struct tui *t)
{
	if (v->arg[0] != '\0')
		view_set_title(v, "alerts of %s", v->arg);
	return list_reload(t, &v->list);
}

static int
on_action(struct view *v, struct tui *t, int act)
{
	const struct lrow *r = list_selected(&v->list);

	if (act != ACT_OPEN || r == NULL)
		return 0;
	view_detail_open(t, DETAIL_ALERT, r->cells[0]);
	return 1;
}

static int
row_attr(const struct lrow *r)
{
	if (strcmp(r->cells[3], "resolved") == 0)
		return R_DIM;
	if (strcmp(r->cells[1], "critical") == 0)
		return R_BAD;
	if (strcmp(r->cells[1], "warning") == 0)
		return R_WARN;
	return R_NORMAL;
}

const struct view_ops view_alerts_ops = {
	.name = "alerts",
	.aliases = "al alert",
	.bit = V_ALERTS,
	.list = &spec,
	.open = open,
	.draw_row = row_attr,
	.on_action = on_action,
};
