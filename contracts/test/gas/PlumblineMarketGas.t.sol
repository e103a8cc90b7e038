// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {console} from "forge-std/console.sol";

import {IPlumblineMarket} from "../../src/interfaces/IPlumblineMarket.sol";
import {MarketTest} from "../utils/MarketTest.sol";
import {PayoutTree} from "../utils/PayoutTree.sol";

/// @notice What one experiment costs on chain, per label: every transaction the market needs
/// from creation to the last payout, for 1,000 tasks labeled 5 times each.
/// @dev Forge runs each top-level call here as its own transaction (`isolate = true` in
/// foundry.toml), so `vm.lastCallGas()` is the gas a receipt would show: intrinsic cost and
/// calldata included, every storage slot cold and clean at the start of each call. `setUp`
/// refuses to measure otherwise.
contract PlumblineMarketGasTest is MarketTest {
    /// The target: at most 1,000 gas per label for 1,000 tasks at overlap 5.
    uint256 internal constant GAS_PER_LABEL_MAX = 1_000;

    struct Shape {
        uint256 tasks;
        uint256 overlap;
        /// T, tasks per batch.
        uint256 blockSize;
        /// How many labelers share the batches, each doing the same number.
        uint256 labelers;
        /// Joins (and commits) per relay transaction.
        uint256 relaySize;
        /// The first labeler's number, so that shapes measured in one test use fresh labelers.
        uint256 firstLabeler;
    }

    struct Cost {
        uint256 create;
        uint256 locks;
        uint256 commits;
        uint256 settle;
        uint256 claims;
        uint256 refund;
        uint256 transactions;
        /// Each labeler's one deposit; kept apart because a balance serves many experiments.
        uint256 deposits;
    }

    function setUp() public override {
        super.setUp();
        // Without isolation the second of two identical calls would find its storage warm and
        // pay no intrinsic cost; as a transaction it pays at least the 21,000 every one does.
        token.mint(stranger, 1);
        token.mint(stranger, 1);
        assertGe(vm.lastCallGas().gasTotalUsed, 21_000, "gas is measured per transaction: isolate = true");
    }

    function labels(Shape memory s) internal pure returns (uint256) {
        return s.tasks * s.overlap;
    }

    function marketGas(Cost memory c) internal pure returns (uint256) {
        return c.create + c.locks + c.commits + c.settle + c.claims + c.refund;
    }

    function lastGas(Cost memory c) internal view returns (uint256 used) {
        used = vm.lastCallGas().gasTotalUsed;
        ++c.transactions;
    }

    /// Runs one experiment of shape `s` through the market and returns what each step cost.
    /// Batch k covers block k / overlap and goes to labeler k mod labelers, so the labelers of a
    /// block are distinct and consecutive joins come from different labelers, as when a crowd
    /// works side by side: every relay touches each labeler's slots cold.
    function run(Shape memory s, bytes32 experimentId) internal returns (Cost memory c) {
        require(s.tasks % s.blockSize == 0, "whole blocks");
        uint256 batches = s.tasks / s.blockSize * s.overlap;
        require(batches % s.labelers == 0 && s.labelers >= s.overlap, "labelers share the batches evenly");
        uint256 perLabeler = batches / s.labelers;
        depositAll(s, perLabeler, c);

        IPlumblineMarket.ExperimentConfig memory cfg = config();
        token.mint(experimenter, cfg.pool);
        vm.prank(experimenter);
        token.approve(address(market), cfg.pool);
        vm.prank(experimenter);
        market.createExperiment(experimentId, cfg);
        c.create = lastGas(c);

        relayAll(s, batches, experimentId, c);
        settleAndPay(s, perLabeler, batches, experimentId, c);
        assertEq(market.escrowOf(experimentId), 0, "the experiment paid out everything");
    }

    function depositAll(Shape memory s, uint256 perLabeler, Cost memory c) internal {
        for (uint256 l = 0; l < s.labelers; ++l) {
            address labeler = labelerAddr(s.firstLabeler + l);
            // A labeler keeps a working balance beyond its stakes, as it would.
            uint256 amount = (perLabeler + 1) * STAKE;
            token.mint(labeler, amount);
            vm.prank(labeler);
            token.approve(address(market), amount);
            vm.prank(labeler);
            market.deposit(amount);
            c.deposits += vm.lastCallGas().gasTotalUsed;
        }
    }

    function relayAll(Shape memory s, uint256 batches, bytes32 experimentId, Cost memory c) internal {
        uint64[] memory nonces = new uint64[](s.labelers);
        for (uint256 start = 0; start < batches; start += s.relaySize) {
            uint256 n = batches - start < s.relaySize ? batches - start : s.relaySize;
            IPlumblineMarket.SignedJoin[] memory joins = new IPlumblineMarket.SignedJoin[](n);
            IPlumblineMarket.SignedCommit[] memory commits = new IPlumblineMarket.SignedCommit[](n);
            for (uint256 i = 0; i < n; ++i) {
                uint256 batch = start + i;
                uint256 l = batch % s.labelers;
                uint256 key = labelerKey(s.firstLabeler + l);
                joins[i] = signedJoin(key, experimentId, nonces[l]++);
                // forge-lint: disable-next-line(unsafe-typecast) at most a few thousand batches
                commits[i] = signedCommit(key, experimentId, uint64(batch), keccak256(abi.encode(batch)));
            }
            vm.prank(operator);
            market.lockStakes(experimentId, joins);
            c.locks += lastGas(c);
            vm.prank(operator);
            market.commitBatches(experimentId, commits);
            c.commits += lastGas(c);
        }
    }

    /// Everyone gets its stakes back and an equal share of the pool; the dust is refunded.
    function settleAndPay(Shape memory s, uint256 perLabeler, uint256 batches, bytes32 experimentId, Cost memory c)
        internal
    {
        address[] memory accounts = new address[](s.labelers);
        uint256[] memory amounts = new uint256[](s.labelers);
        uint256 reward = POOL / s.labelers;
        for (uint256 l = 0; l < s.labelers; ++l) {
            accounts[l] = labelerAddr(s.firstLabeler + l);
            amounts[l] = perLabeler * STAKE + reward;
        }
        PayoutTree.Tree memory tree = PayoutTree.build(accounts, amounts);
        IPlumblineMarket.Totals memory totals = totalsOf(POOL, batches * STAKE, batches * STAKE, reward * s.labelers);
        warpToSettlement(experimentId);
        vm.prank(operator);
        market.settle(experimentId, PayoutTree.root(tree), totals);
        c.settle = lastGas(c);
        warpPastWindow(experimentId);

        // The operator pays every leaf in one call; the tree proves itself.
        vm.prank(operator);
        market.distribute(experimentId, sortedLeaves(accounts, amounts));
        c.claims = lastGas(c);
        vm.prank(operator);
        market.refund(experimentId);
        c.refund = lastGas(c);
    }

    function report(Shape memory s, Cost memory c) internal pure {
        uint256 n = labels(s);
        console.log("tasks %d x overlap %d, T = %d", s.tasks, s.overlap, s.blockSize);
        console.log(
            "  %d batches, %d labelers, relays of %d", s.tasks / s.blockSize * s.overlap, s.labelers, s.relaySize
        );
        console.log("  create %d, stake locks %d, commits %d", c.create, c.locks, c.commits);
        console.log("  settle %d, payouts %d, refund %d", c.settle, c.claims, c.refund);
        console.log("  %d transactions, %d gas in all", c.transactions, marketGas(c));
        console.log(
            "  gas per label: %d (with the labelers' deposits: %d)", marketGas(c) / n, (marketGas(c) + c.deposits) / n
        );
    }

    /// The reference case, 1,000 tasks at overlap 5, in batches of 50 tasks shared by 50 labelers
    /// (2 batches, 100 labels each) and relayed 50 at a time.
    function test_gas_per_label_for_1000_tasks_at_overlap_5() public {
        Shape memory s = Shape({tasks: 1_000, overlap: 5, blockSize: 50, labelers: 50, relaySize: 50, firstLabeler: 0});
        Cost memory c = run(s, EXPERIMENT);
        report(s, c);
        assertLe(marketGas(c) / labels(s), GAS_PER_LABEL_MAX, "amortized gas per label");
    }

    /// How the cost falls with the batch size T: every batch costs two signature checks and a
    /// stake lock, shared by its T labels; every labeler costs its first position and its payout,
    /// shared by its labels.
    function test_gas_per_label_by_batch_size() public {
        uint256[4] memory sizes = [uint256(10), 20, 25, 100];
        for (uint256 i = 0; i < sizes.length; ++i) {
            Shape memory s = Shape({
                tasks: 1_000, overlap: 5, blockSize: sizes[i], labelers: 50, relaySize: 50, firstLabeler: 100 * (i + 1)
            });
            Cost memory c = run(s, idOf(string.concat("batch size ", vm.toString(sizes[i]))));
            report(s, c);
            // A batch costs the same whatever its size, so the cost per label falls as T grows.
            assertGt(marketGas(c) / labels(s) * sizes[i], 10_000, "a batch costs more than ten thousand gas");
        }
    }

    /// Fewer, busier labelers share the per-labeler costs over more labels.
    function test_gas_per_label_with_busier_labelers() public {
        Shape memory s =
            Shape({tasks: 1_000, overlap: 5, blockSize: 25, labelers: 25, relaySize: 50, firstLabeler: 1_000});
        Cost memory c = run(s, idOf("busier labelers"));
        report(s, c);
        assertLt(marketGas(c), 10_000_000);
    }
}
