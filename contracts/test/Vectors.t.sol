// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {PlumblineMarket} from "../src/PlumblineMarket.sol";
import {IPlumblineMarket} from "../src/interfaces/IPlumblineMarket.sol";
import {MarketTest} from "./utils/MarketTest.sol";
import {PayoutTree} from "./utils/PayoutTree.sol";
import {StandardTreeRoot} from "../src/libraries/StandardTreeRoot.sol";

/// @notice The contract against the cross-implementation vectors of `crates/core/tests/vectors`
/// (`eip712.json`, `merkle.json`), which `tools/vectors` generates with viem and OpenZeppelin's
/// merkle-tree package and the Rust core reproduces byte for byte. The tests read the files when
/// they run (`fs_permissions` in `foundry.toml` lets them read that directory and nothing else)
/// and check every vector of the kinds they test, so the Rust core and the contract are held to
/// the same files: regenerated vectors need no change here.
contract VectorsTest is MarketTest {
    string internal constant EIP712_VECTORS = "../crates/core/tests/vectors/eip712.json";
    string internal constant MERKLE_VECTORS = "../crates/core/tests/vectors/merkle.json";
    /// The most an experiment holds (its escrow fits in 128 bits): a payout above it is one no
    /// settlement can pay.
    uint256 internal constant ESCROW_MAX = type(uint128).max;

    /// What every message of `eip712.json`'s `typed` has besides its fields.
    struct Typed {
        uint256 chainId;
        address verifyingContract;
        uint256 privateKey;
        address signer;
        bytes32 digest;
        bytes signature;
    }

    struct JoinVector {
        Typed typed;
        bytes32 experimentId;
        address labeler;
        bytes32 cohort;
        uint256 stake;
        uint64 nonce;
        uint64 expiresAt;
    }

    struct CommitVector {
        Typed typed;
        bytes32 experimentId;
        uint64 batchId;
        bytes32 commitment;
    }

    /// A payout tree of `merkle.json`: its values, their leaves and proofs in value order, and
    /// its root.
    struct PayoutVector {
        string name;
        bytes32 root;
        address[] accounts;
        uint256[] amounts;
        bytes32[] leaves;
        bytes32[][] proofs;
    }

    // --- reading the vectors ---------------------------------------------------------------------

    /// `path[index]`.
    function element(string memory path, uint256 index) internal pure returns (string memory) {
        return string.concat(path, "[", vm.toString(index), "]");
    }

    /// The length of the array at `path`. The vectors' arrays hold objects, which forge's typed
    /// array parsers refuse, so this counts the elements that exist.
    function lengthOf(string memory json, string memory path) internal view returns (uint256 length) {
        while (vm.keyExistsJson(json, element(path, length))) {
            ++length;
        }
    }

    /// The vectors write every integer as a decimal string; one that does not fit in 64 bits
    /// reverts rather than wraps.
    function parseUint64(string memory json, string memory key) internal pure returns (uint64) {
        return SafeCast.toUint64(vm.parseJsonUint(json, key));
    }

    /// The indices in `typed` of the messages of type `primaryType`, in file order.
    function typedIndices(string memory json, string memory primaryType)
        internal
        view
        returns (uint256[] memory indices)
    {
        uint256 count = lengthOf(json, ".typed");
        indices = new uint256[](count);
        uint256 found = 0;
        for (uint256 i = 0; i < count; ++i) {
            string memory kind = vm.parseJsonString(json, string.concat(element(".typed", i), ".primary_type"));
            if (keccak256(bytes(kind)) == keccak256(bytes(primaryType))) indices[found++] = i;
        }
        assembly ("memory-safe") {
            // Shortens the array to the indices found; the memory past it is left unused.
            mstore(indices, found)
        }
    }

    function typedAt(string memory json, string memory vector) internal pure returns (Typed memory t) {
        t.chainId = vm.parseJsonUint(json, string.concat(vector, ".domain.chain_id"));
        t.verifyingContract = vm.parseJsonAddress(json, string.concat(vector, ".domain.verifying_contract"));
        t.privateKey = vm.parseJsonUint(json, string.concat(vector, ".private_key"));
        t.signer = vm.parseJsonAddress(json, string.concat(vector, ".signer"));
        t.digest = vm.parseJsonBytes32(json, string.concat(vector, ".digest"));
        t.signature = vm.parseJsonBytes(json, string.concat(vector, ".signature"));
    }

    /// Every `Join` of `eip712.json`, in file order.
    function joinVectors() internal view returns (JoinVector[] memory joins) {
        string memory json = vm.readFile(EIP712_VECTORS);
        uint256[] memory indices = typedIndices(json, "Join");
        joins = new JoinVector[](indices.length);
        for (uint256 k = 0; k < indices.length; ++k) {
            string memory vector = element(".typed", indices[k]);
            string memory message = string.concat(vector, ".message");
            JoinVector memory j = joins[k];
            j.typed = typedAt(json, vector);
            j.experimentId = vm.parseJsonBytes32(json, string.concat(message, ".experimentId"));
            j.labeler = vm.parseJsonAddress(json, string.concat(message, ".labeler"));
            j.cohort = vm.parseJsonBytes32(json, string.concat(message, ".cohort"));
            j.stake = vm.parseJsonUint(json, string.concat(message, ".stake"));
            j.nonce = parseUint64(json, string.concat(message, ".nonce"));
            j.expiresAt = parseUint64(json, string.concat(message, ".expiresAt"));
        }
    }

    /// Every `Commit` of `eip712.json`, in file order.
    function commitVectors() internal view returns (CommitVector[] memory commits) {
        string memory json = vm.readFile(EIP712_VECTORS);
        uint256[] memory indices = typedIndices(json, "Commit");
        commits = new CommitVector[](indices.length);
        for (uint256 k = 0; k < indices.length; ++k) {
            string memory vector = element(".typed", indices[k]);
            string memory message = string.concat(vector, ".message");
            CommitVector memory c = commits[k];
            c.typed = typedAt(json, vector);
            c.experimentId = vm.parseJsonBytes32(json, string.concat(message, ".experimentId"));
            c.batchId = parseUint64(json, string.concat(message, ".batchId"));
            c.commitment = vm.parseJsonBytes32(json, string.concat(message, ".commitment"));
        }
    }

    /// Every payout tree of `merkle.json`, in file order.
    function payoutVectors() internal view returns (PayoutVector[] memory trees) {
        string memory json = vm.readFile(MERKLE_VECTORS);
        trees = new PayoutVector[](lengthOf(json, ".payouts"));
        for (uint256 t = 0; t < trees.length; ++t) {
            string memory tree = element(".payouts", t);
            string memory values = string.concat(tree, ".values");
            string memory proofs = string.concat(tree, ".proofs");
            PayoutVector memory p = trees[t];
            p.name = vm.parseJsonString(json, string.concat(tree, ".name"));
            p.root = vm.parseJsonBytes32(json, string.concat(tree, ".root"));
            p.leaves = vm.parseJsonBytes32Array(json, string.concat(tree, ".leaves"));
            uint256 n = p.leaves.length;
            p.accounts = new address[](n);
            p.amounts = new uint256[](n);
            p.proofs = new bytes32[][](n);
            for (uint256 i = 0; i < n; ++i) {
                string memory value = element(values, i);
                p.accounts[i] = vm.parseJsonAddress(json, string.concat(value, ".account"));
                p.amounts[i] = vm.parseJsonUint(json, string.concat(value, ".amount"));
                p.proofs[i] = vm.parseJsonBytes32Array(json, element(proofs, i));
            }
            // One leaf and one proof per value: fewer values or proofs fail the reads above.
            assertFalse(vm.keyExistsJson(json, element(values, n)), string.concat(p.name, ": more values than leaves"));
            assertFalse(vm.keyExistsJson(json, element(proofs, n)), string.concat(p.name, ": more proofs than leaves"));
        }
    }

    // ---------------------------------------------------------------------------------------------

    /// The tests' own signing helpers give the vectors' digests and, signing deterministically
    /// (RFC 6979) as viem does, their very signatures: every relay the other tests sign is one the
    /// off-chain market could have produced. `Salt` and `Reveal` messages never reach the
    /// contract, so the helpers do not sign them (the Rust core's tests check those); a message
    /// of any other type fails here rather than go unchecked.
    function test_signing_helpers_match_the_vectors() public view {
        JoinVector[] memory joins = joinVectors();
        for (uint256 i = 0; i < joins.length; ++i) {
            JoinVector memory j = joins[i];
            bytes32 digest = joinDigest(
                domainSeparator(j.typed.chainId, j.typed.verifyingContract),
                j.experimentId,
                j.labeler,
                j.cohort,
                j.stake,
                j.nonce,
                j.expiresAt
            );
            checkSignature(j.typed, digest);
        }
        CommitVector[] memory commits = commitVectors();
        for (uint256 i = 0; i < commits.length; ++i) {
            CommitVector memory c = commits[i];
            bytes32 digest = commitDigest(
                domainSeparator(c.typed.chainId, c.typed.verifyingContract), c.experimentId, c.batchId, c.commitment
            );
            checkSignature(c.typed, digest);
        }
        assertGt(joins.length, 0, "no Join vectors");
        assertGt(commits.length, 0, "no Commit vectors");

        string memory json = vm.readFile(EIP712_VECTORS);
        uint256 offChain = typedIndices(json, "Salt").length + typedIndices(json, "Reveal").length;
        assertEq(
            joins.length + commits.length + offChain,
            lengthOf(json, ".typed"),
            "every typed vector is a Join, Commit, Salt or Reveal"
        );
    }

    function checkSignature(Typed memory t, bytes32 digest) internal pure {
        assertEq(digest, t.digest, "digest");
        assertEq(vm.addr(t.privateKey), t.signer, "signer");
        (bytes32 r, bytes32 vs) = compact(t.signature);
        (bytes32 signedR, bytes32 signedVs) = vm.signCompact(t.privateKey, digest);
        assertEq(signedR, r, "r");
        assertEq(signedVs, vs, "s and parity");
        assertEq(ECDSA.recover(digest, r, vs), t.signer, "recovered");
    }

    /// Whether a vector was signed for a contract. The others are signed in embedded mode, for
    /// the zero address, where no contract can be.
    function onContract(Typed memory t) internal pure returns (bool) {
        return t.verifyingContract != address(0);
    }

    /// The market deployed where the vector says, on its chain; vectors signed for the same
    /// contract share one deployment.
    function vectorMarket(Typed memory t) internal returns (PlumblineMarket deployed) {
        vm.chainId(t.chainId);
        if (t.verifyingContract.code.length == 0) {
            deployCodeTo("PlumblineMarket.sol:PlumblineMarket", abi.encode(address(token)), t.verifyingContract);
        }
        deployed = PlumblineMarket(t.verifyingContract);
    }

    /// The deployed market's EIP-712 domain is the vector's, under the file's name and version.
    function checkDomain(PlumblineMarket deployed, Typed memory t, string memory json) internal view {
        assertEq(deployed.DOMAIN_SEPARATOR(), domainSeparator(t.chainId, t.verifyingContract), "domain separator");
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            deployed.eip712Domain();
        assertEq(name, vm.parseJsonString(json, ".domain.name"), "name");
        assertEq(version, vm.parseJsonString(json, ".domain.version"), "version");
        assertEq(chainId, t.chainId, "chain");
        assertEq(verifyingContract, t.verifyingContract, "verifying contract");
    }

    /// The contract, deployed where each vector signed for a contract says, returns the vector's
    /// `Join` or `Commit` digest.
    function test_contract_digests_match_the_vectors() public {
        string memory json = vm.readFile(EIP712_VECTORS);
        uint256 checkedJoins = 0;
        JoinVector[] memory joins = joinVectors();
        for (uint256 i = 0; i < joins.length; ++i) {
            JoinVector memory j = joins[i];
            if (!onContract(j.typed)) continue;
            PlumblineMarket deployed = vectorMarket(j.typed);
            checkDomain(deployed, j.typed, json);
            assertEq(
                deployed.joinDigest(j.experimentId, j.labeler, j.cohort, j.stake, j.nonce, j.expiresAt),
                j.typed.digest,
                "join digest"
            );
            ++checkedJoins;
        }
        uint256 checkedCommits = 0;
        CommitVector[] memory commits = commitVectors();
        for (uint256 i = 0; i < commits.length; ++i) {
            CommitVector memory c = commits[i];
            if (!onContract(c.typed)) continue;
            PlumblineMarket deployed = vectorMarket(c.typed);
            checkDomain(deployed, c.typed, json);
            assertEq(deployed.commitDigest(c.experimentId, c.batchId, c.commitment), c.typed.digest, "commit digest");
            ++checkedCommits;
        }
        // Embedded-mode vectors alone would leave the contract unchecked.
        assertGt(checkedJoins, 0, "no Join vector is signed for a contract");
        assertGt(checkedCommits, 0, "no Commit vector is signed for a contract");
    }

    /// The vector's experiment on `deployed`, created the first time a vector names it, and its
    /// stake per batch. The vectors' ids are random, so the creator is whoever's address they
    /// start with.
    function experimentOn(PlumblineMarket deployed, bytes32 experimentId) internal returns (uint256 stakePerBatch) {
        stakePerBatch = deployed.experiment(experimentId).stakePerBatch;
        if (stakePerBatch != 0) return stakePerBatch;
        IPlumblineMarket.ExperimentConfig memory cfg = config();
        // forge-lint: disable-next-line(unsafe-typecast) an id starts with its creator's address
        address creator = address(bytes20(experimentId));
        token.mint(creator, cfg.pool);
        vm.startPrank(creator);
        token.approve(address(deployed), cfg.pool);
        deployed.createExperiment(experimentId, cfg);
        vm.stopPrank();
        return cfg.stakePerBatch;
    }

    /// The vectors' `Commit` signatures, made by viem, relay on the contract as they are.
    function test_contract_accepts_the_vector_commit_signatures() public {
        uint256 accepted = 0;
        CommitVector[] memory commits = commitVectors();
        for (uint256 i = 0; i < commits.length; ++i) {
            CommitVector memory c = commits[i];
            if (!onContract(c.typed)) continue;
            PlumblineMarket deployed = vectorMarket(c.typed);
            experimentOn(deployed, c.experimentId);
            bytes32 previous = deployed.experiment(c.experimentId).commitsHash;

            (bytes32 r, bytes32 vs) = compact(c.typed.signature);
            IPlumblineMarket.SignedCommit memory signed = IPlumblineMarket.SignedCommit({
                labeler: c.typed.signer, batchId: c.batchId, commitment: c.commitment, r: r, vs: vs
            });
            vm.prank(operator);
            deployed.commitBatches(c.experimentId, one(signed));
            assertEq(
                deployed.experiment(c.experimentId).commitsHash,
                keccak256(abi.encode(previous, c.typed.signer, c.batchId, c.commitment))
            );
            ++accepted;
        }
        assertGt(accepted, 0, "no Commit vector is signed for a contract");
    }

    /// The vectors' `Join` signatures are refused for anything but what was signed: passed off
    /// as their experiment's stake and the labeler's first join, they recover someone else.
    function test_contract_refuses_the_vector_join_signatures_for_another_stake() public {
        uint256 refused = 0;
        JoinVector[] memory joins = joinVectors();
        for (uint256 i = 0; i < joins.length; ++i) {
            JoinVector memory j = joins[i];
            if (!onContract(j.typed)) continue;
            PlumblineMarket deployed = vectorMarket(j.typed);
            uint256 stake = experimentOn(deployed, j.experimentId);
            assertTrue(j.stake != stake || j.nonce != 0, "the vector signs the join this test passes off");
            (bytes32 r, bytes32 vs) = compact(j.typed.signature);
            IPlumblineMarket.SignedJoin memory join = IPlumblineMarket.SignedJoin({
                labeler: j.labeler, cohort: j.cohort, stake: stake, nonce: 0, expiresAt: j.expiresAt, r: r, vs: vs
            });
            vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
            vm.prank(operator);
            deployed.lockStakes(j.experimentId, one(join));
            ++refused;
        }
        assertGt(refused, 0, "no Join vector is signed for a contract");
    }

    /// The commitment the labelers sign, as the interface documents it, for every commitment of
    /// `eip712.json`.
    function test_commitment_formula_matches_the_vectors() public view {
        string memory json = vm.readFile(EIP712_VECTORS);
        uint256 count = lengthOf(json, ".commitments");
        assertGt(count, 0, "no commitment vectors");
        for (uint256 i = 0; i < count; ++i) {
            string memory vector = element(".commitments", i);
            bytes memory encoded = abi.encode(
                vm.parseJsonBytes32(json, string.concat(vector, ".experiment_id")),
                parseUint64(json, string.concat(vector, ".batch_id")),
                vm.parseJsonAddress(json, string.concat(vector, ".labeler")),
                vm.parseJsonBytes32(json, string.concat(vector, ".labels_root")),
                vm.parseJsonBytes32(json, string.concat(vector, ".salt"))
            );
            assertEq(keccak256(encoded), vm.parseJsonBytes32(json, string.concat(vector, ".commitment")));
        }
    }

    /// The tests' payout tree is OpenZeppelin's, leaves, root and proofs, amounts up to 2^256 - 1
    /// included.
    function test_payout_tree_helper_matches_the_vectors() public view {
        PayoutVector[] memory trees = payoutVectors();
        assertGt(trees.length, 0, "no payout trees");
        for (uint256 t = 0; t < trees.length; ++t) {
            PayoutVector memory p = trees[t];
            PayoutTree.Tree memory tree = PayoutTree.build(p.accounts, p.amounts);
            assertEq(PayoutTree.root(tree), p.root, p.name);
            for (uint256 i = 0; i < p.accounts.length; ++i) {
                assertEq(PayoutTree.leaf(p.accounts[i], p.amounts[i]), p.leaves[i], p.name);
                assertEq(PayoutTree.proof(tree, i), p.proofs[i], p.name);
            }
        }
    }

    /// Settles an experiment on `market` with `root`, declaring `payouts` of rewards from a pool
    /// large enough to pay them.
    function settleWithRoot(bytes32 experimentId, bytes32 root, uint256 payouts) internal {
        IPlumblineMarket.ExperimentConfig memory cfg = config();
        if (payouts > cfg.pool) cfg.pool = payouts;
        create(experimentId, cfg);
        warpToSettlement(experimentId);
        vm.prank(operator);
        market.settle(experimentId, root, totalsOf(cfg.pool, 0, 0, payouts));
        warpPastWindow(experimentId);
    }

    /// The contract pays the leaves of payout trees built by the npm package of OpenZeppelin,
    /// with the proofs that package gave: every leaf of every tree whose payout an experiment can
    /// hold. The leaves are paid in file order by experiments settled with the tree's root, a new
    /// one whenever the next payout would take the current one past 2^128 - 1; payouts above that
    /// no experiment can pay, so only the tree helper's test checks their leaves and proofs.
    function test_contract_pays_the_vector_payout_leaves() public {
        PayoutVector[] memory trees = payoutVectors();
        uint256 paid = 0;
        for (uint256 t = 0; t < trees.length; ++t) {
            PayoutVector memory tree = trees[t];
            uint256[] memory group = new uint256[](tree.accounts.length);
            uint256 size = 0;
            uint256 total = 0;
            uint256 experiments = 0;
            for (uint256 i = 0; i < tree.accounts.length; ++i) {
                uint256 amount = tree.amounts[i];
                if (amount > ESCROW_MAX) continue;
                if (amount > ESCROW_MAX - total) {
                    claimLeaves(tree, group, size, total, experiments++);
                    size = 0;
                    total = 0;
                }
                group[size++] = i;
                total += amount;
                ++paid;
            }
            if (size > 0) claimLeaves(tree, group, size, total, experiments);
        }
        assertGt(paid, 0, "no payout an experiment can hold");
    }

    /// Settles experiment `index` of `tree` with the tree's root and `total` of payouts, and pays
    /// it the leaves `group[:size]`: the first with `claim`, the others with one `claimMany`, so
    /// both check the package's proofs.
    function claimLeaves(PayoutVector memory tree, uint256[] memory group, uint256 size, uint256 total, uint256 index)
        internal
    {
        bytes32 experimentId = idOf(string.concat("payouts ", tree.name, " ", vm.toString(index)));
        settleWithRoot(experimentId, tree.root, total);
        // The same accounts have leaves in several trees.
        uint256[] memory before = new uint256[](size);
        for (uint256 k = 0; k < size; ++k) {
            before[k] = market.balanceOf(tree.accounts[group[k]]);
        }
        uint256 first = group[0];
        market.claim(experimentId, tree.accounts[first], tree.amounts[first], tree.proofs[first]);
        if (size > 1) {
            IPlumblineMarket.Payout[] memory payouts = new IPlumblineMarket.Payout[](size - 1);
            for (uint256 k = 1; k < size; ++k) {
                uint256 i = group[k];
                payouts[k - 1] = IPlumblineMarket.Payout(tree.accounts[i], tree.amounts[i], tree.proofs[i]);
            }
            market.claimMany(experimentId, payouts);
        }
        for (uint256 k = 0; k < size; ++k) {
            uint256 i = group[k];
            assertTrue(market.positionOf(experimentId, tree.accounts[i]).claimed, tree.name);
            assertEq(market.balanceOf(tree.accounts[i]), before[k] + tree.amounts[i], tree.name);
        }
        assertEq(market.experiment(experimentId).claimed, total, tree.name);
    }

    /// The library `distribute` rebuilds roots with gives the package's root for every tree of
    /// the vectors, payouts and labels alike, from 1 leaf to 100.
    function test_tree_root_library_matches_the_vectors() public view {
        string memory json = vm.readFile(MERKLE_VECTORS);
        string[2] memory kinds = [".labels", ".payouts"];
        for (uint256 k = 0; k < kinds.length; ++k) {
            uint256 count = lengthOf(json, kinds[k]);
            assertGt(count, 0, string.concat("no trees in ", kinds[k]));
            for (uint256 t = 0; t < count; ++t) {
                string memory tree = element(kinds[k], t);
                bytes32[] memory leaves = vm.parseJsonBytes32Array(json, string.concat(tree, ".leaves"));
                assertEq(
                    StandardTreeRoot.fromSortedLeaves(sortAscending(leaves)),
                    vm.parseJsonBytes32(json, string.concat(tree, ".root")),
                    tree
                );
            }
        }
    }

    function sortAscending(bytes32[] memory values) internal pure returns (bytes32[] memory sorted) {
        sorted = new bytes32[](values.length);
        for (uint256 i = 0; i < values.length; ++i) {
            bytes32 v = values[i];
            uint256 j = i;
            while (j > 0 && sorted[j - 1] > v) {
                sorted[j] = sorted[j - 1];
                --j;
            }
            sorted[j] = v;
        }
    }

    /// `distribute` pays every leaf of each tree built by OpenZeppelin's package whose payouts
    /// one experiment can hold, 2^128 - 1 in all; the trees holding larger payouts cannot be paid
    /// at once.
    function test_contract_distributes_the_vector_trees() public {
        PayoutVector[] memory trees = payoutVectors();
        uint256 distributed = 0;
        for (uint256 t = 0; t < trees.length; ++t) {
            PayoutVector memory tree = trees[t];
            uint256 n = tree.accounts.length;
            uint256 total = 0;
            uint256 i = 0;
            while (i < n && tree.amounts[i] <= ESCROW_MAX - total) {
                total += tree.amounts[i++];
            }
            if (i < n) continue;

            bytes32 experimentId = idOf(string.concat("payouts ", tree.name));
            settleWithRoot(experimentId, tree.root, total);
            uint256[] memory before = new uint256[](n);
            for (i = 0; i < n; ++i) {
                before[i] = market.balanceOf(tree.accounts[i]);
            }
            market.distribute(experimentId, sortedLeaves(tree.accounts, tree.amounts));
            for (i = 0; i < n; ++i) {
                assertEq(market.balanceOf(tree.accounts[i]), before[i] + tree.amounts[i], tree.name);
            }
            assertEq(market.experiment(experimentId).claimed, total, tree.name);
            ++distributed;
        }
        assertGt(distributed, 0, "no payout tree one experiment can hold");
    }
}
