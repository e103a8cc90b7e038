// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IPlumblineMarket} from "./interfaces/IPlumblineMarket.sol";
import {StandardTreeRoot} from "./libraries/StandardTreeRoot.sol";

/// @title PlumblineMarket
/// @notice The Plumbline labeling market's escrow, stake locks, commit record and settlement.
/// See `IPlumblineMarket` for the protocol.
/// @dev Gas per label is what makes a market of small tasks viable on chain, so storage is
/// touched only where a guarantee needs it: one slot per labeler and experiment (its join count,
/// which is also its replay protection, and its claimed bit), one balance per account, and a few
/// slots per experiment. Commits are not stored one by one; a running hash and the event record
/// them. Every state change follows checks, then effects, then the event, then any token
/// transfer; only the calls that move tokens take the reentrancy guard.
contract PlumblineMarket is IPlumblineMarket, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @inheritdoc IPlumblineMarket
    uint256 public constant ENTRIES_MAX = 1_000;
    /// @inheritdoc IPlumblineMarket
    uint64 public constant REVEAL_WINDOW_MIN_SECS = 60;
    /// @inheritdoc IPlumblineMarket
    uint64 public constant DEADLINE_HORIZON_MAX_SECS = 366 days;
    /// @inheritdoc IPlumblineMarket
    uint32 public constant CHALLENGE_WINDOW_MIN_SECS = 1 hours;
    /// @inheritdoc IPlumblineMarket
    uint32 public constant CHALLENGE_WINDOW_MAX_SECS = 30 days;
    /// @inheritdoc IPlumblineMarket
    uint64 public constant SETTLEMENT_PERIOD_SECS = 30 days;
    /// @inheritdoc IPlumblineMarket
    address public constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;

    /// @dev The EIP-712 type strings, byte for byte those of `crates/core/src/eip712.rs`.
    bytes32 private constant JOIN_TYPEHASH = keccak256(
        "Join(bytes32 experimentId,address labeler,bytes32 cohort,uint256 stake,uint64 nonce,uint64 expiresAt)"
    );
    bytes32 private constant COMMIT_TYPEHASH =
        keccak256("Commit(bytes32 experimentId,uint64 batchId,bytes32 commitment)");

    /// @dev The namespace of `distribute`'s transient marks, apart from every other slot.
    bytes32 private constant DISTRIBUTED_SLOT = keccak256("plumbline.market.distributed");

    IERC20 private immutable TOKEN;

    mapping(address account => uint256) private _balances;
    mapping(bytes32 experimentId => Experiment) private _experiments;
    mapping(bytes32 experimentId => mapping(address labeler => Position)) private _positions;

    /// @param token_ The ERC-20 every deposit, pool, stake and payout is denominated in.
    constructor(IERC20 token_) EIP712("Plumbline", "1") {
        if (address(token_) == address(0)) revert PlumblineMarket__ZeroToken();
        TOKEN = token_;
    }

    // ---------------------------------------------------------------------------------------------
    // Balances
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPlumblineMarket
    function deposit(uint256 amount) external nonReentrant {
        if (amount == 0) revert PlumblineMarket__ZeroAmount();
        _balances[msg.sender] += amount;
        emit Deposited(msg.sender, amount);
        TOKEN.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IPlumblineMarket
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert PlumblineMarket__ZeroAmount();
        uint256 balance = _balances[msg.sender];
        if (balance < amount) revert PlumblineMarket__InsufficientBalance(msg.sender, balance, amount);
        unchecked {
            _balances[msg.sender] = balance - amount;
        }
        emit Withdrawn(msg.sender, amount);
        TOKEN.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Experiments
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPlumblineMarket
    function createExperiment(bytes32 experimentId, ExperimentConfig calldata config) external nonReentrant {
        // forge-lint: disable-next-line(unsafe-typecast) the id's first 20 bytes are its creator
        if (address(bytes20(experimentId)) != msg.sender) {
            revert PlumblineMarket__NotCreatorsId(experimentId, msg.sender);
        }
        Experiment storage e = _experiments[experimentId];
        if (e.stakePerBatch != 0) revert PlumblineMarket__ExperimentExists(experimentId);
        if (
            config.pool == 0 || config.stakePerBatch == 0 || config.pool > type(uint128).max
                || config.stakePerBatch > type(uint128).max
        ) revert PlumblineMarket__BadAmount(config.pool, config.stakePerBatch);
        if (
            block.timestamp >= config.commitDeadline
                || uint256(config.commitDeadline) + REVEAL_WINDOW_MIN_SECS > config.revealDeadline
                || config.revealDeadline > block.timestamp + DEADLINE_HORIZON_MAX_SECS
        ) revert PlumblineMarket__BadDeadlines(block.timestamp, config.commitDeadline, config.revealDeadline);
        if (
            config.challengeWindowSecs < CHALLENGE_WINDOW_MIN_SECS
                || config.challengeWindowSecs > CHALLENGE_WINDOW_MAX_SECS
        ) {
            revert PlumblineMarket__BadChallengeWindow(
                config.challengeWindowSecs, CHALLENGE_WINDOW_MIN_SECS, CHALLENGE_WINDOW_MAX_SECS
            );
        }
        if (config.operator == address(0)) revert PlumblineMarket__ZeroOperator();

        e.stakePerBatch = uint128(config.stakePerBatch);
        e.commitDeadline = config.commitDeadline;
        e.revealDeadline = config.revealDeadline;
        e.pool = uint128(config.pool);
        e.creator = msg.sender;
        e.challengeWindowSecs = config.challengeWindowSecs;
        e.operator = config.operator;
        e.challenger = config.challenger;
        e.specHash = config.specHash;
        emit ExperimentCreated(experimentId, msg.sender, config);
        TOKEN.safeTransferFrom(msg.sender, address(this), config.pool);
    }

    /// @inheritdoc IPlumblineMarket
    function lockStakes(bytes32 experimentId, SignedJoin[] calldata joins) external {
        uint256 count = _checkEntryCount(joins.length);
        Experiment storage e = _openExperiment(experimentId);
        if (msg.sender != e.operator) revert PlumblineMarket__NotOperator(experimentId, msg.sender, e.operator);
        uint256 stake = e.stakePerBatch;
        // Checked as if every join locked, so that nothing is written before the check. At most
        // ENTRIES_MAX stakes below 2^128 each: no overflow in 256 bits.
        uint256 escrowMax = uint256(e.pool) + e.stakes + count * stake;
        if (escrowMax > type(uint128).max) revert PlumblineMarket__EscrowTooLarge(experimentId, escrowMax);
        mapping(address => Position) storage positions = _positions[experimentId];
        // The event lists the joins that locked a stake; repeats are left out of it.
        LockedStake[] memory locked = new LockedStake[](count);
        uint256 accepted = 0;
        for (uint256 i = 0; i < count; ++i) {
            SignedJoin calldata join = joins[i];
            if (_lockStake(experimentId, positions, stake, i, join)) {
                locked[accepted] = LockedStake(join.labeler, join.nonce, join.cohort);
                unchecked {
                    ++accepted;
                }
            }
        }
        if (accepted == 0) return;
        // forge-lint: disable-next-line(unsafe-typecast) at most escrowMax, checked above
        e.stakes += uint128(accepted * stake);
        assembly ("memory-safe") {
            // Shortens the array to the joins that locked; the memory past it is left unused.
            mstore(locked, accepted)
        }
        emit StakesLocked(experimentId, locked);
    }

    /// @inheritdoc IPlumblineMarket
    function commitBatches(bytes32 experimentId, SignedCommit[] calldata commits) external {
        uint256 count = _checkEntryCount(commits.length);
        Experiment storage e = _openExperiment(experimentId);
        bytes32 commitsHash = e.commitsHash;
        CommittedBatch[] memory recorded = new CommittedBatch[](count);
        for (uint256 i = 0; i < count; ++i) {
            SignedCommit calldata c = commits[i];
            bytes32 digest = _hashTypedDataV4(_commitStructHash(experimentId, c.batchId, c.commitment));
            _checkSigner(i, digest, c.r, c.vs, c.labeler);
            commitsHash = _chainCommit(commitsHash, c.labeler, c.batchId, c.commitment);
            recorded[i] = CommittedBatch(c.labeler, c.batchId, c.commitment);
        }
        e.commitsHash = commitsHash;
        emit BatchesCommitted(experimentId, recorded, commitsHash);
    }

    /// @inheritdoc IPlumblineMarket
    function settle(bytes32 experimentId, bytes32 payoutRoot, Totals calldata totals) external {
        Experiment storage e = _existingExperiment(experimentId);
        if (msg.sender != e.operator) revert PlumblineMarket__NotOperator(experimentId, msg.sender, e.operator);
        Phase phase = _phase(e);
        if (phase != Phase.AwaitingSettlement && phase != Phase.Challengeable) {
            revert PlumblineMarket__WrongPhase(experimentId, phase);
        }
        uint256 deadline = uint256(e.revealDeadline) + SETTLEMENT_PERIOD_SECS;
        if (block.timestamp >= deadline) {
            revert PlumblineMarket__SettlementPeriodOver(experimentId, deadline, block.timestamp);
        }
        uint256 payouts = _checkTotals(e, payoutRoot, totals);

        // Conservation bounds every total by the escrow, which fits in 128 bits.
        e.payoutRoot = payoutRoot;
        e.rootPostedAt = uint64(block.timestamp);
        // forge-lint: disable-start(unsafe-typecast)
        e.payouts = uint128(payouts);
        e.refund = uint128(totals.refund);
        e.burned = uint128(totals.burned);
        // forge-lint: disable-end(unsafe-typecast)
        emit SettlementPosted(experimentId, payoutRoot, totals, uint64(block.timestamp) + e.challengeWindowSecs);
    }

    /// @inheritdoc IPlumblineMarket
    function challenge(bytes32 experimentId) external {
        Experiment storage e = _existingExperiment(experimentId);
        if (msg.sender != e.challenger) {
            revert PlumblineMarket__NotChallenger(experimentId, msg.sender, e.challenger);
        }
        Phase phase = _phase(e);
        if (phase != Phase.Challengeable) revert PlumblineMarket__WrongPhase(experimentId, phase);

        bytes32 payoutRoot = e.payoutRoot;
        e.payoutRoot = bytes32(0);
        e.rootPostedAt = 0;
        e.payouts = 0;
        e.refund = 0;
        e.burned = 0;
        emit SettlementChallenged(experimentId, payoutRoot);
    }

    /// @inheritdoc IPlumblineMarket
    function claim(bytes32 experimentId, address labeler, uint256 amount, bytes32[] calldata proof) external {
        Experiment storage e = _experimentIn(experimentId, Phase.Settled);
        _payByClaims(experimentId, e);
        uint256 claimed = uint256(e.claimed) + amount;
        if (claimed > e.payouts) revert PlumblineMarket__ClaimsExceedPayouts(experimentId, claimed, e.payouts);
        _payOut(experimentId, e.payoutRoot, labeler, amount, proof);
        // forge-lint: disable-next-line(unsafe-typecast) at most the payout total, a 128-bit value
        e.claimed = uint128(claimed);
    }

    /// @inheritdoc IPlumblineMarket
    function claimMany(bytes32 experimentId, Payout[] calldata payouts) external {
        uint256 count = _checkEntryCount(payouts.length);
        Experiment storage e = _experimentIn(experimentId, Phase.Settled);
        _payByClaims(experimentId, e);
        bytes32 payoutRoot = e.payoutRoot;
        uint256 payoutsTotal = e.payouts;
        uint256 claimed = e.claimed;
        for (uint256 i = 0; i < count; ++i) {
            Payout calldata payout = payouts[i];
            // Each amount is checked against the total before it is paid, so an amount too
            // large to add cannot get past this line either.
            if (payout.amount > payoutsTotal - claimed) {
                revert PlumblineMarket__ClaimsExceedPayouts(experimentId, claimed + payout.amount, payoutsTotal);
            }
            claimed += payout.amount;
            _payOut(experimentId, payoutRoot, payout.labeler, payout.amount, payout.proof);
        }
        // forge-lint: disable-next-line(unsafe-typecast) at most the payout total, a 128-bit value
        e.claimed = uint128(claimed);
    }

    /// @inheritdoc IPlumblineMarket
    function distribute(bytes32 experimentId, PayoutLeaf[] calldata leaves) external {
        uint256 count = _checkEntryCount(leaves.length);
        Experiment storage e = _experimentIn(experimentId, Phase.Settled);
        if (e.payoutMode != PayoutMode.Unpaid) revert PlumblineMarket__WrongPayoutMode(experimentId, e.payoutMode);
        bytes32[] memory hashes = new bytes32[](count);
        uint256 total = 0;
        for (uint256 i = 0; i < count; ++i) {
            address labeler = leaves[i].labeler;
            _markDistributed(experimentId, labeler);
            hashes[i] = _payoutLeaf(labeler, leaves[i].amount);
            total += leaves[i].amount;
        }
        bytes32 rebuilt = StandardTreeRoot.fromSortedLeaves(hashes);
        if (rebuilt != e.payoutRoot) revert PlumblineMarket__WrongLeaves(experimentId, e.payoutRoot, rebuilt);
        if (total > e.payouts) revert PlumblineMarket__ClaimsExceedPayouts(experimentId, total, e.payouts);

        e.payoutMode = PayoutMode.Distributed;
        // forge-lint: disable-next-line(unsafe-typecast) at most the payout total, a 128-bit value
        e.claimed = uint128(total);
        for (uint256 i = 0; i < count; ++i) {
            address labeler = leaves[i].labeler;
            uint256 amount = leaves[i].amount;
            _balances[labeler] += amount;
            emit PayoutClaimed(experimentId, labeler, amount);
        }
    }

    /// @inheritdoc IPlumblineMarket
    function reclaimStake(bytes32 experimentId, address labeler) external {
        Experiment storage e = _experimentIn(experimentId, Phase.Abandoned);
        Position storage position = _positions[experimentId][labeler];
        if (position.claimed) revert PlumblineMarket__AlreadyClaimed(experimentId, labeler);
        uint256 amount = uint256(position.joins) * e.stakePerBatch;
        if (amount == 0) revert PlumblineMarket__NothingToReclaim(experimentId, labeler);

        position.claimed = true;
        // forge-lint: disable-next-line(unsafe-typecast) part of the stakes, a 128-bit value
        e.claimed += uint128(amount);
        _balances[labeler] += amount;
        emit StakeReclaimed(experimentId, labeler, amount);
    }

    /// @inheritdoc IPlumblineMarket
    function refund(bytes32 experimentId) external nonReentrant {
        Experiment storage e = _existingExperiment(experimentId);
        Phase phase = _phase(e);
        if (phase != Phase.Settled && phase != Phase.Abandoned) {
            revert PlumblineMarket__WrongPhase(experimentId, phase);
        }
        if (e.refunded) revert PlumblineMarket__AlreadyRefunded(experimentId);

        // An abandoned experiment has no settlement in force, so nothing is burned and the whole
        // pool goes back; it is stored as the refund so that `escrowOf` stays one formula.
        uint256 amount;
        uint256 burned = e.burned;
        if (phase == Phase.Abandoned) {
            amount = e.pool;
            e.refund = e.pool;
        } else {
            amount = e.refund;
        }
        e.refunded = true;
        address creator = e.creator;
        _balances[creator] += amount;
        emit Refunded(experimentId, creator, amount, burned);
        if (burned != 0) TOKEN.safeTransfer(BURN_ADDRESS, burned);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPlumblineMarket
    function token() external view returns (address) {
        return address(TOKEN);
    }

    /// @inheritdoc IPlumblineMarket
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    /// @inheritdoc IPlumblineMarket
    function experiment(bytes32 experimentId) external view returns (Experiment memory) {
        return _experiments[experimentId];
    }

    /// @inheritdoc IPlumblineMarket
    function positionOf(bytes32 experimentId, address labeler) external view returns (Position memory) {
        return _positions[experimentId][labeler];
    }

    /// @inheritdoc IPlumblineMarket
    function phaseOf(bytes32 experimentId) external view returns (Phase) {
        return _phase(_experiments[experimentId]);
    }

    /// @inheritdoc IPlumblineMarket
    function escrowOf(bytes32 experimentId) external view returns (uint256) {
        Experiment storage e = _experiments[experimentId];
        uint256 paidOut = uint256(e.claimed) + (e.refunded ? uint256(e.refund) + e.burned : 0);
        return uint256(e.pool) + e.stakes - paidOut;
    }

    /// @inheritdoc IPlumblineMarket
    function joinDigest(
        bytes32 experimentId,
        address labeler,
        bytes32 cohort,
        uint256 stake,
        uint64 nonce,
        uint64 expiresAt
    ) external view returns (bytes32) {
        return _hashTypedDataV4(_joinStructHash(experimentId, labeler, cohort, stake, nonce, expiresAt));
    }

    /// @inheritdoc IPlumblineMarket
    function commitDigest(bytes32 experimentId, uint64 batchId, bytes32 commitment) external view returns (bytes32) {
        return _hashTypedDataV4(_commitStructHash(experimentId, batchId, commitment));
    }

    /// @inheritdoc IPlumblineMarket
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    /// @dev The phase follows from the deadlines and the settlement in force, so no transition
    /// needs a transaction to happen.
    function _phase(Experiment storage e) private view returns (Phase) {
        if (e.stakePerBatch == 0) return Phase.None;
        if (block.timestamp < e.commitDeadline) return Phase.Open;
        if (block.timestamp < e.revealDeadline) return Phase.Revealing;
        uint256 postedAt = e.rootPostedAt;
        if (postedAt != 0) {
            return block.timestamp < postedAt + e.challengeWindowSecs ? Phase.Challengeable : Phase.Settled;
        }
        if (block.timestamp < uint256(e.revealDeadline) + SETTLEMENT_PERIOD_SECS) return Phase.AwaitingSettlement;
        return Phase.Abandoned;
    }

    function _existingExperiment(bytes32 experimentId) private view returns (Experiment storage e) {
        e = _experiments[experimentId];
        if (e.stakePerBatch == 0) revert PlumblineMarket__UnknownExperiment(experimentId);
    }

    function _experimentIn(bytes32 experimentId, Phase required) private view returns (Experiment storage e) {
        e = _existingExperiment(experimentId);
        Phase phase = _phase(e);
        if (phase != required) revert PlumblineMarket__WrongPhase(experimentId, phase);
    }

    /// @dev Stakes and commits share one rule, the off-chain market's: accepted while open.
    function _openExperiment(bytes32 experimentId) private view returns (Experiment storage e) {
        e = _existingExperiment(experimentId);
        uint64 commitDeadline = e.commitDeadline;
        if (block.timestamp >= commitDeadline) {
            revert PlumblineMarket__CommitDeadlinePassed(experimentId, commitDeadline, block.timestamp);
        }
    }

    /// @dev Leaf-by-leaf claims keep a claimed bit per labeler, which `distribute` does not
    /// write; the experiment pays one way only, so neither can pay a leaf the other paid.
    function _payByClaims(bytes32 experimentId, Experiment storage e) private {
        PayoutMode mode = e.payoutMode;
        if (mode == PayoutMode.Distributed) revert PlumblineMarket__WrongPayoutMode(experimentId, mode);
        if (mode == PayoutMode.Unpaid) e.payoutMode = PayoutMode.Claims;
    }

    /// @dev Marks `labeler` as paid by this call in transient storage, which costs a hundred
    /// gas where a storage bit would cost thousands, and reverts if it already was: one payout per
    /// labeler, as claims enforce with their claimed bit. The slot is keyed by the experiment too,
    /// so that distributions of two experiments in one transaction do not collide.
    function _markDistributed(bytes32 experimentId, address labeler) private {
        bytes32 namespace = DISTRIBUTED_SLOT;
        bool seen;
        assembly ("memory-safe") {
            // keccak256(abi.encode(namespace, experimentId, labeler)), without allocating.
            let m := mload(0x40)
            mstore(m, namespace)
            mstore(add(m, 0x20), experimentId)
            mstore(add(m, 0x40), labeler)
            let slot := keccak256(m, 0x60)
            seen := tload(slot)
            tstore(slot, 1)
        }
        if (seen) revert PlumblineMarket__AlreadyClaimed(experimentId, labeler);
    }

    function _checkEntryCount(uint256 count) private pure returns (uint256) {
        if (count == 0 || count > ENTRIES_MAX) revert PlumblineMarket__BadEntryCount(count, ENTRIES_MAX);
        return count;
    }

    /// @dev Locks the stake of the join at `index`, or returns false for a join locked already.
    function _lockStake(
        bytes32 experimentId,
        mapping(address => Position) storage positions,
        uint256 stake,
        uint256 index,
        SignedJoin calldata join
    ) private returns (bool) {
        if (join.stake != stake) revert PlumblineMarket__WrongStake(index, stake, join.stake);
        address labeler = join.labeler;
        Position storage position = positions[labeler];
        uint64 expected = position.joins;
        uint64 nonce = join.nonce;
        // The nonce counts the labeler's earlier joins, so each signed join locks at most once:
        // a lower nonce was locked already and is skipped before its signature costs anything,
        // which keeps a relay racing the labeler's own call from failing.
        if (nonce < expected) return false;
        if (nonce > expected) revert PlumblineMarket__NonceGap(index, labeler, expected, nonce);
        bytes32 digest =
            _hashTypedDataV4(_joinStructHash(experimentId, labeler, join.cohort, stake, nonce, join.expiresAt));
        _checkSigner(index, digest, join.r, join.vs, labeler);
        uint256 balance = _balances[labeler];
        if (balance < stake) revert PlumblineMarket__InsufficientBalance(labeler, balance, stake);
        unchecked {
            _balances[labeler] = balance - stake;
        }
        position.joins = nonce + 1;
        return true;
    }

    /// @dev OpenZeppelin's recovery refuses high-s signatures, as the off-chain market does, so
    /// no signature has a second valid form to replay.
    function _checkSigner(uint256 index, bytes32 digest, bytes32 r, bytes32 vs, address labeler) private pure {
        (address recovered, ECDSA.RecoverError failure,) = ECDSA.tryRecover(digest, r, vs);
        if (failure != ECDSA.RecoverError.NoError || recovered != labeler) {
            revert PlumblineMarket__WrongSigner(index, labeler, recovered);
        }
    }

    // The hashes below are the `keccak256(abi.encode(...))` of their comments, computed in
    // memory past the free memory pointer without moving it: a relay hashes thousands of times
    // in one call, and abi.encode would allocate fresh memory for each, whose cost grows with
    // the square of the memory used.

    /// @dev `keccak256(abi.encode(JOIN_TYPEHASH, experimentId, labeler, cohort, stake, nonce, expiresAt))`.
    function _joinStructHash(
        bytes32 experimentId,
        address labeler,
        bytes32 cohort,
        uint256 stake,
        uint64 nonce,
        uint64 expiresAt
    ) private pure returns (bytes32 structHash) {
        bytes32 typeHash = JOIN_TYPEHASH;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typeHash)
            mstore(add(m, 0x20), experimentId)
            mstore(add(m, 0x40), labeler)
            mstore(add(m, 0x60), cohort)
            mstore(add(m, 0x80), stake)
            mstore(add(m, 0xa0), nonce)
            mstore(add(m, 0xc0), expiresAt)
            structHash := keccak256(m, 0xe0)
        }
    }

    /// @dev `keccak256(abi.encode(COMMIT_TYPEHASH, experimentId, batchId, commitment))`.
    function _commitStructHash(bytes32 experimentId, uint64 batchId, bytes32 commitment)
        private
        pure
        returns (bytes32 structHash)
    {
        bytes32 typeHash = COMMIT_TYPEHASH;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typeHash)
            mstore(add(m, 0x20), experimentId)
            mstore(add(m, 0x40), batchId)
            mstore(add(m, 0x60), commitment)
            structHash := keccak256(m, 0x80)
        }
    }

    /// @dev `keccak256(abi.encode(previous, labeler, batchId, commitment))`.
    function _chainCommit(bytes32 previous, address labeler, uint64 batchId, bytes32 commitment)
        private
        pure
        returns (bytes32 next)
    {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, previous)
            mstore(add(m, 0x20), labeler)
            mstore(add(m, 0x40), batchId)
            mstore(add(m, 0x60), commitment)
            next := keccak256(m, 0x80)
        }
    }

    /// @dev `keccak256(bytes.concat(keccak256(abi.encode(labeler, amount))))`, OpenZeppelin's
    /// StandardMerkleTree leaf; the scratch space holds the 64 bytes.
    function _payoutLeaf(address labeler, uint256 amount) private pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, labeler)
            mstore(0x20, amount)
            mstore(0x00, keccak256(0x00, 0x40))
            leaf := keccak256(0x00, 0x20)
        }
    }

    /// @dev Checks the posted totals against the chain's record and against each other, the
    /// relations `crates/core/src/settle.rs` guarantees for every slashed-funds policy, and
    /// returns the payout total that claims may take.
    function _checkTotals(Experiment storage e, bytes32 payoutRoot, Totals calldata t)
        private
        view
        returns (uint256 payouts)
    {
        if (t.rewardPool != e.pool) revert PlumblineMarket__BadTotals(TotalsRule.RewardPool, e.pool, t.rewardPool);
        if (t.stakes != e.stakes) revert PlumblineMarket__BadTotals(TotalsRule.Stakes, e.stakes, t.stakes);
        // From here on rewardPool and stakes are below 2^128, which bounds every sum below.
        if (t.stakesReturned > t.stakes) {
            revert PlumblineMarket__BadTotals(TotalsRule.Slashed, t.stakes, t.stakesReturned);
        }
        uint256 slashed = t.stakes - t.stakesReturned;
        if (t.slashed != slashed) revert PlumblineMarket__BadTotals(TotalsRule.Slashed, slashed, t.slashed);
        if (t.pot != t.rewardPool && t.pot != t.rewardPool + slashed) {
            revert PlumblineMarket__BadTotals(TotalsRule.Pot, t.rewardPool + slashed, t.pot);
        }
        if (t.rewards > t.pot) revert PlumblineMarket__BadTotals(TotalsRule.Rewards, t.pot, t.rewards);
        if (t.burned > slashed) revert PlumblineMarket__BadTotals(TotalsRule.Burned, slashed, t.burned);
        uint256 inflow = t.rewardPool + t.stakes;
        if (t.refund > inflow) revert PlumblineMarket__BadTotals(TotalsRule.Conservation, inflow, t.refund);
        payouts = t.rewards + t.stakesReturned;
        uint256 outflow = payouts + t.refund + t.burned;
        if (outflow != inflow) revert PlumblineMarket__BadTotals(TotalsRule.Conservation, inflow, outflow);
        // Slashed stake never goes back to the experimenter, who writes the gold.
        if (t.refund > t.rewardPool) revert PlumblineMarket__BadTotals(TotalsRule.Refund, t.rewardPool, t.refund);
        if (payouts != 0 && payoutRoot == bytes32(0)) {
            revert PlumblineMarket__BadTotals(TotalsRule.Root, 0, payouts);
        }
    }

    /// @dev Pays one payout leaf into the labeler's balance. The leaf is OpenZeppelin's
    /// StandardMerkleTree leaf of `(address, uint256)`, hashed twice so that no 64-byte inner
    /// node can pass for a leaf. Settlement gives each labeler one leaf, so the labeler's
    /// claimed bit is the leaf's.
    function _payOut(
        bytes32 experimentId,
        bytes32 payoutRoot,
        address labeler,
        uint256 amount,
        bytes32[] calldata proof
    ) private {
        bytes32 leaf = _payoutLeaf(labeler, amount);
        if (!MerkleProof.verifyCalldata(proof, payoutRoot, leaf)) {
            revert PlumblineMarket__InvalidProof(experimentId, labeler, amount);
        }
        Position storage position = _positions[experimentId][labeler];
        if (position.claimed) revert PlumblineMarket__AlreadyClaimed(experimentId, labeler);
        position.claimed = true;
        _balances[labeler] += amount;
        emit PayoutClaimed(experimentId, labeler, amount);
    }
}
