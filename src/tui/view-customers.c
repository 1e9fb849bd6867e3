/*
 * view-customers: every customer, a keyset page at a time: id, name, email,
 * the cached balance, the statuses of its subscriptions.  Sorts by id
 * (the primary key), name, email or balance; the filter looks in the id,
 * name and email.  Enter opens the customer (view-customer.c).
 */
#include <string.h>

#include "tui-int.h"

static const struct list_spec spec = {
	.select = "c.id, c.name, c.email, COALESCE(b.balance, 0), "
	    "(SELECT group_concat(s.status, ',') FROM subscriptions AS s "
	    " WHERE s.customer = c.id AND s.placeholder = 0)",
	.from = "customers AS c LEFT JOIN balances AS b ON b.customer = c.id",
	.where = "c.placeholder = 0",
	.filter = "c.id || ' ' || COALESCE(c.name, '') || ' ' || COALESCE(c.email, '')",
	.ncols = 5,
	.cols = {
		{ "id", CF_TEXT, 20 },
		{ "name", CF_TEXT, 0 },
		{ "email", CF_TEXT, 0 },
		{ "balance", CF_AMOUNT, 12 },
		{ "subscriptions", CF_TEXT, 16 },
	},
	.nsorts = 4,
	.sorts = {
		{ "id", 0, NULL, "c.id", 0 },
		{ "name", 1, "COALESCE(c.name, '')", "c.id", 0 },
		{ "email", 2, "COALESCE(c.email, '')", "c.id", 0 },
		{ "balance", 3, "COALESCE(b.balance, 0)", "c.id", 1 },
	},
	.key_col = 0,
};

static int
on_action(struct view *v, struct tui *t, int act)
{
	const struct lrow *r = list_selected(&v->list);

	if (act != ACT_OPEN || r == NULL)
		return 0;
	tui_push(t, &view_customer_ops, r->cells[0]);
	return 1;
}

static int
row_attr(const struct lrow *r)
{
	return r->ivals[3] < 0 ? R_BAD : R_NORMAL;
}

const struct view_ops view_customers_ops = {
	.name = "customers",
	.aliases = "cus cust c",
	.bit = V_CUSTOMERS,
	.list = &spec,
	.draw_row = row_attr,
	.on_action = on_action,
};
