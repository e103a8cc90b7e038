//! Chain mode against a real anvil, with the relayer driven pass by pass: stake locks and
//! commits the relayer sent before a crash (on chain, but not in its stored state) are neither
//! refused nor sent twice after a restart; a commit a labeler sent to the contract itself is
//! adopted, revealed and settled; the settlement is posted (again after a challenge), paid and
//! refunded once, and every market balance ends exactly as the settlement says.
//!
//! Needs anvil: `bash contracts/ci.sh` installs it; without it this test fails and says so.

mod common;

use axum::http::StatusCode;
use common::{Harness, config, id_of};
use plumbline_chain::anvil::DEV_KEYS;
use plumbline_chain::{Anvil, BatchCommit, Market, Terms};
use plumbline_core::client::{LabelerKey, RevealedLabel, SignedCommit, SignedJoin};
use plumbline_core::eip712;
use plumbline_core::label::Label;
use plumbline_core::settle::Settlement;
use plumbline_core::spec::ExperimentSpec;
use plumbline_core::synthetic::binary_spec;
use plumbline_core::{Address, Amount, B256, U256};
use plumbline_server::Config;
use plumbline_server::chain::ChainConfig;
use serde_json::{Value, json};

fn chain_config(market: &Market) -> Config {
    let mut chain = ChainConfig::new(market.clone());
    // Two entries a transaction, sent at once: several relays from three labelers.
    chain.relay_entries = 2;
    chain.relay_wait_secs = 0;
    Config { chain: Some(chain), ..config() }
}

/// A market on a fresh anvil with a server in chain mode in front of it, and the experiment
/// creator's key and market handle (the second dev account).
struct Setup {
    /// Kept alive for the test's length: anvil stops when it drops.
    _anvil: Anvil,
    operator: Market,
    h: Harness,
    creator_key: LabelerKey,
    creator: Market,
}

async fn setup() -> Setup {
    let anvil = Anvil::spawn().unwrap_or_else(|e| panic!("{e}"));
    let operator = Market::deploy(&anvil.endpoint(), &DEV_KEYS[0], None).await.unwrap();
    let h = Harness::new(chain_config(&operator)).await;
    let creator_key = LabelerKey::from_bytes(&DEV_KEYS[1].0).unwrap();
    let creator = operator.with_key(&DEV_KEYS[1]).unwrap();
    Setup { _anvil: anvil, operator, h, creator_key, creator }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relayer_resumes_after_a_crash_adopts_direct_commits_reposts_a_challenged_settlement_and_pays()
 {
    let Setup { _anvil, operator, mut h, creator_key, creator } = setup().await;

    // Accounts: a creator with the pool in its wallet, three labelers with two stakes each in
    // the market.
    let mut spec = binary_spec(4, 3, 0);
    let stake = spec.stake_per_batch;
    operator.mint(creator.account(), spec.reward_pool).await.unwrap();
    let keys: Vec<LabelerKey> = (0..3).map(|i| LabelerKey::derived(11, i)).collect();
    let mut markets = Vec::new();
    for key in &keys {
        markets.push(funded_labeler(&operator, key, 2 * stake).await);
    }
    start_clocks(&h, &operator, &mut spec).await;

    let id = open_experiment(&h, &operator, &creator, &creator_key, &spec).await;
    let domain = eip712::domain(operator.chain_id(), operator.address());

    // Three joins. A fourth from a labeler without the market balance is refused.
    let mut batches = Vec::new();
    let mut joins: Vec<SignedJoin> = Vec::new();
    for key in &keys {
        let join = key.join(&domain, id, None, stake, 0);
        let (status, batch) =
            h.call("POST", &format!("/experiments/{id}/join"), None, Some(json!(join))).await;
        assert_eq!(status, StatusCode::CREATED, "{batch}");
        batches.push(batch);
        joins.push(join);
    }
    let poor = LabelerKey::derived(11, 9);
    let join = poor.join(&domain, id, None, stake, 0);
    let (status, refused) =
        h.call("POST", &format!("/experiments/{id}/join"), None, Some(json!(join))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "insufficient_funds");

    // A crash after the relay of the first two stake locks was mined but before it was
    // recorded: the next pass sends all three again, and the contract skips the two.
    operator.lock_stakes(id, &joins[..2], 50).await.unwrap();
    h.state.relay_tick().await;
    let status = relay(&h, id).await;
    assert_eq!(status["joins_relayed"], 3, "{status}");
    for key in &keys {
        assert_eq!(operator.position(id, key.address()).await.unwrap().joins, 1);
    }

    // Labelers 0 and 1 commit through the server; labeler 2 only on chain.
    let mut commits: Vec<SignedCommit> = Vec::new();
    for (key, batch) in keys.iter().zip(&batches) {
        let batch_id = batch["batch_id"].as_u64().unwrap();
        commits.push(key.commit(&domain, id, batch_id, &ones(batch)).unwrap());
    }
    for i in 0..2 {
        let batch_id = batches[i]["batch_id"].as_u64().unwrap();
        let path = format!("/experiments/{id}/batches/{batch_id}/commit");
        let (status, answer) = h.call("POST", &path, None, Some(json!(commits[i]))).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let direct = BatchCommit {
        labeler: keys[2].address(),
        batch_id: batches[2]["batch_id"].as_u64().unwrap(),
        commit: commits[2].clone(),
    };
    markets[2].commit_batches(id, &[direct], 1).await.unwrap();
    // Another crash: the first commit relayed but not recorded. Then a restart.
    let first = BatchCommit {
        labeler: keys[0].address(),
        batch_id: batches[0]["batch_id"].as_u64().unwrap(),
        commit: commits[0].clone(),
    };
    operator.commit_batches(id, &[first], 50).await.unwrap();
    h.restart(chain_config(&operator)).await;
    h.state.relay_tick().await;
    let status = relay(&h, id).await;
    assert_eq!(
        (status["commits"].clone(), status["commits_relayed"].clone()),
        (json!(3), json!(3)),
        "{status}"
    );
    let recorded = operator.commits(id, 0, B256::ZERO).await.unwrap();
    assert_eq!(recorded.len(), 3, "each commit is on chain once: {recorded:?}");
    assert!(recorded.iter().all(|c| c.signature.is_some()));

    // Reveals, all three (labeler 2's commit was adopted from the chain), then settlement.
    let mut now = spec.commit_deadline;
    both_clocks_at(&h, &operator, now).await;
    for (i, key) in keys.iter().enumerate() {
        let batch_id = batches[i]["batch_id"].as_u64().unwrap();
        let reveal = key.reveal(&domain, id, batch_id, ones(&batches[i])).unwrap();
        let path = format!("/experiments/{id}/batches/{batch_id}/reveal");
        let (status, answer) = h.call("POST", &path, None, Some(json!(reveal))).await;
        assert_eq!(status, StatusCode::CREATED, "labeler {i}: {answer}");
    }
    now = spec.reveal_deadline;
    both_clocks_at(&h, &operator, now).await;
    let settlement = settled(&h, id).await;
    assert_eq!(settlement.labelers.iter().map(|l| l.revealed_batches).sum::<u64>(), 3);
    h.state.relay_tick().await;
    let posted = relay(&h, id).await;
    assert!(posted["settle_tx"].is_string(), "{posted}");
    assert!(posted["distribute_tx"].is_null(), "paid only after the challenge window");
    let held = operator.experiment(id).await.unwrap();
    assert_eq!(held.payoutRoot, settlement.payout_root);

    // A challenge voids the posted settlement; the next pass posts it again rather than let
    // the experiment run into abandonment, where the pool would go back to the creator.
    operator.challenge(id).await.unwrap();
    assert!(operator.experiment(id).await.unwrap().payoutRoot.is_zero());
    h.state.relay_tick().await;
    let reposted = relay(&h, id).await;
    assert!(reposted["settle_tx"].is_string(), "{reposted}");
    assert_ne!(reposted["settle_tx"], posted["settle_tx"], "a new settle transaction");
    let held = operator.experiment(id).await.unwrap();
    assert_eq!(held.payoutRoot, settlement.payout_root);
    operator.mine_at(held.rootPostedAt + u64::from(held.challengeWindowSecs) + 1).await.unwrap();
    h.state.relay_tick().await;
    let done = relay(&h, id).await;
    assert!(done["distribute_tx"].is_string() && done["refund_tx"].is_string(), "{done}");
    // Once done, a pass sends nothing more.
    h.state.relay_tick().await;
    assert_eq!(relay(&h, id).await, done);

    // Every balance, exactly: the deposit less the stake plus the payout; the creator's
    // refund; the market holds what it owes, nothing more.
    let mut owed = U256::ZERO;
    for key in &keys {
        let payout =
            settlement.labelers.iter().find(|l| l.labeler == key.address()).unwrap().payout;
        let balance = operator.balance_of(key.address()).await.unwrap();
        assert_eq!(balance, U256::from(2 * stake - stake + payout), "{}", key.address());
        let (_, account) = h.call("GET", &format!("/accounts/{}", key.address()), None, None).await;
        assert_eq!(account["available"], balance.to_string());
        assert_eq!(account["locked"], "0");
        owed += balance;
    }
    let refund = operator.balance_of(creator.account()).await.unwrap();
    assert_eq!(refund, U256::from(settlement.totals.refund));
    owed += refund;
    let burn: Address = "0x000000000000000000000000000000000000dEaD".parse().unwrap();
    assert_eq!(operator.token_balance(burn).await.unwrap(), U256::from(settlement.totals.burned));
    assert_eq!(operator.token_balance(operator.address()).await.unwrap(), owed);
    let report = h.state.check_ledger().await.unwrap();
    assert!(report.balanced, "{:?}", report.problems);
    assert_eq!(report.journal_entries, 0, "chain mode moves no ledger money");
}

/// Creates an experiment of `spec` through the server, creates its escrow on chain as
/// `creator` (the operator may challenge), then funds and opens it. Returns its id.
async fn open_experiment(
    h: &Harness,
    operator: &Market,
    creator: &Market,
    creator_key: &LabelerKey,
    spec: &ExperimentSpec,
) -> B256 {
    let token = h.login(creator_key).await;
    let (status, created) =
        h.call("POST", "/experiments", Some(&token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = id_of(&created["experiment_id"]);
    assert_eq!(&id[..20], creator.account().as_slice(), "the id starts with the creator");
    let tasks: Vec<String> =
        (0..4).map(|i| json!({ "id": format!("t{i}"), "prompt": "?" }).to_string()).collect();
    let (status, _) = h
        .raw(
            "POST",
            &format!("/experiments/{id}/tasks"),
            Some(&token),
            "application/x-ndjson",
            Some(tasks.join("\n").into_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, view) = h.call("GET", &format!("/experiments/{id}"), None, None).await;
    let served: ExperimentSpec = serde_json::from_value(view["spec"].clone()).unwrap();
    // The operator may challenge (`fund` accepts it or nobody as challenger).
    let terms = Terms::of_spec(&served, operator.account(), operator.account(), 3_600);
    creator.create_experiment(id, &terms).await.unwrap();
    for action in ["fund", "open"] {
        let (status, answer) =
            h.call("POST", &format!("/experiments/{id}/{action}"), Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{action}: {answer}");
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_with_rounds_is_refused_in_chain_mode() {
    let Setup { _anvil, operator, h, creator_key, .. } = setup().await;
    let mut spec = binary_spec(4, 3, 0);
    start_clocks(&h, &operator, &mut spec).await;
    spec.limits.batches_per_labeler_max = 2;
    spec.rounds = Some(plumbline_core::rounds::Rounds {
        rule: Default::default(),
        count: 2,
        labels_max: 5,
        confidence: plumbline_core::fixed::Ppm::new(950_000).unwrap(),
        commit_within: plumbline_core::duration::Duration::from_secs(600),
        reveal_within: plumbline_core::duration::Duration::from_secs(600),
    });
    let token = h.login(&creator_key).await;
    let (status, answer) =
        h.call("POST", "/experiments", Some(&token), Some(json!({ "spec": spec }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("`rounds`"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_market_stake_cannot_back_joins_to_two_experiments() {
    let Setup { _anvil, operator, h, creator_key, creator } = setup().await;
    let mut spec = binary_spec(4, 3, 0);
    let stake = spec.stake_per_batch;
    operator.mint(creator.account(), 2 * spec.reward_pool).await.unwrap();
    start_clocks(&h, &operator, &mut spec).await;
    let first = open_experiment(&h, &operator, &creator, &creator_key, &spec).await;
    let second = open_experiment(&h, &operator, &creator, &creator_key, &spec).await;

    // One stake in the market, and no relay pass between the joins.
    let key = LabelerKey::derived(12, 0);
    let market = funded_labeler(&operator, &key, stake).await;
    let domain = eip712::domain(operator.chain_id(), operator.address());
    let join = |id| key.join(&domain, id, None, stake, 0);
    let (status, batch) =
        h.call("POST", &format!("/experiments/{first}/join"), None, Some(json!(join(first)))).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let (status, refused) = h
        .call("POST", &format!("/experiments/{second}/join"), None, Some(json!(join(second))))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "insufficient_funds");
    let (_, view) = h.call("GET", &format!("/experiments/{second}/stats"), None, None).await;
    assert_eq!(view["batches"]["joined"], 0, "the refused join is not in the log: {view}");

    // Once the first stake is locked on chain, the balance left is what counts: still none.
    h.state.relay_tick().await;
    assert_eq!(operator.position(first, key.address()).await.unwrap().joins, 1);
    let (status, refused) = h
        .call("POST", &format!("/experiments/{second}/join"), None, Some(json!(join(second))))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    // A second stake deposited pays for the second join.
    operator.mint(key.address(), stake).await.unwrap();
    market.deposit(stake).await.unwrap();
    let (status, batch) = h
        .call("POST", &format!("/experiments/{second}/join"), None, Some(json!(join(second))))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labeler_who_withdraws_after_joining_leaves_its_batch_unbacked_and_settlement_goes_on() {
    let Setup { _anvil, operator, h, creator_key, creator } = setup().await;
    // One block of four tasks, labelled by four.
    let mut spec = binary_spec(4, 4, 0);
    let stake = spec.stake_per_batch;
    operator.mint(creator.account(), spec.reward_pool).await.unwrap();
    start_clocks(&h, &operator, &mut spec).await;
    let id = open_experiment(&h, &operator, &creator, &creator_key, &spec).await;
    let domain = eip712::domain(operator.chain_id(), operator.address());

    // Four labelers with one stake each in the market join; before the relayer's pass,
    // labelers 2 and 3 withdraw their stakes.
    let keys: Vec<LabelerKey> = (0..4).map(|i| LabelerKey::derived(13, i)).collect();
    let mut markets = Vec::new();
    let mut batches = Vec::new();
    let mut joins = Vec::new();
    for key in &keys {
        let market = funded_labeler(&operator, key, stake).await;
        let join = key.join(&domain, id, None, stake, 0);
        let (status, batch) =
            h.call("POST", &format!("/experiments/{id}/join"), None, Some(json!(join))).await;
        assert_eq!(status, StatusCode::CREATED, "{batch}");
        batches.push(batch);
        joins.push(join);
        markets.push(market);
    }
    for market in &markets[2..] {
        market.withdraw(stake).await.unwrap();
    }

    // The relayer locks what is backed and moves past the rest instead of reverting on it.
    h.state.relay_tick().await;
    assert_eq!(relay(&h, id).await["joins_relayed"], 4);
    let locked = |i: usize| {
        let (operator, address) = (operator.clone(), keys[i].address());
        async move { operator.position(id, address).await.unwrap().joins }
    };
    assert_eq!((locked(0).await, locked(1).await, locked(2).await, locked(3).await), (1, 1, 0, 0));
    // Labeler 3 deposits again, but only the operator locks stakes, and it moved on: neither
    // the labeler nor the next pass locks that join now.
    operator.mint(keys[3].address(), stake).await.unwrap();
    markets[3].deposit(stake).await.unwrap();
    assert!(markets[3].lock_stakes(id, &joins[3..], 1).await.is_err());
    h.state.relay_tick().await;
    assert_eq!(locked(3).await, 0);

    // Everyone commits and reveals the same labels.
    let batch_ids: Vec<u64> = batches.iter().map(|b| b["batch_id"].as_u64().unwrap()).collect();
    for (i, key) in keys.iter().enumerate() {
        let commit = key.commit(&domain, id, batch_ids[i], &ones(&batches[i])).unwrap();
        let path = format!("/experiments/{id}/batches/{}/commit", batch_ids[i]);
        let (status, answer) = h.call("POST", &path, None, Some(json!(commit))).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    h.state.relay_tick().await;
    let mut now = spec.commit_deadline;
    both_clocks_at(&h, &operator, now).await;
    for (i, key) in keys.iter().enumerate() {
        let reveal = key.reveal(&domain, id, batch_ids[i], ones(&batches[i])).unwrap();
        let path = format!("/experiments/{id}/batches/{}/reveal", batch_ids[i]);
        let (status, answer) = h.call("POST", &path, None, Some(json!(reveal))).await;
        assert_eq!(status, StatusCode::CREATED, "labeler {i}: {answer}");
    }

    // Settlement: the batches of labelers 2 and 3 hold no stake and are not scored; the
    // rest as usual.
    now = spec.reveal_deadline;
    both_clocks_at(&h, &operator, now).await;
    let settlement = settled(&h, id).await;
    let result = |i: usize| settlement.labelers.iter().find(|l| l.labeler == keys[i].address());
    for i in [2, 3] {
        let unbacked = result(i).unwrap();
        assert_eq!((unbacked.stake, unbacked.revealed_batches, unbacked.payout), (0, 0, 0));
    }
    assert_eq!(settlement.totals.stakes, 2 * stake);
    assert!([0, 1].iter().all(|&i| result(i).unwrap().stake == stake));
    let (status, record) = h.call("GET", &format!("/experiments/{id}/record"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["unbacked"], json!([batch_ids[2], batch_ids[3]]), "{record}");
    let record: plumbline_core::record::PublicRecord = serde_json::from_value(record).unwrap();
    plumbline_core::record::audit(&record).unwrap_or_else(|e| panic!("{}", e.0));
    assert_eq!(record.exported().len(), 2, "unbacked batches' labels are not exported");

    // The contract takes the settlement and pays it.
    h.state.relay_tick().await;
    let held = operator.experiment(id).await.unwrap();
    assert_eq!(held.payoutRoot, settlement.payout_root, "{}", relay(&h, id).await);
    operator.mine_at(held.rootPostedAt + u64::from(held.challengeWindowSecs) + 1).await.unwrap();
    h.state.relay_tick().await;
    let done = relay(&h, id).await;
    assert!(done["distribute_tx"].is_string() && done["refund_tx"].is_string(), "{done}");
    // Labeler 3 keeps the stake it deposited again; nobody else holds anything but its payout.
    for (i, key) in keys.iter().enumerate() {
        let kept = if i == 3 { stake } else { 0 };
        let balance = operator.balance_of(key.address()).await.unwrap();
        assert_eq!(balance, U256::from(result(i).unwrap().payout + kept), "labeler {i}");
    }
}

/// Starts the chain's clock and the server's together, a second past the later of them, and
/// sets `spec`'s commit and reveal deadlines an hour and two hours after.
async fn start_clocks(h: &Harness, operator: &Market, spec: &mut ExperimentSpec) {
    let now = operator.now().await.unwrap().max(h.state.now()) + 1;
    both_clocks_at(h, operator, now).await;
    spec.commit_deadline = now + 3_600;
    spec.reveal_deadline = now + 7_200;
}

/// `key`'s client of the market, with gas and `deposit` in its market balance.
async fn funded_labeler(operator: &Market, key: &LabelerKey, deposit: Amount) -> Market {
    let market = operator.with_key(&B256::from(key.secret_bytes())).unwrap();
    let gas = U256::from(10u64).pow(U256::from(18));
    operator.set_native_balance(key.address(), gas).await.unwrap();
    operator.mint(key.address(), deposit).await.unwrap();
    market.deposit(deposit).await.unwrap();
    market
}

/// Moves the chain's clock and the server's to `now` together.
async fn both_clocks_at(h: &Harness, operator: &Market, now: u64) {
    operator.mine_at(now).await.unwrap();
    h.set_clock(now).await;
}

/// The label 1 on every task of a batch (as the server shows it).
fn ones(batch: &Value) -> Vec<RevealedLabel> {
    let tasks = batch["tasks"].as_array().unwrap();
    let task = |t: &Value| t["task"].as_u64().unwrap() as u32;
    tasks.iter().map(|t| RevealedLabel { task: task(t), label: Label::Int(1) }).collect()
}

/// Settles experiment `id` through the API.
async fn settled(h: &Harness, id: B256) -> Settlement {
    let (status, settlement) =
        h.call("POST", &format!("/experiments/{id}/settle"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{settlement}");
    serde_json::from_value(settlement).unwrap()
}

async fn relay(h: &Harness, id: B256) -> Value {
    let (status, answer) = h.call("GET", &format!("/experiments/{id}/chain"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}
