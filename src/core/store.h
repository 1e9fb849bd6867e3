/*
 * store: the mirror, one SQLite file in WAL mode.
 *
 * store_open creates the file with mode 0600 (it holds customer data), sets
 * the connection up (WAL, busy timeout, foreign keys off, 16 KiB pages and a
 * 64 MiB cache as PERF-NOTES.md measured) and brings the schema up to date
 * from the migrations embedded from data/schema/.  A file whose schema is
 * newer than this build knows is refused.
 *
 * A `struct store` is one connection and is used by one thread only; each
 * thread opens its own.  Statements are prepared once per connection and
 * cached (store_stmt), keyed by the SQL text's address, so callers pass string
 * literals.  All SQL takes bound parameters; nothing outside is ever
 * formatted into SQL text.
 */
#ifndef TALLY_STORE_H
#define TALLY_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "err.h"

struct store_migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct store_migration store_migrations[];
extern const int store_migration_count;

#define STORE_READONLY 0x1     /* open an existing mirror read-only (SQLite
                                  SQLITE_OPEN_READONLY): no write, no
                                  migration, no chmod */
#define STORE_NOCREATE 0x2     /* open an existing mirror; do not create one */
#define STORE_MKDIR 0x4        /* when creating it, create its missing
                                  directories too, mode 0700 */

struct store;

/* Open (creating if needed, unless STORE_READONLY or STORE_NOCREATE) and
 * migrate.  A mirror opened STORE_READONLY whose schema is older than this
 * build is refused rather than migrated.  On success *out is a new store the
 * caller frees with store_close. */
int store_open(const char *path, int flags, struct store **out, struct err *e);
void store_close(struct store *s);         /* NULL is a no-op */

sqlite3 *store_db(struct store *s);
const char *store_path(struct store *s);
int store_schema_version(struct store *s);

/* Transactions.  store_begin takes the write lock at once (BEGIN IMMEDIATE).
 * Nesting is not supported: one transaction at a time per connection. */
int store_begin(struct store *s, struct err *e);
int store_commit(struct store *s, struct err *e);
void store_rollback(struct store *s);
int store_in_txn(struct store *s);

/* A cached prepared statement for `sql` (a string literal), reset and with
 * bindings cleared.  Borrowed: valid until store_close.  NULL on error
 * (message in e). */
sqlite3_stmt *store_stmt(struct store *s, const char *sql, struct err *e);

/* Run one statement without results (e.g. "DELETE ... WHERE id=?" style
 * with binds done by the caller is store_stmt's job; this is for fixed SQL). */
int store_exec(struct store *s, const char *sql, struct err *e);

/* Step a statement expected to finish (INSERT/UPDATE/DELETE).  Resets it
 * afterwards.  0 ok, -1 with the SQLite message in e. */
int store_step_done(struct store *s, sqlite3_stmt *st, struct err *e);

/* Fill e with "what: <sqlite message>" for this connection; returns -1. */
int store_err(struct store *s, struct err *e, const char *what);

/* meta key/value (small state such as last_ingest_at). */
int store_meta_get_int(struct store *s, const char *key, int64_t *out);  /* 0 found, 1 absent, -1 err */
int store_meta_set_int(struct store *s, const char *key, int64_t v, struct err *e);
/* Text values: dst gets "" when absent.  0 found, 1 absent, -1 error. */
int store_meta_get_text(struct store *s, const char *key, char *dst, size_t n);
int store_meta_set_text(struct store *s, const char *key, const char *v, struct err *e);

/* Bind helpers: NULL text binds NULL; an int64 of 0 from a decoded optional
 * field binds NULL via bind_opt_int. */
void bind_text(sqlite3_stmt *st, int i, const char *v);
void bind_int(sqlite3_stmt *st, int i, int64_t v);
void bind_opt_int(sqlite3_stmt *st, int i, int64_t v);
const char *col_text(sqlite3_stmt *st, int i);     /* "" for NULL */

#endif
