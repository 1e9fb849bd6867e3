/*
 * prompt: the bottom line's editor for `:` commands and `/` filters, with
 * Tab completion of command names; also the text field of the operator
 * actions' dialogs (dialog.c).  Main thread only.
 */
#ifndef TALLY_TUI_PROMPT_H
#define TALLY_TUI_PROMPT_H

#include <stddef.h>
#include <wchar.h>

#define PROMPT_MAX 256

struct prompt {
	int active;
	int kind;               /* ':', '/' or PROMPT_FIELD */
	wchar_t buf[PROMPT_MAX];
	int len;
	char hint[256];         /* completions, shown while editing */
};

enum { PROMPT_EDITING, PROMPT_DONE, PROMPT_CANCEL };

/* A dialog's field: Backspace on an empty field stays in it (only Esc
 * leaves), since the dialog around it is not a one-key prompt. */
#define PROMPT_FIELD 'F'

void prompt_start(struct prompt *p, int kind, const char *initial);
/* Feed one key (a tui key code); returns PROMPT_DONE when Enter accepted
 * the line, PROMPT_CANCEL on Esc, else PROMPT_EDITING. */
int prompt_key(struct prompt *p, int key);
/* The line as UTF-8 into out. */
void prompt_text(const struct prompt *p, char *out, size_t outsz);
void prompt_draw(const struct prompt *p, int y, int w);

/* Complete a command's first word against the view table's names and
 * aliases and the fixed commands: writes the longest common completion
 * into `word` (size n) and the candidates, space-separated, into hint.
 * Returns the number of candidates. */
int prompt_complete(char *word, size_t n, char *hint, size_t hintsz);

#endif
