/*
 * action: the table of console actions and what is generated from it: the
 * key bindings, and the KEYS section of tally(1).  The help screen
 * (view-help.c) reads the same table.  See action.h.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "tui-int.h"

const struct action actions[ACT_COUNT] = {
#define X(id, keys, name, flags, views, fn, help) { keys, name, flags, views, fn, help },
	TUI_ACTIONS(X)
#undef X
};

#define MAXBIND 96
static struct {
	int key;
	int act;
} bindings[MAXBIND];
static int nbindings;

static const struct {
	const char *word;
	int key;
} key_words[] = {
	{ "Up", TK_FN | KEY_UP }, { "Down", TK_FN | KEY_DOWN },
	{ "Left", TK_FN | KEY_LEFT }, { "Right", TK_FN | KEY_RIGHT },
	{ "PgUp", TK_FN | KEY_PPAGE }, { "PgDn", TK_FN | KEY_NPAGE },
	{ "Home", TK_FN | KEY_HOME }, { "End", TK_FN | KEY_END },
	{ "Enter", TK_ENTER }, { "Esc", TK_ESC }, { "Tab", '\t' }, { "Space", ' ' },
};

static int
key_parse(const char *w, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof key_words / sizeof key_words[0]; i++)
		if (strlen(key_words[i].word) == n && strncmp(key_words[i].word, w, n) == 0)
			return key_words[i].key;
	if (n == 3 && w[0] == 'C' && w[1] == '-')
		return TK_CTRL(w[2]);
	if (n == 1)
		return (unsigned char)w[0];
	return -1;
}

void
action_init(void)
{
	int a;

	nbindings = 0;
	for (a = 0; a < ACT_COUNT; a++) {
		const char *p = actions[a].keys;

		while (*p != '\0') {
			size_t n = strcspn(p, " ");
			int k = key_parse(p, n);

			if (k < 0 || nbindings >= MAXBIND) {
				fprintf(stderr, "tally: bad key '%.*s' in the action table\n", (int)n, p);
				abort();
			}
			bindings[nbindings].key = k;
			bindings[nbindings++].act = a;
			p += n;
			p += strspn(p, " ");
		}
	}
}

int
action_for_key(int key, unsigned view)
{
	int i;

	for (i = 0; i < nbindings; i++)
		if (bindings[i].key == key && (actions[bindings[i].act].views & view))
			return bindings[i].act;
	return -1;
}

static const struct {
	unsigned bit;
	const char *name;
} view_names[] = {
	{ V_OVERVIEW, "overview" }, { V_CUSTOMERS, "customers" }, { V_CUSTOMER, "customer" },
	{ V_LEDGER, "ledger" }, { V_DELIVERIES, "deliveries" }, { V_EVENTS, "events" },
	{ V_ALERTS, "alerts" }, { V_AUDIT, "audit" }, { V_QUARANTINE, "quarantine" },
	{ V_DETAIL, "detail" }, { V_HELP, "help" },
};

const char *
action_views_text(unsigned views, char *out, size_t outsz)
{
	size_t o = 0;
	int i;

	if ((views & V_ALL) == V_ALL)
		return snprintf(out, outsz, "all views"), out;
	if ((views & (V_ALL & ~V_HELP)) == (V_ALL & ~V_HELP))
		return snprintf(out, outsz, "all views but help"), out;
	out[0] = '\0';
	if ((views & V_LISTS) == V_LISTS) {
		o += (size_t)snprintf(out, outsz, "lists");
		views &= ~V_LISTS;
	}
	for (i = 0; i < (int)(sizeof view_names / sizeof view_names[0]); i++) {
		if (!(views & view_names[i].bit))
			continue;
		if (o < outsz)
			o += (size_t)snprintf(out + o, outsz - o, "%s%s", o ? ", " : "",
			    view_names[i].name);
	}
	return out;
}

const char *
action_flags_text(int flags, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s%s", (flags & A_WRITES) ? "; refused in read-only mode" : "",
	    (flags & A_NET) ? "; needs an API key" : "");
	return out;
}

/* Text for roff: escape backslashes and hyphens. */
static void
roff_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

void
action_roff(FILE *f)
{
	char views[200], needs[80];
	int a, i;

	fputs(".SH KEYS\n"
	    "The console's keys, generated from its action table\n"
	    "(the same table makes the bindings and the\n"
	    ".B ?\n"
	    "help screen).\n", f);
	for (a = 0; a < ACT_COUNT; a++) {
		const char *p = actions[a].keys;

		fputs(".TP\n", f);
		while (*p != '\0') {
			size_t n = strcspn(p, " ");
			char w[16];

			snprintf(w, sizeof w, "%.*s", (int)n, p);
			fputs("\\fB", f);
			roff_text(f, w);
			fputs("\\fR", f);
			p += n;
			p += strspn(p, " ");
			if (*p != '\0')
				fputs(", ", f);
		}
		fputc('\n', f);
		roff_text(f, actions[a].name);
		fputs(": ", f);
		roff_text(f, actions[a].help);
		fputs(" (", f);
		roff_text(f, action_views_text(actions[a].views, views, sizeof views));
		roff_text(f, action_flags_text(actions[a].flags, needs, sizeof needs));
		fputs(").\n", f);
	}
	fputs(".PP\nCommands (after\n.BR : ,\nwith Tab completing the name):\n", f);
	for (i = 0; view_table[i] != NULL; i++) {
		fprintf(f, ".TP\n\\fB%s\\fR", view_table[i]->name);
		if (view_table[i]->aliases[0] != '\0') {
			fputs(" (", f);
			roff_text(f, view_table[i]->aliases);
			fputs(")", f);
		}
		fputc('\n', f);
		fprintf(f, "open the %s view", view_table[i]->name);
		if (view_table[i] == &view_customers_ops)
			fputs("; with an id, open that customer", f);
		else if (view_table[i] == &view_ledger_ops || view_table[i] == &view_deliveries_ops ||
		    view_table[i] == &view_events_ops || view_table[i] == &view_alerts_ops)
			fputs("; with a customer id, that customer's", f);
		fputs(".\n", f);
	}
	fputs(".TP\n\\fBquit\\fR (q, q!)\nleave the console.\n", f);
}
