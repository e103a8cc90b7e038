//! Chain mode end to end on anvil: `plumbline serve --chain-rpc` with `experiment fund
//! --chain-rpc`: the creator escrows on chain, the server checks the terms; wrong terms are
//! refused and change nothing. (A whole experiment through the server in chain mode, paid to
//! the unit, is `plumbline-bench gas`, tested in `crates/harness`.)
//!
//! Needs anvil: `bash contracts/ci.sh` installs it. Without it these tests fail and say so.

mod common;

use common::{Server, TempDir, free_port, run, run_ok};
use plumbline_chain::Anvil;
use plumbline_chain::anvil::DEV_KEYS;
use std::process::{Command, Stdio};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn code(output: &std::process::Output) -> i32 {
    output.status.code().expect("exited")
}

/// Fails with how to install anvil when it is missing.
fn require_anvil() {
    let binary = Anvil::binary();
    assert!(
        binary.exists() || std::env::var_os("PLUMBLINE_ANVIL").is_some(),
        "anvil not found at {}: run `bash contracts/ci.sh` to install it",
        binary.display()
    );
}

/// Starts `plumbline serve` in chain mode with a test clock and waits for `/health`.
fn serve_on_chain(dir: &TempDir, rpc: &str, market: &str, operator_key: &str) -> Server {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let db = std::path::PathBuf::from(dir.path("chain.db"));
    let log_path = db.with_extension("log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(common::binary())
        .args(["serve", "--db", &db.to_string_lossy(), "--addr", &addr, "--test-clock"])
        .args(["--chain-rpc", rpc, "--market", market, "--operator-key", operator_key])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the server starts");
    let url = format!("http://{addr}");
    let server = Server { child, url, db: db.clone(), operator: String::new(), log: log_path };
    if !common::wait_healthy(&server.url) {
        let log = std::fs::read_to_string(db.with_extension("log")).unwrap_or_default();
        panic!("the chain-mode server did not become healthy in 30 s; its log:\n{log}");
    }
    server
}

#[test]
fn serve_in_chain_mode_funds_only_an_escrow_created_on_chain_with_the_specs_terms_and_a_trusted_challenger()
 {
    require_anvil();
    let anvil = Anvil::spawn().unwrap_or_else(|e| panic!("{e}"));
    let rpc = anvil.endpoint();
    let dir = TempDir::new("chain-serve");
    let key_file = |name: &str, secret: &plumbline_core::B256| {
        dir.write(name, &format!(r#"{{"private_key": "{secret}"}}"#))
    };
    let operator_key = key_file("operator.json", &DEV_KEYS[0]);
    let creator_key = key_file("creator.json", &DEV_KEYS[1]);
    let deployed =
        json(&run_ok(&["chain", "deploy", "--rpc", &rpc, "--key", &operator_key, "--json"], &[]));
    let market = deployed["market"].as_str().unwrap().to_owned();
    let chain = ["--rpc", rpc.as_str(), "--key", creator_key.as_str(), "--market", market.as_str()];
    run_ok(&[&["chain", "mint", "--amount", "2000000000"][..], &chain[..]].concat(), &[]);

    let server = serve_on_chain(&dir, &rpc, &market, &operator_key);
    let info = server.get("/chain");
    assert_eq!(info["chain_id"], 31337);
    assert_eq!(info["market"].as_str().unwrap().to_lowercase(), market.to_lowercase());
    assert_eq!(
        info["operator"].as_str().unwrap().to_lowercase(),
        deployed["deployer"].as_str().unwrap().to_lowercase()
    );

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let creator_market = runtime
        .block_on(plumbline_chain::Market::connect(&rpc, &DEV_KEYS[1], market.parse().unwrap()))
        .unwrap();
    let start = runtime.block_on(creator_market.now()).unwrap();
    let spec = dir.write("spec.toml", &common::pairwise_spec(start, 4, 3, 1));
    let tasks = dir.write("tasks.jsonl", &common::pairwise_tasks(8, 4));
    let client = ["--server", server.url.as_str(), "--key", creator_key.as_str()];
    let create = |args: &[&str]| run_ok(&[args, &client[..]].concat(), &[]).trim().to_owned();

    // An experiment's id starts with its creator's address, and it is signed in the market's
    // domain.
    let id = create(&["experiment", "create", &spec]);
    let creator = creator_market.account().to_string().to_lowercase();
    assert!(id.starts_with(&creator), "{id} does not start with {creator}");
    let view = server.get(&format!("/experiments/{id}"));
    assert_eq!(view["chain_id"], 31337);
    assert_eq!(view["verifying_contract"].as_str().unwrap().to_lowercase(), market.to_lowercase());
    create(&["experiment", "import", &id, &tasks]);

    // Funding without the chain is bad input that names what is missing.
    let refused = run(&[&["experiment", "fund", &id][..], &client[..]].concat(), &[]);
    assert_eq!(code(&refused), 2);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--chain-rpc"));
    // Nothing on chain yet: the server says so and changes nothing.
    let (status, answer) = {
        let token = server
            .sign_in(&plumbline_core::client::LabelerKey::from_bytes(&DEV_KEYS[1].0).unwrap());
        server.post_as(&token, &format!("/experiments/{id}/fund"), "application/json", "{}".into())
    };
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["code"], "not_on_chain");

    // An escrow with other terms than the spec's is refused, naming them.
    let served: plumbline_core::spec::ExperimentSpec =
        serde_json::from_value(view["spec"].clone()).unwrap();
    let operator: plumbline_core::Address = info["operator"].as_str().unwrap().parse().unwrap();
    let mut terms =
        plumbline_chain::Terms::of_spec(&served, operator, plumbline_core::Address::ZERO, 3_600);
    terms.stake_per_batch += 1;
    runtime.block_on(creator_market.create_experiment(id.parse().unwrap(), &terms)).unwrap();
    let wrong =
        run(&[&["experiment", "fund", &id, "--chain-rpc", &rpc][..], &client[..]].concat(), &[]);
    assert_eq!(code(&wrong), 2);
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("chain_terms_mismatch") && stderr.contains("stakePerBatch"),
        "{stderr}"
    );
    assert_eq!(server.get(&format!("/experiments/{id}"))["funded"], false);

    // The spec's terms with the creator as challenger, who could void every settlement until
    // the pool came back to it: refused.
    let id = create(&["experiment", "create", &spec]);
    create(&["experiment", "import", &id, &tasks]);
    let terms = plumbline_chain::Terms::of_spec(&served, operator, creator_market.account(), 3_600);
    runtime.block_on(creator_market.create_experiment(id.parse().unwrap(), &terms)).unwrap();
    let named =
        run(&[&["experiment", "fund", &id, "--chain-rpc", &rpc][..], &client[..]].concat(), &[]);
    assert_eq!(code(&named), 2);
    let stderr = String::from_utf8_lossy(&named.stderr);
    assert!(stderr.contains("chain_terms_mismatch") && stderr.contains("challenger"), "{stderr}");
    assert_eq!(server.get(&format!("/experiments/{id}"))["funded"], false);

    // The right terms, created by `experiment fund --chain-rpc` itself: funded.
    let id = create(&["experiment", "create", &spec]);
    create(&["experiment", "import", &id, &tasks]);
    let funded = json(&run_ok(
        &[&["experiment", "fund", &id, "--chain-rpc", &rpc][..], &client[..]].concat(),
        &[],
    ));
    assert_eq!(funded["funded"], true);
    let relay = server.get(&format!("/experiments/{id}/chain"));
    assert_eq!(relay["joins_relayed"], 0);
    assert!(relay["settle_tx"].is_null());
    let held = runtime.block_on(creator_market.experiment(id.parse().unwrap())).unwrap();
    assert_eq!(held.pool, 500_000_000u128);

    // Balances are the market's; there is no ledger to mint in.
    let account = server.get(&format!("/accounts/{creator}"));
    assert_eq!(account["market"].as_str().unwrap().to_lowercase(), market.to_lowercase());
    assert_eq!(account["available"], "0");
}
