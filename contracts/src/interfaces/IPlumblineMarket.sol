// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title The Plumbline labeling market on an EVM chain
/// @notice One contract holds one ERC-20 for every experiment: deposits and withdrawals, the
/// experimenters' reward pools, the labelers' stakes, a record of the labelers' commitments, and
/// each experiment's settlement as a Merkle root of payouts that the labelers claim.
///
/// Scoring runs off chain (`crates/core`), because it needs every revealed label; the chain holds
/// the money and the facts that scoring cannot change afterwards. Labelers sign the same EIP-712
/// messages that the off-chain market checks (domain name "Plumbline", version "1", this chain,
/// this contract):
///
///     Join(bytes32 experimentId,address labeler,bytes32 cohort,uint256 stake,uint64 nonce,uint64 expiresAt)
///     Commit(bytes32 experimentId,uint64 batchId,bytes32 commitment)
///
/// The operator relays them in batches (`lockStakes`, `commitBatches`), so labelers pay gas only
/// to deposit and withdraw. Only the operator locks stakes: it assigns the batches off chain,
/// and its settlement must account for every stake locked, so a join it never accepted must
/// not lock one. The signature, not the caller, authorizes each commit, so a labeler whose
/// commit the operator ignores sends the same call itself before the commit deadline.
///
/// After the reveal deadline the operator posts the payout root (OpenZeppelin StandardMerkleTree
/// over `(address labeler, uint256 amount)`) and the settlement's totals, which must conserve the
/// experiment's money exactly. For `challengeWindowSecs` the challenger named at creation (an
/// auditor who recomputes the settlement from the public record, say) may void it, and the
/// operator posts again. Then it is final: the operator pays every leaf in one call
/// (`distribute`), or anyone claims leaves one by one with their proofs (`claim`), into the
/// labelers' balances; the rest is refunded to the experimenter. If no settlement is final by
/// `revealDeadline + SETTLEMENT_PERIOD_SECS`, the experiment is abandoned: every labeler takes
/// back its stakes and the experimenter its pool. A challenger can therefore delay a settlement
/// or, at worst, cause that fallback, but never move money itself.
///
/// Whatever the operator posts, an experiment never pays out more than it holds: payouts stop at
/// the settlement's payout total, the refund is what conservation leaves, and it never exceeds
/// the pool: slashed stake goes to rewarded labelers or is burned, never to the experimenter.
///
/// Amounts are token base units. Each experiment's escrow (pool plus stakes) must fit in 128 bits,
/// as the protocol's amounts do (at most 10^36 < 2^128). Tokens that charge fees on transfer or
/// change balances on their own are not supported: the contract credits the amounts it is told
/// it received.
interface IPlumblineMarket {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice The terms of an experiment, fixed when it is created.
    /// @param specHash `keccak256` of the experiment spec that labelers accept when they join.
    /// @param pool The reward pool in base units, pulled from the creator.
    /// @param stakePerBatch The stake a labeler locks for each batch it joins; every `Join`
    /// relayed must carry exactly this stake.
    /// @param commitDeadline Stake locks and commits are accepted while `block.timestamp` is
    /// before this (unix seconds).
    /// @param revealDeadline Settlement may be posted from this time on (unix seconds); reveals
    /// happen off chain between the two deadlines.
    /// @param challengeWindowSecs How long a posted settlement can be challenged before it is
    /// final.
    /// @param operator The only address that may post the settlement.
    /// @param challenger The only address that may challenge a posted settlement, or zero for
    /// none.
    struct ExperimentConfig {
        bytes32 specHash;
        uint256 pool;
        uint256 stakePerBatch;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint32 challengeWindowSecs;
        address operator;
        address challenger;
    }

    /// @notice An experiment as stored; slots are grouped by the calls that read them together.
    /// @param stakePerBatch See `ExperimentConfig`; zero only for an experiment that does not
    /// exist.
    /// @param commitDeadline See `ExperimentConfig`.
    /// @param revealDeadline See `ExperimentConfig`.
    /// @param pool The reward pool escrowed.
    /// @param stakes The stakes locked, in total.
    /// @param payouts The posted settlement's payout total (rewards plus stakes returned), the
    /// most its claims may take; zero while none is posted.
    /// @param claimed What the settlement's leaves (by claims or `distribute`) or, once abandoned,
    /// stake reclaims have paid out.
    /// @param refund What the experimenter gets back: the posted settlement's refund, or the
    /// whole pool once the experiment is abandoned and refunded.
    /// @param burned Slashed stake the posted settlement burns.
    /// @param creator The experimenter, who funded the pool and receives the refund.
    /// @param rootPostedAt When the settlement in force was posted; zero while none is.
    /// @param challengeWindowSecs See `ExperimentConfig`.
    /// @param operator See `ExperimentConfig`.
    /// @param refunded Whether the refund (and burn) has been paid.
    /// @param payoutMode How the final settlement's leaves are being paid: one claim each, or all
    /// at once by `distribute`; the first payout picks, so no leaf can be paid both ways.
    /// @param challenger See `ExperimentConfig`.
    /// @param specHash See `ExperimentConfig`.
    /// @param payoutRoot The posted settlement's payout root; zero while none is posted.
    /// @param commitsHash The running hash over every commit recorded (see `commitBatches`),
    /// so an indexer can check that it has seen all of them.
    struct Experiment {
        uint128 stakePerBatch;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint128 pool;
        uint128 stakes;
        uint128 payouts;
        uint128 claimed;
        uint128 refund;
        uint128 burned;
        address creator;
        uint64 rootPostedAt;
        uint32 challengeWindowSecs;
        address operator;
        bool refunded;
        PayoutMode payoutMode;
        address challenger;
        bytes32 specHash;
        bytes32 payoutRoot;
        bytes32 commitsHash;
    }

    /// @notice A labeler's standing in one experiment.
    /// @param joins How many of its joins have locked a stake; the next `Join` must carry this
    /// nonce, exactly as the off-chain market counts them.
    /// @param claimed Whether its payout leaf was claimed (or, once abandoned, its stake
    /// reclaimed). One bit per labeler, in the slot its first join already created: a leaf is
    /// claimed at most once without a separate bitmap. `distribute` pays every leaf in one call
    /// and needs no bit (see `PayoutMode`).
    struct Position {
        uint64 joins;
        bool claimed;
    }

    /// @notice A labeler's signed `Join`, relayed to lock one batch's stake.
    /// @param labeler The labeler, who must be the signer.
    /// @param cohort `keccak256` of the declared cohort's name, or zero.
    /// @param stake The stake signed for; must equal the experiment's `stakePerBatch`.
    /// @param nonce The labeler's earlier joins in the experiment.
    /// @param expiresAt The last unix second at which the operator may accept the join. It
    /// bounds the operator's acceptance, off chain and checked by the audit; the lock itself
    /// may come later (a relay fills its transaction first), so the contract does not check it.
    /// @param r The signature's r.
    /// @param vs The signature's s with the recovery parity in its top bit (ERC-2098), so a
    /// 65-byte `r ‖ s ‖ v` signature travels in two words.
    struct SignedJoin {
        address labeler;
        bytes32 cohort;
        uint256 stake;
        uint64 nonce;
        uint64 expiresAt;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A labeler's signed `Commit` to the labels of one batch.
    /// @param labeler The labeler, who must be the signer.
    /// @param batchId The batch, numbered within the experiment.
    /// @param commitment `keccak256(abi.encode(experimentId, batchId, labeler, labelsRoot, salt))`.
    /// @param r The signature's r.
    /// @param vs The signature's s and recovery parity (ERC-2098).
    struct SignedCommit {
        address labeler;
        uint64 batchId;
        bytes32 commitment;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A stake lock as the `StakesLocked` event records it; the contract checked the
    /// signature, which stays in the transaction's input.
    struct LockedStake {
        address labeler;
        uint64 nonce;
        bytes32 cohort;
    }

    /// @notice A commit as the `BatchesCommitted` event records it; the contract checked the
    /// signature, which stays in the transaction's input.
    struct CommittedBatch {
        address labeler;
        uint64 batchId;
        bytes32 commitment;
    }

    /// @notice The money totals of a settlement, field for field the off-chain `Totals`.
    /// @param rewardPool The pool escrowed; must equal the experiment's.
    /// @param stakes Every stake locked; must equal the stakes locked on chain.
    /// @param slashed Stake lost to slashing and non-reveal penalties: `stakes - stakesReturned`.
    /// @param pot What rewards are shared from: the pool, plus the slashed stake when it is
    /// redistributed.
    /// @param rewards Paid as rewards; at most the pot.
    /// @param stakesReturned Stake given back.
    /// @param refund Returned to the experimenter: the pot's remainder, at most `rewardPool`
    /// (slashed stake never goes to the experimenter).
    /// @param burned Slashed stake destroyed: all of it when burned, or what the rewards left of
    /// it when redistributed; at most `slashed`.
    struct Totals {
        uint256 rewardPool;
        uint256 stakes;
        uint256 slashed;
        uint256 pot;
        uint256 rewards;
        uint256 stakesReturned;
        uint256 refund;
        uint256 burned;
    }

    /// @notice One payout leaf `(labeler, amount)`, for `distribute`.
    struct PayoutLeaf {
        address labeler;
        uint256 amount;
    }

    /// @notice One payout leaf `(labeler, amount)` and its proof, for `claimMany`.
    struct Payout {
        address labeler;
        uint256 amount;
        bytes32[] proof;
    }

    /// @notice How a final settlement's leaves are being paid.
    enum PayoutMode {
        /// Nothing paid yet.
        Unpaid,
        /// Leaf by leaf, each with its proof (`claim`, `claimMany`).
        Claims,
        /// Every leaf at once (`distribute`).
        Distributed
    }

    /// @notice Where an experiment stands at the current block's time.
    enum Phase {
        /// No experiment has this id.
        None,
        /// Stakes and commits are accepted.
        Open,
        /// After the commit deadline, before the reveal deadline: labels are revealed off chain.
        Revealing,
        /// After the reveal deadline, no settlement posted yet.
        AwaitingSettlement,
        /// A settlement is posted and its challenge window is running.
        Challengeable,
        /// The settlement is final: payouts can be claimed and the rest refunded.
        Settled,
        /// No settlement became final in time: stakes and pool go back to their owners.
        Abandoned
    }

    /// @notice Which relation between a settlement's totals and the chain's record failed.
    enum TotalsRule {
        /// `rewardPool` must equal the pool escrowed.
        RewardPool,
        /// `stakes` must equal the stakes locked on chain.
        Stakes,
        /// `slashed` must equal `stakes - stakesReturned`.
        Slashed,
        /// `pot` must be `rewardPool` or `rewardPool + slashed`.
        Pot,
        /// `rewards` must not exceed `pot`.
        Rewards,
        /// `burned` must not exceed `slashed`.
        Burned,
        /// `rewardPool + stakes` must equal `rewards + stakesReturned + refund + burned`.
        Conservation,
        /// A settlement that pays anything needs a payout root.
        Root,
        /// `refund` must not exceed `rewardPool`: slashed stake never goes to the experimenter.
        Refund
    }

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    /// @notice `account` deposited `amount` into its balance.
    event Deposited(address indexed account, uint256 amount);

    /// @notice `account` withdrew `amount` from its balance.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice `creator` created experiment `experimentId` and escrowed its pool.
    event ExperimentCreated(bytes32 indexed experimentId, address indexed creator, ExperimentConfig config);

    /// @notice One batch's stake (the experiment's `stakePerBatch`) was locked for each of
    /// `locks`, in order; joins that were locked already are left out.
    event StakesLocked(bytes32 indexed experimentId, LockedStake[] locks);

    /// @notice `commits` were recorded, in order; `commitsHash` is the experiment's running hash
    /// after them.
    event BatchesCommitted(bytes32 indexed experimentId, CommittedBatch[] commits, bytes32 commitsHash);

    /// @notice The operator posted a settlement; it is final at `finalAt` unless challenged.
    event SettlementPosted(bytes32 indexed experimentId, bytes32 payoutRoot, Totals totals, uint64 finalAt);

    /// @notice The challenger voided the settlement with `payoutRoot`; the operator may post
    /// another until the settlement period ends.
    event SettlementChallenged(bytes32 indexed experimentId, bytes32 payoutRoot);

    /// @notice `labeler`'s payout leaf was claimed and `amount` credited to its balance.
    event PayoutClaimed(bytes32 indexed experimentId, address indexed labeler, uint256 amount);

    /// @notice The experiment was abandoned and `labeler` took back its stakes, `amount` in all.
    event StakeReclaimed(bytes32 indexed experimentId, address indexed labeler, uint256 amount);

    /// @notice `amount` was credited back to the experimenter and `burned` sent to the burn
    /// address.
    event Refunded(bytes32 indexed experimentId, address indexed creator, uint256 amount, uint256 burned);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice The market needs a token.
    error PlumblineMarket__ZeroToken();

    /// @notice A deposit or withdrawal of nothing.
    error PlumblineMarket__ZeroAmount();

    /// @notice `account` holds `balance`, less than the `needed` amount.
    error PlumblineMarket__InsufficientBalance(address account, uint256 balance, uint256 needed);

    /// @notice An experiment id must start with its creator's address.
    error PlumblineMarket__NotCreatorsId(bytes32 experimentId, address creator);

    /// @notice An experiment with this id already exists.
    error PlumblineMarket__ExperimentExists(bytes32 experimentId);

    /// @notice No experiment has this id.
    error PlumblineMarket__UnknownExperiment(bytes32 experimentId);

    /// @notice The pool or stake is zero, or the pool does not fit the 128-bit escrow.
    error PlumblineMarket__BadAmount(uint256 pool, uint256 stakePerBatch);

    /// @notice The deadlines are not `now < commitDeadline`, `commitDeadline +
    /// REVEAL_WINDOW_MIN_SECS <= revealDeadline`, `revealDeadline <= now +
    /// DEADLINE_HORIZON_MAX_SECS`.
    error PlumblineMarket__BadDeadlines(uint256 now, uint64 commitDeadline, uint64 revealDeadline);

    /// @notice The challenge window is outside `[CHALLENGE_WINDOW_MIN_SECS, CHALLENGE_WINDOW_MAX_SECS]`.
    error PlumblineMarket__BadChallengeWindow(uint32 challengeWindowSecs, uint32 min, uint32 max);

    /// @notice An experiment needs an operator.
    error PlumblineMarket__ZeroOperator();

    /// @notice A relay or claim call is empty or holds more than `ENTRIES_MAX` entries.
    error PlumblineMarket__BadEntryCount(uint256 entries, uint256 max);

    /// @notice Stakes and commits are no longer accepted.
    error PlumblineMarket__CommitDeadlinePassed(bytes32 experimentId, uint64 commitDeadline, uint256 now);

    /// @notice Entry `index` is signed by `recovered` (zero for an invalid signature), not by
    /// `labeler`.
    error PlumblineMarket__WrongSigner(uint256 index, address labeler, address recovered);

    /// @notice Entry `index` signs for a stake of `given`, but the experiment's is `expected`.
    error PlumblineMarket__WrongStake(uint256 index, uint256 expected, uint256 given);

    /// @notice Entry `index` skips a nonce: `labeler`'s next join must carry `expected`.
    error PlumblineMarket__NonceGap(uint256 index, address labeler, uint64 expected, uint64 given);

    /// @notice Locking the stakes could make the experiment's escrow exceed 128 bits: `escrow` is
    /// the pool plus the stakes, were every join in the call to lock.
    error PlumblineMarket__EscrowTooLarge(bytes32 experimentId, uint256 escrow);

    /// @notice Only the experiment's operator may do this; `caller` is not it.
    error PlumblineMarket__NotOperator(bytes32 experimentId, address caller, address operator);

    /// @notice Only the experiment's challenger may do this; `caller` is not it.
    error PlumblineMarket__NotChallenger(bytes32 experimentId, address caller, address challenger);

    /// @notice The experiment is in `phase`, where this is not allowed.
    error PlumblineMarket__WrongPhase(bytes32 experimentId, Phase phase);

    /// @notice The settlement period ended at `deadline`: no settlement can be posted any more.
    error PlumblineMarket__SettlementPeriodOver(bytes32 experimentId, uint256 deadline, uint256 now);

    /// @notice The settlement totals break `rule`: `expected` was required, `given` was posted.
    error PlumblineMarket__BadTotals(TotalsRule rule, uint256 expected, uint256 given);

    /// @notice `(labeler, amount)` is not a leaf of the payout root.
    error PlumblineMarket__InvalidProof(bytes32 experimentId, address labeler, uint256 amount);

    /// @notice `labeler`'s payout (or stake) has already been paid out, or is listed twice.
    error PlumblineMarket__AlreadyClaimed(bytes32 experimentId, address labeler);

    /// @notice Claims would pay `claimed` in total, more than the settlement's `payouts`.
    error PlumblineMarket__ClaimsExceedPayouts(bytes32 experimentId, uint256 claimed, uint256 payouts);

    /// @notice The leaves given do not rebuild the payout root: `rebuilt` is their root.
    error PlumblineMarket__WrongLeaves(bytes32 experimentId, bytes32 payoutRoot, bytes32 rebuilt);

    /// @notice The leaves are already being paid the other way (see `PayoutMode`).
    error PlumblineMarket__WrongPayoutMode(bytes32 experimentId, PayoutMode payoutMode);

    /// @notice `labeler` has no stake to reclaim.
    error PlumblineMarket__NothingToReclaim(bytes32 experimentId, address labeler);

    /// @notice The refund has already been paid.
    error PlumblineMarket__AlreadyRefunded(bytes32 experimentId);

    // ---------------------------------------------------------------------------------------------
    // Limits
    // ---------------------------------------------------------------------------------------------

    /// @notice The most entries one `lockStakes`, `commitBatches` or `claimMany` call takes, so a
    /// call stays well inside a block's gas limit.
    function ENTRIES_MAX() external view returns (uint256);

    /// @notice The shortest reveal window: the protocol gives labelers at least a minute.
    function REVEAL_WINDOW_MIN_SECS() external view returns (uint64);

    /// @notice The furthest ahead a reveal deadline may lie, so that a mistyped deadline cannot
    /// lock a pool and its stakes for ages.
    function DEADLINE_HORIZON_MAX_SECS() external view returns (uint64);

    /// @notice The shortest challenge window: long enough for an auditor to recompute the
    /// settlement from the public record.
    function CHALLENGE_WINDOW_MIN_SECS() external view returns (uint32);

    /// @notice The longest challenge window.
    function CHALLENGE_WINDOW_MAX_SECS() external view returns (uint32);

    /// @notice How long after the reveal deadline the operator may post a settlement; with no
    /// final settlement by then the experiment is abandoned.
    function SETTLEMENT_PERIOD_SECS() external view returns (uint64);

    /// @notice Where burned stake goes: ERC-20s refuse transfers to the zero address, and this
    /// one has no known key.
    function BURN_ADDRESS() external view returns (address);

    // ---------------------------------------------------------------------------------------------
    // Balances
    // ---------------------------------------------------------------------------------------------

    /// @notice Moves `amount` of the token from the caller into its balance; needs an allowance.
    /// @dev Stakes are locked from this balance and payouts are credited to it, so a labeler
    /// pays gas only here and in `withdraw`.
    function deposit(uint256 amount) external;

    /// @notice Sends `amount` from the caller's balance to the caller.
    function withdraw(uint256 amount) external;

    // ---------------------------------------------------------------------------------------------
    // Experiments
    // ---------------------------------------------------------------------------------------------

    /// @notice Creates experiment `experimentId` with `config` and pulls its pool from the caller,
    /// who becomes its creator; needs an allowance. It is open at once.
    /// @dev The id is the one labelers sign. Its first 20 bytes must be the caller's address (the
    /// other 12 are free), so nobody can take an id that someone else is about to create and
    /// collect the stakes signed for it under an operator of their own.
    function createExperiment(bytes32 experimentId, ExperimentConfig calldata config) external;

    /// @notice Locks one batch's stake from each labeler's balance for each signed `Join`, in
    /// order, before the commit deadline. Only the experiment's operator, which accepted the
    /// joins and settles for exactly the stakes locked; each join needs its labeler's signature.
    /// @dev A join whose nonce is below the labeler's count was locked already (by an earlier
    /// relay, say one whose receipt a crash lost) and is skipped, so relays are idempotent. A
    /// nonce above it, a wrong stake, a wrong signature or a short balance reverts the call:
    /// skipping a join the labeler cannot pay for would leave its later joins in the same call
    /// with a gap, and a relayer learns of it by simulating the call before sending it.
    function lockStakes(bytes32 experimentId, SignedJoin[] calldata joins) external;

    /// @notice Records each signed `Commit`, in order, before the commit deadline. Anyone may
    /// relay: the signatures authorize.
    /// @dev Nothing is stored per commit. The event carries every entry, and the experiment's
    /// `commitsHash` advances as `keccak256(abi.encode(previous, labeler, batchId, commitment))`
    /// per entry, one storage write per call. Recording a commit moves no money, so a repeat
    /// is harmless; off chain, the first commit of a batch by the batch's labeler counts.
    function commitBatches(bytes32 experimentId, SignedCommit[] calldata commits) external;

    /// @notice Posts the settlement: the root of the payout tree over `(address, uint256)`
    /// leaves (OpenZeppelin's StandardMerkleTree) and its money totals. Only the operator, from
    /// the reveal deadline until the settlement period ends; a settlement still in its challenge
    /// window may be replaced, which restarts the window.
    function settle(bytes32 experimentId, bytes32 payoutRoot, Totals calldata totals) external;

    /// @notice Voids the posted settlement while its challenge window runs. Only the challenger.
    function challenge(bytes32 experimentId) external;

    /// @notice Credits `amount` to `labeler`'s balance for its leaf of the final payout root.
    /// Anyone may call; the money goes to the labeler whoever calls.
    function claim(bytes32 experimentId, address labeler, uint256 amount, bytes32[] calldata proof) external;

    /// @notice `claim` for several leaves in one call.
    function claimMany(bytes32 experimentId, Payout[] calldata payouts) external;

    /// @notice Pays every leaf of the final payout root at once: `leaves` are all of the tree's
    /// values, sorted by leaf hash (`keccak256(bytes.concat(keccak256(abi.encode(labeler,
    /// amount))))`, ascending), and must rebuild the root exactly. Anyone may call, once, and
    /// only before any leaf is claimed one by one.
    /// @dev The whole tree proves itself, so no proofs travel and no per-leaf claimed bit is
    /// written: the cheapest way to pay a settlement of up to `ENTRIES_MAX` labelers. Unsorted
    /// leaves revert with `StandardTreeRoot.StandardTreeRoot__LeavesNotSorted`. A settlement has
    /// one leaf per labeler; a labeler listed twice reverts, as its second claim would.
    function distribute(bytes32 experimentId, PayoutLeaf[] calldata leaves) external;

    /// @notice Once the experiment is abandoned, credits `labeler` with every stake it locked.
    /// Anyone may call.
    function reclaimStake(bytes32 experimentId, address labeler) external;

    /// @notice Credits the experimenter with the settlement's refund and sends the burned stake
    /// to the burn address, or, once abandoned, credits the whole pool. Anyone may call, once.
    function refund(bytes32 experimentId) external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The ERC-20 this market holds.
    function token() external view returns (address);

    /// @notice `account`'s balance: deposited or credited, not locked.
    function balanceOf(address account) external view returns (uint256);

    /// @notice Experiment `experimentId` as stored (all zero if it does not exist).
    function experiment(bytes32 experimentId) external view returns (Experiment memory);

    /// @notice `labeler`'s position in experiment `experimentId`.
    function positionOf(bytes32 experimentId, address labeler) external view returns (Position memory);

    /// @notice The phase of experiment `experimentId` now.
    function phaseOf(bytes32 experimentId) external view returns (Phase);

    /// @notice What the contract holds for experiment `experimentId`: pool and stakes, less
    /// what was claimed, reclaimed and refunded.
    function escrowOf(bytes32 experimentId) external view returns (uint256);

    /// @notice The EIP-712 digest a labeler signs for this `Join`.
    function joinDigest(
        bytes32 experimentId,
        address labeler,
        bytes32 cohort,
        uint256 stake,
        uint64 nonce,
        uint64 expiresAt
    ) external view returns (bytes32);

    /// @notice The EIP-712 digest a labeler signs for this `Commit`.
    function commitDigest(bytes32 experimentId, uint64 batchId, bytes32 commitment) external view returns (bytes32);

    /// @notice The EIP-712 domain separator: name "Plumbline", version "1", this chain, this
    /// contract.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32);
}
