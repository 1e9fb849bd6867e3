/*
 * usage: the product's usage log lines, in Stripe's meter-event shape:
 *   {"identifier": "req_8f2c", "event_name": "api_tokens", "timestamp": 1763900000,
 *    "payload": {"stripe_customer_id": "cus_...", "value": "1250"}}
 * `identifier` is the idempotency key and is required; `value` is a whole
 * number given as a string or an integer; `timestamp` is Unix seconds (or
 * RFC 3339).  Decoding is pure; applying is in apply.c.
 */
#ifndef TALLY_USAGE_H
#define TALLY_USAGE_H

#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "util.h"

struct usage_rec {
	const char *identifier, *event_name, *customer;
	int64_t value, timestamp;
};

/* Decode one line (borrowed json).  Strings in the arena.  Errors name the
 * field ("usage: identifier: missing (a line without one could be counted
 * twice)"). */
int usage_decode(struct arena *a, const json_t *v, struct usage_rec *out, struct err *e);

#endif
