// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {console} from "forge-std/console.sol";

import {PlumblineMarket} from "../../src/PlumblineMarket.sol";
import {IPlumblineMarket} from "../../src/interfaces/IPlumblineMarket.sol";
import {TestToken} from "../../src/test/TestToken.sol";
import {PlumblineMarketHandler} from "./PlumblineMarketHandler.sol";

/// @notice The market's safety properties, checked after every step of random campaigns run by
/// `PlumblineMarketHandler`.
contract PlumblineMarketInvariantsTest is Test {
    PlumblineMarket internal market;
    TestToken internal token;
    PlumblineMarketHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        token = new TestToken();
        market = new PlumblineMarket(token);
        handler = new PlumblineMarketHandler(market, token);

        // Each action with its weight: experiments, stake locks and time drive every phase, so
        // they come more often.
        bytes4[] memory selectors = new bytes4[](20);
        selectors[0] = handler.deposit.selector;
        selectors[1] = handler.withdraw.selector;
        selectors[2] = handler.createExperiment.selector;
        selectors[3] = handler.createExperiment.selector;
        selectors[4] = handler.lockStakes.selector;
        selectors[5] = handler.lockStakes.selector;
        selectors[6] = handler.lockStakes.selector;
        selectors[7] = handler.commitBatches.selector;
        selectors[8] = handler.repeatJoin.selector;
        selectors[9] = handler.replayJoinElsewhere.selector;
        selectors[10] = handler.replayCommit.selector;
        selectors[11] = handler.settle.selector;
        selectors[12] = handler.challenge.selector;
        selectors[13] = handler.claim.selector;
        selectors[14] = handler.claim.selector;
        selectors[15] = handler.distribute.selector;
        selectors[16] = handler.reclaimStake.selector;
        selectors[17] = handler.refund.selector;
        selectors[18] = handler.warp.selector;
        selectors[19] = handler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// What the contract holds for an experiment, from its stored fields: the pool and the
    /// stakes locked, less what claims, reclaims, the refund and the burn took out.
    function escrowFromFields(bytes32 experimentId) internal view returns (uint256) {
        IPlumblineMarket.Experiment memory e = market.experiment(experimentId);
        uint256 out = uint256(e.claimed) + (e.refunded ? uint256(e.refund) + e.burned : 0);
        return uint256(e.pool) + e.stakes - out;
    }

    /// The token balance is exactly the free balances plus, per experiment, the pool and the
    /// locked stakes not yet paid out; and it is exactly what crossed the boundary.
    function invariant_token_balance_equals_the_ledger() public view {
        uint256 balances = 0;
        address[] memory accounts = handler.allAccounts();
        for (uint256 i = 0; i < accounts.length; ++i) {
            balances += market.balanceOf(accounts[i]);
        }
        uint256 escrows = 0;
        for (uint256 i = 0; i < handler.experimentCount(); ++i) {
            bytes32 experimentId = handler.experimentIds(i);
            escrows += escrowFromFields(experimentId);
            assertEq(market.escrowOf(experimentId), escrowFromFields(experimentId));
        }
        uint256 held = token.balanceOf(address(market));
        assertEq(held, balances + escrows, "token balance = free balances + unpaid pools and stakes");
        assertEq(
            held,
            handler.ghostDeposited() + handler.ghostPools() - handler.ghostWithdrawn() - handler.ghostBurned(),
            "token balance = deposits - withdrawals + pools - burns"
        );
    }

    /// No experiment pays out more than it holds, and claims stay within the settlement's total.
    function invariant_an_experiment_never_pays_more_than_it_holds() public view {
        for (uint256 i = 0; i < handler.experimentCount(); ++i) {
            IPlumblineMarket.Experiment memory e = market.experiment(handler.experimentIds(i));
            uint256 out = uint256(e.claimed) + (e.refunded ? uint256(e.refund) + e.burned : 0);
            assertLe(out, uint256(e.pool) + e.stakes);
            if (e.rootPostedAt != 0) assertLe(e.claimed, e.payouts);
        }
    }

    /// Each labeler's leaf (or, once abandoned, its stake) is paid at most once per experiment.
    function invariant_a_leaf_is_paid_at_most_once() public view {
        address[] memory accounts = handler.allAccounts();
        for (uint256 i = 0; i < handler.experimentCount(); ++i) {
            bytes32 experimentId = handler.experimentIds(i);
            for (uint256 a = 0; a < accounts.length; ++a) {
                assertLe(handler.payoutsTo(experimentId, accounts[a]), 1);
            }
        }
    }

    function invariant_no_settlement_before_the_reveal_deadline() public view {
        assertFalse(handler.settledBeforeRevealDeadline());
    }

    function invariant_only_the_operator_locks_stakes_and_settles() public view {
        assertFalse(handler.settledByNonOperator());
        assertFalse(handler.lockedByNonOperator());
    }

    /// No signature is accepted outside its experiment, batch, chain and contract, and no join
    /// locks twice: each experiment's stakes are exactly one stake per join counted, and no
    /// labeler has more joins counted than it signed.
    function invariant_no_signature_replays() public view {
        assertFalse(handler.replayAccepted());
        address[] memory accounts = handler.allAccounts();
        for (uint256 i = 0; i < handler.experimentCount(); ++i) {
            bytes32 experimentId = handler.experimentIds(i);
            IPlumblineMarket.Experiment memory e = market.experiment(experimentId);
            uint256 joins = 0;
            for (uint256 a = 0; a < accounts.length; ++a) {
                uint256 counted = market.positionOf(experimentId, accounts[a]).joins;
                assertLe(counted, handler.joinsSigned(experimentId, accounts[a]));
                joins += counted;
            }
            assertEq(e.stakes, joins * e.stakePerBatch);
        }
    }

    /// Shows how far the campaigns got, so a run that never reached settlement is visible.
    function afterInvariant() public view {
        string[16] memory actions = [
            "deposit",
            "withdraw",
            "createExperiment",
            "lockStakes",
            "commitBatches",
            "repeatJoin",
            "replayJoinElsewhere",
            "replayCommit",
            "settle",
            "challenge",
            "claim",
            "distribute",
            "reclaimStake",
            "refund",
            "warp",
            ""
        ];
        for (uint256 i = 0; i < 15; ++i) {
            console.log(
                "%s: %d calls, %d accepted", actions[i], handler.calls(actions[i]), handler.successes(actions[i])
            );
        }
    }
}
