-- 001-init: the mirror of one Stripe account's billing state.
--
-- Every mirrored Stripe object keeps `ver`, the `created` time of the event
-- (or the fetch) that last wrote it, so an older event never overwrites a
-- newer state; `raw_hash` tells a same-second conflict from a duplicate;
-- `placeholder` marks a row created because a child named it before the
-- object itself was seen; `refetch` asks the sync engine to let the API
-- decide.  Times are Unix seconds.  Money and credits are integers.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE customers (
	id          TEXT PRIMARY KEY,
	email       TEXT,
	name        TEXT,
	currency    TEXT,
	created     INTEGER,
	livemode    INTEGER,
	deleted     INTEGER NOT NULL DEFAULT 0,
	placeholder INTEGER NOT NULL DEFAULT 0,
	ver         INTEGER NOT NULL DEFAULT 0,
	raw_hash    INTEGER,
	refetch     INTEGER NOT NULL DEFAULT 0,
	updated_at  INTEGER NOT NULL
);

CREATE TABLE subscriptions (
	id                   TEXT PRIMARY KEY,
	customer             TEXT NOT NULL,
	status               TEXT,
	current_period_start INTEGER,
	current_period_end   INTEGER,
	cancel_at            INTEGER,
	canceled_at          INTEGER,
	ended_at             INTEGER,
	trial_end            INTEGER,
	created              INTEGER,
	placeholder          INTEGER NOT NULL DEFAULT 0,
	ver                  INTEGER NOT NULL DEFAULT 0,
	raw_hash             INTEGER,
	refetch              INTEGER NOT NULL DEFAULT 0,
	updated_at           INTEGER NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions(customer);

-- Replaced as a whole each time its subscription is written.
CREATE TABLE subscription_items (
	subscription         TEXT NOT NULL,
	id                   TEXT NOT NULL,
	price                TEXT,
	quantity             INTEGER NOT NULL DEFAULT 1,
	current_period_start INTEGER,
	current_period_end   INTEGER,
	PRIMARY KEY (subscription, id)
) WITHOUT ROWID;

CREATE TABLE prices (
	id          TEXT PRIMARY KEY,
	product     TEXT,
	type        TEXT,
	currency    TEXT,
	unit_amount INTEGER,
	interval    TEXT,
	lookup_key  TEXT,
	nickname    TEXT,
	active      INTEGER,
	ver         INTEGER NOT NULL DEFAULT 0,
	raw_hash    INTEGER,
	updated_at  INTEGER NOT NULL
);

CREATE TABLE invoices (
	id             TEXT PRIMARY KEY,
	customer       TEXT NOT NULL,
	subscription   TEXT,
	status         TEXT,
	billing_reason TEXT,
	currency       TEXT,
	amount_due     INTEGER,
	amount_paid    INTEGER,
	charge         TEXT,
	payment_intent TEXT,
	period_start   INTEGER,
	period_end     INTEGER,
	paid_at        INTEGER,
	created        INTEGER,
	placeholder    INTEGER NOT NULL DEFAULT 0,
	ver            INTEGER NOT NULL DEFAULT 0,
	raw_hash       INTEGER,
	refetch        INTEGER NOT NULL DEFAULT 0,
	updated_at     INTEGER NOT NULL
);
CREATE INDEX invoices_customer ON invoices(customer, created);
CREATE INDEX invoices_charge ON invoices(charge) WHERE charge IS NOT NULL;
CREATE INDEX invoices_payment_intent ON invoices(payment_intent) WHERE payment_intent IS NOT NULL;
CREATE INDEX invoices_status ON invoices(status);

CREATE TABLE invoice_lines (
	invoice      TEXT NOT NULL,
	id           TEXT NOT NULL,
	price        TEXT,
	quantity     INTEGER NOT NULL DEFAULT 1,
	amount       INTEGER,
	period_start INTEGER,
	period_end   INTEGER,
	PRIMARY KEY (invoice, id)
) WITHOUT ROWID;

CREATE TABLE checkout_sessions (
	id             TEXT PRIMARY KEY,
	customer       TEXT,
	mode           TEXT,
	status         TEXT,
	payment_status TEXT,
	payment_intent TEXT,
	invoice        TEXT,
	price          TEXT,
	quantity       INTEGER NOT NULL DEFAULT 1,
	amount_total   INTEGER,
	currency       TEXT,
	created        INTEGER,
	ver            INTEGER NOT NULL DEFAULT 0,
	raw_hash       INTEGER,
	refetch        INTEGER NOT NULL DEFAULT 0,
	updated_at     INTEGER NOT NULL
);
CREATE INDEX checkout_sessions_customer ON checkout_sessions(customer);
CREATE INDEX checkout_sessions_payment_intent ON checkout_sessions(payment_intent) WHERE payment_intent IS NOT NULL;

CREATE TABLE charges (
	id              TEXT PRIMARY KEY,
	customer        TEXT,
	invoice         TEXT,
	payment_intent  TEXT,
	currency        TEXT,
	amount          INTEGER,
	amount_refunded INTEGER,
	disputed        INTEGER NOT NULL DEFAULT 0,
	created         INTEGER,
	ver             INTEGER NOT NULL DEFAULT 0,
	raw_hash        INTEGER,
	refetch         INTEGER NOT NULL DEFAULT 0,
	updated_at      INTEGER NOT NULL
);
CREATE INDEX charges_payment_intent ON charges(payment_intent) WHERE payment_intent IS NOT NULL;

-- Refunds and disputes: a payment taken back, in part or whole.
CREATE TABLE reversals (
	id             TEXT PRIMARY KEY,          -- re_... or dp_...
	kind           TEXT NOT NULL CHECK (kind IN ('refund', 'dispute')),
	charge         TEXT,
	payment_intent TEXT,
	status         TEXT,
	currency       TEXT,
	amount         INTEGER,
	created        INTEGER,
	ver            INTEGER NOT NULL DEFAULT 0,
	raw_hash       INTEGER,
	refetch        INTEGER NOT NULL DEFAULT 0,
	updated_at     INTEGER NOT NULL
);
CREATE INDEX reversals_charge ON reversals(charge) WHERE charge IS NOT NULL;
CREATE INDEX reversals_payment_intent ON reversals(payment_intent) WHERE payment_intent IS NOT NULL;

-- Stripe Billing credit grants, mirrored as Stripe sees them (not ledger entries).
CREATE TABLE credit_grants (
	id           TEXT PRIMARY KEY,
	customer     TEXT,
	category     TEXT,
	currency     TEXT,
	amount       INTEGER,
	effective_at INTEGER,
	expires_at   INTEGER,
	voided_at    INTEGER,
	created      INTEGER,
	ver          INTEGER NOT NULL DEFAULT 0,
	raw_hash     INTEGER,
	refetch      INTEGER NOT NULL DEFAULT 0,
	updated_at   INTEGER NOT NULL
);
CREATE INDEX credit_grants_customer ON credit_grants(customer);

-- Stripe Entitlements: one row per customer once synced, then its features.
CREATE TABLE entitlement_summaries (
	customer   TEXT PRIMARY KEY,
	ver        INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL
);
CREATE TABLE entitlements (
	customer   TEXT NOT NULL,
	lookup_key TEXT NOT NULL,
	feature    TEXT,
	PRIMARY KEY (customer, lookup_key)
) WITHOUT ROWID;

-- Every Stripe event, once by id, raw body kept exactly as first received.
-- state: applied | superseded | conflict | stored (a type tally does not
-- act on); 'pending' only inside the transaction that stores it.
CREATE TABLE events (
	id             TEXT PRIMARY KEY,
	type           TEXT NOT NULL,
	created        INTEGER NOT NULL,
	api_version    TEXT,
	livemode       INTEGER,
	object_type    TEXT,
	object_id      TEXT,
	customer       TEXT,
	state          TEXT NOT NULL,
	note           TEXT,
	delivery_count INTEGER NOT NULL DEFAULT 0,
	first_seen_at  INTEGER NOT NULL,
	body           TEXT NOT NULL
);
CREATE INDEX events_created ON events(created);
CREATE INDEX events_object ON events(object_id, created);
CREATE INDEX events_customer ON events(customer, created) WHERE customer IS NOT NULL;

-- One row per delivery seen in a webhook log (or made by a replay).
-- sig_state: valid | invalid | unsigned | unverified (no secret configured).
-- body is kept here only when the event could not be stored (bad signature).
CREATE TABLE deliveries (
	id            INTEGER PRIMARY KEY,
	dkey          TEXT NOT NULL UNIQUE,
	event_id      TEXT,
	received_at   INTEGER,
	endpoint      TEXT,
	attempt       INTEGER,
	status        TEXT NOT NULL,
	http_status   INTEGER,
	error         TEXT,
	sig_state     TEXT NOT NULL,
	sig_error     TEXT,
	body          TEXT,
	source        TEXT,
	source_offset INTEGER,
	recorded_at   INTEGER NOT NULL
);
CREATE INDEX deliveries_event ON deliveries(event_id);
CREATE INDEX deliveries_status ON deliveries(status, received_at);

-- The credit ledger: append-only.  A mistake is corrected by a new entry.
-- `ref` names the entry a derived entry belongs to (the grant an expiry
-- closes, the entry a reversal undoes, the credit a clawback takes back).
CREATE TABLE ledger (
	seq          INTEGER PRIMARY KEY,
	customer     TEXT NOT NULL,
	amount       INTEGER NOT NULL,
	kind         TEXT NOT NULL CHECK (kind IN
	             ('grant', 'topup', 'consume', 'expire', 'adjust', 'reverse', 'clawback')),
	key          TEXT NOT NULL UNIQUE,
	source_type  TEXT,
	source_id    TEXT,
	ref          TEXT,
	effective_at INTEGER NOT NULL,
	expires_at   INTEGER,
	recorded_at  INTEGER NOT NULL,
	actor        TEXT NOT NULL DEFAULT 'system',
	reason       TEXT
);
CREATE INDEX ledger_customer_amount ON ledger(customer, amount);
CREATE INDEX ledger_customer_time ON ledger(customer, effective_at, seq);
CREATE INDEX ledger_ref ON ledger(ref) WHERE ref IS NOT NULL;
CREATE INDEX ledger_source ON ledger(source_id) WHERE source_id IS NOT NULL;
CREATE INDEX ledger_expiring ON ledger(expires_at) WHERE expires_at IS NOT NULL;

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
	SELECT RAISE(ABORT, 'ledger is append-only: UPDATE refused; append a reversing entry instead');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
	SELECT RAISE(ABORT, 'ledger is append-only: DELETE refused; append a reversing entry instead');
END;

-- Cached balance per customer, updated in the same transaction as each entry.
CREATE TABLE balances (
	customer   TEXT PRIMARY KEY,
	balance    INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Usage from the product's usage log, once per identifier.
CREATE TABLE usage (
	identifier    TEXT PRIMARY KEY,
	event_name    TEXT NOT NULL,
	customer      TEXT NOT NULL,
	value         INTEGER NOT NULL,
	timestamp     INTEGER NOT NULL,
	repeats       INTEGER NOT NULL DEFAULT 0,
	source        TEXT,
	source_offset INTEGER,
	recorded_at   INTEGER NOT NULL
);
CREATE INDEX usage_customer ON usage(customer, event_name, timestamp);

-- Input that could not be used, kept with where it came from and why.
CREATE TABLE quarantine (
	id             INTEGER PRIMARY KEY,
	kind           TEXT NOT NULL,       -- webhook | usage | usage-conflict | usage-unpriced | api
	source         TEXT NOT NULL,       -- file path, or the API request it came from
	source_offset  INTEGER,
	reason         TEXT NOT NULL,
	size           INTEGER,
	excerpt        BLOB,
	hash           INTEGER NOT NULL,
	quarantined_at INTEGER NOT NULL,
	UNIQUE (source, source_offset, hash)
);

-- Where each log was last read to.  Committed with the rows it produced.
CREATE TABLE cursors (
	path       TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,           -- webhook | usage
	inode      INTEGER NOT NULL,
	offset     INTEGER NOT NULL,
	head_len   INTEGER NOT NULL,
	head_hash  INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
