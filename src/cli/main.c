/*
 * main: tally's command line.  Parses the global flags, loads the
 * configuration (file, then environment, then flags), opens what the
 * subcommand's table entry says it needs, and runs it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "util.h"

static const struct cmd_entry *const cmd_table[] = {
	&cmd_ingest_entry,
	&cmd_sync_entry,
	&cmd_status_entry,
	&cmd_customers_entry,
	&cmd_customer_entry,
	&cmd_ledger_entry,
	&cmd_balance_entry,
	&cmd_access_entry,
	&cmd_events_entry,
	&cmd_deliveries_entry,
	&cmd_quarantine_entry,
	&cmd_drift_entry,
	&cmd_alerts_entry,
	&cmd_ack_entry,
	&cmd_repair_entry,
	&cmd_adjust_entry,
	&cmd_reverse_entry,
	&cmd_resync_entry,
	&cmd_replay_entry,
	&cmd_audit_entry,
	&cmd_console_entry,
	&cmd_demo_entry,
	NULL
};

static const char *current_cmd = NULL;

int
cmd_fail(const struct cmd_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tally%s%s: ", current_cmd ? " " : "", current_cmd ? current_cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static const struct cmd_entry *
cmd_find(const char *name)
{
	int i;

	for (i = 0; cmd_table[i] != NULL; i++)
		if (strcmp(cmd_table[i]->name, name) == 0)
			return cmd_table[i];
	return NULL;
}

int
cmd_usage(const struct cmd_ctx *c, const char *fmt, ...)
{
	const struct cmd_entry *ce = current_cmd ? cmd_find(current_cmd) : NULL;
	va_list ap;

	fprintf(stderr, "tally%s%s: ", current_cmd ? " " : "", current_cmd ? current_cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (ce != NULL)
		fprintf(stderr, "usage: tally %s%s%s\n", ce->name, ce->args[0] ? " " : "", ce->args);
	return EXIT_USAGE;
}

static void
usage(FILE *f)
{
	int i;

	fprintf(f,
	    "usage: tally [--db PATH] [--config PATH] [--catalog PATH] [--read-only] [--json]\n"
	    "             COMMAND [ARGS]\n"
	    "\n"
	    "tally keeps a local mirror of Stripe billing state (customers, subscriptions,\n"
	    "invoices, an append-only credit ledger, webhook deliveries) and answers who has\n"
	    "access and why.\n"
	    "\n"
	    "commands:\n");
	/* Name and arguments on one line, the summary under them: the
	 * arguments vary too much in length for columns. */
	for (i = 0; cmd_table[i] != NULL; i++)
		fprintf(f, "  %s%s%s\n      %s\n", cmd_table[i]->name, cmd_table[i]->args[0] ? " " : "",
		    cmd_table[i]->args, cmd_table[i]->summary);
	fprintf(f,
	    "  help [COMMAND]\n"
	    "      this text, or one command's usage\n"
	    "\n"
	    "Every read takes --json.  Exit codes: 0 ok, 1 no/deny/not found, 2 usage or input\n"
	    "error, 3 runtime failure.  See tally(1) and tally.conf(5).\n");
}

/* Whether path is the built-in default mirror (~/.local/share/tally/mirror.db),
 * whose directories a writing command creates. */
static int
is_default_db(const char *path)
{
	struct config d;
	int same;

	config_init(&d);
	same = strcmp(path, d.db_path) == 0;
	config_done(&d);
	return same;
}

/* Take "--flag VALUE" or "--flag=VALUE" at argv[*i]; returns the value or NULL. */
static const char *
flag_value(int argc, char **argv, int *i, const char *flag)
{
	size_t n = strlen(flag);

	if (strncmp(argv[*i], flag, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		fprintf(stderr, "tally: %s needs a value\n", flag);
		exit(EXIT_USAGE);
	}
	return argv[++*i];
}

int
main(int argc, char **argv)
{
	const char *db = NULL, *config_path = NULL, *catalog = NULL, *v;
	const struct cmd_entry *ce;
	struct cmd_ctx c;
	char *console_argv[3];
	struct err e;
	int i, j, rc = EXIT_RUNTIME, read_only = 0;

	memset(&c, 0, sizeof c);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if ((v = flag_value(argc, argv, &i, "--db")) != NULL)
			db = v;
		else if ((v = flag_value(argc, argv, &i, "--config")) != NULL)
			config_path = v;
		else if ((v = flag_value(argc, argv, &i, "--catalog")) != NULL)
			catalog = v;
		else if (strcmp(argv[i], "--json") == 0)
			c.json = 1;
		else if (strcmp(argv[i], "--read-only") == 0)
			read_only = 1;
		else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			printf("tally %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else {
			fprintf(stderr, "tally: unknown option '%s' (see tally --help)\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		/* No command: the console on a terminal, else the usage. */
		static char console_name[] = "console";

		if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
			usage(stderr);
			return EXIT_USAGE;
		}
		console_argv[0] = argv[0];
		console_argv[1] = console_name;
		console_argv[2] = NULL;
		argv = console_argv;
		argc = 2;
		i = 1;
	}
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 < argc && (ce = cmd_find(argv[i + 1])) != NULL) {
			printf("usage: tally %s%s%s\n\n%s\n", ce->name, ce->args[0] ? " " : "", ce->args,
			    ce->summary);
			return EXIT_OK;
		}
		usage(stdout);
		return i + 1 < argc ? EXIT_USAGE : EXIT_OK;
	}
	if ((ce = cmd_find(argv[i])) == NULL) {
		fprintf(stderr, "tally: unknown command '%s' (see tally help)\n", argv[i]);
		return EXIT_USAGE;
	}
	current_cmd = ce->name;

	/* The subcommand's own arguments; --json may also come after it. */
	c.argv = xcalloc((size_t)(argc - i + 1), sizeof *c.argv);
	for (j = i; j < argc; j++) {
		if (strcmp(argv[j], "--json") == 0)
			c.json = 1;
		else
			c.argv[c.argc++] = argv[j];
	}

	config_init(&c.cfg);
	if (config_load(&c.cfg, config_path, &e) != 0) {
		rc = cmd_fail(&c, EXIT_USAGE, "%s", e.msg);
		goto out;
	}
	if (db != NULL) {
		free(c.cfg.db_path);
		c.cfg.db_path = xstrdup(db);
	}
	if (catalog != NULL) {
		free(c.cfg.catalog_path);
		c.cfg.catalog_path = xstrdup(catalog);
	}
	if (read_only)
		c.cfg.read_only = 1;

	/* Read-only mode refuses every command that writes, before it opens
	 * anything; the reads open the mirror read-only in SQLite too. */
	if (c.cfg.read_only && (ce->flags & CMD_WRITES)) {
		rc = cmd_fail(&c, EXIT_USAGE, "refused: read-only mode (%s%s)",
		    read_only ? "--read-only" : "read_only = true in ",
		    read_only ? "" : c.cfg.source ? c.cfg.source : "the configuration");
		goto out;
	}

	if (ce->flags & CMD_CATALOG) {
		if (c.cfg.catalog_path != NULL) {
			if (catalog_load(c.cfg.catalog_path, &c.cat, &e) != 0) {
				rc = cmd_fail(&c, EXIT_USAGE, "%s", e.msg);
				goto out;
			}
		} else {
			c.cat = catalog_new_empty();
		}
	}
	if (ce->flags & CMD_STORE) {
		int sflags;

		if (!(ce->flags & CMD_WRITES))
			sflags = c.cfg.read_only ? STORE_READONLY : STORE_NOCREATE;
		else
			sflags = is_default_db(c.cfg.db_path) ? STORE_MKDIR : 0;
		if (store_open(c.cfg.db_path, sflags, &c.s, &e) != 0) {
			rc = cmd_fail(&c, EXIT_RUNTIME, "%s", e.msg);
			goto out;
		}
	}
	rc = ce->run(&c);
out:
	store_close(c.s);
	catalog_free(c.cat);
	config_done(&c.cfg);
	free(c.argv);
	if (fflush(stdout) != 0 && rc == EXIT_OK)
		rc = EXIT_RUNTIME;
	return rc;
}
