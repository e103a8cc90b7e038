-- When the creator closed commits early, beside the spec that records it: the same column as
-- PostgreSQL's, so that both stores close commits with one statement and read the log's
-- position the same way.
ALTER TABLE experiments ADD COLUMN commits_closed_at INTEGER;
