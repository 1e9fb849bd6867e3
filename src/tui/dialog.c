/*
 * dialog: the modal boxes of the operator's actions (operator.c): a text
 * field (an amount, a reason, a note), and a page of text (a preview, a
 * report) with the question the action asks: y/N, a text to type (a live
 * key, an amount above adjust_cap), or none.
 *
 * A box is drawn over the current view.  Its page is cut into lines by
 * display width (a continuation hangs under the text after its "label:"
 * column, so a preview's request body stays readable) and scrolls when it
 * is taller than the box.  Every line is cleaned again here, whatever its
 * source: no control character reaches the terminal from a dialog either.
 * Keys come from tui_modal_key, so a signal still ends the console while a
 * box waits.  Main thread only.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prompt.h"
#include "tui-int.h"
#include "util.h"

/* A page longer than this is cut (a replay's body may be megabytes);
 * `tally replay --dry-run` prints the whole request. */
#define PAGE_MAX_LINES 2000
#define BOX_MAX_WIDTH 100

struct page {
	char **line;
	int n, cap;
};

struct box {
	int y, x, h, w;
};

static void
page_add(struct page *pg, const char *s, size_t n, int indent)
{
	char *l;

	if (pg->n >= PAGE_MAX_LINES)
		return;
	if (pg->n == PAGE_MAX_LINES - 1) {
		s = "... (cut here: the rest is not shown)";
		n = strlen(s);
		indent = 0;
	}
	if (pg->n == pg->cap) {
		pg->cap = pg->cap > 0 ? pg->cap * 2 : 32;
		pg->line = xrealloc(pg->line, (size_t)pg->cap * sizeof *pg->line);
	}
	l = xmalloc((size_t)indent + n + 1);
	memset(l, ' ', (size_t)indent);
	memcpy(l + indent, s, n);
	l[(size_t)indent + n] = '\0';
	pg->line[pg->n++] = l;
}

static void
page_free(struct page *pg)
{
	int i;

	for (i = 0; i < pg->n; i++)
		free(pg->line[i]);
	free(pg->line);
	memset(pg, 0, sizeof *pg);
}

/* Where a line's continuations start: under the text after its leading
 * spaces and, for "  label:   text", after the label's column. */
static int
hang(const char *s, int width)
{
	int i = (int)strspn(s, " "), j = i;

	while (s[j] != '\0' && s[j] != ' ' && s[j] != ':' && j - i < 12)
		j++;
	if (s[j] == ':' && s[j + 1] == ' ')
		i = j + 1 + (int)strspn(s + j + 1, " ");
	if (i < 2)
		i = 2;
	return i < width / 2 ? i : width / 2;
}

/* One cleaned line into lines of at most `width` columns, broken after a
 * space when that leaves the line at least half full. */
static void
wrap_line(struct page *pg, const char *s, int width)
{
	int ind = hang(s, width), first = 1;

	if (*s == '\0')
		page_add(pg, "", 0, 0);
	while (*s != '\0') {
		size_t n = text_prefix(s, first ? width : width - ind), k;

		if (n == 0) {           /* one character wider than the box */
			n = 1;
			while ((s[n] & 0xc0) == 0x80)
				n++;
		} else if (s[n] != '\0') {
			for (k = n; k > n / 2 && s[k - 1] != ' '; k--)
				;
			if (k > n / 2)
				n = k;
		}
		page_add(pg, s, n, first ? 0 : ind);
		s += n;
		first = 0;
	}
}

static void
page_wrap(struct page *pg, const char *text, int width)
{
	const char *p = text != NULL ? text : "";

	while (*p != '\0' && pg->n < PAGE_MAX_LINES) {
		size_t len = strcspn(p, "\n");
		char *clean = xmalloc(len + 1);

		text_clean(p, len, clean, len + 1);
		wrap_line(pg, clean, width);
		free(clean);
		p += len;
		if (*p == '\n')
			p++;
	}
}

static int
box_width(const struct tui *t)
{
	int w = t->cols - 4 < BOX_MAX_WIDTH ? t->cols - 4 : BOX_MAX_WIDTH;

	return w >= 20 ? w : t->cols;
}

/* A box of `want` rows (as many as fit), centred. */
static void
box_place(const struct tui *t, int want, struct box *b)
{
	b->w = box_width(t);
	b->h = want < t->rows - 2 ? want : t->rows - 2;
	if (b->h < 4)
		b->h = t->rows < 4 ? t->rows : 4;
	b->y = (t->rows - b->h) / 2;
	b->x = (t->cols - b->w) / 2;
}

static void
box_frame(const struct box *b, const char *title)
{
	char ct[300];
	int i, a = theme_attr(R_STATUS);

	attron(a);
	for (i = 0; i < b->h; i++)
		mvhline(b->y + i, b->x, ' ', b->w);
	attroff(a);
	text_clean(title, strlen(title), ct, sizeof ct);
	draw_text(b->y, b->x + 1, b->w - 2, ct, 0, a | A_BOLD);
}

/* One row of the box: outside text, cleaned here. */
static void
box_line(const struct box *b, int row, const char *text, int attr)
{
	char c[1200];

	text_clean(text, strlen(text), c, sizeof c);
	draw_text(b->y + row, b->x + 2, b->w - 4, c, 0, attr);
}

/* "label: text" on a row with the cursor after the text; the text's end
 * is shown when it does not fit. */
static void
box_field(const struct box *b, int row, const char *label, const struct prompt *p)
{
	char raw[PROMPT_MAX * 4], text[PROMPT_MAX * 4], lab[300];
	const char *tail = text;
	int a = theme_attr(R_STATUS), w = b->w - 4, lw, used;

	prompt_text(p, raw, sizeof raw);
	text_clean(raw, strlen(raw), text, sizeof text);
	text_clean(label, strlen(label), lab, sizeof lab);
	lw = text_width(lab) < w / 2 ? text_width(lab) : w / 2;
	draw_text(b->y + row, b->x + 2, lw, lab, 0, a);
	while (*tail != '\0' && text_width(tail) > w - lw - 1) {
		tail++;
		while ((*tail & 0xc0) == 0x80)
			tail++;
	}
	used = draw_text(b->y + row, b->x + 2 + lw, w - lw, tail, 0, a | A_UNDERLINE);
	curs_set(1);
	move(b->y + row, b->x + 2 + lw + used);
}

int
dialog_ask(struct tui *t, const char *title, const char *intro, const char *error,
           const char *label, const char *initial, char *out, size_t outsz)
{
	struct page pg = { NULL, 0, 0 };
	struct prompt field;
	struct box b;
	char lab[300];
	int width = -1, done = -1, key, r, i;

	prompt_start(&field, PROMPT_FIELD, initial);
	snprintf(lab, sizeof lab, "%s: ", label);
	tui_draw(t);
	while (done < 0) {
		if (box_width(t) - 4 != width) {
			page_free(&pg);
			width = box_width(t) - 4;
			page_wrap(&pg, intro, width);
		}
		/* title, a blank row, the intro, the error row, the field */
		box_place(t, pg.n + 4, &b);
		box_frame(&b, title);
		for (i = 0; i < pg.n && 2 + i < b.h - 2; i++)
			box_line(&b, 2 + i, pg.line[i], theme_attr(R_STATUS));
		if (error != NULL && error[0] != '\0')
			box_line(&b, b.h - 2, error, theme_attr(R_LIVE));
		box_field(&b, b.h - 1, lab, &field);
		refresh();
		key = tui_modal_key(t);
		if (key < 0) {
			done = 0;
		} else if (key == (TK_FN | KEY_RESIZE)) {
			tui_draw(t);
		} else if ((r = prompt_key(&field, key)) != PROMPT_EDITING) {
			done = r == PROMPT_DONE;
			if (done)
				prompt_text(&field, out, outsz);
		}
	}
	page_free(&pg);
	curs_set(0);
	t->dirty = 1;
	return done;
}

/* ---- a page with a question ------------------------------------------------ */

enum { BY_LINE, BY_PAGE, BY_ALL };

/* Keys that scroll a page; letters only where they are not typed text. */
static const struct {
	int key;
	int letter;
	int unit, dir;
} scroll_keys[] = {
	{ TK_FN | KEY_DOWN, 0, BY_LINE, 1 }, { TK_FN | KEY_UP, 0, BY_LINE, -1 },
	{ TK_FN | KEY_NPAGE, 0, BY_PAGE, 1 }, { TK_FN | KEY_PPAGE, 0, BY_PAGE, -1 },
	{ TK_FN | KEY_HOME, 0, BY_ALL, -1 }, { TK_FN | KEY_END, 0, BY_ALL, 1 },
	{ 'j', 1, BY_LINE, 1 }, { 'k', 1, BY_LINE, -1 }, { ' ', 1, BY_PAGE, 1 },
	{ 'g', 1, BY_ALL, -1 }, { 'G', 1, BY_ALL, 1 },
};

/* 1 when key scrolled the page (top moved within 0..n-body). */
static int
page_scroll(int key, int typing, int body, int n, int *top)
{
	size_t i;

	for (i = 0; i < sizeof scroll_keys / sizeof scroll_keys[0]; i++) {
		if (scroll_keys[i].key != key || (typing && scroll_keys[i].letter))
			continue;
		*top += scroll_keys[i].dir * (scroll_keys[i].unit == BY_LINE ? 1 :
		    scroll_keys[i].unit == BY_PAGE ? (body > 1 ? body - 1 : 1) : n);
		if (*top > n - body)
			*top = n - body;
		if (*top < 0)
			*top = 0;
		return 1;
	}
	return 0;
}

static const char *const questions[] = {
	[DIALOG_CLOSE] = "Enter or Esc closes",
	[DIALOG_YES] = "y confirms, n or Esc cancels",
	[DIALOG_TYPED] = "> ",          /* the field's label, under the text to type */
};

/* The answer to a key: 1 confirmed, 0 declined or closed, -1 not yet. */
static int
answer(enum dialog_how how, int key, struct prompt *field, const char *typed, char *err,
       size_t errsz)
{
	char got[PROMPT_MAX * 4];
	int r;

	if (how == DIALOG_YES)
		return key == 'y' || key == 'Y' ? 1 : key == 'n' || key == 'N' || key == 'q' ||
		    key == TK_ESC ? 0 : -1;
	if (how == DIALOG_CLOSE)
		return key == TK_ENTER || key == TK_ESC || key == 'q' ? 0 : -1;
	r = prompt_key(field, key);
	if (r == PROMPT_CANCEL)
		return 0;
	if (r == PROMPT_EDITING)
		return -1;
	prompt_text(field, got, sizeof got);
	if (strcmp(got, typed) == 0)
		return 1;
	/* A slip of the finger is not an answer: ask again. */
	snprintf(err, errsz, "that is not %s: type it exactly, or Esc to cancel", typed);
	prompt_start(field, PROMPT_FIELD, NULL);
	return -1;
}

int
dialog_show(struct tui *t, const char *title, const char *text, enum dialog_how how,
            const char *typed)
{
	struct page pg = { NULL, 0, 0 };
	struct prompt field;
	struct box b;
	char err[600] = "", info[200], ask[400];
	int width = -1, top = 0, done = -1, key, body, foot = how == DIALOG_TYPED ? 2 : 1, i;

	prompt_start(&field, PROMPT_FIELD, NULL);
	if (how == DIALOG_TYPED)
		snprintf(ask, sizeof ask, "to confirm, type %s and Enter (Esc cancels)", typed);
	tui_draw(t);
	while (done < 0) {
		if (box_width(t) - 4 != width) {
			page_free(&pg);
			width = box_width(t) - 4;
			page_wrap(&pg, text, width);
		}
		/* title, a blank row, the page, the info row, the question */
		box_place(t, pg.n + 3 + foot, &b);
		body = b.h - 3 - foot;
		if (top > pg.n - body)
			top = pg.n - body > 0 ? pg.n - body : 0;
		box_frame(&b, title);
		for (i = 0; i < body && top + i < pg.n; i++)
			box_line(&b, 2 + i, pg.line[top + i], theme_attr(R_STATUS));
		if (err[0] != '\0') {
			box_line(&b, b.h - 1 - foot, err, theme_attr(R_LIVE));
		} else if (pg.n > body) {
			snprintf(info, sizeof info, "lines %d-%d of %d: %s scroll", top + 1,
			    top + body < pg.n ? top + body : pg.n, pg.n,
			    how == DIALOG_TYPED ? "Up, Down, PgUp, PgDn" : "j, k, PgUp, PgDn");
			box_line(&b, b.h - 1 - foot, info, theme_attr(R_STATUS) | A_BOLD);
		}
		if (how == DIALOG_TYPED) {
			box_line(&b, b.h - 2, ask, theme_attr(R_STATUS) | A_BOLD);
			box_field(&b, b.h - 1, questions[how], &field);
		} else {
			curs_set(0);
			box_line(&b, b.h - 1, questions[how], theme_attr(R_STATUS) | A_BOLD);
		}
		refresh();
		key = tui_modal_key(t);
		if (key < 0)
			done = 0;
		else if (key == (TK_FN | KEY_RESIZE))
			tui_draw(t);
		else if (!page_scroll(key, how == DIALOG_TYPED, body, pg.n, &top))
			done = answer(how, key, &field, typed, err, sizeof err);
	}
	page_free(&pg);
	curs_set(0);
	t->dirty = 1;
	return done;
}
