/*
 * view-events: Stripe events, newest first, a keyset page at a time (the
 * events_created index, the rowid as tie-break); all of them, or one
 * customer's (the arg, through events_customer).  Sorts by created or by
 * id.  The filter looks in the id, type, object, customer, state and note.
 * Enter shows the event's body pretty-printed.
 */
#include <string.h>

#include "tui-int.h"

static const struct list_spec spec = {
	.select = "e.id, e.created, e.type, e.state, e.delivery_count, e.object_id, e.customer, "
	    "COALESCE(e.note, '')",
	.from = "events AS e",
	.where_ctx = "e.customer = ?1",
	.filter = "e.id || ' ' || e.type || ' ' || e.state || ' ' || COALESCE(e.object_id, '') || "
	    "' ' || COALESCE(e.customer, '') || ' ' || COALESCE(e.note, '')",
	.ncols = 8,
	.cols = {
		{ "id", CF_TEXT, 29 },
		{ "created", CF_TIME, 16 },
		{ "type", CF_TEXT, 0 },
		{ "state", CF_TEXT, 10 },
		{ "dlv", CF_INT, 3 },
		{ "object", CF_TEXT, 0 },
		{ "customer", CF_TEXT, 18 },
		{ "note", CF_TEXT, 0 },
	},
	.nsorts = 2,
	.sorts = {
		{ "created", 1, "e.created", "e.rowid", 1 },
		{ "id", 0, NULL, "e.id", 0 },
	},
	.key_col = 0,
};

static int
open(struct view *v, struct tui *t)
{
	if (v->arg[0] != '\0')
		view_set_title(v, "events of %s", v->arg);
	return list_reload(t, &v->list);
}

static int
on_action(struct view *v, struct tui *t, int act)
{
	const struct lrow *r = list_selected(&v->list);

	if (act != ACT_OPEN || r == NULL)
		return 0;
	view_detail_open(t, DETAIL_EVENT, r->cells[0]);
	return 1;
}

static int
row_attr(const struct lrow *r)
{
	if (strcmp(r->cells[3], "conflict") == 0)
		return R_BAD;
	if (strcmp(r->cells[3], "superseded") == 0)
		return R_DIM;
	return R_NORMAL;
}

const struct view_ops view_events_ops = {
	.name = "events",
	.aliases = "ev e",
	.bit = V_EVENTS,
	.list = &spec,
	.open = open,
	.draw_row = row_attr,
	.on_action = on_action,
};
