//! What differs between the two databases the store runs on, behind one small trait: how a
//! process gets its write connection, the locks only PostgreSQL needs (several processes write
//! it, where one writes a SQLite file), the column that keeps insertion order, and how a
//! statement is run. Everything else, SQL text included, is written once in `sql_store`.
//!
//! Statements use `$1`, `$2`, … placeholders, which both engines read.

use crate::Result;
use crate::common::Fields;
use async_trait::async_trait;
use sqlx::{Database, Encode, IntoArguments, Type};
use std::ops::DerefMut;

/// A value bound to a statement's parameter. The schemas keep hex, JSON and money as text and
/// times and counts as 64-bit integers, so two kinds cover every column.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Arg::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Self {
        Arg::Int(value)
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(Some(value))
    }
}

impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Arg::Text(Some(value.clone()))
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(Some(value.to_owned()))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Arg::Text(value)
    }
}

/// A statement's parameters, `$1` first.
pub(crate) type Args = Vec<Arg>;

/// The parameters of a statement: `args![a, b]` binds `a` to `$1` and `b` to `$2`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::sql::dialect::Arg::from($value)),*]
    };
}
pub(crate) use args;

/// `count` placeholders numbered from `first`, comma-separated: the inside of `IN (…)`.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// The `VALUES` rows of a multi-row insert of `rows` rows of `columns` parameters each.
pub(crate) fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", placeholders(1 + row * columns, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A connection of the dialect's database.
pub(crate) type Conn<D> = <<D as Dialect>::Db as Database>::Connection;

/// One database engine under the store. The associated SQL fragments are spliced into the
/// store's one text of each statement.
#[async_trait]
pub(crate) trait Dialect: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The sqlx database.
    type Db: Database;
    /// A row the engine returns.
    type Row: Fields + Send + Sync;
    /// The write connection, while this process holds it.
    type Write<'a>: DerefMut<Target = Conn<Self>> + Send
    where
        Self: 'a;

    /// Appended to the SELECT of the experiment row that guards a write: a lock held to the
    /// end of the transaction, so writes to one experiment run one after another.
    const ROW_LOCK: &'static str;

    /// The column that orders a table's rows as they were inserted.
    const INSERT_ORDER: &'static str;

    /// Run first in a read transaction whose queries must see one snapshot, where beginning
    /// one is not enough.
    const SNAPSHOT: Option<&'static str>;

    /// Run by every transfer before it reads a balance or the journal's last entry, so that
    /// transfers in other processes wait for it.
    const JOURNAL_LOCK: Option<&'static str>;

    /// Run first by every settlement, so that settlements, which read and write the same
    /// reputations, run one at a time across processes.
    const SETTLEMENT_LOCK: Option<&'static str>;

    /// Whether several processes write the database: then a log writer holds the experiment's
    /// row lock (`ROW_LOCK`) from the start, so that appends from every process run one at a
    /// time, each from the log as the last one left it.
    const SEVERAL_WRITERS: bool;

    /// The pool reads are made from (on PostgreSQL, writes too).
    fn pool(&self) -> &sqlx::Pool<Self::Db>;

    /// The write connection, once it is free.
    async fn write(&self) -> Result<Self::Write<'_>>;

    /// Closes every connection, waiting for those in use. Later calls fail.
    async fn close(&self);

    /// Runs a statement; the rows it changed.
    async fn execute(conn: &mut Conn<Self>, sql: &str, args: Args) -> sqlx::Result<u64>;

    /// Runs a query; its first row, if any.
    async fn fetch_optional(
        conn: &mut Conn<Self>,
        sql: &str,
        args: Args,
    ) -> sqlx::Result<Option<Self::Row>>;

    /// Runs a query; all its rows.
    async fn fetch_all(
        conn: &mut Conn<Self>,
        sql: &str,
        args: Args,
    ) -> sqlx::Result<Vec<Self::Row>>;
}

/// The query `sql` with `args` bound, for a dialect's statement runners.
pub(crate) fn bound<'q, DB>(
    sql: &'q str,
    args: Args,
) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
where
    DB: Database,
    DB::Arguments<'q>: IntoArguments<'q, DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
{
    let mut query = sqlx::query::<DB>(sql);
    for arg in args {
        query = match arg {
            Arg::Int(value) => query.bind(value),
            Arg::Text(value) => query.bind(value),
        };
    }
    query
}
