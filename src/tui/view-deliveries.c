/*
 * view-deliveries: webhook deliveries, failed first, then the rest, each
 * part newest first: two keyset segments, so "failed first" costs an index
 * range (deliveries_status) rather than a sort of the whole table.  All of
 * them, or those of one customer's events (the arg).  Invalid signatures
 * show in red too.  Enter shows the delivery and its event's body
 * pretty-printed.
 */
#include <string.h>

#include "tui-int.h"

static const struct list_spec spec = {
	.select = "d.id, d.received_at, d.status, d.http_status, d.sig_state, d.event_id, e.type, "
	    "COALESCE(d.error, d.sig_error, '')",
	.from = "deliveries AS d LEFT JOIN events AS e ON e.id = d.event_id",
	.where_ctx = "d.event_id IN (SELECT id FROM events WHERE customer = ?1)",
	.filter = "COALESCE(d.event_id, '') || ' ' || COALESCE(e.type, '') || ' ' || d.status || "
	    "' ' || d.sig_state || ' ' || COALESCE(d.error, '') || ' ' || COALESCE(d.endpoint, '')",
	.parts = { "d.status = 'failed'", "d.status <> 'failed'" },
	.ncols = 8,
	.cols = {
		{ "id", CF_INT, 7 },
		{ "received", CF_TIME, 16 },
		{ "status", CF_TEXT, 6 },
		{ "http", CF_INT, 4 },
		{ "signature", CF_TEXT, 10 },
		{ "event", CF_TEXT, 0 },
		{ "type", CF_TEXT, 0 },
		{ "error", CF_TEXT, 0 },
	},
	.nsorts = 1,
	.sorts = { { "failed first, newest", 0, NULL, "d.id", 1 } },
	.key_col = 0,
};

static int
open(struct view *v, struct tui *t)
{
	if (v->arg[0] != '\0')
		view_set_title(v, "deliveries of %s", v->arg);
	else
		view_set_title(v, "webhook deliveries");
	return list_reload(t, &v->list);
}

static int
on_action(struct view *v, struct tui *t, int act)
{
	const struct lrow *r = list_selected(&v->list);

	if (act != ACT_OPEN || r == NULL)
		return 0;
	view_detail_open(t, DETAIL_DELIVERY, r->cells[0]);
	return 1;
}

static int
row_attr(const struct lrow *r)
{
	if (strcmp(r->cells[2], "failed") == 0 || strcmp(r->cells[4], "invalid") == 0)
		return R_BAD;
	return R_NORMAL;
}

const struct view_ops view_deliveries_ops = {
	.name = "deliveries",
	.aliases = "wh webhooks del d",
	.bit = V_DELIVERIES,
	.list = &spec,
	.open = open,
	.draw_row = row_attr,
	.on_action = on_action,
};
