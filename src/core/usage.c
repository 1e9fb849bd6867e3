/*
 * usage: decoding of usage log lines (Stripe meter events).  See usage.h.
 *
 * Every field the ledger relies on is checked here, so a line that passes
 * can be applied without further doubt: the identifier (the idempotency key:
 * a line without one could be counted twice), the meter, the customer, a
 * whole non-negative value and a timestamp.  Other keys (object, created,
 * livemode, payload dimensions) are ignored.  Errors start with
 * "usage <identifier>: " once the identifier is known, else "usage: ", then
 * name the field and show the offending value, cleaned for a terminal.
 * After an error, out->identifier is still set when it was read, so the
 * caller can say which line it quarantined.
 */
#include <stdio.h>
#include <string.h>

#include "usage.h"

#define USAGE_ID_MAX 255        /* bytes; Stripe's idempotency keys stop here too */
#define USAGE_SHOW 40           /* bytes of a bad value shown in a message */

/* A printable excerpt of outside text for an error message. */
static const char *
show(const char *s, size_t n, char *out, size_t outsz)
{
	if (n > USAGE_SHOW) {
		text_clean(s, USAGE_SHOW, out, outsz > 4 ? outsz - 3 : outsz);
		strcat(out, "...");
		return out;
	}
	return text_clean(s, n, out, outsz);
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* A required non-empty string without NUL bytes, copied into the arena. */
static int
get_string(struct arena *a, const json_t *obj, const char *key, const char *field,
           const char *why, const char **out, struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n;

	if (v == NULL || json_is_null(v))
		return err_set(e, "%s: missing%s", field, why);
	if (!json_is_string(v))
		return err_set(e, "%s: expected a string, got %s", field, json_kind(v));
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0)
		return err_set(e, "%s: empty%s", field, why);
	if (memchr(s, '\0', n) != NULL)
		return err_set(e, "%s: contains a NUL character", field);
	*out = arena_strndup(a, s, n);
	return 0;
}

/* A whole number >= 0, from "1250" or 1250. */
static int
get_value(const json_t *payload, int64_t *out, struct err *e)
{
	const json_t *v = json_object_get(payload, "value");
	char shown[64];
	const char *s;
	size_t n, i;
	int64_t x = 0;

	if (v == NULL || json_is_null(v))
		return err_set(e, "payload.value: missing");
	if (json_is_integer(v)) {
		x = json_integer_value(v);
		if (x < 0)
			return err_set(e, "payload.value: must not be negative, got %lld", (long long)x);
		*out = x;
		return 0;
	}
	if (json_is_real(v))
		return err_set(e, "payload.value: expected a whole number, got %.15g",
		    json_real_value(v));
	if (!json_is_string(v))
		return err_set(e, "payload.value: expected a whole number as a string or integer, "
		    "got %s", json_kind(v));
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0)
		return err_set(e, "payload.value: expected a whole number, got an empty string");
	if (s[0] == '-' && n > 1) {
		for (i = 1; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == n)
			return err_set(e, "payload.value: must not be negative, got '%s'",
			    show(s, n, shown, sizeof shown));
	}
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return err_set(e, "payload.value: expected a whole number, got '%s'",
			    show(s, n, shown, sizeof shown));
		if (x > (INT64_MAX - (s[i] - '0')) / 10)
			return err_set(e, "payload.value: too large, got '%s'",
			    show(s, n, shown, sizeof shown));
		x = x * 10 + (s[i] - '0');
	}
	*out = x;
	return 0;
}

/* Unix seconds (integer or digits in a string) or RFC 3339; must be > 0. */
static int
get_timestamp(const json_t *obj, int64_t *out, struct err *e)
{
	const json_t *v = json_object_get(obj, "timestamp");
	char shown[64];
	int64_t t;

	if (v == NULL || json_is_null(v))
		return err_set(e, "timestamp: missing");
	if (json_is_integer(v)) {
		t = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);

		if (memchr(s, '\0', n) != NULL || time_parse(s, &t) != 0)
			return err_set(e, "timestamp: expected Unix seconds or an RFC 3339 time "
			    "like 2026-11-01T00:00:00Z, got '%s'", show(s, n, shown, sizeof shown));
	} else {
		return err_set(e, "timestamp: expected Unix seconds or an RFC 3339 string, got %s",
		    json_kind(v));
	}
	if (t <= 0)
		return err_set(e, "timestamp: must be after 1970-01-01, got %lld", (long long)t);
	*out = t;
	return 0;
}

int
usage_decode(struct arena *a, const json_t *v, struct usage_rec *out, struct err *e)
{
	const json_t *payload;
	char shown[USAGE_SHOW + 8];
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!json_is_object(v)) {
		err_set(e, "expected a JSON object (a meter event), got %s", json_kind(v));
		return err_prefix(e, "usage: ");
	}
	if (get_string(a, v, "identifier", "identifier",
	    " (a line without one could be counted twice)", &out->identifier, e) != 0)
		return err_prefix(e, "usage: ");
	if (strlen(out->identifier) > USAGE_ID_MAX) {
		err_set(e, "identifier: longer than %d bytes", USAGE_ID_MAX);
		goto out;
	}

	if (get_string(a, v, "event_name", "event_name", "", &out->event_name, e) != 0)
		goto out;
	payload = json_object_get(v, "payload");
	if (payload == NULL || json_is_null(payload)) {
		err_set(e, "payload: missing");
		goto out;
	}
	if (!json_is_object(payload)) {
		err_set(e, "payload: expected an object, got %s", json_kind(payload));
		goto out;
	}
	if (get_string(a, payload, "stripe_customer_id", "payload.stripe_customer_id", "",
	    &out->customer, e) != 0)
		goto out;
	if (get_value(payload, &out->value, e) != 0)
		goto out;
	if (get_timestamp(v, &out->timestamp, e) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		err_prefix(e, "usage %s: ", show(out->identifier, strlen(out->identifier),
		    shown, sizeof shown));
	return rc;
}
