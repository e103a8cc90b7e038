// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {PlumblineMarket} from "../../src/PlumblineMarket.sol";
import {IPlumblineMarket} from "../../src/interfaces/IPlumblineMarket.sol";
import {TestToken} from "../../src/test/TestToken.sol";
import {Eip712Signing} from "../utils/MarketTest.sol";
import {PayoutTree} from "../utils/PayoutTree.sol";

/// @notice Drives the market through random but bounded sequences of everything its users do,
/// and of what an attacker would try (calls out of phase, by the wrong caller, replayed
/// signatures), keeping the ghost records the invariants compare with. Calls that must succeed
/// are made plainly, so an unexpected revert fails the run (`fail_on_revert`); calls that may be
/// refused are wrapped, and any that succeeds where it must not sets a ghost flag.
contract PlumblineMarketHandler is Eip712Signing {
    uint256 internal constant LABELERS = 6;
    uint256 internal constant EXPERIMENTS_MAX = 4;

    PlumblineMarket public immutable market;
    TestToken public immutable token;
    address public immutable operator = makeAddr("operator");
    address public immutable challenger = makeAddr("challenger");
    address public immutable stranger = makeAddr("stranger");
    address[2] public experimenters = [makeAddr("experimenter 0"), makeAddr("experimenter 1")];

    uint256[LABELERS] internal keys;
    address[LABELERS] public labelers;

    bytes32[] public experimentIds;

    // The money that crossed the market's boundary, to check its token balance against.
    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    uint256 public ghostPools;
    uint256 public ghostBurned;

    // What must never happen.
    bool public settledBeforeRevealDeadline;
    bool public settledByNonOperator;
    bool public lockedByNonOperator;
    bool public replayAccepted;
    mapping(bytes32 experimentId => mapping(address labeler => uint256)) public payoutsTo;
    mapping(bytes32 experimentId => mapping(address labeler => uint256)) public joinsSigned;

    struct RecordedJoin {
        bytes32 experimentId;
        IPlumblineMarket.SignedJoin join;
    }

    struct RecordedCommit {
        bytes32 experimentId;
        IPlumblineMarket.SignedCommit commit;
    }

    RecordedJoin[] internal recordedJoins;
    RecordedCommit[] internal recordedCommits;

    /// The payout leaves of each experiment's settlement in force, as posted.
    mapping(bytes32 experimentId => address[]) internal treeAccounts;
    mapping(bytes32 experimentId => uint256[]) internal treeAmounts;

    /// How often each action ran, and how often the market accepted it, printed after each
    /// campaign to show that it reached every phase.
    mapping(string action => uint256) public calls;
    mapping(string action => uint256) public successes;

    constructor(PlumblineMarket market_, TestToken token_) {
        market = market_;
        token = token_;
        for (uint256 i = 0; i < LABELERS; ++i) {
            keys[i] = uint256(keccak256(abi.encode("invariant labeler", i)));
            labelers[i] = vm.addr(keys[i]);
        }
    }

    // --- helpers ---------------------------------------------------------------------------------

    function experimentCount() external view returns (uint256) {
        return experimentIds.length;
    }

    function pickExperiment(uint256 seed) internal view returns (bytes32 experimentId, bool found) {
        if (experimentIds.length == 0) return (bytes32(0), false);
        return (experimentIds[seed % experimentIds.length], true);
    }

    /// An experiment with a posted payout tree, if any, starting the search at `seed`.
    function pickSettled(uint256 seed) internal view returns (bytes32 experimentId, bool found) {
        uint256 n = experimentIds.length;
        for (uint256 k = 0; k < n; ++k) {
            experimentId = experimentIds[(seed % n + k) % n];
            if (treeAccounts[experimentId].length > 0) return (experimentId, true);
        }
        return (bytes32(0), false);
    }

    function phaseOf(bytes32 experimentId) internal view returns (IPlumblineMarket.Phase) {
        return market.phaseOf(experimentId);
    }

    function fund(address account, uint256 amount) internal {
        token.mint(account, amount);
        vm.startPrank(account);
        token.approve(address(market), amount);
        market.deposit(amount);
        vm.stopPrank();
        ghostDeposited += amount;
    }

    function domain() internal view returns (bytes32) {
        return domainSeparator(block.chainid, address(market));
    }

    function signJoin(uint256 l, bytes32 experimentId, uint256 stake, uint64 nonce, bytes32 cohort)
        internal
        view
        returns (IPlumblineMarket.SignedJoin memory)
    {
        (bytes32 r, bytes32 vs) = vm.signCompact(
            keys[l], joinDigest(domain(), experimentId, labelers[l], cohort, stake, nonce, JOIN_EXPIRY)
        );
        return IPlumblineMarket.SignedJoin(labelers[l], cohort, stake, nonce, JOIN_EXPIRY, r, vs);
    }

    function signCommit(uint256 l, bytes32 experimentId, uint64 batchId, bytes32 commitment)
        internal
        view
        returns (IPlumblineMarket.SignedCommit memory)
    {
        (bytes32 r, bytes32 vs) = vm.signCompact(keys[l], commitDigest(domain(), experimentId, batchId, commitment));
        return IPlumblineMarket.SignedCommit(labelers[l], batchId, commitment, r, vs);
    }

    function relayer(uint256 seed, address labeler) internal view returns (address) {
        uint256 pick = seed % 3;
        return pick == 0 ? operator : pick == 1 ? labeler : stranger;
    }

    // --- balances --------------------------------------------------------------------------------

    function deposit(uint256 actorSeed, uint256 amount) external {
        ++calls["deposit"];
        amount = bound(amount, 1, 1_000e18);
        fund(labelers[actorSeed % LABELERS], amount);
    }

    function withdraw(uint256 actorSeed, uint256 amount) external {
        ++calls["withdraw"];
        address account = actorSeed % 4 == 0 ? experimenters[actorSeed % 2] : labelers[actorSeed % LABELERS];
        uint256 balance = market.balanceOf(account);
        if (balance == 0) return;
        amount = bound(amount, 1, balance);
        vm.prank(account);
        market.withdraw(amount);
        ghostWithdrawn += amount;
    }

    // --- experiments -----------------------------------------------------------------------------

    function createExperiment(
        uint256 seed,
        uint256 pool,
        uint256 stake,
        uint64 commitIn,
        uint64 revealFor,
        uint32 window
    ) external {
        ++calls["createExperiment"];
        if (experimentIds.length >= EXPERIMENTS_MAX) return;
        address creator = experimenters[seed % 2];
        bytes32 experimentId = bytes32(bytes20(creator)) | bytes32(experimentIds.length);
        IPlumblineMarket.ExperimentConfig memory config = IPlumblineMarket.ExperimentConfig({
            specHash: keccak256(abi.encode(seed)),
            pool: bound(pool, 1, 1_000e18),
            stakePerBatch: bound(stake, 1, 20e18),
            commitDeadline: uint64(block.timestamp + bound(commitIn, 1 hours, 2 days)),
            revealDeadline: 0,
            challengeWindowSecs: uint32(bound(window, 1 hours, 1 days)),
            operator: operator,
            // Some experiments have no challenger at all.
            challenger: seed % 4 == 0 ? address(0) : challenger
        });
        config.revealDeadline = config.commitDeadline + uint64(bound(revealFor, 60, 1 days));
        token.mint(creator, config.pool);
        vm.startPrank(creator);
        token.approve(address(market), config.pool);
        market.createExperiment(experimentId, config);
        vm.stopPrank();
        ghostPools += config.pool;
        experimentIds.push(experimentId);
    }

    /// Up to five signed joins, relayed by the operator; when the labeler or a stranger sends
    /// them instead, they must be refused.
    function lockStakes(uint256 experimentSeed, uint256 labelerSeed, uint256 count, uint256 relayerSeed) external {
        ++calls["lockStakes"];
        (bytes32 experimentId, bool found) = pickExperiment(experimentSeed);
        if (!found || phaseOf(experimentId) != IPlumblineMarket.Phase.Open) return;
        uint256 stake = market.experiment(experimentId).stakePerBatch;
        count = bound(count, 1, 5);
        IPlumblineMarket.SignedJoin[] memory joins = new IPlumblineMarket.SignedJoin[](count);
        uint64[LABELERS] memory nextNonce;
        uint256[LABELERS] memory needed;
        for (uint256 l = 0; l < LABELERS; ++l) {
            nextNonce[l] = market.positionOf(experimentId, labelers[l]).joins;
        }
        for (uint256 i = 0; i < count; ++i) {
            uint256 l = uint256(keccak256(abi.encode(labelerSeed, i))) % LABELERS;
            bytes32 cohort = i % 2 == 0 ? bytes32(0) : keccak256("region:EU");
            joins[i] = signJoin(l, experimentId, stake, nextNonce[l]++, cohort);
            needed[l] += stake;
            ++joinsSigned[experimentId][labelers[l]];
            recordedJoins.push(RecordedJoin(experimentId, joins[i]));
        }
        for (uint256 l = 0; l < LABELERS; ++l) {
            uint256 balance = market.balanceOf(labelers[l]);
            if (balance < needed[l]) fund(labelers[l], needed[l] - balance);
        }
        address sender = relayer(relayerSeed, joins[0].labeler);
        if (sender != operator) {
            vm.prank(sender);
            try market.lockStakes(experimentId, joins) {
                lockedByNonOperator = true;
            } catch {}
        }
        vm.prank(operator);
        market.lockStakes(experimentId, joins);
        ++successes["lockStakes"];
    }

    function commitBatches(uint256 experimentSeed, uint256 labelerSeed, uint64 batchId, bytes32 commitment) external {
        ++calls["commitBatches"];
        (bytes32 experimentId, bool found) = pickExperiment(experimentSeed);
        if (!found || phaseOf(experimentId) != IPlumblineMarket.Phase.Open) return;
        uint256 l = labelerSeed % LABELERS;
        IPlumblineMarket.SignedCommit[] memory commits = new IPlumblineMarket.SignedCommit[](1);
        commits[0] = signCommit(l, experimentId, batchId, commitment);
        recordedCommits.push(RecordedCommit(experimentId, commits[0]));
        vm.prank(relayer(labelerSeed, labelers[l]));
        market.commitBatches(experimentId, commits);
        ++successes["commitBatches"];
    }

    /// Replays a join locked earlier in its own experiment: a repeat, which must lock nothing.
    function repeatJoin(uint256 index) external {
        ++calls["repeatJoin"];
        if (recordedJoins.length == 0) return;
        RecordedJoin memory recorded = recordedJoins[index % recordedJoins.length];
        if (phaseOf(recorded.experimentId) != IPlumblineMarket.Phase.Open) return;
        IPlumblineMarket.SignedJoin[] memory joins = new IPlumblineMarket.SignedJoin[](1);
        joins[0] = recorded.join;
        uint256 stakesBefore = market.experiment(recorded.experimentId).stakes;
        vm.prank(operator);
        market.lockStakes(recorded.experimentId, joins);
        if (market.experiment(recorded.experimentId).stakes != stakesBefore) replayAccepted = true;
    }

    /// Presents a labeler's join that is due in an open experiment (right nonce, right stake,
    /// enough balance) but signed for another experiment, another chain or another contract:
    /// every one must be refused.
    function replayJoinElsewhere(uint256 experimentSeed, uint256 labelerSeed, uint256 mode) external {
        ++calls["replayJoinElsewhere"];
        (bytes32 experimentId, bool found) = pickExperiment(experimentSeed);
        if (!found || phaseOf(experimentId) != IPlumblineMarket.Phase.Open) return;
        uint256 l = labelerSeed % LABELERS;
        uint256 stake = market.experiment(experimentId).stakePerBatch;
        uint64 nonce = market.positionOf(experimentId, labelers[l]).joins;
        if (market.balanceOf(labelers[l]) < stake) fund(labelers[l], stake);
        mode %= 3;
        // Any address will do for another contract.
        address otherContract = address(bytes20(keccak256(abi.encode(labelerSeed))));
        bytes32 signedDomain = mode == 1
            ? domainSeparator(block.chainid + 1 + labelerSeed % 1000, address(market))
            : mode == 2 ? domainSeparator(block.chainid, otherContract) : domain();
        bytes32 signedExperiment = mode == 0 ? keccak256(abi.encode(experimentId, labelerSeed)) : experimentId;
        (bytes32 r, bytes32 vs) = vm.signCompact(
            keys[l], joinDigest(signedDomain, signedExperiment, labelers[l], bytes32(0), stake, nonce, JOIN_EXPIRY)
        );
        IPlumblineMarket.SignedJoin[] memory joins = new IPlumblineMarket.SignedJoin[](1);
        joins[0] = IPlumblineMarket.SignedJoin(labelers[l], bytes32(0), stake, nonce, JOIN_EXPIRY, r, vs);
        vm.prank(operator);
        try market.lockStakes(experimentId, joins) {
            replayAccepted = true;
        } catch {}
    }

    /// Presents a commit signed earlier as another batch's, in another experiment, or on another
    /// chain: every one must be refused.
    function replayCommit(uint256 index, uint256 targetSeed, uint256 mode) external {
        ++calls["replayCommit"];
        if (recordedCommits.length == 0) return;
        RecordedCommit memory recorded = recordedCommits[index % recordedCommits.length];
        IPlumblineMarket.SignedCommit[] memory commits = new IPlumblineMarket.SignedCommit[](1);
        commits[0] = recorded.commit;
        bytes32 target = recorded.experimentId;
        uint256 chainId = block.chainid;
        mode %= 3;
        if (mode == 0) {
            unchecked {
                // forge-lint: disable-next-line(unsafe-typecast) below 1,001
                commits[0].batchId += uint64(1 + targetSeed % 1000);
            }
        } else if (mode == 1) {
            (target,) = pickExperiment(targetSeed);
            if (target == recorded.experimentId) return;
        }
        if (phaseOf(target) != IPlumblineMarket.Phase.Open) return;
        if (mode == 2) vm.chainId(chainId + 1 + targetSeed % 1000);
        try market.commitBatches(target, commits) {
            replayAccepted = true;
        } catch {}
        vm.chainId(chainId);
    }

    // --- settlement ------------------------------------------------------------------------------

    /// Posts a settlement that conserves the experiment's money: every labeler with a stake gets
    /// it back less a random slash, and the pot is shared at random. The caller is usually the
    /// operator, and the time is whatever it is: a success out of time or by anyone else is
    /// recorded.
    function settle(uint256 experimentSeed, uint256 callerSeed, uint256 slashSeed, uint256 policySeed) external {
        ++calls["settle"];
        (bytes32 experimentId, bool found) = pickExperiment(experimentSeed);
        if (!found) return;
        IPlumblineMarket.Experiment memory e = market.experiment(experimentId);

        uint256 n = 0;
        for (uint256 l = 0; l < LABELERS; ++l) {
            if (market.positionOf(experimentId, labelers[l]).joins > 0) ++n;
        }
        address[] memory accounts = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        IPlumblineMarket.Totals memory t;
        t.rewardPool = e.pool;
        t.stakes = e.stakes;
        uint256 k = 0;
        for (uint256 l = 0; l < LABELERS; ++l) {
            uint256 joins = market.positionOf(experimentId, labelers[l]).joins;
            if (joins == 0) continue;
            uint256 stake = joins * e.stakePerBatch;
            uint256 slash = uint256(keccak256(abi.encode(slashSeed, l))) % (stake + 1);
            accounts[k] = labelers[l];
            amounts[k] = stake - slash;
            t.slashed += slash;
            t.stakesReturned += stake - slash;
            ++k;
        }
        // Redistributed (0) or burned (1); what rewards leave of the pot goes back up to the pool
        // and burns beyond, as settlement does.
        uint256 policy = policySeed % 2;
        t.pot = policy == 0 ? t.rewardPool + t.slashed : t.rewardPool;
        t.burned = policy == 1 ? t.slashed : 0;
        for (uint256 i = 0; i < n; ++i) {
            uint256 reward = uint256(keccak256(abi.encode(policySeed, i))) % (t.pot - t.rewards + 1) / 2;
            amounts[i] += reward;
            t.rewards += reward;
        }
        uint256 unpaid = t.pot - t.rewards;
        t.refund = unpaid < t.rewardPool ? unpaid : t.rewardPool;
        t.burned += unpaid - t.refund;
        bytes32 root = n == 0 ? bytes32(0) : PayoutTree.root(PayoutTree.build(accounts, amounts));

        // Half the time the operator waits until settlement is due, as it would; otherwise the
        // attempt comes whenever it comes.
        if (policySeed % 2 == 0 && block.timestamp < e.revealDeadline) vm.warp(e.revealDeadline);
        uint256 pick = callerSeed % 8;
        address caller = pick == 5 ? stranger : pick == 6 ? experimenters[0] : pick == 7 ? challenger : operator;
        vm.prank(caller);
        try market.settle(experimentId, root, t) {
            ++successes["settle"];
            if (caller != operator) settledByNonOperator = true;
            if (block.timestamp < e.revealDeadline) settledBeforeRevealDeadline = true;
            treeAccounts[experimentId] = accounts;
            treeAmounts[experimentId] = amounts;
        } catch {}
    }

    function challenge(uint256 experimentSeed, uint256 callerSeed) external {
        ++calls["challenge"];
        (bytes32 experimentId, bool found) = pickExperiment(experimentSeed);
        if (!found) return;
        address caller = callerSeed % 4 == 0 ? operator : challenger;
        vm.prank(caller);
        try market.challenge(experimentId) {
            ++successes["challenge"];
            delete treeAccounts[experimentId];
            delete treeAmounts[experimentId];
        } catch {}
    }

    /// Half the time, waits out a running challenge window, as a claimant would.
    function maybeWaitForFinal(bytes32 experimentId, uint256 seed) internal {
        IPlumblineMarket.Experiment memory e = market.experiment(experimentId);
        uint256 finalAt = uint256(e.rootPostedAt) + e.challengeWindowSecs;
        if (seed % 2 == 0 && e.rootPostedAt != 0 && block.timestamp < finalAt) vm.warp(finalAt);
    }

    /// Claims a leaf of the posted tree, whoever calls and whether or not it was claimed before.
    function claim(uint256 experimentSeed, uint256 leafSeed, uint256 callerSeed) external {
        ++calls["claim"];
        (bytes32 experimentId, bool found) = pickSettled(experimentSeed);
        if (!found) return;
        maybeWaitForFinal(experimentId, callerSeed >> 1);
        address[] memory accounts = treeAccounts[experimentId];
        if (accounts.length == 0) return;
        uint256[] memory amounts = treeAmounts[experimentId];
        uint256 i = leafSeed % accounts.length;
        bytes32[] memory proof = PayoutTree.proof(PayoutTree.build(accounts, amounts), i);
        vm.prank(callerSeed % 2 == 0 ? operator : accounts[i]);
        try market.claim(experimentId, accounts[i], amounts[i], proof) {
            ++successes["claim"];
            ++payoutsTo[experimentId][accounts[i]];
        } catch {}
    }

    function distribute(uint256 experimentSeed) external {
        ++calls["distribute"];
        (bytes32 experimentId, bool found) = pickSettled(experimentSeed);
        if (!found) return;
        maybeWaitForFinal(experimentId, experimentSeed >> 8);
        address[] memory accounts = treeAccounts[experimentId];
        if (accounts.length == 0) return;
        uint256[] memory amounts = treeAmounts[experimentId];
        PayoutTree.Tree memory tree = PayoutTree.build(accounts, amounts);
        uint256 n = accounts.length;
        IPlumblineMarket.PayoutLeaf[] memory leaves = new IPlumblineMarket.PayoutLeaf[](n);
        for (uint256 i = 0; i < n; ++i) {
            leaves[2 * n - 2 - tree.slotOf[i]] = IPlumblineMarket.PayoutLeaf(accounts[i], amounts[i]);
        }
        try market.distribute(experimentId, leaves) {
            ++successes["distribute"];
            for (uint256 i = 0; i < n; ++i) {
                ++payoutsTo[experimentId][accounts[i]];
            }
        } catch {}
    }

    function reclaimStake(uint256 experimentSeed, uint256 labelerSeed) external {
        ++calls["reclaimStake"];
        (bytes32 experimentId, bool found) = pickExperiment(experimentSeed);
        if (!found) return;
        address labeler = labelers[labelerSeed % LABELERS];
        try market.reclaimStake(experimentId, labeler) {
            ++successes["reclaimStake"];
            ++payoutsTo[experimentId][labeler];
        } catch {}
    }

    function refund(uint256 experimentSeed) external {
        ++calls["refund"];
        (bytes32 experimentId, bool found) = pickExperiment(experimentSeed);
        if (!found) return;
        uint256 burned = market.experiment(experimentId).burned;
        try market.refund(experimentId) {
            ++successes["refund"];
            ghostBurned += burned;
        } catch {}
    }

    // --- time ------------------------------------------------------------------------------------

    /// Moves time on: mostly minutes to hours, now and then past a whole settlement period.
    function warp(uint256 seconds_) external {
        ++calls["warp"];
        uint256 step = seconds_ % 16 == 0 ? 31 days : bound(seconds_, 1 minutes, 12 hours);
        vm.warp(block.timestamp + step);
    }

    // --- read by the invariants ------------------------------------------------------------------

    function allAccounts() external view returns (address[] memory all) {
        all = new address[](LABELERS + 2);
        for (uint256 l = 0; l < LABELERS; ++l) {
            all[l] = labelers[l];
        }
        all[LABELERS] = experimenters[0];
        all[LABELERS + 1] = experimenters[1];
    }
}
