/*
 * sig: Stripe-Signature headers.  See sig.h for the scheme.
 *
 * Parsing is deliberately narrow: a header is pairs "key=value" separated by
 * ','; white space around a pair is ignored.  A pair without '=' (or an empty
 * pair), a missing or empty t, a t that is not a decimal number of seconds, or
 * a second t makes the header bad: two timestamps would leave it open which
 * one was signed.  v1 values that are not 64 hex digits are ignored, as are
 * v0, unknown keys and any v1 beyond SIG_MAX_V1.
 *
 * Verification computes one HMAC per secret over "t.body" (streamed, the body
 * is never copied) and compares it with every v1 using CRYPTO_memcmp, without
 * stopping at the first match.  The signature is judged before the age, as
 * the SDKs do, so a forged header is reported as such even when it is old.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "sig.h"

static const char *const sig_names[] = {
	[SIG_VALID] = "valid",
	[SIG_NOT_SIGNED] = "not-signed",
	[SIG_BAD_HEADER] = "bad-header",
	[SIG_NO_V1] = "no-v1",
	[SIG_NO_MATCH] = "no-match",
	[SIG_TOO_OLD] = "too-old",
	[SIG_NO_SECRET] = "no-secret",
};

const char *
sig_result_name(enum sig_result r)
{
	if ((unsigned)r >= sizeof sig_names / sizeof sig_names[0] || sig_names[r] == NULL)
		return "unknown";
	return sig_names[r];
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode exactly 64 hex digits into 32 bytes; -1 if s is anything else. */
static int
hex32_decode(const char *s, size_t n, unsigned char out[32])
{
	size_t i;

	if (n != 64)
		return -1;
	for (i = 0; i < 32; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* A non-negative decimal int64 of exactly n bytes. */
static int
parse_seconds(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

enum sig_result
sig_parse(const char *header, struct sig_header *out)
{
	const char *p, *end, *eq, *k, *ke, *v, *ve;
	int have_t = 0;

	memset(out, 0, sizeof *out);
	if (header == NULL)
		return SIG_NOT_SIGNED;
	for (p = header; is_space(*p); p++)
		;
	if (*p == '\0')
		return SIG_NOT_SIGNED;

	for (p = header;; p = end + 1) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		k = p;
		ve = end;
		while (k < ve && is_space(*k))
			k++;
		while (ve > k && is_space(ve[-1]))
			ve--;
		eq = memchr(k, '=', (size_t)(ve - k));
		if (eq == NULL)
			return SIG_BAD_HEADER;
		ke = eq;
		v = eq + 1;
		while (ke > k && is_space(ke[-1]))
			ke--;
		while (v < ve && is_space(*v))
			v++;

		if (ke - k == 1 && k[0] == 't') {
			if (have_t || parse_seconds(v, (size_t)(ve - v), &out->t) != 0)
				return SIG_BAD_HEADER;
			have_t = 1;
		} else if (ke - k == 2 && k[0] == 'v' && k[1] == '1' && out->nv1 < SIG_MAX_V1) {
			if (hex32_decode(v, (size_t)(ve - v), out->v1[out->nv1]) == 0)
				out->nv1++;
		}
		if (*end == '\0')
			break;
	}
	if (!have_t)
		return SIG_BAD_HEADER;
	return out->nv1 > 0 ? SIG_VALID : SIG_NO_V1;
}

/* HMAC-SHA256 of p1 followed by p2. */
static int
hmac2(const void *key, size_t keylen, const void *p1, size_t n1, const void *p2, size_t n2,
      unsigned char mac[32])
{
	static const unsigned char nokey[1];
	EVP_MAC *m = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t maclen = 0;
	int rc = -1;

	m = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (m == NULL)
		goto out;
	ctx = EVP_MAC_CTX_new(m);
	if (ctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	/* A NULL key would mean "keep the previous key"; an empty one is a key. */
	if (EVP_MAC_init(ctx, keylen > 0 ? key : nokey, keylen, params) != 1)
		goto out;
	if ((n1 > 0 && EVP_MAC_update(ctx, p1, n1) != 1) ||
	    (n2 > 0 && EVP_MAC_update(ctx, p2, n2) != 1))
		goto out;
	if (EVP_MAC_final(ctx, mac, &maclen, 32) != 1 || maclen != 32)
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(m);
	return rc;
}

static void
hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* The MAC of "t.body" under secret. */
static int
sig_mac(const char *secret, int64_t t, const void *body, size_t bodylen, unsigned char mac[32])
{
	char ts[32];
	int n;

	n = snprintf(ts, sizeof ts, "%lld.", (long long)t);
	if (n < 0 || (size_t)n >= sizeof ts)
		return -1;
	return hmac2(secret, strlen(secret), ts, (size_t)n, body, bodylen, mac);
}

enum sig_result
sig_verify(const char *header, const void *body, size_t bodylen,
           const char *const *secrets, int nsecrets, int64_t now, int64_t tolerance)
{
	struct sig_header h;
	unsigned char mac[32];
	enum sig_result r;
	int i, j, usable = 0, match = 0;

	r = sig_parse(header, &h);
	if (r != SIG_VALID)
		return r;
	for (i = 0; secrets != NULL && i < nsecrets; i++) {
		if (secrets[i] == NULL || secrets[i][0] == '\0')
			continue;
		usable++;
		if (sig_mac(secrets[i], h.t, body, bodylen, mac) != 0)
			continue;
		for (j = 0; j < h.nv1; j++)
			match |= CRYPTO_memcmp(mac, h.v1[j], sizeof mac) == 0;
	}
	OPENSSL_cleanse(mac, sizeof mac);
	if (usable == 0)
		return SIG_NO_SECRET;
	if (!match)
		return SIG_NO_MATCH;
	/* now - t > tolerance, without overflow (t >= 0 after parsing). */
	if (tolerance > 0 && now > h.t && (uint64_t)now - (uint64_t)h.t > (uint64_t)tolerance)
		return SIG_TOO_OLD;
	return SIG_VALID;
}

int
sig_sign(const char *secret, int64_t t, const void *body, size_t bodylen,
         char *out, size_t outsz)
{
	unsigned char mac[32];
	char hex[65];
	int n;

	if (secret == NULL || outsz == 0 || sig_mac(secret, t, body, bodylen, mac) != 0)
		return -1;
	hex_encode(mac, sizeof mac, hex);
	n = snprintf(out, outsz, "t=%lld,v1=%s", (long long)t, hex);
	if (n < 0 || (size_t)n >= outsz) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
sig_hmac_hex(const void *key, size_t keylen, const void *msg, size_t msglen, char hex[65])
{
	unsigned char mac[32];

	if (hmac2(key, keylen, msg, msglen, NULL, 0, mac) != 0) {
		hex[0] = '\0';
		return -1;
	}
	hex_encode(mac, sizeof mac, hex);
	return 0;
}
