/*
 * sig: Stripe-Signature headers — parsing, verification and signing.
 *
 * Header: "t=<unix>,v1=<64 hex>[,v1=...][,v0=...]"; unknown keys, v0 and v1
 * values that are not 64 hex digits are ignored.  The signed payload is the
 * decimal t, '.', then the raw body bytes exactly as received.  The MAC is
 * HMAC-SHA256 keyed by the whole secret string (including "whsec_"), in
 * lower-case hex; every v1 is compared against every secret in constant
 * time.  The age check is `now - t > tolerance` → reject; tolerance <= 0
 * disables it; future timestamps pass.  Pure functions; any thread.
 */
#ifndef TALLY_SIG_H
#define TALLY_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum sig_result {
	SIG_VALID = 0,
	SIG_NOT_SIGNED,          /* empty header */
	SIG_BAD_HEADER,          /* no t, empty t, a pair without '=' */
	SIG_NO_V1,               /* header parsed but carries no usable v1 */
	SIG_NO_MATCH,            /* no v1 matches any secret */
	SIG_TOO_OLD,             /* now - t > tolerance */
	SIG_NO_SECRET            /* no secret configured to check with */
};

#define SIG_MAX_V1 8

struct sig_header {
	int64_t t;
	int nv1;
	unsigned char v1[SIG_MAX_V1][32];
};

/* Parse a header.  Returns SIG_VALID when it has a t and at least one v1,
 * otherwise the failure class. */
enum sig_result sig_parse(const char *header, struct sig_header *out);

/* Verify body against header with any of nsecrets secrets, judging age
 * against `now` (the record's received time, not the reading time). */
enum sig_result sig_verify(const char *header, const void *body, size_t bodylen,
                           const char *const *secrets, int nsecrets,
                           int64_t now, int64_t tolerance);

/* A short stable name for a result: "valid", "not-signed", "bad-header",
 * "no-v1", "no-match", "too-old", "no-secret". */
const char *sig_result_name(enum sig_result r);

/* Write "t=<t>,v1=<hex>" for body signed with secret into out (>= 80 bytes). */
int sig_sign(const char *secret, int64_t t, const void *body, size_t bodylen,
             char *out, size_t outsz);

/* HMAC-SHA256(key, msg) as 64 lower-case hex digits + NUL into hex[65]. */
int sig_hmac_hex(const void *key, size_t keylen, const void *msg, size_t msglen,
                 char hex[65]);

#endif
