//! The two gas measurements: one experiment of a [`Shape`] run by the simulator's market loop,
//! relayed on a fresh anvil either from the core in process ([`relay_gas`]) or by the server
//! in chain mode ([`server_gas`]). Each sums the gas of every market transaction after the
//! labelers' one-time deposits (which serve every later experiment), from the receipts, by
//! the function called, and checks the money to the base unit before it reports.

use crate::chain::{ChainLabeler, check_money, fund_labelers, gas_by_call};
use crate::relayed::Relayed;
use crate::served::Served;
use crate::shape::{STAKE_PER_BATCH, Shape};
use anyhow::{Context, anyhow, bail};
use plumbline_chain::anvil::DEV_KEYS;
use plumbline_chain::{Anvil, Market};
use plumbline_core::client::LabelerKey;
use plumbline_core::record::PublicRecord;
use plumbline_server::chain::ChainConfig;
use plumbline_server::{AppState, Config, app, scheduler};
use plumbline_sim::market;
use plumbline_sim::servers::{ServerTarget, Servers};
use serde_json::{Value, json};
use std::future::IntoFuture;
use std::time::Duration;
use tokio::runtime::Runtime;

/// What a gas run measured.
pub struct Measured {
    /// The experiment's public record.
    pub record: PublicRecord,
    /// The report, as `--json` prints it.
    pub report: Value,
}

/// A fresh anvil with the market deployed by its first dev key.
fn deploy(runtime: &Runtime) -> anyhow::Result<(Anvil, Market)> {
    let anvil = Anvil::spawn()?;
    let operator = runtime.block_on(Market::deploy(&anvil.endpoint(), &DEV_KEYS[0], None))?;
    eprintln!("market {} on anvil ({})", operator.address(), anvil.endpoint());
    Ok((anvil, operator))
}

/// Funds the run's labelers on chain (see [`fund_labelers`]) before anything is measured.
fn labelers(
    shape: &Shape,
    runtime: &Runtime,
    operator: &Market,
) -> anyhow::Result<Vec<ChainLabeler>> {
    let keys: Vec<LabelerKey> =
        (0..shape.labelers() as usize).map(|i| market::identity_key(shape.seed, i)).collect();
    let deposit = u128::from(STAKE_PER_BATCH) * u128::from(shape.batches_per_labeler + 1);
    fund_labelers(runtime, operator, &keys, deposit)
}

/// The report's common part: the shape, the gas and the checked balances.
fn report(shape: &Shape, record: &PublicRecord, gas_total: u64, gas: Value) -> Value {
    let labels = shape.labels();
    json!({
        "tasks": shape.tasks,
        "overlap": shape.overlap,
        "tasks_per_batch": shape.tasks_per_batch,
        "batches": record.joins.len(),
        "labelers": shape.labelers(),
        "labels": labels,
        "relay_entries": shape.relay_entries,
        "experiment_id": record.experiment_id,
        "gas_total": gas_total,
        "gas_per_label": gas_total / labels,
        "gas": gas,
    })
}

/// One experiment run by the core in process and relayed on chain as the operator would.
pub fn relay_gas(shape: &Shape, runtime: &Runtime) -> anyhow::Result<Measured> {
    shape.check()?;
    let scenario = shape.scenario()?;
    let (_anvil, operator) = deploy(runtime)?;
    let labelers = labelers(shape, runtime, &operator)?;
    let first_block = runtime.block_on(operator.block_number())? + 1;
    let mut venue = Relayed::new(shape.seed, runtime, &operator, shape.relay_entries);
    eprintln!("running {} batches through join, commit and reveal...", shape.batches());
    let run = market::run(&scenario, None, shape.seed, &mut venue)?;
    let last_block = runtime.block_on(operator.block_number())?;
    let record = run.rounds.into_iter().next().context("the run has a round")?.record;
    let creator = operator.account();
    let balances_checked =
        check_money(runtime, &operator, &record, &labelers, creator, Default::default())?;
    let (gas_total, gas) = gas_by_call(runtime, &operator, first_block, last_block)?;
    let mut report = report(shape, &record, gas_total, gas);
    report["balances_checked"] = json!(balances_checked);
    Ok(Measured { record, report })
}

/// The server in process, in chain mode on `operator`'s market with a test clock, on a free
/// port and a SQLite file in `dir`, with its scheduler.
struct ChainServer {
    url: String,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    ticks: tokio::task::JoinHandle<()>,
}

impl ChainServer {
    fn start(
        runtime: &Runtime,
        operator: &Market,
        relay_entries: usize,
        dir: &std::path::Path,
    ) -> anyhow::Result<ChainServer> {
        let db = dir.join("bench.db").display().to_string();
        let store = runtime.block_on(plumbline_store::open(&db))?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let local = listener.local_addr()?;
        let mut chain = ChainConfig::new(operator.clone());
        chain.relay_entries = relay_entries;
        let config = Config {
            test_clock: true,
            siwe_domain: local.to_string(),
            siwe_uri: format!("http://{local}"),
            tick: Duration::from_millis(100),
            chain: Some(chain),
            ..Config::default()
        };
        let state = AppState::new(store, config);
        let service =
            app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = runtime.spawn(axum::serve(listener, service).into_future());
        let ticks = {
            // The scheduler spawns its task on the runtime it finds itself in.
            let _entered = runtime.enter();
            scheduler::spawn(state)
        };
        Ok(ChainServer { url: format!("http://{local}"), server, ticks })
    }

    fn stop(self) {
        self.ticks.abort();
        self.server.abort();
    }
}

/// One experiment through the server in chain mode: the server runs in process (test clock,
/// on a free port, on a SQLite file in `dir`), its relayer puts everything on chain.
pub fn server_gas(
    shape: &Shape,
    direct_commits: u32,
    runtime: &Runtime,
    dir: &std::path::Path,
) -> anyhow::Result<Measured> {
    shape.check()?;
    if direct_commits > shape.labelers() {
        bail!("--direct-commits is more than the {} labelers", shape.labelers());
    }
    let scenario = shape.scenario()?;
    let (_anvil, operator) = deploy(runtime)?;
    let labelers = labelers(shape, runtime, &operator)?;

    let server = ChainServer::start(runtime, &operator, shape.relay_entries, dir)?;
    let operator_key = LabelerKey::from_bytes(&DEV_KEYS[0].0).context("a dev key")?;
    let target =
        ServerTarget { urls: vec![server.url.clone()], operator: operator_key, threads: 4 };
    let servers = Servers::connect(&target, shape.seed, &scenario.question.kind)?;
    let first_block = runtime.block_on(operator.block_number())? + 1;
    let mut venue = Served::new(servers, runtime, &operator, &labelers, direct_commits as usize);
    eprintln!("{} batches through join, commit and reveal...", shape.batches());
    let run = market::run(&scenario, None, shape.seed, &mut venue);
    server.stop();
    let record = run?.rounds.into_iter().next().context("the run has a round")?.record;
    let last_block = runtime.block_on(operator.block_number())?;

    let (creator, creator_before) = venue.creator;
    let balances_checked =
        check_money(runtime, &operator, &record, &labelers, creator, creator_before)?;
    let mut adopted = Vec::new();
    for (labeler, batch_id) in &venue.direct {
        let result = record.settlement.labelers.iter().find(|l| l.labeler == *labeler);
        let revealed = result.map_or(0, |l| l.revealed_batches);
        if !record.commits.iter().any(|c| c.batch_id == *batch_id) || revealed == 0 {
            return Err(anyhow!(
                "{labeler}'s commit to batch {batch_id} sent on chain was not settled"
            ));
        }
        adopted.push(json!({
            "labeler": labeler,
            "batch_id": batch_id,
            "payout": result.map_or(0, |l| l.payout).to_string(),
        }));
    }
    let (gas_total, gas) = gas_by_call(runtime, &operator, first_block, last_block)?;
    let mut report = report(shape, &record, gas_total, gas);
    report["balances_checked"] = json!(balances_checked);
    report["direct_commits"] = json!(adopted);
    report["relay"] = venue.relay.clone();
    Ok(Measured { record, report })
}
