-- Practice tasks with their answers and explanations (`plumbline_core::practice`), kept apart
-- from the experiment's tasks and hidden gold, and the practice answers labelers give, one per
-- (labeler, place in its draw) (the same in both migration folders but for integer types).
ALTER TABLE experiments ADD COLUMN practice_count BIGINT NOT NULL DEFAULT 0;

CREATE TABLE practice_tasks (
    experiment_id TEXT NOT NULL REFERENCES experiments (experiment_id),
    task_index BIGINT NOT NULL,
    task TEXT NOT NULL, -- the practice task's JSON, answer and explanation included
    PRIMARY KEY (experiment_id, task_index)
);

CREATE TABLE practice_answers (
    experiment_id TEXT NOT NULL REFERENCES experiments (experiment_id),
    labeler TEXT NOT NULL,
    position BIGINT NOT NULL, -- its place in the labeler's draw
    answer TEXT NOT NULL, -- the PracticeAnswer's JSON
    at BIGINT NOT NULL,
    PRIMARY KEY (experiment_id, labeler, position)
);
