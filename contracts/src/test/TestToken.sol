// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken: for tests and local chains only, never for real money
/// @notice An ERC-20 that anyone can mint. The forge tests use it, and `script/Deploy.s.sol`
/// deploys it next to the market on a local chain (anvil, chain id 31337) so that a development
/// setup has a token to deposit. Because minting is open, it is worth nothing by construction.
contract TestToken is ERC20 {
    constructor() ERC20("Plumbline Test Token", "PLTEST") {}

    /// @notice Mints `amount` to `to`; open to anyone, which is what makes this a test token.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
