/*
 * t.h: a tiny TAP producer for tally's C unit tests, read by automake's
 * tap-driver.sh.  Each check is one TAP line; the plan is printed at the end.
 *
 *   ok(cond, "name %d", i);      one check
 *   is_int(got, want, "name");   integers, printing both on failure
 *   is_str(got, want, "name");   strings (NULL-safe)
 *   return t_done();             prints the plan, exit status = failures > 0
 *
 * t_dir() gives a fresh temporary directory for the test's files.
 */
#ifndef TALLY_T_H
#define TALLY_T_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_count, t_failed;

static int __attribute__((format(printf, 2, 3), unused))
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	t_count++;
	if (!cond)
		t_failed++;
	printf("%sok %d - ", cond ? "" : "not ", t_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

#define is_int(got, want, ...) do { \
	int64_t g_ = (int64_t)(got), w_ = (int64_t)(want); \
	if (!ok(g_ == w_, __VA_ARGS__)) \
		printf("# got %" PRId64 ", want %" PRId64 "\n", g_, w_); \
} while (0)

#define is_str(got, want, ...) do { \
	const char *g_ = (got), *w_ = (want); \
	int c_ = (g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0); \
	if (!ok(c_, __VA_ARGS__)) \
		printf("# got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

static int __attribute__((unused))
t_done(void)
{
	printf("1..%d\n", t_count);
	return t_failed > 0;
}

/* A fresh directory under $TMPDIR (or /tmp); the caller may leave it. */
static __attribute__((unused)) const char *
t_dir(void)
{
	static char path[256];
	const char *tmp = getenv("TMPDIR");

	snprintf(path, sizeof path, "%s/tally-t-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(path) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
	return path;
}

#endif
