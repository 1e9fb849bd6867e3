/*
 * out: text tables and JSON for the command line, and the one mechanism
 * every list command pages with (out_list_run).  See out.h.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "out.h"
#include "util.h"

const char *
out_clean(const char *s, char *buf, size_t bufsz)
{
	return text_clean(s, s ? strlen(s) : 0, buf, bufsz);
}

void
out_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	}
	json_decref(v);
}

json_t *
out_row_json(const struct qval *cols, int ncols)
{
	json_t *o = json_object();
	int i;

	for (i = 0; i < ncols; i++) {
		json_t *v;

		switch (cols[i].type) {
		case QV_INT:  v = json_integer(cols[i].i); break;
		case QV_TEXT: v = json_string(cols[i].s); break;
		default:      v = json_null(); break;
		}
		if (v == NULL)          /* not UTF-8: keep it visible, never drop the row */
			v = json_string("(invalid UTF-8)");
		json_object_set_new(o, cols[i].name, v);
	}
	return o;
}

void
out_rows_init(struct out_rows *o, int json)
{
	memset(o, 0, sizeof *o);
	o->json = json;
	o->width_cap = 60;
	if (json)
		o->array = json_array();
}

static int
is_time_col(const char *name)
{
	size_t n = strlen(name);

	return (n > 3 && strcmp(name + n - 3, "_at") == 0) || strcmp(name, "created") == 0 ||
	    strcmp(name, "current_period_start") == 0 || strcmp(name, "current_period_end") == 0 ||
	    strcmp(name, "period_start") == 0 || strcmp(name, "period_end") == 0;
}

int
out_rows_add(const struct qval *cols, int ncols, void *arg)
{
	struct out_rows *o = arg;
	char **row;
	int i;

	if (o->json) {
		json_t *r = out_row_json(cols, ncols);

		for (i = 0; o->json_cols != NULL && o->json_cols[i] != NULL; i++) {
			const char *text = json_string_value(json_object_get(r, o->json_cols[i]));
			json_t *v = text != NULL ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

			if (v != NULL)
				json_object_set_new(r, o->json_cols[i], v);
		}
		json_array_append_new(o->array, r);
		return 0;
	}
	if (o->names == NULL) {
		int k;

		o->names = xcalloc((size_t)ncols, sizeof *o->names);
		for (i = 0; i < ncols; i++) {
			for (k = 0; o->json_cols != NULL && o->json_cols[k] != NULL; k++)
				if (strcmp(o->json_cols[k], cols[i].name) == 0)
					break;
			if (o->json_cols != NULL && o->json_cols[k] != NULL)
				break;          /* JSON columns come last; text leaves them out */
			o->names[i] = xstrdup(cols[i].name);
		}
		o->ncols = i;
	}
	row = xcalloc((size_t)ncols, sizeof *row);
	for (i = 0; i < ncols && i < o->ncols; i++) {
		char buf[512];

		switch (cols[i].type) {
		case QV_INT:
			if (is_time_col(cols[i].name))
				time_fmt(cols[i].i, buf, sizeof buf);
			else
				snprintf(buf, sizeof buf, "%lld", (long long)cols[i].i);
			row[i] = xstrdup(buf);
			break;
		case QV_TEXT:
			row[i] = xstrdup(out_clean(cols[i].s, buf, sizeof buf));
			break;
		default:
			row[i] = xstrdup("-");
			break;
		}
	}
	o->cells = xrealloc(o->cells, (size_t)(o->nrows + 1) * sizeof *o->cells);
	o->cells[o->nrows++] = row;
	return 0;
}

/* Display width of UTF-8 text, counting code points. */
static int
text_width(const char *s)
{
	int w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void
print_cell(FILE *f, const char *s, int width, int last)
{
	int w = text_width(s), i;
	const char *p = s;

	if (w > width) {
		/* Cut at `width - 1` code points and mark it. */
		int n = 0;

		while (*p && n < width - 1) {
			p++;
			while (((unsigned char)*p & 0xc0) == 0x80)
				p++;
			n++;
		}
		fwrite(s, 1, (size_t)(p - s), f);
		fputs("…", f);
		w = width;
	} else {
		fputs(s, f);
	}
	if (!last)
		for (i = w; i < width + 2; i++)
			fputc(' ', f);
}

void
out_rows_done(struct out_rows *o)
{
	int i, j;

	json_decref(o->array);
	o->array = NULL;
	for (i = 0; i < o->nrows; i++) {
		for (j = 0; j < o->ncols; j++)
			free(o->cells[i][j]);
		free(o->cells[i]);
	}
	for (j = 0; j < o->ncols; j++)
		free((char *)o->names[j]);
	free(o->names);
	free(o->cells);
	o->names = NULL;
	o->cells = NULL;
	o->nrows = 0;
	o->ncols = 0;
}

void
out_rows_flush(struct out_rows *o, FILE *f)
{
	int *widths, i, j;

	if (o->json) {
		char *s = json_dumps(o->array, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s != NULL) {
			fprintf(f, "%s\n", s);
			free(s);
		}
		out_rows_done(o);
		return;
	}
	if (o->nrows == 0) {
		fprintf(f, "(none)\n");
		out_rows_done(o);
		return;
	}
	widths = xcalloc((size_t)o->ncols, sizeof *widths);
	for (j = 0; j < o->ncols; j++) {
		widths[j] = text_width(o->names[j]);
		for (i = 0; i < o->nrows; i++) {
			int w = text_width(o->cells[i][j]);

			if (w > widths[j])
				widths[j] = w;
		}
		if (widths[j] > o->width_cap)
			widths[j] = o->width_cap;
	}
	for (j = 0; j < o->ncols; j++)
		print_cell(f, o->names[j], widths[j], j == o->ncols - 1);
	fputc('\n', f);
	for (i = 0; i < o->nrows; i++) {
		for (j = 0; j < o->ncols; j++)
			print_cell(f, o->cells[i][j], widths[j], j == o->ncols - 1);
		fputc('\n', f);
	}
	free(widths);
	out_rows_done(o);
}

/* --- list commands: one page of one query ----------------------------- */

struct list_page {
	struct out_rows rows;
	const char *key;
	int64_t limit, seen;
	int more;               /* a row beyond the page exists */
	char *last;             /* the key of the last row printed */
};

/* query_row_fn: keep up to `limit` rows and the last one's key; the query
 * asks for one row more, which only says that another page follows. */
static int
list_row(const struct qval *cols, int ncols, void *arg)
{
	struct list_page *p = arg;
	char num[32];
	int i;

	if (p->seen >= p->limit) {
		p->more = 1;
		return 1;
	}
	p->seen++;
	for (i = 0; i < ncols; i++) {
		if (strcmp(cols[i].name, p->key) != 0)
			continue;
		free(p->last);
		p->last = NULL;
		if (cols[i].type == QV_INT) {
			snprintf(num, sizeof num, "%lld", (long long)cols[i].i);
			p->last = xstrdup(num);
		} else if (cols[i].type == QV_TEXT) {
			p->last = xstrdup(cols[i].s);
		}
	}
	return out_rows_add(cols, ncols, &p->rows);
}

/* The cursor as one shell word for the "next:" hint: cleaned of control
 * characters, and single-quoted unless it is plainly safe. */
static const char *
shell_word(const char *s, char *out, size_t outsz)
{
	char clean[512];
	const char *p;
	size_t n = 0;

	out_clean(s, clean, sizeof clean);
	if (clean[0] != '\0' && strspn(clean, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.:/@%+=,-") == strlen(clean)) {
		snprintf(out, outsz, "%s", clean);
		return out;
	}
	if (outsz < 3)
		return "''";
	out[n++] = '\'';
	for (p = clean; *p != '\0' && n + 6 < outsz; p++) {
		if (*p == '\'') {
			memcpy(out + n, "'\\''", 4);
			n += 4;
		} else {
			out[n++] = *p;
		}
	}
	out[n++] = '\'';
	out[n] = '\0';
	return out;
}

int
out_list_run(struct cmd_ctx *c, const struct out_list *l)
{
	const char *params[1 + OUT_LIST_MAXOPTS + 2], *after = NULL, *v;
	struct list_page p;
	struct err e;
	char limit_param[32], word[1100];
	int64_t limit = l->limit, n;
	int i, k, npos = 0, nopts = 0, rc;

	assert(l->npositional <= 1);
	while (nopts < OUT_LIST_MAXOPTS && l->opts[nopts].flag != NULL) {
		params[l->npositional + nopts] = l->opts[nopts].type == OUT_OPT_SWITCH ? "0" : NULL;
		nopts++;
	}
	for (i = 1; i < c->argc; i++) {
		const char *a = c->argv[i];

		if (a[0] != '-' || a[1] == '\0') {
			if (npos >= l->npositional)
				return cmd_usage(c, "unexpected argument '%s'", a);
			params[npos++] = a;
			continue;
		}
		for (k = 0; k < nopts && strcmp(a, l->opts[k].flag) != 0; k++)
			;
		if (k == nopts && strcmp(a, "--after") != 0 && strcmp(a, "--limit") != 0)
			return cmd_usage(c, "unknown option '%s'", a);
		if (k < nopts && l->opts[k].type == OUT_OPT_SWITCH) {
			params[l->npositional + k] = "1";
			continue;
		}
		if (i + 1 >= c->argc)
			return cmd_usage(c, "%s needs a value", a);
		v = c->argv[++i];
		if (k < nopts) {
			if (l->opts[k].type == OUT_OPT_INT && parse_int64(v, &n) != 0)
				return cmd_usage(c, "%s: expected %s, got '%s'", a, l->opts[k].what, v);
			params[l->npositional + k] = v;
		} else if (strcmp(a, "--after") == 0) {
			if (l->key_int && parse_int64(v, &n) != 0)
				return cmd_usage(c, "--after: expected %s, got '%s'", l->key_what, v);
			after = v;
		} else {
			if (parse_int64(v, &limit) != 0 || limit <= 0)
				return cmd_usage(c, "--limit: expected a positive number, got '%s'", v);
		}
	}
	if (npos < l->npositional)
		return cmd_usage(c, "expected %s", l->positional_what);
	if (after != NULL && l->cursor_check != NULL) {
		rc = query_run(c->s, l->cursor_check, &after, 1, NULL, NULL, &e);
		if (rc < 0)
			return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
		if (rc == 0)
			return cmd_usage(c, "--after: '%s' is not %s in the mirror",
			    out_clean(after, word, sizeof word), l->key_what);
	}
	/* One row more than the page, to know whether another follows. */
	snprintf(limit_param, sizeof limit_param, "%lld",
	    (long long)(limit < INT64_MAX ? limit + 1 : limit));
	k = l->npositional + nopts;
	params[k++] = after;
	params[k++] = limit_param;

	memset(&p, 0, sizeof p);
	out_rows_init(&p.rows, c->json);
	p.rows.json_cols = l->json_cols;
	p.key = l->key;
	p.limit = limit;
	if (query_run(c->s, l->query, params, k, list_row, &p, &e) < 0) {
		out_rows_done(&p.rows);
		free(p.last);
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	}
	out_rows_flush(&p.rows, stdout);
	if (p.more && p.last != NULL) {
		fflush(stdout);
		fprintf(stderr, "next: --after %s\n", shell_word(p.last, word, sizeof word));
	}
	free(p.last);
	return EXIT_OK;
}
