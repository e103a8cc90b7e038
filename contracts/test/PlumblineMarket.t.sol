// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

import {PlumblineMarket} from "../src/PlumblineMarket.sol";
import {IPlumblineMarket} from "../src/interfaces/IPlumblineMarket.sol";
import {MarketTest} from "./utils/MarketTest.sol";
import {PayoutTree} from "./utils/PayoutTree.sol";
import {StandardTreeRoot} from "../src/libraries/StandardTreeRoot.sol";

contract PlumblineMarketBalancesTest is MarketTest {
    address internal alice = makeAddr("alice");

    function test_constructor_refuses_the_zero_token() public {
        vm.expectRevert(IPlumblineMarket.PlumblineMarket__ZeroToken.selector);
        new PlumblineMarket(IERC20(address(0)));
    }

    function test_token_and_domain() public view {
        assertEq(market.token(), address(token));
        assertEq(market.DOMAIN_SEPARATOR(), domainSeparator(block.chainid, address(market)));
    }

    function test_deposit_credits_the_balance_and_pulls_the_tokens() public {
        token.mint(alice, 5e18);
        vm.startPrank(alice);
        token.approve(address(market), 5e18);
        vm.expectEmit(address(market));
        emit IPlumblineMarket.Deposited(alice, 3e18);
        market.deposit(3e18);
        vm.stopPrank();
        assertEq(market.balanceOf(alice), 3e18);
        assertEq(token.balanceOf(alice), 2e18);
        assertEq(token.balanceOf(address(market)), 3e18);
    }

    function test_deposit_needs_an_allowance() public {
        token.mint(alice, 1e18);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, 1e18)
        );
        market.deposit(1e18);
    }

    function test_deposit_and_withdraw_refuse_zero() public {
        vm.expectRevert(IPlumblineMarket.PlumblineMarket__ZeroAmount.selector);
        market.deposit(0);
        vm.expectRevert(IPlumblineMarket.PlumblineMarket__ZeroAmount.selector);
        market.withdraw(0);
    }

    function test_withdraw_sends_the_tokens() public {
        fund(alice, 5e18);
        vm.expectEmit(address(market));
        emit IPlumblineMarket.Withdrawn(alice, 2e18);
        vm.prank(alice);
        market.withdraw(2e18);
        assertEq(market.balanceOf(alice), 3e18);
        assertEq(token.balanceOf(alice), 2e18);
    }

    function test_withdraw_refuses_more_than_the_balance() public {
        fund(alice, 1e18);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__InsufficientBalance.selector, alice, 1e18, 1e18 + 1
            )
        );
        market.withdraw(1e18 + 1);
    }

    function test_fuzz_deposit_then_withdraw_conserves_tokens(uint256 deposited, uint256 withdrawn) public {
        deposited = bound(deposited, 1, type(uint128).max);
        withdrawn = bound(withdrawn, 1, deposited);
        fund(alice, deposited);
        vm.prank(alice);
        market.withdraw(withdrawn);
        assertEq(market.balanceOf(alice), deposited - withdrawn);
        assertEq(token.balanceOf(alice), withdrawn);
        assertEq(token.balanceOf(address(market)), deposited - withdrawn);
    }
}

contract PlumblineMarketCreateTest is MarketTest {
    function test_create_escrows_the_pool_and_opens() public {
        IPlumblineMarket.ExperimentConfig memory c = config();
        token.mint(experimenter, POOL);
        vm.startPrank(experimenter);
        token.approve(address(market), POOL);
        vm.expectEmit(address(market));
        emit IPlumblineMarket.ExperimentCreated(EXPERIMENT, experimenter, c);
        market.createExperiment(EXPERIMENT, c);
        vm.stopPrank();

        IPlumblineMarket.Experiment memory e = market.experiment(EXPERIMENT);
        assertEq(e.stakePerBatch, STAKE);
        assertEq(e.pool, POOL);
        assertEq(e.creator, experimenter);
        assertEq(e.operator, operator);
        assertEq(e.challenger, challenger);
        assertEq(e.specHash, SPEC_HASH);
        assertEq(e.commitDeadline, c.commitDeadline);
        assertEq(e.revealDeadline, c.revealDeadline);
        assertEq(e.challengeWindowSecs, WINDOW);
        assertEq(token.balanceOf(address(market)), POOL);
        assertEq(market.escrowOf(EXPERIMENT), POOL);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Open));
    }

    function test_create_refuses_an_existing_id() public {
        create(EXPERIMENT);
        IPlumblineMarket.ExperimentConfig memory c = config();
        vm.expectRevert(abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__ExperimentExists.selector, EXPERIMENT));
        vm.prank(experimenter);
        market.createExperiment(EXPERIMENT, c);
    }

    /// Someone who sees an experiment about to be created cannot take its id first and collect,
    /// under an operator of its own, the stakes labelers sign for it.
    function test_create_refuses_an_id_of_another_creator() public {
        IPlumblineMarket.ExperimentConfig memory c = config();
        c.operator = stranger;
        token.mint(stranger, POOL);
        vm.startPrank(stranger);
        token.approve(address(market), POOL);
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__NotCreatorsId.selector, EXPERIMENT, stranger)
        );
        market.createExperiment(EXPERIMENT, c);
        vm.stopPrank();
        // The rest of the id is the creator's to choose.
        create(idOf(experimenter, "any name"), config());
        assertEq(market.experiment(idOf(experimenter, "any name")).creator, experimenter);
    }

    function test_create_refuses_bad_amounts() public {
        vm.startPrank(experimenter);
        IPlumblineMarket.ExperimentConfig memory c = config();
        c.pool = 0;
        vm.expectRevert(abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__BadAmount.selector, 0, STAKE));
        market.createExperiment(EXPERIMENT, c);
        c = config();
        c.stakePerBatch = 0;
        vm.expectRevert(abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__BadAmount.selector, POOL, 0));
        market.createExperiment(EXPERIMENT, c);
        c = config();
        c.pool = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__BadAmount.selector, c.pool, STAKE));
        market.createExperiment(EXPERIMENT, c);
        c = config();
        c.stakePerBatch = uint256(type(uint128).max) + 1;
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__BadAmount.selector, POOL, c.stakePerBatch)
        );
        market.createExperiment(EXPERIMENT, c);
        vm.stopPrank();
    }

    function test_create_refuses_a_zero_operator() public {
        IPlumblineMarket.ExperimentConfig memory c = config();
        c.operator = address(0);
        vm.expectRevert(IPlumblineMarket.PlumblineMarket__ZeroOperator.selector);
        vm.prank(experimenter);
        market.createExperiment(EXPERIMENT, c);
    }

    function test_create_refuses_a_challenge_window_out_of_bounds() public {
        IPlumblineMarket.ExperimentConfig memory c = config();
        c.challengeWindowSecs = 1 hours - 1;
        vm.startPrank(experimenter);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__BadChallengeWindow.selector, 1 hours - 1, 1 hours, 30 days
            )
        );
        market.createExperiment(EXPERIMENT, c);
        c.challengeWindowSecs = 30 days + 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__BadChallengeWindow.selector, 30 days + 1, 1 hours, 30 days
            )
        );
        market.createExperiment(EXPERIMENT, c);
        vm.stopPrank();
    }

    /// The deadlines are valid exactly when the commit deadline is ahead, the reveal window is at
    /// least a minute, and the reveal deadline is within the horizon.
    function test_fuzz_create_checks_the_deadlines(uint64 commitAhead, uint64 revealWindow) public {
        commitAhead = uint64(bound(commitAhead, 0, 400 days));
        revealWindow = uint64(bound(revealWindow, 0, 400 days));
        IPlumblineMarket.ExperimentConfig memory c = config();
        c.commitDeadline = uint64(block.timestamp) + commitAhead;
        c.revealDeadline = c.commitDeadline + revealWindow;
        bool valid = commitAhead > 0 && revealWindow >= 60 && commitAhead + revealWindow <= 366 days;
        if (!valid) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IPlumblineMarket.PlumblineMarket__BadDeadlines.selector,
                    block.timestamp,
                    c.commitDeadline,
                    c.revealDeadline
                )
            );
            vm.prank(experimenter);
            market.createExperiment(EXPERIMENT, c);
        } else {
            create(EXPERIMENT, c);
            assertEq(market.experiment(EXPERIMENT).revealDeadline, c.revealDeadline);
        }
    }

    function test_phases_follow_the_deadlines() public {
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.None));
        IPlumblineMarket.ExperimentConfig memory c = create(EXPERIMENT);
        vm.warp(c.commitDeadline - 1);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Open));
        vm.warp(c.commitDeadline);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Revealing));
        vm.warp(c.revealDeadline);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.AwaitingSettlement));
        vm.warp(uint256(c.revealDeadline) + 30 days - 1);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.AwaitingSettlement));
        vm.warp(uint256(c.revealDeadline) + 30 days);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Abandoned));
    }
}

contract PlumblineMarketLockStakesTest is MarketTest {
    uint256 internal key;
    address internal labeler;

    function setUp() public override {
        super.setUp();
        create(EXPERIMENT);
        key = labelerKey(1);
        labeler = labelerAddr(1);
        fund(labeler, 100e18);
    }

    function test_lock_moves_the_stake_and_counts_the_join() public {
        IPlumblineMarket.SignedJoin memory join = signedJoin(key, EXPERIMENT, keccak256("region:EU"), STAKE, 0);
        vm.expectEmit(address(market));
        emit IPlumblineMarket.StakesLocked(EXPERIMENT, lockedOf(join));
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(join));

        assertEq(market.balanceOf(labeler), 90e18);
        assertEq(market.positionOf(EXPERIMENT, labeler).joins, 1);
        assertEq(market.experiment(EXPERIMENT).stakes, STAKE);
        assertEq(market.escrowOf(EXPERIMENT), POOL + STAKE);
    }

    function test_lock_relays_many_joins_in_order() public {
        uint256 other = labelerKey(2);
        fund(vm.addr(other), STAKE);
        IPlumblineMarket.SignedJoin[] memory joins = new IPlumblineMarket.SignedJoin[](3);
        joins[0] = signedJoin(key, EXPERIMENT, 0);
        joins[1] = signedJoin(other, EXPERIMENT, 0);
        joins[2] = signedJoin(key, EXPERIMENT, 1);
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, joins);
        assertEq(market.positionOf(EXPERIMENT, labeler).joins, 2);
        assertEq(market.positionOf(EXPERIMENT, vm.addr(other)).joins, 1);
        assertEq(market.balanceOf(vm.addr(other)), 0);
        assertEq(market.experiment(EXPERIMENT).stakes, 3 * STAKE);
    }

    /// A signed join the operator never accepted would lock a stake its settlement does not
    /// account for, and the settlement's totals would never match: neither the labeler nor
    /// anyone else but the operator locks one.
    function test_lock_is_the_operators_alone() public {
        IPlumblineMarket.SignedJoin[] memory joins = one(signedJoin(key, EXPERIMENT, 0));
        address[2] memory others = [labeler, stranger];
        for (uint256 i = 0; i < others.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IPlumblineMarket.PlumblineMarket__NotOperator.selector, EXPERIMENT, others[i], operator
                )
            );
            vm.prank(others[i]);
            market.lockStakes(EXPERIMENT, joins);
        }
        assertEq(market.positionOf(EXPERIMENT, labeler).joins, 0);
        assertEq(market.experiment(EXPERIMENT).stakes, 0);
    }

    /// A relay sent again after a crash lost its receipt carries joins locked already: they
    /// are skipped, not failed, and lock nothing.
    function test_lock_skips_a_join_locked_already() public {
        IPlumblineMarket.SignedJoin memory join = signedJoin(key, EXPERIMENT, 0);
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(join));

        IPlumblineMarket.SignedJoin[] memory joins = new IPlumblineMarket.SignedJoin[](2);
        joins[0] = join;
        joins[1] = signedJoin(key, EXPERIMENT, 1);
        vm.expectEmit(address(market));
        emit IPlumblineMarket.StakesLocked(EXPERIMENT, lockedOf(joins[1]));
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, joins);
        assertEq(market.positionOf(EXPERIMENT, labeler).joins, 2);
        assertEq(market.experiment(EXPERIMENT).stakes, 2 * STAKE);
        assertEq(market.balanceOf(labeler), 80e18);
    }

    function test_lock_of_repeats_only_changes_nothing() public {
        IPlumblineMarket.SignedJoin memory join = signedJoin(key, EXPERIMENT, 0);
        IPlumblineMarket.SignedJoin[] memory joins = new IPlumblineMarket.SignedJoin[](2);
        joins[0] = join;
        joins[1] = join;
        vm.recordLogs();
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, joins);
        assertEq(vm.getRecordedLogs().length, 1, "one event, for the first copy");
        assertEq(market.experiment(EXPERIMENT).stakes, STAKE);

        vm.recordLogs();
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(join));
        assertEq(vm.getRecordedLogs().length, 0, "a pure repeat emits nothing");
        assertEq(market.experiment(EXPERIMENT).stakes, STAKE);
        assertEq(market.balanceOf(labeler), 90e18);
    }

    function test_lock_refuses_a_nonce_gap() public {
        vm.expectRevert(abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__NonceGap.selector, 0, labeler, 0, 1));
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(signedJoin(key, EXPERIMENT, 1)));
    }

    function test_lock_refuses_a_stake_other_than_the_experiments() public {
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__WrongStake.selector, 0, STAKE, STAKE + 1)
        );
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(signedJoin(key, EXPERIMENT, bytes32(0), STAKE + 1, 0)));
    }

    /// A join for `labeler` signed with `signerKey`: what a relayer forging a stake lock sends.
    function forgedJoin(uint256 signerKey) internal view returns (IPlumblineMarket.SignedJoin memory) {
        (bytes32 r, bytes32 vs) = vm.signCompact(
            signerKey, joinDigest(marketDomain(), EXPERIMENT, labeler, bytes32(0), STAKE, 0, JOIN_EXPIRY)
        );
        return IPlumblineMarket.SignedJoin(labeler, bytes32(0), STAKE, 0, JOIN_EXPIRY, r, vs);
    }

    function test_lock_refuses_a_join_signed_by_someone_else() public {
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__WrongSigner.selector, 0, labeler, labelerAddr(2))
        );
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(forgedJoin(labelerKey(2))));
    }

    /// The operator accepted the join before its expiry; its lock may come later.
    function test_lock_ignores_a_joins_expiry() public {
        vm.warp(JOIN_EXPIRY + 1);
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(signedJoin(key, EXPERIMENT, 0)));
        assertEq(market.positionOf(EXPERIMENT, labeler).joins, 1);
    }

    /// The expiry is signed: a relay cannot extend it.
    function test_lock_refuses_a_join_with_another_expiry() public {
        IPlumblineMarket.SignedJoin memory join = signedJoin(key, EXPERIMENT, 0);
        join.expiresAt += 1;
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(join));
    }

    function test_lock_refuses_an_altered_join() public {
        IPlumblineMarket.SignedJoin memory join = signedJoin(key, EXPERIMENT, keccak256("region:EU"), STAKE, 0);
        join.cohort = keccak256("region:US");
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(join));
    }

    /// For every signature (r, s) the pair (r, n - s) with the other parity is valid too. In the
    /// two-word form that twin does not fit (n - s needs the bit that carries the parity), and
    /// an s in the upper half that does fit is refused, as the off-chain market refuses it: each
    /// message has one signature.
    function test_lock_refuses_an_s_in_the_upper_half() public {
        IPlumblineMarket.SignedJoin memory join = signedJoin(key, EXPERIMENT, 0);
        uint256 halfOrder = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
        join.vs = bytes32(halfOrder + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__WrongSigner.selector, 0, labeler, address(0))
        );
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(join));
    }

    function test_lock_refuses_a_short_balance() public {
        uint256 poorKey = labelerKey(3);
        fund(vm.addr(poorKey), STAKE - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__InsufficientBalance.selector, vm.addr(poorKey), STAKE - 1, STAKE
            )
        );
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(signedJoin(poorKey, EXPERIMENT, 0)));
    }

    function test_lock_refuses_after_the_commit_deadline() public {
        IPlumblineMarket.Experiment memory e = market.experiment(EXPERIMENT);
        vm.warp(e.commitDeadline);
        IPlumblineMarket.SignedJoin[] memory joins = one(signedJoin(key, EXPERIMENT, 0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__CommitDeadlinePassed.selector,
                EXPERIMENT,
                e.commitDeadline,
                e.commitDeadline
            )
        );
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, joins);
    }

    function test_lock_refuses_an_unknown_experiment() public {
        IPlumblineMarket.SignedJoin[] memory joins = one(signedJoin(key, idOf("nope"), 0));
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__UnknownExperiment.selector, idOf("nope"))
        );
        vm.prank(operator);
        market.lockStakes(idOf("nope"), joins);
    }

    function test_lock_refuses_no_entries_and_too_many() public {
        vm.expectRevert(abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__BadEntryCount.selector, 0, 1000));
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, new IPlumblineMarket.SignedJoin[](0));
        vm.expectRevert(abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__BadEntryCount.selector, 1001, 1000));
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, new IPlumblineMarket.SignedJoin[](1001));
    }

    function test_lock_refuses_an_escrow_beyond_128_bits() public {
        IPlumblineMarket.ExperimentConfig memory c = config();
        c.pool = type(uint128).max - 1;
        c.stakePerBatch = 2;
        create(idOf("big"), c);
        IPlumblineMarket.SignedJoin[] memory joins = one(signedJoin(key, idOf("big"), bytes32(0), 2, 0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__EscrowTooLarge.selector, idOf("big"), uint256(type(uint128).max) + 1
            )
        );
        vm.prank(operator);
        market.lockStakes(idOf("big"), joins);
    }

    /// A join signed for one experiment does not lock a stake in another.
    function test_lock_refuses_a_join_replayed_in_another_experiment() public {
        bytes32 other = idOf("other experiment");
        create(other);
        IPlumblineMarket.SignedJoin memory join = signedJoin(key, EXPERIMENT, 0);
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(join));
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
        vm.prank(operator);
        market.lockStakes(other, one(join));
        assertEq(market.positionOf(other, labeler).joins, 0);
    }

    /// A join signed for this chain does not lock a stake on another (or after a fork).
    function test_lock_refuses_a_join_replayed_on_another_chain() public {
        IPlumblineMarket.SignedJoin memory join = signedJoin(key, EXPERIMENT, 0);
        vm.chainId(block.chainid + 1);
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(join));
    }

    /// A join signed for another deployment of the market does not lock a stake here.
    function test_lock_refuses_a_join_signed_for_another_contract() public {
        PlumblineMarket otherMarket = new PlumblineMarket(token);
        (bytes32 r, bytes32 vs) = vm.signCompact(
            key,
            joinDigest(
                domainSeparator(block.chainid, address(otherMarket)),
                EXPERIMENT,
                labeler,
                bytes32(0),
                STAKE,
                0,
                JOIN_EXPIRY
            )
        );
        IPlumblineMarket.SignedJoin memory join =
            IPlumblineMarket.SignedJoin(labeler, bytes32(0), STAKE, 0, JOIN_EXPIRY, r, vs);
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(join));
    }

    function test_fuzz_lock_counts_every_join_once(uint8 joinCount, uint8 repeats) public {
        joinCount = uint8(bound(joinCount, 1, 9));
        repeats = uint8(bound(repeats, 0, 3));
        IPlumblineMarket.SignedJoin[] memory joins = new IPlumblineMarket.SignedJoin[](uint256(joinCount) + repeats);
        for (uint64 n = 0; n < joinCount; ++n) {
            joins[n] = signedJoin(key, EXPERIMENT, n);
        }
        // Repeats of earlier joins, anywhere after them, change nothing.
        for (uint256 k = 0; k < repeats; ++k) {
            joins[joinCount + k] = joins[k % joinCount];
        }
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, joins);
        assertEq(market.positionOf(EXPERIMENT, labeler).joins, joinCount);
        assertEq(market.experiment(EXPERIMENT).stakes, joinCount * STAKE);
        assertEq(market.balanceOf(labeler), 100e18 - joinCount * STAKE);
    }

    function test_fuzz_lock_refuses_any_wrong_key(uint256 signerKey) public {
        signerKey = bound(signerKey, 1, 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140);
        vm.assume(signerKey != key);
        IPlumblineMarket.SignedJoin memory join = forgedJoin(signerKey);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongSigner.selector, 0, labeler, vm.addr(signerKey)
            )
        );
        vm.prank(operator);
        market.lockStakes(EXPERIMENT, one(join));
    }
}

contract PlumblineMarketCommitTest is MarketTest {
    uint256 internal key;
    address internal labeler;

    function setUp() public override {
        super.setUp();
        create(EXPERIMENT);
        key = labelerKey(1);
        labeler = labelerAddr(1);
    }

    function test_commit_records_the_commits_in_the_running_hash() public {
        IPlumblineMarket.SignedCommit[] memory commits = new IPlumblineMarket.SignedCommit[](2);
        commits[0] = signedCommit(key, EXPERIMENT, 3, keccak256("c3"));
        commits[1] = signedCommit(labelerKey(2), EXPERIMENT, 4, keccak256("c4"));
        bytes32 expected = keccak256(abi.encode(bytes32(0), labeler, uint64(3), keccak256("c3")));
        expected = keccak256(abi.encode(expected, labelerAddr(2), uint64(4), keccak256("c4")));

        vm.expectEmit(address(market));
        emit IPlumblineMarket.BatchesCommitted(EXPERIMENT, recordedOf(commits), expected);
        vm.prank(operator);
        market.commitBatches(EXPERIMENT, commits);
        assertEq(market.experiment(EXPERIMENT).commitsHash, expected);

        // The chain of hashes continues across calls, whoever relays.
        IPlumblineMarket.SignedCommit memory own = signedCommit(key, EXPERIMENT, 9, keccak256("c9"));
        vm.prank(labeler);
        market.commitBatches(EXPERIMENT, one(own));
        expected = keccak256(abi.encode(expected, labeler, uint64(9), keccak256("c9")));
        assertEq(market.experiment(EXPERIMENT).commitsHash, expected);
        // Commits move no money.
        assertEq(market.escrowOf(EXPERIMENT), POOL);
    }

    /// A commit signed for one batch cannot be passed off as another batch's.
    function test_commit_refuses_a_commit_replayed_for_another_batch() public {
        IPlumblineMarket.SignedCommit memory c = signedCommit(key, EXPERIMENT, 3, keccak256("c3"));
        c.batchId = 4;
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
        market.commitBatches(EXPERIMENT, one(c));
    }

    function test_commit_refuses_a_commit_replayed_in_another_experiment() public {
        bytes32 other = idOf("other experiment");
        create(other);
        IPlumblineMarket.SignedCommit memory c = signedCommit(key, EXPERIMENT, 3, keccak256("c3"));
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
        market.commitBatches(other, one(c));
    }

    function test_commit_refuses_a_commit_replayed_on_another_chain() public {
        IPlumblineMarket.SignedCommit memory c = signedCommit(key, EXPERIMENT, 3, keccak256("c3"));
        vm.chainId(1);
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
        market.commitBatches(EXPERIMENT, one(c));
    }

    function test_commit_refuses_an_altered_commitment() public {
        IPlumblineMarket.SignedCommit memory c = signedCommit(key, EXPERIMENT, 3, keccak256("c3"));
        c.commitment = keccak256("other labels");
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
        market.commitBatches(EXPERIMENT, one(c));
    }

    function test_commit_names_the_bad_entry() public {
        IPlumblineMarket.SignedCommit[] memory commits = new IPlumblineMarket.SignedCommit[](3);
        commits[0] = signedCommit(key, EXPERIMENT, 1, keccak256("c1"));
        commits[1] = signedCommit(key, EXPERIMENT, 2, keccak256("c2"));
        commits[2] = signedCommit(key, EXPERIMENT, 3, keccak256("c3"));
        commits[1].labeler = stranger;
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__WrongSigner.selector, 1, stranger, labeler)
        );
        market.commitBatches(EXPERIMENT, commits);
    }

    function test_commit_refuses_after_the_commit_deadline() public {
        IPlumblineMarket.SignedCommit[] memory commits = one(signedCommit(key, EXPERIMENT, 3, keccak256("c3")));
        uint64 deadline = market.experiment(EXPERIMENT).commitDeadline;
        vm.warp(deadline + 5);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__CommitDeadlinePassed.selector, EXPERIMENT, deadline, deadline + 5
            )
        );
        market.commitBatches(EXPERIMENT, commits);
    }

    function test_fuzz_commit_accepts_any_batch_and_commitment(uint64 batchId, bytes32 commitment) public {
        market.commitBatches(EXPERIMENT, one(signedCommit(key, EXPERIMENT, batchId, commitment)));
        assertEq(
            market.experiment(EXPERIMENT).commitsHash, keccak256(abi.encode(bytes32(0), labeler, batchId, commitment))
        );
    }
}

/// Settlement, challenge, claims and refunds over an experiment with three labelers: two
/// rewarded, one slashed by half of its stake, the slashed half redistributed.
contract PlumblineMarketSettlementTest is MarketTest {
    address[] internal accounts;
    uint256[] internal amounts;
    PayoutTree.Tree internal tree;
    IPlumblineMarket.Totals internal totals;

    function setUp() public override {
        super.setUp();
        create(EXPERIMENT);
        joinOnce(1, EXPERIMENT);
        joinOnce(2, EXPERIMENT);
        joinOnce(2, EXPERIMENT);
        joinOnce(3, EXPERIMENT);
        // Labeler 1: 1 batch, rewarded 300. Labeler 2: 2 batches, rewarded 700.
        // Labeler 3: 1 batch, slashed 5 (half). Pot = pool + 5; refund = pot - 1000.
        accounts.push(labelerAddr(1));
        accounts.push(labelerAddr(2));
        accounts.push(labelerAddr(3));
        amounts.push(STAKE + 300e18);
        amounts.push(2 * STAKE + 700e18);
        amounts.push(STAKE - 5e18);
        totals = totalsOf(POOL, 4 * STAKE, 4 * STAKE - 5e18, 1_000e18);
        tree = PayoutTree.build(accounts, amounts);
    }

    function settleNow() internal {
        warpToSettlement(EXPERIMENT);
        vm.prank(operator);
        market.settle(EXPERIMENT, PayoutTree.root(tree), totals);
    }

    function claimOf(uint256 i) internal {
        market.claim(EXPERIMENT, accounts[i], amounts[i], PayoutTree.proof(tree, i));
    }

    function test_settle_posts_the_root_and_opens_the_challenge_window() public {
        warpToSettlement(EXPERIMENT);
        bytes32 root = PayoutTree.root(tree);
        vm.expectEmit(address(market));
        emit IPlumblineMarket.SettlementPosted(EXPERIMENT, root, totals, uint64(block.timestamp) + WINDOW);
        vm.prank(operator);
        market.settle(EXPERIMENT, root, totals);

        IPlumblineMarket.Experiment memory e = market.experiment(EXPERIMENT);
        assertEq(e.payoutRoot, root);
        assertEq(e.rootPostedAt, block.timestamp);
        assertEq(e.payouts, 4 * STAKE - 5e18 + 1_000e18);
        assertEq(e.refund, totals.refund);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Challengeable));
        vm.warp(block.timestamp + WINDOW - 1);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Challengeable));
        vm.warp(block.timestamp + 1);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Settled));
    }

    function test_settle_refuses_before_the_reveal_deadline() public {
        uint64 revealDeadline = market.experiment(EXPERIMENT).revealDeadline;
        vm.warp(revealDeadline - 1);
        bytes32 root = PayoutTree.root(tree);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPhase.selector, EXPERIMENT, IPlumblineMarket.Phase.Revealing
            )
        );
        vm.prank(operator);
        market.settle(EXPERIMENT, root, totals);
    }

    function test_settle_refuses_anyone_but_the_operator() public {
        warpToSettlement(EXPERIMENT);
        bytes32 root = PayoutTree.root(tree);
        for (uint256 i = 0; i < 3; ++i) {
            address caller = [experimenter, challenger, accounts[0]][i];
            vm.expectRevert(
                abi.encodeWithSelector(
                    IPlumblineMarket.PlumblineMarket__NotOperator.selector, EXPERIMENT, caller, operator
                )
            );
            vm.prank(caller);
            market.settle(EXPERIMENT, root, totals);
        }
    }

    function test_settle_refuses_an_unknown_experiment() public {
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__UnknownExperiment.selector, bytes32(0))
        );
        market.settle(bytes32(0), bytes32(0), totals);
    }

    function expectBadTotals(IPlumblineMarket.TotalsRule rule, uint256 expected, uint256 given) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__BadTotals.selector, rule, expected, given)
        );
    }

    function test_settle_refuses_totals_that_do_not_match_the_chain_or_conserve() public {
        warpToSettlement(EXPERIMENT);
        bytes32 root = PayoutTree.root(tree);
        vm.startPrank(operator);

        IPlumblineMarket.Totals memory t = totals;
        t.rewardPool = POOL + 1;
        expectBadTotals(IPlumblineMarket.TotalsRule.RewardPool, POOL, POOL + 1);
        market.settle(EXPERIMENT, root, t);

        t = totals;
        t.stakes = 3 * STAKE;
        expectBadTotals(IPlumblineMarket.TotalsRule.Stakes, 4 * STAKE, 3 * STAKE);
        market.settle(EXPERIMENT, root, t);

        t = totals;
        t.stakesReturned = 4 * STAKE + 1;
        expectBadTotals(IPlumblineMarket.TotalsRule.Slashed, 4 * STAKE, 4 * STAKE + 1);
        market.settle(EXPERIMENT, root, t);

        t = totals;
        t.slashed = 4e18;
        expectBadTotals(IPlumblineMarket.TotalsRule.Slashed, 5e18, 4e18);
        market.settle(EXPERIMENT, root, t);

        t = totals;
        t.pot = POOL + 1;
        expectBadTotals(IPlumblineMarket.TotalsRule.Pot, POOL + 5e18, POOL + 1);
        market.settle(EXPERIMENT, root, t);

        t = totals;
        t.rewards = t.pot + 1;
        expectBadTotals(IPlumblineMarket.TotalsRule.Rewards, t.pot, t.pot + 1);
        market.settle(EXPERIMENT, root, t);

        t = totals;
        t.burned = 5e18 + 1;
        expectBadTotals(IPlumblineMarket.TotalsRule.Burned, 5e18, 5e18 + 1);
        market.settle(EXPERIMENT, root, t);

        // Conserved, but slashed stake handed to the experimenter.
        t = totals;
        t.refund = POOL + 1;
        t.rewards = 5e18 - 1;
        expectBadTotals(IPlumblineMarket.TotalsRule.Refund, POOL, POOL + 1);
        market.settle(EXPERIMENT, root, t);

        // One unit more to the experimenter than the money there is.
        t = totals;
        t.refund += 1;
        expectBadTotals(IPlumblineMarket.TotalsRule.Conservation, POOL + 4 * STAKE, POOL + 4 * STAKE + 1);
        market.settle(EXPERIMENT, root, t);

        t = totals;
        t.refund = type(uint256).max;
        expectBadTotals(IPlumblineMarket.TotalsRule.Conservation, POOL + 4 * STAKE, type(uint256).max);
        market.settle(EXPERIMENT, root, t);

        t = totals;
        expectBadTotals(IPlumblineMarket.TotalsRule.Root, 0, 4 * STAKE - 5e18 + 1_000e18);
        market.settle(EXPERIMENT, bytes32(0), t);
        vm.stopPrank();
    }

    /// The three slashed-funds policies of `crates/core/src/settle.rs` all pass.
    function test_settle_accepts_both_slashed_funds_policies() public {
        warpToSettlement(EXPERIMENT);
        bytes32 root = PayoutTree.root(tree);
        vm.startPrank(operator);
        // Redistribute (setUp's totals).
        market.settle(EXPERIMENT, root, totals);
        // Burn: the pot is the pool; the slashed 5 is burned.
        IPlumblineMarket.Totals memory t = totals;
        t.pot = POOL;
        t.burned = 5e18;
        t.refund = POOL - 1_000e18;
        market.settle(EXPERIMENT, root, t);
        assertEq(market.experiment(EXPERIMENT).burned, 5e18);
        // Redistributed but nobody rewarded: the pool goes back, the slashed 5 burns.
        t = totals;
        t.rewards = 0;
        t.refund = POOL;
        t.burned = 5e18;
        market.settle(EXPERIMENT, root, t);
        assertEq(market.experiment(EXPERIMENT).refund, POOL);
        assertEq(market.experiment(EXPERIMENT).burned, 5e18);
        vm.stopPrank();
    }

    function test_settle_replaces_a_pending_settlement_and_restarts_the_window() public {
        settleNow();
        vm.warp(block.timestamp + WINDOW - 1);
        IPlumblineMarket.Totals memory t = totals;
        t.rewards = 900e18;
        t.refund += 100e18;
        vm.prank(operator);
        market.settle(EXPERIMENT, keccak256("corrected root"), t);
        IPlumblineMarket.Experiment memory e = market.experiment(EXPERIMENT);
        assertEq(e.payoutRoot, keccak256("corrected root"));
        assertEq(e.rootPostedAt, block.timestamp);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Challengeable));
    }

    function test_settle_refuses_once_final() public {
        settleNow();
        warpPastWindow(EXPERIMENT);
        bytes32 root = PayoutTree.root(tree);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPhase.selector, EXPERIMENT, IPlumblineMarket.Phase.Settled
            )
        );
        vm.prank(operator);
        market.settle(EXPERIMENT, root, totals);
    }

    function test_settle_refuses_after_the_settlement_period() public {
        uint256 deadline = uint256(market.experiment(EXPERIMENT).revealDeadline) + 30 days;
        vm.warp(deadline);
        bytes32 root = PayoutTree.root(tree);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPhase.selector, EXPERIMENT, IPlumblineMarket.Phase.Abandoned
            )
        );
        vm.prank(operator);
        market.settle(EXPERIMENT, root, totals);
    }

    /// A settlement posted just before the period ends can still become final, but not be
    /// replaced after the end.
    function test_settle_cannot_replace_a_pending_settlement_after_the_period() public {
        uint256 deadline = uint256(market.experiment(EXPERIMENT).revealDeadline) + 30 days;
        vm.warp(deadline - 1);
        vm.prank(operator);
        market.settle(EXPERIMENT, PayoutTree.root(tree), totals);
        vm.warp(deadline);
        bytes32 root = PayoutTree.root(tree);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__SettlementPeriodOver.selector, EXPERIMENT, deadline, deadline
            )
        );
        vm.prank(operator);
        market.settle(EXPERIMENT, root, totals);
        vm.warp(deadline - 1 + WINDOW);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Settled));
    }

    function test_challenge_voids_the_settlement_and_the_operator_posts_again() public {
        settleNow();
        bytes32 root = PayoutTree.root(tree);
        vm.expectEmit(address(market));
        emit IPlumblineMarket.SettlementChallenged(EXPERIMENT, root);
        vm.prank(challenger);
        market.challenge(EXPERIMENT);

        IPlumblineMarket.Experiment memory e = market.experiment(EXPERIMENT);
        assertEq(e.payoutRoot, bytes32(0));
        assertEq(e.rootPostedAt, 0);
        assertEq(e.payouts, 0);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.AwaitingSettlement));
        bytes32[] memory proof = PayoutTree.proof(tree, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPhase.selector,
                EXPERIMENT,
                IPlumblineMarket.Phase.AwaitingSettlement
            )
        );
        market.claim(EXPERIMENT, accounts[0], amounts[0], proof);

        vm.prank(operator);
        market.settle(EXPERIMENT, root, totals);
        warpPastWindow(EXPERIMENT);
        claimOf(0);
    }

    function test_challenge_refuses_anyone_but_the_challenger() public {
        settleNow();
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__NotChallenger.selector, EXPERIMENT, operator, challenger
            )
        );
        vm.prank(operator);
        market.challenge(EXPERIMENT);
    }

    function test_challenge_refuses_outside_the_window() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPhase.selector, EXPERIMENT, IPlumblineMarket.Phase.Open
            )
        );
        vm.prank(challenger);
        market.challenge(EXPERIMENT);
        settleNow();
        warpPastWindow(EXPERIMENT);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPhase.selector, EXPERIMENT, IPlumblineMarket.Phase.Settled
            )
        );
        vm.prank(challenger);
        market.challenge(EXPERIMENT);
    }

    /// With no challenger configured, nobody can challenge, not even the zero address's holder.
    function test_challenge_is_off_without_a_challenger() public {
        IPlumblineMarket.ExperimentConfig memory c = config();
        c.challenger = address(0);
        create(idOf("unchallengeable"), c);
        vm.warp(c.revealDeadline);
        vm.prank(operator);
        market.settle(idOf("unchallengeable"), bytes32(0), totalsOf(POOL, 0, 0, 0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__NotChallenger.selector,
                idOf("unchallengeable"),
                challenger,
                address(0)
            )
        );
        vm.prank(challenger);
        market.challenge(idOf("unchallengeable"));
    }

    function test_claim_credits_the_labeler_whoever_calls() public {
        settleNow();
        warpPastWindow(EXPERIMENT);
        bytes32[] memory proof = PayoutTree.proof(tree, 1);
        uint256 before = market.balanceOf(accounts[1]);
        vm.expectEmit(address(market));
        emit IPlumblineMarket.PayoutClaimed(EXPERIMENT, accounts[1], amounts[1]);
        vm.prank(stranger);
        market.claim(EXPERIMENT, accounts[1], amounts[1], proof);
        assertEq(market.balanceOf(accounts[1]), before + amounts[1]);
        assertEq(market.balanceOf(stranger), 0);
        assertTrue(market.positionOf(EXPERIMENT, accounts[1]).claimed);
        assertEq(market.experiment(EXPERIMENT).claimed, amounts[1]);
    }

    function test_claim_refuses_during_the_challenge_window() public {
        settleNow();
        bytes32[] memory proof = PayoutTree.proof(tree, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPhase.selector, EXPERIMENT, IPlumblineMarket.Phase.Challengeable
            )
        );
        market.claim(EXPERIMENT, accounts[0], amounts[0], proof);
    }

    function test_claim_refuses_a_second_claim() public {
        settleNow();
        warpPastWindow(EXPERIMENT);
        claimOf(0);
        bytes32[] memory proof = PayoutTree.proof(tree, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__AlreadyClaimed.selector, EXPERIMENT, accounts[0])
        );
        market.claim(EXPERIMENT, accounts[0], amounts[0], proof);
    }

    function test_claim_refuses_a_wrong_amount_or_proof() public {
        settleNow();
        warpPastWindow(EXPERIMENT);
        bytes32[] memory proof = PayoutTree.proof(tree, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__InvalidProof.selector, EXPERIMENT, accounts[0], amounts[0] + 1
            )
        );
        market.claim(EXPERIMENT, accounts[0], amounts[0] + 1, proof);
        // Someone else's proof proves nothing about this leaf.
        proof = PayoutTree.proof(tree, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__InvalidProof.selector, EXPERIMENT, accounts[0], amounts[0]
            )
        );
        market.claim(EXPERIMENT, accounts[0], amounts[0], proof);
    }

    function test_claim_many_pays_everyone_at_once() public {
        settleNow();
        warpPastWindow(EXPERIMENT);
        IPlumblineMarket.Payout[] memory payouts = new IPlumblineMarket.Payout[](3);
        for (uint256 i = 0; i < 3; ++i) {
            payouts[i] = IPlumblineMarket.Payout(accounts[i], amounts[i], PayoutTree.proof(tree, i));
        }
        vm.prank(operator);
        market.claimMany(EXPERIMENT, payouts);
        for (uint256 i = 0; i < 3; ++i) {
            assertTrue(market.positionOf(EXPERIMENT, accounts[i]).claimed);
        }
        assertEq(market.experiment(EXPERIMENT).claimed, amounts[0] + amounts[1] + amounts[2]);
        assertEq(market.balanceOf(accounts[1]), 2 * STAKE + 700e18);
    }

    function test_claim_many_refuses_a_leaf_twice_in_one_call() public {
        settleNow();
        warpPastWindow(EXPERIMENT);
        IPlumblineMarket.Payout[] memory payouts = new IPlumblineMarket.Payout[](2);
        payouts[0] = IPlumblineMarket.Payout(accounts[2], amounts[2], PayoutTree.proof(tree, 2));
        payouts[1] = payouts[0];
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__AlreadyClaimed.selector, EXPERIMENT, accounts[2])
        );
        market.claimMany(EXPERIMENT, payouts);
    }

    /// Whatever root the operator posts, claims stop at the settlement's payout total, so one
    /// experiment's bad root cannot reach another experiment's money.
    function test_claims_stop_at_the_payout_total() public {
        // A second, funded experiment whose money must stay out of reach.
        create(idOf("bystander"));
        // A root that pays labeler 1 the entire pool, while the totals declare 1,000 of rewards.
        address[] memory greedy = new address[](2);
        uint256[] memory greedyAmounts = new uint256[](2);
        greedy[0] = accounts[0];
        greedy[1] = accounts[1];
        greedyAmounts[0] = 4 * STAKE + POOL;
        greedyAmounts[1] = 1;
        PayoutTree.Tree memory greedyTree = PayoutTree.build(greedy, greedyAmounts);
        warpToSettlement(EXPERIMENT);
        vm.prank(operator);
        market.settle(EXPERIMENT, PayoutTree.root(greedyTree), totals);
        warpPastWindow(EXPERIMENT);
        uint256 payoutsTotal = market.experiment(EXPERIMENT).payouts;
        bytes32[] memory proof = PayoutTree.proof(greedyTree, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__ClaimsExceedPayouts.selector,
                EXPERIMENT,
                greedyAmounts[0],
                payoutsTotal
            )
        );
        market.claim(EXPERIMENT, greedy[0], greedyAmounts[0], proof);

        IPlumblineMarket.Payout[] memory payouts = new IPlumblineMarket.Payout[](1);
        payouts[0] = IPlumblineMarket.Payout(greedy[0], greedyAmounts[0], proof);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__ClaimsExceedPayouts.selector,
                EXPERIMENT,
                greedyAmounts[0],
                payoutsTotal
            )
        );
        market.claimMany(EXPERIMENT, payouts);
        assertEq(market.escrowOf(idOf("bystander")), POOL);
    }

    function test_refund_credits_the_experimenter_and_burns() public {
        IPlumblineMarket.Totals memory t = totals;
        t.pot = POOL;
        t.burned = 5e18;
        t.refund = POOL - 1_000e18;
        warpToSettlement(EXPERIMENT);
        vm.prank(operator);
        market.settle(EXPERIMENT, PayoutTree.root(tree), t);
        warpPastWindow(EXPERIMENT);

        vm.expectEmit(address(market));
        emit IPlumblineMarket.Refunded(EXPERIMENT, experimenter, POOL - 1_000e18, 5e18);
        vm.prank(stranger);
        market.refund(EXPERIMENT);
        assertEq(market.balanceOf(experimenter), POOL - 1_000e18);
        assertEq(token.balanceOf(market.BURN_ADDRESS()), 5e18);

        vm.expectRevert(abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__AlreadyRefunded.selector, EXPERIMENT));
        market.refund(EXPERIMENT);
    }

    function test_refund_refuses_before_the_settlement_is_final() public {
        settleNow();
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPhase.selector, EXPERIMENT, IPlumblineMarket.Phase.Challengeable
            )
        );
        market.refund(EXPERIMENT);
    }

    /// After every claim and the refund, the experiment holds nothing and the market holds
    /// exactly the balances.
    function test_full_settlement_empties_the_escrow() public {
        settleNow();
        warpPastWindow(EXPERIMENT);
        for (uint256 i = 0; i < 3; ++i) {
            claimOf(i);
        }
        market.refund(EXPERIMENT);
        assertEq(market.escrowOf(EXPERIMENT), 0);
        uint256 balances = market.balanceOf(experimenter);
        for (uint256 i = 0; i < 3; ++i) {
            balances += market.balanceOf(accounts[i]);
        }
        assertEq(token.balanceOf(address(market)), balances);
        // Labeler 3 got back half its stake, the others their stakes and rewards.
        assertEq(market.balanceOf(accounts[2]), STAKE - 5e18);
    }

    function test_abandoned_experiment_returns_stakes_and_pool() public {
        uint256 deadline = uint256(market.experiment(EXPERIMENT).revealDeadline) + 30 days;
        vm.warp(deadline);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Abandoned));

        vm.expectEmit(address(market));
        emit IPlumblineMarket.StakeReclaimed(EXPERIMENT, accounts[1], 2 * STAKE);
        market.reclaimStake(EXPERIMENT, accounts[1]);
        assertEq(market.balanceOf(accounts[1]), 2 * STAKE);
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__AlreadyClaimed.selector, EXPERIMENT, accounts[1])
        );
        market.reclaimStake(EXPERIMENT, accounts[1]);
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__NothingToReclaim.selector, EXPERIMENT, stranger)
        );
        market.reclaimStake(EXPERIMENT, stranger);

        vm.expectEmit(address(market));
        emit IPlumblineMarket.Refunded(EXPERIMENT, experimenter, POOL, 0);
        market.refund(EXPERIMENT);
        market.reclaimStake(EXPERIMENT, accounts[0]);
        market.reclaimStake(EXPERIMENT, accounts[2]);
        assertEq(market.escrowOf(EXPERIMENT), 0);
        assertEq(market.balanceOf(experimenter), POOL);
    }

    /// A settlement challenged after the period ended leaves the experiment abandoned.
    function test_challenge_after_the_period_abandons() public {
        uint256 deadline = uint256(market.experiment(EXPERIMENT).revealDeadline) + 30 days;
        vm.warp(deadline - 1);
        vm.prank(operator);
        market.settle(EXPERIMENT, PayoutTree.root(tree), totals);
        vm.warp(deadline + 1);
        vm.prank(challenger);
        market.challenge(EXPERIMENT);
        assertEq(uint8(market.phaseOf(EXPERIMENT)), uint8(IPlumblineMarket.Phase.Abandoned));
        market.reclaimStake(EXPERIMENT, accounts[0]);
        assertEq(market.balanceOf(accounts[0]), STAKE);
    }

    function test_reclaim_refuses_unless_abandoned() public {
        settleNow();
        warpPastWindow(EXPERIMENT);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPhase.selector, EXPERIMENT, IPlumblineMarket.Phase.Settled
            )
        );
        market.reclaimStake(EXPERIMENT, accounts[0]);
    }

    /// Any split of the money that conserves it settles, and claiming every leaf then refunding
    /// leaves the experiment's escrow at exactly zero.
    function test_fuzz_any_conserving_settlement_pays_out_exactly(
        uint256 slash1,
        uint256 slash2,
        uint256 slash3,
        uint256 reward1,
        uint256 reward2,
        uint8 policy
    ) public {
        uint256[3] memory stakes = [STAKE, 2 * STAKE, STAKE];
        uint256[3] memory slashes =
            [bound(slash1, 0, stakes[0]), bound(slash2, 0, stakes[1]), bound(slash3, 0, stakes[2])];
        uint256 slashed = slashes[0] + slashes[1] + slashes[2];
        IPlumblineMarket.Totals memory t;
        t.rewardPool = POOL;
        t.stakes = 4 * STAKE;
        t.slashed = slashed;
        t.stakesReturned = 4 * STAKE - slashed;
        // Redistributed (0) or burned (1); what rewards leave of the pot goes back up to the pool
        // and burns beyond, as settlement does.
        policy = uint8(bound(policy, 0, 1));
        t.pot = policy == 0 ? POOL + slashed : POOL;
        t.burned = policy == 1 ? slashed : 0;
        uint256[3] memory rewards;
        rewards[0] = bound(reward1, 0, t.pot);
        rewards[1] = bound(reward2, 0, t.pot - rewards[0]);
        t.rewards = rewards[0] + rewards[1];
        uint256 unpaid = t.pot - t.rewards;
        t.refund = unpaid < POOL ? unpaid : POOL;
        t.burned += unpaid - t.refund;

        uint256[] memory payoutAmounts = new uint256[](3);
        for (uint256 i = 0; i < 3; ++i) {
            payoutAmounts[i] = stakes[i] - slashes[i] + rewards[i];
        }
        PayoutTree.Tree memory fuzzTree = PayoutTree.build(accounts, payoutAmounts);
        warpToSettlement(EXPERIMENT);
        vm.prank(operator);
        market.settle(EXPERIMENT, PayoutTree.root(fuzzTree), t);
        warpPastWindow(EXPERIMENT);
        for (uint256 i = 0; i < 3; ++i) {
            market.claim(EXPERIMENT, accounts[i], payoutAmounts[i], PayoutTree.proof(fuzzTree, i));
        }
        market.refund(EXPERIMENT);
        assertEq(market.escrowOf(EXPERIMENT), 0);
        assertEq(token.balanceOf(market.BURN_ADDRESS()), t.burned);
        assertEq(
            token.balanceOf(address(market)),
            market.balanceOf(experimenter) + market.balanceOf(accounts[0]) + market.balanceOf(accounts[1])
                + market.balanceOf(accounts[2])
        );
    }

    function test_fuzz_settle_refuses_any_totals_that_do_not_conserve(uint256 refundDelta) public {
        refundDelta = bound(refundDelta, 1, type(uint128).max);
        IPlumblineMarket.Totals memory t = totals;
        t.refund += refundDelta;
        warpToSettlement(EXPERIMENT);
        bytes32 root = PayoutTree.root(tree);
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__BadTotals.selector);
        vm.prank(operator);
        market.settle(EXPERIMENT, root, t);
    }
}

/// Paying a settlement all at once, against the same three-labeler settlement.
contract PlumblineMarketDistributeTest is MarketTest {
    address[] internal accounts;
    uint256[] internal amounts;
    IPlumblineMarket.Totals internal totals;
    bytes32 internal root;

    function setUp() public override {
        super.setUp();
        create(EXPERIMENT);
        joinOnce(1, EXPERIMENT);
        joinOnce(2, EXPERIMENT);
        joinOnce(3, EXPERIMENT);
        accounts.push(labelerAddr(1));
        accounts.push(labelerAddr(2));
        accounts.push(labelerAddr(3));
        amounts.push(STAKE + 600e18);
        amounts.push(STAKE + 400e18);
        amounts.push(0);
        totals = totalsOf(POOL, 3 * STAKE, 2 * STAKE, 1_000e18);
        root = PayoutTree.root(PayoutTree.build(accounts, amounts));
        warpToSettlement(EXPERIMENT);
        vm.prank(operator);
        market.settle(EXPERIMENT, root, totals);
    }

    function test_distribute_pays_every_leaf() public {
        warpPastWindow(EXPERIMENT);
        IPlumblineMarket.PayoutLeaf[] memory leaves = sortedLeaves(accounts, amounts);
        for (uint256 i = 0; i < 3; ++i) {
            vm.expectEmit(address(market));
            emit IPlumblineMarket.PayoutClaimed(EXPERIMENT, leaves[i].labeler, leaves[i].amount);
        }
        vm.prank(stranger);
        market.distribute(EXPERIMENT, leaves);
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(market.balanceOf(accounts[i]), amounts[i]);
        }
        IPlumblineMarket.Experiment memory e = market.experiment(EXPERIMENT);
        assertEq(e.claimed, 2 * STAKE + 1_000e18);
        assertEq(uint8(e.payoutMode), uint8(IPlumblineMarket.PayoutMode.Distributed));
        market.refund(EXPERIMENT);
        assertEq(market.escrowOf(EXPERIMENT), 0);
    }

    function test_distribute_refuses_before_final() public {
        IPlumblineMarket.PayoutLeaf[] memory leaves = sortedLeaves(accounts, amounts);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPhase.selector, EXPERIMENT, IPlumblineMarket.Phase.Challengeable
            )
        );
        market.distribute(EXPERIMENT, leaves);
    }

    function test_distribute_refuses_leaves_that_miss_the_root() public {
        warpPastWindow(EXPERIMENT);
        IPlumblineMarket.PayoutLeaf[] memory leaves = sortedLeaves(accounts, amounts);
        // One unit more for someone.
        leaves[0].amount += 1;
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongLeaves.selector);
        market.distribute(EXPERIMENT, leaves);
        // A leaf left out.
        IPlumblineMarket.PayoutLeaf[] memory two = new IPlumblineMarket.PayoutLeaf[](2);
        two[0] = sortedLeaves(accounts, amounts)[0];
        two[1] = sortedLeaves(accounts, amounts)[1];
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongLeaves.selector);
        market.distribute(EXPERIMENT, two);
    }

    function test_distribute_refuses_unsorted_leaves() public {
        warpPastWindow(EXPERIMENT);
        IPlumblineMarket.PayoutLeaf[] memory leaves = sortedLeaves(accounts, amounts);
        (leaves[0], leaves[1]) = (leaves[1], leaves[0]);
        vm.expectRevert(abi.encodeWithSelector(StandardTreeRoot.StandardTreeRoot__LeavesNotSorted.selector, 1));
        market.distribute(EXPERIMENT, leaves);
    }

    /// A root listing a labeler twice pays it once, whichever way it is paid.
    function test_distribute_refuses_a_labeler_listed_twice() public {
        address[] memory twice = new address[](2);
        uint256[] memory twiceAmounts = new uint256[](2);
        twice[0] = accounts[0];
        twice[1] = accounts[0];
        twiceAmounts[0] = 1;
        twiceAmounts[1] = 2;
        bytes32 twiceRoot = PayoutTree.root(PayoutTree.build(twice, twiceAmounts));
        vm.prank(operator);
        market.settle(EXPERIMENT, twiceRoot, totals);
        warpPastWindow(EXPERIMENT);
        IPlumblineMarket.PayoutLeaf[] memory leaves = sortedLeaves(twice, twiceAmounts);
        vm.expectRevert(
            abi.encodeWithSelector(IPlumblineMarket.PlumblineMarket__AlreadyClaimed.selector, EXPERIMENT, accounts[0])
        );
        market.distribute(EXPERIMENT, leaves);
    }

    function test_distribute_and_claims_exclude_each_other() public {
        warpPastWindow(EXPERIMENT);
        PayoutTree.Tree memory tree = PayoutTree.build(accounts, amounts);
        market.claim(EXPERIMENT, accounts[2], amounts[2], PayoutTree.proof(tree, 2));
        IPlumblineMarket.PayoutLeaf[] memory leaves = sortedLeaves(accounts, amounts);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPayoutMode.selector,
                EXPERIMENT,
                IPlumblineMarket.PayoutMode.Claims
            )
        );
        market.distribute(EXPERIMENT, leaves);
    }

    function test_claims_after_distribute_are_refused() public {
        warpPastWindow(EXPERIMENT);
        market.distribute(EXPERIMENT, sortedLeaves(accounts, amounts));
        bytes32[] memory proof = PayoutTree.proof(PayoutTree.build(accounts, amounts), 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPayoutMode.selector,
                EXPERIMENT,
                IPlumblineMarket.PayoutMode.Distributed
            )
        );
        market.claim(EXPERIMENT, accounts[0], amounts[0], proof);
        IPlumblineMarket.PayoutLeaf[] memory leaves = sortedLeaves(accounts, amounts);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__WrongPayoutMode.selector,
                EXPERIMENT,
                IPlumblineMarket.PayoutMode.Distributed
            )
        );
        market.distribute(EXPERIMENT, leaves);
    }

    /// Whatever root is posted, a distribution stops at the settlement's payout total.
    function test_distribute_stops_at_the_payout_total() public {
        uint256[] memory greedy = new uint256[](3);
        greedy[0] = POOL + 3 * STAKE;
        bytes32 greedyRoot = PayoutTree.root(PayoutTree.build(accounts, greedy));
        vm.prank(operator);
        market.settle(EXPERIMENT, greedyRoot, totals);
        warpPastWindow(EXPERIMENT);
        IPlumblineMarket.PayoutLeaf[] memory leaves = sortedLeaves(accounts, greedy);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPlumblineMarket.PlumblineMarket__ClaimsExceedPayouts.selector,
                EXPERIMENT,
                POOL + 3 * STAKE,
                2 * STAKE + 1_000e18
            )
        );
        market.distribute(EXPERIMENT, leaves);
    }
}
