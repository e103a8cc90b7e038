// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";

import {PlumblineMarket} from "../../src/PlumblineMarket.sol";
import {IPlumblineMarket} from "../../src/interfaces/IPlumblineMarket.sol";
import {TestToken} from "../../src/test/TestToken.sol";
import {PayoutTree} from "./PayoutTree.sol";

/// @notice Signing helpers that compute the EIP-712 digests from the type strings, independently
/// of the contract, exactly as `crates/core/src/eip712.rs` and viem do. `test/Vectors.t.sol`
/// checks them against the cross-implementation vectors, so every relay a test signs with them
/// is a relay the off-chain market could have produced.
abstract contract Eip712Signing is Test {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant JOIN_TYPEHASH = keccak256(
        "Join(bytes32 experimentId,address labeler,bytes32 cohort,uint256 stake,uint64 nonce,uint64 expiresAt)"
    );
    bytes32 internal constant COMMIT_TYPEHASH =
        keccak256("Commit(bytes32 experimentId,uint64 batchId,bytes32 commitment)");
    /// The expiry the tests' joins are signed with; the contract does not check it (the
    /// operator accepts joins off chain before it), which `test_lock_ignores_a_joins_expiry` shows.
    uint64 internal constant JOIN_EXPIRY = 1 hours;

    function domainSeparator(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return
            keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("Plumbline"), keccak256("1"), chainId, verifyingContract));
    }

    function joinDigest(
        bytes32 domain,
        bytes32 experimentId,
        address labeler,
        bytes32 cohort,
        uint256 stake,
        uint64 nonce,
        uint64 expiresAt
    ) internal pure returns (bytes32) {
        bytes32 structHash =
            keccak256(abi.encode(JOIN_TYPEHASH, experimentId, labeler, cohort, stake, nonce, expiresAt));
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function commitDigest(bytes32 domain, bytes32 experimentId, uint64 batchId, bytes32 commitment)
        internal
        pure
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(COMMIT_TYPEHASH, experimentId, batchId, commitment));
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    /// @notice ERC-2098 form of a 65-byte `r ‖ s ‖ v` signature (v 27 or 28, or 0 or 1).
    function compact(bytes memory signature) internal pure returns (bytes32 r, bytes32 vs) {
        require(signature.length == 65, "signature: 65 bytes");
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 32))
            s := mload(add(signature, 64))
            v := byte(0, mload(add(signature, 96)))
        }
        uint256 parity = v >= 27 ? v - 27 : v;
        vs = bytes32(uint256(s) | (parity << 255));
    }
}

/// @notice A deployed market and token, named actors, and helpers that sign and relay as the
/// off-chain market does.
abstract contract MarketTest is Eip712Signing {
    uint256 internal constant POOL = 1_000e18;
    uint256 internal constant STAKE = 10e18;
    uint32 internal constant WINDOW = 1 days;
    bytes32 internal constant SPEC_HASH = keccak256("spec");

    TestToken internal token;
    PlumblineMarket internal market;

    address internal experimenter = makeAddr("experimenter");
    address internal operator = makeAddr("operator");
    address internal challenger = makeAddr("challenger");
    address internal stranger = makeAddr("stranger");
    bytes32 internal EXPERIMENT = idOf("experiment");

    function setUp() public virtual {
        // Real chains start far from zero; deadlines below are relative to this.
        vm.warp(1_750_000_000);
        token = new TestToken();
        market = new PlumblineMarket(token);
    }

    /// @notice The id of the experimenter's experiment `name`: its address, then 12 bytes of the
    /// name's hash, as the market requires.
    function idOf(string memory name) internal view returns (bytes32) {
        return idOf(experimenter, name);
    }

    function idOf(address creator, string memory name) internal pure returns (bytes32) {
        return bytes32(bytes20(creator)) | bytes32(uint256(uint96(uint256(keccak256(bytes(name))))));
    }

    // --- actors ----------------------------------------------------------------------------------

    function labelerKey(uint256 i) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("labeler", i)))
            % 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140 + 1;
    }

    function labelerAddr(uint256 i) internal pure returns (address) {
        return vm.addr(labelerKey(i));
    }

    /// @notice Mints `amount` to `account` and deposits it into the market.
    function fund(address account, uint256 amount) internal {
        token.mint(account, amount);
        vm.startPrank(account);
        token.approve(address(market), amount);
        market.deposit(amount);
        vm.stopPrank();
    }

    // --- experiments -----------------------------------------------------------------------------

    function config() internal view returns (IPlumblineMarket.ExperimentConfig memory) {
        return IPlumblineMarket.ExperimentConfig({
            specHash: SPEC_HASH,
            pool: POOL,
            stakePerBatch: STAKE,
            commitDeadline: uint64(block.timestamp + 1 days),
            revealDeadline: uint64(block.timestamp + 2 days),
            challengeWindowSecs: WINDOW,
            operator: operator,
            challenger: challenger
        });
    }

    function create(bytes32 experimentId, IPlumblineMarket.ExperimentConfig memory c) internal {
        token.mint(experimenter, c.pool);
        vm.startPrank(experimenter);
        token.approve(address(market), c.pool);
        market.createExperiment(experimentId, c);
        vm.stopPrank();
    }

    function create(bytes32 experimentId) internal returns (IPlumblineMarket.ExperimentConfig memory c) {
        c = config();
        create(experimentId, c);
    }

    // --- signed messages -------------------------------------------------------------------------

    function marketDomain() internal view returns (bytes32) {
        return domainSeparator(block.chainid, address(market));
    }

    function signedJoin(uint256 key, bytes32 experimentId, bytes32 cohort, uint256 stake, uint64 nonce)
        internal
        view
        returns (IPlumblineMarket.SignedJoin memory join)
    {
        address labeler = vm.addr(key);
        (bytes32 r, bytes32 vs) =
            vm.signCompact(key, joinDigest(marketDomain(), experimentId, labeler, cohort, stake, nonce, JOIN_EXPIRY));
        join = IPlumblineMarket.SignedJoin({
            labeler: labeler, cohort: cohort, stake: stake, nonce: nonce, expiresAt: JOIN_EXPIRY, r: r, vs: vs
        });
    }

    function signedJoin(uint256 key, bytes32 experimentId, uint64 nonce)
        internal
        view
        returns (IPlumblineMarket.SignedJoin memory)
    {
        return signedJoin(key, experimentId, bytes32(0), STAKE, nonce);
    }

    function signedCommit(uint256 key, bytes32 experimentId, uint64 batchId, bytes32 commitment)
        internal
        view
        returns (IPlumblineMarket.SignedCommit memory)
    {
        (bytes32 r, bytes32 vs) = vm.signCompact(key, commitDigest(marketDomain(), experimentId, batchId, commitment));
        return
            IPlumblineMarket.SignedCommit({
                labeler: vm.addr(key), batchId: batchId, commitment: commitment, r: r, vs: vs
            });
    }

    function one(IPlumblineMarket.SignedJoin memory join)
        internal
        pure
        returns (IPlumblineMarket.SignedJoin[] memory joins)
    {
        joins = new IPlumblineMarket.SignedJoin[](1);
        joins[0] = join;
    }

    function one(IPlumblineMarket.SignedCommit memory c)
        internal
        pure
        returns (IPlumblineMarket.SignedCommit[] memory commits)
    {
        commits = new IPlumblineMarket.SignedCommit[](1);
        commits[0] = c;
    }

    /// @notice What `StakesLocked` records for `join`.
    function lockedOf(IPlumblineMarket.SignedJoin memory join)
        internal
        pure
        returns (IPlumblineMarket.LockedStake[] memory locks)
    {
        locks = new IPlumblineMarket.LockedStake[](1);
        locks[0] = IPlumblineMarket.LockedStake(join.labeler, join.nonce, join.cohort);
    }

    /// @notice What `BatchesCommitted` records for `commits`.
    function recordedOf(IPlumblineMarket.SignedCommit[] memory commits)
        internal
        pure
        returns (IPlumblineMarket.CommittedBatch[] memory recorded)
    {
        recorded = new IPlumblineMarket.CommittedBatch[](commits.length);
        for (uint256 i = 0; i < commits.length; ++i) {
            recorded[i] = IPlumblineMarket.CommittedBatch(commits[i].labeler, commits[i].batchId, commits[i].commitment);
        }
    }

    /// @notice Labeler `i` funds itself and locks one stake in `experimentId` through the operator.
    function joinOnce(uint256 i, bytes32 experimentId) internal {
        address labeler = labelerAddr(i);
        if (market.balanceOf(labeler) < STAKE) fund(labeler, STAKE);
        uint64 nonce = market.positionOf(experimentId, labeler).joins;
        vm.prank(operator);
        market.lockStakes(experimentId, one(signedJoin(labelerKey(i), experimentId, nonce)));
    }

    // --- settlement ------------------------------------------------------------------------------

    /// @notice Totals for a settlement that returns `stakesReturned`, pays `rewards` from a pot
    /// that redistributes slashed stake, and refunds the rest.
    function totalsOf(uint256 pool, uint256 stakes, uint256 stakesReturned, uint256 rewards)
        internal
        pure
        returns (IPlumblineMarket.Totals memory t)
    {
        t.rewardPool = pool;
        t.stakes = stakes;
        t.stakesReturned = stakesReturned;
        t.slashed = stakes - stakesReturned;
        t.pot = pool + t.slashed;
        t.rewards = rewards;
        // As settlement does: the experimenter gets back at most its pool, the rest burns.
        uint256 unpaid = t.pot - rewards;
        t.refund = unpaid < pool ? unpaid : pool;
        t.burned = unpaid - t.refund;
    }

    /// @notice The payout values in the order `distribute` takes them: ascending by leaf hash.
    function sortedLeaves(address[] memory accounts, uint256[] memory amounts)
        internal
        pure
        returns (IPlumblineMarket.PayoutLeaf[] memory leaves)
    {
        PayoutTree.Tree memory tree = PayoutTree.build(accounts, amounts);
        uint256 n = accounts.length;
        leaves = new IPlumblineMarket.PayoutLeaf[](n);
        // The tree stores the leaf of rank r (ascending hash) in slot 2n - 2 - r.
        for (uint256 i = 0; i < n; ++i) {
            uint256 rank = 2 * n - 2 - tree.slotOf[i];
            leaves[rank] = IPlumblineMarket.PayoutLeaf(accounts[i], amounts[i]);
        }
    }

    function warpToSettlement(bytes32 experimentId) internal {
        vm.warp(market.experiment(experimentId).revealDeadline);
    }

    function warpPastWindow(bytes32 experimentId) internal {
        IPlumblineMarket.Experiment memory e = market.experiment(experimentId);
        vm.warp(uint256(e.rootPostedAt) + e.challengeWindowSecs);
    }
}
