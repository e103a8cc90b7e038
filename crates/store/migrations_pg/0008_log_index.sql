-- Each commit's and reveal's place in its experiment's log, so that a replica catching up
-- reads only the entries past the position it has seen through an index, instead of sorting
-- and skipping the whole log with OFFSET before every write. Rows stored before are numbered
-- in the order they were inserted, which is the order they were accepted in.
ALTER TABLE commits ADD COLUMN log_index BIGINT;
UPDATE commits SET log_index = ordered.log_index
FROM (SELECT experiment_id, batch_id,
             row_number() OVER (PARTITION BY experiment_id ORDER BY seq) - 1 AS log_index
      FROM commits) AS ordered
WHERE commits.experiment_id = ordered.experiment_id AND commits.batch_id = ordered.batch_id;
ALTER TABLE commits ALTER COLUMN log_index SET NOT NULL;
CREATE UNIQUE INDEX commits_in_log_order ON commits (experiment_id, log_index);

ALTER TABLE reveals ADD COLUMN log_index BIGINT;
UPDATE reveals SET log_index = ordered.log_index
FROM (SELECT experiment_id, batch_id,
             row_number() OVER (PARTITION BY experiment_id ORDER BY seq) - 1 AS log_index
      FROM reveals) AS ordered
WHERE reveals.experiment_id = ordered.experiment_id AND reveals.batch_id = ordered.batch_id;
ALTER TABLE reveals ALTER COLUMN log_index SET NOT NULL;
CREATE UNIQUE INDEX reveals_in_log_order ON reveals (experiment_id, log_index);
