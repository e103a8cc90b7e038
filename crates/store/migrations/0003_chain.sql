-- Experiments whose money is on an EVM chain: the embedded ledger moves none of it, and the
-- relayer keeps its progress here so that it resumes where it stopped after a restart.

-- The chain and the market contract holding the experiment's money; both NULL for an
-- experiment on the embedded ledger.
ALTER TABLE experiments ADD COLUMN chain_id INTEGER;
ALTER TABLE experiments ADD COLUMN market TEXT;

-- One row per chain experiment once its escrow was verified on chain.
CREATE TABLE chain_relays (
    chain_relay_id TEXT PRIMARY KEY NOT NULL REFERENCES experiments (experiment_id),
    from_block INTEGER NOT NULL, -- the indexer reads the market's events from this block on
    joins_relayed INTEGER NOT NULL, -- joins, in log order, whose stakes are locked on chain
    commits_relayed INTEGER NOT NULL, -- commits, in log order, recorded on chain
    last_join_tx TEXT,
    last_commit_tx TEXT,
    settle_tx TEXT,
    settled_at INTEGER,
    distribute_tx TEXT,
    distributed_at INTEGER,
    refund_tx TEXT,
    refunded_at INTEGER,
    updated_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
