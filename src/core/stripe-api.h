/*
 * stripe-api: the Stripe HTTP client (libcurl + jansson).
 *
 * One client per thread: a client (and everything it returns, stats
 * included) is used by the thread that opened it.  It sends
 * `Authorization: Bearer <key>` and a pinned `Stripe-Version`, encodes
 * parameters as Stripe's form encoding with bracket notation (`expand[]=a`,
 * `metadata[k]=v`, `created[gt]=1`), keeps to a client-side request rate
 * (spacing requests so the configured rate is never exceeded), and retries
 * network errors, 409, 429 and 5xx with exponential backoff and full jitter,
 * honouring `Stripe-Should-Retry` and `Retry-After` (up to 60 s).  A retried
 * POST carries the same `Idempotency-Key`.  Every response's `Request-Id` is
 * kept.  The key never appears in any message: errors mask it with
 * secret_mask.  doc/stripe-client.md has the policy in prose.
 *
 * Errors are a struct an operator can read: HTTP status (0 for a network
 * error), Stripe's error type, code, param and message, and the request id.
 * A response that is not the JSON Stripe sends (not JSON, not an object,
 * larger than 64 MiB) is an error of type "invalid_response" naming the path
 * and the offset jansson stopped at; a body cut short in transit is a
 * network error (code "truncated").
 *
 * Waits (rate spacing, backoff) end early when *stop becomes non-zero, and
 * so does a request in flight (within about a second); the call then fails
 * with type "stopped".
 */
#ifndef TALLY_STRIPE_API_H
#define TALLY_STRIPE_API_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

struct api_opts {
	const char *base;               /* e.g. https://api.stripe.com (no trailing /v1) */
	const char *key;                /* secret; never printed */
	const char *version;            /* Stripe-Version header; NULL = none */
	double rate;                    /* requests per second, never exceeded (retries and
	                                 * curl's own re-sends count); <= 0 = unlimited */
	long timeout_ms;                /* whole-request timeout; 0 = 30000 */
	long connect_timeout_ms;        /* 0 = 10000 */
	int max_retries;                /* retries after the first attempt; <0 = default 5 */
	long backoff_base_ms;           /* first backoff; 0 = 500 */
	long backoff_max_ms;            /* cap on one backoff; 0 = 20000 */
	const atomic_int *stop;         /* may be NULL */
};

struct api_error {
	long status;                    /* HTTP status; 0 = no response */
	char type[64];                  /* Stripe's error.type, or one of tally's (status 0 unless
	                                 * said): network (code timeout, connect, dropped,
	                                 * truncated, ...), tls, invalid_request (a bad path,
	                                 * key or URL: a bug or the configuration),
	                                 * invalid_response (with the HTTP status; code
	                                 * invalid_json, not_an_object, not_stripe_error,
	                                 * redirect, response_too_large), stopped */
	char code[64];
	char param[128];
	char message[512];              /* cleaned of control characters */
	char request_id[64];
	int should_retry;               /* Stripe-Should-Retry: 1 true, 0 false, -1 absent */
	int attempts;                   /* requests made for this call */
};
/* Every text field is cleaned of control characters and never holds the
 * key.  After a successful call status, request_id and attempts are set and
 * type is "". */

/* The counts a client keeps (read by sync for its status). */
struct api_stats {
	int64_t requests;               /* HTTP requests sent, retries included */
	int64_t retries;
	int64_t errors;                 /* calls that failed after all retries (not stopped ones) */
	char last_request_id[64];
};

/* Parameters of one request, in order.  Keys are written as given
 * ("expand[]", "created[gt]", "metadata[order]").  A zeroed struct is empty;
 * add copies k and v (v NULL = "", which unsets a field); free releases the
 * copies and leaves the struct empty for reuse. */
struct api_params {
	size_t n, cap;
	char **k, **v;
};
void api_params_add(struct api_params *p, const char *k, const char *v);
void api_params_addf(struct api_params *p, const char *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void api_params_free(struct api_params *p);
/* The form encoding of p: "k=v&k=v", RFC 3986 unreserved characters kept,
 * everything else %XX (a space is %20), except that '[' and ']' in keys stay
 * literal, as stripe-ruby and stripe-node send them.  p may be NULL.
 * Returns a new string (never NULL; "" for no parameters); caller frees. */
char *api_params_encode(const struct api_params *p);

struct api_client;

/* Check o (base must be http(s)://, key printable), copy what it needs (o
 * may go away; *o->stop must outlive the client) and make the curl handle.
 * 0 with *out a new client, or -1 with e set (never naming the key). */
int api_open(const struct api_opts *o, struct api_client **out, struct err *e);
void api_close(struct api_client *c);            /* NULL is a no-op */

/* GET base+path?params (p may be NULL).  On 2xx *out is the parsed JSON
 * object, a new reference the caller decrefs (out may be NULL to drop it),
 * and 0 is returned; otherwise -1 with *out NULL and ae filled.  ae may not
 * be NULL.  `server_time` (may be NULL) receives the response's Date header as
 * Unix seconds (0 when absent), which sync uses as the version of fetched
 * objects. */
int api_get(struct api_client *c, const char *path, const struct api_params *p,
            json_t **out, int64_t *server_time, struct api_error *ae);

/* POST with a form body and `Idempotency-Key: idem_key` (required, at most
 * 255 printable ASCII characters, no spaces: every write tally makes is
 * idempotent).  Retries reuse the key.  Otherwise as api_get. */
int api_post(struct api_client *c, const char *path, const struct api_params *p,
             const char *idem_key, json_t **out, struct api_error *ae);

/* Borrowed: valid until api_close, updated by every call. */
const struct api_stats *api_stats(const struct api_client *c);

/* One line for messages and the mirror's last_error, e.g.
 *   401 authentication_error: Invalid API key provided: sk_test_****abcd (request req_123)
 *   404 invalid_request_error [resource_missing]: No such customer: 'cus_9' (param id; request req_7)
 *   network [timeout]: GET /v1/events: Operation timed out after 30000 milliseconds ... (6 attempts)
 * Always NUL-terminated; never longer than n - 1. */
void api_error_format(const struct api_error *ae, char *dst, size_t n);

/* 1 when retrying could help: a network error, 409, 429, 5xx, or a 2xx
 * whose body did not parse (cut in transit); Stripe-Should-Retry overrides
 * this either way for any response.  Never for stopped, tls or
 * invalid_request. */
int api_error_transient(const struct api_error *ae);

#endif
