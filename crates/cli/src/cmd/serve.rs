//! `plumbline serve`: the market server over HTTP on a SQLite file or a PostgreSQL database,
//! with the scheduler that moves phases at deadlines and settles. Logs go to stderr; SIGINT or
//! SIGTERM stop it gracefully (requests in flight finish).

use crate::exit::bad_input;
use anyhow::Context;
use clap::Args;
use plumbline_core::client::LabelerKey;
use plumbline_core::{Address, Amount};
use plumbline_server::chain::ChainConfig;
use plumbline_server::{AppState, Config, app, demo, scheduler};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Arguments of `serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// The database: a SQLite file, created if missing, or a PostgreSQL URL
    /// (`postgres://user@host:port/database`).
    #[arg(long, default_value = "plumbline.db")]
    pub db: String,
    /// Where to listen (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Set up a demo: keys for an operator and four labelers beside the database file, or in
    /// `plumbline-demo-keys/` for PostgreSQL (created once), credits, and an open pairwise
    /// experiment.
    #[arg(long)]
    pub demo: bool,
    /// The address allowed to mint credits (with --demo, the demo operator's by default).
    #[arg(long)]
    pub operator: Option<String>,
    /// The URL users reach the server at (for example `https://labels.example.org` behind a
    /// proxy): Sign-In with Ethereum messages name its host, and wallets check that it is the
    /// site asking. By default `http://` and the listening address.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Add `POST /api/v1/test/clock` and let the clock move only through it. For tests.
    #[arg(long)]
    pub test_clock: bool,
    /// Chain mode: the JSON-RPC endpoint of the chain holding the money (with --market and
    /// --operator-key).
    #[arg(long, requires_all = ["market", "operator_key"])]
    pub chain_rpc: Option<String>,
    /// Chain mode: the `PlumblineMarket` contract.
    #[arg(long, requires = "chain_rpc")]
    pub market: Option<String>,
    /// Chain mode: the operator's key file (as `plumbline keys new` writes it); it relays
    /// joins and commits and posts settlements.
    #[arg(long, requires = "chain_rpc")]
    pub operator_key: Option<PathBuf>,
    /// A key file (as `plumbline keys new` writes it) labelers may seal their reveals to at
    /// commit, so that the server reveals for them when the commit deadline passes. Whoever
    /// holds it can read sealed labels before then (with --demo, the demo operator's key).
    #[arg(long)]
    pub sealing_key: Option<PathBuf>,
    /// A testing faucet: any signed-in account may top its available credits up to AMOUNT
    /// from the browser or `POST /api/v1/ledger/faucet` (embedded ledger only; with --demo,
    /// 100000 unless given).
    #[arg(long, value_name = "AMOUNT")]
    pub faucet: Option<String>,
    /// How often the full ledger check runs, whose verdict `GET /health` reports (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub ledger_check_every: u64,
    /// Threads that handle requests (by default one per core). Several replicas sharing one
    /// machine do best with the cores split between them (`docs/scaling.md`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=THREADS_MAX as i64))]
    pub threads: Option<u16>,
    /// PostgreSQL connections this server keeps. Replicas that share one database share its
    /// `max_connections` too (100 by default), so many replicas want fewer each.
    #[arg(long, value_name = "N", default_value_t = plumbline_store::PG_CONNECTIONS_DEFAULT,
          value_parser = clap::value_parser!(u32).range(1..=DB_CONNECTIONS_MAX as i64))]
    pub db_connections: u32,
}

/// The most request threads `--threads` may ask for.
const THREADS_MAX: u16 = 512;

/// The most PostgreSQL connections `--db-connections` may ask for.
const DB_CONNECTIONS_MAX: u32 = 1024;

/// What the faucet tops accounts up to with --demo: the demo's reward pool, so that a new
/// experimenter can fund one like it from the browser.
const DEMO_FAUCET: Amount = 100_000;

/// `--faucet AMOUNT`: 1 to 10^36 base units.
fn faucet_amount(text: &str) -> anyhow::Result<Amount> {
    match text.parse::<Amount>() {
        Ok(amount) if amount > 0 && amount <= plumbline_core::limits::AMOUNT_MAX => Ok(amount),
        _ => Err(bad_input(format!(
            "--faucet {text:?}: expected a whole number of credits from 1 to 10^36"
        ))),
    }
}

/// Demo labelers created beside the database.
const DEMO_LABELERS: usize = 4;

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.into());
    }
    let runtime = runtime.enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

/// The host (with its port, if any) and the URL of `--public-url`, as EIP-4361 names them.
fn public_origin(url: &str) -> Result<(String, String), String> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(['@', ' ']) {
        return Err(format!("{url:?} has no host, or one with credentials or spaces"));
    }
    Ok((host.to_string(), url.to_string()))
}

fn init_logging() {
    // RUST_LOG may name a level (error, warn, info, debug, trace); info otherwise.
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing_subscriber::filter::LevelFilter>().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    // Colours only for a terminal, so logs written to files stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_max_level(level)
        .init();
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // What needs the embedded ledger is refused before anything is written or connected.
    if args.chain_rpc.is_some() && args.demo {
        return Err(bad_input("--demo runs on the embedded ledger; leave out --chain-rpc"));
    }
    if args.chain_rpc.is_some() && args.faucet.is_some() {
        return Err(bad_input(
            "--faucet issues credits in the embedded ledger; in chain mode the money is tokens",
        ));
    }
    if args.ledger_check_every == 0 {
        return Err(bad_input("--ledger-check-every must be at least 1 second"));
    }
    let addr: SocketAddr =
        args.addr.parse().map_err(|e| bad_input(format!("--addr {:?}: {e}", args.addr)))?;
    let public = match &args.public_url {
        Some(url) => Some(public_origin(url).map_err(|e| bad_input(format!("--public-url: {e}")))?),
        None => None,
    };
    let mut operator = match &args.operator {
        Some(text) => {
            Some(text.parse::<Address>().map_err(|e| bad_input(format!("--operator: {e}")))?)
        }
        None => None,
    };
    let demo_keys = if args.demo { Some(demo_keys(&args.db)?) } else { None };
    let mut sealing_key = match &args.sealing_key {
        Some(path) => Some(read_key(path)?.sealing_key()),
        None => None,
    };
    if let Some((_, keys)) = &demo_keys {
        operator = operator.or(Some(keys[0].1.address()));
        sealing_key = sealing_key.or(Some(keys[0].1.sealing_key()));
    }

    let faucet = match &args.faucet {
        Some(text) => Some(faucet_amount(text)?),
        None => args.demo.then_some(DEMO_FAUCET),
    };
    let chain = match &args.chain_rpc {
        Some(rpc) => Some(connect_chain(rpc, &args).await?),
        None => None,
    };

    let store = plumbline_store::open_with_pool(&args.db, args.db_connections)
        .await
        .with_context(|| format!("cannot open the database {}", shown_db(&args.db)))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let config = Config {
        operator,
        test_clock: args.test_clock,
        siwe_domain: public.as_ref().map_or_else(|| local.to_string(), |p| p.0.clone()),
        siwe_uri: public.map_or_else(|| format!("http://{local}"), |p| p.1),
        chain,
        sealing_key,
        faucet,
        ledger_check_every: std::time::Duration::from_secs(args.ledger_check_every),
        ..Config::default()
    };
    let state = AppState::new(store.clone(), config);

    // A ledger that does not balance means tampering or a bug: refuse to serve on it.
    let report = state.check_ledger().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !report.balanced {
        anyhow::bail!("the ledger check failed: {}", report.problems.join("; "));
    }
    tracing::info!(
        db = %shown_db(&args.db),
        journal_entries = report.journal_entries,
        "ledger balanced"
    );

    if let Some((dir, keys)) = &demo_keys {
        let labelers: Vec<Address> = keys[1..].iter().map(|(_, k)| k.address()).collect();
        let seeded = demo::seed(&state, keys[0].1.address(), &labelers)
            .await
            .map_err(|e| anyhow::anyhow!("cannot set up the demo: {e}"))?;
        // `/health` reports the last check: let it count the demo's own entries.
        state.check_ledger().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        print_demo(local, dir, keys, seeded);
    }

    let scheduler = scheduler::spawn(state.clone());
    let ledger_checks = scheduler::spawn_ledger_checks(state.clone());
    tracing::info!(url = %format!("http://{local}/api/v1"), "listening");
    let header_read_timeout = state.config().header_read_timeout;
    plumbline_server::listen::serve(listener, app(state), header_read_timeout, shutdown_signal())
        .await;
    scheduler.abort();
    ledger_checks.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The market of `--market` on `rpc`, as the client of `--operator-key`'s account.
async fn connect_chain(rpc: &str, args: &ServeArgs) -> anyhow::Result<ChainConfig> {
    let market = args.market.as_deref().unwrap_or_default();
    let market: Address =
        market.trim().parse().map_err(|e| bad_input(format!("--market `{market}`: {e}")))?;
    let key_file = args.operator_key.as_deref().expect("clap requires --operator-key");
    let key = read_key(key_file)?;
    let secret = plumbline_core::B256::from(key.secret_bytes());
    let client = plumbline_chain::Market::connect(rpc, &secret, market)
        .await
        .with_context(|| format!("cannot reach market {market} at {rpc}"))?;
    tracing::info!(
        chain_id = client.chain_id(),
        %market,
        operator = %client.account(),
        "chain mode: money in the market contract"
    );
    Ok(ChainConfig::new(client))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// The `--db` value fit for logs and errors: a PostgreSQL URL without its password.
fn shown_db(db: &str) -> String {
    let Some((scheme, rest)) =
        db.split_once("://").filter(|_| plumbline_store::is_postgres_url(db))
    else {
        return db.to_string();
    };
    // The credentials end at the last '@' before the path.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
            format!("{scheme}://{user}@{host}{}", &rest[authority_end..])
        }
        None => db.to_string(),
    }
}

/// The demo's keys, read from their folder or created there once: `operator.json` and
/// `labeler-N.json`, each `{"address", "private_key"}` like `keys new`. The folder is beside
/// a SQLite file (`NAME-demo-keys`); a PostgreSQL database has no place on this disk, so its
/// keys go in `plumbline-demo-keys` in the current directory.
fn demo_keys(db: &str) -> anyhow::Result<(PathBuf, Vec<(PathBuf, LabelerKey)>)> {
    let dir = if plumbline_store::is_postgres_url(db) {
        PathBuf::from("plumbline-demo-keys")
    } else {
        let db = Path::new(db);
        let stem = db.file_stem().and_then(|s| s.to_str()).unwrap_or("plumbline");
        db.with_file_name(format!("{stem}-demo-keys"))
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| bad_input(format!("cannot create {}: {e}", dir.display())))?;
    let names = std::iter::once("operator".to_string())
        .chain((1..=DEMO_LABELERS).map(|i| format!("labeler-{i}")));
    let mut keys = Vec::new();
    for name in names {
        let path = dir.join(format!("{name}.json"));
        let key = if path.exists() { read_key(&path)? } else { write_new_key(&path)? };
        keys.push((path, key));
    }
    Ok((dir, keys))
}

pub(crate) fn read_key(path: &Path) -> anyhow::Result<LabelerKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad_input(format!("cannot read {}: {e}", path.display())))?;
    let document: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad_input(format!("{} is not a key file: {e}", path.display())))?;
    let secret = document["private_key"]
        .as_str()
        .and_then(|s| alloy_hex_32(s.trim_start_matches("0x")))
        .and_then(|bytes| LabelerKey::from_bytes(&bytes))
        .ok_or_else(|| bad_input(format!("{} has no valid private_key", path.display())))?;
    Ok(secret)
}

fn alloy_hex_32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(bytes)
}

fn write_new_key(path: &Path) -> anyhow::Result<LabelerKey> {
    let key = super::keys::new_key()?;
    let secret: String = key.secret_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let document = serde_json::json!({
        "address": key.address().to_string(),
        "private_key": format!("0x{secret}"),
    });
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| bad_input(format!("cannot create {}: {e}", path.display())))?;
    writeln!(file, "{document:#}")?;
    Ok(key)
}

fn print_demo(
    local: SocketAddr,
    dir: &Path,
    keys: &[(PathBuf, LabelerKey)],
    seeded: demo::DemoSeed,
) {
    let url = format!("http://{local}");
    let id = seeded.experiment_id;
    let state = if seeded.created { "created and opened" } else { "already set up" };
    eprintln!("demo: experiment {id} {state}; keys in {}:", dir.display());
    for (path, key) in keys {
        eprintln!("  {}  {}", key.address(), path.display());
    }
    let labeler = keys[1].0.display();
    eprintln!("try it:");
    eprintln!("  open {url}/ in a browser and import a labeler key file (Import a key)");
    eprintln!("  or create a key there and take test credits from the faucet (Your account)");
    eprintln!("  curl {url}/api/v1/experiments/{id}");
    eprintln!("  plumbline labeler join {id} --key {labeler} --server {url}");
}

#[cfg(test)]
mod tests {
    use super::public_origin;

    #[test]
    fn the_public_url_names_the_host_users_see() {
        let origin = |u: &str| public_origin(u).map(|(host, uri)| format!("{host} {uri}"));
        assert_eq!(
            origin("https://labels.example.org/").unwrap(),
            "labels.example.org https://labels.example.org"
        );
        assert_eq!(
            origin("http://10.0.0.2:8080/plumbline").unwrap(),
            "10.0.0.2:8080 http://10.0.0.2:8080/plumbline"
        );
        for bad in ["labels.example.org", "ftp://x", "https://", "https://user@x"] {
            assert!(public_origin(bad).is_err(), "{bad}");
        }
    }
}
