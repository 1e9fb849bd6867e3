-- Stripe API sync (doc/sync.md).
--
-- One row per listed resource: how far the current reconciliation pass has
-- got.  `cursor` is the id to list after (starting_after) for the next
-- page, or for a per-customer resource the last customer done; it is
-- committed in the same transaction as the page it follows, so a restart
-- resumes exactly there.
CREATE TABLE sync_resources (
	name        TEXT PRIMARY KEY,
	pass        INTEGER NOT NULL,
	cursor      TEXT,
	done        INTEGER NOT NULL DEFAULT 0,
	pages       INTEGER NOT NULL DEFAULT 0,
	objects     INTEGER NOT NULL DEFAULT 0,
	started_at  INTEGER,
	finished_at INTEGER
) WITHOUT ROWID;

-- Stripe's own view of a customer's Billing credit balance
-- (billing.credit_balance_summary), kept to compare with the ledger.
CREATE TABLE credit_balances (
	customer   TEXT PRIMARY KEY,
	currency   TEXT,
	available  INTEGER NOT NULL,
	ver        INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
