/*
 * draw: putting text on the screen by display width.  Text from outside is
 * cleaned (text_clean: no control characters, no escape sequences, invalid
 * UTF-8 as '?') before it is stored for drawing; here it is converted to
 * wide characters and fitted to a column count with wcwidth, so a wide
 * character never straddles a column edge and a character the terminal
 * cannot show takes one '?'.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "tui-int.h"
#include "util.h"

char *
clean_dup(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	char *out = xmalloc(n + 1);

	text_clean(s != NULL ? s : "", n, out, n + 1);
	return out;
}

/* The next character of s as a wide char and its width (>= 0); advances
 * *p.  0 at the end. */
static int
next_wc(const char **p, wchar_t *wc, int *w)
{
	mbstate_t st;
	size_t n;

	if (**p == '\0')
		return 0;
	memset(&st, 0, sizeof st);
	n = mbrtowc(wc, *p, strlen(*p), &st);
	if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
		*wc = L'?';
		n = 1;
	}
	*p += n;
	*w = wcwidth(*wc);
	if (*w < 0) {
		*wc = L'?';
		*w = 1;
	}
	return 1;
}

int
text_width(const char *utf8)
{
	const char *p = utf8;
	wchar_t wc;
	int w, total = 0;

	while (p != NULL && next_wc(&p, &wc, &w))
		total += w;
	return total;
}

size_t
text_prefix(const char *utf8, int width)
{
	const char *p = utf8, *q = utf8;
	wchar_t wc;
	int w, used = 0;

	while (next_wc(&q, &wc, &w) && used + w <= width) {
		used += w;
		p = q;
	}
	return (size_t)(p - utf8);
}

int
draw_text(int y, int x, int width, const char *utf8, int right, int attr)
{
	wchar_t buf[512];
	const char *p = utf8 != NULL ? utf8 : "";
	int used = 0, n = 0, w, full;
	wchar_t wc;

	if (width <= 0)
		return 0;
	full = text_width(p);
	while (n < (int)(sizeof buf / sizeof buf[0]) - 2 && next_wc(&p, &wc, &w)) {
		/* Leave a column for the ellipsis when the text is cut. */
		if (used + w > width || (full > width && used + w > width - 1))
			break;
		buf[n++] = wc;
		used += w;
	}
	if (full > width && used < width) {
		buf[n++] = theme_utf8() ? L'\u2026' : L'~';
		used++;
	}
	buf[n] = L'\0';
	attron(attr);
	if (right && used < width) {
		mvhline(y, x, ' ', width - used);
		mvaddwstr(y, x + width - used, buf);
	} else {
		mvaddwstr(y, x, buf);
		if (used < width)
			mvhline(y, x + used, ' ', width - used);
	}
	attroff(attr);
	return used;
}

void
fmt_time(int64_t t, char *out, size_t n)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, n, "-");
		return;
	}
	strftime(out, n, "%Y-%m-%d %H:%M", &tm);
}

void
fmt_amount(int64_t v, char *out, size_t n)
{
	char digits[32], tmp[48];
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	int len, i, o = 0;

	len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)u);
	if (v < 0)
		tmp[o++] = '-';
	for (i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			tmp[o++] = ',';
		tmp[o++] = digits[i];
	}
	tmp[o] = '\0';
	snprintf(out, n, "%s", tmp);
}

void
fmt_age(int64_t s, char *out, size_t n)
{
	if (s < 0)
		snprintf(out, n, "never");
	else if (s < 120)
		snprintf(out, n, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(out, n, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(out, n, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, n, "%lldd", (long long)(s / 86400));
}
