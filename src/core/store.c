/*
 * store: the mirror's SQLite connection, its migrations and a statement
 * cache.  See store.h for the contract.
 *
 * Migrations are the files of data/schema/, embedded at build time in order
 * of their number.  PRAGMA user_version records the last one applied; each
 * runs in its own transaction with the version bump, so a crash mid-upgrade
 * leaves the file at the previous version.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

#define STMT_CACHE 128

struct stmt_slot {
	const char *sql;
	sqlite3_stmt *st;
};

struct store {
	sqlite3 *db;
	char *path;
	int in_txn;
	int readonly;
	int version;
	struct stmt_slot cache[STMT_CACHE];
};

/* SQLite's message for the last failure, with what an operator can act on
 * when the disk is at fault: the operating system's reason when SQLite has
 * it, else what that kind of failure usually means. */
static const struct {
	int code;               /* primary result code */
	const char *hint;
} db_hints[] = {
	{ SQLITE_FULL, "the disk is full" },
	{ SQLITE_IOERR, "a write or read of the mirror failed: disk full, a file size limit, "
	  "or a failing disk" },
	{ SQLITE_READONLY, "the mirror, its -wal file or its directory is not writable" },
	{ SQLITE_CANTOPEN, "check the path and its permissions" },
};

static const char *
db_why(struct store *s, char *buf, size_t n)
{
	int code = sqlite3_extended_errcode(s->db) & 0xff, sys = sqlite3_system_errno(s->db);
	size_t i;

	for (i = 0; i < sizeof db_hints / sizeof db_hints[0]; i++) {
		if (db_hints[i].code != code)
			continue;
		snprintf(buf, n, "%s (%s)", sqlite3_errmsg(s->db),
		    sys != 0 ? strerror(sys) : db_hints[i].hint);
		return buf;
	}
	snprintf(buf, n, "%s", sqlite3_errmsg(s->db));
	return buf;
}

int
store_err(struct store *s, struct err *e, const char *what)
{
	char why[300];

	return err_set(e, "%s: %s: %s", s->path, what, db_why(s, why, sizeof why));
}

/* Make sure the file exists with mode 0600 before SQLite opens it, and that
 * an existing one is not readable by others. */
static int
store_prepare_file(const char *path, int flags, struct err *e)
{
	struct stat st;
	int fd;

	if (stat(path, &st) == 0) {
		if ((st.st_mode & 077) != 0 && !(flags & STORE_READONLY) &&
		    chmod(path, st.st_mode & 0700) != 0)
			return err_set(e, "%s: mirror is readable by others and chmod failed: %s",
			    path, strerror(errno));
		return 0;
	}
	if (errno != ENOENT)
		return err_set(e, "%s: %s", path, strerror(errno));
	if (flags & (STORE_READONLY | STORE_NOCREATE))
		return err_set(e, "%s: no mirror here (run `tally ingest` or `tally sync` first, or pass --db)", path);
	if ((flags & STORE_MKDIR) && mkdir_parents(path, 0700, e) != 0)
		return err_prefix(e, "%s: ", path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 && errno != EEXIST)
		return err_set(e, "%s: cannot create mirror: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return 0;
}

static int
store_migrate(struct store *s, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int version = 0, latest = 0, i, rc;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return store_err(s, e, "reading schema version");
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);

	for (i = 0; i < store_migration_count; i++)
		if (store_migrations[i].version > latest)
			latest = store_migrations[i].version;
	if (version > latest)
		return err_set(e, "%s: schema version %d is newer than this tally knows (%d); "
		    "upgrade tally rather than risk the mirror", s->path, version, latest);
	if (version < latest && s->readonly)
		return err_set(e, "%s: schema version %d needs upgrading to %d, which read-only mode "
		    "cannot do; run a writing command (tally ingest) without read-only mode once",
		    s->path, version, latest);

	for (i = 0; i < store_migration_count; i++) {
		const struct store_migration *m = &store_migrations[i];
		char pragma[64];

		if (m->version <= version)
			continue;
		if (store_begin(s, e) != 0)
			return -1;
		rc = sqlite3_exec(s->db, m->sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			err_set(e, "%s: migration %s failed: %s", s->path, m->name, sqlite3_errmsg(s->db));
			store_rollback(s);
			return -1;
		}
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m->version);
		if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
			store_err(s, e, "recording schema version");
			store_rollback(s);
			return -1;
		}
		if (store_commit(s, e) != 0)
			return -1;
		version = m->version;
	}
	s->version = version;
	return 0;
}

int
store_open(const char *path, int flags, struct store **out, struct err *e)
{
	struct store *s;
	int oflags, rc;

	*out = NULL;
	if (store_prepare_file(path, flags, e) != 0)
		return -1;
	s = xcalloc(1, sizeof *s);
	s->path = xstrdup(path);
	s->readonly = (flags & STORE_READONLY) != 0;
	oflags = (flags & STORE_READONLY) ? SQLITE_OPEN_READONLY
	                                 : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	oflags |= SQLITE_OPEN_NOMUTEX;
	rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		err_set(e, "%s: cannot open mirror: %s", path,
		    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 10000);
	sqlite3_extended_result_codes(s->db, 1);
	if (!(flags & STORE_READONLY)) {
		if (store_exec(s, "PRAGMA page_size = 16384", e) != 0 ||
		    store_exec(s, "PRAGMA journal_mode = WAL", e) != 0)
			goto fail;
	}
	if (store_exec(s, "PRAGMA synchronous = NORMAL", e) != 0 ||
	    store_exec(s, "PRAGMA cache_size = -65536", e) != 0 ||
	    store_exec(s, "PRAGMA foreign_keys = OFF", e) != 0 ||
	    store_exec(s, "PRAGMA temp_store = MEMORY", e) != 0)
		goto fail;
	if (store_migrate(s, e) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return -1;
}

void
store_close(struct store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(s->cache[i].st);
	if (s->in_txn)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

sqlite3 *
store_db(struct store *s)
{
	return s->db;
}

const char *
store_path(struct store *s)
{
	return s->path;
}

int
store_schema_version(struct store *s)
{
	return s->version;
}

int
store_exec(struct store *s, const char *sql, struct err *e)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		char why[300];

		err_set(e, "%s: %s", s->path, db_why(s, why, sizeof why));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
store_begin(struct store *s, struct err *e)
{
	if (s->in_txn)
		return err_set(e, "%s: internal error: nested transaction", s->path);
	if (store_exec(s, "BEGIN IMMEDIATE", e) != 0)
		return -1;
	s->in_txn = 1;
	return 0;
}

int
store_commit(struct store *s, struct err *e)
{
	if (!s->in_txn)
		return 0;
	if (store_exec(s, "COMMIT", e) != 0) {
		store_rollback(s);
		return -1;
	}
	s->in_txn = 0;
	return 0;
}

void
store_rollback(struct store *s)
{
	if (!s->in_txn)
		return;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_txn = 0;
}

int
store_in_txn(struct store *s)
{
	return s->in_txn;
}

sqlite3_stmt *
store_stmt(struct store *s, const char *sql, struct err *e)
{
	size_t h = ((size_t)(uintptr_t)sql >> 3) % STMT_CACHE;
	size_t i;

	for (i = 0; i < STMT_CACHE; i++) {
		struct stmt_slot *slot = &s->cache[(h + i) % STMT_CACHE];

		if (slot->sql == sql) {
			sqlite3_reset(slot->st);
			sqlite3_clear_bindings(slot->st);
			return slot->st;
		}
		if (slot->sql == NULL) {
			if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
			    &slot->st, NULL) != SQLITE_OK) {
				err_set(e, "%s: preparing \"%.60s...\": %s", s->path, sql,
				    sqlite3_errmsg(s->db));
				slot->st = NULL;
				return NULL;
			}
			slot->sql = sql;
			return slot->st;
		}
	}
	err_set(e, "%s: internal error: statement cache full", s->path);
	return NULL;
}

int
store_step_done(struct store *s, sqlite3_stmt *st, struct err *e)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		char why[300];

		err_set(e, "%s: %s", s->path, db_why(s, why, sizeof why));
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

/* The one statement each that reads and writes meta. */
static int
meta_get(struct store *s, const char *key, int64_t *iv, char *tv, size_t tn)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT value FROM meta WHERE key = ?", NULL);
	int rc;

	if (tv != NULL)
		tv[0] = '\0';
	if (st == NULL)
		return -1;
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && iv != NULL)
		*iv = sqlite3_column_int64(st, 0);
	if (rc == SQLITE_ROW && tv != NULL)
		snprintf(tv, tn, "%s", col_text(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

static int
meta_set(struct store *s, const char *key, const int64_t *iv, const char *tv, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "INSERT INTO meta(key, value) VALUES (?, ?) "
	    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, key);
	if (iv != NULL)
		bind_int(st, 2, *iv);
	else
		bind_text(st, 2, tv);
	return store_step_done(s, st, e);
}

int
store_meta_get_int(struct store *s, const char *key, int64_t *out)
{
	return meta_get(s, key, out, NULL, 0);
}

int
store_meta_set_int(struct store *s, const char *key, int64_t v, struct err *e)
{
	return meta_set(s, key, &v, NULL, e);
}

int
store_meta_get_text(struct store *s, const char *key, char *dst, size_t n)
{
	return meta_get(s, key, NULL, dst, n);
}

int
store_meta_set_text(struct store *s, const char *key, const char *v, struct err *e)
{
	return meta_set(s, key, NULL, v, e);
}

void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

void
bind_int(sqlite3_stmt *st, int i, int64_t v)
{
	sqlite3_bind_int64(st, i, v);
}

void
bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
	if (v == 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

const char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}
