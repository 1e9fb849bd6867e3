/*
 * cmd-ledger: one customer's ledger entries in sequence, a page at a time.
 */
#include "cmd.h"
#include "out.h"

static const struct out_list list = {
	.query = "ledger",
	.npositional = 1,
	.positional_what = "a customer id",
	.key = "seq",
	.key_int = 1,
	.key_what = "an entry number (seq)",
	.limit = 1000,
};

static int
run(struct cmd_ctx *c)
{
	return out_list_run(c, &list);
}

const struct cmd_entry cmd_ledger_entry = {
	"ledger", "CUSTOMER [--after SEQ] [--limit N]", "a customer's ledger entries, oldest first",
	CMD_STORE, run
};
