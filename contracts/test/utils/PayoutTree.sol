// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @notice A payout tree laid out exactly as OpenZeppelin's `StandardMerkleTree` (and
/// `crates/core/src/merkle.rs`) lay it out, so tests post the roots and proofs the operator
/// would: leaves sorted by hash and stored from the last slot backwards, node `i`'s children at
/// `2i + 1` and `2i + 2`, pairs hashed smaller first. `test/Vectors.t.sol` pins the layout to the
/// npm package's output.
library PayoutTree {
    struct Tree {
        bytes32[] nodes;
        /// For each value, in the order given, the slot of its leaf.
        uint256[] slotOf;
    }

    /// @notice The standard leaf of `(address, uint256)`: `keccak256` twice over the ABI encoding.
    function leaf(address account, uint256 amount) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
    }

    /// @notice Builds the tree over `accounts[i]` paid `amounts[i]`.
    function build(address[] memory accounts, uint256[] memory amounts) internal pure returns (Tree memory tree) {
        uint256 n = accounts.length;
        require(n > 0 && n == amounts.length, "PayoutTree: one amount per account, at least one");
        bytes32[] memory leaves = new bytes32[](n);
        uint256[] memory order = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            leaves[i] = leaf(accounts[i], amounts[i]);
            order[i] = i;
        }
        // Insertion sort by (hash, value index): the stable order OpenZeppelin's sort gives.
        for (uint256 i = 1; i < n; ++i) {
            uint256 current = order[i];
            uint256 j = i;
            while (j > 0 && uint256(leaves[order[j - 1]]) > uint256(leaves[current])) {
                order[j] = order[j - 1];
                --j;
            }
            order[j] = current;
        }
        uint256 nodeCount = 2 * n - 1;
        tree.nodes = new bytes32[](nodeCount);
        tree.slotOf = new uint256[](n);
        for (uint256 rank = 0; rank < n; ++rank) {
            uint256 slot = nodeCount - 1 - rank;
            tree.nodes[slot] = leaves[order[rank]];
            tree.slotOf[order[rank]] = slot;
        }
        for (uint256 i = nodeCount - n; i > 0; --i) {
            tree.nodes[i - 1] = hashPair(tree.nodes[2 * i - 1], tree.nodes[2 * i]);
        }
    }

    function root(Tree memory tree) internal pure returns (bytes32) {
        return tree.nodes[0];
    }

    /// @notice The proof of the value at `index`: siblings from the leaf up, as `getProof` gives.
    function proof(Tree memory tree, uint256 index) internal pure returns (bytes32[] memory siblings) {
        uint256 slot = tree.slotOf[index];
        uint256 depth = 0;
        for (uint256 s = slot; s > 0; s = (s - 1) / 2) {
            ++depth;
        }
        siblings = new bytes32[](depth);
        for (uint256 k = 0; k < depth; ++k) {
            siblings[k] = tree.nodes[slot % 2 == 1 ? slot + 1 : slot - 1];
            slot = (slot - 1) / 2;
        }
    }

    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return uint256(a) < uint256(b) ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }
}
