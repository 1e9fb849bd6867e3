/*
 * test-sig: Stripe-Signature parsing, verification and signing, checked
 * against every vector of ../shared/stripe/webhook-signature-vectors.json
 * (found through $SHARED, else $SRCDIR/../shared), then against cases of our
 * own for the edges the vectors do not reach.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "sig.h"
#include "t.h"

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void
hex_of(const unsigned char *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* The result class a vector's "expect" names; -1 for a plain "reject"
 * (any failure), -2 for a string this test does not know. */
static int
expect_class(const char *expect)
{
	static const struct {
		const char *name;
		int r;
	} map[] = {
		{"valid", SIG_VALID},
		{"reject", -1},
		{"reject_not_signed", SIG_NOT_SIGNED},
		{"reject_invalid_header", SIG_BAD_HEADER},
		{"reject_no_signatures_with_expected_scheme", SIG_NO_V1},
		{"reject_no_v1", SIG_NO_V1},
		{"reject_no_matching_signature", SIG_NO_MATCH},
		{"reject_timestamp_outside_tolerance", SIG_TOO_OLD},
	};
	size_t i;

	for (i = 0; expect != NULL && i < sizeof map / sizeof map[0]; i++)
		if (strcmp(expect, map[i].name) == 0)
			return map[i].r;
	return -2;
}

static void
check_result(enum sig_result got, const char *expect, const char *what)
{
	int want = expect_class(expect);

	if (want == -2) {
		ok(0, "%s: unknown expect '%s' in the vectors (teach test-sig about it)", what,
		   expect ? expect : "(null)");
	} else if (want == -1) {
		if (!ok(got != SIG_VALID, "%s: rejected (%s)", what, sig_result_name(got)))
			printf("# got valid, want a rejection\n");
	} else {
		if (!ok((int)got == want, "%s: %s", what, expect))
			printf("# got %s, want %s\n", sig_result_name(got),
			       sig_result_name((enum sig_result)want));
	}
}

static void
check_payload(const json_t *vec, const char *id, const char *payload, size_t len)
{
	const char *want = jstr(vec, "payload_sha256");
	unsigned char md[32];
	unsigned int mdlen = 0;
	char hex[65];

	if (json_object_get(vec, "payload_length") != NULL)
		is_int(len, json_integer_value(json_object_get(vec, "payload_length")),
		       "%s: payload length", id);
	if (want != NULL) {
		EVP_Digest(payload, len, md, &mdlen, EVP_sha256(), NULL);
		hex_of(md, 32, hex);
		is_str(hex, want, "%s: payload sha256 (the JSON string is the exact body)", id);
	}
}

static void
test_vector(const json_t *vec)
{
	const char *id = jstr(vec, "id"), *secret = jstr(vec, "secret"), *header = jstr(vec, "header");
	const json_t *payload_j = json_object_get(vec, "payload"), *checks = json_object_get(vec, "checks");
	int64_t ts = json_integer_value(json_object_get(vec, "timestamp"));
	const char *payload = json_string_value(payload_j);
	size_t plen = json_string_length(payload_j), i;
	char want_hdr[128], got_hdr[128];
	const json_t *chk;

	if (!ok(id && secret && header && payload && json_is_array(checks), "vector %s is complete",
	        id ? id : "(no id)"))
		return;
	check_payload(vec, id, payload, plen);

	/* The expected v1 is what we would sign with the vector's secret. */
	if (jstr(vec, "expected_v1") != NULL) {
		snprintf(want_hdr, sizeof want_hdr, "t=%lld,v1=%s", (long long)ts, jstr(vec, "expected_v1"));
		is_int(sig_sign(secret, ts, payload, plen, got_hdr, sizeof got_hdr), 0, "%s: sign", id);
		is_str(got_hdr, want_hdr, "%s: sig_sign gives expected_v1", id);
	}
	if (jstr(vec, "second_secret") != NULL && jstr(vec, "second_v1") != NULL) {
		snprintf(want_hdr, sizeof want_hdr, "t=%lld,v1=%s", (long long)ts, jstr(vec, "second_v1"));
		sig_sign(jstr(vec, "second_secret"), ts, payload, plen, got_hdr, sizeof got_hdr);
		is_str(got_hdr, want_hdr, "%s: sig_sign gives second_v1", id);
	}

	json_array_foreach(checks, i, chk) {
		const json_t *now_j = json_object_get(chk, "now");
		const json_t *suffix_j = json_object_get(chk, "payload_suffix");
		const char *csecret = jstr(chk, "secret") ? jstr(chk, "secret") : secret;
		const char *expect = jstr(chk, "expect");
		int64_t now = json_is_integer(now_j) ? json_integer_value(now_j) : ts;
		int64_t tol = json_integer_value(json_object_get(chk, "tolerance"));
		size_t slen = json_string_length(suffix_j), blen = plen + slen;
		char *body = malloc(blen + 1), what[160];
		const char *one[1] = {csecret};
		const char *rotated[3] = {"whsec_not_this_one", "", csecret};
		enum sig_result r;

		memcpy(body, payload, plen);
		if (slen > 0)
			memcpy(body + plen, json_string_value(suffix_j), slen);
		snprintf(what, sizeof what, "%s check %zu (now %lld, tolerance %lld)", id, i,
		         (long long)now, (long long)tol);
		r = sig_verify(header, body, blen, one, 1, now, tol);
		check_result(r, expect, what);

		/* The same verdict when the right secret is one of several. */
		snprintf(what, sizeof what, "%s check %zu among 3 secrets", id, i);
		r = sig_verify(header, body, blen, rotated, 3, now, tol);
		check_result(r, expect, what);
		free(body);
	}
}

static void
test_malformed(const json_t *mh)
{
	const char *secret = jstr(mh, "secret"), *payload = jstr(mh, "payload");
	const json_t *cases = json_object_get(mh, "cases"), *c;
	size_t i;

	if (!ok(secret && payload && json_array_size(cases) > 0, "malformed_headers is complete"))
		return;
	json_array_foreach(cases, i, c) {
		const char *h = jstr(c, "header"), *secrets[1] = {secret};
		struct sig_header sh;
		char what[160];
		enum sig_result r;

		snprintf(what, sizeof what, "malformed header %zu \"%s\"", i, h ? h : "(null)");
		r = sig_verify(h, payload, strlen(payload), secrets, 1, 1700000000, 300);
		check_result(r, jstr(c, "expect"), what);
		/* Parsing alone already refuses it. */
		r = sig_parse(h, &sh);
		ok(r != SIG_VALID, "%s: sig_parse refuses it (%s)", what, sig_result_name(r));
	}
}

static int
unhex(const char *s, unsigned char *out, size_t outsz, size_t *n)
{
	size_t len = strlen(s), i;
	unsigned int b;

	if (len % 2 != 0 || len / 2 > outsz)
		return -1;
	for (i = 0; i < len / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (unsigned char)b;
	}
	*n = len / 2;
	return 0;
}

static void
test_hmac_primitive(const json_t *hp)
{
	const json_t *cases = json_object_get(hp, "cases"), *c;
	size_t i;

	ok(json_array_size(cases) > 0, "hmac_primitive_vectors present");
	json_array_foreach(cases, i, c) {
		const char *key = jstr(c, "key"), *name = jstr(c, "case");
		const json_t *msg_j = json_object_get(c, "message");
		const char *msg = json_string_value(msg_j);
		unsigned char bytes[256];
		size_t nbytes = 0;
		char hex[65];

		if (!ok(key && msg && jstr(c, "hmac_sha256_hex"), "hmac case %zu is complete", i))
			continue;
		if (jstr(c, "message_utf8_hex") != NULL) {
			ok(unhex(jstr(c, "message_utf8_hex"), bytes, sizeof bytes, &nbytes) == 0 &&
			   nbytes == json_string_length(msg_j) && memcmp(bytes, msg, nbytes) == 0,
			   "hmac '%s': message bytes are its UTF-8", name);
		}
		is_int(sig_hmac_hex(key, strlen(key), msg, json_string_length(msg_j), hex), 0,
		       "hmac '%s': computed", name);
		is_str(hex, jstr(c, "hmac_sha256_hex"), "hmac '%s'", name);
	}
}

static void
test_illustrative(const json_t *il)
{
	static const char want_v1[] = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
	const char *h = jstr(il, "header");
	struct sig_header sh;
	char hex[65];

	if (!ok(h != NULL, "illustrative header present"))
		return;
	is_int(sig_parse(h, &sh), SIG_VALID, "illustrative header parses");
	is_int(sh.t, 1492774577, "illustrative t");
	is_int(sh.nv1, 1, "illustrative: one v1 (v0 ignored)");
	hex_of(sh.v1[0], 32, hex);
	is_str(hex, want_v1, "illustrative v1 bytes");
}

static json_t *
load_vectors(void)
{
	const char *shared = getenv("SHARED"), *srcdir = getenv("SRCDIR");
	char path[4096];
	json_error_t jerr;
	json_t *root;

	if (shared != NULL && *shared != '\0')
		snprintf(path, sizeof path, "%s/stripe/webhook-signature-vectors.json", shared);
	else if (srcdir != NULL && *srcdir != '\0')
		snprintf(path, sizeof path, "%s/../shared/stripe/webhook-signature-vectors.json", srcdir);
	else {
		printf("Bail out! neither SHARED nor SRCDIR is set: cannot find "
		       "stripe/webhook-signature-vectors.json (run through `make check`, or set SHARED)\n");
		return NULL;
	}
	root = json_load_file(path, 0, &jerr);
	if (root == NULL)
		printf("Bail out! %s:%d: %s\n", path, jerr.line, jerr.text);
	return root;
}

/* Cases the vectors do not cover. */
static void
test_own(void)
{
	static const char body[] = "{\"id\":\"evt_1\"}\n\0tail";
	const char *sec[] = {"whsec_a", "whsec_b"};
	char hdr[256], buf[1024], small[40];
	struct sig_header sh;
	int i;

	/* Round trip, with a body holding a NUL and a newline. */
	is_int(sig_sign("whsec_a", 1763900000, body, sizeof body - 1, hdr, sizeof hdr), 0, "sign");
	is_int(sig_verify(hdr, body, sizeof body - 1, sec, 1, 1763900000, 300), SIG_VALID,
	       "sign then verify");
	is_int(sig_verify(hdr, body, sizeof body - 2, sec, 1, 1763900000, 300), SIG_NO_MATCH,
	       "one byte less: no match");
	is_int(sig_verify(hdr, body, sizeof body - 1, sec + 1, 1, 1763900000, 300), SIG_NO_MATCH,
	       "other secret: no match");
	is_int(sig_verify(hdr, body, sizeof body - 1, sec, 2, 1763900000, 300), SIG_VALID,
	       "first of two secrets");
	is_int(sig_parse(hdr, &sh), SIG_VALID, "signed header parses");
	is_int(sh.t, 1763900000, "signed header t");
	is_int(sh.nv1, 1, "signed header has one v1");
	is_int((int)strlen(hdr), 2 + 10 + 4 + 64, "signed header length");
	is_int(sig_sign("whsec_a", 1763900000, body, 3, small, sizeof small), -1,
	       "sign into a too small buffer fails");
	is_str(small, "", "and leaves it empty");

	/* Rotation: a header signed with both secrets verifies with either. */
	{
		char h2[128];

		sig_sign("whsec_b", 1763900000, body, 5, h2, sizeof h2);
		sig_sign("whsec_a", 1763900000, body, 5, hdr, sizeof hdr);
		snprintf(buf, sizeof buf, "%s,%s", hdr, strchr(h2, ',') + 1);
		is_int(sig_verify(buf, body, 5, sec, 1, 0, 0), SIG_VALID, "rotation: old secret");
		is_int(sig_verify(buf, body, 5, sec + 1, 1, 0, 0), SIG_VALID, "rotation: new secret");
		is_int(sig_verify(buf, body, 5, sec, 2, 0, 0), SIG_VALID, "rotation: both secrets");
	}

	/* Secrets. */
	sig_sign("whsec_a", 100, "x", 1, hdr, sizeof hdr);
	is_int(sig_verify(hdr, "x", 1, NULL, 0, 100, 300), SIG_NO_SECRET, "no secrets");
	{
		const char *empty[] = {"", NULL};

		is_int(sig_verify(hdr, "x", 1, empty, 2, 100, 300), SIG_NO_SECRET, "only empty secrets");
	}
	is_int(sig_verify("", "x", 1, NULL, 0, 100, 300), SIG_NOT_SIGNED,
	       "unsigned is reported before missing secret");

	/* Age. */
	is_int(sig_verify(hdr, "x", 1, sec, 1, 400, 300), SIG_VALID, "age == tolerance passes");
	is_int(sig_verify(hdr, "x", 1, sec, 1, 401, 300), SIG_TOO_OLD, "age > tolerance");
	is_int(sig_verify(hdr, "x", 1, sec, 1, 10000, -1), SIG_VALID, "negative tolerance disables");
	is_int(sig_verify(hdr, "x", 1, sec, 1, INT64_MIN, 300), SIG_VALID, "now far before t");
	is_int(sig_verify(hdr, "x", 1, sec, 1, INT64_MAX, INT64_MAX), SIG_VALID, "huge tolerance");
	is_int(sig_verify(hdr, "x", 1, sec, 1, INT64_MAX, 300), SIG_TOO_OLD, "now far after t");
	is_int(sig_verify(hdr, "y", 1, sec, 1, 10000, 300), SIG_NO_MATCH,
	       "a forgery is no-match even when old");

	/* Header forms. */
	is_int(sig_parse(NULL, &sh), SIG_NOT_SIGNED, "NULL header");
	is_int(sig_parse("  ", &sh), SIG_NOT_SIGNED, "blank header");
	is_int(sig_parse("bad_header", &sh), SIG_BAD_HEADER, "no '='");
	is_int(sig_parse("v1,t=1", &sh), SIG_BAD_HEADER, "pair without '='");
	is_int(sig_parse("t=", &sh), SIG_BAD_HEADER, "empty t");
	is_int(sig_parse("t=abc,v1=00", &sh), SIG_BAD_HEADER, "t not a number");
	is_int(sig_parse("t=-5,v1=00", &sh), SIG_BAD_HEADER, "negative t");
	is_int(sig_parse("t=99999999999999999999,v1=00", &sh), SIG_BAD_HEADER, "t overflows");
	is_int(sig_parse("t=1,t=2", &sh), SIG_BAD_HEADER, "two t");
	is_int(sig_parse("t=1,,v1=00", &sh), SIG_BAD_HEADER, "empty pair");
	is_int(sig_parse("t=1", &sh), SIG_NO_V1, "t only");
	is_int(sig_parse("t=1,v1=abc", &sh), SIG_NO_V1, "short v1 ignored");
	memcpy(buf, "t=1,v1=", 7);
	memset(buf + 7, 'a', 65);
	buf[72] = '\0';
	is_int(sig_parse(buf, &sh), SIG_NO_V1, "65-digit v1 ignored");
	buf[71] = '\0';
	is_int(sig_parse(buf, &sh), SIG_VALID, "64-digit v1");
	buf[70] = 'g';
	is_int(sig_parse(buf, &sh), SIG_NO_V1, "non-hex v1 ignored");

	/* White space around pairs, upper-case hex. */
	sig_sign("whsec_a", 100, "x", 1, hdr, sizeof hdr);
	snprintf(buf, sizeof buf, " t = 100 , v1 = %s ", strchr(hdr, ',') + 4);
	is_int(sig_verify(buf, "x", 1, sec, 1, 100, 300), SIG_VALID, "spaces around pairs");
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] >= 'a' && buf[i] <= 'f')
			buf[i] = (char)(buf[i] - 'a' + 'A');
	is_int(sig_verify(buf, "x", 1, sec, 1, 100, 300), SIG_VALID, "upper-case hex");

	/* More v1 entries than fit: the extras are ignored. */
	{
		size_t off = (size_t)snprintf(buf, sizeof buf, "t=100");

		for (i = 0; i < SIG_MAX_V1 + 2; i++)
			off += (size_t)snprintf(buf + off, sizeof buf - off, ",v1=%064d", i);
		ok(off < sizeof buf, "long header fits the test buffer");
		is_int(sig_parse(buf, &sh), SIG_VALID, "%d v1 entries parse", SIG_MAX_V1 + 2);
		is_int(sh.nv1, SIG_MAX_V1, "kept SIG_MAX_V1 of them");
	}

	/* Known HMAC: empty key and message. */
	is_int(sig_hmac_hex("", 0, "", 0, buf), 0, "hmac with empty key");
	is_str(buf, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
	       "hmac(empty, empty)");

	/* Names. */
	is_str(sig_result_name(SIG_VALID), "valid", "name valid");
	is_str(sig_result_name(SIG_NOT_SIGNED), "not-signed", "name not-signed");
	is_str(sig_result_name(SIG_BAD_HEADER), "bad-header", "name bad-header");
	is_str(sig_result_name(SIG_NO_V1), "no-v1", "name no-v1");
	is_str(sig_result_name(SIG_NO_MATCH), "no-match", "name no-match");
	is_str(sig_result_name(SIG_TOO_OLD), "too-old", "name too-old");
	is_str(sig_result_name(SIG_NO_SECRET), "no-secret", "name no-secret");
	is_str(sig_result_name((enum sig_result)99), "unknown", "name out of range");
}

int
main(void)
{
	const json_t *vectors, *vec;
	json_t *root;
	size_t i;

	root = load_vectors();
	if (root == NULL)
		return 99;
	vectors = json_object_get(root, "vectors");
	ok(json_array_size(vectors) > 0, "vectors present");
	json_array_foreach(vectors, i, vec)
		test_vector(vec);
	test_malformed(json_object_get(root, "malformed_headers"));
	test_hmac_primitive(json_object_get(root, "hmac_primitive_vectors"));
	test_illustrative(json_object_get(root, "illustrative_only"));
	test_own();
	json_decref(root);
	return t_done();
}
