-- 005-drift-indexes: what the drift scans read, at the size SPEC 12 sets
-- (10,000 customers, a million ledger entries; doc/drift.md).  Each is
-- partial: it holds only the rows a rule looks for, so it costs nothing
-- for the rows it leaves out, and covering: a scan through it reads no
-- table row (without them, the rules read rows scattered over the whole
-- file, event by event and payment by payment).

-- webhook-failed: an event's last good delivery, probed once per failure.
CREATE INDEX deliveries_good ON deliveries(event_id, received_at, status, sig_state)
	WHERE status = 'ok' AND sig_state <> 'invalid';

-- grant-missing, grant-duplicate, refund-without-clawback: the credits a
-- payment granted, with their keys.
CREATE INDEX ledger_credits ON ledger(source_id, amount, key, kind)
	WHERE kind IN ('grant', 'topup');

-- refund-without-clawback: what a refund or dispute took back.
CREATE INDEX ledger_clawbacks ON ledger(source_id, amount, key, kind)
	WHERE kind = 'clawback';

-- refund-without-clawback: the refunded charges, whose refunds the mirror
-- may not hold.
CREATE INDEX charges_refunded ON charges(id, payment_intent, amount_refunded)
	WHERE amount_refunded > 0;

-- grant-missing: the paid invoices, by customer.
CREATE INDEX invoices_paid ON invoices(customer, id, status, placeholder)
	WHERE status = 'paid' AND placeholder = 0;

-- Not drift's: the console's deliveries view lists failed deliveries first,
-- each part newest first by id (a keyset on id within status), which
-- deliveries_status (status, received_at) cannot give without sorting every
-- failed delivery for the first screen.
CREATE INDEX deliveries_status_id ON deliveries(status, id);
