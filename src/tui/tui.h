/*
 * tui: the operator console (SPEC 10), an ncurses front end over the
 * mirror.  The command line reaches it through `tally console` (and `tally`
 * alone on a terminal); `tally demo` opens it on the mirror it just built.
 * Everything it shows is read from the mirror through its own connection;
 * see doc/console.md for the views and keys and doc/threading.md for the
 * sync thread it runs beside its UI loop.
 */
#ifndef TALLY_TUI_H
#define TALLY_TUI_H

#include <stdio.h>

struct cmd_ctx;

/* Run the console on c's mirror until the operator quits.  Uses c->cfg,
 * c->cat (may be NULL: no access rows) and c->s (opened on
 * c->cfg.db_path, without creating it, when NULL; closed again before
 * returning in that case).  Starts the sync thread when the configuration
 * names an API key or logs and the mode is not read-only.  Needs a terminal
 * on standard input and output.  Returns an exit code (cmd.h): EXIT_OK, or
 * EXIT_RUNTIME with a message on stderr.  Main thread only. */
int tui_run(struct cmd_ctx *c);

/* Print the man page's KEYS section, generated from the action table, in
 * roff: doc/tally.1 holds exactly this text (tests/console.sh checks). */
void tui_keys_roff(FILE *f);

#endif
