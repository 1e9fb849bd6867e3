/*
 * view-quarantine: input that could not be used, newest first, a keyset
 * page at a time: where it came from and why.  The filter looks in the
 * kind, source and reason.  Enter shows the whole record and its excerpt.
 */
#include "tui-int.h"

static const struct list_spec spec = {
	.select = "q.id, q.quarantined_at, q.kind, q.source, q.source_offset, q.reason",
	.from = "quarantine AS q",
	.filter = "q.kind || ' ' || q.source || ' ' || q.reason",
	.ncols = 6,
	.cols = {
		{ "id", CF_INT, 6 },
		{ "at", CF_TIME, 16 },
		{ "kind", CF_TEXT, 14 },
		{ "source", CF_TEXT, 0 },
		{ "offset", CF_INT, 9 },
		{ "reason", CF_TEXT, 0 },
	},
	.nsorts = 1,
	.sorts = { { "id", 0, NULL, "q.id", 1 } },
	.key_col = 0,
};

static int
on_action(struct view *v, struct tui *t, int act)
{
	const struct lrow *r = list_selected(&v->list);

	if (act != ACT_OPEN || r == NULL)
		return 0;
	view_detail_open(t, DETAIL_QUARANTINE, r->cells[0]);
	return 1;
}

const struct view_ops view_quarantine_ops = {
	.name = "quarantine",
	.aliases = "quar qu",
	.bit = V_QUARANTINE,
	.list = &spec,
	.on_action = on_action,
};
