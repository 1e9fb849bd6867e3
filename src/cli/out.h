/*
 * out: printing for the command line.  Text from outside (names, emails,
 * error messages, excerpts) goes through text_clean before it reaches the
 * terminal; JSON goes out through jansson, which escapes it.
 */
#ifndef TALLY_OUT_H
#define TALLY_OUT_H

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
};

void out_rows_init(struct out_rows *o, int json);
int out_rows_add(const struct qval *cols, int ncols, void *arg);   /* query_row_fn */
/* Print and free.  `title` (may be NULL) is printed above a text table. */
void out_rows_flush(struct out_rows *o, FILE *f);

/* One row as a JSON object (new reference). */
json_t *out_row_json(const struct qval *cols, int ncols);

/* Print a JSON value with a newline and drop the reference. */
void out_json(json_t *v);

/* Clean outside text for a terminal into a static-free caller buffer. */
const char *out_clean(const char *s, char *buf, size_t bufsz);

#endif
