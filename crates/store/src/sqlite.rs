//! The SQLite engine under [`SqliteStore`]: one file, WAL, migrations embedded in the binary.
//!
//! Writes go through one dedicated connection behind an async mutex, so write transactions
//! queue for it instead of failing with "database is locked" when two of them try to upgrade
//! their locks at once; reads use a pool and, thanks to WAL, never wait for a writer. One
//! process writes the file, so none of PostgreSQL's locks is needed: the queue on the write
//! connection orders every write.
//!
//! The writer is a plain connection rather than a pool of one because a pool pings its
//! connection's worker thread each time the connection goes back: on the write path, which is
//! serial, that round trip between threads cost as much as the write itself.

use crate::sql::SqlStore;
use crate::sql::dialect::{Args, Dialect, bound};
use crate::{Result, StoreError};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, SqliteConnection, SqlitePool};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT_SECS: u64 = 10;

/// Connections of the read pool.
const READ_CONNECTIONS_MAX: u32 = 4;

/// The SQLite store.
pub type SqliteStore = SqlStore<SqliteEngine>;

/// SQLite's connections: the one writer and the read pool.
#[derive(Clone, Debug)]
pub struct SqliteEngine {
    /// The one write connection; `None` once closed.
    writer: Arc<Mutex<Option<SqliteConnection>>>,
    reader: SqlitePool,
}

impl SqlStore<SqliteEngine> {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the WAL on every commit: an acknowledged commit or reveal survives a
            // power cut, not only a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(BUSY_TIMEOUT_SECS));
        let mut writer = SqliteConnection::connect_with(&options).await?;
        sqlx::migrate!("./migrations").run(&mut writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS_MAX)
            // A local file cannot drop a connection the way a network database can; a ping
            // before each use would only add a round trip to the connection's thread.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(SqlStore::new(SqliteEngine { writer: Arc::new(Mutex::new(Some(writer))), reader }))
    }
}

#[async_trait]
impl Dialect for SqliteEngine {
    type Db = Sqlite;
    type Row = SqliteRow;
    type Write<'a> = MappedMutexGuard<'a, SqliteConnection>;

    const ROW_LOCK: &'static str = "";
    const INSERT_ORDER: &'static str = "rowid";
    // A read transaction in WAL mode sees the snapshot of its first read to its end.
    const SNAPSHOT: Option<&'static str> = None;
    const JOURNAL_LOCK: Option<&'static str> = None;
    const SETTLEMENT_LOCK: Option<&'static str> = None;
    const SEVERAL_WRITERS: bool = false;

    fn pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// A request cancelled in the middle of a transaction leaves its rollback queued on the
    /// connection, ahead of the next user's statements.
    async fn write(&self) -> Result<MappedMutexGuard<'_, SqliteConnection>> {
        MutexGuard::try_map(self.writer.lock().await, Option::as_mut)
            .map_err(|_| StoreError::from(sqlx::Error::PoolClosed))
    }

    async fn close(&self) {
        if let Some(writer) = self.writer.lock().await.take() {
            // Every transaction on it has ended by now, so a failure to close loses nothing.
            let _ = writer.close().await;
        }
        self.reader.close().await;
    }

    async fn execute(conn: &mut SqliteConnection, sql: &str, args: Args) -> sqlx::Result<u64> {
        Ok(bound::<Sqlite>(sql, args).execute(conn).await?.rows_affected())
    }

    async fn fetch_optional(
        conn: &mut SqliteConnection,
        sql: &str,
        args: Args,
    ) -> sqlx::Result<Option<SqliteRow>> {
        bound::<Sqlite>(sql, args).fetch_optional(conn).await
    }

    async fn fetch_all(
        conn: &mut SqliteConnection,
        sql: &str,
        args: Args,
    ) -> sqlx::Result<Vec<SqliteRow>> {
        bound::<Sqlite>(sql, args).fetch_all(conn).await
    }
}
