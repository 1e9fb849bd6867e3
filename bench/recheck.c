/*
 * bench-recheck: how long re-checking one customer's drift rules takes, the
 * work done after an event changes a customer (drift_check_customer, as
 * ingest_finish and the sync rounds run it; SPEC 12 budget: 5 ms), for
 * `make bench` (doc/bench.md).
 *
 *     bench-recheck MIRROR CATALOG [N]
 *
 * Re-checks N customers (default 200): the 20 with the most ledger entries,
 * then customers spread evenly over the id order.  Each check runs in its
 * own write transaction, which is rolled back, so the mirror is left as it
 * was; only the check itself is timed.  TALLY_NOW sets the clock, as for
 * tally.  Prints one JSON line: {"customers", "median_ms", "p95_ms",
 * "max_ms", "max_customer"}.  Exit status 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "config.h"
#include "drift.h"
#include "store.h"
#include "util.h"

#define BUSIEST 20

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The customers to check: the busiest, then every k-th id. */
static int
pick(struct store *s, int want, struct strlist *out, struct err *e)
{
	sqlite3_stmt *st;
	int64_t total = 0, step, i = 0;
	int rc;

	st = store_stmt(s, "SELECT customer FROM balances ORDER BY "
	    "(SELECT COUNT(*) FROM ledger WHERE ledger.customer = balances.customer) DESC LIMIT ?", e);
	if (st == NULL)
		return -1;
	bind_int(st, 1, BUSIEST);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strlist_add(out, col_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_err(s, e, "picking customers");
	if ((st = store_stmt(s, "SELECT COUNT(*) FROM customers", e)) == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		total = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	step = want > BUSIEST ? total / (want - BUSIEST) : total;
	if (step < 1)
		step = 1;
	if ((st = store_stmt(s, "SELECT id FROM customers ORDER BY id", e)) == NULL)
		return -1;
	while ((int)out->n < want && (rc = sqlite3_step(st)) == SQLITE_ROW)
		if (i++ % step == 0)
			strlist_add(out, col_text(st, 0));
	sqlite3_reset(st);
	return 0;
}

int
main(int argc, char **argv)
{
	struct strlist who = { NULL, 0 };
	struct catalog *cat = NULL;
	struct drift *d = NULL;
	struct store *s = NULL;
	struct config cfg;
	struct err e;
	double *ms = NULL, t0;
	size_t i, worst = 0;
	int want = argc > 3 ? atoi(argv[3]) : 200, rc = 1;

	config_init(&cfg);
	if (argc < 3 || want < 1) {
		fprintf(stderr, "usage: bench-recheck MIRROR CATALOG [N]\n");
		return 2;
	}
	if (store_open(argv[1], STORE_NOCREATE, &s, &e) != 0 ||
	    catalog_load(argv[2], &cat, &e) != 0 ||
	    drift_open(s, cat, &cfg, &d, &e) != 0 ||
	    pick(s, want, &who, &e) != 0)
		goto out;
	if (who.n == 0) {
		err_set(&e, "%s: no customers", argv[1]);
		goto out;
	}
	ms = xcalloc(who.n, sizeof *ms);
	for (i = 0; i < who.n; i++) {
		if (store_begin(s, &e) != 0)
			goto out;
		t0 = now_ms();
		if (drift_check_customer(d, who.v[i], tally_now(), 0, NULL, &e) != 0) {
			store_rollback(s);
			goto out;
		}
		ms[i] = now_ms() - t0;
		store_rollback(s);
		if (ms[i] > ms[worst])
			worst = i;
	}
	printf("{\"customers\": %zu, \"max_customer\": \"%s\", \"max_ms\": %.3f, ", who.n,
	    who.v[worst], ms[worst]);
	qsort(ms, who.n, sizeof *ms, cmp_double);
	printf("\"median_ms\": %.3f, \"p95_ms\": %.3f}\n", ms[who.n / 2],
	    ms[(who.n * 95) / 100 < who.n ? (who.n * 95) / 100 : who.n - 1]);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "bench-recheck: %s\n", e.msg);
	free(ms);
	strlist_free(&who);
	drift_close(d);
	catalog_free(cat);
	store_close(s);
	config_done(&cfg);
	return rc;
}
