//! The store written once over a [`Dialect`]: SQLite and PostgreSQL run the same statements,
//! and differ only in what the dialect supplies (the write connection, the locks several
//! processes need, the column that keeps insertion order).

pub(crate) mod dialect;
mod ledger;
mod log;
mod store;

use crate::common::{Fields, experiment_row, from_json, parse};
use crate::ledger::hex;
use crate::{ExperimentRow, Result, StoreError};
use dialect::{Arg, Conn, Dialect, args, placeholders};
use plumbline_core::reputation::Reputation;
use plumbline_core::{Address, B256};
use sqlx::Transaction;
use std::collections::BTreeMap;

/// Addresses per `IN (…)` when reading reputations: far below either engine's limit on
/// parameters per statement.
const ADDRESSES_PER_QUERY: usize = 500;

/// A [`Store`](crate::Store) on a SQL database: [`SqliteStore`](crate::SqliteStore) or
/// [`PgStore`](crate::PgStore).
#[derive(Clone, Debug)]
pub struct SqlStore<D> {
    /// The engine: its connections and its hooks.
    dialect: D,
}

// Users name `SqliteStore` or `PgStore`; which hooks an engine supplies is the store's own
// business.
#[expect(private_bounds)]
impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(dialect: D) -> Self {
        SqlStore { dialect }
    }

    /// Runs raw SQL on the write connection. For tests that must reach behind the trait, such
    /// as tampering with the journal to see the check catch it.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        let mut writer = self.dialect.write().await?;
        Ok(D::execute(&mut writer, sql, args![]).await?)
    }

    /// Closes the write connection and the pool, waiting for them to finish. Later calls fail.
    pub async fn close(&self) {
        self.dialect.close().await;
    }

    /// A read transaction whose queries all see one snapshot.
    async fn snapshot(&self) -> Result<Transaction<'static, D::Db>> {
        let mut tx = self.dialect.pool().begin().await?;
        if let Some(snapshot) = D::SNAPSHOT {
            D::execute(&mut tx, snapshot, args![]).await?;
        }
        Ok(tx)
    }
}

/// The experiment, or `NotFound`, read inside a write's transaction with the dialect's row
/// lock. Every write guarded by the experiment's phase starts here, so such writes to one
/// experiment run one at a time across all processes, and the phase checked is the phase
/// written under.
async fn experiment_in<D: Dialect>(
    conn: &mut Conn<D>,
    experiment_id: B256,
) -> Result<ExperimentRow> {
    let sql = format!("SELECT * FROM experiments WHERE experiment_id = $1{}", D::ROW_LOCK);
    let row = D::fetch_optional(conn, &sql, args![hex(experiment_id.as_slice())])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("experiment {experiment_id}")))?;
    experiment_row(&row)
}

/// The stored reputations of these addresses, read on this connection.
async fn reputations_in<D: Dialect>(
    conn: &mut Conn<D>,
    addresses: &[Address],
) -> Result<BTreeMap<Address, Reputation>> {
    let mut found = BTreeMap::new();
    for chunk in addresses.chunks(ADDRESSES_PER_QUERY) {
        let sql = format!(
            "SELECT reputation_id, reputation FROM reputations WHERE reputation_id IN ({})",
            placeholders(1, chunk.len())
        );
        let ids = chunk.iter().map(|a| Arg::from(hex(a.as_slice()))).collect();
        for row in D::fetch_all(conn, &sql, ids).await? {
            let address = parse(&row.text("reputation_id")?, "address")?;
            found.insert(address, from_json(&row.text("reputation")?, "reputation")?);
        }
    }
    Ok(found)
}
