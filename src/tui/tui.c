/*
 * tui: the console's loop, its history of views, the status line and the
 * one dispatcher of actions.
 *
 * The loop poll()s standard input, a pipe the signal handlers write to and,
 * when the sync thread runs, the thread's wake pipe (doc/threading.md).
 * Curses reads keys in nodelay mode once poll says there may be some, so
 * nothing blocks in curses.  A wake from the sync thread, or a one-second
 * tick, asks the mirror whether anything was committed since the last look
 * (SQLite's data_version, which also sees other processes such as a
 * `tally ingest` next door); only then does the current view re-read its
 * rows, keeping its selection and scroll position by key.
 *
 * Keys go through the action table (action.h): tui_dispatch checks an
 * action's flags (a selection, read-only mode, an API key) and calls its
 * handler.  The operator's actions (operator.c) open modal dialogs
 * (dialog.c), which read keys through tui_modal_key: it waits on the
 * terminal and the signal pipe only, so a signal still ends the console
 * while a dialog is open.  Main thread only.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "cmd.h"
#include "prompt.h"
#include "sync.h"
#include "tui-int.h"
#include "tui.h"
#include "util.h"

const struct view_ops *const view_table[] = {
	&view_overview_ops, &view_customers_ops, &view_ledger_ops, &view_deliveries_ops,
	&view_events_ops, &view_alerts_ops, &view_audit_ops, &view_quarantine_ops, &view_help_ops,
	NULL
};

static struct prompt prompt;
static int last_key;
/* TALLY_CONSOLE_TIMINGS=FILE: one line per redraw after a key (and for the
 * first screen) with the milliseconds it took, for `make bench`. */
static FILE *timings;
static int64_t timing_since = -1;
static const char *timing_what = "first-screen";
static int sig_pipe[2] = { -1, -1 };
/* Set by the signal handlers: ends an operator action's network wait
 * (action_env.stop) as well as the loop. */
static atomic_int stopping;

/* ---- small helpers views use ------------------------------------------- */

struct qval
qv_text(const char *s)
{
	struct qval v = { NULL, s != NULL ? QV_TEXT : QV_NULL, 0, s };

	return v;
}

struct qval
qv_int(int64_t i)
{
	struct qval v = { NULL, QV_INT, i, NULL };

	return v;
}

void
tui_message(struct tui *t, int role, const char *fmt, ...)
{
	char raw[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	text_clean(raw, strlen(raw), t->msg, sizeof t->msg);
	t->msg_role = role;
	t->dirty = 1;
}

void
view_set_title(struct view *v, const char *fmt, ...)
{
	char raw[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	text_clean(raw, strlen(raw), v->title, sizeof v->title);
}

void
tui_error(struct tui *t, const char *what, const char *msg)
{
	tui_message(t, R_BAD, "%s: %s", what, msg);
}

int
tui_query(struct tui *t, const char *sql, const struct qval *p, int np, query_row_fn fn,
          void *arg)
{
	struct err e;
	int rc = query_run_sql(t->s, sql, p, np, fn, arg, &e);

	if (rc < 0)
		tui_error(t, "reading the mirror", e.msg);
	return rc;
}

static int
first_int(const struct qval *cols, int ncols, void *arg)
{
	if (ncols > 0 && cols[0].type == QV_INT)
		*(int64_t *)arg = cols[0].i;
	return 1;
}

int64_t
tui_query_int(struct tui *t, const char *sql, const struct qval *p, int np, int64_t dflt)
{
	int64_t v = dflt;

	tui_query(t, sql, p, np, first_int, &v);
	return v;
}

struct view *
tui_view(struct tui *t)
{
	return t->depth > 0 ? t->stack[t->depth - 1] : NULL;
}

const char *
tui_selected_key(struct tui *t)
{
	struct view *v = tui_view(t);

	if (v == NULL)
		return NULL;
	if (v->ops->list != NULL) {
		const struct lrow *r = list_selected(&v->list);

		return r != NULL ? r->cells[v->list.spec->key_col] : NULL;
	} else {
		const struct dline *l = doc_selected(&v->doc);

		return l != NULL ? (l->target != NULL ? l->target : l->key) : NULL;
	}
}

/* ---- the history of views -------------------------------------------------- */

static void
view_free(struct view *v)
{
	if (v == NULL)
		return;
	if (v->ops->close != NULL)
		v->ops->close(v);
	list_done(&v->list);
	doc_done(&v->doc);
	free(v);
}

int
tui_push(struct tui *t, const struct view_ops *ops, const char *arg)
{
	struct view *v = xcalloc(1, sizeof *v);
	int rc;

	v->ops = ops;
	if (arg != NULL)
		snprintf(v->arg, sizeof v->arg, "%s", arg);
	text_clean(ops->name, strlen(ops->name), v->title, sizeof v->title);
	doc_init(&v->doc);
	if (ops->list != NULL) {
		list_init(&v->list, ops->list, v->arg[0] ? v->arg : NULL);
		v->list.height = t->rows > 4 ? t->rows - 4 : 1;
	}
	v->doc.height = t->rows > 3 ? t->rows - 3 : 1;
	if (ops->open != NULL)
		rc = ops->open(v, t);
	else if (ops->list != NULL)
		rc = list_reload(t, &v->list);
	else
		rc = ops->rows != NULL ? ops->rows(v, t) : 0;
	if (rc < 0) {
		view_free(v);
		return -1;
	}
	if (t->depth == TUI_HISTORY) {
		view_free(t->stack[0]);
		memmove(t->stack, t->stack + 1, (TUI_HISTORY - 1) * sizeof t->stack[0]);
		t->depth--;
	}
	t->stack[t->depth++] = v;
	t->dirty = 1;
	return 0;
}

static void
tui_pop(struct tui *t)
{
	if (t->depth <= 1)
		return;
	view_free(t->stack[--t->depth]);
	t->stack[t->depth] = NULL;
	/* What was below may be stale by now. */
	t->data_version = -1;
	t->dirty = 1;
}

/* ---- the dispatcher and the generic handlers ------------------------------ */

static void
tui_dispatch(struct tui *t, int act)
{
	const struct action *a = &actions[act];
	struct view *v = tui_view(t);

	if ((a->flags & A_SEL) && (v->ops->list != NULL ? list_selected(&v->list) == NULL :
	    doc_selected(&v->doc) == NULL)) {
		tui_message(t, R_WARN, "%s: nothing is selected", a->name);
		return;
	}
	if ((a->flags & A_WRITES) && t->cfg->read_only) {
		tui_message(t, R_BAD, "%s refused: read-only mode (--read-only or read_only = true); "
		    "nothing was changed", a->name);
		return;
	}
	if ((a->flags & A_NET) && t->cfg->api_key == NULL) {
		tui_message(t, R_BAD, "%s needs a Stripe API key (STRIPE_API_KEY)", a->name);
		return;
	}
	a->fn(t, v, act);
}

int
act_move(struct tui *t, struct view *v, int act)
{
	if (v->ops->list != NULL)
		return list_move(t, &v->list, act);
	doc_move(&v->doc, act);
	return 0;
}

int
act_view(struct tui *t, struct view *v, int act)
{
	if (v->ops->on_action != NULL && v->ops->on_action(v, t, act))
		return 0;
	if (v->ops->list != NULL && act == ACT_SORT) {
		const struct list_spec *sp = v->list.spec;
		int next = (v->list.sort + 1) % sp->nsorts;

		list_set_sort(t, &v->list, next, sp->sorts[next].desc);
		if (sp->nsorts == 1)
			tui_message(t, R_NORMAL, "this list sorts only by %s (S reverses)",
			    sp->sorts[0].title);
		return 0;
	}
	if (v->ops->list != NULL && act == ACT_REVERSE) {
		list_set_sort(t, &v->list, v->list.sort, !v->list.desc);
		return 0;
	}
	if (act == ACT_CLOSE)
		return act_back(t, v, act);
	tui_message(t, R_DIM, "nothing to open here");
	return 0;
}

int
act_back(struct tui *t, struct view *v, int act)
{
	if (v->ops->list != NULL && v->list.filter != NULL && last_key == TK_ESC) {
		list_set_filter(t, &v->list, NULL);
		tui_message(t, R_NORMAL, "filter cleared");
		return 0;
	}
	if (t->depth > 1)
		tui_pop(t);
	else if (last_key == 'q')
		t->quit = 1;
	return 0;
}

int
act_prompt(struct tui *t, struct view *v, int act)
{
	if (act == ACT_FILTER)
		prompt_start(&prompt, '/', v->list.filter);
	else
		prompt_start(&prompt, ':', NULL);
	t->msg[0] = '\0';
	return 0;
}

int
act_help(struct tui *t, struct view *v, int act)
{
	if (v->ops != &view_help_ops)
		tui_push(t, &view_help_ops, v->ops->name);
	return 0;
}

int
act_refresh(struct tui *t, struct view *v, int act)
{
	if (t->sync != NULL)
		sync_thread_kick(t->sync);
	tui_reread(t);
	clearok(curscr, TRUE);
	tui_message(t, R_NORMAL, "re-read%s", t->sync != NULL ? "; sync asked for a round" : "");
	return 0;
}

int
act_quit(struct tui *t, struct view *v, int act)
{
	t->quit = 1;
	return 0;
}

/* ---- `:` commands ------------------------------------------------------------ */

static int
has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	while (*list != '\0') {
		size_t l = strcspn(list, " ");

		if (l == n && strncmp(list, w, n) == 0)
			return 1;
		list += l;
		list += strspn(list, " ");
	}
	return 0;
}

static void
run_command(struct tui *t, const char *line)
{
	char word[64], arg[256] = "";
	const struct view_ops *ops = NULL;
	const char *p = line + strspn(line, " ");
	size_t n = strcspn(p, " ");
	int i;

	if (n == 0)
		return;
	snprintf(word, sizeof word, "%.*s", (int)n, p);
	p += n;
	p += strspn(p, " ");
	snprintf(arg, sizeof arg, "%s", p);
	n = strlen(arg);
	while (n > 0 && arg[n - 1] == ' ')
		arg[--n] = '\0';
	if (strcmp(word, "q") == 0 || strcmp(word, "quit") == 0 || strcmp(word, "q!") == 0 ||
	    strcmp(word, "exit") == 0) {
		t->quit = 1;
		return;
	}
	for (i = 0; view_table[i] != NULL; i++)
		if (strcmp(view_table[i]->name, word) == 0 || has_word(view_table[i]->aliases, word))
			ops = view_table[i];
	if (ops == NULL) {
		tui_message(t, R_BAD, "unknown command '%s' (Tab completes, ? lists them)", word);
		return;
	}
	if (ops == &view_customers_ops && arg[0] != '\0')
		ops = &view_customer_ops;
	else if (arg[0] != '\0' && ops != &view_ledger_ops && ops != &view_deliveries_ops &&
	    ops != &view_events_ops && ops != &view_alerts_ops)
		arg[0] = '\0';
	tui_push(t, ops, arg[0] ? arg : NULL);
}

static void
prompt_done(struct tui *t, int kind)
{
	char line[PROMPT_MAX * 4];
	struct view *v = tui_view(t);

	prompt_text(&prompt, line, sizeof line);
	if (kind == ':') {
		run_command(t, line);
	} else if (v->ops->list != NULL) {
		list_set_filter(t, &v->list, line);
		if (v->list.filter != NULL)
			tui_message(t, R_NORMAL, "filter: %s (Esc clears)", line);
	}
}

/* ---- the screen ------------------------------------------------------------ */

static void
draw_status(struct tui *t)
{
	char path[300], age[32], buf[600], err[300];
	int x, w = t->cols, st = theme_attr(R_STATUS);
	struct sync_snapshot snap;

	attron(st);
	mvhline(0, 0, ' ', w);
	attroff(st);
	x = draw_text(0, 0, 7, " tally ", 0, st | A_BOLD);
	if (config_is_live(t->cfg))
		x += draw_text(0, x, 6, " LIVE ", 0, theme_attr(R_LIVE));
	else
		x += draw_text(0, x, 6, " TEST ", 0, theme_attr(R_TEST));
	if (t->cfg->read_only) {
		x += draw_text(0, x, 1, " ", 0, st);
		x += draw_text(0, x, 11, " READ-ONLY ", 0, theme_attr(R_RO));
	}
	fmt_age(t->age, age, sizeof age);
	snprintf(buf, sizeof buf, " sync %s%s", age, t->age >= 0 ? " ago" : "");
	if (t->sync != NULL) {
		sync_thread_snapshot(t->sync, &snap);
		if (snap.running && snap.phase != SYNC_IDLE)
			snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " (%s)",
			    sync_phase_name(snap.phase));
		else if (!snap.running)
			snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " (stopped)");
		if (snap.last_error[0] != '\0' && t->last_error[0] == '\0')
			text_clean(snap.last_error, strlen(snap.last_error), t->last_error,
			    sizeof t->last_error);
	}
	if (x < w)
		x += draw_text(0, x, w - x < (int)strlen(buf) ? w - x : (int)strlen(buf), buf, 0, st);
	if (t->last_error[0] != '\0' && x + 4 < w) {
		snprintf(err, sizeof err, "  error: %s", t->last_error);
		x += draw_text(0, x, w - x < text_width(err) ? w - x : text_width(err), err, 0,
		    theme_attr(R_LIVE));
	}
	text_clean(store_path(t->s), strlen(store_path(t->s)), path, sizeof path);
	if (x + 3 < w) {
		int pw = text_width(path);

		if (pw > w - x - 2)
			pw = w - x - 2;
		draw_text(0, w - pw - 1, pw, path, 1, st);
	}
}

static void
draw_title(struct tui *t, struct view *v)
{
	char left[600], right[300];
	const char *sel = v->ops->list != NULL ? tui_selected_key(t) : NULL;
	int w = t->cols, used;

	if (v->ops->list != NULL) {
		const struct list_spec *sp = v->list.spec;

		snprintf(left, sizeof left, "%s  sort: %s %s%s%s", v->title,
		    sp->sorts[v->list.sort].title, v->list.desc ? "desc" : "asc",
		    v->list.filter ? "  filter: " : "", v->list.filter ? v->list.filter : "");
	} else {
		snprintf(left, sizeof left, "%s", v->title);
	}
	snprintf(right, sizeof right, "%s%s", sel != NULL ? "sel: " : "", sel != NULL ? sel : "");
	mvhline(1, 0, ' ', w);
	used = draw_text(1, 0, w, left, 0, theme_attr(R_TITLE));
	if (right[0] != '\0' && used + 3 < w) {
		int rw = text_width(right);

		if (rw > w - used - 2)
			rw = w - used - 2;
		draw_text(1, w - rw, rw, right, 1, theme_attr(R_DIM));
	}
}

/* The reminder on the last line: the view's operator actions (from the
 * action table, so it names only keys that exist here; none in read-only
 * mode), then the main keys. */
static void
hint_text(const struct tui *t, const struct view *v, char *out, size_t n)
{
	size_t o = 0;
	int a;

	out[0] = '\0';
	for (a = 0; a < ACT_COUNT && !t->cfg->read_only; a++)
		if ((actions[a].flags & A_WRITES) && (actions[a].views & v->ops->bit) && o < n)
			o += (size_t)snprintf(out + o, n - o, "%.*s:%s  ",
			    (int)strcspn(actions[a].keys, " "), actions[a].keys, actions[a].name);
	if (o < n)
		snprintf(out + o, n - o, "?:help  :command  /filter  s:sort  Enter:open  Esc:back  "
		    "Q:quit");
}

void
tui_draw(struct tui *t)
{
	struct view *v = tui_view(t);
	int body = t->rows - 3;
	char hint[300];

	getmaxyx(stdscr, t->rows, t->cols);
	body = t->rows - 3;
	erase();
	if (t->rows < 4 || t->cols < 20) {
		mvaddstr(0, 0, "tally: the window is too small");
		refresh();
		return;
	}
	draw_status(t);
	draw_title(t, v);
	if (v->ops->list != NULL)
		list_draw(t, &v->list, 2, body, t->cols, v->ops->draw_row);
	else
		doc_draw(t, &v->doc, 2, body, t->cols);
	if (prompt.active) {
		curs_set(1);
		prompt_draw(&prompt, t->rows - 1, t->cols);
	} else {
		curs_set(0);
		if (t->msg[0] != '\0') {
			draw_text(t->rows - 1, 0, t->cols, t->msg, 0, theme_attr(t->msg_role));
		} else {
			hint_text(t, v, hint, sizeof hint);
			draw_text(t->rows - 1, 0, t->cols, hint, 0, theme_attr(R_DIM));
		}
	}
	refresh();
}

/* ---- the mirror changed ------------------------------------------------------ */

static void
read_status(struct tui *t)
{
	int64_t err_at = 0, ok_at = 0;
	char msg[512];

	if (access_mirror_age(t->s, tally_now(), &t->age, NULL) != 0)
		t->age = -1;
	t->last_error[0] = '\0';
	if (store_meta_get_int(t->s, "sync.last_error_at", &err_at) == 0 &&
	    (store_meta_get_int(t->s, "sync.last_success_at", &ok_at) != 0 || err_at >= ok_at) &&
	    store_meta_get_text(t->s, "sync.last_error", msg, sizeof msg) == 0)
		text_clean(msg, strlen(msg), t->last_error, sizeof t->last_error);
}

void
tui_reread(struct tui *t)
{
	struct view *v = tui_view(t);

	if (v->ops->on_event != NULL)
		v->ops->on_event(v, t);
	else if (v->ops->list != NULL)
		list_refresh(t, &v->list);
	else if (v->ops->rows != NULL)
		v->ops->rows(v, t);
	read_status(t);
	t->dirty = 1;
}

/* 1 when something was committed to the mirror since the last look. */
static int
mirror_changed(struct tui *t)
{
	int64_t dv = tui_query_int(t, "SELECT data_version FROM pragma_data_version", NULL, 0, -1);

	if (dv == t->data_version)
		return 0;
	t->data_version = dv;
	return 1;
}

/* ---- keys -------------------------------------------------------------------- */

static void
handle_key(struct tui *t, int key)
{
	struct view *v = tui_view(t);
	int act;

	if (key == '\r' || key == (TK_FN | KEY_ENTER))
		key = TK_ENTER;
	if (key == (TK_FN | KEY_RESIZE)) {
		t->dirty = 1;
		return;
	}
	last_key = key;
	if (prompt.active) {
		int kind = prompt.kind, r = prompt_key(&prompt, key);

		if (r == PROMPT_DONE)
			prompt_done(t, kind);
		t->dirty = 1;
		return;
	}
	t->msg[0] = '\0';
	act = action_for_key(key, v->ops->bit);
	if (act < 0) {
		if (key < TK_FN && key >= 0x20)
			tui_message(t, R_DIM, "no action on '%lc' here (? lists the keys)", (wint_t)key);
		return;
	}
	tui_dispatch(t, act);
	t->dirty = 1;
}

/* ---- signals ------------------------------------------------------------- */

static void
on_signal(int sig)
{
	int saved = errno;
	char b = (char)sig;

	atomic_store(&stopping, 1);

	if (write(sig_pipe[1], &b, 1) < 0) {
		/* full: a byte is already waiting */
	}
	errno = saved;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
mono_ms(void)
{
	return mono_us() / 1000;
}

static void
drain(int fd)
{
	char b[64];

	while (read(fd, b, sizeof b) > 0)
		;
}

/* ---- keys for a modal dialog ---------------------------------------------- */

int
tui_modal_key(struct tui *t)
{
	struct pollfd pfd[2];
	wint_t wc;
	int r, hup = 0;

	for (;;) {
		r = get_wch(&wc);
		if (r != ERR) {
			int key = r == KEY_CODE_YES ? (int)(TK_FN | (int)wc) : (int)wc;

			return key == '\r' || key == (TK_FN | KEY_ENTER) ? TK_ENTER : key;
		}
		if (hup)
			break;          /* the terminal went away */
		pfd[0].fd = STDIN_FILENO;
		pfd[0].events = POLLIN;
		pfd[1].fd = sig_pipe[0];
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN) {
			drain(sig_pipe[0]);
			break;
		}
		hup = (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
	}
	t->quit = 1;
	return -1;
}

void
tui_busy(struct tui *t, const char *fmt, ...)
{
	char raw[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	tui_message(t, R_WARN, "%s", raw);
	tui_draw(t);
}

/* ---- the loop ------------------------------------------------------------ */

static void
loop(struct tui *t)
{
	int64_t next_tick = 0, check_at = -1;

	while (!t->quit) {
		struct pollfd pfd[3];
		int nfds = 2, timeout, r, got = 0;
		int64_t now = mono_ms();
		wint_t wc;

		if (t->dirty) {
			tui_draw(t);
			t->dirty = 0;
			if (timings != NULL && timing_since >= 0) {
				fprintf(timings, "%s %.3f\n", timing_what,
				    (double)(mono_us() - timing_since) / 1000.0);
				fflush(timings);
				timing_since = -1;
			}
			if (t->again) {
				t->again = 0;
				tui_reread(t);
				continue;
			}
		}
		timeout = next_tick > now ? (int)(next_tick - now) : 0;
		if (check_at >= 0 && check_at - now < timeout)
			timeout = check_at > now ? (int)(check_at - now) : 0;
		pfd[0].fd = STDIN_FILENO;
		pfd[0].events = POLLIN;
		pfd[1].fd = sig_pipe[0];
		pfd[1].events = POLLIN;
		if (t->sync != NULL) {
			pfd[2].fd = sync_thread_fd(t->sync);
			pfd[2].events = POLLIN;
			nfds = 3;
		}
		pfd[0].revents = pfd[1].revents = pfd[2].revents = 0;
		if (poll(pfd, (nfds_t)nfds, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN) {
			drain(sig_pipe[0]);
			t->quit = 1;
			break;
		}
		if (nfds == 3 && (pfd[2].revents & POLLIN)) {
			drain(pfd[2].fd);
			/* Coalesce a burst of commits: look again shortly. */
			if (check_at < 0)
				check_at = mono_ms() + 50;
			t->dirty = 1;
		}
		while (!t->quit && (r = get_wch(&wc)) != ERR) {
			if (timings != NULL && timing_since < 0) {
				timing_since = mono_us();
				timing_what = "key";
			}
			handle_key(t, r == KEY_CODE_YES ? (int)(TK_FN | (int)wc) : (int)wc);
			got = 1;
		}
		if (!got && (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
			break;          /* the terminal went away */
		now = mono_ms();
		if (now >= next_tick) {
			next_tick = now + 1000;
			check_at = now;
			t->dirty = 1;
		}
		if (check_at >= 0 && now >= check_at) {
			check_at = -1;
			if (mirror_changed(t))
				tui_reread(t);
			else
				read_status(t);
		}
	}
}

int
tui_run(struct cmd_ctx *c)
{
	struct sigaction sa, old_int, old_term, old_hup;
	struct tui t;
	struct err e;
	int opened = 0, rc = EXIT_OK;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "tally console: needs a terminal on standard input and output "
		    "(the reads it shows are commands too: see tally help)\n");
		return EXIT_USAGE;
	}
	if (getenv("TALLY_CONSOLE_TIMINGS") != NULL &&
	    (timings = fopen(getenv("TALLY_CONSOLE_TIMINGS"), "a")) != NULL)
		timing_since = mono_us();
	memset(&t, 0, sizeof t);
	t.c = c;
	t.cfg = &c->cfg;
	t.cat = c->cat;
	t.s = c->s;
	t.data_version = -1;
	atomic_store(&stopping, 0);
	t.stop = &stopping;
	if (t.s == NULL) {
		if (store_open(c->cfg.db_path, c->cfg.read_only ? STORE_READONLY : STORE_NOCREATE,
		    &t.s, &e) != 0) {
			fprintf(stderr, "tally console: %s\n", e.msg);
			return EXIT_RUNTIME;
		}
		opened = 1;
	}
	/* The actions need a catalog; without one they see an empty one. */
	if (t.cat == NULL)
		t.cat = t.own_cat = catalog_new_empty();
	if (pipe(sig_pipe) != 0) {
		fprintf(stderr, "tally console: pipe: %s\n", strerror(errno));
		rc = EXIT_RUNTIME;
		goto out;
	}
	fcntl(sig_pipe[0], F_SETFL, O_NONBLOCK);
	fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
	fcntl(sig_pipe[0], F_SETFD, FD_CLOEXEC);
	fcntl(sig_pipe[1], F_SETFD, FD_CLOEXEC);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);

	/* Reads only: the sync thread writes, so read-only mode leaves it
	 * off and the console follows other writers by its tick. */
	if (!c->cfg.read_only && (c->cfg.api_key != NULL || c->cfg.webhook_logs.n > 0 ||
	    c->cfg.usage_logs.n > 0)) {
		if (sync_thread_start(c->cfg.db_path, &c->cfg, c->cat, &t.sync, &e) != 0) {
			t.sync = NULL;
			tui_message(&t, R_BAD, "sync not started: %s", e.msg);
		}
	}

	setlocale(LC_ALL, "");
	if (getenv("ESCDELAY") == NULL)
		set_escdelay(25);
	if (initscr() == NULL) {
		rc = EXIT_RUNTIME;
		goto out_signals;
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	theme_init();
	action_init();
	getmaxyx(stdscr, t.rows, t.cols);
	read_status(&t);
	mirror_changed(&t);
	if (tui_push(&t, &view_overview_ops, NULL) != 0) {
		endwin();
		fprintf(stderr, "tally console: %s\n", t.msg);
		rc = EXIT_RUNTIME;
		goto out_views;
	}
	loop(&t);
	endwin();
out_views:
	while (t.depth > 0)
		view_free(t.stack[--t.depth]);
out_signals:
	sync_thread_stop(t.sync);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	sig_pipe[0] = sig_pipe[1] = -1;
out:
	if (opened)
		store_close(t.s);
	catalog_free(t.own_cat);
	if (timings != NULL)
		fclose(timings);
	timings = NULL;
	return rc;
}

void
tui_keys_roff(FILE *f)
{
	action_roff(f);
}
