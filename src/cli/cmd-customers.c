/*
 * cmd-customers: the customers in the mirror, by id, a page at a time.
 */
#include "cmd.h"
#include "out.h"

static const struct out_list list = {
	.query = "customers",
	.key = "id",
	.key_what = "a customer id",
	.limit = 100,
};

static int
run(struct cmd_ctx *c)
{
	return out_list_run(c, &list);
}

const struct cmd_entry cmd_customers_entry = {
	"customers", "[--after ID] [--limit N]", "list customers with balance and subscription states",
	CMD_STORE, run
};
