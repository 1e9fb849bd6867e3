/*
 * test-api: the Stripe HTTP client against tests/lib/mini_http.py, a
 * scripted server on 127.0.0.1 that logs every request it receives (found
 * through $SRCDIR, run with $PYTHON3).  One script holds a route per case;
 * each case opens its own client, so a fresh connection starts every case
 * unless it says otherwise.  What the client sent is checked in the server's
 * log, timing only from below (gaps at least so long), never from above,
 * except that a stop must end a 30 s wait well before 30 s.
 *
 * Every error any case produces is also checked for the key: neither the
 * struct nor api_error_format nor the stats may hold it, or a prefix of it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "stripe-api.h"
#include "t.h"

#define KEY "sk_test_51HqLyjWDarjtT1zdp7dcSecretPartOf9f2a"
#define KEY_SECRET_PART "51HqLy"     /* the start of the secret part: must never appear */
#define STRIPE_VERSION "2026-07-29.dahlia"

static char dir[256], script_path[300], log_path[300], port_path[300], base[64];
static pid_t server_pid;
static json_t *routes;

/* --- the server ------------------------------------------------------ */

static void
route(const char *path, json_t *responses)
{
	json_object_set_new(routes, path, responses);
}

static void
server_start(void)
{
	const char *srcdir = getenv("SRCDIR"), *py = getenv("PYTHON3");
	char helper[512], parent[32];
	json_t *doc;
	FILE *f;
	int port = 0, i;

	if (srcdir == NULL || *srcdir == '\0')
		srcdir = ".";
	if (py == NULL || *py == '\0')
		py = "python3";
	snprintf(helper, sizeof helper, "%s/tests/lib/mini_http.py", srcdir);
	doc = json_pack("{s:O}", "routes", routes);
	if (doc == NULL || json_dump_file(doc, script_path, 0) != 0) {
		printf("Bail out! cannot write %s\n", script_path);
		exit(99);
	}
	json_decref(doc);
	snprintf(parent, sizeof parent, "%ld", (long)getpid());
	fflush(stdout);
	server_pid = fork();
	if (server_pid < 0) {
		printf("Bail out! fork: %s\n", strerror(errno));
		exit(99);
	}
	if (server_pid == 0) {
		execlp(py, py, helper, "--script", script_path, "--port-file", port_path, "--log",
		       log_path, "--parent", parent, (char *)NULL);
		fprintf(stderr, "test-api: cannot run %s %s: %s\n", py, helper, strerror(errno));
		_exit(127);
	}
	for (i = 0; i < 200 && port == 0; i++) {
		struct timespec ts = {0, 50 * 1000000};

		if ((f = fopen(port_path, "r")) != NULL) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port == 0)
			nanosleep(&ts, NULL);
	}
	if (port == 0) {
		printf("Bail out! mini_http did not start (%s %s)\n", py, helper);
		kill(server_pid, SIGTERM);
		exit(99);
	}
	snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
}

static void
server_stop(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
}

/* The requests the server logged for path (query left out), oldest first.
 * Returns a new reference. */
static json_t *
logged(const char *path)
{
	json_t *all = json_array(), *e;
	char line[1 << 16];
	FILE *f = fopen(log_path, "r");
	size_t plen = strlen(path);
	const char *p;

	while (f != NULL && fgets(line, sizeof line, f) != NULL) {
		e = json_loads(line, 0, NULL);
		p = json_string_value(json_object_get(e, "path"));
		if (p != NULL && strncmp(p, path, plen) == 0 && (p[plen] == '\0' || p[plen] == '?'))
			json_array_append(all, e);
		json_decref(e);
	}
	if (f != NULL)
		fclose(f);
	return all;
}

static const char *
req_header(const json_t *req, const char *name)
{
	const char *k;
	json_t *v;

	json_object_foreach(json_object_get(req, "headers"), k, v)
		if (strcasecmp(k, name) == 0)
			return json_string_value(v);
	return NULL;
}

static double
req_t(const json_t *req)
{
	return json_real_value(json_object_get(req, "t"));
}

/* --- the client -------------------------------------------------------- */

static struct api_opts
opts(void)
{
	struct api_opts o;

	memset(&o, 0, sizeof o);
	o.base = base;
	o.key = KEY;
	o.version = STRIPE_VERSION;
	o.timeout_ms = 5000;
	o.connect_timeout_ms = 2000;
	o.max_retries = 5;
	o.backoff_base_ms = 5;
	o.backoff_max_ms = 20;
	return o;
}

static struct api_client *
client(const struct api_opts *o)
{
	struct api_client *c = NULL;
	struct err e;

	if (api_open(o, &c, &e) != 0) {
		printf("Bail out! api_open: %s\n", e.msg);
		exit(99);
	}
	return c;
}

/* Neither ae, nor its formatting, nor the stats hold the key. */
static void
no_key(const struct api_client *c, const struct api_error *ae, const char *what)
{
	char line[1024];
	const char *fields[] = {ae->type, ae->code, ae->param, ae->message, ae->request_id, line,
	                        c != NULL ? api_stats(c)->last_request_id : ""};
	size_t i;
	int leak = 0;

	api_error_format(ae, line, sizeof line);
	for (i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (strstr(fields[i], KEY_SECRET_PART) != NULL || strstr(fields[i], "SecretPart") != NULL)
			leak = 1;
	if (!ok(!leak, "%s: the key appears nowhere in the error or the stats", what))
		printf("# %s\n", line);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- cases without a server --------------------------------------------- */

static void
test_encode(void)
{
	struct api_params p = {0};
	char *s;

	s = api_params_encode(NULL);
	is_str(s, "", "encode: NULL params is empty");
	free(s);
	s = api_params_encode(&p);
	is_str(s, "", "encode: no params is empty");
	free(s);

	api_params_add(&p, "limit", "100");
	api_params_add(&p, "metadata[order_id]", "42");
	api_params_add(&p, "expand[]", "data.customer");
	api_params_add(&p, "expand[]", "latest_invoice.payment_intent");
	api_params_add(&p, "items[0][price]", "price_123");
	api_params_add(&p, "items[0][quantity]", "2");
	api_params_addf(&p, "created[gte]", "%lld", 1763900000LL);
	s = api_params_encode(&p);
	is_str(s, "limit=100&metadata[order_id]=42&expand[]=data.customer"
	       "&expand[]=latest_invoice.payment_intent&items[0][price]=price_123"
	       "&items[0][quantity]=2&created[gte]=1763900000",
	       "encode: nested, arrays and indexed arrays keep brackets in keys, in order");
	free(s);
	api_params_free(&p);
	is_int(p.n, 0, "encode: free leaves the params empty for reuse");

	api_params_add(&p, "description", "Tom & Jerry's = 100% a+b/c?d#e é~-._");
	api_params_add(&p, "metadata[a b]", "x[y]");
	api_params_add(&p, "metadata[gone]", "");
	api_params_add(&p, "shipping", NULL);
	s = api_params_encode(&p);
	is_str(s, "description=Tom%20%26%20Jerry%27s%20%3D%20100%25%20a%2Bb%2Fc%3Fd%23e%20%C3%A9~-._"
	       "&metadata[a%20b]=x%5By%5D&metadata[gone]=&shipping=",
	       "encode: reserved, space, UTF-8 and brackets in values are %%XX; empty unsets");
	free(s);
	api_params_free(&p);
	api_params_free(&p);
	ok(1, "encode: free twice is harmless");
}

static void
test_open_errors(void)
{
	struct api_opts o = opts();
	struct api_client *c = (struct api_client *)&o;     /* any non-NULL value */
	struct err e;

	o.base = "ftp://example.com";
	ok(api_open(&o, &c, &e) != 0 && c == NULL, "open: a base that is not http(s) is refused");
	o = opts();
	o.key = "";
	ok(api_open(&o, &c, &e) != 0, "open: an empty key is refused");
	o = opts();
	o.key = KEY "\r\nX-Evil: 1";
	ok(api_open(&o, &c, &e) != 0, "open: a key that would inject a header is refused");
	ok(strstr(e.msg, KEY_SECRET_PART) == NULL, "open: the refusal does not name the key");
	o = opts();
	o.version = "2026-07-29\nX: y";
	ok(api_open(&o, &c, &e) != 0, "open: a Stripe-Version that would inject a header is refused");
	api_close(NULL);
	ok(1, "api_close(NULL) is a no-op");
}

static void
test_format(void)
{
	struct api_error ae;
	char line[512], small[16];

	memset(&ae, 0, sizeof ae);
	ae.status = 401;
	snprintf(ae.type, sizeof ae.type, "authentication_error");
	snprintf(ae.message, sizeof ae.message, "Invalid API key provided: sk_test_****abcd");
	snprintf(ae.request_id, sizeof ae.request_id, "req_123");
	ae.attempts = 1;
	api_error_format(&ae, line, sizeof line);
	is_str(line, "401 authentication_error: Invalid API key provided: sk_test_****abcd "
	       "(request req_123)", "format: status, type, message, request id");
	ok(!api_error_transient(&ae), "transient: 401 is not");

	ae.status = 0;
	snprintf(ae.type, sizeof ae.type, "network");
	snprintf(ae.code, sizeof ae.code, "timeout");
	snprintf(ae.message, sizeof ae.message, "GET /v1/events: timed out");
	ae.request_id[0] = '\0';
	ae.attempts = 6;
	api_error_format(&ae, line, sizeof line);
	is_str(line, "network [timeout]: GET /v1/events: timed out (6 attempts)",
	       "format: no status for a network error; code and attempts");
	ok(api_error_transient(&ae), "transient: a network error is");
	api_error_format(&ae, small, sizeof small);
	is_int(strlen(small), sizeof small - 1, "format: truncated to the buffer");

	memset(&ae, 0, sizeof ae);
	ae.should_retry = -1;
	ae.status = 500;
	ok(api_error_transient(&ae), "transient: 500 is");
	ae.should_retry = 0;
	ok(!api_error_transient(&ae), "transient: 500 with Stripe-Should-Retry: false is not");
	ae.status = 400;
	ae.should_retry = 1;
	ok(api_error_transient(&ae), "transient: 400 with Stripe-Should-Retry: true is");
	snprintf(ae.type, sizeof ae.type, "stopped");
	ok(!api_error_transient(&ae), "transient: stopped never is");
}

/* --- the script ----------------------------------------------------------- */

static json_t *
stripe_error(const char *type, const char *code, const char *param, const char *message)
{
	json_t *e = json_object();

	json_object_set_new(e, "type", json_string(type));
	if (code != NULL)
		json_object_set_new(e, "code", json_string(code));
	if (param != NULL)
		json_object_set_new(e, "param", json_string(param));
	if (message != NULL)
		json_object_set_new(e, "message", json_string(message));
	return json_pack("{s:o}", "error", e);
}

static json_t *
resp(int status, json_t *body)
{
	return json_pack("{s:i,s:o}", "status", status, "body", body ? body : json_object());
}

static json_t *
with_header(json_t *r, const char *k, const char *v)
{
	json_t *h = json_object_get(r, "headers");

	if (h == NULL)
		json_object_set_new(r, "headers", h = json_object());
	json_object_set_new(h, k, json_string(v));
	return r;
}

static json_t *
with(json_t *r, const char *k, json_t *v)
{
	json_object_set_new(r, k, v);
	return r;
}

static json_t *
ok_body(const char *id)
{
	return resp(200, json_pack("{s:s,s:s}", "id", id, "object", "customer"));
}

static void
script(void)
{
	char big[700];
	json_t *rate = json_array();
	int i;

	routes = json_object();
	route("/v1/customers", json_pack("[o]", with_header(with_header(resp(200,
	      json_pack("{s:s,s:[],s:b}", "object", "list", "data", "has_more", 0)),
	      "Request-Id", "req_abc"), "Date", "Sun, 06 Nov 1994 08:49:37 GMT")));
	route("/v1/customers/cus_1", json_pack("[o]", ok_body("cus_1")));
	route("/v1/date850", json_pack("[o]", with_header(ok_body("d"), "Date",
	      "Sunday, 06-Nov-94 08:49:37 GMT")));
	route("/v1/dateasc", json_pack("[o]", with_header(ok_body("d"), "Date",
	      "Sun Nov  6 08:49:37 1994")));
	route("/v1/nodate", json_pack("[o]", with_header(ok_body("d"), "Date", "yesterday")));

	route("/v1/e404", json_pack("[o,o]", with_header(resp(404, stripe_error(
	      "invalid_request_error", "resource_missing", "id",
	      "No such customer: 'cus_x'\x1b[31m\x07")), "Request-Id", "req_404"), ok_body("never")));
	route("/v1/e400", json_pack("[o,o]", resp(400, stripe_error("invalid_request_error",
	      "parameter_missing", "customer", "Missing required param: customer.")), ok_body("never")));
	route("/v1/e401", json_pack("[o,o]", resp(401, stripe_error("invalid_request_error", NULL,
	      NULL, "Invalid API key provided: " KEY)), ok_body("never")));
	memset(big, 'x', 500);
	snprintf(big + 500, sizeof big - 500, "%s", KEY);
	route("/v1/echo", json_pack("[o]", with_header(resp(400, stripe_error(
	      "invalid_request_error", KEY, KEY, big)), "Request-Id", KEY)));
	route("/v1/nomsg", json_pack("[o]", resp(402, json_pack("{s:{s:s}}", "error", "type",
	      "card_error"))));

	route("/v1/retry", json_pack("[o,o,o,o,o]", resp(500, stripe_error("api_error", NULL, NULL,
	      "boom")), resp(503, NULL), resp(429, stripe_error("invalid_request_error",
	      "lock_timeout", NULL, "locked")), resp(409, stripe_error("idempotency_error", NULL, NULL,
	      "conflict")), ok_body("cus_r")));
	route("/v1/drop", json_pack("[o,o]", with(json_object(), "drop", json_true()),
	      ok_body("cus_d")));
	route("/v1/trunc", json_pack("[o,o]", with(ok_body("cus_t_with_a_longer_body"), "truncate",
	      json_integer(10)), ok_body("cus_t")));
	route("/v1/badjson", json_pack("[o,o]", resp(200, json_string("{\"id\": \"cus_b")),
	      ok_body("cus_b")));
	route("/v1/badjson0", json_pack("[o]", resp(200, json_string("<html>oops</html>"))));
	route("/v1/array", json_pack("[o]", resp(200, json_pack("[i]", 1))));
	route("/v1/html502", json_pack("[o]", with(resp(502, json_string(
	      "<html><body>502 Bad Gateway</body></html>")), "repeat", json_integer(2))));
	memset(big, 'x', 86);
	snprintf(big + 86, sizeof big - 86, "%s and more", KEY);
	route("/v1/cut502", json_pack("[o]", with(resp(502, json_string(big)), "repeat",
	      json_integer(2))));
	route("/v1/redir", json_pack("[o]", with_header(resp(302, json_string("")), "Location",
	      "https://elsewhere.example/v1/x")));
	route("/v1/huge", json_pack("[o]", with(json_pack("{s:i}", "status", 200), "body_fill",
	      json_integer((64 << 20) + 100))));

	route("/v1/ssr_false", json_pack("[o,o]", with_header(resp(500, NULL), "Stripe-Should-Retry",
	      "false"), ok_body("never")));
	route("/v1/ssr_true", json_pack("[o,o]", with_header(resp(400, stripe_error(
	      "invalid_request_error", NULL, NULL, "try again")), "Stripe-Should-Retry", "true"),
	      ok_body("cus_s")));
	route("/v1/retry_after", json_pack("[o,o]", with_header(resp(429, stripe_error(
	      "rate_limit_error", "rate_limit", NULL, "slow down")), "Retry-After", "1"),
	      ok_body("cus_ra")));
	route("/v1/always500", json_pack("[o]", with(resp(500, NULL), "repeat", json_integer(10))));

	for (i = 0; i < 40; i++)
		json_array_append_new(rate, i % 4 == 3 ? resp(503, NULL) : ok_body("r"));
	route("/v1/rate", rate);
	route("/v1/keep", json_pack("[o]", ok_body("k")));
	route("/v1/dropreuse", json_pack("[o,o,o]", with(json_object(), "drop", json_true()),
	      ok_body("dr"), ok_body("dr")));

	route("/v1/stopwait", json_pack("[o]", with(with_header(resp(503, NULL), "Retry-After",
	      "30"), "repeat", json_integer(3))));
	route("/v1/stopdate", json_pack("[o]", with_header(with_header(resp(503, NULL), "Date",
	      "Sun, 06 Nov 1994 08:49:37 GMT"), "Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT")));
	route("/v1/slow", json_pack("[o]", with(ok_body("slow"), "delay", json_real(6))));
	route("/v1/timeout", json_pack("[o]", with(ok_body("late"), "delay", json_real(2))));
}

/* --- cases against the server ------------------------------------------- */

static void
test_get_headers(void)
{
	struct api_opts o = opts();
	struct api_client *c = client(&o);
	struct api_params p = {0};
	struct api_error ae;
	json_t *out = NULL, *reqs;
	int64_t st = -1;
	const json_t *r;

	api_params_add(&p, "limit", "2");
	api_params_add(&p, "expand[]", "data.customer");
	ok(api_get(c, "/v1/customers", &p, &out, &st, &ae) == 0, "GET: succeeds");
	is_str(json_string_value(json_object_get(out, "object")), "list", "GET: the body is parsed");
	is_int(st, 784111777, "GET: server_time from the IMF-fixdate Date header");
	is_str(ae.request_id, "req_abc", "GET: the Request-Id is in ae on success");
	is_str(api_stats(c)->last_request_id, "req_abc", "GET: and in the stats");
	is_int(ae.status, 200, "GET: status on success");
	is_int(ae.attempts, 1, "GET: one attempt");
	is_str(ae.type, "", "GET: no error type on success");
	json_decref(out);
	api_params_free(&p);

	reqs = logged("/v1/customers");
	r = json_array_get(reqs, 0);
	is_int(json_array_size(reqs), 1, "GET: one request");
	is_str(json_string_value(json_object_get(r, "method")), "GET", "GET: method");
	is_str(json_string_value(json_object_get(r, "path")),
	       "/v1/customers?limit=2&expand[]=data.customer", "GET: params in the query string");
	is_str(req_header(r, "Authorization"), "Bearer " KEY, "GET: Bearer auth");
	is_str(req_header(r, "Stripe-Version"), STRIPE_VERSION, "GET: Stripe-Version pinned");
	ok(req_header(r, "Idempotency-Key") == NULL, "GET: no Idempotency-Key");
	ok(req_header(r, "Content-Type") == NULL, "GET: no Content-Type");
	json_decref(reqs);

	ok(api_get(c, "/v1/date850", NULL, NULL, &st, &ae) == 0 && st == 784111777,
	   "Date: RFC 850 form accepted");
	ok(api_get(c, "/v1/dateasc", NULL, NULL, &st, &ae) == 0 && st == 784111777,
	   "Date: asctime form accepted");
	ok(api_get(c, "/v1/nodate", NULL, NULL, &st, &ae) == 0 && st == 0,
	   "Date: an unreadable Date gives server_time 0");
	api_close(c);

	o.version = NULL;
	c = client(&o);
	ok(api_get(c, "/v1/customers/cus_1", NULL, &out, NULL, &ae) == 0, "no version: succeeds");
	json_decref(out);
	reqs = logged("/v1/customers/cus_1");
	ok(req_header(json_array_get(reqs, 0), "Stripe-Version") == NULL,
	   "no version: no Stripe-Version header");
	json_decref(reqs);
	api_close(c);
}

static void
test_post(void)
{
	struct api_opts o = opts();
	struct api_client *c = client(&o);
	struct api_params p = {0};
	struct api_error ae;
	json_t *out = NULL, *reqs;
	const json_t *r;
	size_t i;
	int same = 1;

	api_params_add(&p, "metadata[order_id]", "42");
	api_params_add(&p, "description", "Tom & Jerry = 100%");
	api_params_add(&p, "items[0][price]", "price_123");
	api_params_add(&p, "expand[]", "customer");
	ok(api_post(c, "/v1/retry", &p, "idem-7f3a", &out, &ae) == 0,
	   "POST: 500, 503, 429, 409 are retried until the 200");
	is_str(json_string_value(json_object_get(out, "id")), "cus_r", "POST: the final body");
	is_int(ae.attempts, 5, "POST: five attempts");
	is_int(api_stats(c)->requests, 5, "stats: five requests");
	is_int(api_stats(c)->retries, 4, "stats: four retries");
	is_int(api_stats(c)->errors, 0, "stats: no failed call");
	json_decref(out);

	reqs = logged("/v1/retry");
	is_int(json_array_size(reqs), 5, "POST: the server saw five requests");
	r = json_array_get(reqs, 0);
	is_str(json_string_value(json_object_get(r, "method")), "POST", "POST: method");
	is_str(json_string_value(json_object_get(r, "path")), "/v1/retry", "POST: no query string");
	is_str(req_header(r, "Content-Type"), "application/x-www-form-urlencoded",
	       "POST: form Content-Type");
	is_str(req_header(r, "Authorization"), "Bearer " KEY, "POST: Bearer auth");
	is_str(req_header(r, "Stripe-Version"), STRIPE_VERSION, "POST: Stripe-Version");
	is_str(json_string_value(json_object_get(r, "body")),
	       "metadata[order_id]=42&description=Tom%20%26%20Jerry%20%3D%20100%25"
	       "&items[0][price]=price_123&expand[]=customer", "POST: the form body");
	for (i = 0; i < json_array_size(reqs); i++) {
		const char *k = req_header(json_array_get(reqs, i), "Idempotency-Key");
		const char *b = json_string_value(json_object_get(json_array_get(reqs, i), "body"));

		if (k == NULL || strcmp(k, "idem-7f3a") != 0 || b == NULL ||
		    strcmp(b, json_string_value(json_object_get(r, "body"))) != 0)
			same = 0;
	}
	ok(same, "POST: every attempt carries the same Idempotency-Key and body");
	json_decref(reqs);
	api_params_free(&p);

	ok(api_post(c, "/v1/never", NULL, NULL, &out, &ae) != 0 &&
	   strcmp(ae.type, "invalid_request") == 0, "POST: an Idempotency-Key is required");
	ok(api_post(c, "/v1/never", NULL, "bad key\n", &out, &ae) != 0 &&
	   strcmp(ae.type, "invalid_request") == 0, "POST: a key with control characters is refused");
	ok(api_get(c, "v1/never", NULL, &out, NULL, &ae) != 0 &&
	   strcmp(ae.type, "invalid_request") == 0 && out == NULL, "GET: a path without / is refused");
	reqs = logged("/v1/never");
	is_int(json_array_size(reqs), 0, "refused calls send nothing");
	json_decref(reqs);
	is_int(api_stats(c)->errors, 3, "stats: refused calls count as failed");
	no_key(c, &ae, "refused call");
	api_close(c);
}

static void
test_errors(void)
{
	struct api_opts o = opts();
	struct api_client *c = client(&o);
	struct api_error ae;
	json_t *junk = json_object(), *out = junk, *reqs;
	char line[1024];

	ok(api_get(c, "/v1/e404", NULL, &out, NULL, &ae) != 0, "404: fails");
	ok(out == NULL, "404: *out is NULL");
	json_decref(junk);
	is_int(ae.status, 404, "404: status");
	is_str(ae.type, "invalid_request_error", "404: type");
	is_str(ae.code, "resource_missing", "404: code");
	is_str(ae.param, "id", "404: param");
	is_str(ae.message, "No such customer: 'cus_x'", "404: message, control characters removed");
	is_str(ae.request_id, "req_404", "404: request id");
	is_int(ae.attempts, 1, "404: not retried");
	api_error_format(&ae, line, sizeof line);
	is_str(line, "404 invalid_request_error [resource_missing]: No such customer: 'cus_x' "
	       "(param id; request req_404)", "404: formatted");
	no_key(c, &ae, "404");

	ok(api_get(c, "/v1/e400", NULL, NULL, NULL, &ae) != 0 && ae.status == 400 &&
	   ae.attempts == 1, "400: not retried");
	is_str(ae.param, "customer", "400: param");
	ok(api_get(c, "/v1/e401", NULL, NULL, NULL, &ae) != 0 && ae.status == 401 &&
	   ae.attempts == 1, "401: not retried");
	ok(strstr(ae.message, "Invalid API key provided: sk_test_...") != NULL,
	   "401: a key echoed by the server is masked (%s)", ae.message);
	no_key(c, &ae, "401 echoing the key");
	reqs = logged("/v1/e404");
	is_int(json_array_size(reqs), 1, "404: the server saw one request");
	json_decref(reqs);
	reqs = logged("/v1/e401");
	is_int(json_array_size(reqs), 1, "401: the server saw one request");
	json_decref(reqs);

	ok(api_get(c, "/v1/echo", NULL, NULL, NULL, &ae) != 0, "echo: fails");
	no_key(c, &ae, "key in code, param, message (across the truncation) and Request-Id");
	ok(api_get(c, "/v1/nomsg", NULL, NULL, NULL, &ae) != 0 && ae.status == 402 &&
	   strcmp(ae.type, "card_error") == 0 && strstr(ae.message, "/v1/nomsg") != NULL,
	   "an error without a message names the path (%s)", ae.message);
	is_int(api_stats(c)->errors, 5, "stats: five failed calls");
	api_close(c);
}

static void
test_faults(void)
{
	struct api_opts o = opts();
	struct api_client *c;
	struct api_error ae;
	json_t *out = NULL, *reqs;

	c = client(&o);
	ok(api_post(c, "/v1/drop", NULL, "idem-drop", &out, &ae) == 0,
	   "dropped connection: retried to success");
	is_str(json_string_value(json_object_get(out, "id")), "cus_d", "dropped: the final body");
	json_decref(out);
	reqs = logged("/v1/drop");
	is_int(json_array_size(reqs), 2, "dropped: two requests");
	is_int(ae.attempts, 2, "dropped: ae counts both");
	is_str(req_header(json_array_get(reqs, 1), "Idempotency-Key"), "idem-drop",
	       "dropped: the retry has the same Idempotency-Key");
	json_decref(reqs);
	api_close(c);

	c = client(&o);
	ok(api_post(c, "/v1/trunc", NULL, "idem-trunc", &out, &ae) == 0,
	   "truncated body: retried to success");
	is_str(json_string_value(json_object_get(out, "id")), "cus_t", "truncated: the final body");
	json_decref(out);
	reqs = logged("/v1/trunc");
	ok(json_array_size(reqs) == 2 &&
	   strcmp(req_header(json_array_get(reqs, 1), "Idempotency-Key"), "idem-trunc") == 0,
	   "truncated: two requests, the same Idempotency-Key");
	json_decref(reqs);
	api_close(c);

	c = client(&o);
	ok(api_get(c, "/v1/badjson", NULL, &out, NULL, &ae) == 0 && ae.attempts == 2,
	   "a 200 with a cut JSON body is retried");
	json_decref(out);
	api_close(c);
	o.max_retries = 0;
	c = client(&o);
	ok(api_get(c, "/v1/badjson0", NULL, &out, NULL, &ae) != 0 && out == NULL, "not JSON: fails");
	is_str(ae.type, "invalid_response", "not JSON: invalid_response");
	ok(strstr(ae.message, "GET /v1/badjson0") != NULL && strstr(ae.message, "byte ") != NULL,
	   "not JSON: names the path and the offset (%s)", ae.message);
	is_int(ae.status, 200, "not JSON: status kept");
	ok(api_get(c, "/v1/array", NULL, &out, NULL, &ae) != 0 &&
	   strcmp(ae.code, "not_an_object") == 0, "a JSON array is not a Stripe object");
	o.max_retries = 1;
	api_close(c);
	c = client(&o);
	ok(api_get(c, "/v1/html502", NULL, &out, NULL, &ae) != 0 && ae.status == 502 &&
	   ae.attempts == 2 && strcmp(ae.type, "invalid_response") == 0 &&
	   strstr(ae.message, "502 Bad Gateway") != NULL,
	   "an HTML 502 is retried, then reported with a snippet (%s)", ae.message);
	ok(api_get(c, "/v1/cut502", NULL, &out, NULL, &ae) != 0 && ae.status == 502,
	   "a body snippet cut inside the key: fails");
	no_key(c, &ae, "snippet cut inside the key");
	ok(api_get(c, "/v1/redir", NULL, &out, NULL, &ae) != 0 && ae.status == 302 &&
	   ae.attempts == 1 && strcmp(ae.code, "redirect") == 0 &&
	   strstr(ae.message, "elsewhere.example") != NULL, "a redirect is not followed nor retried");
	api_close(c);
	o.timeout_ms = 120000;          /* 64 MiB from python on a loaded machine */
	c = client(&o);
	ok(api_get(c, "/v1/huge", NULL, &out, NULL, &ae) != 0 &&
	   strcmp(ae.code, "response_too_large") == 0 && ae.attempts == 1,
	   "a body over 64 MiB is refused, not retried (%s)", ae.message);
	no_key(c, &ae, "too large");
	api_close(c);

	o = opts();
	o.timeout_ms = 300;
	o.max_retries = 0;
	c = client(&o);
	ok(api_get(c, "/v1/timeout", NULL, &out, NULL, &ae) != 0 && ae.status == 0 &&
	   strcmp(ae.type, "network") == 0 && strcmp(ae.code, "timeout") == 0,
	   "timeout_ms ends a slow request as a network timeout (%s)", ae.message);
	ok(api_error_transient(&ae), "timeout: transient");
	no_key(c, &ae, "timeout");
	api_close(c);

	o = opts();
	o.base = "http://127.0.0.1:1";
	o.max_retries = 1;
	c = client(&o);
	ok(api_get(c, "/v1/x", NULL, &out, NULL, &ae) != 0 && strcmp(ae.type, "network") == 0 &&
	   strcmp(ae.code, "connect") == 0 && ae.attempts == 2,
	   "connection refused: network/connect, retried (%s)", ae.message);
	no_key(c, &ae, "connect");
	api_close(c);
}

static void
test_retry_policy(void)
{
	struct api_opts o = opts();
	struct api_client *c = client(&o);
	struct api_error ae;
	json_t *out = NULL, *reqs;
	double gap;

	ok(api_get(c, "/v1/ssr_false", NULL, &out, NULL, &ae) != 0 && ae.status == 500 &&
	   ae.attempts == 1 && ae.should_retry == 0, "Stripe-Should-Retry: false stops a 500's retry");
	ok(!api_error_transient(&ae), "Stripe-Should-Retry: false: not transient");
	ok(api_get(c, "/v1/ssr_true", NULL, &out, NULL, &ae) == 0 && ae.attempts == 2,
	   "Stripe-Should-Retry: true retries a 400");
	json_decref(out);

	ok(api_post(c, "/v1/retry_after", NULL, "idem-ra", &out, &ae) == 0 && ae.attempts == 2,
	   "Retry-After: retried to success");
	json_decref(out);
	reqs = logged("/v1/retry_after");
	gap = json_array_size(reqs) == 2 ? req_t(json_array_get(reqs, 1)) -
	      req_t(json_array_get(reqs, 0)) : 0;
	ok(gap >= 0.95, "Retry-After: 1 is honoured over a 5-20 ms backoff (gap %.3f s)", gap);
	json_decref(reqs);
	api_close(c);

	o.max_retries = 2;
	c = client(&o);
	ok(api_get(c, "/v1/always500", NULL, &out, NULL, &ae) != 0 && ae.attempts == 3,
	   "max_retries 2: three attempts");
	reqs = logged("/v1/always500");
	is_int(json_array_size(reqs), 3, "max_retries 2: the server saw three");
	json_decref(reqs);
	is_int(api_stats(c)->errors, 1, "max_retries: one failed call");
	is_int(api_stats(c)->retries, 2, "max_retries: two retries");
	no_key(c, &ae, "max retries");
	api_close(c);
}

static void
test_rate(void)
{
	struct api_opts o = opts();
	struct api_client *c;
	struct api_error ae;
	json_t *reqs, *all;
	int i, worst = 0, rate = 25, fails = 0;
	size_t j, k, n;
	double span, mingap = 1e9;

	o.rate = rate;
	o.backoff_base_ms = 1;
	o.backoff_max_ms = 1;
	c = client(&o);
	for (i = 0; i < 22; i++)
		if (api_get(c, "/v1/rate", NULL, NULL, NULL, &ae) != 0)
			fails++;
	is_int(fails, 0, "rate: every call succeeds (503s retried)");
	reqs = logged("/v1/rate");
	n = json_array_size(reqs);
	ok(n > 22, "rate: retries happened (%zu requests for 22 calls)", n);
	is_int(api_stats(c)->requests, n, "rate: the client counted what the server saw");
	for (j = 0; j < n; j++) {
		int in = 0;

		/* The server stamps a request when its thread reads it; on a
		 * loaded machine a stamp can be late by a scheduling slice,
		 * which brings it closer to the next.  So windows of 0.9 s,
		 * and the whole run's average must keep to the rate. */
		for (k = j; k < n && req_t(json_array_get(reqs, k)) - req_t(json_array_get(reqs, j)) < 0.9;
		     k++)
			in++;
		if (in > worst)
			worst = in;
	}
	ok(worst <= rate, "rate %d/s: no 0.9-second window holds more (worst %d)", rate, worst);
	span = n > 1 ? req_t(json_array_get(reqs, n - 1)) - req_t(json_array_get(reqs, 0)) : 0;
	ok(span > 0 && (double)(n - 1) / span <= rate, "rate %d/s: the average keeps to it", rate);
	printf("# rate: %zu requests in %.3f s = %.2f/s (limit %d/s)\n", n, span,
	       span > 0 ? (double)(n - 1) / span : 0.0, rate);
	json_decref(reqs);
	api_close(c);

	/* curl re-sends a request by itself when a reused connection dies before
	 * any reply; the limiter must space that one too. */
	o.rate = 5;
	c = client(&o);
	ok(api_get(c, "/v1/keep", NULL, NULL, NULL, &ae) == 0, "re-send: first call");
	ok(api_get(c, "/v1/dropreuse", NULL, NULL, NULL, &ae) == 0,
	   "re-send: a connection dropped after reuse still succeeds");
	all = logged("/v1/keep");
	reqs = logged("/v1/dropreuse");
	json_array_extend(all, reqs);
	n = json_array_size(all);
	is_int(n, 3, "re-send: the server saw three requests");
	is_int(api_stats(c)->requests, n, "re-send: the client counted every one");
	is_int(ae.attempts, 2, "re-send: ae counts both");
	printf("# re-send: %s\n", api_stats(c)->retries == 0 ? "curl re-sent by itself" :
	       "the client retried (curl did not re-send)");
	for (j = 1; j < n; j++) {
		double g = req_t(json_array_get(all, j)) - req_t(json_array_get(all, j - 1));

		if (g < mingap)
			mingap = g;
	}
	/* 0.2 s at 5/s; an unspaced re-send would come at once.  (Stamping
	 * jitter as above.) */
	ok(mingap >= 0.1, "re-send: spaced by about 1/rate (smallest gap %.3f s)", mingap);
	json_decref(reqs);
	json_decref(all);
	api_close(c);
}

struct stopper {
	atomic_int *flag;
	int ms;
};

static void *
stop_later(void *arg)
{
	struct stopper *s = arg;
	struct timespec ts = {s->ms / 1000, (long)(s->ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
	atomic_store(s->flag, 1);
	return NULL;
}

static void
test_stop(void)
{
	static atomic_int flag;
	struct stopper s = {&flag, 200};
	struct api_opts o = opts();
	struct api_client *c;
	struct api_error ae;
	json_t *reqs;
	pthread_t th;
	double t0, took;

	o.stop = &flag;
	c = client(&o);
	atomic_store(&flag, 0);
	pthread_create(&th, NULL, stop_later, &s);
	t0 = now_s();
	ok(api_get(c, "/v1/stopwait", NULL, NULL, NULL, &ae) != 0, "stop: the call fails");
	took = now_s() - t0;
	pthread_join(th, NULL);
	is_str(ae.type, "stopped", "stop: type stopped");
	ok(took < 10, "stop: a 30 s Retry-After wait ends early (%.2f s)", took);
	ok(strstr(ae.message, "503") != NULL, "stop: the message keeps the last error (%s)",
	   ae.message);
	ok(!api_error_transient(&ae), "stop: not transient");
	reqs = logged("/v1/stopwait");
	is_int(json_array_size(reqs), 1, "stop: no retry was sent");
	json_decref(reqs);
	is_int(api_stats(c)->errors, 0, "stop: a stopped call is not counted as failed");
	no_key(c, &ae, "stopped");

	ok(api_get(c, "/v1/stopwait", NULL, NULL, NULL, &ae) != 0 &&
	   strcmp(ae.type, "stopped") == 0 && ae.attempts == 0, "stop: set before a call, nothing is sent");
	reqs = logged("/v1/stopwait");
	is_int(json_array_size(reqs), 1, "stop: the server saw nothing more");
	json_decref(reqs);
	api_close(c);

	/* Retry-After as an HTTP date, 30 s after the response's Date. */
	c = client(&o);
	atomic_store(&flag, 0);
	pthread_create(&th, NULL, stop_later, &s);
	t0 = now_s();
	ok(api_get(c, "/v1/stopdate", NULL, NULL, NULL, &ae) != 0 && strcmp(ae.type, "stopped") == 0,
	   "Retry-After date: the wait is stopped");
	took = now_s() - t0;
	pthread_join(th, NULL);
	reqs = logged("/v1/stopdate");
	ok(json_array_size(reqs) == 1 && took >= 0.15 && took < 10,
	   "Retry-After date: honoured, no early retry (%zu requests, %.2f s)",
	   json_array_size(reqs), took);
	json_decref(reqs);
	api_close(c);

	/* The rate limiter's wait. */
	o = opts();
	o.stop = &flag;
	o.rate = 0.1;
	o.max_retries = 0;
	c = client(&o);
	atomic_store(&flag, 0);
	ok(api_get(c, "/v1/stopwait", NULL, NULL, NULL, &ae) != 0 && ae.attempts == 1 &&
	   ae.status == 503, "stop: at 0.1/s the first request goes at once");
	pthread_create(&th, NULL, stop_later, &s);
	t0 = now_s();
	ok(api_get(c, "/v1/stopwait", NULL, NULL, NULL, &ae) != 0 &&
	   strcmp(ae.type, "stopped") == 0 && ae.attempts == 0,
	   "stop: ends the rate limiter's 10 s wait, nothing sent");
	took = now_s() - t0;
	pthread_join(th, NULL);
	ok(took < 5, "stop: the rate wait ended early (%.2f s)", took);
	api_close(c);

	/* A transfer in flight. */
	o = opts();
	o.stop = &flag;
	o.timeout_ms = 20000;
	c = client(&o);
	atomic_store(&flag, 0);
	pthread_create(&th, NULL, stop_later, &s);
	t0 = now_s();
	ok(api_get(c, "/v1/slow", NULL, NULL, NULL, &ae) != 0 && strcmp(ae.type, "stopped") == 0,
	   "stop: aborts a request in flight (%s)", ae.message);
	took = now_s() - t0;
	pthread_join(th, NULL);
	ok(took < 5, "stop: before the 6 s answer (%.2f s)", took);
	api_close(c);
}

int
main(void)
{
	static const char *const proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy",
	                                      "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
	size_t i;

	for (i = 0; i < sizeof proxies / sizeof proxies[0]; i++)
		unsetenv(proxies[i]);
	snprintf(dir, sizeof dir, "%s", t_dir());
	snprintf(script_path, sizeof script_path, "%s/script.json", dir);
	snprintf(log_path, sizeof log_path, "%s/requests.jsonl", dir);
	snprintf(port_path, sizeof port_path, "%s/port", dir);

	test_encode();
	test_open_errors();
	test_format();

	script();
	server_start();
	test_get_headers();
	test_post();
	test_errors();
	test_faults();
	test_retry_policy();
	test_rate();
	test_stop();
	server_stop();
	json_decref(routes);
	unlink(script_path);
	unlink(log_path);
	unlink(port_path);
	rmdir(dir);
	return t_done();
}
