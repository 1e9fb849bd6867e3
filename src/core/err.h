/*
 * err: an operator-readable error message, owned by the caller.
 *
 * Functions that can fail return 0 on success or a negative value, and fill
 * a `struct err` the caller passed in.  There is no global error buffer: two
 * threads would race on it.  Messages say what failed, on which object or
 * input (file and offset, object id, flag), and what to do where that helps.
 */
#ifndef TALLY_ERR_H
#define TALLY_ERR_H

#include <stddef.h>

struct err {
	char msg[1024];
};

/* Format into e (may be NULL).  Always returns -1 so callers can
 * `return err_set(e, ...)`. */
int err_set(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix e's message with a context ("file.json: " + old message).  Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void err_clear(struct err *e);

#endif
