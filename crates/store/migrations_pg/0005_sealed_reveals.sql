-- A reveal the labeler left with the operator at commit, sealed to the operator's sealing key
-- (`plumbline_core::seal`); the server opens and reveals it once the commit deadline passes
-- (the same in both migration folders).
ALTER TABLE commits ADD COLUMN sealed_reveal TEXT;
