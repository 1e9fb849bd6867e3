/*
 * view-help: the `?` screen, generated from the action table (action.h)
 * and the view table, as tally(1)'s KEYS section is: one source, so the
 * help cannot say a key does what it does not.  The actions that apply to
 * the view it was opened from (its arg) come first.
 */
#include <stdio.h>
#include <string.h>

#include "tui-int.h"

static void
add_action(struct doc *d, int a)
{
	char keys[64], views[200], needs[80];
	size_t i;

	snprintf(keys, sizeof keys, "%s", actions[a].keys);
	for (i = 0; keys[i] != '\0'; i++)
		if (keys[i] == ' ')
			keys[i] = ',';
	doc_add(d, R_NORMAL, 1, actions[a].name, "%-16s %-10s %s", keys, actions[a].name,
	    actions[a].help);
	doc_add(d, R_DIM, 1, NULL, "%-16s %-10s (%s%s)", "", "",
	    action_views_text(actions[a].views, views, sizeof views),
	    action_flags_text(actions[a].flags, needs, sizeof needs));
}

static int
build(struct view *v, struct tui *t)
{
	struct doc *d = &v->doc;
	unsigned here = 0;
	int a, i;

	for (i = 0; view_table[i] != NULL; i++)
		if (strcmp(view_table[i]->name, v->arg) == 0)
			here = view_table[i]->bit;
	if (strcmp(v->arg, "customer") == 0)
		here = V_CUSTOMER;
	else if (strcmp(v->arg, "detail") == 0)
		here = V_DETAIL;
	doc_begin(d);
	view_set_title(v, "help%s%s", v->arg[0] ? ": keys on " : "", v->arg);
	doc_add(d, R_HEADER, 0, NULL, "keys here");
	for (a = 0; a < ACT_COUNT; a++)
		if (actions[a].views & here)
			add_action(d, a);
	doc_add(d, R_NORMAL, 0, NULL, "%s", "");
	doc_add(d, R_HEADER, 0, NULL, "keys elsewhere");
	for (a = 0; a < ACT_COUNT; a++)
		if (!(actions[a].views & here))
			add_action(d, a);
	doc_add(d, R_NORMAL, 0, NULL, "%s", "");
	doc_add(d, R_HEADER, 0, NULL, "commands (after :, Tab completes)");
	for (i = 0; view_table[i] != NULL; i++)
		doc_add(d, R_NORMAL, 1, NULL, ":%-12s %s", view_table[i]->name,
		    view_table[i]->aliases);
	doc_add(d, R_NORMAL, 1, NULL, ":%-12s %s", "customers ID", "open that customer");
	doc_add(d, R_NORMAL, 1, NULL, ":%-12s %s", "ledger ID", "that customer's ledger "
	    "(also deliveries, events, alerts)");
	doc_add(d, R_NORMAL, 1, NULL, ":%-12s %s", "quit", "q q! exit");
	doc_end(d);
	return 0;
}

const struct view_ops view_help_ops = {
	.name = "help",
	.aliases = "",
	.bit = V_HELP,
	.rows = build,
};
