// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title StandardTreeRoot
/// @notice The root of an OpenZeppelin `StandardMerkleTree` rebuilt from all of its leaves, so a
/// contract can accept a whole tree's values at once and check them without one proof each.
/// @dev OpenZeppelin's `makeMerkleTree` (and `crates/core/src/merkle.rs`) sorts the leaves by
/// hash, stores them from the last of `2n - 1` slots backwards, and fills slot `i` with the
/// commutative hash of slots `2i + 1` and `2i + 2`, from `n - 2` down to the root at 0. This
/// library does the same in memory.
library StandardTreeRoot {
    /// @notice Leaf `index` is below the one before it: the leaves must come sorted by hash.
    error StandardTreeRoot__LeavesNotSorted(uint256 index);

    /// @notice The root over `leaves`, which must be sorted ascending; zero for no leaves. Equal
    /// leaves are allowed, as OpenZeppelin allows them.
    function fromSortedLeaves(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 n = leaves.length;
        if (n == 0) return bytes32(0);
        for (uint256 i = 1; i < n; ++i) {
            if (leaves[i] < leaves[i - 1]) revert StandardTreeRoot__LeavesNotSorted(i);
        }
        uint256 nodeCount = 2 * n - 1;
        bytes32[] memory nodes = new bytes32[](nodeCount);
        for (uint256 rank = 0; rank < n; ++rank) {
            nodes[nodeCount - 1 - rank] = leaves[rank];
        }
        for (uint256 i = n - 1; i > 0; --i) {
            nodes[i - 1] = _hashPair(nodes[2 * i - 1], nodes[2 * i]);
        }
        return nodes[0];
    }

    /// @dev OpenZeppelin's `Hashes.commutativeKeccak256`: the smaller node first.
    function _hashPair(bytes32 a, bytes32 b) private pure returns (bytes32 parent) {
        (bytes32 low, bytes32 high) = a < b ? (a, b) : (b, a);
        assembly ("memory-safe") {
            mstore(0x00, low)
            mstore(0x20, high)
            parent := keccak256(0x00, 0x40)
        }
    }
}
