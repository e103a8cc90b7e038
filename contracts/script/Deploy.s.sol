// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Script} from "forge-std/Script.sol";
import {console} from "forge-std/console.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {PlumblineMarket} from "../src/PlumblineMarket.sol";
import {TestToken} from "../src/test/TestToken.sol";

/// @notice Deploys the market for the ERC-20 at `PLUMBLINE_TOKEN`. On a local chain (chain id
/// 31337, anvil's) without that variable it first deploys `TestToken`, the open-mint test token,
/// so a development setup has something to deposit; anywhere else a real token is required.
///
///     anvil &
///     forge script script/Deploy.s.sol --rpc-url http://127.0.0.1:8545 --broadcast \
///         --private-key 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
contract Deploy is Script {
    uint256 internal constant LOCAL_CHAIN_ID = 31337;

    function run() external returns (PlumblineMarket market, address token) {
        token = vm.envOr("PLUMBLINE_TOKEN", address(0));
        vm.startBroadcast();
        if (token == address(0)) {
            require(
                block.chainid == LOCAL_CHAIN_ID, "Deploy: set PLUMBLINE_TOKEN; the test token is for local chains only"
            );
            token = address(new TestToken());
            console.log("TestToken (open mint, local chains only):", token);
        }
        market = new PlumblineMarket(IERC20(token));
        vm.stopBroadcast();
        console.log("PlumblineMarket:", address(market));
    }
}
