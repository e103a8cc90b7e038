-- Each commit's and reveal's place in its experiment's log, so that a writer reads only the
-- entries past the position it has seen through an index, instead of skipping over the
-- whole log with OFFSET on every catch-up. Rows stored before are numbered in the order they
-- were inserted, which is the order they were accepted in.
ALTER TABLE commits ADD COLUMN log_index INTEGER;
UPDATE commits SET log_index = ordered.log_index
FROM (SELECT rowid AS row, row_number() OVER (PARTITION BY experiment_id ORDER BY rowid) - 1
      AS log_index FROM commits) AS ordered
WHERE commits.rowid = ordered.row;
CREATE UNIQUE INDEX commits_in_log_order ON commits (experiment_id, log_index);

ALTER TABLE reveals ADD COLUMN log_index INTEGER;
UPDATE reveals SET log_index = ordered.log_index
FROM (SELECT rowid AS row, row_number() OVER (PARTITION BY experiment_id ORDER BY rowid) - 1
      AS log_index FROM reveals) AS ordered
WHERE reveals.rowid = ordered.row;
CREATE UNIQUE INDEX reveals_in_log_order ON reveals (experiment_id, log_index);
