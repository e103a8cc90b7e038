-- When the creator closed commits early, beside the spec that records it: each replica's log
-- writer reads it with the log's position, so that a replica whose copy of the experiment
-- predates the close learns of it before its next write. PostgreSQL only: with SQLite one
-- process writes, and its own copy is always current.
ALTER TABLE experiments ADD COLUMN commits_closed_at BIGINT;
