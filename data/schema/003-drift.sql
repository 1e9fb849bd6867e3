-- Drift alerts and the audit log (doc/drift.md, doc/actions.md).

-- One alert per rule and subject (SPEC 7): a rescan finds the same row,
-- never a second one.  It resolves itself when its condition clears and
-- opens again if it comes back; every change of state is kept in
-- alert_history.  state: open | acknowledged | resolved.
CREATE TABLE alerts (
	id            INTEGER PRIMARY KEY,
	rule          TEXT NOT NULL,
	subject       TEXT NOT NULL,          -- what it is about: an invoice, a customer, a delivery...
	customer      TEXT,                   -- the customer it touches, when there is one
	severity      TEXT NOT NULL,          -- info | warning | critical
	state         TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
	summary       TEXT NOT NULL,          -- one line an operator reads first
	evidence      TEXT,                   -- JSON: what the rule saw
	repair        TEXT,                   -- the fix offered, in words; NULL when none
	first_seen_at INTEGER NOT NULL,
	last_seen_at  INTEGER NOT NULL,
	acked_at      INTEGER,
	acked_by      TEXT,
	ack_note      TEXT,
	resolved_at   INTEGER,
	UNIQUE (rule, subject)
);
CREATE INDEX alerts_state ON alerts(state, rule);
CREATE INDEX alerts_customer ON alerts(customer, state);

CREATE TABLE alert_history (
	id       INTEGER PRIMARY KEY,
	alert    INTEGER NOT NULL REFERENCES alerts(id),
	at       INTEGER NOT NULL,
	state    TEXT NOT NULL,               -- opened | acknowledged | resolved | reopened
	operator TEXT,                        -- NULL for the scanner
	note     TEXT
);
CREATE INDEX alert_history_alert ON alert_history(alert, id);

-- Customers whose rules must be evaluated again: marked in the transaction
-- that changed them (an applied event, a ledger entry), cleared by the
-- incremental check.
CREATE TABLE drift_dirty (
	customer TEXT PRIMARY KEY
) WITHOUT ROWID;

-- Indexes the drift rules' scans need (doc/drift.md): the few rows a rule
-- looks for, among tables that grow with every event and delivery.
CREATE INDEX events_superseded ON events(customer, first_seen_at, object_id, object_type, id)
	WHERE state = 'superseded';
CREATE INDEX deliveries_invalid ON deliveries(sig_state) WHERE sig_state = 'invalid';
CREATE INDEX deliveries_failed ON deliveries(event_id, received_at) WHERE status = 'failed';
CREATE INDEX quarantine_kind ON quarantine(kind);
CREATE INDEX charges_invoice ON charges(invoice) WHERE invoice IS NOT NULL;

-- Every operator action (SPEC 9), append-only like the ledger.
-- result: ok | noop | refused | failed | pending.
CREATE TABLE audit (
	id         INTEGER PRIMARY KEY,
	at         INTEGER NOT NULL,
	operator   TEXT NOT NULL,
	action     TEXT NOT NULL,             -- adjust | reverse | repair | resync | replay | ack ...
	target     TEXT NOT NULL,             -- customer, entry, alert, delivery or event id
	reason     TEXT,
	idem_key   TEXT,
	before     TEXT,                      -- JSON
	after      TEXT,                      -- JSON
	result     TEXT NOT NULL,
	request_id TEXT,                      -- Stripe's Request-Id when Stripe was called
	detail     TEXT
);
CREATE INDEX audit_target ON audit(target, id);
CREATE INDEX audit_at ON audit(at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;
