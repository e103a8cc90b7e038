-- The first schema of the Plumbline store. Migrations are never edited once applied: change
-- the schema with a new file.
--
-- Addresses and 32-byte values are lowercase 0x-prefixed hex; times are unix seconds; money is
-- an exact decimal integer of base units in TEXT, because SQLite integers stop at 2^63.

-- Every address the market has seen (signed in, minted to, joined).
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
);

-- Sign-In with Ethereum challenges, consumed by the login that answers them.
CREATE TABLE challenges (
    challenge_id TEXT PRIMARY KEY NOT NULL, -- the nonce in the message
    address TEXT NOT NULL,
    message TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- Sessions: only the keccak256 of the bearer token is kept.
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY NOT NULL, -- keccak256(token)
    address TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE experiments (
    experiment_id TEXT PRIMARY KEY NOT NULL,
    creator TEXT NOT NULL,
    title TEXT NOT NULL,
    spec TEXT NOT NULL, -- the spec's canonical JSON
    phase TEXT NOT NULL CHECK (phase IN ('draft', 'open', 'revealing', 'settled', 'cancelled')),
    funded INTEGER NOT NULL DEFAULT 0,
    seed TEXT, -- drawn at open, revealed in the record at settlement
    opened_at INTEGER,
    settled_at INTEGER,
    commit_deadline INTEGER NOT NULL,
    reveal_deadline INTEGER NOT NULL,
    task_count INTEGER NOT NULL DEFAULT 0,
    gold_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX experiments_by_phase ON experiments (phase);

CREATE TABLE tasks (
    experiment_id TEXT NOT NULL REFERENCES experiments (experiment_id),
    task_index INTEGER NOT NULL,
    task TEXT NOT NULL, -- the task's JSON, gold answer included
    created_at INTEGER NOT NULL,
    PRIMARY KEY (experiment_id, task_index)
);

-- The join log: each accepted signed join, the batch it got, and when.
CREATE TABLE joins (
    experiment_id TEXT NOT NULL REFERENCES experiments (experiment_id),
    batch_id INTEGER NOT NULL,
    labeler TEXT NOT NULL,
    entry TEXT NOT NULL, -- record::JoinEntry as JSON
    created_at INTEGER NOT NULL,
    PRIMARY KEY (experiment_id, batch_id)
);

CREATE TABLE commits (
    experiment_id TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    entry TEXT NOT NULL, -- record::CommitEntry as JSON
    backup TEXT, -- the client's encrypted copy of its labels, opaque here
    created_at INTEGER NOT NULL,
    PRIMARY KEY (experiment_id, batch_id),
    FOREIGN KEY (experiment_id, batch_id) REFERENCES joins (experiment_id, batch_id)
);

CREATE TABLE reveals (
    experiment_id TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    entry TEXT NOT NULL, -- record::RevealEntry as JSON
    created_at INTEGER NOT NULL,
    PRIMARY KEY (experiment_id, batch_id),
    FOREIGN KEY (experiment_id, batch_id) REFERENCES commits (experiment_id, batch_id)
);

-- One row per settled experiment: the primary key is what makes settlement happen once.
CREATE TABLE settlements (
    settlement_id TEXT PRIMARY KEY NOT NULL REFERENCES experiments (experiment_id),
    settlement TEXT NOT NULL, -- settle::Settlement as JSON
    record TEXT NOT NULL, -- record::PublicRecord as JSON
    created_at INTEGER NOT NULL
);

CREATE TABLE reputations (
    reputation_id TEXT PRIMARY KEY NOT NULL, -- the address
    reputation TEXT NOT NULL, -- reputation::Reputation as JSON
    updated_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- The embedded ledger. A transfer debits one account and credits another; an account's
-- balance is credits minus debits, which only the issuance account may take below zero.
CREATE TABLE ledger_accounts (
    ledger_account_id TEXT PRIMARY KEY NOT NULL, -- "available:0x..", "locked:0x..", "escrow:0x..", "issuance", "burn"
    debits TEXT NOT NULL,
    credits TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- The journal of transfers, each chained to the previous one by hash.
CREATE TABLE journal (
    journal_id INTEGER PRIMARY KEY NOT NULL,
    debit_account TEXT NOT NULL REFERENCES ledger_accounts (ledger_account_id),
    credit_account TEXT NOT NULL REFERENCES ledger_accounts (ledger_account_id),
    amount TEXT NOT NULL,
    kind TEXT NOT NULL,
    experiment_id TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX journal_by_experiment ON journal (experiment_id);
