/*
 * bench-floor: the floor of what SQLite allows for a mirror's rows, the
 * baseline `make bench` measures ingest against (SPEC 12, doc/bench.md).
 *
 *     bench-floor SRC DST [CACHE_KIB]
 *
 * SRC is a mirror that `tally ingest` wrote.  DST (which must not exist) is
 * created with SRC's schema (its tables, indexes and triggers, in SRC's
 * order) and tally's connection settings (store.c: WAL, synchronous=NORMAL,
 * 16 KiB pages; a page cache of CACHE_KIB KiB, default store.c's 64 MiB,
 * and make bench passes the cache ingest.c gives a bulk load), and every
 * row of every table of SRC is inserted into it with one plain prepared
 * INSERT per table, all in one transaction: no parsing, no lookups, no
 * per-value logic.  Rows go in
 * SRC's storage order, which for the big tables (rowid tables) is the order
 * ingest inserted them in, so the indexes see the same random keys.
 *
 * Rows are read from SRC in chunks into memory first, and only the inserts
 * (with the commit and the closing checkpoint, which `tally ingest` pays
 * too) are timed.  Prints one JSON line: {"rows", "tables", "cache_kib",
 * "seconds", "read_seconds"}.  Exit status 0, or 1 with a message on stderr.
 *
 * Links against SQLite only; not part of tally.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define CHUNK 20000             /* rows held in memory at once */
#define MAX_COLS 64

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
fail(sqlite3 *db, const char *what)
{
	fprintf(stderr, "bench-floor: %s: %s\n", what, db != NULL ? sqlite3_errmsg(db) : "error");
	return -1;
}

static int
exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return fail(db, sql);
	return 0;
}

/* Copy SRC's schema into DST: tables first, then indexes and triggers, each
 * in SRC's order. */
static int
copy_schema(sqlite3 *src, sqlite3 *dst)
{
	static const char *const order[] = { "table", "index", "trigger" };
	sqlite3_stmt *st = NULL;
	size_t k;
	int rc = -1;

	for (k = 0; k < sizeof order / sizeof order[0]; k++) {
		if (sqlite3_prepare_v2(src, "SELECT sql FROM sqlite_master WHERE type = ? AND "
		    "sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid", -1, &st,
		    NULL) != SQLITE_OK) {
			fail(src, "reading the schema");
			goto out;
		}
		sqlite3_bind_text(st, 1, order[k], -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			if (exec(dst, (const char *)sqlite3_column_text(st, 0)) != 0)
				goto out;
		if (rc != SQLITE_DONE) {
			fail(src, "reading the schema");
			rc = -1;
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

struct chunk {
	sqlite3_value **v;      /* rows * cols */
	int rows, cols;
};

static void
chunk_clear(struct chunk *c)
{
	int i;

	for (i = 0; i < c->rows * c->cols; i++)
		sqlite3_value_free(c->v[i]);
	c->rows = 0;
}

/* Copy one table: read up to CHUNK rows (untimed), insert them (timed). */
static int
copy_table(sqlite3 *src, sqlite3 *dst, const char *table, int64_t *rows, double *ins_s,
           double *read_s)
{
	sqlite3_stmt *sel = NULL, *ins = NULL;
	struct chunk c = { NULL, 0, 0 };
	char *sql = NULL, *p;
	size_t len;
	double t0;
	int i, j, rc = -1, step = SQLITE_ROW;

	sql = sqlite3_mprintf("SELECT * FROM \"%w\"", table);
	if (sql == NULL || sqlite3_prepare_v2(src, sql, -1, &sel, NULL) != SQLITE_OK) {
		fail(src, table);
		goto out;
	}
	c.cols = sqlite3_column_count(sel);
	if (c.cols < 1 || c.cols > MAX_COLS) {
		fprintf(stderr, "bench-floor: %s: %d columns\n", table, c.cols);
		goto out;
	}
	sqlite3_free(sql);
	len = strlen(table) + 40 + 3 * (size_t)c.cols;
	sql = sqlite3_malloc64(len);
	if (sql == NULL)
		goto out;
	p = sql + snprintf(sql, len, "INSERT INTO \"%s\" VALUES (?", table);
	for (i = 1; i < c.cols; i++)
		p += snprintf(p, len - (size_t)(p - sql), ", ?");
	snprintf(p, len - (size_t)(p - sql), ")");
	if (sqlite3_prepare_v2(dst, sql, -1, &ins, NULL) != SQLITE_OK) {
		fail(dst, sql);
		goto out;
	}
	c.v = calloc((size_t)CHUNK * (size_t)c.cols, sizeof *c.v);
	if (c.v == NULL)
		goto out;
	while (step == SQLITE_ROW) {
		t0 = now_s();
		while (c.rows < CHUNK && (step = sqlite3_step(sel)) == SQLITE_ROW) {
			for (j = 0; j < c.cols; j++) {
				sqlite3_value *v = sqlite3_value_dup(sqlite3_column_value(sel, j));

				if (v == NULL) {
					fprintf(stderr, "bench-floor: out of memory\n");
					goto out;
				}
				c.v[c.rows * c.cols + j] = v;
			}
			c.rows++;
		}
		if (step != SQLITE_ROW && step != SQLITE_DONE) {
			fail(src, table);
			goto out;
		}
		*read_s += now_s() - t0;
		t0 = now_s();
		for (i = 0; i < c.rows; i++) {
			for (j = 0; j < c.cols; j++)
				sqlite3_bind_value(ins, j + 1, c.v[i * c.cols + j]);
			if (sqlite3_step(ins) != SQLITE_DONE) {
				fail(dst, table);
				goto out;
			}
			sqlite3_reset(ins);
		}
		*ins_s += now_s() - t0;
		*rows += c.rows;
		chunk_clear(&c);
	}
	rc = 0;
out:
	if (c.v != NULL)
		chunk_clear(&c);
	free(c.v);
	sqlite3_free(sql);
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	return rc;
}

int
main(int argc, char **argv)
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_stmt *tables = NULL;
	int64_t rows = 0;
	double ins_s = 0, read_s = 0, t0;
	long cache_kib = argc > 3 ? atol(argv[3]) : 65536;
	char *cache_sql = NULL;
	int ntables = 0, rc = 1, step;

	if (argc < 3 || argc > 4 || cache_kib <= 0) {
		fprintf(stderr, "usage: bench-floor SRC.db DST.db [CACHE_KIB]\n");
		return 2;
	}
	if (access(argv[2], F_OK) == 0) {
		fprintf(stderr, "bench-floor: %s exists\n", argv[2]);
		return 2;
	}
	if (sqlite3_open_v2(argv[1], &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fail(src, argv[1]);
		goto out;
	}
	if (sqlite3_open_v2(argv[2], &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    NULL) != SQLITE_OK) {
		fail(dst, argv[2]);
		goto out;
	}
	/* tally's settings (store.c). */
	if (exec(dst, "PRAGMA page_size = 16384") != 0 ||
	    exec(dst, "PRAGMA journal_mode = WAL") != 0 ||
	    exec(dst, "PRAGMA synchronous = NORMAL") != 0 ||
	    (cache_sql = sqlite3_mprintf("PRAGMA cache_size = -%ld", cache_kib)) == NULL ||
	    exec(dst, cache_sql) != 0 ||
	    exec(dst, "PRAGMA foreign_keys = OFF") != 0 ||
	    exec(dst, "PRAGMA temp_store = MEMORY") != 0 ||
	    exec(src, "PRAGMA cache_size = -65536") != 0 ||
	    copy_schema(src, dst) != 0)
		goto out;

	if (sqlite3_prepare_v2(src, "SELECT name FROM sqlite_master WHERE type = 'table' AND "
	    "name NOT LIKE 'sqlite_%' ORDER BY rowid", -1, &tables, NULL) != SQLITE_OK) {
		fail(src, "listing tables");
		goto out;
	}
	t0 = now_s();
	if (exec(dst, "BEGIN IMMEDIATE") != 0)
		goto out;
	ins_s += now_s() - t0;
	while ((step = sqlite3_step(tables)) == SQLITE_ROW) {
		if (copy_table(src, dst, (const char *)sqlite3_column_text(tables, 0), &rows, &ins_s,
		    &read_s) != 0)
			goto out;
		ntables++;
	}
	if (step != SQLITE_DONE) {
		fail(src, "listing tables");
		goto out;
	}
	sqlite3_finalize(tables);
	tables = NULL;
	t0 = now_s();
	if (exec(dst, "COMMIT") != 0)
		goto out;
	if (sqlite3_close(dst) != SQLITE_OK) {
		fail(dst, "closing");
		goto out;
	}
	dst = NULL;
	ins_s += now_s() - t0;
	printf("{\"rows\": %lld, \"tables\": %d, \"cache_kib\": %ld, \"seconds\": %.3f, "
	    "\"read_seconds\": %.3f}\n", (long long)rows, ntables, cache_kib, ins_s, read_s);
	rc = 0;
out:
	sqlite3_free(cache_sql);
	sqlite3_finalize(tables);
	sqlite3_close(src);
	sqlite3_close(dst);
	return rc;
}
