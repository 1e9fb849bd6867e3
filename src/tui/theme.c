/*
 * theme: colours and attributes by role.  With NO_COLOR set (to anything
 * but the empty string, per no-color.org) or on a terminal without colours,
 * roles use attributes only (bold, reverse, underline), so the LIVE mark
 * and the selection still stand out.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>

#include "tui-int.h"

static int attrs[R_ROLES];
static int utf8;

void
theme_init(void)
{
	const char *nc = getenv("NO_COLOR");
	int color = (nc == NULL || nc[0] == '\0') && has_colors();
	static const struct {
		enum role r;
		short fg, bg;
		unsigned attr, mono;
	} roles[] = {
		{ R_STATUS, COLOR_WHITE, COLOR_BLUE, 0, A_REVERSE },
		{ R_LIVE, COLOR_WHITE, COLOR_RED, A_BOLD, A_REVERSE | A_BOLD },
		{ R_TEST, COLOR_BLACK, COLOR_GREEN, 0, A_REVERSE },
		{ R_RO, COLOR_BLACK, COLOR_YELLOW, A_BOLD, A_REVERSE | A_BOLD },
		{ R_TITLE, COLOR_CYAN, -1, A_BOLD, A_BOLD },
		{ R_HEADER, COLOR_YELLOW, -1, A_BOLD, A_UNDERLINE },
		{ R_SEL, COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE },
		{ R_BAD, COLOR_RED, -1, A_BOLD, A_BOLD },
		{ R_GOOD, COLOR_GREEN, -1, 0, 0 },
		{ R_WARN, COLOR_YELLOW, -1, 0, A_BOLD },
		{ R_DIM, COLOR_BLUE, -1, A_BOLD, A_DIM },
		{ R_KEY, COLOR_MAGENTA, -1, A_BOLD, A_BOLD },
	};
	size_t i;

	utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	memset(attrs, 0, sizeof attrs);
	if (color) {
		start_color();
		use_default_colors();
	}
	for (i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		if (color) {
			init_pair((short)(i + 1), roles[i].fg, roles[i].bg);
			attrs[roles[i].r] = (int)(COLOR_PAIR((int)i + 1) | roles[i].attr);
		} else {
			attrs[roles[i].r] = (int)roles[i].mono;
		}
	}
}

int
theme_attr(enum role r)
{
	return r < R_ROLES ? attrs[r] : 0;
}

int
theme_utf8(void)
{
	return utf8;
}
