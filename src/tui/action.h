/*
 * action: the console's one table of actions, as tig's REQ_ table.
 *
 * TUI_ACTIONS lists every action once: its id, the keys bound to it, its
 * name, its flags, the views it applies to, its handler and its help.  The
 * key bindings (action_for_key), the `?` help screen (view-help.c) and the
 * KEYS section of tally(1) (action_roff, `tally console --keys-roff`) are
 * all generated from it, so they cannot drift apart.
 *
 * Flags are preconditions the one dispatcher (tui_dispatch in tui.c)
 * checks before the handler runs: A_SEL needs a selected row, A_WRITES is
 * refused in read-only mode, A_NET needs an API key.  The operator's
 * actions (adjust, reverse-entry, replay, resync, ack, repair) are lines
 * here like any other; their handlers (operator.c) read the selection,
 * show the core's preview in a dialog (dialog.c), and write through the
 * core.
 *
 * One key may name different actions on different views (R replays on the
 * deliveries, resyncs on a customer): bindings are looked up with the
 * view.
 *
 * Keys are written as words separated by spaces: a character ("j", "?"),
 * C-x for control keys, or one of Up Down Left Right PgUp PgDn Home End
 * Enter Esc Tab Space.  The first action in table order whose views include
 * the current view gets the key.
 */
#ifndef TALLY_TUI_ACTION_H
#define TALLY_TUI_ACTION_H

#include <stdio.h>

struct tui;
struct view;

/* The views, as bits for an action's mask. */
#define V_OVERVIEW   0x001u
#define V_CUSTOMERS  0x002u
#define V_CUSTOMER   0x004u
#define V_LEDGER     0x008u
#define V_DELIVERIES 0x010u
#define V_EVENTS     0x020u
#define V_ALERTS     0x040u
#define V_AUDIT      0x080u
#define V_QUARANTINE 0x100u
#define V_DETAIL     0x200u
#define V_HELP       0x400u
#define V_LISTS      (V_CUSTOMERS | V_LEDGER | V_DELIVERIES | V_EVENTS | V_ALERTS | V_AUDIT | \
                      V_QUARANTINE)
#define V_ALL        0x7ffu

/* Preconditions. */
#define A_SEL    0x1            /* needs a selected row */
#define A_WRITES 0x2            /* writes: refused in read-only mode */
#define A_NET    0x4            /* calls Stripe: needs an API key */

typedef int (*action_fn)(struct tui *t, struct view *v, int act);

/* The handlers (tui.c). */
int act_move(struct tui *t, struct view *v, int act);
int act_view(struct tui *t, struct view *v, int act);
int act_back(struct tui *t, struct view *v, int act);
int act_prompt(struct tui *t, struct view *v, int act);
int act_help(struct tui *t, struct view *v, int act);
int act_refresh(struct tui *t, struct view *v, int act);
int act_quit(struct tui *t, struct view *v, int act);
/* The operator's actions (operator.c). */
int act_adjust(struct tui *t, struct view *v, int act);
int act_reverse_entry(struct tui *t, struct view *v, int act);
int act_replay(struct tui *t, struct view *v, int act);
int act_resync(struct tui *t, struct view *v, int act);
int act_ack(struct tui *t, struct view *v, int act);
int act_repair(struct tui *t, struct view *v, int act);

/* X(ID, KEYS, NAME, FLAGS, VIEWS, HANDLER, HELP) */
#define TUI_ACTIONS(X) \
	X(DOWN, "j Down", "down", 0, V_ALL, act_move, \
	  "move the selection down one row") \
	X(UP, "k Up", "up", 0, V_ALL, act_move, \
	  "move the selection up one row") \
	X(PGDN, "PgDn C-f", "page-down", 0, V_ALL, act_move, \
	  "move down one screen") \
	X(PGUP, "PgUp C-b", "page-up", 0, V_ALL, act_move, \
	  "move up one screen") \
	X(HOME, "g Home", "first", 0, V_ALL, act_move, \
	  "go to the first row") \
	X(END, "G End", "last", 0, V_ALL, act_move, \
	  "go to the last row") \
	X(OPEN, "Enter l Right", "open", A_SEL, V_ALL & ~V_HELP, act_view, \
	  "open the selected row (a customer, an entry, a delivery's body), or expand a tree node") \
	X(CLOSE, "h Left", "collapse", 0, V_CUSTOMER, act_view, \
	  "collapse the tree node, or go to its parent") \
	X(BACK, "Esc h Left q", "back", 0, V_ALL, act_back, \
	  "clear the filter, else go back to the previous view (q on the first view quits)") \
	X(SORT, "s", "sort", 0, V_LISTS, act_view, \
	  "sort by the next column that can be sorted") \
	X(REVERSE, "S", "reverse", 0, V_LISTS, act_view, \
	  "reverse the sort order") \
	X(FILTER, "/", "filter", 0, V_LISTS, act_prompt, \
	  "filter the list: rows where a text column contains the words (Enter applies, empty clears)") \
	X(COMMAND, ":", "command", 0, V_ALL, act_prompt, \
	  "command mode: a view's name or alias (Tab completes), :cus ID opens a customer, :q quits") \
	X(HELP, "?", "help", 0, V_ALL, act_help, \
	  "this list of keys and commands") \
	X(REFRESH, "C-l r", "refresh", 0, V_ALL, act_refresh, \
	  "re-read the mirror now, ask the sync thread for a round, and redraw") \
	X(QUIT, "Q", "quit", 0, V_ALL, act_quit, \
	  "leave the console") \
	X(ADJUST, "a", "adjust", A_SEL | A_WRITES, V_CUSTOMERS | V_CUSTOMER, act_adjust, \
	  "add or take the customer's credits: amount, reason, an optional key (and a push to " \
	  "Stripe, with an API key); a preview, then confirm (typed above adjust_cap or with a " \
	  "live key)") \
	X(REVERSE_ENTRY, "x", "reverse-entry", A_SEL | A_WRITES, V_LEDGER | V_CUSTOMER, \
	  act_reverse_entry, \
	  "reverse the selected ledger entry (its amount negated), with a reason: a preview, " \
	  "then confirm") \
	X(REPLAY, "R", "replay", A_SEL | A_WRITES, V_DELIVERIES | V_EVENTS, act_replay, \
	  "send the event again to webhook_endpoint_url with a fresh signature (or, with only " \
	  "webhook_endpoint_id, ask Stripe to resend): the request and tally's own change, then " \
	  "confirm; recorded as a new delivery") \
	X(RESYNC, "R", "resync", A_SEL | A_WRITES | A_NET, V_CUSTOMERS | V_CUSTOMER, act_resync, \
	  "fetch the customer from Stripe now, apply it as sync would, and show what changed") \
	X(ACK, "a", "ack", A_SEL | A_WRITES, V_ALERTS, act_ack, \
	  "acknowledge the alert, with a note") \
	X(REPAIR, "f", "repair", A_SEL | A_WRITES, V_ALERTS, act_repair, \
	  "fix the alert with its rule's repair: exactly what it would change, then confirm")

enum action_id {
#define X(id, keys, name, flags, views, fn, help) ACT_##id,
	TUI_ACTIONS(X)
#undef X
	ACT_COUNT
};

struct action {
	const char *keys;
	const char *name;
	int flags;
	unsigned views;
	action_fn fn;
	const char *help;
};

extern const struct action actions[ACT_COUNT];

/* Parse the table's key words into codes; call once before action_for_key.
 * Aborts (a bug in the table) on a word it does not know. */
void action_init(void);

/* The action bound to `key` (a tui key code, see tui-int.h) on a view with
 * bit `view`, or -1. */
int action_for_key(int key, unsigned view);

/* "all views", or the names of the views in a mask, into out. */
const char *action_views_text(unsigned views, char *out, size_t outsz);

/* "; refused in read-only mode", "; needs an API key", both or "", for
 * the help screen and the man page, into out. */
const char *action_flags_text(int flags, char *out, size_t outsz);

/* The KEYS section of tally(1). */
void action_roff(FILE *f);

#endif
