-- The first PostgreSQL schema of the Plumbline store, the same tables as the SQLite schema in
-- ../migrations. Migrations are never edited once applied: change the schema with a new file,
-- here and in the SQLite folder alike.
--
-- Addresses and 32-byte values are lowercase 0x-prefixed hex and money an exact decimal
-- integer of base units in TEXT, as in SQLite: both stores then read and hash the same text,
-- and amounts up to 2^256 need no numeric type on the Rust side. Times are unix seconds in
-- BIGINT. Where SQLite orders by its implicit rowid, these tables have an identity column.

-- Every address the market has seen (signed in, minted to, joined).
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- Sign-In with Ethereum challenges, consumed by the login that answers them.
CREATE TABLE challenges (
    challenge_id TEXT PRIMARY KEY, -- the nonce in the message
    address TEXT NOT NULL,
    message TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Sessions: only the keccak256 of the bearer token is kept.
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY, -- keccak256(token)
    address TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE experiments (
    experiment_id TEXT PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY, -- creation order among equal created_at
    creator TEXT NOT NULL,
    title TEXT NOT NULL,
    spec TEXT NOT NULL, -- the spec's canonical JSON
    phase TEXT NOT NULL CHECK (phase IN ('draft', 'open', 'revealing', 'settled', 'cancelled')),
    funded BOOLEAN NOT NULL DEFAULT FALSE,
    seed TEXT, -- drawn at open, revealed in the record at settlement
    opened_at BIGINT,
    settled_at BIGINT,
    commit_deadline BIGINT NOT NULL,
    reveal_deadline BIGINT NOT NULL,
    task_count BIGINT NOT NULL DEFAULT 0,
    gold_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX experiments_by_phase ON experiments (phase);

CREATE TABLE tasks (
    experiment_id TEXT NOT NULL REFERENCES experiments (experiment_id),
    task_index BIGINT NOT NULL,
    task TEXT NOT NULL, -- the task's JSON, gold answer included
    created_at BIGINT NOT NULL,
    PRIMARY KEY (experiment_id, task_index)
);

-- The join log: each accepted signed join, the batch it got, and when.
CREATE TABLE joins (
    experiment_id TEXT NOT NULL REFERENCES experiments (experiment_id),
    batch_id BIGINT NOT NULL,
    labeler TEXT NOT NULL,
    entry TEXT NOT NULL, -- record::JoinEntry as JSON
    created_at BIGINT NOT NULL,
    PRIMARY KEY (experiment_id, batch_id)
);

CREATE TABLE commits (
    experiment_id TEXT NOT NULL,
    batch_id BIGINT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY, -- the order commits were accepted in
    entry TEXT NOT NULL, -- record::CommitEntry as JSON
    backup TEXT, -- the client's encrypted copy of its labels, opaque here
    created_at BIGINT NOT NULL,
    PRIMARY KEY (experiment_id, batch_id),
    FOREIGN KEY (experiment_id, batch_id) REFERENCES joins (experiment_id, batch_id)
);

CREATE TABLE reveals (
    experiment_id TEXT NOT NULL,
    batch_id BIGINT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY, -- the order reveals were accepted in
    entry TEXT NOT NULL, -- record::RevealEntry as JSON
    created_at BIGINT NOT NULL,
    PRIMARY KEY (experiment_id, batch_id),
    FOREIGN KEY (experiment_id, batch_id) REFERENCES commits (experiment_id, batch_id)
);

-- One row per settled experiment: the primary key is what makes settlement happen once.
CREATE TABLE settlements (
    settlement_id TEXT PRIMARY KEY REFERENCES experiments (experiment_id),
    settlement TEXT NOT NULL, -- settle::Settlement as JSON
    record TEXT NOT NULL, -- record::PublicRecord as JSON
    created_at BIGINT NOT NULL
);

CREATE TABLE reputations (
    reputation_id TEXT PRIMARY KEY, -- the address
    reputation TEXT NOT NULL, -- reputation::Reputation as JSON
    updated_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The embedded ledger. A transfer debits one account and credits another; an account's
-- balance is credits minus debits, which only the issuance account may take below zero.
CREATE TABLE ledger_accounts (
    ledger_account_id TEXT PRIMARY KEY, -- "available:0x..", "locked:0x..", "escrow:0x..", "issuance", "burn"
    debits TEXT NOT NULL,
    credits TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The journal of transfers, each chained to the previous one by hash. Ids are assigned by the
-- writer, not a sequence: a writer holds the journal's lock from reading the last entry to
-- committing, so ids follow commit order without gaps.
CREATE TABLE journal (
    journal_id BIGINT PRIMARY KEY,
    debit_account TEXT NOT NULL REFERENCES ledger_accounts (ledger_account_id),
    credit_account TEXT NOT NULL REFERENCES ledger_accounts (ledger_account_id),
    amount TEXT NOT NULL,
    kind TEXT NOT NULL,
    experiment_id TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX journal_by_experiment ON journal (experiment_id);
