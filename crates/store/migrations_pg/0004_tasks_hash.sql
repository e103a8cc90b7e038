-- The commitment to an experiment's task list and gold answers, published when it opens and
-- checked by `plumbline audit` against the tasks in the public record (the same in both
-- migration folders).
ALTER TABLE experiments ADD COLUMN tasks_hash TEXT;
