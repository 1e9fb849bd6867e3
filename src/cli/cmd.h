/*
 * cmd: the command line's table of subcommands, as tmux's cmd_table.
 * Each cmd-NAME.c exports one `struct cmd_entry`; main.c collects them,
 * prints help from them, and sets up what each one's flags say it needs.
 */
#ifndef TALLY_CMD_H
#define TALLY_CMD_H

#include "catalog.h"
#include "config.h"
#include "store.h"

/* Exit codes (SPEC 2). */
#define EXIT_OK 0
#define EXIT_NO 1               /* deny, not found, drift found */
#define EXIT_USAGE 2            /* bad usage or input */
#define EXIT_RUNTIME 3          /* runtime failure */

#define CMD_STORE 0x1           /* opens the mirror */
#define CMD_WRITES 0x2          /* opens it for writing */
#define CMD_CATALOG 0x4         /* needs the catalog loaded */

struct cmd_ctx {
	struct config cfg;
	struct store *s;
	struct catalog *cat;
	int json;
	int argc;               /* the subcommand's arguments, argv[0] = its name */
	char **argv;
};

struct cmd_entry {
	const char *name;
	const char *args;       /* usage after the name */
	const char *summary;
	int flags;
	int (*run)(struct cmd_ctx *);
};

extern const struct cmd_entry cmd_access_entry;
extern const struct cmd_entry cmd_adjust_entry;
extern const struct cmd_entry cmd_audit_entry;
extern const struct cmd_entry cmd_ack_entry;
extern const struct cmd_entry cmd_alerts_entry;
extern const struct cmd_entry cmd_balance_entry;
extern const struct cmd_entry cmd_console_entry;
extern const struct cmd_entry cmd_customer_entry;
extern const struct cmd_entry cmd_customers_entry;
extern const struct cmd_entry cmd_deliveries_entry;
extern const struct cmd_entry cmd_demo_entry;
extern const struct cmd_entry cmd_drift_entry;
extern const struct cmd_entry cmd_events_entry;
extern const struct cmd_entry cmd_ingest_entry;
extern const struct cmd_entry cmd_ledger_entry;
extern const struct cmd_entry cmd_quarantine_entry;
extern const struct cmd_entry cmd_repair_entry;
extern const struct cmd_entry cmd_replay_entry;
extern const struct cmd_entry cmd_resync_entry;
extern const struct cmd_entry cmd_reverse_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_sync_entry;

/* Print "tally NAME: message" on stderr and return code. */
int cmd_fail(const struct cmd_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Usage error for this command: prints its usage line, returns EXIT_USAGE. */
int cmd_usage(const struct cmd_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
