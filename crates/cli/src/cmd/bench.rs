//! `plumbline bench gas`: the gas of one whole experiment run through the server in chain
//! mode. It starts anvil, deploys the market, starts the server in process (chain mode, test
//! clock, on a free port), drives an experimenter and its labelers through the HTTP API, moves
//! chain time in step with the server's clock, and once the server has relayed, settled, paid
//! and refunded everything on chain, sums the gas of every transaction sent to the market,
//! from the receipts, by the function it called.
//!
//! Before it reports, it checks the money: every labeler's market balance is exactly its
//! deposit less its stakes plus its payout, the creator's is the refund, the burn address
//! holds what was burned, and the market holds exactly the balances it owes. With
//! `--direct-commits N`, N labelers never send their commit to the server: they send it to the
//! contract themselves, and must still be revealed, settled and paid.

use crate::exit::bad_input;
use anyhow::{Context, anyhow, bail, ensure};
use clap::{Args, Subcommand};
use plumbline_chain::anvil::DEV_KEYS;
use plumbline_chain::{Anvil, BatchCommit, Market, Terms};
use plumbline_client::Client;
use plumbline_client::api::{BatchView, ClockRequest, CreateRequest, ExperimentView};
use plumbline_core::client::{LabelerKey, RevealedLabel, SignedJoin};
use plumbline_core::label::Label;
use plumbline_core::record::PublicRecord;
use plumbline_core::synthetic::{SplitMix64, binary_spec};
use plumbline_core::task::Task;
use plumbline_core::{Address, Amount, B256, U256};
use plumbline_server::chain::ChainConfig;
use plumbline_server::{AppState, Config, app, scheduler};
use serde_json::{Value, json};
use std::future::IntoFuture;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `plumbline bench` subcommands.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Gas of a whole experiment through the server in chain mode, on a fresh anvil.
    Gas(GasArgs),
}

/// Arguments of `bench gas`.
#[derive(Args)]
pub struct GasArgs {
    /// Regular tasks.
    #[arg(long, default_value_t = 1_000)]
    pub tasks: u32,
    /// Labels per task.
    #[arg(long, default_value_t = 5)]
    pub overlap: u32,
    /// Tasks per batch (the spec's block size).
    #[arg(long, default_value_t = 50)]
    pub tasks_per_batch: u32,
    /// Batches each labeler takes.
    #[arg(long, default_value_t = 2)]
    pub batches_per_labeler: u32,
    /// Entries per relay transaction.
    #[arg(long, default_value_t = plumbline_server::chain::RELAY_ENTRIES)]
    pub relay_entries: usize,
    /// Labelers whose commit never reaches the server: they commit on chain themselves.
    #[arg(long, default_value_t = 0)]
    pub direct_commits: u32,
    /// Seed of the labelers' keys and answers.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the experiment's public record here.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The challenge window the experiment is created with: the contract's shortest.
const CHALLENGE_WINDOW_SECS: u32 = 3_600;
/// How long to wait for the server's relayer to reach a state before giving up.
const WAIT_SECS_MAX: u64 = 120;

/// Runs a `bench` subcommand.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Gas(args) => gas(args),
    }
}

/// A labeler of the run: its key and its client of the market.
struct Labeler {
    key: LabelerKey,
    market: Market,
}

fn gas(args: GasArgs) -> anyhow::Result<()> {
    if args.tasks == 0 || args.overlap == 0 || args.tasks_per_batch == 0 {
        return Err(bad_input("--tasks, --overlap and --tasks-per-batch must be positive"));
    }
    let batches = args.tasks.div_ceil(args.tasks_per_batch) * args.overlap;
    if args.batches_per_labeler == 0 || !batches.is_multiple_of(args.batches_per_labeler) {
        return Err(bad_input(format!(
            "--batches-per-labeler must divide the batch count ({batches})"
        )));
    }
    let labeler_count = batches / args.batches_per_labeler;
    if args.direct_commits > labeler_count {
        return Err(bad_input(format!(
            "--direct-commits is more than the {labeler_count} labelers"
        )));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let dir = std::env::temp_dir().join(format!("plumbline-bench-gas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = run_gas(&args, &runtime, &dir, batches, labeler_count);
    runtime.shutdown_timeout(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_gas(
    args: &GasArgs,
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    batches: u32,
    labeler_count: u32,
) -> anyhow::Result<()> {
    let anvil = Anvil::spawn()?;
    let rpc = anvil.endpoint();
    let operator = runtime.block_on(Market::deploy(&rpc, &DEV_KEYS[0], None))?;
    let creator_key = LabelerKey::from_bytes(&DEV_KEYS[1].0).context("a dev key")?;
    let creator = operator.with_key(&DEV_KEYS[1])?;
    eprintln!("market {} on anvil ({rpc})", operator.address());

    // The labelers: gas for their own transactions, tokens, and a deposit of one stake more
    // than their joins lock, so that their balances stay non-zero as a returning labeler's do.
    let mut spec = binary_spec(args.tasks_per_batch, args.overlap, 0);
    spec.title = format!("Gas bench: {} tasks x {}", args.tasks, args.overlap);
    spec.limits.batches_per_labeler_max = args.batches_per_labeler;
    let stake = spec.stake_per_batch;
    let deposit = stake * Amount::from(args.batches_per_labeler + 1);
    eprintln!("funding {labeler_count} labelers...");
    let labelers: Vec<Labeler> = (0..u64::from(labeler_count))
        .map(|i| {
            let key = LabelerKey::derived(args.seed, i);
            let market = operator.with_key(&B256::from(key.secret_bytes()))?;
            Ok(Labeler { key, market })
        })
        .collect::<anyhow::Result<_>>()?;
    runtime.block_on(async {
        for labeler in &labelers {
            let address = labeler.key.address();
            operator.set_native_balance(address, U256::from(10u64).pow(U256::from(18))).await?;
            operator.mint(address, deposit).await?;
            labeler.market.deposit(deposit).await?;
        }
        operator.mint(creator.account(), spec.reward_pool).await?;
        Ok::<_, plumbline_chain::Error>(())
    })?;
    let first_block = runtime.block_on(operator.block_number())? + 1;

    // The server, in process, in chain mode with a test clock.
    let store =
        runtime.block_on(plumbline_store::open(&dir.join("bench.db").display().to_string()))?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let local = listener.local_addr()?;
    let mut chain = ChainConfig::new(operator.clone());
    chain.relay_entries = args.relay_entries;
    let config = Config {
        test_clock: true,
        siwe_domain: local.to_string(),
        siwe_uri: format!("http://{local}"),
        tick: Duration::from_millis(100),
        chain: Some(chain),
        ..Config::default()
    };
    let state = AppState::new(store, config);
    let service = app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = runtime.spawn(axum::serve(listener, service).into_future());
    let server_now = state.now();
    let ticks = {
        // The scheduler spawns its task on the runtime it finds itself in.
        let _entered = runtime.enter();
        scheduler::spawn(state)
    };
    let server_url = format!("http://{local}");
    let anonymous = Client::new(&server_url);

    // Server and chain start at the same instant and move together.
    let now = runtime.block_on(operator.now())?.max(server_now) + 1;
    // Moves both to `to`, or just past the chain's latest block if that is later (anvil's
    // time runs on with the wall clock between blocks). Returns the time they are at.
    let advance = |to: u64| -> anyhow::Result<u64> {
        let to = to.max(runtime.block_on(operator.now())? + 1);
        runtime.block_on(operator.mine_at(to))?;
        let _: Value = anonymous.post("/test/clock", &ClockRequest { now: to })?;
        Ok(to)
    };
    let now = advance(now)?;
    spec.commit_deadline = now + 3_600;
    spec.reveal_deadline = spec.commit_deadline + 3_600;

    // The experimenter: create, import, escrow on chain, fund, open.
    let mut api = Client::new(&server_url);
    api.login(&creator_key)?;
    let created: ExperimentView =
        api.post_once("/experiments", &CreateRequest { spec: serde_json::to_value(&spec)? })?;
    let id = created.experiment_id;
    let tasks: Vec<String> = (0..args.tasks)
        .map(|i| {
            let task = Task {
                id: format!("task-{i}"),
                prompt: format!("Question {i}").into(),
                responses: Vec::new(),
                gold: None,
                meta: Default::default(),
            };
            serde_json::to_string(&task).expect("a task serializes")
        })
        .collect();
    let _: Value = api.post_text(
        &format!("/experiments/{id}/tasks"),
        "application/x-ndjson",
        &tasks.join("\n"),
    )?;
    let view: ExperimentView = api.get(&format!("/experiments/{id}"))?;
    let domain = view.domain();
    let served = view.spec;
    let chain_info: Value = api.get("/chain")?;
    let operator_address: Address =
        chain_info["operator"].as_str().and_then(|s| s.parse().ok()).context("no operator")?;
    let terms = Terms::of_spec(&served, operator_address, Address::ZERO, CHALLENGE_WINDOW_SECS);
    runtime.block_on(creator.create_experiment(id, &terms))?;
    let _: Value = api.post_once(&format!("/experiments/{id}/fund"), &json!({}))?;
    let _: Value = api.post_once(&format!("/experiments/{id}/open"), &json!({}))?;

    // Joins and commits, each labeler a batch at a time; the first `direct_commits` labelers
    // send their first commit to the contract instead of the server.
    eprintln!("{batches} batches through join and commit...");
    let mut rng = SplitMix64::new(args.seed);
    let truth: Vec<i64> = (0..args.tasks).map(|_| i64::from(rng.chance(500_000))).collect();
    let mut reveals = Vec::new();
    let mut direct = Vec::new();
    for round in 0..u64::from(args.batches_per_labeler) {
        for (index, labeler) in labelers.iter().enumerate() {
            let key = &labeler.key;
            let join: SignedJoin = key.join(&domain, id, None, stake, round);
            let batch: BatchView = anonymous.post(&format!("/experiments/{id}/join"), &join)?;
            let batch_id = batch.batch_id;
            let labels: Vec<RevealedLabel> = batch
                .tasks
                .iter()
                .map(|t| {
                    // A batch names its tasks by position; the prompt says which task it is.
                    let position = t.task;
                    let text = t.prompt.to_text();
                    let index =
                        text.strip_prefix("Question ").and_then(|p| p.parse::<usize>().ok());
                    let truth = index.and_then(|i| truth.get(i).copied()).unwrap_or(0);
                    let answer = if rng.chance(900_000) { truth } else { 1 - truth };
                    RevealedLabel { task: position, label: Label::Int(answer) }
                })
                .collect();
            let commit = key.commit(&domain, id, batch_id, &labels)?;
            if round == 0 && (index as u32) < args.direct_commits {
                let entry = BatchCommit { labeler: key.address(), batch_id, commit };
                runtime.block_on(labeler.market.commit_batches(id, &[entry], 1))?;
                direct.push((key.address(), batch_id));
            } else {
                let path = format!("/experiments/{id}/batches/{batch_id}/commit");
                let _: Value = anonymous.post(&path, &commit)?;
            }
            reveals.push((batch_id, key.reveal(&domain, id, batch_id, labels)?));
        }
    }
    // The last, partial relay transactions go once their oldest entries have waited.
    advance(now + plumbline_server::chain::RELAY_WAIT_SECS)?;
    let relayed = wait_for(&anonymous, id, "every join and commit relayed", |s| {
        s["joins"] == batches
            && s["commits"] == batches
            && s["joins_relayed"] == batches
            && s["commits_relayed"] == batches
    })?;
    eprintln!(
        "relayed: {} stake locks, {} commits",
        relayed["joins_relayed"], relayed["commits_relayed"]
    );

    // Reveals after the commit deadline, then settlement after the reveal deadline.
    advance(spec.commit_deadline)?;
    for (batch_id, reveal) in &reveals {
        let path = format!("/experiments/{id}/batches/{batch_id}/reveal");
        let _: Value = anonymous.post(&path, reveal)?;
    }
    advance(spec.reveal_deadline)?;
    wait_for(&anonymous, id, "the settlement posted on chain", |s| !s["settle_tx"].is_null())?;
    let held = runtime.block_on(operator.experiment(id))?;
    advance(held.rootPostedAt + u64::from(held.challengeWindowSecs) + 1)?;
    let done = wait_for(&anonymous, id, "payouts and refund paid on chain", |s| {
        !s["refund_tx"].is_null()
    })?;
    let last_block = runtime.block_on(operator.block_number())?;
    let record_text =
        String::from_utf8(anonymous.get_bytes(&format!("/experiments/{id}/record"), &[])?)?;
    let record = PublicRecord::from_json(&record_text).map_err(|e| anyhow!("the record: {e}"))?;
    ticks.abort();
    server.abort();

    // The money, exactly.
    let settlement = &record.settlement;
    ensure!(
        record.chain_id == operator.chain_id() && record.verifying_contract == operator.address()
    );
    let balances_checked = runtime.block_on(async {
        let mut owed = U256::ZERO;
        for labeler in &labelers {
            let address = labeler.key.address();
            let payout =
                settlement.labelers.iter().find(|l| l.labeler == address).map_or(0, |l| l.payout);
            let stakes = stake * Amount::from(args.batches_per_labeler);
            let expected = U256::from(deposit - stakes) + U256::from(payout);
            let actual = operator.balance_of(address).await?;
            ensure!(
                actual == expected,
                "{address}: market balance {actual}, the settlement says {expected}"
            );
            owed += actual;
        }
        let refund = operator.balance_of(creator.account()).await?;
        ensure!(
            refund == U256::from(settlement.totals.refund),
            "the creator's market balance is {refund}, the refund {}",
            settlement.totals.refund
        );
        owed += refund;
        let burn: Address = "0x000000000000000000000000000000000000dEaD".parse()?;
        let burned = operator.token_balance(burn).await?;
        ensure!(
            burned == U256::from(settlement.totals.burned),
            "burned {burned}, the settlement says {}",
            settlement.totals.burned
        );
        let held = operator.token_balance(operator.address()).await?;
        ensure!(held == owed, "the market holds {held} tokens and owes {owed}");
        Ok::<_, anyhow::Error>(labelers.len() + 1)
    })?;
    let mut adopted = Vec::new();
    for (labeler, batch_id) in &direct {
        let result = settlement.labelers.iter().find(|l| l.labeler == *labeler);
        let revealed = result.map_or(0, |l| l.revealed_batches);
        if !record.commits.iter().any(|c| c.batch_id == *batch_id) || revealed == 0 {
            bail!("{labeler}'s commit to batch {batch_id} sent on chain was not settled");
        }
        adopted.push(json!({
            "labeler": labeler,
            "batch_id": batch_id,
            "payout": result.map_or(0, |l| l.payout).to_string(),
        }));
    }
    if let Some(path) = &args.record {
        std::fs::write(path, &record_text)
            .map_err(|e| bad_input(format!("cannot write {}: {e}", path.display())))?;
    }

    // The gas, from the receipts of every market transaction since the deposits.
    let by_call = runtime.block_on(operator.gas_by_call(first_block, last_block))?;
    let gas_total: u64 = by_call.iter().map(|(_, _, gas)| gas).sum();
    let labels = u64::from(args.tasks) * u64::from(args.overlap);
    let gas_per_label = gas_total / labels;
    let breakdown: serde_json::Map<String, Value> = by_call
        .iter()
        .map(|(name, count, gas)| (name.clone(), json!({ "transactions": count, "gas": gas })))
        .collect();
    if args.json {
        let document = json!({
            "tasks": args.tasks,
            "overlap": args.overlap,
            "tasks_per_batch": args.tasks_per_batch,
            "batches": batches,
            "labelers": labeler_count,
            "labels": labels,
            "relay_entries": args.relay_entries,
            "experiment_id": id,
            "gas_total": gas_total,
            "gas_per_label": gas_per_label,
            "gas": breakdown,
            "direct_commits": adopted,
            "balances_checked": balances_checked,
            "relay": done,
        });
        println!("{document}");
    } else {
        println!(
            "{labels} labels ({} tasks x {}, {batches} batches of {}, {labeler_count} labelers) \
             through the server: {gas_total} gas, {gas_per_label} per label",
            args.tasks, args.overlap, args.tasks_per_batch
        );
        for (name, count, gas) in &by_call {
            println!("  {name}: {count} transactions, {gas} gas");
        }
    }
    Ok(())
}

/// Polls the experiment's relay state until `done` holds for it.
fn wait_for(
    api: &Client,
    id: B256,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let started = Instant::now();
    loop {
        let status: Value = api.get(&format!("/experiments/{id}/chain"))?;
        if done(&status) {
            return Ok(status);
        }
        if started.elapsed() > Duration::from_secs(WAIT_SECS_MAX) {
            bail!("waited {WAIT_SECS_MAX} s for {what}; the relay stands at {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
