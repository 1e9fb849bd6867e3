/*
 * query: the named reads the front ends show (customers, one customer's
 * subscriptions, invoices and ledger, events, deliveries, quarantine).
 *
 * Each is one SQL statement in the table in query.c, run with bound
 * parameters; rows come back as plain values so the command line can print
 * text or JSON and the console can draw them, without either touching SQL.
 * Every list (customers, ledger, events, deliveries, quarantine) takes, as
 * its last two parameters, a cursor (the key of the last row of the previous
 * page, NULL for the first) and a limit: keyset pages, never OFFSET.
 */
#ifndef TALLY_QUERY_H
#define TALLY_QUERY_H

#include <stdint.h>

#include "err.h"
#include "store.h"

enum qtype { QV_NULL, QV_INT, QV_TEXT };

struct qval {
	const char *name;
	enum qtype type;
	int64_t i;
	const char *s;          /* QV_TEXT; borrowed for the callback's duration */
};

/* Called once per row; return non-zero to stop. */
typedef int (*query_row_fn)(const struct qval *cols, int ncols, void *arg);

/* Run the query `name` with its parameters (NULL binds NULL).  Returns the
 * number of rows, or -1 (e.g. an unknown name). */
int query_run(struct store *s, const char *name, const char *const *params, int nparams,
              query_row_fn fn, void *arg, struct err *e);

/* Run `sql`, a read from a front end's own table (the console's lists,
 * whose sort and filter variants are built once from fixed fragments), with
 * typed parameters (each qval's type and value; QV_NULL binds NULL; names
 * are ignored).  Statements are cached by the text's address: pass a
 * literal, or text kept for the program's life.  A statement that would
 * write is refused.  Rows and the return value as query_run. */
int query_run_sql(struct store *s, const char *sql, const struct qval *params, int nparams,
                  query_row_fn fn, void *arg, struct err *e);

#endif
