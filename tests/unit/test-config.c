/*
 * test-config: the configuration layers.  Parsing of every key and value
 * form; every error, with the file:line and key it names; the precedence of
 * the environment over the file; the permission checks on files that hold
 * the Stripe key; and that no secret ever reaches a message or the display.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "t.h"
#include "util.h"

static const char *dir;

static const char *const env_vars[] = {
	"TALLY_CONFIG", "TALLY_DB", "TALLY_CATALOG", "TALLY_OPERATOR", "STRIPE_API_KEY",
	"STRIPE_API_KEY_FILE", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE",
};

static void
env_clear(void)
{
	size_t i;

	for (i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
		unsetenv(env_vars[i]);
	setenv("HOME", dir, 1);
	setenv("USER", "alice", 1);
}

/* Write a file under dir with the given mode; the path goes into path. */
static const char *
write_file(const char *name, const char *text, mode_t mode, char *path, size_t pathsz)
{
	FILE *f;

	snprintf(path, pathsz, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(99);
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

/* config_load on a struct set up by config_init, as main() does. */
static int
load(struct config *c, const char *path, struct err *e)
{
	config_init(c);
	err_clear(e);
	return config_load(c, path, e);
}

static int
parse(struct config *c, const char *text, struct err *e)
{
	config_init(c);
	err_clear(e);
	return config_parse(c, text, strlen(text), "t.conf", e);
}

/* Parse text, expect failure with exactly msg. */
static void
parse_fails(const char *text, const char *msg, const char *name)
{
	struct config c;
	struct err e;

	if (ok(parse(&c, text, &e) == -1, "%s: refused", name))
		is_str(e.msg, msg, "%s: message", name);
	config_done(&c);
}

/* Parse text, expect failure, and that secret is not in the message. */
static void
parse_fails_quietly(const char *text, const char *secret, const char *name)
{
	struct config c;
	struct err e;

	ok(parse(&c, text, &e) == -1, "%s: refused", name);
	if (!ok(strstr(e.msg, secret) == NULL && strncmp(e.msg, "t.conf:", 7) == 0,
	        "%s: message names the line, not the secret", name))
		printf("# %s\n", e.msg);
	config_done(&c);
}

static void
test_defaults(void)
{
	struct config c;
	char want[512];

	env_clear();
	config_init(&c);
	snprintf(want, sizeof want, "%s/.local/share/tally/mirror.db", dir);
	is_str(c.db_path, want, "default db under HOME");
	is_str(c.catalog_path, NULL, "no catalog by default");
	is_int(c.webhook_logs.n + c.usage_logs.n + c.webhook_secrets.n, 0, "no lists by default");
	is_str(c.api_key, NULL, "no key by default");
	is_str(c.api_base, "https://api.stripe.com", "default api_base");
	is_str(c.stripe_version, "2026-07-29.dahlia", "default stripe_version");
	is_str(c.operator_name, "alice", "operator from USER");
	is_int(c.read_only, 0, "read-write by default");
	is_int(c.webhook_tolerance, 300, "default tolerance");
	is_int(c.max_value_bytes, 4 << 20, "default value cap");
	is_int(c.stale_after, 900, "default stale_after");
	is_int(c.sync_interval, 60, "default sync_interval");
	is_int(c.reconcile_interval, 21600, "default reconcile_interval");
	ok(c.rate_limit == 20, "default rate_limit");
	is_int(c.adjust_cap, 100000, "default adjust_cap");
	is_str(c.webhook_endpoint_url, NULL, "no replay endpoint by default");
	is_str(c.webhook_endpoint_id, NULL, "no webhook endpoint id by default");
	ok(c.replay_rate == 2, "default replay_rate");
	is_str(c.source, NULL, "no source");
	is_int(config_is_live(&c), 0, "no key is not live");
	config_done(&c);
	config_done(&c);
	ok(1, "config_done twice is harmless");

	unsetenv("HOME");
	unsetenv("USER");
	config_init(&c);
	is_str(c.db_path, "./tally.db", "db without HOME");
	is_str(c.operator_name, "unknown", "operator without USER");
	config_done(&c);
	setenv("HOME", "", 1);
	config_init(&c);
	is_str(c.db_path, "./tally.db", "empty HOME counts as unset");
	config_done(&c);
	env_clear();
}

static void
test_parse_good(void)
{
	static const char text[] =
		"\xef\xbb\xbf# tally configuration\n"
		"\n"
		"db = /var/lib/tally/mirror.db\n"
		"  catalog=~/catalog.json   # the plans\n"
		"webhook_log = /logs/webhooks.jsonl\n"
		"webhook_log = /logs/webhooks.1.jsonl\r\n"
		"usage_log = /logs/usage#1.jsonl\n"
		"\t# an indented comment\n"
		"webhook_secret = whsec_old\n"
		"webhook_secret = whsec_new\n"
		"api_base = http://127.0.0.1:12111/\n"
		"stripe_version = 2025-01-01.acacia\n"
		"operator = Bob Smith\n"
		"read_only = Yes\n"
		"webhook_tolerance = 0\n"
		"max_value_size = 512k\n"
		"stale_after = 15m\n"
		"sync_interval = 90\n"
		"reconcile_interval = 1d\n"
		"rate_limit = 2.5\n"
		"adjust_cap = 0\n"
		"webhook_endpoint_url = https://app.example.com/hooks/stripe/\n"
		"webhook_endpoint_id = we_123\n"
		"replay_rate = 0.5\n";
	struct config c;
	struct err e;
	char want[512];

	env_clear();
	if (!ok(parse(&c, text, &e) == 0, "full file parses"))
		printf("# %s\n", e.msg);
	is_str(c.db_path, "/var/lib/tally/mirror.db", "db");
	snprintf(want, sizeof want, "%s/catalog.json", dir);
	is_str(c.catalog_path, want, "catalog: ~ expanded, comment dropped");
	is_int(c.webhook_logs.n, 2, "webhook_log repeats");
	is_str(c.webhook_logs.n > 1 ? c.webhook_logs.v[1] : NULL, "/logs/webhooks.1.jsonl",
	       "CRLF line ending dropped");
	is_int(c.usage_logs.n, 1, "one usage_log");
	is_str(c.usage_logs.n > 0 ? c.usage_logs.v[0] : NULL, "/logs/usage#1.jsonl",
	       "'#' inside a value is kept");
	is_int(c.webhook_secrets.n, 2, "two webhook secrets");
	is_str(c.webhook_secrets.n > 1 ? c.webhook_secrets.v[1] : NULL, "whsec_new", "second secret");
	is_str(c.api_base, "http://127.0.0.1:12111", "api_base, trailing '/' dropped");
	is_str(c.stripe_version, "2025-01-01.acacia", "stripe_version");
	is_str(c.operator_name, "Bob Smith", "operator with a space");
	is_int(c.read_only, 1, "read_only Yes");
	is_int(c.webhook_tolerance, 0, "tolerance 0 disables");
	is_int(c.max_value_bytes, 512 * 1024, "512k");
	is_int(c.stale_after, 900, "15m");
	is_int(c.sync_interval, 90, "bare seconds");
	is_int(c.reconcile_interval, 86400, "1d");
	ok(c.rate_limit == 2.5, "rate 2.5");
	is_int(c.adjust_cap, 0, "adjust_cap 0");
	is_str(c.webhook_endpoint_url, "https://app.example.com/hooks/stripe", "webhook_endpoint_url");
	is_str(c.webhook_endpoint_id, "we_123", "webhook_endpoint_id");
	ok(c.replay_rate == 0.5, "replay_rate 0.5");
	config_done(&c);

	/* Every spelling of the forms. */
	{
		static const struct {
			const char *text;
			int64_t want;
			size_t off;
		} forms[] = {
			{"read_only = true", 1, offsetof(struct config, read_only)},
			{"read_only = on", 1, offsetof(struct config, read_only)},
			{"read_only = 1", 1, offsetof(struct config, read_only)},
			{"read_only = false", 0, offsetof(struct config, read_only)},
			{"read_only = NO", 0, offsetof(struct config, read_only)},
			{"read_only = 0", 0, offsetof(struct config, read_only)},
			{"stale_after = 30s", 30, offsetof(struct config, stale_after)},
			{"stale_after = 2h", 7200, offsetof(struct config, stale_after)},
			{"sync_interval = 1", 1, offsetof(struct config, sync_interval)},
			{"webhook_tolerance = 5m", 300, offsetof(struct config, webhook_tolerance)},
			{"max_value_size = 4M", 4 << 20, offsetof(struct config, max_value_bytes)},
			{"max_value_size = 2K", 2048, offsetof(struct config, max_value_bytes)},
			{"max_value_size = 1G", 1 << 30, offsetof(struct config, max_value_bytes)},
			{"max_value_size = 100", 100, offsetof(struct config, max_value_bytes)},
			{"adjust_cap = 250000", 250000, offsetof(struct config, adjust_cap)},
		};
		size_t i;

		for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
			int64_t got;

			if (!ok(parse(&c, forms[i].text, &e) == 0, "'%s' parses", forms[i].text))
				printf("# %s\n", e.msg);
			if (forms[i].off == offsetof(struct config, read_only))
				got = c.read_only;
			else
				memcpy(&got, (char *)&c + forms[i].off, sizeof got);
			is_int(got, forms[i].want, "'%s' value", forms[i].text);
			config_done(&c);
		}
	}
	ok(parse(&c, "rate_limit = 100", &e) == 0 && c.rate_limit == 100, "rate 100");
	config_done(&c);
	ok(parse(&c, "rate_limit = 0.5", &e) == 0 && c.rate_limit == 0.5, "rate 0.5");
	config_done(&c);
	ok(parse(&c, "", &e) == 0, "empty text");
	config_done(&c);
	ok(parse(&c, "# only a comment", &e) == 0, "comment without newline");
	config_done(&c);
	ok(parse(&c, "stripe_api_key = rk_live_abc", &e) == 0 && config_is_live(&c),
	   "rk_live_ is live");
	config_done(&c);
	ok(parse(&c, "stripe_api_key = sk_live_abc", &e) == 0 && config_is_live(&c),
	   "sk_live_ is live");
	config_done(&c);
	ok(parse(&c, "stripe_api_key = sk_test_abc", &e) == 0 && !config_is_live(&c),
	   "sk_test_ is not live");
	config_done(&c);
}

static void
test_parse_errors(void)
{
	env_clear();
	parse_fails("db = /x\nfoo = 1\n", "t.conf:2: unknown key 'foo'", "unknown key");
	parse_fails("Stale-After = 1m", "t.conf:1: unknown key 'Stale-After' (did you mean 'stale_after'?)",
	            "near miss");
	parse_fails("api_key = sk_test_x",
	            "t.conf:1: unknown key 'api_key' (did you mean 'stripe_api_key'?)", "suffix miss");
	parse_fails("\n\nstale_after = abc\n",
	            "t.conf:3: stale_after: expected a duration like 15m, got 'abc'", "bad duration");
	parse_fails("stale_after = 15 m",
	            "t.conf:1: stale_after: expected a duration like 15m, got '15 m'", "unit after space");
	parse_fails("stale_after = -5",
	            "t.conf:1: stale_after: expected a duration like 15m, got '-5'", "negative duration");
	parse_fails("stale_after = 15mm",
	            "t.conf:1: stale_after: expected a duration like 15m, got '15mm'", "two units");
	parse_fails("sync_interval = 0", "t.conf:1: sync_interval: must be at least 1s, got '0'",
	            "zero interval");
	parse_fails("reconcile_interval = 99999999999999999999d",
	            "t.conf:1: reconcile_interval: duration too large, got '99999999999999999999d'",
	            "duration overflow");
	parse_fails("reconcile_interval = 999999999999999999d",
	            "t.conf:1: reconcile_interval: duration too large, got '999999999999999999d'",
	            "duration overflow by unit");
	parse_fails("webhook_tolerance = 5 minutes",
	            "t.conf:1: webhook_tolerance: expected a duration like 15m, got '5 minutes'",
	            "tolerance words");
	parse_fails("read_only = maybe",
	            "t.conf:1: read_only: expected true or false (or yes/no, 1/0), got 'maybe'", "bad bool");
	parse_fails("max_value_size = 4X",
	            "t.conf:1: max_value_size: expected a size like 4M or 512k, got '4X'", "bad size");
	parse_fails("max_value_size = 2G",
	            "t.conf:1: max_value_size: expected a size from 1 byte to 1G, got '2G'", "size too big");
	parse_fails("max_value_size = 0",
	            "t.conf:1: max_value_size: expected a size from 1 byte to 1G, got '0'", "size zero");
	parse_fails("rate_limit = 0",
	            "t.conf:1: rate_limit: expected a positive number of requests per second like 20 "
	            "or 2.5, got '0'", "rate zero");
	parse_fails("rate_limit = -1",
	            "t.conf:1: rate_limit: expected a positive number of requests per second like 20 "
	            "or 2.5, got '-1'", "rate negative");
	parse_fails("rate_limit = 2,5",
	            "t.conf:1: rate_limit: expected a positive number of requests per second like 20 "
	            "or 2.5, got '2,5'", "rate with comma");
	parse_fails("rate_limit = 5.",
	            "t.conf:1: rate_limit: expected a positive number of requests per second like 20 "
	            "or 2.5, got '5.'", "rate trailing dot");
	parse_fails("adjust_cap = -1", "t.conf:1: adjust_cap: expected a whole number like 100000, got '-1'",
	            "negative cap");
	parse_fails("adjust_cap = 1e6", "t.conf:1: adjust_cap: expected a whole number like 100000, got '1e6'",
	            "cap in float notation");
	parse_fails("api_base = ftp://x", "t.conf:1: api_base: expected a URL like https://api.stripe.com, "
	            "got 'ftp://x'", "bad url scheme");
	parse_fails("api_base = https://", "t.conf:1: api_base: expected a URL like https://api.stripe.com, "
	            "got 'https://'", "url without host");
	parse_fails("stripe_version = 2025 01", "t.conf:1: stripe_version: expected one word, got '2025 01'",
	            "version with a space");
	parse_fails("db =", "t.conf:1: db: empty value", "empty value");
	parse_fails("db = /a\ndb = /b", "t.conf:2: db: already set on line 1; keep one", "duplicate key");
	parse_fails("= 5", "t.conf:1: expected 'key = value' (the key is missing)", "no key");
	parse_fails("db /x", "t.conf:1: expected 'key = value' (there is no '=' on this line)", "no '='");
	parse_fails("db = /x\x1b[2J", "t.conf:1: contains a control character (byte 0x1b)",
	            "control character");
	{
		static const char nul[] = "db = /x\0y\n";
		struct config c;
		struct err e;

		config_init(&c);
		ok(config_parse(&c, nul, sizeof nul - 1, "t.conf", &e) == -1, "NUL byte refused");
		is_str(e.msg, "t.conf:1: contains a control character (byte 0x00)", "NUL byte message");
		config_done(&c);
	}
	{
		char big[200];

		memset(big, 'k', sizeof big);
		memcpy(big + sizeof big - 5, " = 1", 5);
		parse_fails(big, "t.conf:1: unknown key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...'",
		            "long key cut short");
	}
	parse_fails("stripe_api_key = sk_test_a\nstripe_api_key_file = /k",
	            "t.conf:2: stripe_api_key_file: stripe_api_key is already set on line 1; keep one",
	            "key and key file");
	unsetenv("HOME");
	parse_fails("catalog = ~/x\n",
	            "t.conf:1: catalog: '~/x' starts with ~ but HOME is not set; give the full path",
	            "~ without HOME");
	env_clear();
}

static void
test_secrets_quiet(void)
{
	env_clear();
	parse_fails_quietly("stripe_api_key = pk_live_SECRETSECRET", "SECRETSECRET", "publishable key");
	parse_fails_quietly("stripe_api_key = sk_live_SECRET SECRET", "SECRET", "key with a space");
	parse_fails_quietly("stripe_api_key = whsec_SECRETSECRET", "SECRETSECRET", "whsec as key");
	parse_fails_quietly("webhook_secret = sk_live_SECRETSECRET", "SECRETSECRET", "key as whsec");
	parse_fails_quietly("webhook_secret = whsec_SECRET SECRET", "SECRET", "whsec with a space");
	parse_fails_quietly("api_key = sk_live_SECRETSECRET", "SECRETSECRET", "unknown key's value");
	parse_fails_quietly("sk_live_SECRETSECRET", "SECRETSECRET", "a bare secret line");
	parse_fails_quietly("stripe_api_key = sk_live_SECRET\x07SECRET", "SECRET", "control in a key");
	parse_fails_quietly("stripe_api_key = sk_live_SECRETSECRET\nstripe_api_key = sk_live_OTHERSECRET",
	                    "SECRET", "duplicate key");
	{
		struct config c;
		struct err e;

		ok(parse(&c, "stripe_api_key = sk_live_SECRETSECRET9f2a\n"
		       "webhook_secret = whsec_WHSECRETWHSECRET1234\n"
		       "stale_after = 1d\nmax_value_size = 1M\n", &e) == 0, "secrets parse");
		{
			struct buf b;

			buf_init(&b, 0);
			config_describe(&c, &b);
			ok(b.data != NULL && strstr(b.data, "SECRETSECRET") == NULL &&
			   strstr(b.data, "WHSECRET") == NULL, "describe masks secrets");
			ok(b.data != NULL && strstr(b.data, "stripe_api_key = sk_live_...9f2a\n") != NULL,
			   "describe shows the masked key");
			ok(b.data != NULL && strstr(b.data, "webhook_secret = whsec_...1234\n") != NULL,
			   "describe shows the masked webhook secret");
			ok(b.data != NULL && strstr(b.data, "stale_after = 1d\n") != NULL &&
			   strstr(b.data, "max_value_size = 1M\n") != NULL &&
			   strstr(b.data, "rate_limit = 20\n") != NULL &&
			   strstr(b.data, "read_only = false\n") != NULL,
			   "describe shows the values in the file's form");
			buf_done(&b);
		}
		config_done(&c);
	}
}

static void
test_load(void)
{
	char path[512], keypath[512], want[1024], confdir[512];
	struct config c;
	struct err e;
	int rc;

	env_clear();

	/* No file anywhere: defaults.  A zeroed struct is fine too. */
	memset(&c, 0, sizeof c);
	rc = config_load(&c, NULL, &e);
	if (!ok(rc == 0, "missing default file is fine"))
		printf("# %s\n", e.msg);
	is_str(c.source, NULL, "no source");
	config_done(&c);

	/* A named file that is missing. */
	snprintf(path, sizeof path, "%s/nope.conf", dir);
	ok(load(&c, path, &e) == -1, "missing named file is an error");
	snprintf(want, sizeof want, "%s: cannot open the configuration file: No such file or directory",
	         path);
	is_str(e.msg, want, "missing file message names it");
	config_done(&c);
	setenv("TALLY_CONFIG", path, 1);
	ok(load(&c, NULL, &e) == -1, "missing TALLY_CONFIG file is an error");
	is_str(e.msg, want, "TALLY_CONFIG message names it");
	config_done(&c);
	ok(load(&c, dir, &e) == -1, "a directory is an error");
	config_done(&c);
	unsetenv("TALLY_CONFIG");

	/* The default file. */
	snprintf(confdir, sizeof confdir, "%s/.config", dir);
	mkdir(confdir, 0700);
	snprintf(confdir, sizeof confdir, "%s/.config/tally", dir);
	mkdir(confdir, 0700);
	write_file(".config/tally/config", "db = /from/default\n", 0644, path, sizeof path);
	ok(load(&c, NULL, &e) == 0, "default file read");
	is_str(c.db_path, "/from/default", "value from the default file");
	is_str(c.source, path, "source is the default file");
	config_done(&c);

	/* TALLY_CONFIG beats the default; --config beats TALLY_CONFIG. */
	write_file("env.conf", "db = /from/env-config\n", 0644, path, sizeof path);
	setenv("TALLY_CONFIG", path, 1);
	ok(load(&c, NULL, &e) == 0 && strcmp(c.db_path, "/from/env-config") == 0,
	   "TALLY_CONFIG beats the default file");
	config_done(&c);
	write_file("flag.conf", "db = /from/flag\n", 0644, path, sizeof path);
	ok(load(&c, path, &e) == 0 && strcmp(c.db_path, "/from/flag") == 0,
	   "a named file beats TALLY_CONFIG");
	config_done(&c);
	unsetenv("TALLY_CONFIG");

	/* A parse error in a file names the file and line, and leaves defaults. */
	write_file("bad.conf", "db = /x\n\nstale_after = abc\n", 0600, path, sizeof path);
	ok(load(&c, path, &e) == -1, "bad file refused");
	snprintf(want, sizeof want, "%s:3: stale_after: expected a duration like 15m, got 'abc'", path);
	is_str(e.msg, want, "bad file message");
	snprintf(want, sizeof want, "%s/.local/share/tally/mirror.db", dir);
	is_str(c.db_path, want, "defaults after a failed load");
	config_done(&c);

	/* A file holding the key must be private. */
	write_file("key.conf", "# key\nstripe_api_key = sk_test_SECRETSECRET\n", 0644, path, sizeof path);
	ok(load(&c, path, &e) == -1, "key in a 0644 file refused");
	snprintf(want, sizeof want, "%s: holds stripe_api_key (line 2) but can be read by group or "
	         "others (mode 0644); run: chmod 600 %s (or move the key to stripe_api_key_file)",
	         path, path);
	is_str(e.msg, want, "permission message names the file and the fix");
	ok(strstr(e.msg, "SECRETSECRET") == NULL, "and not the key");
	is_str(c.api_key, NULL, "no key after the refusal");
	config_done(&c);
	chmod(path, 0640);
	ok(load(&c, path, &e) == -1, "key in a 0640 file refused");
	config_done(&c);
	chmod(path, 0600);
	ok(load(&c, path, &e) == 0, "key in a 0600 file accepted");
	is_str(c.api_key, "sk_test_SECRETSECRET", "key from the file");
	config_done(&c);
	chmod(path, 0400);
	ok(load(&c, path, &e) == 0, "key in a 0400 file accepted");
	config_done(&c);
	write_file("nokey.conf", "webhook_log = /l\n", 0644, path, sizeof path);
	ok(load(&c, path, &e) == 0, "a 0644 file without the key is fine");
	config_done(&c);

	/* stripe_api_key_file. */
	write_file("key", "\n  sk_test_FROMFILE  \n", 0644, keypath, sizeof keypath);
	snprintf(want, sizeof want, "stripe_api_key_file = %s\n", keypath);
	write_file("keyfile.conf", want, 0644, path, sizeof path);
	ok(load(&c, path, &e) == -1, "0644 key file refused");
	snprintf(want, sizeof want, "%s:1: stripe_api_key_file: %s: the key file can be read by group "
	         "or others (mode 0644); run: chmod 600 %s", path, keypath, keypath);
	is_str(e.msg, want, "key file permission message");
	config_done(&c);
	chmod(keypath, 0600);
	ok(load(&c, path, &e) == 0, "0600 key file accepted");
	is_str(c.api_key, "sk_test_FROMFILE", "key read and trimmed");
	config_done(&c);

	/* The environment beats the file. */
	snprintf(want, sizeof want,
	         "db = /file/db\ncatalog = /file/cat\noperator = fileop\n"
	         "stripe_api_key = sk_test_FILEKEY\nwebhook_secret = whsec_file\n"
	         "api_base = https://file.example\n");
	write_file("full.conf", want, 0600, path, sizeof path);
	setenv("TALLY_DB", "/env/db", 1);
	setenv("TALLY_CATALOG", "/env/cat", 1);
	setenv("TALLY_OPERATOR", "envop", 1);
	setenv("STRIPE_API_KEY", "sk_live_ENVKEY", 1);
	setenv("STRIPE_WEBHOOK_SECRET", " whsec_a , whsec_b,,", 1);
	setenv("STRIPE_API_BASE", "http://127.0.0.1:12111/", 1);
	rc = load(&c, path, &e);
	if (!ok(rc == 0, "file plus environment"))
		printf("# %s\n", e.msg);
	is_str(c.db_path, "/env/db", "TALLY_DB wins");
	is_str(c.catalog_path, "/env/cat", "TALLY_CATALOG wins");
	is_str(c.operator_name, "envop", "TALLY_OPERATOR wins");
	is_str(c.api_key, "sk_live_ENVKEY", "STRIPE_API_KEY wins");
	is_int(config_is_live(&c), 1, "live key");
	is_int(c.webhook_secrets.n, 2, "STRIPE_WEBHOOK_SECRET replaces the file's list");
	is_str(c.webhook_secrets.n > 0 ? c.webhook_secrets.v[0] : NULL, "whsec_a", "first, trimmed");
	is_str(c.webhook_secrets.n > 1 ? c.webhook_secrets.v[1] : NULL, "whsec_b", "second, trimmed");
	is_str(c.api_base, "http://127.0.0.1:12111", "STRIPE_API_BASE wins");
	is_str(c.source, path, "source still the file");
	config_done(&c);

	/* Empty variables count as unset. */
	env_clear();
	setenv("TALLY_DB", "", 1);
	setenv("STRIPE_API_KEY", "", 1);
	setenv("STRIPE_WEBHOOK_SECRET", "", 1);
	ok(load(&c, path, &e) == 0 && strcmp(c.db_path, "/file/db") == 0 &&
	   strcmp(c.api_key, "sk_test_FILEKEY") == 0 && c.webhook_secrets.n == 1,
	   "empty variables are ignored");
	config_done(&c);

	/* STRIPE_API_KEY_FILE. */
	env_clear();
	write_file("envkey", "sk_test_ENVFILEKEY\n", 0644, keypath, sizeof keypath);
	setenv("STRIPE_API_KEY_FILE", keypath, 1);
	ok(load(&c, NULL, &e) == -1, "0644 STRIPE_API_KEY_FILE refused");
	snprintf(want, sizeof want, "STRIPE_API_KEY_FILE: %s: the key file can be read by group or "
	         "others (mode 0644); run: chmod 600 %s", keypath, keypath);
	is_str(e.msg, want, "STRIPE_API_KEY_FILE permission message");
	ok(strstr(e.msg, "ENVFILEKEY") == NULL, "and not the key");
	config_done(&c);
	chmod(keypath, 0600);
	ok(load(&c, NULL, &e) == 0, "0600 STRIPE_API_KEY_FILE accepted");
	is_str(c.api_key, "sk_test_ENVFILEKEY", "key from STRIPE_API_KEY_FILE");
	config_done(&c);
	ok(load(&c, path, &e) == 0 && strcmp(c.api_key, "sk_test_ENVFILEKEY") == 0,
	   "STRIPE_API_KEY_FILE beats the file's key");
	config_done(&c);
	setenv("STRIPE_API_KEY", "sk_test_x", 1);
	ok(load(&c, NULL, &e) == -1, "both STRIPE_API_KEY and _FILE refused");
	is_str(e.msg, "STRIPE_API_KEY and STRIPE_API_KEY_FILE are both set; unset one", "both message");
	config_done(&c);
	unsetenv("STRIPE_API_KEY");
	write_file("pkkey", "pk_live_PUBLISHABLE\n", 0600, keypath, sizeof keypath);
	setenv("STRIPE_API_KEY_FILE", keypath, 1);
	ok(load(&c, NULL, &e) == -1 && strstr(e.msg, "PUBLISHABLE") == NULL &&
	   strstr(e.msg, "publishable key") != NULL, "publishable key in a key file refused quietly");
	config_done(&c);
	write_file("emptykey", " \n", 0600, keypath, sizeof keypath);
	setenv("STRIPE_API_KEY_FILE", keypath, 1);
	ok(load(&c, NULL, &e) == -1, "empty key file refused");
	snprintf(want, sizeof want, "STRIPE_API_KEY_FILE: %s: the key file is empty", keypath);
	is_str(e.msg, want, "empty key file message");
	config_done(&c);
	write_file("twokeys", "sk_test_ONE\nsk_test_TWO\n", 0600, keypath, sizeof keypath);
	setenv("STRIPE_API_KEY_FILE", keypath, 1);
	ok(load(&c, NULL, &e) == -1 && strstr(e.msg, "ONE") == NULL &&
	   strstr(e.msg, "TWO") == NULL && strstr(e.msg, "white space") != NULL,
	   "two keys in a key file refused quietly");
	config_done(&c);
	snprintf(keypath, sizeof keypath, "%s/missing-key", dir);
	setenv("STRIPE_API_KEY_FILE", keypath, 1);
	ok(load(&c, NULL, &e) == -1, "missing key file refused");
	snprintf(want, sizeof want, "STRIPE_API_KEY_FILE: %s: cannot open the key file: "
	         "No such file or directory", keypath);
	is_str(e.msg, want, "missing key file message");
	config_done(&c);

	/* Other bad variables. */
	env_clear();
	setenv("STRIPE_API_KEY", "pk_test_PUBPUBPUB", 1);
	ok(load(&c, NULL, &e) == -1 && strncmp(e.msg, "STRIPE_API_KEY: ", 16) == 0 &&
	   strstr(e.msg, "PUBPUBPUB") == NULL, "publishable STRIPE_API_KEY refused quietly");
	config_done(&c);
	env_clear();
	setenv("STRIPE_WEBHOOK_SECRET", " , ", 1);
	ok(load(&c, NULL, &e) == -1, "STRIPE_WEBHOOK_SECRET without a secret refused");
	is_str(e.msg, "STRIPE_WEBHOOK_SECRET: set but holds no secret (give one or more whsec_..., "
	       "separated by commas)", "no-secret message");
	config_done(&c);
	setenv("STRIPE_WEBHOOK_SECRET", "whsec_ok,sk_live_WRONGWRONG", 1);
	ok(load(&c, NULL, &e) == -1, "API key in STRIPE_WEBHOOK_SECRET refused");
	is_str(e.msg, "STRIPE_WEBHOOK_SECRET: secret 2: that is an API key, not a webhook signing "
	       "secret (whsec_...)", "names which secret, not its value");
	config_done(&c);
	env_clear();
	setenv("STRIPE_API_BASE", "localhost:12111", 1);
	ok(load(&c, NULL, &e) == -1, "bad STRIPE_API_BASE refused");
	is_str(e.msg, "STRIPE_API_BASE: expected a URL like https://api.stripe.com, got "
	       "'localhost:12111'", "STRIPE_API_BASE message");
	config_done(&c);
	env_clear();
	setenv("TALLY_DB", "~/mirror.db", 1);
	snprintf(want, sizeof want, "%s/mirror.db", dir);
	ok(load(&c, NULL, &e) == 0 && strcmp(c.db_path, want) == 0, "TALLY_DB ~ expanded");
	config_done(&c);
	env_clear();
}

int
main(void)
{
	dir = t_dir();
	test_defaults();
	test_parse_good();
	test_parse_errors();
	test_secrets_quiet();
	test_load();
	return t_done();
}
