//! `plumbline chain` against a real anvil: deploy with the test token, mint, deposit,
//! withdraw, read balances; bad input exits 2 and a refused transaction 1 with the contract's
//! error. Needs anvil: `bash contracts/ci.sh` installs it.

mod common;

use common::{TempDir, run, run_ok};
use plumbline_chain::Anvil;
use plumbline_chain::anvil::DEV_KEYS;

fn code(output: &std::process::Output) -> i32 {
    output.status.code().expect("exited")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn chain_deploy_deposit_withdraw_and_balance_on_anvil() {
    let anvil = spawn_anvil();
    let dir = TempDir::new("chain");
    let key = dir.write("operator.json", &format!(r#"{{"private_key": "{}"}}"#, DEV_KEYS[0]));
    let rpc = anvil.endpoint();
    let base = ["--rpc", rpc.as_str(), "--key", key.as_str(), "--json"];
    let with = |command: &[&'static str]| -> Vec<String> {
        command.iter().chain(&base).map(|s| s.to_string()).collect()
    };

    let deployed = json(&run_ok(&strs(&with(&["chain", "deploy"])), &[]));
    assert_eq!(deployed["chain_id"], 31337);
    let market = deployed["market"].as_str().unwrap().to_owned();
    let env = [("PLUMBLINE_MARKET", market.as_str())];

    run_ok(&strs(&with(&["chain", "mint", "--amount", "1000"])), &env);
    let deposited = json(&run_ok(&strs(&with(&["chain", "deposit", "--amount", "600"])), &env));
    assert_eq!(deposited["deposit"], "600");
    assert!(deposited["gas_used"].as_u64().unwrap() > 0);
    run_ok(&strs(&with(&["chain", "withdraw", "--amount", "100"])), &env);
    let balance = json(&run_ok(&strs(&with(&["chain", "balance"])), &env));
    assert_eq!(balance["market_balance"], "500");
    assert_eq!(balance["wallet_balance"], "500");
    assert_eq!(
        balance["account"].as_str().unwrap().to_lowercase(),
        deployed["deployer"].as_str().unwrap().to_lowercase()
    );

    // More than the balance: the contract refuses, and says why.
    let refused = run(&strs(&with(&["chain", "withdraw", "--amount", "501"])), &env);
    assert_eq!(code(&refused), 1);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("InsufficientBalance"), "{stderr}");

    // Bad input: no market, a malformed one.
    let no_market = run(&strs(&with(&["chain", "balance"])), &[]);
    assert_eq!(code(&no_market), 2);
    let malformed = run(&strs(&with(&["chain", "balance", "--market", "0x12"])), &[]);
    assert_eq!(code(&malformed), 2);
}

/// Runs a small experiment on the chain through the library (4 labelers, one block) up to a
/// final settlement; returns the market's address and the public record.
fn settled_experiment(
    rpc: &str,
) -> (String, plumbline_core::record::PublicRecord, Vec<plumbline_core::client::LabelerKey>) {
    use plumbline_chain::{BatchCommit, Market, Terms, experiment_id};
    use plumbline_core::client::{LabelerKey, RevealedLabel};
    use plumbline_core::experiment::Experiment;
    use plumbline_core::label::Label;
    use plumbline_core::task::Task;
    use plumbline_core::{B256, U256};

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let operator = Market::deploy(rpc, &DEV_KEYS[0], None).await.unwrap();
        let mut spec = plumbline_core::synthetic::binary_spec(4, 4, 0);
        let keys: Vec<LabelerKey> = (0..4).map(|i| LabelerKey::derived(11, i)).collect();
        for key in &keys {
            let labeler = operator.with_key(&B256::from(key.secret_bytes())).unwrap();
            let wei = U256::from(10u64).pow(U256::from(18));
            operator.set_native_balance(key.address(), wei).await.unwrap();
            operator.mint(key.address(), spec.stake_per_batch).await.unwrap();
            labeler.deposit(spec.stake_per_batch).await.unwrap();
        }
        operator.mint(operator.account(), spec.reward_pool).await.unwrap();
        let now = operator.now().await.unwrap();
        spec.commit_deadline = now + 600;
        spec.reveal_deadline = now + 1_200;
        let tasks: Vec<Task> = (0..4)
            .map(|i| Task {
                id: format!("task-{i}"),
                prompt: format!("Question {i}").into(),
                responses: Vec::new(),
                gold: None,
                meta: Default::default(),
            })
            .collect();
        let id = experiment_id(operator.account(), [1; 12]);
        let mut experiment =
            Experiment::new(id, operator.chain_id(), operator.address(), spec.clone(), tasks)
                .unwrap();
        experiment.open(B256::repeat_byte(3), true, now).unwrap();
        let terms = Terms::of_spec(&spec, operator.account(), operator.account(), 3_600);
        operator.create_experiment(id, &terms).await.unwrap();
        let domain = operator.domain();
        let (mut joins, mut commits, mut reveals) = (Vec::new(), Vec::new(), Vec::new());
        for key in &keys {
            let join = key.join(&domain, id, None, spec.stake_per_batch, 0);
            let batch = experiment.join(&join, now).unwrap();
            let labels: Vec<RevealedLabel> =
                batch.label_with(|task, _| Label::Int(i64::from(task % 2)));
            let commit = key.commit(&domain, id, batch.batch_id, &labels).unwrap();
            experiment.commit(batch.batch_id, &commit, now).unwrap();
            joins.push(join);
            commits.push(BatchCommit { labeler: key.address(), batch_id: batch.batch_id, commit });
            reveals
                .push((key.reveal(&domain, id, batch.batch_id, labels).unwrap(), batch.batch_id));
        }
        operator.lock_stakes(id, &joins, 50).await.unwrap();
        operator.commit_batches(id, &commits, 50).await.unwrap();
        for (reveal, batch_id) in &reveals {
            experiment.reveal(*batch_id, reveal, spec.commit_deadline).unwrap();
        }
        let record = experiment.settle(&Default::default(), spec.reveal_deadline).unwrap();
        operator.mine_at(spec.reveal_deadline).await.unwrap();
        operator.settle(id, &record.settlement).await.unwrap();
        // Past the challenge window, which runs from the settle transaction's block.
        let held = operator.experiment(id).await.unwrap();
        operator
            .mine_at(held.rootPostedAt + u64::from(held.challengeWindowSecs) + 1)
            .await
            .unwrap();
        (operator.address().to_string(), record, keys)
    })
}

#[test]
fn chain_claim_pays_a_labelers_leaf_from_the_public_record() {
    let anvil = spawn_anvil();
    let dir = TempDir::new("chain-claim");
    let (market, record, keys) = settled_experiment(&anvil.endpoint());
    let record_path = dir.write("record.json", &record.to_json());
    let labeler = &keys[2];
    let key = dir.write(
        "labeler.json",
        &format!(r#"{{"private_key": "{}"}}"#, plumbline_core::B256::from(labeler.secret_bytes())),
    );
    let rpc = anvil.endpoint();
    let base =
        ["--rpc", rpc.as_str(), "--key", key.as_str(), "--market", market.as_str(), "--json"];
    let payout = record.settlement.labelers.iter().find(|l| l.labeler == labeler.address());
    let payout = payout.unwrap().payout;
    assert!(payout > 0);

    let claim = [&["chain", "claim", "--record", record_path.as_str()][..], &base].concat();
    let claimed = json(&run_ok(&claim, &[]));
    assert_eq!(claimed["claimed"], payout.to_string());
    let balance = json(&run_ok(&[&["chain", "balance"][..], &base].concat(), &[]));
    // The deposit was exactly one stake, locked by the join: all it holds now is its payout.
    assert_eq!(balance["market_balance"], payout.to_string());

    let again = run(&claim, &[]);
    assert_eq!(code(&again), 1, "a leaf is paid once");
}

/// A local anvil; a missing binary fails with the message that says how to install it.
fn spawn_anvil() -> Anvil {
    Anvil::spawn().unwrap_or_else(|e| panic!("{e}"))
}
