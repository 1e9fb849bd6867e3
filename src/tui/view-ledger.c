/*
 * view-ledger: ledger entries, newest first, a keyset page at a time; all
 * of them, or one customer's (its arg).  Sorts by seq; one customer's also
 * by effective time and by amount, each an index range
 * (ledger_customer_time, ledger_customer_amount).  The filter looks in the
 * customer, kind, key, actor and reason.  Enter shows the whole entry.
 */
#include <stdio.h>

#include "tui-int.h"

#define LEDGER_SELECT "l.seq, l.effective_at, l.customer, l.kind, l.amount, l.key, l.actor, " \
	"COALESCE(l.reason, l.ref, '')"
#define LEDGER_FILTER "l.customer || ' ' || l.kind || ' ' || l.key || ' ' || l.actor || ' ' || " \
	"COALESCE(l.reason, '')"
#define LEDGER_COLS { \
		{ "seq", CF_INT, 8 }, \
		{ "effective", CF_TIME, 16 }, \
		{ "customer", CF_TEXT, 18 }, \
		{ "kind", CF_TEXT, 8 }, \
		{ "amount", CF_AMOUNT, 11 }, \
		{ "key", CF_TEXT, 0 }, \
		{ "actor", CF_TEXT, 8 }, \
		{ "reason", CF_TEXT, 0 }, \
	}

/* Every customer's: seq is the only order an index gives. */
static const struct list_spec spec_all = {
	.select = LEDGER_SELECT,
	.from = "ledger AS l",
	.filter = LEDGER_FILTER,
	.ncols = 8,
	.cols = LEDGER_COLS,
	.nsorts = 1,
	.sorts = { { "seq", 0, NULL, "l.seq", 1 } },
	.key_col = 0,
};

static const struct list_spec spec_one = {
	.select = LEDGER_SELECT,
	.from = "ledger AS l",
	.where_ctx = "l.customer = ?1",
	.filter = LEDGER_FILTER,
	.ncols = 8,
	.cols = LEDGER_COLS,
	/* No (customer, seq) index: one customer's entries go by time,
	 * which ledger_customer_time serves, or by amount. */
	.nsorts = 2,
	.sorts = {
		{ "effective", 1, "l.effective_at", "l.seq", 1 },
		{ "amount", 4, "l.amount", "l.seq", 1 },
	},
	.key_col = 0,
};

static int
open(struct view *v, struct tui *t)
{
	int h = v->list.height;

	if (v->arg[0] != '\0') {
		list_init(&v->list, &spec_one, v->arg);
		v->list.height = h;
		view_set_title(v, "ledger of %s", v->arg);
	}
	return list_reload(t, &v->list);
}

static int
on_action(struct view *v, struct tui *t, int act)
{
	const struct lrow *r = list_selected(&v->list);

	if (act != ACT_OPEN || r == NULL)
		return 0;
	view_detail_open(t, DETAIL_LEDGER, r->cells[0]);
	return 1;
}

static int
row_attr(const struct lrow *r)
{
	return r->ivals[4] < 0 ? R_WARN : R_NORMAL;
}

const struct view_ops view_ledger_ops = {
	.name = "ledger",
	.aliases = "led l",
	.bit = V_LEDGER,
	.list = &spec_all,
	.open = open,
	.draw_row = row_attr,
	.on_action = on_action,
};
