/*
 * err: formatting of caller-owned error messages.  See err.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int
err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int
err_prefix(struct err *e, const char *fmt, ...)
{
	char prefix[512];
	size_t plen, olen;
	va_list ap;
	int n;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	plen = strlen(prefix);
	olen = strnlen(e->msg, sizeof e->msg - 1);
	if (plen + olen >= sizeof e->msg)
		olen = sizeof e->msg - 1 - plen;
	memmove(e->msg + plen, e->msg, olen);
	memcpy(e->msg, prefix, plen);
	e->msg[plen + olen] = '\0';
	return -1;
}

void
err_clear(struct err *e)
{
	if (e != NULL)
		e->msg[0] = '\0';
}
