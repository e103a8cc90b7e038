-- What several server processes sharing one database need (the same in ../migrations).
--
-- Each experiment counts the entries of its protocol log. A server keeps the experiment in
-- memory and names the counts it has seen in every append; the store refuses the append when
-- they moved, so a process whose copy missed another's writes reloads instead of deciding
-- from stale state.
ALTER TABLE experiments ADD COLUMN log_joins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE experiments ADD COLUMN log_commits BIGINT NOT NULL DEFAULT 0;
ALTER TABLE experiments ADD COLUMN log_reveals BIGINT NOT NULL DEFAULT 0;
UPDATE experiments SET
    log_joins = (SELECT count(*) FROM joins WHERE joins.experiment_id = experiments.experiment_id),
    log_commits = (SELECT count(*) FROM commits WHERE commits.experiment_id = experiments.experiment_id),
    log_reveals = (SELECT count(*) FROM reveals WHERE reveals.experiment_id = experiments.experiment_id);

-- Leases: a named job (the scheduler) that one process at a time runs, until its lease
-- expires without renewal (the process died).
CREATE TABLE leases (
    lease_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
