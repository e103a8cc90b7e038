// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {StandardTreeRoot} from "../../src/libraries/StandardTreeRoot.sol";
import {PayoutTree} from "../utils/PayoutTree.sol";

/// @notice The on-chain root rebuild against the tests' tree, which `test/Vectors.t.sol` pins to
/// OpenZeppelin's package, and against OpenZeppelin's own proof verification.
contract StandardTreeRootTest is Test {
    /// The library's view of a tree: its leaves sorted ascending.
    function sortedLeaves(PayoutTree.Tree memory tree, uint256 n) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](n);
        for (uint256 rank = 0; rank < n; ++rank) {
            leaves[rank] = tree.nodes[2 * n - 2 - rank];
        }
    }

    function test_no_leaves_is_zero() public pure {
        assertEq(StandardTreeRoot.fromSortedLeaves(new bytes32[](0)), bytes32(0));
    }

    function test_one_leaf_is_the_root() public pure {
        bytes32[] memory leaves = new bytes32[](1);
        leaves[0] = keccak256("leaf");
        assertEq(StandardTreeRoot.fromSortedLeaves(leaves), keccak256("leaf"));
    }

    function test_unsorted_leaves_revert() public {
        bytes32[] memory leaves = new bytes32[](3);
        leaves[0] = bytes32(uint256(1));
        leaves[1] = bytes32(uint256(3));
        leaves[2] = bytes32(uint256(2));
        vm.expectRevert(abi.encodeWithSelector(StandardTreeRoot.StandardTreeRoot__LeavesNotSorted.selector, 2));
        this.rootOf(leaves);
    }

    function rootOf(bytes32[] memory leaves) external pure returns (bytes32) {
        return StandardTreeRoot.fromSortedLeaves(leaves);
    }

    /// For any set of payouts, the rebuilt root is the tree's, and every proof of that tree
    /// verifies against it with OpenZeppelin's MerkleProof.
    function test_fuzz_rebuilt_root_is_the_trees(uint256 seed, uint8 size) public pure {
        uint256 n = bound(size, 1, 70);
        address[] memory accounts = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            accounts[i] = address(uint160(uint256(keccak256(abi.encode(seed, i)))));
            amounts[i] = uint256(keccak256(abi.encode(seed, i, "amount"))) % 1e24;
        }
        PayoutTree.Tree memory tree = PayoutTree.build(accounts, amounts);
        bytes32 root = StandardTreeRoot.fromSortedLeaves(sortedLeaves(tree, n));
        assertEq(root, PayoutTree.root(tree));
        for (uint256 i = 0; i < n; ++i) {
            assertTrue(MerkleProof.verify(PayoutTree.proof(tree, i), root, PayoutTree.leaf(accounts[i], amounts[i])));
        }
    }
}
