/*
 * prompt: the `:` and `/` line editor.  Text is kept as wide characters so
 * Backspace removes a whole character whatever its UTF-8 length.  Tab
 * completes a command's name from the view table (and quit, help).
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "prompt.h"
#include "tui-int.h"

static const char *const fixed_commands[] = { "help", "quit", NULL };

void
prompt_start(struct prompt *p, int kind, const char *initial)
{
	memset(p, 0, sizeof *p);
	p->active = 1;
	p->kind = kind;
	if (initial != NULL) {
		size_t n = mbstowcs(p->buf, initial, PROMPT_MAX - 1);

		p->len = n == (size_t)-1 ? 0 : (int)n;
	}
	p->buf[p->len] = L'\0';
}

void
prompt_text(const struct prompt *p, char *out, size_t outsz)
{
	size_t n = wcstombs(out, p->buf, outsz - 1);

	out[n == (size_t)-1 ? 0 : n] = '\0';
}

/* Candidates: every name and alias that starts with word. */
int
prompt_complete(char *word, size_t n, char *hint, size_t hintsz)
{
	char common[128] = "", cands[64][32];
	size_t wl = strlen(word), hl = 0;
	int nc = 0, i, j;

	for (i = 0; view_table[i] != NULL && nc < 64; i++)
		if (strncmp(view_table[i]->name, word, wl) == 0)
			snprintf(cands[nc++], sizeof cands[0], "%s", view_table[i]->name);
	for (i = 0; fixed_commands[i] != NULL && nc < 64; i++)
		if (strncmp(fixed_commands[i], word, wl) == 0)
			snprintf(cands[nc++], sizeof cands[0], "%s", fixed_commands[i]);
	/* Aliases only when no name matched ("wh" is deliveries). */
	for (i = 0; nc == 0 && view_table[i] != NULL; i++) {
		const char *a = view_table[i]->aliases;

		while (*a != '\0') {
			size_t al = strcspn(a, " ");

			if (al >= wl && strncmp(a, word, wl) == 0) {
				snprintf(cands[nc++], sizeof cands[0], "%s", view_table[i]->name);
				break;
			}
			a += al;
			a += strspn(a, " ");
		}
	}
	hint[0] = '\0';
	for (i = 0; i < nc; i++) {
		if (i == 0)
			snprintf(common, sizeof common, "%s", cands[0]);
		else
			for (j = 0; common[j] != '\0' && common[j] == cands[i][j]; j++)
				;
		if (i > 0)
			common[j] = '\0';
		if (hl < hintsz)
			hl += (size_t)snprintf(hint + hl, hintsz - hl, "%s%s", i ? "  " : "", cands[i]);
	}
	if (nc > 0 && strlen(common) >= wl)
		snprintf(word, n, "%s%s", common, nc == 1 ? " " : "");
	return nc;
}

static void
complete(struct prompt *p)
{
	char line[PROMPT_MAX * 4], word[128];

	prompt_text(p, line, sizeof line);
	if (strchr(line, ' ') != NULL || strlen(line) >= sizeof word)
		return;
	snprintf(word, sizeof word, "%s", line);
	if (prompt_complete(word, sizeof word, p->hint, sizeof p->hint) > 0) {
		size_t n = mbstowcs(p->buf, word, PROMPT_MAX - 1);

		p->len = n == (size_t)-1 ? 0 : (int)n;
		p->buf[p->len] = L'\0';
	} else {
		snprintf(p->hint, sizeof p->hint, "no command starts with '%s'", line);
	}
}

int
prompt_key(struct prompt *p, int key)
{
	if (key == TK_ENTER || key == '\r' || key == (TK_FN | KEY_ENTER)) {
		p->active = 0;
		return PROMPT_DONE;
	}
	if (key == TK_ESC || key == TK_CTRL('g')) {
		p->active = 0;
		return PROMPT_CANCEL;
	}
	if (key == (TK_FN | KEY_BACKSPACE) || key == 127 || key == TK_CTRL('h')) {
		if (p->len == 0 && p->kind == PROMPT_FIELD)
			return PROMPT_EDITING;
		if (p->len == 0) {
			p->active = 0;
			return PROMPT_CANCEL;
		}
		p->buf[--p->len] = L'\0';
		p->hint[0] = '\0';
		return PROMPT_EDITING;
	}
	if (key == TK_CTRL('u')) {
		p->len = 0;
		p->buf[0] = L'\0';
		return PROMPT_EDITING;
	}
	if (key == '\t') {
		if (p->kind == ':')
			complete(p);
		return PROMPT_EDITING;
	}
	if (key >= 0x20 && key < TK_FN && key != 0x7f && p->len < PROMPT_MAX - 1) {
		p->buf[p->len++] = (wchar_t)key;
		p->buf[p->len] = L'\0';
		p->hint[0] = '\0';
	}
	return PROMPT_EDITING;
}

void
prompt_draw(const struct prompt *p, int y, int w)
{
	char line[PROMPT_MAX * 4 + 2];
	int used;

	line[0] = (char)p->kind;
	prompt_text(p, line + 1, sizeof line - 1);
	used = draw_text(y, 0, w, line, 0, 0);
	if (p->hint[0] != '\0' && used + 4 < w)
		draw_text(y, used + 3, w - used - 3, p->hint, 0, theme_attr(R_DIM));
	move(y, used < w ? used : w - 1);
}
