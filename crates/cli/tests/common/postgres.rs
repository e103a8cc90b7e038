//! A fresh PostgreSQL database per test run, so that runs never share state.
//!
//! The server is found at `PLUMBLINE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`, as for the store tests;
//! `crates/store/ci-postgres.sh` starts it). A test that cannot reach it fails: a backend that
//! was not tested must not look like one that passed.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};
use std::str::FromStr;

/// Where the test PostgreSQL is unless `PLUMBLINE_TEST_POSTGRES` says otherwise.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database created for one test and dropped (`WITH (FORCE)`, so connections left open by
/// killed servers do not keep it) when this is dropped. Set `PLUMBLINE_KEEP_DB` to keep it
/// for a look after a failure.
pub struct PgDatabase {
    /// Its URL, for `serve --db` and `PgStore::open`.
    pub url: String,
    /// Its name.
    pub name: String,
    base: String,
}

/// A single-threaded runtime for the few async calls a synchronous test makes.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_end = head.find("://").map_or(0, |i| i + 3);
    let base = match head[authority_end..].find('/') {
        Some(slash) => &head[..authority_end + slash],
        None => head,
    };
    format!("{base}/{name}{query}")
}

/// A connection to the server's `postgres` database, for creating and dropping others.
async fn admin(base: &str) -> Result<PgConnection, String> {
    let options = PgConnectOptions::from_str(base)
        .map_err(|e| format!("PLUMBLINE_TEST_POSTGRES={base} is not a PostgreSQL URL: {e}"))?
        .database("postgres");
    PgConnection::connect_with(&options).await.map_err(|e| {
        format!(
            "PostgreSQL at {base} cannot be reached ({e}); start it with \
             `bash crates/store/ci-postgres.sh` or point PLUMBLINE_TEST_POSTGRES at one"
        )
    })
}

impl PgDatabase {
    /// Creates `plumbline_<prefix>_<pid>_<nanos>` on the test server.
    pub fn fresh(prefix: &str) -> PgDatabase {
        let base = std::env::var("PLUMBLINE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("plumbline_{prefix}_{}_{nanos}", std::process::id());
        runtime().block_on(async {
            let mut conn = admin(&base).await.unwrap_or_else(|e| panic!("{e}"));
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap_or_else(|e| panic!("creating the database {name} on {base}: {e}"));
        });
        PgDatabase { url: with_database(&base, &name), name, base }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if std::env::var_os("PLUMBLINE_KEEP_DB").is_some() {
            eprintln!("kept the database {}", self.url);
            return;
        }
        let (base, name) = (self.base.clone(), self.name.clone());
        runtime().block_on(async move {
            let dropped = match admin(&base).await {
                Ok(mut conn) => conn
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            if let Err(e) = dropped {
                eprintln!("dropping the database {name}: {e}");
            }
        });
    }
}
