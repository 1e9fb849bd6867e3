/*
 * cmd-balance: one customer's balance, from the cached column, with the
 * ledger sum beside it.  Exit 1 when the customer is not in the mirror.
 */
#include <stdio.h>

#include "cmd.h"
#include "ledger.h"
#include "out.h"

static int
run(struct cmd_ctx *c)
{
	int64_t bal, sum;
	struct err e;
	char buf[300];
	int n;

	if (c->argc != 2)
		return cmd_usage(c, "expected one customer id");
	n = query_run(c->s, "customer-exists", (const char *const *)&c->argv[1], 1, NULL, NULL, &e);
	if (n < 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	if (n == 0)
		return cmd_fail(c, EXIT_NO, "no customer %s in the mirror",
		    out_clean(c->argv[1], buf, sizeof buf));
	if (ledger_balance(c->s, c->argv[1], &bal, &e) != 0 ||
	    ledger_sum(c->s, c->argv[1], &sum, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	if (c->json) {
		out_json(json_pack("{ss sI ss sI sb}", "customer", c->argv[1], "balance", (json_int_t)bal,
		    "unit", c->cat->unit, "ledger_sum", (json_int_t)sum, "consistent", bal == sum));
	} else {
		printf("%s: %lld %s\n", out_clean(c->argv[1], buf, sizeof buf), (long long)bal, c->cat->unit);
		if (bal != sum)
			printf("warning: cached balance %lld differs from the ledger sum %lld\n",
			    (long long)bal, (long long)sum);
	}
	return EXIT_OK;
}

const struct cmd_entry cmd_balance_entry = {
	"balance", "CUSTOMER", "a customer's credit balance",
	CMD_STORE | CMD_CATALOG, run
};
