/*
 * test-usage: decoding of usage log lines: good lines in their accepted
 * forms, every missing or bad field with the message it gives, and Stripe's
 * own billing.meter_event fixture ($SHARED/stripe/fixtures).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "t.h"
#include "usage.h"

static struct arena arena;

/* Decode text; returns usage_decode's status, the record in *r. */
static int
decode(const char *text, struct usage_rec *r, struct err *e)
{
	json_error_t jerr;
	json_t *v;
	int rc;

	err_clear(e);
	v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (v == NULL) {
		printf("# test bug: bad JSON %s: %s\n", text, jerr.text);
		return 99;
	}
	rc = usage_decode(&arena, v, r, e);
	json_decref(v);
	return rc;
}

static void
good(const char *text, const char *id, const char *ev, const char *cus, int64_t value,
     int64_t ts, const char *name)
{
	struct usage_rec r;
	struct err e;

	if (!ok(decode(text, &r, &e) == 0, "%s: decodes", name)) {
		printf("# %s\n", e.msg);
		return;
	}
	is_str(r.identifier, id, "%s: identifier", name);
	is_str(r.event_name, ev, "%s: event_name", name);
	is_str(r.customer, cus, "%s: customer", name);
	is_int(r.value, value, "%s: value", name);
	is_int(r.timestamp, ts, "%s: timestamp", name);
}

static void
bad(const char *text, const char *want, const char *name)
{
	struct usage_rec r;
	struct err e;

	if (!ok(decode(text, &r, &e) == -1, "%s: refused", name))
		return;
	is_str(e.msg, want, "%s: message", name);
}

static void
test_fixture(void)
{
	const char *shared = getenv("SHARED"), *srcdir = getenv("SRCDIR");
	char path[4096];
	struct usage_rec r;
	json_error_t jerr;
	struct err e;
	json_t *v;

	if (shared != NULL && *shared != '\0')
		snprintf(path, sizeof path, "%s/stripe/fixtures/billing.meter_event.json", shared);
	else if (srcdir != NULL && *srcdir != '\0')
		snprintf(path, sizeof path, "%s/../shared/stripe/fixtures/billing.meter_event.json",
		         srcdir);
	else {
		ok(0, "fixture: neither SHARED nor SRCDIR is set (run through `make check`, or set SHARED)");
		return;
	}
	v = json_load_file(path, 0, &jerr);
	if (!ok(v != NULL, "fixture %s loads", path)) {
		printf("# %s:%d: %s\n", path, jerr.line, jerr.text);
		return;
	}
	if (ok(usage_decode(&arena, v, &r, &e) == 0, "fixture decodes")) {
		is_str(r.identifier, "1234-1234", "fixture identifier");
		is_str(r.event_name, "api_request", "fixture event_name");
		is_str(r.customer, "cus_123", "fixture customer");
		is_int(r.value, 25, "fixture value");
		is_int(r.timestamp, 1234567890, "fixture timestamp");
	} else {
		printf("# %s\n", e.msg);
	}
	json_decref(v);
}

int
main(void)
{
	struct usage_rec r;
	struct err e;

	arena_init(&arena);

	/* Good lines. */
	good("{\"identifier\": \"req_8f2c\", \"event_name\": \"api_tokens\", \"timestamp\": 1763900000,"
	     " \"payload\": {\"stripe_customer_id\": \"cus_A\", \"value\": \"1250\"}}",
	     "req_8f2c", "api_tokens", "cus_A", 1250, 1763900000, "spec example");
	good("{\"identifier\":\"r2\",\"event_name\":\"m\",\"timestamp\":1763900000,"
	     "\"payload\":{\"stripe_customer_id\":\"cus_A\",\"value\":7}}",
	     "r2", "m", "cus_A", 7, 1763900000, "integer value");
	good("{\"identifier\":\"r3\",\"event_name\":\"m\",\"timestamp\":\"2025-11-23T12:13:20Z\","
	     "\"payload\":{\"stripe_customer_id\":\"cus_A\",\"value\":\"0\"}}",
	     "r3", "m", "cus_A", 0, 1763900000, "RFC 3339 timestamp, zero value");
	good("{\"identifier\":\"r4\",\"event_name\":\"m\",\"timestamp\":\"2025-11-23T13:13:20+01:00\","
	     "\"payload\":{\"stripe_customer_id\":\"cus_A\",\"value\":\"9223372036854775807\","
	     "\"region\":\"eu\"},\"object\":\"billing.meter_event\",\"livemode\":false}",
	     "r4", "m", "cus_A", INT64_MAX, 1763900000, "offset time, max value, extra keys");
	good("{\"identifier\":\"r5\",\"event_name\":\"m\",\"timestamp\":\"1763900000\","
	     "\"payload\":{\"stripe_customer_id\":\"cus_A\",\"value\":\"007\"}}",
	     "r5", "m", "cus_A", 7, 1763900000, "seconds as a string, leading zeros");

	/* The identifier. */
	bad("{\"event_name\":\"m\",\"timestamp\":1,\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage: identifier: missing (a line without one could be counted twice)", "no identifier");
	bad("{\"identifier\":null,\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage: identifier: missing (a line without one could be counted twice)", "null identifier");
	bad("{\"identifier\":\"\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage: identifier: empty (a line without one could be counted twice)", "empty identifier");
	bad("{\"identifier\":42,\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage: identifier: expected a string, got an integer", "numeric identifier");
	bad("{\"identifier\":\"a\\u0000b\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage: identifier: contains a NUL character", "identifier with NUL");
	{
		char line[1024], id[300];

		memset(id, 'x', 256);
		id[256] = '\0';
		snprintf(line, sizeof line, "{\"identifier\":\"%s\",\"event_name\":\"m\",\"timestamp\":1,"
		         "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}", id);
		bad(line, "usage xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...: identifier: longer than 255 bytes",
		    "identifier too long");
	}
	bad("[1]", "usage: expected a JSON object (a meter event), got an array", "not an object");

	/* The other fields, in the order they are checked. */
	bad("{\"identifier\":\"r\",\"timestamp\":1,\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage r: event_name: missing", "no event_name");
	bad("{\"identifier\":\"r\",\"event_name\":\"\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage r: event_name: empty", "empty event_name");
	bad("{\"identifier\":\"r\",\"event_name\":[],\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage r: event_name: expected a string, got an array", "event_name not a string");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1}",
	    "usage r: payload: missing", "no payload");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,\"payload\":\"x\"}",
	    "usage r: payload: expected an object, got a string", "payload not an object");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,\"payload\":{\"value\":1}}",
	    "usage r: payload.stripe_customer_id: missing", "no customer");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"\",\"value\":1}}",
	    "usage r: payload.stripe_customer_id: empty", "empty customer");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\"}}",
	    "usage r: payload.value: missing", "no value");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":\"12.5\"}}",
	    "usage r: payload.value: expected a whole number, got '12.5'", "value 12.5 string");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":12.5}}",
	    "usage r: payload.value: expected a whole number, got 12.5", "value 12.5 number");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":\"abc\"}}",
	    "usage r: payload.value: expected a whole number, got 'abc'", "value abc");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":\"\"}}",
	    "usage r: payload.value: expected a whole number, got an empty string", "value empty");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":\" 12\"}}",
	    "usage r: payload.value: expected a whole number, got ' 12'", "value with a space");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":\"-5\"}}",
	    "usage r: payload.value: must not be negative, got '-5'", "value negative string");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":-5}}",
	    "usage r: payload.value: must not be negative, got -5", "value negative integer");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":\"9223372036854775808\"}}",
	    "usage r: payload.value: too large, got '9223372036854775808'", "value overflows");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":true}}",
	    "usage r: payload.value: expected a whole number as a string or integer, got true",
	    "value boolean");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":\"1\\u001b[31m\"}}",
	    "usage r: payload.value: expected a whole number, got '1'",
	    "escape sequences are not echoed");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\","
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage r: timestamp: missing", "no timestamp");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":\"yesterday\","
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage r: timestamp: expected Unix seconds or an RFC 3339 time like "
	    "2026-11-01T00:00:00Z, got 'yesterday'", "timestamp text");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":1.5,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage r: timestamp: expected Unix seconds or an RFC 3339 string, got a number with "
	    "a fraction", "timestamp real");
	bad("{\"identifier\":\"r\",\"event_name\":\"m\",\"timestamp\":0,"
	    "\"payload\":{\"stripe_customer_id\":\"c\",\"value\":1}}",
	    "usage r: timestamp: must be after 1970-01-01, got 0", "timestamp zero");
	bad("{\"identifier\":\"r\\u001b]0;x\\u0007\",\"event_name\":\"m\"}",
	    "usage r: payload: missing", "identifier cleaned in messages");

	/* The identifier stays available after an error. */
	ok(decode("{\"identifier\":\"keep\",\"event_name\":\"m\"}", &r, &e) == -1 &&
	   r.identifier != NULL && strcmp(r.identifier, "keep") == 0,
	   "identifier kept after an error");

	test_fixture();
	arena_done(&arena);
	return t_done();
}
