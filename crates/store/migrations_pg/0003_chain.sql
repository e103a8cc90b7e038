-- Experiments whose money is on an EVM chain: the embedded ledger moves none of it, and the
-- relayer keeps its progress here so that it resumes where it stopped after a restart.

-- The chain and the market contract holding the experiment's money; both NULL for an
-- experiment on the embedded ledger.
ALTER TABLE experiments ADD COLUMN chain_id BIGINT;
ALTER TABLE experiments ADD COLUMN market TEXT;

-- One row per chain experiment once its escrow was verified on chain.
CREATE TABLE chain_relays (
    chain_relay_id TEXT PRIMARY KEY REFERENCES experiments (experiment_id),
    from_block BIGINT NOT NULL, -- the indexer reads the market's events from this block on
    joins_relayed BIGINT NOT NULL, -- joins, in log order, whose stakes are locked on chain
    commits_relayed BIGINT NOT NULL, -- commits, in log order, recorded on chain
    last_join_tx TEXT,
    last_commit_tx TEXT,
    settle_tx TEXT,
    settled_at BIGINT,
    distribute_tx TEXT,
    distributed_at BIGINT,
    refund_tx TEXT,
    refunded_at BIGINT,
    updated_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
