/*
 * view-audit: the audit log of operator actions (SPEC 9), newest first, a
 * keyset page at a time.  Sorts by id or time (audit_at).  The filter
 * looks in the operator, action, target, reason and result.  Enter shows
 * the entry with its before and after.
 */
#include <string.h>

#include "tui-int.h"

static const struct list_spec spec = {
	.select = "a.id, a.at, a.operator, a.action, a.target, a.result, COALESCE(a.reason, '')",
	.from = "audit AS a",
	.filter = "a.operator || ' ' || a.action || ' ' || a.target || ' ' || a.result || ' ' || "
	    "COALESCE(a.reason, '')",
	.ncols = 7,
	.cols = {
		{ "id", CF_INT, 6 },
		{ "at", CF_TIME, 16 },
		{ "operator", CF_TEXT, 10 },
		{ "action", CF_TEXT, 8 },
		{ "target", CF_TEXT, 0 },
		{ "result", CF_TEXT, 8 },
		{ "reason", CF_TEXT, 0 },
	},
	.nsorts = 2,
	.sorts = {
		{ "id", 0, NULL, "a.id", 1 },
		{ "at", 1, "a.at", "a.id", 1 },
	},
	.key_col = 0,
};

static int
on_action(struct view *v, struct tui *t, int act)
{
	const struct lrow *r = list_selected(&v->list);

	if (act != ACT_OPEN || r == NULL)
		return 0;
	view_detail_open(t, DETAIL_AUDIT, r->cells[0]);
	return 1;
}

static int
row_attr(const struct lrow *r)
{
	if (strcmp(r->cells[5], "failed") == 0 || strcmp(r->cells[5], "refused") == 0)
		return R_BAD;
	if (strcmp(r->cells[5], "pending") == 0)
		return R_WARN;
	return R_NORMAL;
}

const struct view_ops view_audit_ops = {
	.name = "audit",
	.aliases = "aud",
	.bit = V_AUDIT,
	.list = &spec,
	.draw_row = row_attr,
	.on_action = on_action,
};
