/*
 * list: the console's table widget over a keyset-paged query.
 *
 * A list holds a window of consecutive rows (about three screens), never
 * the whole table: moving past either edge of the window fetches the next
 * page by key ("the rows after this one in the sort order", an index range
 * the way PERF-NOTES.md measured at 0.05-0.12 ms a screen at any depth)
 * and drops rows from the far edge, so memory is flat in the size of the
 * mirror.  Rows are named by their key (the sort value and a unique
 * tie-break), not by their position: a refresh after the mirror changed
 * re-reads the window from its first row's key and puts the top line and
 * the selection back on the rows that carry the same keys.
 *
 * The SQL for a list is put together from the fixed fragments of its
 * list_spec (tui-int.h) once per variant and kept for the program's life
 * (store_stmt caches statements by the text's address).  Nothing the
 * operator types becomes SQL text: the filter is a bound LIKE pattern.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui-int.h"
#include "util.h"

/* ---- SQL variants ------------------------------------------------------- */

enum { M_FIRST, M_AFTER, M_FROM };      /* first page, after a key, at or after */

struct sql_ent {
	const struct list_spec *spec;
	int variant;
	char *sql;
};
static struct sql_ent *sqls;            /* kept for the program's life */
static int nsqls, capsqls;

static const char *
list_sql(const struct list_spec *sp, int sort, int qdesc, int part, int mode, int ctx, int filt)
{
	const struct list_sort *so = &sp->sorts[sort];
	int variant = ((((sort * 2 + qdesc) * LIST_MAXPARTS + part) * 3 + mode) * 2 + ctx) * 2 + filt;
	const char *dir = qdesc ? "DESC" : "ASC";
	const char *op = mode == M_AFTER ? (qdesc ? "<" : ">") : (qdesc ? "<=" : ">=");
	struct buf b;
	int i;

	for (i = 0; i < nsqls; i++)
		if (sqls[i].spec == sp && sqls[i].variant == variant)
			return sqls[i].sql;
	buf_init(&b, 0);
	buf_printf(&b, "SELECT %s, %s AS _s, %s AS _k FROM %s WHERE 1", sp->select,
	    so->expr != NULL ? so->expr : "NULL", so->pk, sp->from);
	if (sp->where != NULL)
		buf_printf(&b, " AND (%s)", sp->where);
	if (ctx && sp->where_ctx != NULL)
		buf_printf(&b, " AND (%s)", sp->where_ctx);
	if (filt && sp->filter != NULL)
		buf_printf(&b, " AND ((%s) LIKE ?2 ESCAPE '\\')", sp->filter);
	if (sp->parts[part] != NULL)
		buf_printf(&b, " AND (%s)", sp->parts[part]);
	if (mode != M_FIRST) {
		if (so->expr != NULL)
			buf_printf(&b, " AND (%s, %s) %s (?3, ?4)", so->expr, so->pk, op);
		else
			buf_printf(&b, " AND %s %s ?4", so->pk, op);
	}
	buf_printf(&b, " ORDER BY ");
	if (so->expr != NULL)
		buf_printf(&b, "%s %s, ", so->expr, dir);
	buf_printf(&b, "%s %s LIMIT ?5", so->pk, dir);
	if (nsqls == capsqls) {
		capsqls = capsqls ? capsqls * 2 : 64;
		sqls = xrealloc(sqls, (size_t)capsqls * sizeof *sqls);
	}
	sqls[nsqls].spec = sp;
	sqls[nsqls].variant = variant;
	sqls[nsqls].sql = b.data;
	return sqls[nsqls++].sql;
}

static int
nparts(const struct list_spec *sp)
{
	int n = 0;

	while (n < LIST_MAXPARTS && sp->parts[n] != NULL)
		n++;
	return n > 0 ? n : 1;
}

/* ---- rows ---------------------------------------------------------------- */

static void
key_free(struct lkey *k)
{
	free(k->s);
	k->s = NULL;
}

static void
key_set(struct lkey *k, const struct qval *v)
{
	k->type = v->type;
	k->i = v->type == QV_INT ? v->i : 0;
	k->s = v->type == QV_TEXT ? xstrdup(v->s) : NULL;
}

static int
key_eq(const struct lkey *a, const struct lkey *b)
{
	if (a->type != b->type)
		return 0;
	if (a->type == QV_INT)
		return a->i == b->i;
	if (a->type == QV_TEXT)
		return strcmp(a->s, b->s) == 0;
	return 1;
}

static struct qval
key_qval(const struct lkey *k)
{
	struct qval v = { NULL, k->type, k->i, k->s };

	return v;
}

static void
row_free(struct lrow *r, int ncols)
{
	int i;

	if (r->cells != NULL)
		for (i = 0; i < ncols; i++)
			free(r->cells[i]);
	free(r->cells);
	free(r->ivals);
	key_free(&r->sv);
	key_free(&r->pk);
	memset(r, 0, sizeof *r);
}

struct fetch {
	const struct list_spec *sp;
	struct lrow *out;
	int n, part;
};

static int
fetch_row(const struct qval *cols, int ncols, void *arg)
{
	struct fetch *f = arg;
	struct lrow *r = &f->out[f->n++];
	char buf[64];
	int i, nc = f->sp->ncols;

	memset(r, 0, sizeof *r);
	r->cells = xcalloc((size_t)nc, sizeof *r->cells);
	r->ivals = xcalloc((size_t)nc, sizeof *r->ivals);
	r->part = f->part;
	for (i = 0; i < nc && i < ncols - 2; i++) {
		const struct qval *v = &cols[i];

		if (v->type == QV_INT) {
			r->ivals[i] = v->i;
			switch (f->sp->cols[i].fmt) {
			case CF_TIME:
				fmt_time(v->i, buf, sizeof buf);
				break;
			case CF_AMOUNT:
				fmt_amount(v->i, buf, sizeof buf);
				break;
			default:
				snprintf(buf, sizeof buf, "%lld", (long long)v->i);
				break;
			}
			r->cells[i] = xstrdup(buf);
		} else if (v->type == QV_TEXT) {
			r->cells[i] = clean_dup(v->s);
		} else {
			r->cells[i] = xstrdup(f->sp->cols[i].fmt == CF_TIME ? "-" : "");
		}
	}
	for (; i < nc; i++)
		r->cells[i] = xstrdup("");
	key_set(&r->sv, &cols[ncols - 2]);
	key_set(&r->pk, &cols[ncols - 1]);
	return 0;
}

/* The LIKE pattern for a filter: %text% with % _ \ escaped. */
static char *
like_pattern(const char *f)
{
	size_t n = strlen(f), o = 0;
	char *p = xmalloc(2 * n + 3);

	p[o++] = '%';
	for (; *f != '\0'; f++) {
		if (*f == '%' || *f == '_' || *f == '\\')
			p[o++] = '\\';
		p[o++] = *f;
	}
	p[o++] = '%';
	p[o] = '\0';
	return p;
}

/*
 * Up to max rows walking forward (the list's order) or backward from `cur`
 * (NULL: from that end), strictly after it or, with `from`, at or after
 * it, across the list's parts.  Rows land in out in the walk's order.
 * Returns how many, or -1 (reported).
 */
static int
fetch(struct tui *t, struct list *l, int fwd, const struct lrow *cur, int from, struct lrow *out,
      int max)
{
	const struct list_spec *sp = l->spec;
	int np = nparts(sp), part, first = cur == NULL;
	char *pat = l->filter != NULL ? like_pattern(l->filter) : NULL;
	struct fetch f = { sp, out, 0, 0 };

	part = cur != NULL ? cur->part : fwd ? 0 : np - 1;
	while (f.n < max && part >= 0 && part < np) {
		int qdesc = l->desc ^ !fwd;
		const char *sql = list_sql(sp, l->sort, qdesc, part, first ? M_FIRST :
		    from ? M_FROM : M_AFTER, l->ctx != NULL, pat != NULL);
		struct qval p[5];

		p[0] = qv_text(l->ctx);
		p[1] = qv_text(pat);
		p[2] = first ? qv_text(NULL) : key_qval(&cur->sv);
		p[3] = first ? qv_text(NULL) : key_qval(&cur->pk);
		p[4] = qv_int(max - f.n);
		f.part = part;
		l->queries++;
		if (tui_query(t, sql, p, 5, fetch_row, &f) < 0) {
			while (f.n > 0)
				row_free(&out[--f.n], sp->ncols);
			free(pat);
			return -1;
		}
		first = 1;
		part += fwd ? 1 : -1;
	}
	free(pat);
	return f.n;
}

/* ---- the window ------------------------------------------------------------ */

static int
chunk(const struct list *l)
{
	int h = l->height > 0 ? l->height : 40;

	return h + 16;
}

static void
reserve(struct list *l, int n)
{
	if (n <= l->cap)
		return;
	l->cap = n + 16;
	l->rows = xrealloc(l->rows, (size_t)l->cap * sizeof *l->rows);
}

static void
clear_rows(struct list *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		row_free(&l->rows[i], l->spec->ncols);
	l->n = 0;
}

/* Drop rows from the front (count k). */
static void
drop_front(struct list *l, int k)
{
	int i;

	if (k <= 0)
		return;
	for (i = 0; i < k; i++)
		row_free(&l->rows[i], l->spec->ncols);
	memmove(l->rows, l->rows + k, (size_t)(l->n - k) * sizeof *l->rows);
	l->n -= k;
	l->top -= k;
	l->sel -= k;
	l->at_start = 0;
}

static void
drop_back(struct list *l, int k)
{
	int i;

	if (k <= 0)
		return;
	for (i = l->n - k; i < l->n; i++)
		row_free(&l->rows[i], l->spec->ncols);
	l->n -= k;
	l->at_end = 0;
}

static int
keep_max(const struct list *l)
{
	return 3 * chunk(l);
}

static int
load_below(struct tui *t, struct list *l)
{
	int c = chunk(l), got;

	if (l->at_end || l->n == 0)
		return 0;
	reserve(l, l->n + c);
	got = fetch(t, l, 1, &l->rows[l->n - 1], 0, l->rows + l->n, c);
	if (got < 0)
		return -1;
	l->n += got;
	if (got < c)
		l->at_end = 1;
	if (l->n > keep_max(l)) {
		int k = l->n - keep_max(l);

		if (k > l->top)
			k = l->top;
		drop_front(l, k);
	}
	return got;
}

static int
load_above(struct tui *t, struct list *l)
{
	int c = chunk(l), got, i;
	struct lrow *tmp;

	if (l->at_start || l->n == 0)
		return 0;
	tmp = xcalloc((size_t)c, sizeof *tmp);
	got = fetch(t, l, 0, &l->rows[0], 0, tmp, c);
	if (got < 0) {
		free(tmp);
		return -1;
	}
	reserve(l, l->n + got);
	memmove(l->rows + got, l->rows, (size_t)l->n * sizeof *l->rows);
	for (i = 0; i < got; i++)
		l->rows[got - 1 - i] = tmp[i];
	free(tmp);
	l->n += got;
	l->top += got;
	l->sel += got;
	if (got < c)
		l->at_start = 1;
	if (l->n > keep_max(l)) {
		int k = l->n - keep_max(l), keep = l->top + l->height + c;

		if (l->n - k < keep)
			k = l->n - keep;
		drop_back(l, k);
	}
	return got;
}

void
list_init(struct list *l, const struct list_spec *spec, const char *ctx)
{
	memset(l, 0, sizeof *l);
	l->spec = spec;
	l->ctx = ctx;
	l->desc = spec->sorts[0].desc;
}

void
list_done(struct list *l)
{
	if (l->spec != NULL)
		clear_rows(l);
	free(l->rows);
	free(l->filter);
	memset(l, 0, sizeof *l);
}

int
list_reload(struct tui *t, struct list *l)
{
	int c = chunk(l), got;

	clear_rows(l);
	reserve(l, c);
	got = fetch(t, l, 1, NULL, 0, l->rows, c);
	l->n = got > 0 ? got : 0;
	l->top = l->sel = 0;
	l->at_start = 1;
	l->at_end = got < c;
	return got < 0 ? -1 : 0;
}

static int
load_end(struct tui *t, struct list *l)
{
	int c = chunk(l), got, i;
	struct lrow *tmp = xcalloc((size_t)c, sizeof *tmp);

	got = fetch(t, l, 0, NULL, 0, tmp, c);
	if (got < 0) {
		free(tmp);
		return -1;
	}
	clear_rows(l);
	reserve(l, got);
	for (i = 0; i < got; i++)
		l->rows[got - 1 - i] = tmp[i];
	free(tmp);
	l->n = got;
	l->at_end = 1;
	l->at_start = got < c;
	l->sel = got > 0 ? got - 1 : 0;
	l->top = got > l->height ? got - l->height : 0;
	return 0;
}

static void
scroll_to_sel(struct list *l)
{
	int h = l->height > 0 ? l->height : 1;

	if (l->sel >= l->n)
		l->sel = l->n > 0 ? l->n - 1 : 0;
	if (l->sel < 0)
		l->sel = 0;
	if (l->top > l->sel)
		l->top = l->sel;
	if (l->sel >= l->top + h)
		l->top = l->sel - h + 1;
	if (l->at_end && l->top > l->n - h)
		l->top = l->n - h;
	if (l->top < 0)
		l->top = 0;
}

int
list_move(struct tui *t, struct list *l, int act)
{
	int h = l->height > 0 ? l->height : 1;
	int rc = 0;

	switch (act) {
	case ACT_DOWN:
		if (l->sel + 1 >= l->n)
			rc = load_below(t, l);
		if (l->sel + 1 < l->n)
			l->sel++;
		break;
	case ACT_UP:
		if (l->sel == 0)
			rc = load_above(t, l);
		if (l->sel > 0)
			l->sel--;
		break;
	case ACT_PGDN:
		while (rc >= 0 && l->top + 2 * h > l->n && !l->at_end)
			rc = load_below(t, l);
		if (l->top + h < l->n) {
			l->top += h;
			l->sel += h;
		} else {
			l->sel = l->n - 1;
		}
		break;
	case ACT_PGUP:
		while (rc >= 0 && l->top < h && !l->at_start)
			if ((rc = load_above(t, l)) == 0)
				break;
		l->top -= h;
		l->sel -= h;
		if (l->top < 0) {
			l->top = 0;
			if (l->sel < 0)
				l->sel = 0;
		}
		break;
	case ACT_HOME:
		if (l->at_start)
			l->top = l->sel = 0;
		else
			rc = list_reload(t, l);
		break;
	case ACT_END:
		if (l->at_end)
			l->sel = l->n - 1;
		else
			rc = load_end(t, l);
		break;
	}
	scroll_to_sel(l);
	return rc < 0 ? -1 : 0;
}

int
list_refresh(struct tui *t, struct list *l)
{
	struct lrow old_top, old_sel, anchor;
	int c = chunk(l), want, got, i, had_top = 0, had_sel = 0, top0, sel0, from_start;
	struct lrow *tmp;

	if (l->n == 0)
		return list_reload(t, l);
	memset(&old_top, 0, sizeof old_top);
	memset(&old_sel, 0, sizeof old_sel);
	memset(&anchor, 0, sizeof anchor);
	old_top.part = l->rows[l->top].part;
	key_set(&old_top.pk, &(struct qval){ NULL, l->rows[l->top].pk.type, l->rows[l->top].pk.i,
	    l->rows[l->top].pk.s });
	old_sel.part = l->rows[l->sel].part;
	key_set(&old_sel.pk, &(struct qval){ NULL, l->rows[l->sel].pk.type, l->rows[l->sel].pk.i,
	    l->rows[l->sel].pk.s });
	anchor.part = l->rows[0].part;
	key_set(&anchor.sv, &(struct qval){ NULL, l->rows[0].sv.type, l->rows[0].sv.i,
	    l->rows[0].sv.s });
	key_set(&anchor.pk, &(struct qval){ NULL, l->rows[0].pk.type, l->rows[0].pk.i,
	    l->rows[0].pk.s });
	top0 = l->top;
	sel0 = l->sel;
	from_start = l->at_start;
	want = l->n > c ? l->n : c;
	tmp = xcalloc((size_t)want, sizeof *tmp);
	/* From the list's first row when the window holds it (rows that
	 * appear there become visible), else from the window's first key. */
	got = fetch(t, l, 1, from_start ? NULL : &anchor, 1, tmp, want);
	if (got >= 0) {
		clear_rows(l);
		reserve(l, got);
		memcpy(l->rows, tmp, (size_t)got * sizeof *tmp);
		l->n = got;
		l->at_end = got < want;
		for (i = 0; i < l->n; i++) {
			if (!had_top && l->rows[i].part == old_top.part &&
			    key_eq(&l->rows[i].pk, &old_top.pk)) {
				l->top = i;
				had_top = 1;
			}
			if (!had_sel && l->rows[i].part == old_sel.part &&
			    key_eq(&l->rows[i].pk, &old_sel.pk)) {
				l->sel = i;
				had_sel = 1;
			}
		}
		if (from_start && top0 == 0)
			l->top = 0;
		else if (!had_top)
			l->top = top0 < l->n ? top0 : 0;
		if (!had_sel)
			l->sel = sel0;
		scroll_to_sel(l);
	}
	free(tmp);
	row_free(&old_top, 0);
	row_free(&old_sel, 0);
	row_free(&anchor, 0);
	return got < 0 ? -1 : 0;
}

void
list_set_sort(struct tui *t, struct list *l, int sort, int desc)
{
	l->sort = sort;
	l->desc = desc;
	list_reload(t, l);
}

void
list_set_filter(struct tui *t, struct list *l, const char *filter)
{
	free(l->filter);
	l->filter = filter != NULL && filter[0] != '\0' ? xstrdup(filter) : NULL;
	list_reload(t, l);
}

const struct lrow *
list_selected(const struct list *l)
{
	return l->sel >= 0 && l->sel < l->n ? &l->rows[l->sel] : NULL;
}

/* ---- drawing -------------------------------------------------------------- */

void
list_draw(struct tui *t, struct list *l, int y, int h, int w,
          int (*row_attr)(const struct lrow *r))
{
	const struct list_spec *sp = l->spec;
	int x[LIST_MAXCOLS], cw[LIST_MAXCOLS], show[LIST_MAXCOLS];
	int i, r, left = w - 1, nflex = 0, sortcol = sp->sorts[l->sort].col;
	int hdr = theme_attr(R_HEADER);

	(void)t;
	/* Fixed columns from the left while they fit; what is left goes to
	 * the flexible ones. */
	for (i = 0; i < sp->ncols; i++) {
		int need = (sp->cols[i].width > 0 ? sp->cols[i].width : 8) + 1;

		show[i] = need <= left;
		if (!show[i]) {
			left = 0;
			continue;
		}
		left -= need;
		cw[i] = sp->cols[i].width > 0 ? sp->cols[i].width : 8;
		if (sp->cols[i].width == 0)
			nflex++;
	}
	for (i = 0; i < sp->ncols; i++)
		if (show[i] && sp->cols[i].width == 0 && nflex > 0) {
			int extra = left / nflex;

			cw[i] += extra;
			left -= extra;
			nflex--;
		}
	r = 1;
	for (i = 0; i < sp->ncols; i++) {
		x[i] = r;
		if (show[i])
			r += cw[i] + 1;
	}

	l->height = h - 1 > 1 ? h - 1 : 1;
	scroll_to_sel(l);
	attron(hdr);
	mvhline(y, 0, ' ', w);
	attroff(hdr);
	for (i = 0; i < sp->ncols; i++) {
		char title[64];
		int right = sp->cols[i].fmt == CF_INT || sp->cols[i].fmt == CF_AMOUNT;

		if (!show[i])
			continue;
		if (i == sortcol)
			snprintf(title, sizeof title, "%s%s", sp->cols[i].title,
			    theme_utf8() ? (l->desc ? "\u25bc" : "\u25b2") : (l->desc ? "v" : "^"));
		else
			snprintf(title, sizeof title, "%s", sp->cols[i].title);
		draw_text(y, x[i], cw[i], title, right, hdr);
	}
	for (r = 0; r < l->height; r++) {
		int idx = l->top + r, attr;
		const struct lrow *row;

		if (idx >= l->n) {
			if (r == 0 && l->n == 0)
				draw_text(y + 1, 1, w - 1, l->filter ? "(no rows match the filter)" :
				    "(none)", 0, theme_attr(R_DIM));
			break;
		}
		row = &l->rows[idx];
		attr = idx == l->sel ? theme_attr(R_SEL) :
		    row_attr != NULL ? theme_attr(row_attr(row)) : 0;
		attron(attr);
		mvhline(y + 1 + r, 0, ' ', w);
		mvaddch(y + 1 + r, 0, idx == l->sel ? '>' : ' ');
		attroff(attr);
		for (i = 0; i < sp->ncols; i++)
			if (show[i])
				draw_text(y + 1 + r, x[i], cw[i], row->cells[i],
				    sp->cols[i].fmt == CF_INT || sp->cols[i].fmt == CF_AMOUNT, attr);
	}
}
