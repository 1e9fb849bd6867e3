/*
 * ingest: log files into the mirror, in batches committed with their cursor.
 * See ingest.h and doc/ingest.md.
 *
 * Two threads per file.  The parse thread reads the log and does for each
 * value everything that needs no store (parse, check the signature, decode,
 * hash: the `prep_*` functions), leaving a `struct prep` in a block of 64;
 * blocks go round a fixed set between a free list and a queue (`struct
 * pipe`), so it runs a bounded distance ahead.  The calling thread, which
 * owns the store, applies the prepared values in file order (`apply_*`,
 * `take`) and commits each batch with the cursor just past its last value.
 * So parsing overlaps the SQLite writes while the order, the batches and
 * the cursors are those of a single thread.  During a bulk load a third
 * thread runs the checkpoints (`struct ckpt`).  doc/threading.md has the
 * contract.
 *
 * A delivery's identity (dkey) is what Stripe would repeat for it: the event,
 * the time received, the attempt and the endpoint; a bare event or a record
 * without a received time is identified by where it sits in the log.
 *
 * Values the input makes unappliable.  Most bad input is found before
 * anything is written (it does not read or decode) and is quarantined at
 * once.  Some is found only while applying: apply.c returns APPLY_EINPUT
 * (credits that overflow, a deletion stub of a kind that is never deleted),
 * possibly after writing part of the value.  Then the batch is rolled back
 * and read again from its first value, this time with a savepoint around
 * each value, so that the faulty value alone is rolled back and quarantined
 * (with the reason apply gave) and the rest of the batch is applied.  The
 * savepoints cost about a third of ingest's speed, so they are used only for
 * the rest of a batch that needs them; a batch without such a value is
 * written without them.
 */
#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "apply.h"
#include "ingest.h"
#include "ledger.h"
#include "logread.h"
#include "sig.h"
#include "stripe-decode.h"
#include "usage.h"
#include "util.h"

#define FIRST_BATCH 2000         /* values in a file's first transaction; each */
#define DEFAULT_BATCH 50000      /* next one doubles, up to this many values */
#define BATCH_SECONDS 2          /* ... or seconds open, whichever comes first */
#define MAX_ID 255
#define BULK_BYTES (16 << 20)   /* unread log that makes a run a bulk load */
#define BLOCK_VALUES 64         /* values the parse thread hands over at once */
#define PIPE_BLOCKS 8           /* blocks in flight: the queue's bound */

/* --- preparing a value: everything that needs no store (parse thread) --- */

enum prep_action {
	PREP_QUARANTINE,        /* set aside: why, qraw */
	PREP_DELIVERY,          /* a delivery whose signature failed: recorded, not applied */
	PREP_DELIVERY_BAD,      /* a delivery whose body is no object: recorded, then
	                         * quarantined (why, qraw) */
	PREP_EVENT,             /* an event to apply (ev, raw, hash), then its delivery */
	PREP_USAGE              /* a usage line to apply (u) */
};

/* One value (or piece of bad input) read, checked and decoded.  Strings
 * live in the arena of the block that holds it. */
struct prep {
	enum prep_action action;
	int64_t offset;                 /* the item's first byte */
	int64_t size;                   /* its size, as quarantined */
	struct logread_cursor cur;      /* the cursor just past it */
	const char *why;                /* QUARANTINE, DELIVERY_BAD: the reason */
	const char *qraw;               /* ... and the bytes to keep (at most an excerpt) */
	size_t qrawlen;
	const char *excerpt;            /* the item's first bytes: kept if apply refuses it */
	size_t excerptlen;
	int unverified;                 /* signed, read with no secret configured */
	struct delivery d;              /* DELIVERY*, EVENT */
	struct stripe_event ev;         /* EVENT */
	const char *raw;                /* EVENT: the body as received */
	size_t rawlen;
	int64_t hash;                   /* EVENT: of data.object */
	struct usage_rec u;             /* USAGE */
};

/* Values handed from the parse thread to the apply thread, in file order.
 * The last block of a run says why it is the last: end of file (with the
 * cursor and the pending bytes there) or a read error. */
struct block {
	struct arena arena;
	struct prep v[BLOCK_VALUES];
	int n;
	int end;                        /* end of file after these values */
	int failed;                     /* a read error after these values (in e) */
	struct logread_cursor cur;      /* end: the cursor at end of file */
	int64_t pending;                /* end: incomplete bytes left */
	struct err e;
	struct block *next;
};

/*
 * The pipe between the two threads: blocks go round from the free list to
 * the parse thread, which fills them and queues them, to the apply thread,
 * which applies them and gives them back.  PIPE_BLOCKS bound the memory and
 * how far the parse thread may run ahead.  The reader (lr) belongs to the
 * parse thread from pipe_start to pipe_stop, the store to the apply thread
 * always; the blocks are the only thing that crosses, under the mutex.
 */
struct pipe {
	struct logread *lr;
	const struct ingest_opts *o;
	enum ingest_kind kind;
	const char *path;
	pthread_t thread;               /* the parse thread, while running */
	pthread_t owner;                /* the apply thread: the caller of ingest_file */
	int running;
	pthread_mutex_t mu;
	pthread_cond_t cond;            /* a block was queued or freed, or stop was set */
	struct block *queue, *queue_tail;
	struct block *free;
	int stop;                       /* the apply thread wants no more blocks */
	struct block *blocks;           /* PIPE_BLOCKS of them */
};

struct run {
	struct apply_ctx ac;
	const struct ingest_opts *o;
	const char *path;
	struct ingest_counts *n;
};

/* FNV-1a over the serialised value as jansson writes it, chunk by chunk:
 * the same number as hash64() of json_dumps()' text, without building the
 * text (this runs for every event, on the parse thread). */
static int
hash_chunk(const char *buf, size_t size, void *data)
{
	uint64_t h = *(uint64_t *)data;
	size_t i;

	for (i = 0; i < size; i++) {
		h ^= (unsigned char)buf[i];
		h *= 0x100000001b3ULL;
	}
	*(uint64_t *)data = h;
	return 0;
}

int64_t
ingest_json_hash(const json_t *v)
{
	uint64_t h = 0xcbf29ce484222325ULL;     /* hash64's offset basis */

	if (v == NULL)
		return 0;
	if (json_dump_callback(v, hash_chunk, &h, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) != 0)
		return 0;
	return (int64_t)h;
}

static int
id_too_long(const char *id)
{
	return id != NULL && strlen(id) > MAX_ID;
}

static const char *
get_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int64_t
get_int(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* A value is to be set aside, with the first bytes of `raw`. */
static void
prep_quarantine(struct arena *a, struct prep *p, const char *why, const char *raw, size_t rawlen)
{
	if (raw == NULL)
		rawlen = 0;
	if (rawlen > LOGREAD_EXCERPT)
		rawlen = LOGREAD_EXCERPT;
	p->action = PREP_QUARANTINE;
	p->why = arena_strdup(a, why);
	p->qraw = arena_strndup(a, raw != NULL ? raw : "", rawlen);
	p->qrawlen = rawlen;
}

/* Decode an event; d is its delivery, already filled. */
static void
prep_event(struct arena *a, struct prep *p, const json_t *evjson, const char *raw, size_t rawlen)
{
	struct err de;

	if (stripe_event_decode(a, evjson, &p->ev, &de) != 0) {
		prep_quarantine(a, p, de.msg, raw, rawlen);
		return;
	}
	if (id_too_long(p->ev.id) || id_too_long(p->ev.obj.id)) {
		snprintf(de.msg, sizeof de.msg, "event %.40s...: an id is longer than %d characters",
		    p->ev.id, MAX_ID);
		prep_quarantine(a, p, de.msg, raw, rawlen);
		return;
	}
	p->hash = ingest_json_hash(json_object_get(json_object_get(evjson, "data"), "object"));
	p->raw = arena_strndup(a, raw, rawlen);
	p->rawlen = rawlen;
	p->d.event_id = p->ev.id;
	p->action = PREP_EVENT;
}

static void
prep_record(struct arena *a, const struct pipe *pp, const struct logread_item *it, struct prep *p)
{
	const struct ingest_opts *o = pp->o;
	const json_t *rec = it->json, *body = json_object_get(rec, "body");
	const json_t *evobj = json_object_get(rec, "event"), *rt = json_object_get(rec, "received_at");
	const char *sig = get_str(rec, "signature"), *status = get_str(rec, "status");
	int has_received = rt != NULL && !json_is_null(rt);
	char why[512], dkey[700];
	struct delivery *d = &p->d;
	json_t *parsed = NULL;
	json_error_t jerr;
	char *dumped = NULL;
	const char *raw;
	size_t rawlen;
	int64_t received = 0;

	if (has_received) {
		if (json_is_integer(rt))
			received = json_integer_value(rt);
		else if (!json_is_string(rt) || time_parse(json_string_value(rt), &received) != 0) {
			prep_quarantine(a, p, "delivery record: received_at: expected Unix seconds "
			    "or an RFC 3339 time", it->raw, it->rawlen);
			return;
		}
	}
	if (status == NULL)
		status = "ok";
	if (strcmp(status, "ok") != 0 && strcmp(status, "failed") != 0) {
		snprintf(why, sizeof why, "delivery record: status: expected \"ok\" or \"failed\", got \"%.40s\"",
		    status);
		prep_quarantine(a, p, why, it->raw, it->rawlen);
		return;
	}
	d->received_at = received;
	d->endpoint = arena_strdup(a, get_str(rec, "endpoint"));
	d->attempt = get_int(rec, "attempt");
	d->status = strcmp(status, "ok") == 0 ? "ok" : "failed";
	d->http_status = get_int(rec, "http_status");
	d->error = arena_strdup(a, get_str(rec, "error"));
	d->source = pp->path;
	d->source_offset = it->offset;

	if (json_is_string(body)) {
		raw = json_string_value(body);
		rawlen = json_string_length(body);
		parsed = json_loadb(raw, rawlen, 0, &jerr);
		if (o->nsecrets == 0) {
			d->sig_state = sig != NULL && *sig != '\0' ? "unverified" : "unsigned";
			p->unverified = sig != NULL && *sig != '\0';
		} else {
			enum sig_result sr = sig_verify(sig ? sig : "", raw, rawlen, o->secrets,
			    o->nsecrets, received, o->tolerance);

			d->sig_state = sr == SIG_VALID ? "valid" : "invalid";
			if (sr != SIG_VALID)
				d->sig_error = sig_result_name(sr);
			if (sr == SIG_VALID && received <= 0 && o->tolerance > 0) {
				/* Its age cannot be judged (no time, or 0): a
				 * replay of an old delivery would pass.  Set
				 * aside, not trusted. */
				prep_quarantine(a, p, "signed delivery without received_at: the "
				    "signature's age cannot be checked; not applied", it->raw, it->rawlen);
				goto out;
			}
		}
	} else if (json_is_object(evobj)) {
		dumped = json_dumps(evobj, JSON_COMPACT);
		raw = dumped;
		rawlen = dumped ? strlen(dumped) : 0;
		parsed = json_incref((json_t *)evobj);
		d->sig_state = "unsigned";
	} else {
		prep_quarantine(a, p, "neither a Stripe event (\"object\": \"event\") nor a "
		    "delivery record (\"body\" or \"event\")", it->raw, it->rawlen);
		return;
	}

	if (received != 0 && json_is_object(parsed) && get_str(parsed, "id") != NULL)
		snprintf(dkey, sizeof dkey, "%s|%lld|%lld|%s", get_str(parsed, "id"),
		    (long long)received, (long long)d->attempt, d->endpoint ? d->endpoint : "");
	else
		snprintf(dkey, sizeof dkey, "%s|%lld", pp->path, (long long)it->offset);
	d->dkey = arena_strdup(a, dkey);

	if (strcmp(d->sig_state, "invalid") == 0) {
		/* Kept and shown, never applied. */
		p->action = PREP_DELIVERY;
		d->event_id = json_is_object(parsed) ? arena_strdup(a, get_str(parsed, "id")) : NULL;
		d->body = arena_strndup(a, raw, rawlen);
		goto out;
	}
	if (!json_is_object(parsed)) {
		snprintf(why, sizeof why, "delivery body is not a JSON object%s%s",
		    parsed == NULL ? ": " : "", parsed == NULL ? jerr.text : "");
		d->body = arena_strndup(a, raw, rawlen);
		prep_quarantine(a, p, why, raw, rawlen);
		p->action = PREP_DELIVERY_BAD;
		goto out;
	}
	prep_event(a, p, parsed, raw, rawlen);
out:
	json_decref(parsed);
	free(dumped);
}

static void
prep_webhook(struct arena *a, const struct pipe *pp, const struct logread_item *it, struct prep *p)
{
	const char *object = get_str(it->json, "object");
	char dkey[600];

	if (object != NULL && strcmp(object, "event") == 0) {
		snprintf(dkey, sizeof dkey, "%s|%lld", pp->path, (long long)it->offset);
		p->d.dkey = arena_strdup(a, dkey);
		p->d.status = "ok";
		p->d.sig_state = "unsigned";
		p->d.source = pp->path;
		p->d.source_offset = it->offset;
		prep_event(a, p, it->json, it->raw, it->rawlen);
		return;
	}
	prep_record(a, pp, it, p);
}

static void
prep_usage(struct arena *a, const struct logread_item *it, struct prep *p)
{
	struct err de;

	if (usage_decode(a, it->json, &p->u, &de) != 0) {
		prep_quarantine(a, p, de.msg, it->raw, it->rawlen);
		return;
	}
	if (id_too_long(p->u.identifier) || id_too_long(p->u.customer)) {
		snprintf(de.msg, sizeof de.msg, "usage: identifier or customer longer than %d characters",
		    MAX_ID);
		prep_quarantine(a, p, de.msg, it->raw, it->rawlen);
		return;
	}
	p->action = PREP_USAGE;
}

/* Everything about one item that needs no store. */
static void
prep_item(struct arena *a, const struct pipe *pp, const struct logread_item *it, struct prep *p)
{
	size_t n = it->raw == NULL ? 0 : it->rawlen < LOGREAD_EXCERPT ? it->rawlen : LOGREAD_EXCERPT;

	memset(p, 0, sizeof *p);
	p->offset = it->offset;
	p->size = it->end - it->offset;
	logread_cursor(pp->lr, &p->cur);
	p->excerpt = arena_strndup(a, it->raw != NULL ? it->raw : "", n);
	p->excerptlen = n;
	if (it->kind == LOGREAD_BAD) {
		p->size = it->size;
		prep_quarantine(a, p, it->reason, it->raw, it->rawlen);
	} else if (pp->kind == INGEST_WEBHOOK) {
		prep_webhook(a, pp, it, p);
	} else {
		prep_usage(a, it, p);
	}
}

/* --- the pipe -------------------------------------------------------------- */

/* Fill b from the reader.  1 when it is the last block (end of file or a
 * read error), else 0. */
static int
block_fill(struct pipe *pp, struct block *b)
{
	struct logread_item it;

	assert(!pthread_equal(pthread_self(), pp->owner));     /* the parse thread */
	arena_reset(&b->arena);
	b->n = 0;
	b->end = b->failed = 0;
	b->pending = 0;
	while (b->n < BLOCK_VALUES) {
		if (logread_next(pp->lr, &it, &b->e) != 0) {
			b->failed = 1;
			return 1;
		}
		if (it.kind == LOGREAD_EOF) {
			b->end = 1;
			logread_cursor(pp->lr, &b->cur);
			b->pending = logread_pending(pp->lr);
			return 1;
		}
		prep_item(&b->arena, pp, &it, &b->v[b->n++]);
	}
	return 0;
}

/* The parse thread: fill free blocks and queue them, until the last one or
 * until the apply thread says stop. */
static void *
pipe_main(void *arg)
{
	struct pipe *pp = arg;
	struct block *b;
	int last = 0;

	while (!last) {
		pthread_mutex_lock(&pp->mu);
		while (pp->free == NULL && !pp->stop)
			pthread_cond_wait(&pp->cond, &pp->mu);
		if (pp->stop) {
			pthread_mutex_unlock(&pp->mu);
			break;
		}
		b = pp->free;
		pp->free = b->next;
		pthread_mutex_unlock(&pp->mu);

		last = block_fill(pp, b);

		pthread_mutex_lock(&pp->mu);
		b->next = NULL;
		if (pp->queue_tail != NULL)
			pp->queue_tail->next = b;
		else
			pp->queue = b;
		pp->queue_tail = b;
		pthread_cond_broadcast(&pp->cond);
		pthread_mutex_unlock(&pp->mu);
	}
	return NULL;
}

/* Start the parse thread on pp->lr, every block free. */
static int
pipe_start(struct pipe *pp, struct err *e)
{
	int i, rc;

	assert(pthread_equal(pthread_self(), pp->owner) && !pp->running);
	pp->queue = pp->queue_tail = NULL;
	pp->free = NULL;
	for (i = PIPE_BLOCKS - 1; i >= 0; i--) {
		pp->blocks[i].next = pp->free;
		pp->free = &pp->blocks[i];
	}
	pp->stop = 0;
	if ((rc = pthread_create(&pp->thread, NULL, pipe_main, pp)) != 0)
		return err_set(e, "%s: cannot start the thread that reads the log: %s", pp->path,
		    strerror(rc));
	pp->running = 1;
	return 0;
}

/* Stop the parse thread (if running) and wait for it; queued blocks are
 * dropped.  Afterwards the reader is the caller's again. */
static void
pipe_stop(struct pipe *pp)
{
	if (!pp->running)
		return;
	assert(pthread_equal(pthread_self(), pp->owner));
	pthread_mutex_lock(&pp->mu);
	pp->stop = 1;
	pthread_cond_broadcast(&pp->cond);
	pthread_mutex_unlock(&pp->mu);
	pthread_join(pp->thread, NULL);
	pp->running = 0;
}

/* The next block, in file order (waits for the parse thread). */
static struct block *
pipe_next(struct pipe *pp)
{
	struct block *b;

	assert(pthread_equal(pthread_self(), pp->owner) && pp->running);
	pthread_mutex_lock(&pp->mu);
	while (pp->queue == NULL)
		pthread_cond_wait(&pp->cond, &pp->mu);
	b = pp->queue;
	pp->queue = b->next;
	if (pp->queue == NULL)
		pp->queue_tail = NULL;
	pthread_mutex_unlock(&pp->mu);
	return b;
}

/* Give a block back to the parse thread. */
static void
pipe_release(struct pipe *pp, struct block *b)
{
	pthread_mutex_lock(&pp->mu);
	b->next = pp->free;
	pp->free = b;
	pthread_cond_broadcast(&pp->cond);
	pthread_mutex_unlock(&pp->mu);
}

static void
pipe_init(struct pipe *pp, const struct ingest_opts *o, enum ingest_kind kind, const char *path)
{
	int i;

	memset(pp, 0, sizeof *pp);
	pp->owner = pthread_self();
	pp->o = o;
	pp->kind = kind;
	pp->path = path;
	pthread_mutex_init(&pp->mu, NULL);
	pthread_cond_init(&pp->cond, NULL);
	pp->blocks = xcalloc(PIPE_BLOCKS, sizeof *pp->blocks);
	for (i = 0; i < PIPE_BLOCKS; i++)
		arena_init(&pp->blocks[i].arena);
}

static void
pipe_done(struct pipe *pp)
{
	int i;

	pipe_stop(pp);
	logread_close(pp->lr);
	pp->lr = NULL;
	for (i = 0; i < PIPE_BLOCKS; i++)
		arena_done(&pp->blocks[i].arena);
	free(pp->blocks);
	pthread_cond_destroy(&pp->cond);
	pthread_mutex_destroy(&pp->mu);
}

/* --- applying a prepared value (apply thread: the store's) ------------------ */

static int
quarantine(struct run *r, const char *kind, int64_t offset, int64_t size, const char *reason,
           const void *raw, size_t rawlen, struct err *e)
{
	if (rawlen > LOGREAD_EXCERPT)
		rawlen = LOGREAD_EXCERPT;
	r->n->quarantined++;
	return apply_quarantine(&r->ac, kind, r->path, offset, size, reason, raw, rawlen, e);
}

static int
apply_prepared_event(struct run *r, struct prep *p, struct err *e)
{
	enum apply_result res;
	int rc;

	if ((rc = apply_event(&r->ac, &p->ev, p->raw, p->rawlen, p->hash, &res, e)) != 0)
		return rc;
	switch (res) {
	case APPLY_APPLIED:     r->n->applied++; break;
	case APPLY_DUPLICATE:   r->n->duplicate++; break;
	case APPLY_SUPERSEDED:  r->n->superseded++; break;
	case APPLY_CONFLICT:    r->n->conflict++; break;
	default:                r->n->stored++; break;
	}
	return apply_delivery(&r->ac, &p->d, NULL, e);
}

static int
apply_prepared_usage(struct run *r, struct prep *p, struct err *e)
{
	enum apply_result res;
	int rc;

	if ((rc = apply_usage(&r->ac, &p->u, r->path, p->offset, &res, e)) != 0)
		return rc;
	switch (res) {
	case APPLY_APPLIED:     r->n->applied++; break;
	case APPLY_DUPLICATE:   r->n->duplicate++; break;
	case APPLY_CONFLICT:    r->n->conflict++; r->n->quarantined++; break;
	case APPLY_UNPRICED:    r->n->unpriced++; break;
	default:                break;
	}
	return 0;
}

static int
apply_prepared(struct run *r, enum ingest_kind kind, struct prep *p, struct err *e)
{
	const char *what = kind == INGEST_WEBHOOK ? "webhook" : "usage";

	if (p->unverified)
		r->n->unverified++;
	switch (p->action) {
	case PREP_QUARANTINE:
		return quarantine(r, what, p->offset, p->size, p->why, p->qraw, p->qrawlen, e);
	case PREP_DELIVERY:
		r->n->invalid_signature++;
		return apply_delivery(&r->ac, &p->d, NULL, e);
	case PREP_DELIVERY_BAD:
		if (apply_delivery(&r->ac, &p->d, NULL, e) != 0)
			return -1;
		return quarantine(r, what, p->offset, p->size, p->why, p->qraw, p->qrawlen, e);
	case PREP_EVENT:
		return apply_prepared_event(r, p, e);
	case PREP_USAGE:
		return apply_prepared_usage(r, p, e);
	}
	return err_set(e, "internal error: unknown prepared value");
}

/*
 * A bulk load (a first ingest, a long catch-up) writes to every page of
 * the mirror's indexes in each batch: the keys (event, delivery, usage and
 * ledger ids) are random.  With the store's 64 MiB cache, a 1M-entry
 * mirror's indexes (about 250 MB) do not fit, and every value then reads
 * and spills pages (measured: 2.5 times slower over 1M usage lines).  So
 * while it runs, the connection's cache is raised to hold them, and set
 * back after.  The cache is filled on demand: a small mirror uses what it
 * needs, a large one at most this.
 */
#define BULK_CACHE "PRAGMA cache_size = -262144"        /* 256 MiB */

/* The connection's cache_size setting (pages, or -KiB), into *out. */
static int
cache_size_get(struct store *s, int64_t *out, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s, "PRAGMA cache_size", e);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return store_err(s, e, "reading the cache size");
	return 0;
}

/* Set the cache back to a value cache_size_get read.  A PRAGMA takes no
 * bound parameter: the number is SQLite's own, formatted, never input. */
static void
cache_size_set(struct store *s, int64_t v)
{
	char sql[64];
	struct err e;

	snprintf(sql, sizeof sql, "PRAGMA cache_size = %lld", (long long)v);
	(void)store_exec(s, sql, &e);
}

/*
 * The checkpointer.  SQLite copies the WAL back into the database file
 * (a checkpoint: a read of every frame, a write of every page, two fsyncs)
 * inside the COMMIT that passes 1000 frames.  In a bulk load every batch
 * passes it, and the writer spent a fifth of its time there (measured: 59
 * commits, 30 s of 140).  So during a bulk load the writer's automatic
 * checkpoints are turned off and a thread with a connection of its own runs
 * a PASSIVE checkpoint after each commit, which never blocks the writer and
 * overlaps its next batch.  Before each commit the writer waits for the
 * previous checkpoint to end, so the WAL has been copied whole and SQLite
 * starts it again from the top: it never holds more than one batch.  The
 * thread touches nothing but its connection; the flags below are under mu.
 */
struct ckpt {
	sqlite3 *db;                    /* the thread's own connection */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;            /* pending, busy or stop changed */
	int pending;                    /* a commit since the last checkpoint */
	int busy;                       /* a checkpoint is running */
	int stop;
	int running;
	int64_t saved_auto;             /* the writer's wal_autocheckpoint, restored after */
};

static void *
ckpt_main(void *arg)
{
	struct ckpt *c = arg;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->pending && !c->stop)
			pthread_cond_wait(&c->cond, &c->mu);
		if (c->stop)
			break;
		c->pending = 0;
		c->busy = 1;
		pthread_mutex_unlock(&c->mu);
		/* A failure (busy, I/O) only leaves frames in the WAL: the
		 * next checkpoint, or SQLite's own after the load, copies them. */
		(void)sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&c->mu);
		c->busy = 0;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Start the checkpointer for store s; 0 when it runs, -1 when it could not
 * start (then the writer keeps its automatic checkpoints). */
static int
ckpt_start(struct ckpt *c, struct store *s)
{
	sqlite3_stmt *st;
	struct err e;

	memset(c, 0, sizeof *c);
	if ((st = store_stmt(s, "PRAGMA wal_autocheckpoint", &e)) == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return -1;
	}
	c->saved_auto = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (sqlite3_open_v2(store_path(s), &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	    NULL) != SQLITE_OK) {
		sqlite3_close(c->db);
		c->db = NULL;
		return -1;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->mu);
		sqlite3_close(c->db);
		c->db = NULL;
		return -1;
	}
	c->running = 1;
	sqlite3_wal_autocheckpoint(store_db(s), 0);
	return 0;
}

/* Before a commit: wait for the last checkpoint to end. */
static void
ckpt_wait(struct ckpt *c)
{
	if (!c->running)
		return;
	pthread_mutex_lock(&c->mu);
	while (c->pending || c->busy)
		pthread_cond_wait(&c->cond, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

/* After a commit: ask for a checkpoint. */
static void
ckpt_kick(struct ckpt *c)
{
	if (!c->running)
		return;
	pthread_mutex_lock(&c->mu);
	c->pending = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
}

/* Stop the thread, close its connection, give the writer its automatic
 * checkpoints back. */
static void
ckpt_stop(struct ckpt *c, struct store *s)
{
	if (!c->running)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	sqlite3_close(c->db);
	c->db = NULL;
	c->running = 0;
	sqlite3_wal_autocheckpoint(store_db(s), (int)c->saved_auto);
}

/* Seconds on the monotonic clock. */
static double
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cursor_load(struct store *s, const char *path, struct logread_cursor *c, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT inode, offset, head_len, head_hash FROM cursors WHERE path = ?", e);
	int rc;

	memset(c, 0, sizeof *c);
	if (st == NULL)
		return -1;
	bind_text(st, 1, path);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		c->inode = sqlite3_column_int64(st, 0);
		c->offset = sqlite3_column_int64(st, 1);
		c->head_len = sqlite3_column_int64(st, 2);
		c->head_hash = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading log cursor");
	return 0;
}

static int
cursor_save(struct store *s, const char *path, enum ingest_kind kind,
            const struct logread_cursor *c, int64_t now, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "INSERT OR REPLACE INTO cursors(path, kind, inode, offset, head_len, head_hash, "
	    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, path);
	bind_text(st, 2, kind == INGEST_WEBHOOK ? "webhook" : "usage");
	bind_int(st, 3, c->inode);
	bind_int(st, 4, c->offset);
	bind_int(st, 5, c->head_len);
	bind_int(st, 6, c->head_hash);
	bind_int(st, 7, now);
	return store_step_done(s, st, e);
}

/* Commit the batch with the cursor just past its last value. */
static int
batch_commit(struct store *s, struct ckpt *c, const char *path, enum ingest_kind kind,
             const struct logread_cursor *cur, int64_t now, struct err *e)
{
	ckpt_wait(c);
	if (cursor_save(s, path, kind, cur, now, e) != 0 || store_commit(s, e) != 0)
		return -1;
	ckpt_kick(c);
	return 0;
}

/* Apply one prepared value.  With `careful`, a savepoint around it lets a
 * value that apply finds unappliable (APPLY_EINPUT) be rolled back alone and
 * quarantined; without, APPLY_EINPUT is returned and the caller starts the
 * batch again carefully. */
static int
take(struct run *r, enum ingest_kind kind, struct prep *p, int careful, struct err *e)
{
	const char *what = kind == INGEST_WEBHOOK ? "webhook" : "usage";
	struct ingest_counts n0;
	int ledger0 = r->ac.ledger_entries, rc;
	char why[sizeof e->msg];

	if (!careful || p->action == PREP_QUARANTINE)
		return apply_prepared(r, kind, p, e);
	n0 = *r->n;
	if (store_exec(r->ac.s, "SAVEPOINT value", e) != 0)
		return -1;
	rc = apply_prepared(r, kind, p, e);
	if (rc != APPLY_EINPUT)
		return rc != 0 ? rc : store_exec(r->ac.s, "RELEASE value", e);
	snprintf(why, sizeof why, "%s", e->msg);
	*r->n = n0;
	r->ac.ledger_entries = ledger0;
	if (store_exec(r->ac.s, "ROLLBACK TO value", e) != 0 ||
	    store_exec(r->ac.s, "RELEASE value", e) != 0)
		return -1;
	return quarantine(r, what, p->offset, p->size, why, p->excerpt, p->excerptlen, e);
}

/*
 * The apply thread's side of one file: values come from the parse thread
 * in file order, each with the cursor just past it, and are applied in
 * batches that commit with the cursor of their last value.
 */
int
ingest_file(struct store *s, const struct ingest_opts *o, enum ingest_kind kind,
            const char *path, struct ingest_counts *n, struct err *e)
{
	struct logread_cursor cur, first;
	struct ingest_counts n0;
	struct block *b = NULL;
	struct ckpt ck;
	struct pipe pp;
	struct run r;
	char *real = NULL, why[256];
	int restarted = 0, in_batch = 0, batch = o->batch > 0 ? o->batch : FIRST_BATCH;
	int careful = 0, ledger0, rc = -1, trc, i, bulk = 0;
	int64_t cache0 = 0;
	struct stat fst;
	double opened;

	memset(&r, 0, sizeof r);
	memset(&ck, 0, sizeof ck);
	real = realpath(path, NULL);
	if (real == NULL)
		real = xstrdup(path);
	pipe_init(&pp, o, kind, real);
	r.o = o;
	r.path = real;
	r.n = n;
	r.ac.s = s;
	r.ac.cat = o->cat;
	r.ac.now = tally_now();

	if (cursor_load(s, real, &cur, e) != 0)
		goto out;
	why[0] = '\0';
	if (logread_open(real, &cur, o->cap, &pp.lr, &restarted, why, sizeof why, e) != 0)
		goto out;
	if (restarted)
		n->restarted++;
	/* Where the batch started, to read it again. */
	logread_cursor(pp.lr, &first);
	if (stat(real, &fst) == 0 && (int64_t)fst.st_size - first.offset >= BULK_BYTES &&
	    cache_size_get(s, &cache0, e) == 0 && store_exec(s, BULK_CACHE, e) == 0) {
		bulk = 1;
		(void)ckpt_start(&ck, s);
	}
	if (pipe_start(&pp, e) != 0 || store_begin(s, e) != 0)
		goto out;
	opened = mono_seconds();
	n0 = *n;
	ledger0 = r.ac.ledger_entries;
	for (;;) {
		b = pipe_next(&pp);
		for (i = 0; i < b->n; i++) {
			struct prep *p = &b->v[i];

			n->values++;
			trc = take(&r, kind, p, careful, e);
			if (trc == APPLY_EINPUT)
				break;
			if (trc != 0) {
				err_prefix(e, "%s offset %lld: ", real, (long long)p->offset);
				goto fail;
			}
			if (++in_batch >= batch ||
			    (o->batch <= 0 && mono_seconds() - opened >= BATCH_SECONDS)) {
				cur = p->cur;
				if (batch_commit(s, &ck, real, kind, &cur, r.ac.now, e) != 0)
					goto fail;
				if (o->on_commit != NULL)
					o->on_commit(real, cur.offset, o->arg);
				in_batch = 0;
				careful = 0;
				if (o->batch <= 0 && batch < DEFAULT_BATCH)
					batch = batch * 2 < DEFAULT_BATCH ? batch * 2 : DEFAULT_BATCH;
				first = cur;
				n0 = *n;
				ledger0 = r.ac.ledger_entries;
				if (store_begin(s, e) != 0)
					goto out;
				opened = mono_seconds();
			}
		}
		if (i < b->n) {
			/* Part of a value that cannot be applied is in the batch:
			 * read the batch again, a savepoint around each value. */
			b = NULL;
			pipe_stop(&pp);
			store_rollback(s);
			*n = n0;
			r.ac.ledger_entries = ledger0;
			logread_close(pp.lr);
			pp.lr = NULL;
			if (logread_open(real, &first, o->cap, &pp.lr, &restarted, why, sizeof why, e) != 0)
				goto out;
			if (restarted) {
				err_set(e, "%s: the log changed while it was being read (%s); run ingest "
				    "again", real, why);
				goto out;
			}
			if (pipe_start(&pp, e) != 0 || store_begin(s, e) != 0)
				goto out;
			opened = mono_seconds();
			careful = 1;
			in_batch = 0;
			continue;
		}
		if (b->failed) {
			*e = b->e;
			goto fail;
		}
		if (b->end)
			break;
		pipe_release(&pp, b);
		b = NULL;
	}
	cur = b->cur;
	if (batch_commit(s, &ck, real, kind, &cur, r.ac.now, e) != 0)
		goto fail;
	if (o->on_commit != NULL)
		o->on_commit(real, cur.offset, o->arg);
	n->pending_bytes += b->pending;
	rc = 0;
	goto out;
fail:
	store_rollback(s);
out:
	n->ledger_entries += r.ac.ledger_entries;
	pipe_done(&pp);
	ckpt_stop(&ck, s);
	if (bulk)
		cache_size_set(s, cache0);
	free(real);
	return rc;
}

int
ingest_finish(struct store *s, const struct ingest_opts *o, struct ingest_counts *n,
              struct err *e)
{
	int64_t now = tally_now();
	int appended = 0;

	if (store_begin(s, e) != 0)
		return -1;
	/* Drift is checked once, here, rather than at each batch's commit:
	 * the marks commit with the batches (a crash keeps them), and a
	 * customer touched by many batches is re-checked once, after the
	 * expiries that may touch it too (doc/drift.md). */
	if (ledger_expire_due(s, now, &appended, e) != 0 ||
	    store_meta_set_int(s, "last_ingest_at", now, e) != 0 ||
	    (o->drift != NULL && drift_check_dirty(o->drift, now, NULL, e) != 0)) {
		store_rollback(s);
		return -1;
	}
	if (store_commit(s, e) != 0)
		return -1;
	n->ledger_entries += appended;
	return 0;
}
