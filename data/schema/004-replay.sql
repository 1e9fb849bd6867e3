-- 004-replay: what a replayed delivery got back (doc/actions.md).
--
-- `tally replay` records each re-delivery as a new row of `deliveries`
-- (dkey replay:<event>:<n>).  These two columns say how the endpoint
-- answered: the time from sending to the answer, and the first 256 bytes
-- of the answer's body.  NULL for deliveries read from a webhook log.
ALTER TABLE deliveries ADD COLUMN latency_ms INTEGER;
ALTER TABLE deliveries ADD COLUMN response TEXT;
