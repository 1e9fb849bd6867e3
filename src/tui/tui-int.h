/*
 * tui-int: what the console's files share.
 *
 * A view is a struct of functions (view_ops, as tig's) over one of two
 * widgets: a list (list.c: a table fetched by keyset pages, never a whole
 * table, with the selection kept by key) or a doc (doc.c: lines built in
 * memory from a few bounded queries: the overview, one customer's tree, a
 * record or a body, the help).  Views live on a history stack in struct tui;
 * Enter pushes one, Esc pops it.
 *
 * Everything here runs on the main thread, the one that owns ncurses.  Only
 * files in src/tui include curses.h.
 */
#ifndef TALLY_TUI_INT_H
#define TALLY_TUI_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "action.h"
#include "catalog.h"
#include "config.h"
#include "query.h"
#include "store.h"

struct cmd_ctx;
struct sync_thread;

/* Key codes: a character is its code point; a curses function key is
 * TK_FN | KEY_x. */
#define TK_FN 0x1000000
#define TK_ESC 27
#define TK_ENTER '\n'
#define TK_CTRL(c) ((c) & 0x1f)

/* ---- theme.c: colours and attributes by role; NO_COLOR honoured -------- */
enum role {
	R_NORMAL, R_STATUS, R_LIVE, R_TEST, R_RO, R_TITLE, R_HEADER, R_SEL, R_BAD, R_GOOD,
	R_WARN, R_DIM, R_KEY, R_ROLES
};
void theme_init(void);
int theme_attr(enum role r);            /* a curses attr_t for the role */
int theme_utf8(void);                   /* the locale can draw UTF-8 */

/* ---- draw.c: text from outside, cleaned and fitted by display width ---- */
/* Draw utf8 (already cleaned) at y,x in exactly `width` columns: cut with
 * an ellipsis or padded; right-aligned when `right`.  Returns the columns
 * the text itself took. */
int draw_text(int y, int x, int width, const char *utf8, int right, int attr);
/* The display width of a cleaned UTF-8 string. */
int text_width(const char *utf8);
/* The bytes of the longest prefix of utf8 that fits in `width` columns
 * (never splits a character). */
size_t text_prefix(const char *utf8, int width);
/* Clean outside text (text_clean) into a new string. */
char *clean_dup(const char *s);
/* Formatting of values for cells. */
void fmt_time(int64_t t, char *out, size_t n);          /* "2026-11-01 12:00" or "-" */
void fmt_amount(int64_t v, char *out, size_t n);        /* "-12,345" */
void fmt_age(int64_t secs, char *out, size_t n);        /* "12s", "5m", "3h", "2d" */

/* ---- list.c: a table fetched by keyset pages ----------------------------- */
enum colfmt { CF_TEXT, CF_INT, CF_AMOUNT, CF_TIME };

#define LIST_MAXCOLS 10
#define LIST_MAXSORTS 4
#define LIST_MAXPARTS 2

struct list_col {
	const char *title;
	enum colfmt fmt;
	int width;              /* columns; 0 = takes what is left */
};

struct list_sort {
	const char *title;      /* shown in the view's title line */
	int col;                /* the column that shows it (marked in the header) */
	const char *expr;       /* SQL; NULL = order by pk alone */
	const char *pk;         /* SQL: a unique key, the tie-break */
	int desc;               /* the default direction */
};

/*
 * A list's SQL is built from these fixed fragments (never from outside
 * text), once per variant (sort, direction, part, first page or after a
 * cursor, context or not, filtered or not), and kept for the program's
 * life.  Parameters: ?1 the context (a customer id), ?2 the filter pattern,
 * ?3 and ?4 the cursor's sort value and key, ?5 the limit.  `parts` split a
 * list into segments shown one after the other, each in the sort order
 * (deliveries: failed first), so each segment is an index range.
 */
struct list_spec {
	const char *select;     /* the columns, one per cols[] entry */
	const char *from;
	const char *where;      /* always applied; may be NULL */
	const char *where_ctx;  /* applied with a context; uses ?1 */
	const char *filter;     /* uses ?2 (a LIKE pattern, ESCAPE '\') */
	const char *parts[LIST_MAXPARTS];
	int ncols;
	struct list_col cols[LIST_MAXCOLS];
	int nsorts;
	struct list_sort sorts[LIST_MAXSORTS];
	int key_col;            /* the column that names the row (the selection shown) */
};

struct lkey {
	enum qtype type;
	int64_t i;
	char *s;
};

struct lrow {
	char **cells;           /* ncols cleaned, formatted strings */
	int64_t *ivals;         /* the raw integers (0 where not an integer) */
	int part;
	struct lkey sv, pk;
};

struct list {
	const struct list_spec *spec;
	const char *ctx;        /* ?1, borrowed from the view; NULL for none */
	int sort, desc;
	char *filter;           /* what the operator typed; NULL for none */
	struct lrow *rows;
	int n, cap;             /* the window of rows held: never the whole table */
	int top, sel;
	int at_start, at_end;   /* the window touches the list's first / last row */
	int height;             /* rows shown at the last draw */
	int64_t queries;        /* statements run, for tests of the paging */
};

struct tui;
void list_init(struct list *l, const struct list_spec *spec, const char *ctx);
void list_done(struct list *l);
int list_reload(struct tui *t, struct list *l);         /* first page */
int list_refresh(struct tui *t, struct list *l);        /* same place, new rows */
int list_move(struct tui *t, struct list *l, int act);  /* ACT_DOWN ... ACT_END */
void list_set_sort(struct tui *t, struct list *l, int sort, int desc);
void list_set_filter(struct tui *t, struct list *l, const char *filter);
const struct lrow *list_selected(const struct list *l);
/* Draw the header at y and the rows below it in h lines; row_attr may pick
 * a role per row (NULL: normal). */
void list_draw(struct tui *t, struct list *l, int y, int h, int w,
               int (*row_attr)(const struct lrow *r));

/* ---- doc.c: lines in memory (overview, tree, record, body, help) -------- */
struct dline {
	char *text;             /* cleaned */
	char *key;              /* names the line across rebuilds; may be NULL */
	char *target;           /* what Enter opens (the view decides); may be NULL */
	int role;
	int depth;              /* tree indentation */
	int node;               /* 0 leaf, 1 collapsed, 2 expanded */
};

struct doc {
	struct dline *lines;
	int n, cap;
	int top, sel;
	int height;
	char **open;            /* keys of expanded nodes */
	int nopen;
};

void doc_init(struct doc *d);
void doc_done(struct doc *d);
/* Start a rebuild: the lines go, the selection's key is remembered. */
void doc_begin(struct doc *d);
/* Put the selection back on the line with the remembered key. */
void doc_end(struct doc *d);
/* Append a line; text is outside text (cleaned here). Returns it. */
struct dline *doc_add(struct doc *d, int role, int depth, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
int doc_is_open(const struct doc *d, const char *key);
void doc_toggle(struct doc *d, const char *key, int open);
void doc_move(struct doc *d, int act);
const struct dline *doc_selected(const struct doc *d);
void doc_draw(struct tui *t, struct doc *d, int y, int h, int w);
/* Pretty-print JSON (or show text as it is) as lines of a doc. */
void doc_add_body(struct doc *d, const char *body, int depth);

/* ---- views ---------------------------------------------------------------- */
struct view;

struct view_ops {
	const char *name;       /* the :command and title */
	const char *aliases;    /* space-separated */
	unsigned bit;           /* V_x: which actions apply */
	const struct list_spec *list;   /* a list view's table; NULL for a doc */
	/* Set up after the view's arg is set; NULL: reload the list. */
	int (*open)(struct view *v, struct tui *t);
	/* Doc views: (re)build the lines.  Lists: NULL (the pager). */
	int (*rows)(struct view *v, struct tui *t);
	/* A role for a list row (failed deliveries in red); may be NULL. */
	int (*draw_row)(const struct lrow *r);
	/* A view's own actions (ACT_OPEN, ACT_CLOSE...); 1 handled, 0 not. */
	int (*on_action)(struct view *v, struct tui *t, int act);
	/* The mirror changed: NULL re-reads the rows in place. */
	int (*on_event)(struct view *v, struct tui *t);
	void (*close)(struct view *v);
};

struct view {
	const struct view_ops *ops;
	char arg[256];          /* the context: a customer id, an event id... */
	char title[300];        /* cleaned */
	struct list list;
	struct doc doc;
	void *priv;
};

extern const struct view_ops view_overview_ops, view_customers_ops, view_customer_ops,
	view_ledger_ops, view_deliveries_ops, view_events_ops, view_alerts_ops, view_audit_ops,
	view_quarantine_ops, view_detail_ops, view_help_ops;

/* Views reachable by name, in the order `:` completes and help lists them. */
extern const struct view_ops *const view_table[];

/* view-detail.c: what a detail view shows, chosen by the opener. */
enum detail_kind { DETAIL_LEDGER, DETAIL_EVENT, DETAIL_DELIVERY, DETAIL_ALERT, DETAIL_AUDIT,
	DETAIL_QUARANTINE };
int view_detail_open(struct tui *t, enum detail_kind kind, const char *id);

/* ---- dialog.c: the modal boxes of the operator's actions ---------------- */
enum dialog_how {
	DIALOG_CLOSE,           /* nothing to answer: Enter, Esc or q closes */
	DIALOG_YES,             /* y confirms; n, q or Esc declines */
	DIALOG_TYPED            /* the text `typed` must be typed, then Enter; Esc declines */
};
/* Ask for one line in a box: the intro (lines; may be NULL), an error from
 * the last answer (may be NULL), then "label: " and the field, starting
 * with `initial` (may be NULL, may be out).  1 entered (out holds UTF-8),
 * 0 cancelled by Esc or the console is quitting (t->quit). */
int dialog_ask(struct tui *t, const char *title, const char *intro, const char *error,
               const char *label, const char *initial, char *out, size_t outsz);
/* Show text (lines separated by newlines; wrapped, scrolled, cleaned) and
 * ask as `how` says.  1 confirmed, 0 declined, closed, or the console is
 * quitting.  A typed text that does not match is asked again, not taken
 * as an answer. */
int dialog_show(struct tui *t, const char *title, const char *text, enum dialog_how how,
                const char *typed);

/* ---- tui.c: the loop and what views call --------------------------------- */
#define TUI_HISTORY 32

struct tui {
	struct cmd_ctx *c;
	struct store *s;
	const struct config *cfg;
	const struct catalog *cat;      /* never NULL: own_cat when none was loaded */
	struct catalog *own_cat;
	const atomic_int *stop;         /* set by a signal: ends an action's network wait */
	struct sync_thread *sync;
	struct view *stack[TUI_HISTORY];
	int depth;
	int quit;
	int dirty;
	int again;              /* re-read the view right after this draw */
	char msg[512];          /* the message line (cleaned) */
	int msg_role;
	int64_t data_version;
	/* the status line, re-read on each tick */
	int64_t age;
	char last_error[256];
	int64_t last_error_at, last_success_at;
	int rows, cols;
};

struct view *tui_view(struct tui *t);
/* Push a new view of ops with arg (may be NULL), open it; 0 or -1. */
int tui_push(struct tui *t, const struct view_ops *ops, const char *arg);
/* Set a view's title (outside text is cleaned). */
void view_set_title(struct view *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message on the bottom line (outside text is cleaned). */
void tui_message(struct tui *t, int role, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Report a storage error from a query. */
void tui_error(struct tui *t, const char *what, const char *msg);
/* The key of the selected row of the current view, or NULL. */
const char *tui_selected_key(struct tui *t);
/* Draw the whole screen now (the view, the status and message lines). */
void tui_draw(struct tui *t);
/* Re-read the current view from the mirror, keeping its selection by key.
 * An operator action calls it after writing: the console's own commits do
 * not change the data_version that the live refresh watches. */
void tui_reread(struct tui *t);
/* Say on the message line what is about to block (a network call) and
 * draw it before returning. */
void tui_busy(struct tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The next key for a modal dialog (a tui key code; Enter is TK_ENTER),
 * waiting for it; -1 when a signal or the terminal's end asks the console
 * to quit (t->quit is then set). */
int tui_modal_key(struct tui *t);
/* Run a read; rows go to fn. -1 reported on the message line. */
int tui_query(struct tui *t, const char *sql, const struct qval *p, int np, query_row_fn fn,
              void *arg);
/* A qval helper for parameters. */
struct qval qv_text(const char *s);
struct qval qv_int(int64_t i);
/* Scalars from the first row's first column. */
int64_t tui_query_int(struct tui *t, const char *sql, const struct qval *p, int np, int64_t dflt);

#endif
