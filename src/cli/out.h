/*
 * out: printing for the command line.  Text from outside (names, emails,
 * error messages, excerpts) goes through text_clean before it reaches the
 * terminal; JSON goes out through jansson, which escapes it.
 */
#ifndef TALLY_OUT_H
#define TALLY_OUT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "query.h"

/* A query's rows as a text table (columns named, cleaned, aligned within a
 * width cap) or as a JSON array of objects. */
struct out_rows {
	int json;
	json_t *array;          /* JSON: collected rows */
	/* text: buffered rows so columns can be aligned */
	char ***cells;
	int nrows, ncols;
	const char **names;
	int width_cap;
	const char *const *time_cols;   /* columns shown as times in text */
	const char *const *json_cols;   /* columns holding JSON text (NULL-ended list, may be
	                                   NULL): embedded as JSON values in JSON, left out
	                                   of text tables */
};

void out_rows_init(struct out_rows *o, int json);
int out_rows_add(const struct qval *cols, int ncols, void *arg);   /* query_row_fn */
/* Print (a text table, "(none)" when empty, or the JSON array) and free. */
void out_rows_flush(struct out_rows *o, FILE *f);
/* Free without printing. */
void out_rows_done(struct out_rows *o);

/*
 * A list command: one query from query.c, a page at a time.  The command's
 * words are its positional arguments (ledger's CUSTOMER), its own options,
 * then --after CURSOR and --limit N, which every list takes.  The query's
 * parameters are, in order: the positionals, the options (a switch binds
 * "1" or "0", an absent option NULL), the cursor (NULL for the first page)
 * and the limit.  Pages are keyset pages: the cursor is the `key` column of
 * the last row printed, and the query returns the rows after it in its own
 * order.  When more rows follow a page, "next: --after X" goes to standard
 * error (in text and in JSON, whose standard output stays a plain array).
 */
enum out_opt_type {
	OUT_OPT_SWITCH,         /* a flag without a value */
	OUT_OPT_TEXT,           /* --flag VALUE */
	OUT_OPT_INT             /* --flag N, a whole number */
};

struct out_list_opt {
	const char *flag;       /* "--customer" */
	enum out_opt_type type;
	const char *what;       /* for OUT_OPT_INT errors: "Unix seconds" */
};

#define OUT_LIST_MAXOPTS 4

struct out_list {
	const char *query;      /* the query's name in query.c */
	int npositional;        /* positional arguments required (0 or 1) */
	const char *positional_what;    /* "a customer id" */
	struct out_list_opt opts[OUT_LIST_MAXOPTS];     /* ends at a NULL flag */
	const char *key;        /* the column that is the cursor */
	int key_int;            /* the cursor is a whole number */
	const char *key_what;   /* "an event id", for --after errors */
	const char *cursor_check;       /* a query that returns a row when the cursor
	                                   exists, for cursors that must (NULL: any) */
	int64_t limit;          /* default page size */
	const char *const *json_cols;   /* as struct out_rows's */
};

struct cmd_ctx;
/* Parse c's arguments against l, run the query, print one page.  Returns the
 * exit code: EXIT_OK, EXIT_USAGE (with a message naming the option), or
 * EXIT_RUNTIME. */
int out_list_run(struct cmd_ctx *c, const struct out_list *l);

/* One row as a JSON object (new reference). */
json_t *out_row_json(const struct qval *cols, int ncols);

/* Print a JSON value with a newline and drop the reference. */
void out_json(json_t *v);

/* Clean outside text for a terminal into a static-free caller buffer. */
const char *out_clean(const char *s, char *buf, size_t bufsz);

#endif
