/*
 * out: text tables and JSON for the command line.  See out.h.
 */
#include <stdlib.h>
#include <string.h>

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
		json_array_append_new(o->array, out_row_json(cols, ncols));
		return 0;
	}
	if (o->names == NULL) {
		o->ncols = ncols;
		o->names = xcalloc((size_t)ncols, sizeof *o->names);
		for (i = 0; i < ncols; i++)
			o->names[i] = xstrdup(cols[i].name);
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
out_rows_flush(struct out_rows *o, FILE *f)
{
	int *widths, i, j;

	if (o->json) {
		char *s = json_dumps(o->array, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s != NULL) {
			fprintf(f, "%s\n", s);
			free(s);
		}
		json_decref(o->array);
		o->array = NULL;
		return;
	}
	if (o->nrows == 0) {
		fprintf(f, "(none)\n");
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
		for (j = 0; j < o->ncols; j++) {
			print_cell(f, o->cells[i][j], widths[j], j == o->ncols - 1);
			free(o->cells[i][j]);
		}
		fputc('\n', f);
		free(o->cells[i]);
	}
	for (j = 0; j < o->ncols; j++)
		free((char *)o->names[j]);
	free(o->names);
	free(o->cells);
	free(widths);
	o->names = NULL;
	o->cells = NULL;
	o->nrows = 0;
}
