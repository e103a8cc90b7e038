//! The PostgreSQL engine under [`PgStore`], for several server processes on one database.
//!
//! Every write is one transaction on a pooled connection. Where SQLite serializes all writers
//! through its one write connection, here the writers of different processes meet in the
//! database, and locks keep them apart where order matters:
//!
//! - the experiment's row, taken `FOR UPDATE` by every write guarded by its phase (imports,
//!   funding, opening, cancelling, settlement) and held by every [`LogWriter`](crate::LogWriter)
//!   from its first statement (joins, commits and reveals), so those writes to one experiment
//!   happen one after another and each sees the phase and log position the one before left;
//! - the journal table, locked `IN EXCLUSIVE MODE` by every transfer before it reads a balance
//!   or the last entry, so the hash chain never forks and no two transfers spend the same
//!   balance. Readers are not blocked by it;
//! - an advisory lock that settlements take first.
//!
//! Locks are always taken in the same order (settlement, the experiment, then accounts, then
//! the journal), so two writers never wait on each other in a cycle.

use crate::Result;
use crate::sql::SqlStore;
use crate::sql::dialect::{Args, Dialect, bound};
use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Postgres};
use std::str::FromStr;
use std::time::Duration;

/// How long a request waits for a free connection before failing.
const ACQUIRE_TIMEOUT_SECS: u64 = 30;

/// The PostgreSQL store.
pub type PgStore = SqlStore<PgEngine>;

/// PostgreSQL's connections: one pool for reads and writes.
#[derive(Clone, Debug)]
pub struct PgEngine {
    pool: PgPool,
}

impl SqlStore<PgEngine> {
    /// Connects to the database at `url` (`postgres://user@host:port/database`) and applies
    /// pending migrations.
    pub async fn open(url: &str) -> Result<PgStore> {
        PgStore::open_pooled(url, crate::PG_CONNECTIONS_DEFAULT).await
    }

    /// [`PgStore::open`] keeping at most `connections` (at least 1). Writers to one experiment
    /// or to the journal wait on each other in the database anyway, so more connections than
    /// the process keeps busy only add waiting backends.
    pub async fn open_pooled(url: &str, connections: u32) -> Result<PgStore> {
        PgStore::open_with(PgConnectOptions::from_str(url)?, connections).await
    }

    /// Connects with these options (a `search_path` among them picks the schema), keeping at
    /// most `connections`, and applies pending migrations. Several processes may open one
    /// database at once: the migrator takes a lock so that only one of them applies a
    /// migration.
    pub async fn open_with(options: PgConnectOptions, connections: u32) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(connections.max(1))
            .acquire_timeout(Duration::from_secs(ACQUIRE_TIMEOUT_SECS))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations_pg").run(&pool).await?;
        Ok(SqlStore::new(PgEngine { pool }))
    }
}

#[async_trait]
impl Dialect for PgEngine {
    type Db = Postgres;
    type Row = PgRow;
    type Write<'a> = PoolConnection<Postgres>;

    const ROW_LOCK: &'static str = " FOR UPDATE";
    const INSERT_ORDER: &'static str = "seq";
    // READ COMMITTED, the default, takes a new snapshot per statement.
    const SNAPSHOT: Option<&'static str> =
        Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const JOURNAL_LOCK: Option<&'static str> = Some("LOCK TABLE journal IN EXCLUSIVE MODE");
    // The key is any fixed number no other lock uses.
    const SETTLEMENT_LOCK: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(8100978942396294516)");
    const SEVERAL_WRITERS: bool = true;

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn write(&self) -> Result<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn execute(conn: &mut PgConnection, sql: &str, args: Args) -> sqlx::Result<u64> {
        Ok(bound::<Postgres>(sql, args).execute(conn).await?.rows_affected())
    }

    async fn fetch_optional(
        conn: &mut PgConnection,
        sql: &str,
        args: Args,
    ) -> sqlx::Result<Option<PgRow>> {
        bound::<Postgres>(sql, args).fetch_optional(conn).await
    }

    async fn fetch_all(conn: &mut PgConnection, sql: &str, args: Args) -> sqlx::Result<Vec<PgRow>> {
        bound::<Postgres>(sql, args).fetch_all(conn).await
    }
}
