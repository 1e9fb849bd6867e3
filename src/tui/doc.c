/*
 * doc: a view made of lines built in memory: the overview, one customer's
 * tree, a record, a pretty-printed body, the help.  What goes into one is
 * bounded by the queries that build it (a few sections of at most some
 * dozens of rows, a body capped by max_value_bytes), never a whole table.
 * A rebuild after the mirror changed keeps the selection on the line with
 * the same key, and the expanded nodes by key too.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tui-int.h"
#include "util.h"

#define DOC_MAXLINES 200000

static char *sel_key;           /* between doc_begin and doc_end */
static int sel_index, top_index;

void
doc_init(struct doc *d)
{
	memset(d, 0, sizeof *d);
}

static void
clear_lines(struct doc *d)
{
	int i;

	for (i = 0; i < d->n; i++) {
		free(d->lines[i].text);
		free(d->lines[i].key);
		free(d->lines[i].target);
	}
	d->n = 0;
}

void
doc_done(struct doc *d)
{
	int i;

	clear_lines(d);
	free(d->lines);
	for (i = 0; i < d->nopen; i++)
		free(d->open[i]);
	free(d->open);
	memset(d, 0, sizeof *d);
}

void
doc_begin(struct doc *d)
{
	const struct dline *l = doc_selected(d);

	free(sel_key);
	sel_key = l != NULL && l->key != NULL ? xstrdup(l->key) : NULL;
	sel_index = d->sel;
	top_index = d->top;
	clear_lines(d);
}

void
doc_end(struct doc *d)
{
	int i;

	d->sel = sel_index;
	d->top = top_index;
	if (sel_key != NULL)
		for (i = 0; i < d->n; i++)
			if (d->lines[i].key != NULL && strcmp(d->lines[i].key, sel_key) == 0) {
				d->top += i - d->sel;
				d->sel = i;
				break;
			}
	free(sel_key);
	sel_key = NULL;
	if (d->sel >= d->n)
		d->sel = d->n - 1;
	if (d->sel < 0)
		d->sel = 0;
	if (d->top > d->sel)
		d->top = d->sel;
	if (d->top < 0)
		d->top = 0;
}

struct dline *
doc_add(struct doc *d, int role, int depth, const char *key, const char *fmt, ...)
{
	struct dline *l;
	char raw[2048];
	va_list ap;

	if (d->n >= DOC_MAXLINES)
		d->n--;         /* keep the last line slot for the cut marker */
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->lines = xrealloc(d->lines, (size_t)d->cap * sizeof *d->lines);
	}
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	l = &d->lines[d->n++];
	memset(l, 0, sizeof *l);
	l->text = clean_dup(raw);
	l->key = key != NULL ? xstrdup(key) : NULL;
	l->role = role;
	l->depth = depth;
	return l;
}

int
doc_is_open(const struct doc *d, const char *key)
{
	int i;

	for (i = 0; i < d->nopen; i++)
		if (strcmp(d->open[i], key) == 0)
			return 1;
	return 0;
}

void
doc_toggle(struct doc *d, const char *key, int open)
{
	int i;

	for (i = 0; i < d->nopen; i++)
		if (strcmp(d->open[i], key) == 0) {
			if (!open) {
				free(d->open[i]);
				d->open[i] = d->open[--d->nopen];
			}
			return;
		}
	if (open) {
		d->open = xrealloc(d->open, (size_t)(d->nopen + 1) * sizeof *d->open);
		d->open[d->nopen++] = xstrdup(key);
	}
}

const struct dline *
doc_selected(const struct doc *d)
{
	return d->sel >= 0 && d->sel < d->n ? &d->lines[d->sel] : NULL;
}

void
doc_move(struct doc *d, int act)
{
	int h = d->height > 0 ? d->height : 1;

	switch (act) {
	case ACT_DOWN:
		d->sel++;
		break;
	case ACT_UP:
		d->sel--;
		break;
	case ACT_PGDN:
		d->sel += h;
		d->top += h;
		break;
	case ACT_PGUP:
		d->sel -= h;
		d->top -= h;
		break;
	case ACT_HOME:
		d->sel = d->top = 0;
		break;
	case ACT_END:
		d->sel = d->n - 1;
		break;
	}
	if (d->sel >= d->n)
		d->sel = d->n - 1;
	if (d->sel < 0)
		d->sel = 0;
	if (d->top > d->n - h)
		d->top = d->n - h;
	if (d->top < 0)
		d->top = 0;
}

void
doc_draw(struct tui *t, struct doc *d, int y, int h, int w)
{
	int r;

	(void)t;
	d->height = h;
	if (d->sel < d->top)
		d->top = d->sel;
	if (d->sel >= d->top + h)
		d->top = d->sel - h + 1;
	for (r = 0; r < h && d->top + r < d->n; r++) {
		const struct dline *l = &d->lines[d->top + r];
		int sel = d->top + r == d->sel, attr = sel ? theme_attr(R_SEL) : theme_attr(l->role);
		int x = 1 + 2 * l->depth;
		const char *mark = "";

		if (l->node == 1)
			mark = theme_utf8() ? "\u25b8 " : "+ ";
		else if (l->node == 2)
			mark = theme_utf8() ? "\u25be " : "- ";
		attron(attr);
		mvhline(y + r, 0, ' ', w);
		mvaddch(y + r, 0, sel ? '>' : ' ');
		attroff(attr);
		if (x >= w)
			continue;
		if (mark[0] != '\0')
			x += draw_text(y + r, x, w - x, mark, 0, attr);
		draw_text(y + r, x, w - x, l->text, 0, attr);
	}
}

void
doc_add_body(struct doc *d, const char *body, int depth)
{
	json_t *j = NULL;
	char *text = NULL;
	const char *p, *nl;

	if (body == NULL || body[0] == '\0') {
		doc_add(d, R_DIM, depth, NULL, "(empty)");
		return;
	}
	/* Numbers keep their digits: decode integers as jansson does and
	 * print them back the same. */
	j = json_loads(body, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (j != NULL)
		text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(j);
	p = text != NULL ? text : body;
	while (*p != '\0') {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		doc_add(d, R_NORMAL, depth, NULL, "%.*s", (int)(nl - p), p);
		p = *nl != '\0' ? nl + 1 : nl;
	}
	free(text);
}
