/*
 * ingest: reads the webhook and usage logs into the mirror.
 *
 * For each file it resumes from the cursor stored in the mirror, reads
 * values with logread, and applies them through apply.c in batches: many
 * values share one transaction, and the file's cursor is committed in that
 * same transaction, so a crash at any instant leaves every value either
 * applied with its cursor or neither (SPEC 4).  Bad values are quarantined
 * with file, offset and reason, and reading goes on; that includes values
 * apply.c finds unappliable only while applying them (APPLY_EINPUT), which
 * are rolled back alone.  After the files, the expiries now due are
 * written.
 *
 * Webhook log values are delivery records ({"received_at", "endpoint",
 * "attempt", "status", "http_status", "error", "signature", "body"} with
 * "event" allowed instead of "body" when unsigned) or bare events
 * ("object": "event").  A signed record is verified against every
 * configured secret, judging its age by received_at; an invalid one is
 * recorded as a delivery (with its body) and its event is not applied; a
 * valid one without received_at is quarantined, its age unknown.
 *
 * Threads: ingest_file runs in the caller's thread, which owns the store
 * and does every write (the apply thread), and starts for the call one
 * more thread that reads, parses, checks and decodes the file's values
 * ahead of it (the parse thread; it never touches the store) and hands them
 * over in order through a bounded queue; it is stopped before the call
 * returns.  So parsing (jansson, signatures, hashing) overlaps the SQLite
 * writes.  See doc/threading.md and doc/ingest.md.
 */
#ifndef TALLY_INGEST_H
#define TALLY_INGEST_H

#include <stdint.h>

#include "catalog.h"
#include "config.h"
#include "drift.h"
#include "err.h"
#include "store.h"

enum ingest_kind { INGEST_WEBHOOK, INGEST_USAGE };

struct ingest_counts {
	int64_t values;                 /* values read */
	int64_t applied;                /* events applied / usage consumed */
	int64_t duplicate;              /* event ids or usage identifiers seen before */
	int64_t superseded;             /* older than the mirrored state */
	int64_t conflict;               /* same-second conflicts, usage conflicts */
	int64_t stored;                 /* event types kept but not acted on */
	int64_t unpriced;               /* usage for meters the catalog lacks */
	int64_t quarantined;            /* bad input kept aside */
	int64_t invalid_signature;      /* deliveries whose signature failed */
	int64_t unverified;             /* signed deliveries read with no secret configured */
	int64_t ledger_entries;         /* entries appended, expiries and their
	                                 * corrections included */
	int64_t restarted;              /* files re-read from 0 (rotation, truncation) */
	int64_t pending_bytes;          /* incomplete values left at end of files */
};

struct ingest_opts {
	const struct catalog *cat;
	const char *const *secrets;     /* webhook signing secrets */
	int nsecrets;
	int64_t tolerance;              /* seconds; 0 disables the age check */
	size_t cap;                     /* value size cap; 0 = default */
	int batch;                      /* values per transaction; 0 = the default:
	                                 * 2000 in a file's first, doubling with
	                                 * each commit up to 50000, and never more
	                                 * than 2 seconds' worth (so a writer
	                                 * waiting for the lock, such as an
	                                 * operator's action, waits little) */
	/* Drift checks (drift.h): ingest_finish re-checks the customers the
	 * values changed with this checker; NULL leaves them marked for the
	 * next check or scan. */
	struct drift *drift;
	/* Called after each commit with the file and its committed cursor
	 * offset (tests use it to die at chosen points).  May be NULL. */
	void (*on_commit)(const char *path, int64_t offset, void *arg);
	void *arg;
};

/* Ingest one file from its cursor to its end, adding to *n.  Starts and
 * stops the parse thread for the file; the store is used from the calling
 * thread only. */
int ingest_file(struct store *s, const struct ingest_opts *o, enum ingest_kind kind,
                const char *path, struct ingest_counts *n, struct err *e);

/* Write due expiries, record the time of this ingest (meta
 * last_ingest_at) and, with o->drift, re-check the customers marked dirty,
 * all in one transaction.  Call after the files. */
int ingest_finish(struct store *s, const struct ingest_opts *o, struct ingest_counts *n,
                  struct err *e);

/* JSON hash of a value's content, key order ignored (for the version
 * guard): hash64 of its compact serialisation with sorted keys.  Any
 * thread. */
#include <jansson.h>
int64_t ingest_json_hash(const json_t *v);

#endif
