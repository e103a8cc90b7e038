//! One experiment end to end against the contract on anvil. Core runs the protocol in process,
//! in the chain's domain (chain 31337, the deployed market) and on the chain's clock; the chain
//! holds the money: deposits, the pool, stake locks and commits relayed in batches by the
//! operator (one labeler, ignored by the operator, commits itself), core's settlement posted
//! and, after the challenge window, paid out. Every balance must then equal the settlement to
//! the base unit.
//!
//! Needs anvil: `bash contracts/ci.sh` installs it. `SEED=n` replays a run; the seed is printed.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::sol_types::SolValue;
use plumbline_chain::anvil::DEV_KEYS;
use plumbline_chain::{
    Anvil, BatchCommit, CommitIndex, Error, Market, Phase, Terms, experiment_id,
};
use plumbline_core::Amount;
use plumbline_core::assign::to_canonical;
use plumbline_core::client::{LabelerKey, RevealedLabel, SignedJoin};
use plumbline_core::experiment::Experiment;
use plumbline_core::label::Label;
use plumbline_core::settle::Settlement;
use plumbline_core::synthetic::{SplitMix64, binary_spec};
use plumbline_core::task::Task;
use std::collections::BTreeMap;

const LABELERS: usize = 20;
/// Relays of 8 entries, so 20 joins and 19 commits take several transactions each.
const RELAY_ENTRIES: usize = 8;
/// The labeler whose commit the operator leaves out.
const IGNORED: usize = 5;
/// A labeler that never reveals, so that settlement slashes a stake.
const SILENT: usize = 11;
/// A labeler that always answers "yes", whatever the truth.
const CONSTANT: usize = 17;
const CHALLENGE_WINDOW_SECS: u32 = 3_600;
const BURN_ADDRESS: Address =
    Address::new([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad]);

fn seed() -> u64 {
    let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(2026);
    eprintln!("SEED={seed}");
    seed
}

/// How the final settlement's leaves are paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Payout {
    /// Every leaf in one `distribute`.
    Distribute,
    /// Leaf by leaf with proofs: the first labeler alone, the rest in one `claimMany`.
    Claims,
}

struct Outcome {
    settlement: Settlement,
    /// Each labeler's deposit before the experiment.
    deposits: Vec<Amount>,
    stake: Amount,
    keys: Vec<LabelerKey>,
    operator: Market,
    creator: Market,
    id: B256,
}

/// Runs the experiment up to a final settlement, paid the given way, and refunded.
async fn run(anvil: &Anvil, payout: Payout, seed: u64) -> Outcome {
    let operator = Market::deploy(&anvil.endpoint(), &DEV_KEYS[0], None).await.unwrap();
    let creator = operator.with_key(&DEV_KEYS[1]).unwrap();
    let challenger = operator.with_key(&DEV_KEYS[2]).unwrap();
    assert_eq!(operator.chain_id(), 31337);

    let mut spec = binary_spec(10, 5, 3);
    let stake = spec.stake_per_batch;
    let keys: Vec<LabelerKey> =
        (0..LABELERS).map(|i| LabelerKey::derived(seed, i as u64)).collect();
    let labelers: Vec<Market> =
        keys.iter().map(|k| operator.with_key(&B256::from(k.secret_bytes())).unwrap()).collect();
    let deposits: Vec<Amount> = (0..LABELERS).map(|i| stake * 2 + i as Amount).collect();
    for (labeler, &deposit) in labelers.iter().zip(&deposits) {
        // Labelers pay gas only to deposit and withdraw (and the ignored one to commit).
        operator
            .set_native_balance(labeler.account(), U256::from(10u64).pow(U256::from(18)))
            .await
            .unwrap();
        operator.mint(labeler.account(), deposit).await.unwrap();
        labeler.deposit(deposit).await.unwrap();
        assert_eq!(labeler.balance_of(labeler.account()).await.unwrap(), U256::from(deposit));
    }
    operator.mint(creator.account(), spec.reward_pool).await.unwrap();

    // The experiment, in process and on chain, on the chain's clock.
    let opened_at = operator.now().await.unwrap();
    spec.commit_deadline = opened_at + 3_600;
    spec.reveal_deadline = spec.commit_deadline + 3_600;
    let mut rng = SplitMix64::new(seed);
    let (regular, gold) = (40, 6);
    let truth: Vec<i64> = (0..regular + gold).map(|_| i64::from(rng.chance(500_000))).collect();
    let tasks: Vec<Task> = (0..regular + gold)
        .map(|i| Task {
            id: format!("task-{i}"),
            prompt: format!("Question {i}").into(),
            responses: Vec::new(),
            gold: (i >= regular).then_some(Label::Int(truth[i])),
            meta: Default::default(),
        })
        .collect();
    let id =
        experiment_id(creator.account(), seed.to_be_bytes().repeat(2)[..12].try_into().unwrap());
    let mut experiment =
        Experiment::new(id, operator.chain_id(), operator.address(), spec.clone(), tasks).unwrap();
    assert_eq!(experiment.domain(), &operator.domain());
    experiment.open(B256::from(keccak256(seed.to_le_bytes())), true, opened_at).unwrap();
    let terms =
        Terms::of_spec(&spec, operator.account(), challenger.account(), CHALLENGE_WINDOW_SECS);
    creator.create_experiment(id, &terms).await.unwrap();
    assert_eq!(operator.phase(id).await.unwrap(), Phase::Open);

    // Joins, assigned by core and locked on chain by the operator's relays.
    let domain = operator.domain();
    let mut joins: Vec<SignedJoin> = Vec::new();
    let mut work = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let join = key.join(&domain, id, None, stake, 0);
        let batch = experiment.join(&join, opened_at).unwrap();
        let labels: Vec<RevealedLabel> = batch.label_with(|task, order| {
            let truth = truth[task as usize];
            let answer = match i {
                CONSTANT => 1,
                _ if rng.chance(900_000) => truth,
                _ => 1 - truth,
            };
            to_canonical(&Label::Int(answer), order)
        });
        joins.push(join);
        work.push((batch.batch_id, labels));
    }
    let relay = operator.lock_stakes(id, &joins, RELAY_ENTRIES).await.unwrap();
    assert_eq!(relay.transactions.len(), LABELERS.div_ceil(RELAY_ENTRIES));
    // A relay racing the labelers' own calls must not fail: joins already locked are skipped.
    operator.lock_stakes(id, &joins[..3], RELAY_ENTRIES).await.unwrap();
    assert_eq!(operator.experiment(id).await.unwrap().stakes, stake * LABELERS as u128);
    for key in &keys {
        assert_eq!(operator.position(id, key.address()).await.unwrap().joins, 1);
    }

    // Commits after some work, before the commit deadline.
    let committed_at = opened_at + 600;
    operator.mine_at(committed_at).await.unwrap();
    let mut commits = Vec::new();
    for (key, (batch_id, labels)) in keys.iter().zip(&work) {
        let commit = key.commit(&domain, id, *batch_id, labels).unwrap();
        experiment.commit(*batch_id, &commit, committed_at).unwrap();
        commits.push(BatchCommit { labeler: key.address(), batch_id: *batch_id, commit });
    }
    let relayed: Vec<BatchCommit> =
        commits.iter().enumerate().filter(|(i, _)| *i != IGNORED).map(|(_, c)| c.clone()).collect();
    let mut index = CommitIndex::new(id, 0);
    operator.commit_batches(id, &relayed, RELAY_ENTRIES).await.unwrap();
    assert_eq!(index.update(&operator).await.unwrap().len(), relayed.len());
    let read_up_to = index.next_block();
    // The ignored labeler sends the very entry the operator would have.
    labelers[IGNORED].commit_batches(id, &commits[IGNORED..=IGNORED], 1).await.unwrap();
    // The index reads only the new block, continuing the running hash, and ends with what a
    // read of the whole history finds.
    index.update(&operator).await.unwrap();
    assert_eq!(index.next_block(), read_up_to + 1);
    assert_eq!(index.commits(), operator.commits(id, 0, B256::ZERO).await.unwrap());
    assert_eq!(index.update(&operator).await.unwrap().len(), commits.len(), "nothing new");
    // The running hash proves the chain recorded every commit, in the order sent.
    let expected_hash =
        relayed.iter().chain(&commits[IGNORED..=IGNORED]).fold(B256::ZERO, |h, c| {
            keccak256((h, c.labeler, c.batch_id, c.commit.commitment).abi_encode())
        });
    assert_eq!(operator.experiment(id).await.unwrap().commitsHash, expected_hash);

    // Reveals off chain, between the deadlines.
    operator.mine_at(spec.commit_deadline).await.unwrap();
    assert_eq!(operator.phase(id).await.unwrap(), Phase::Revealing);
    for (i, (key, (batch_id, labels))) in keys.iter().zip(work).enumerate() {
        if i == SILENT {
            continue;
        }
        let reveal = key.reveal(&domain, id, batch_id, labels).unwrap();
        experiment.reveal(batch_id, &reveal, spec.commit_deadline + 1).unwrap();
    }

    // Core settles; the operator posts it; the challenge window passes.
    operator.mine_at(spec.reveal_deadline).await.unwrap();
    let record = experiment.settle(&BTreeMap::new(), spec.reveal_deadline).unwrap();
    let settlement = record.settlement;
    assert!(settlement.totals.slashed > 0, "the silent labeler loses its stake");
    let posted = operator.settle(id, &settlement).await.unwrap();
    assert!(posted.gas_used > 0);
    assert_eq!(operator.phase(id).await.unwrap(), Phase::Challengeable);
    let early = operator.distribute(id, &settlement).await.unwrap_err();
    assert!(
        matches!(&early, Error::Refused { reason, .. } if reason.contains("WrongPhase")),
        "paying before the settlement is final is refused: {early}"
    );
    // The window runs from the block that posted the root, which a loaded machine may mine a
    // little after the reveal deadline.
    let posted_at = operator.experiment(id).await.unwrap().rootPostedAt;
    operator.mine_at(posted_at + u64::from(CHALLENGE_WINDOW_SECS)).await.unwrap();
    assert_eq!(operator.phase(id).await.unwrap(), Phase::Settled);

    match payout {
        Payout::Distribute => {
            operator.distribute(id, &settlement).await.unwrap();
        }
        Payout::Claims => {
            // Anyone may claim for anyone: a labeler claims its own leaf, the operator the rest.
            labelers[0].claim(id, &settlement, keys[0].address()).await.unwrap();
            let rest: Vec<Address> = keys[1..].iter().map(LabelerKey::address).collect();
            operator.claim_many(id, &settlement, &rest).await.unwrap();
            // A leaf is paid once. The silent labeler's leaf is zero, so claiming it again
            // stays within the payout total and meets the claimed bit; any other leaf again
            // would exceed the total, which the contract checks first.
            assert_eq!(
                settlement
                    .labelers
                    .iter()
                    .find(|l| l.labeler == keys[SILENT].address())
                    .unwrap()
                    .payout,
                0
            );
            let again = operator.claim(id, &settlement, keys[SILENT].address()).await.unwrap_err();
            assert!(
                matches!(&again, Error::Refused { reason, .. } if reason.contains("AlreadyClaimed")),
                "{again}"
            );
            let again = operator.claim(id, &settlement, keys[1].address()).await.unwrap_err();
            assert!(
                matches!(&again, Error::Refused { reason, .. } if reason.contains("ClaimsExceedPayouts")),
                "{again}"
            );
        }
    }
    operator.refund(id).await.unwrap();
    Outcome { settlement, deposits, stake, keys, operator, creator, id }
}

/// Every balance on chain equals the settlement exactly.
async fn check_balances(outcome: &Outcome) {
    let Outcome { settlement, deposits, stake, keys, operator, creator, id } = outcome;
    let totals = &settlement.totals;
    let payouts: BTreeMap<Address, Amount> =
        settlement.labelers.iter().map(|l| (l.labeler, l.payout)).collect();
    let mut labelers_total = U256::ZERO;
    for (key, deposit) in keys.iter().zip(deposits) {
        let result = settlement.labelers.iter().find(|l| l.labeler == key.address()).unwrap();
        assert_eq!(result.payout, result.stake_returned + result.reward);
        let expected = deposit - stake + payouts[&key.address()];
        let balance = operator.balance_of(key.address()).await.unwrap();
        assert_eq!(balance, U256::from(expected), "labeler {}", key.address());
        labelers_total += balance;
    }
    let refund = operator.balance_of(creator.account()).await.unwrap();
    assert_eq!(refund, U256::from(totals.refund));
    assert_eq!(operator.token_balance(BURN_ADDRESS).await.unwrap(), U256::from(totals.burned));
    let escrow = operator.experiment(*id).await.unwrap();
    assert_eq!(escrow.claimed, totals.rewards + totals.stakes_returned);
    assert!(escrow.refunded);
    // Nothing is left in the market but the free balances.
    assert_eq!(operator.token_balance(operator.address()).await.unwrap(), labelers_total + refund);
}

#[tokio::test]
async fn an_experiment_settles_on_chain_and_distribute_pays_every_balance_exactly() {
    let anvil = spawn_anvil();
    let outcome = run(&anvil, Payout::Distribute, seed()).await;
    check_balances(&outcome).await;
    // A settlement whose payouts do not rebuild its root is refused before anything is sent.
    let mut tampered = outcome.settlement.clone();
    tampered.labelers[0].payout += 1;
    let error = outcome.operator.settle(outcome.id, &tampered).await.unwrap_err();
    assert!(matches!(error, Error::Settlement(_)), "{error}");
}

#[tokio::test]
async fn an_experiment_settles_on_chain_and_claims_pay_every_balance_exactly() {
    let anvil = spawn_anvil();
    let outcome = run(&anvil, Payout::Claims, seed()).await;
    check_balances(&outcome).await;
    // A labeler withdraws what it holds.
    let key = &outcome.keys[0];
    let labeler = outcome.operator.with_key(&B256::from(key.secret_bytes())).unwrap();
    let held = labeler.balance_of(key.address()).await.unwrap();
    labeler.withdraw(held.to::<u128>()).await.unwrap();
    assert_eq!(labeler.balance_of(key.address()).await.unwrap(), U256::ZERO);
    assert_eq!(labeler.token_balance(key.address()).await.unwrap(), held);
}

/// A local anvil; a missing binary fails with the message that says how to install it.
fn spawn_anvil() -> Anvil {
    Anvil::spawn().unwrap_or_else(|e| panic!("{e}"))
}
