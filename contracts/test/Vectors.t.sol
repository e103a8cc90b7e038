// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {PlumblineMarket} from "../src/PlumblineMarket.sol";
import {IPlumblineMarket} from "../src/interfaces/IPlumblineMarket.sol";
import {TestToken} from "../src/test/TestToken.sol";
import {MarketTest} from "./utils/MarketTest.sol";
import {PayoutTree} from "./utils/PayoutTree.sol";
import {StandardTreeRoot} from "../src/libraries/StandardTreeRoot.sol";

/// @notice The contract against the cross-implementation vectors of `crates/core/tests/vectors`
/// (`eip712.json`, `merkle.json`), which `tools/vectors` generates with viem and OpenZeppelin's
/// merkle-tree package and the Rust core reproduces byte for byte. The values below are copied
/// from those files; if they are regenerated, copy them again.
contract VectorsTest is MarketTest {
    /// The verifying contract and chain of the vectors signed outside embedded mode.
    address internal constant VECTOR_MARKET = 0xaB418102A1a35e3360b1d6001cecD18C9337093A;
    uint256 internal constant VECTOR_CHAIN = 8453;

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

    function joinVectors() internal pure returns (JoinVector[] memory v) {
        v = new JoinVector[](3);
        v[0] = JoinVector(
            Typed(
                31337,
                0x0000000000000000000000000000000000000000,
                0x12c911f49cbd67caf54615399a4705f0fdbfc410b35eab80e484f151621a5cc6,
                0x4A7d50E223AA5b27F75DcdFee682d73Bf58094de,
                0x5fc09a50fd5a407975b60f9161255b54e9cd4dc434a8d31fa3da728718bde8eb,
                hex"8b58ccd57f56cf14ff13fc4a2aeb6dd2959d8e701e57c2b6228107e00ba78bec5253f99af149e20eb4a12fe97928821d87ef283503d185d643ccc56737f918ed1b"
            ),
            0xb80b8d089a663cb80567640d11df4b425120a3aa288304e7d374ee7253fd5c42,
            0x4A7d50E223AA5b27F75DcdFee682d73Bf58094de,
            0x0000000000000000000000000000000000000000000000000000000000000000,
            1000000000000000000,
            0,
            1800000600
        );
        v[1] = JoinVector(
            Typed(
                8453,
                0xaB418102A1a35e3360b1d6001cecD18C9337093A,
                0x38e09c8417c60edc1e7873172dd200bc43d03804f1d8cd86df0ab6a3d1896642,
                0x68756812105Df7B2fbaaf38da7643316173CCE8c,
                0x1b1e0f3561c004345f61e7cd1a34157253617c807ccda7a4ca58296ad6abea93,
                hex"d5e50ebab2106125fd5dd682aa2cc3de0f95a105c4f5a1f6bf223600f64c5371565b687808aed167f83013e9c16fc3100fe9c04c9f59b7588046bf782d756a0a1b"
            ),
            0x520e7eff2b79a1c008e92e4fba6cc6330ac4080c644218389219bdcf4655ee0b,
            0x68756812105Df7B2fbaaf38da7643316173CCE8c,
            0x8aa71732182a23c3950e7a1a5c7a30e7c48558d23da2db0e7a7c014ddabde8fa,
            115792089237316195423570985008687907853269984665640564039457584007913129639935,
            18446744073709551615,
            18446744073709551615
        );
        v[2] = JoinVector(
            Typed(
                31337,
                0x0000000000000000000000000000000000000000,
                0xd5a8d0463d7549831575ce6ee1e0f4a9da5eaa67d0c94aaa4c6463e01747c9f8,
                0xe13948477e5F3A0D4E029475bC39E2151fA7207A,
                0x79e5125893e9b569be5fb416c8000c876fb48afada1c0d11a531298c57c6b77e,
                hex"45052f8b8579e6a14c432605750dc110f604304984d2e2236f8e776fc32e0af75a200bd51c9fd60d0cb323aec19ab26d9c7d70de65d853c9e4c101006c2940f01b"
            ),
            0xb80b8d089a663cb80567640d11df4b425120a3aa288304e7d374ee7253fd5c42,
            0xe13948477e5F3A0D4E029475bC39E2151fA7207A,
            0x6123e29000d601c8eddbb55e102a64da20b3ca51d00f9dbe48a43de07778c603,
            0,
            7,
            0
        );
    }

    function commitVectors() internal pure returns (CommitVector[] memory v) {
        v = new CommitVector[](3);
        v[0] = CommitVector(
            Typed(
                31337,
                0x0000000000000000000000000000000000000000,
                0x12c911f49cbd67caf54615399a4705f0fdbfc410b35eab80e484f151621a5cc6,
                0x4A7d50E223AA5b27F75DcdFee682d73Bf58094de,
                0x0d7e2ec10331c3b0b3fe808595ffb0af8611bb51641aec8d7821ea1415e406b3,
                hex"086459c3714dffc2911496924bc1ad74ccc482556b9566d54c1630f6bdc4ba2b69547cdd43a5da15c55c105ea7abcb6a83408b88042f511c9576c9dc49b337e91b"
            ),
            0xb80b8d089a663cb80567640d11df4b425120a3aa288304e7d374ee7253fd5c42,
            0,
            0x762421af23f52914d788fcf77b0e40420877d350458a75127354e05012f61457
        );
        v[1] = CommitVector(
            Typed(
                8453,
                0xaB418102A1a35e3360b1d6001cecD18C9337093A,
                0x38e09c8417c60edc1e7873172dd200bc43d03804f1d8cd86df0ab6a3d1896642,
                0x68756812105Df7B2fbaaf38da7643316173CCE8c,
                0x85a20a35cac685a603012be35adb9586c3492f0505d280f455a950da35d3f45b,
                hex"54733593610d873e030ea4bf572e4d27d9b231445f7a0afed5e64df8c3c2f3830894ccda96011e672c6be2a64e8c920b7ff82ba6bb0b989f65209b536e5cc6fd1c"
            ),
            0x520e7eff2b79a1c008e92e4fba6cc6330ac4080c644218389219bdcf4655ee0b,
            42,
            0x8b8a471d5d146e7bd1d3de091a1ff22f4d0aac7bacdb6eb7e1c70181fb4e562f
        );
        v[2] = CommitVector(
            Typed(
                8453,
                0xaB418102A1a35e3360b1d6001cecD18C9337093A,
                0xd5a8d0463d7549831575ce6ee1e0f4a9da5eaa67d0c94aaa4c6463e01747c9f8,
                0xe13948477e5F3A0D4E029475bC39E2151fA7207A,
                0x955a809fd1ac00a4821a947c8c68f41ad839c91d706a0501f4bd150322889d48,
                hex"0594f8f5eeb46263aa0c3df2647edaf1fdc8f9207e152d5742e664e5549245594857c8498362262b616baa78a750e7b724778b495b82e868a1320910140afad51b"
            ),
            0xb80b8d089a663cb80567640d11df4b425120a3aa288304e7d374ee7253fd5c42,
            18446744073709551615,
            0x97e18ec0eec1141c5d849004a7b5f981dd3232e8ac2cfc4a6442fcfe5f491d07
        );
    }

    /// `eip712.json` `commitments[0]`: the commitment a labeler signs in its `Commit`.
    bytes32 internal constant COMMIT_EXPERIMENT = 0xb80b8d089a663cb80567640d11df4b425120a3aa288304e7d374ee7253fd5c42;
    uint64 internal constant COMMIT_BATCH = 0;
    address internal constant COMMIT_LABELER = 0x4A7d50E223AA5b27F75DcdFee682d73Bf58094de;
    bytes32 internal constant COMMIT_LABELS_ROOT = 0x13ee5bfd3b6c0518d9bfec40d356805d84d1386a1fec99869ed677dcc2146baa;
    bytes32 internal constant COMMIT_SALT = 0x3bbf36e4c7b309b0e6a019559806e3c3e832d4eb4e87b888bdafdd5c38becf89;
    bytes32 internal constant COMMIT_COMMITMENT = 0x762421af23f52914d788fcf77b0e40420877d350458a75127354e05012f61457;

    /// `merkle.json` payouts `two`: 2 leaves; root 0x90a7b02fe1dcaacc8dd3265d5547d385795333d79a4d7982a3a061a73ea57eee.
    function payoutsTwo()
        internal
        pure
        returns (
            bytes32 root,
            address[] memory accounts,
            uint256[] memory amounts,
            bytes32[] memory leaves,
            bytes32[][] memory proofs
        )
    {
        root = 0x90a7b02fe1dcaacc8dd3265d5547d385795333d79a4d7982a3a061a73ea57eee;
        accounts = new address[](2);
        amounts = new uint256[](2);
        leaves = new bytes32[](2);
        proofs = new bytes32[][](2);
        accounts[0] = 0xd50574daFB94E08e96869a56398913e5488d3dD0;
        amounts[0] = 0;
        leaves[0] = 0xc6cc9c23e93b882f5b67aa6b1eb15fe847fce17fe53c00180c1c2bb5b70e14aa;
        proofs[0] = new bytes32[](1);
        proofs[0][0] = 0x4ca048ebb17a97346d36f5cd1129e8ef5159889eb1e1cf39290c106961b2463e;
        accounts[1] = 0xeD510e45D4ae2a7CEBcD8741D6c6846D86d5FCf9;
        amounts[1] = 1;
        leaves[1] = 0x4ca048ebb17a97346d36f5cd1129e8ef5159889eb1e1cf39290c106961b2463e;
        proofs[1] = new bytes32[](1);
        proofs[1][0] = 0xc6cc9c23e93b882f5b67aa6b1eb15fe847fce17fe53c00180c1c2bb5b70e14aa;
    }

    /// `merkle.json` payouts `seven`: 7 leaves; root 0x892369a7a95841f88a8bcb9aaf37792e5a5569f5f497761c1ec90dabc79ce4f3.
    function payoutsSeven()
        internal
        pure
        returns (
            bytes32 root,
            address[] memory accounts,
            uint256[] memory amounts,
            bytes32[] memory leaves,
            bytes32[][] memory proofs
        )
    {
        root = 0x892369a7a95841f88a8bcb9aaf37792e5a5569f5f497761c1ec90dabc79ce4f3;
        accounts = new address[](7);
        amounts = new uint256[](7);
        leaves = new bytes32[](7);
        proofs = new bytes32[][](7);
        accounts[0] = 0xd50574daFB94E08e96869a56398913e5488d3dD0;
        amounts[0] = 0;
        leaves[0] = 0xc6cc9c23e93b882f5b67aa6b1eb15fe847fce17fe53c00180c1c2bb5b70e14aa;
        proofs[0] = new bytes32[](2);
        proofs[0][0] = 0x82017962a9edd12f61b9562d6ed11516afc03cfaabda28c1335c25774b151e35;
        proofs[0][1] = 0x52ec532a4fe4c4f169a7d34a7afc644f8550ac074adde783c888773f293bbbf2;
        accounts[1] = 0xeD510e45D4ae2a7CEBcD8741D6c6846D86d5FCf9;
        amounts[1] = 1;
        leaves[1] = 0x4ca048ebb17a97346d36f5cd1129e8ef5159889eb1e1cf39290c106961b2463e;
        proofs[1] = new bytes32[](3);
        proofs[1][0] = 0x4a5920f59e27368336996275455bed3a7396d7a84cdbf66c6e5afe02c0d9a058;
        proofs[1][1] = 0xfa881a57cfe3da84d2b144b8cce2bc58a53f6fde1b0eae9d38a5a44aee536534;
        proofs[1][2] = 0x33449460c410a2a31560f24507713908c80ef1357113544dd6b7794d019777df;
        accounts[2] = 0xCE62352d7215f15c8A07f7cB402af148ba666232;
        amounts[2] = 3000000000000000000;
        leaves[2] = 0x07b2aad4a29cafcef0ab2b1c287866f9bc7dbf8376115a7c5d12ad2898c39f56;
        proofs[2] = new bytes32[](3);
        proofs[2][0] = 0x1a8ea22239e56392ea1431dfa751e68ce91467cc3f7e957ab6411336d9476b9b;
        proofs[2][1] = 0xc6cc9c23e93b882f5b67aa6b1eb15fe847fce17fe53c00180c1c2bb5b70e14aa;
        proofs[2][2] = 0x52ec532a4fe4c4f169a7d34a7afc644f8550ac074adde783c888773f293bbbf2;
        accounts[3] = 0x0383BF68917A9e1d8AE294c3e1e32D369e124863;
        amounts[3] = 340282366920938463463374607431768211455;
        leaves[3] = 0x4e6659a3f9fb2a9f3198b85b1e89b994aa3b8e6d0865ee544043f348c17a7ef5;
        proofs[3] = new bytes32[](3);
        proofs[3][0] = 0xbd22b65bdb55da649f782a08008fe060d43616eb6e66215c0e37e0680cb4a2e6;
        proofs[3][1] = 0xca3a1567f188571f61d907b0a96c7aaa66ed4468764af4d6baefaaa13fb1ec60;
        proofs[3][2] = 0x33449460c410a2a31560f24507713908c80ef1357113544dd6b7794d019777df;
        accounts[4] = 0xD8d878Ea42faf969A1C379dF9E7Ab8E4dD5220cE;
        amounts[4] = 115792089237316195423570985008687907853269984665640564039457584007913129639935;
        leaves[4] = 0x4a5920f59e27368336996275455bed3a7396d7a84cdbf66c6e5afe02c0d9a058;
        proofs[4] = new bytes32[](3);
        proofs[4][0] = 0x4ca048ebb17a97346d36f5cd1129e8ef5159889eb1e1cf39290c106961b2463e;
        proofs[4][1] = 0xfa881a57cfe3da84d2b144b8cce2bc58a53f6fde1b0eae9d38a5a44aee536534;
        proofs[4][2] = 0x33449460c410a2a31560f24507713908c80ef1357113544dd6b7794d019777df;
        accounts[5] = 0x9e4adB64e9d91744a3Ea8127cAeABAEe13e2aF67;
        amounts[5] = 617283945;
        leaves[5] = 0xbd22b65bdb55da649f782a08008fe060d43616eb6e66215c0e37e0680cb4a2e6;
        proofs[5] = new bytes32[](3);
        proofs[5][0] = 0x4e6659a3f9fb2a9f3198b85b1e89b994aa3b8e6d0865ee544043f348c17a7ef5;
        proofs[5][1] = 0xca3a1567f188571f61d907b0a96c7aaa66ed4468764af4d6baefaaa13fb1ec60;
        proofs[5][2] = 0x33449460c410a2a31560f24507713908c80ef1357113544dd6b7794d019777df;
        accounts[6] = 0xfb03Db987785998C99843785Ea0A592080976dDd;
        amounts[6] = 0;
        leaves[6] = 0x1a8ea22239e56392ea1431dfa751e68ce91467cc3f7e957ab6411336d9476b9b;
        proofs[6] = new bytes32[](3);
        proofs[6][0] = 0x07b2aad4a29cafcef0ab2b1c287866f9bc7dbf8376115a7c5d12ad2898c39f56;
        proofs[6][1] = 0xc6cc9c23e93b882f5b67aa6b1eb15fe847fce17fe53c00180c1c2bb5b70e14aa;
        proofs[6][2] = 0x52ec532a4fe4c4f169a7d34a7afc644f8550ac074adde783c888773f293bbbf2;
    }

    /// `merkle.json` payouts `hundred`: 100 leaves; root 0xf8a069e29b2b9b7ea8da1778c0978ff9c69e7184aeff10e00be156bdf78a56b9.
    function payoutsHundredSome()
        internal
        pure
        returns (
            bytes32 root,
            address[] memory accounts,
            uint256[] memory amounts,
            bytes32[] memory leaves,
            bytes32[][] memory proofs
        )
    {
        root = 0xf8a069e29b2b9b7ea8da1778c0978ff9c69e7184aeff10e00be156bdf78a56b9;
        accounts = new address[](4);
        amounts = new uint256[](4);
        leaves = new bytes32[](4);
        proofs = new bytes32[][](4);
        accounts[0] = 0xeD510e45D4ae2a7CEBcD8741D6c6846D86d5FCf9;
        amounts[0] = 1;
        leaves[0] = 0x4ca048ebb17a97346d36f5cd1129e8ef5159889eb1e1cf39290c106961b2463e;
        proofs[0] = new bytes32[](7);
        proofs[0][0] = 0x4c1c8f67057e329941a1674e53ac47c0b1f55916c3819db25b8183a6a5fa88f1;
        proofs[0][1] = 0xb28486eeb80796135260f1c161e5352aed1286d5a9cdf016474b6fe9a8afdac4;
        proofs[0][2] = 0x911b185d3912b68b7f607dfa62e9508be17511cf4cd70f15117c4a4f1f3c206d;
        proofs[0][3] = 0x1e1840e504e97de0d773f2e6660a899c2e35051fadad1b4e3325384d85a79982;
        proofs[0][4] = 0x1a913f881bfff09150cb10ddb5430c3c4e4742948e41e8b76bab3d635f3bc441;
        proofs[0][5] = 0x139322d9b05cf6ab6645477dc1b340b50efaff45f1e4995285f45d956bbfcbe5;
        proofs[0][6] = 0x306eb6c47c0c0e6d1f973fb42b93aa63e476b9d94413d9000409e5cbd0e34471;
        accounts[1] = 0xCE62352d7215f15c8A07f7cB402af148ba666232;
        amounts[1] = 3000000000000000000;
        leaves[1] = 0x07b2aad4a29cafcef0ab2b1c287866f9bc7dbf8376115a7c5d12ad2898c39f56;
        proofs[1] = new bytes32[](7);
        proofs[1][0] = 0x07972d7b76f170291be451bed8e9aae9812aa8118a025e32e6c92694ca35269a;
        proofs[1][1] = 0x05c198f71b1bd306f72f12e70e49b2a5dce8377c4ee46285cad4b0d2c395f358;
        proofs[1][2] = 0x7e70d84e2dfcb10feb514e4690c8e48156f4b0cea987405f44c86325e15678b9;
        proofs[1][3] = 0xda056ddb227f56a446d42e61f173a89907c9d212282f8bd46a77cde11c3965aa;
        proofs[1][4] = 0x44ccda9373fbd8489744c459abe95e4523da100642e17add227ef09912e2ae26;
        proofs[1][5] = 0x1587362a751cbf81cda31d132fec6125a32cbb7255f51775c2e44ea08941f670;
        proofs[1][6] = 0xf9f688785e8816d2e986e3444d90113b206c0f0b131b6bc437fe240860f2582c;
        accounts[2] = 0x9e4adB64e9d91744a3Ea8127cAeABAEe13e2aF67;
        amounts[2] = 617283945;
        leaves[2] = 0xbd22b65bdb55da649f782a08008fe060d43616eb6e66215c0e37e0680cb4a2e6;
        proofs[2] = new bytes32[](6);
        proofs[2][0] = 0xbda4282bd68ca2b7ad5e60b12fbc1aeba103ac85ca66dc8830e7e5555d9fc9a3;
        proofs[2][1] = 0x060b6942760a668053b00b446134a83c828e2958a8ad6ecf6b43af8edbb24476;
        proofs[2][2] = 0xc8efac84ee8daad8e46cc00304a43503bfe88d6cd9742bc231cc3e60ae5525ae;
        proofs[2][3] = 0x4f5da24e2d2f35bdc8bd2a2e12f48a6bd0a56dea504ec14168edc7a016b31067;
        proofs[2][4] = 0x747c6edb4d4731561b19fa44bb8dfba4d885c46313e0d39c17516130e4878d5d;
        proofs[2][5] = 0xf9f688785e8816d2e986e3444d90113b206c0f0b131b6bc437fe240860f2582c;
        accounts[3] = 0x08Aa4a60A7220ccE4eeE7554569973f3e7009225;
        amounts[3] = 9000000000000000000;
        leaves[3] = 0x98cc9cdf906cc2037eb4f91bd540808485d6807981684b48af17dee42fc2ce34;
        proofs[3] = new bytes32[](7);
        proofs[3][0] = 0x89291e1bcf8abde84487caf12b2a33e25522a2f5f6977f4e94755ab324ccf801;
        proofs[3][1] = 0x64d8f025d9f98b8eeede0faec698654b2ba3f847ccf78fcdd363a15455ebb129;
        proofs[3][2] = 0x94fc5cecdbf91b7986ae733077ccc9808b4209aa3cf9c7016fd94d1642004fd8;
        proofs[3][3] = 0x39b4c718c2bdfa2d9ea555f39e13f04a76383ab72e93fca4cd4229065100fe94;
        proofs[3][4] = 0x3a10b6ed2c5ccf4e00f8c0e0b6e2009b8c5f90abdbe10a280d21f84cd34af33e;
        proofs[3][5] = 0x244f89de27b7531f48bc361de9a6ffc915b76bb342006bb7ee646d84b18383c8;
        proofs[3][6] = 0x306eb6c47c0c0e6d1f973fb42b93aa63e476b9d94413d9000409e5cbd0e34471;
    }

    /// Every tree of `merkle.json` (payouts and labels): its leaves, in value order, and root.
    function allTrees() internal pure returns (bytes32[][] memory leaves, bytes32[] memory roots) {
        leaves = new bytes32[][](10);
        roots = new bytes32[](10);
        // payouts "one"
        roots[0] = 0xc6cc9c23e93b882f5b67aa6b1eb15fe847fce17fe53c00180c1c2bb5b70e14aa;
        leaves[0] = new bytes32[](1);
        leaves[0][0] = 0xc6cc9c23e93b882f5b67aa6b1eb15fe847fce17fe53c00180c1c2bb5b70e14aa;
        // payouts "two"
        roots[1] = 0x90a7b02fe1dcaacc8dd3265d5547d385795333d79a4d7982a3a061a73ea57eee;
        leaves[1] = new bytes32[](2);
        leaves[1][0] = 0xc6cc9c23e93b882f5b67aa6b1eb15fe847fce17fe53c00180c1c2bb5b70e14aa;
        leaves[1][1] = 0x4ca048ebb17a97346d36f5cd1129e8ef5159889eb1e1cf39290c106961b2463e;
        // payouts "seven"
        roots[2] = 0x892369a7a95841f88a8bcb9aaf37792e5a5569f5f497761c1ec90dabc79ce4f3;
        leaves[2] = new bytes32[](7);
        leaves[2][0] = 0xc6cc9c23e93b882f5b67aa6b1eb15fe847fce17fe53c00180c1c2bb5b70e14aa;
        leaves[2][1] = 0x4ca048ebb17a97346d36f5cd1129e8ef5159889eb1e1cf39290c106961b2463e;
        leaves[2][2] = 0x07b2aad4a29cafcef0ab2b1c287866f9bc7dbf8376115a7c5d12ad2898c39f56;
        leaves[2][3] = 0x4e6659a3f9fb2a9f3198b85b1e89b994aa3b8e6d0865ee544043f348c17a7ef5;
        leaves[2][4] = 0x4a5920f59e27368336996275455bed3a7396d7a84cdbf66c6e5afe02c0d9a058;
        leaves[2][5] = 0xbd22b65bdb55da649f782a08008fe060d43616eb6e66215c0e37e0680cb4a2e6;
        leaves[2][6] = 0x1a8ea22239e56392ea1431dfa751e68ce91467cc3f7e957ab6411336d9476b9b;
        // payouts "hundred"
        roots[3] = 0xf8a069e29b2b9b7ea8da1778c0978ff9c69e7184aeff10e00be156bdf78a56b9;
        leaves[3] = new bytes32[](100);
        leaves[3][0] = 0xc6cc9c23e93b882f5b67aa6b1eb15fe847fce17fe53c00180c1c2bb5b70e14aa;
        leaves[3][1] = 0x4ca048ebb17a97346d36f5cd1129e8ef5159889eb1e1cf39290c106961b2463e;
        leaves[3][2] = 0x07b2aad4a29cafcef0ab2b1c287866f9bc7dbf8376115a7c5d12ad2898c39f56;
        leaves[3][3] = 0x4e6659a3f9fb2a9f3198b85b1e89b994aa3b8e6d0865ee544043f348c17a7ef5;
        leaves[3][4] = 0x4a5920f59e27368336996275455bed3a7396d7a84cdbf66c6e5afe02c0d9a058;
        leaves[3][5] = 0xbd22b65bdb55da649f782a08008fe060d43616eb6e66215c0e37e0680cb4a2e6;
        leaves[3][6] = 0x1a8ea22239e56392ea1431dfa751e68ce91467cc3f7e957ab6411336d9476b9b;
        leaves[3][7] = 0xbfd68a57e4c7946ea8e129b0de2be7ef78099f49c219119aefd26edb9f95140f;
        leaves[3][8] = 0x98cc9cdf906cc2037eb4f91bd540808485d6807981684b48af17dee42fc2ce34;
        leaves[3][9] = 0xa22243266b7f95e8d184ea6e250a35e1d956a8639403158de6097fec0560f5e5;
        leaves[3][10] = 0xdb131a02e3e0c411727b4b83d04602f7abeaf48c8c12198706c42d5c3d125fc9;
        leaves[3][11] = 0x647de63ceb0e2578fdde7bccbd55bc3c1924bfc604a1700ccdb24c27173614f9;
        leaves[3][12] = 0x8175c1d5b3c499231a9655d6558a0a22724c367b1e410f00b0b1672ecb12947a;
        leaves[3][13] = 0x22de01f51fd5299b547b48c913e7afc19ceab749311a7fa769c0d121303588ed;
        leaves[3][14] = 0x37149ca2f7bf8f57511f9757f102e99034d615f5a38dfdd886945854a36b5ff9;
        leaves[3][15] = 0x69e867af63cabb1eb73ef1e5a802c972b2974cf1e4e2365bc6a369b8a8651f52;
        leaves[3][16] = 0x0e16a5c2bd14d7b089cd0c4e368bcc01b907370fcb645d4491c5cb23eab4a018;
        leaves[3][17] = 0x89291e1bcf8abde84487caf12b2a33e25522a2f5f6977f4e94755ab324ccf801;
        leaves[3][18] = 0x9fa8b20d33f482571961e60a61b3fd4ba2ba38d7861a1044d8661232c4a08e32;
        leaves[3][19] = 0xb4ec14d4dafb5177c38fdbe9aea8dfbb51421976121eacfea70cf02ebdd94386;
        leaves[3][20] = 0x2592e479bffdc47ffcac97dd80c55b9b50a343343316ad15ec6efaf66883dff4;
        leaves[3][21] = 0xa66b6c8369f4b030eb43bb4c0324db29c7c0d59370e50af6b510342dda540d32;
        leaves[3][22] = 0x4c1c8f67057e329941a1674e53ac47c0b1f55916c3819db25b8183a6a5fa88f1;
        leaves[3][23] = 0xedba00fe1249a3e9b9fafcc9ac04ce84ffbec7d4854912dfff652d7e12f2884c;
        leaves[3][24] = 0x28cfe6b52fef0ec8783ba144db7fe4fd7c995fecfaf9d7ac9159a3b9e2c3ac62;
        leaves[3][25] = 0x4e9063b86addfe8c0f81daef505ff8301aabad055538fdc27f0dbf2fd5abb197;
        leaves[3][26] = 0x5c996c4b915c44181d2f2ea735a3be94fc3f5f80ba0a2a99a745e542325bf991;
        leaves[3][27] = 0x27f32bf2d2eac6f4f0c22c11af126cc1f54f23bcd8bf45f5f1517ca1f8a39690;
        leaves[3][28] = 0xc2cf2eb36929787bfa61908b44804f43c39366ef6024f7a8017488ff36212df2;
        leaves[3][29] = 0x0281f644b0e4f1933bb782e0bfda6cfd35d973de3125d2f809f97655f79427e9;
        leaves[3][30] = 0x387a3791ec10b8d51ddc3aec01b3dc5bb073b7ac950293fed981b0c7cd36c49b;
        leaves[3][31] = 0x357eb0023d2823aab7379e6b56fa19223bceab531c3c795eb2456f84ffc6d1a6;
        leaves[3][32] = 0x42762d192bdc89811ebe0fe81c1335d0085aa3310f6c38e42767f127fbc43ed2;
        leaves[3][33] = 0x468db6a19e403bffd683dec5fc1b2d24b8ea013de18d27b444bc8e7612033e12;
        leaves[3][34] = 0xb68c566e4075fd679e7cae8204becd8bb579b5c42616be59fe323f65b84cd94f;
        leaves[3][35] = 0xcd84b5e187a14f5795a7ed32fd9d355aa6eb295ae9317aac5960c71f17e59cbe;
        leaves[3][36] = 0x580ae7e9e8e0cb889868718b6560a25f84954fe1df78cb535ab2eabe0f699518;
        leaves[3][37] = 0x5fc6adca82554802464fe913ebd4e120382d3984ed469eebf64f0001d5e9415a;
        leaves[3][38] = 0x08c59fdfd31d123e4e8244c29ba5a419ae901355a44bb9740ada1da97a95db14;
        leaves[3][39] = 0x794ec78eb84fa1de7220e3234fa669d67f76cf5dcfad77172592df49a47f001b;
        leaves[3][40] = 0xb4f131e5327e2a1a51ff3b559c0613fdbacfb2fa6d05ab2d8e7001698b4f6324;
        leaves[3][41] = 0x01456d470888618c451af977f142a4b307b9729958860120bc96d9eea969cafc;
        leaves[3][42] = 0x16a50e055dae5243b1ae7336924fc168eba2d0a39633aadff0082d2db5c58a13;
        leaves[3][43] = 0x393d1c2cd4d88e83e7c670154397a295861032196292c3d07486bedf1213a25b;
        leaves[3][44] = 0x685d17474a7b579b916afb5ae38c2eecf208e0579b4694339eec599acd6c9671;
        leaves[3][45] = 0xc8db7e81c3523e5ba95f12db79103500a055780f50b0bc9860d43304ccd24ab7;
        leaves[3][46] = 0x86806c9c114ab99a3f4323291dce2c50586478cf13de5588955530a8c846716d;
        leaves[3][47] = 0x128888c16bcab34a693cac5d9bbfd7b0a1661c9f5aea7e26324110f35dc44af9;
        leaves[3][48] = 0x2f095e16cb5890c10aefee3298eff98db911f04f3385512a763f91ddf7332733;
        leaves[3][49] = 0xd93919fe7689034db808ffc6067c4cc73715ee2fd06e4d5d69d3e73cb8b97d4f;
        leaves[3][50] = 0xe61a0be1a38dc9cba88584189fee27211c62c21d069678e05fa2bef25b5f8144;
        leaves[3][51] = 0x7438eae4f96b41023d081439b37e9fd4bdb7230680ef2f0343196546c7ac25a0;
        leaves[3][52] = 0x5c27730e4d9f1507d8463f02477f95ede32803ddddea28fd25a3d53edae7d5be;
        leaves[3][53] = 0xc2fb3b836cda9342921f3fe6cc3c78d70aaa5a7caabec37e1d4444b807c79f59;
        leaves[3][54] = 0xd8a0abab4fffb1aa742e43ddbcb0e64ba89d07215b41bcc6a2f80a6555edad46;
        leaves[3][55] = 0x858505959746e6913e3459384befd24689572ce4477497735e71adb17366bc1d;
        leaves[3][56] = 0x20e764338f5a106e70c1dcc8bcccfa164c86c4accbe284591011409aac548b72;
        leaves[3][57] = 0xf67b6c75381fb0be3cebb7c1cc96aa6e08e83cc41b51b0cb59643dda4f4e5637;
        leaves[3][58] = 0xa7c970b1cea8723d3cce9ddd52daa1ef94c40eb8c53bd877c58e879fa6f67b59;
        leaves[3][59] = 0x52031d6a106f515adb113d945cf294476d1642dd77065cab17c7afd107f818c8;
        leaves[3][60] = 0xb33ada823ee03476e61f7205e9ade084088438492c5a2b4cfe408080d3380ff0;
        leaves[3][61] = 0x8285ca8985e2082152bb9489daf947331306be28f2fb04b1c8e3a45fe33e5304;
        leaves[3][62] = 0x865aef5eba8b140487bed8026fc688a241a540dd1efd764392939d97de9083fc;
        leaves[3][63] = 0xb355d8b4e8f4a57ffb439b5255903c7cdb12a51ccccd630860bce469da75f8da;
        leaves[3][64] = 0x1d19ceee12b91bb404fef2a470b4ee79866edd660cad20647bb8c641bd8a727d;
        leaves[3][65] = 0x21c342b4a053275108bc04718a3030d7634348caa9787523f997ebe657fc0ea6;
        leaves[3][66] = 0x4f9c8e3ea5df2aba4e36e77293c963440a57c199d76f59c505bc6efe60a6e3d4;
        leaves[3][67] = 0x1333e3b16a3c96ab2796e4d22504241ac33cfac1b04fcdacaa82ed8146c292d4;
        leaves[3][68] = 0x82d82139035f980c1ccd1fde35ee9dc43b6abe781e72b3c1f9fa4ca22ef17d05;
        leaves[3][69] = 0x77737fec7720e1dd2c7424c66fa1793e34201346fce82ae35dd5ef1c3131f712;
        leaves[3][70] = 0x458ba282c621d03ff8b8fcb3f1d7d90760e76715a2d344c751cc32d60d683924;
        leaves[3][71] = 0x862800742ebcee0c361b22143fcf8081770671843737ed22156dce9744ab1ee1;
        leaves[3][72] = 0x2da38040029c43bc534b159da355e4c4f9de52cf7ab71607f9c14adcf5e8c0be;
        leaves[3][73] = 0xb78551976a78adf4aa616b59aba373fd9db469ed127a66e91e758618a68d5d85;
        leaves[3][74] = 0x516d7e0dcee2620d2ff3c403cbf2370e95026a5cd928be8eea4ff5e7b39e2961;
        leaves[3][75] = 0x6f24b0bd98c7e4608d383288c6bf0f116fb66df07ab2c06d456e05a0b4d94f6f;
        leaves[3][76] = 0x7354cd4809898173f299c90b031311ac57f2d72b68af0a53c2064aac1898edb0;
        leaves[3][77] = 0x33e81a821298b47995aaefd41769521a5f9bfd89af468446907c87dc86140723;
        leaves[3][78] = 0x282ad2f0968384367b983fcba551f88bb3a74a543cbeea883beb9ca337474cde;
        leaves[3][79] = 0x7d51f7e8390ce953c4542b7e85ac6eb686fb75a7aee12a74f4c3513e939be04c;
        leaves[3][80] = 0x709302a406cdfa9f974964193116bfab2d6bc3b94da78c1f0ca71e35d3669469;
        leaves[3][81] = 0xf0f8a443ba7db8bc44be69b678fc678cdd248a8075b9700d45e1578ca3036d4c;
        leaves[3][82] = 0x73775a7929ae2b471f41244338d9e461c1fc89b58f9e77c5fd6b9521d6acce77;
        leaves[3][83] = 0x86c270ebdec7a747a91093f7a6311cdf3da82f42d8876f2d7999aff3803869dc;
        leaves[3][84] = 0xace19d95d9083117868cfef558729bb365f24c4a7553a5a42e0a6d92ebe895a5;
        leaves[3][85] = 0xbda4282bd68ca2b7ad5e60b12fbc1aeba103ac85ca66dc8830e7e5555d9fc9a3;
        leaves[3][86] = 0x772a5b1bb8399e18519bb62a4373bdfc6e6997dbd50121c2055499747fd8afb5;
        leaves[3][87] = 0x88626aca98867e90150625a94bf1f2f01f18ff3c42d75a268d01c77919741012;
        leaves[3][88] = 0x1670115167ac88df92d113580a261b5f521083feab1d8f701bba284bc8b8cdb7;
        leaves[3][89] = 0x07972d7b76f170291be451bed8e9aae9812aa8118a025e32e6c92694ca35269a;
        leaves[3][90] = 0x9b72f5acc406ad107dc52f9423b7fc16694af70e8b61ba6c2e567f651a5479de;
        leaves[3][91] = 0xcc31a00182f5e2ccbe4988e0eb502780d6048f4419b23e48bda772c414312c9f;
        leaves[3][92] = 0x0d9ae29b2f986f63238686cf12e15611a6184c1c35edcef6ab6fce20dc638f8d;
        leaves[3][93] = 0x2d58e2eddd78055516bdc643eff8a413572cc5802fbafb9cd1fd68dd1e0c3617;
        leaves[3][94] = 0x223afb52e39125ee91317c914d30c9f826ded3571bef45728b3453a45c9276a7;
        leaves[3][95] = 0xa55dbea038573bd1758a0a4e28d9248fe4a6e26a185a7211934cb91b27880655;
        leaves[3][96] = 0x15f2c5c964d795164f0b76abbbb10ee4e85b8c8e30874c945cdd7cdecfdc0557;
        leaves[3][97] = 0x518556b1b2232068b8c5e38d6a64919b81325d130ba8fe3436901a63500cc3d6;
        leaves[3][98] = 0xa1df6b32145f69a474ea891a9e1205c99f15e4b983ad92b3850bf7d41d8749b6;
        leaves[3][99] = 0x85cf9014c7c617ed22e3ff377cfb521d79d82086f005063d16e3ed47d6c429a1;
        // labels "one"
        roots[4] = 0xb9b618fa0974007a988af01eb20ff9e551931257befa104e4435bc4d25eeddf1;
        leaves[4] = new bytes32[](1);
        leaves[4][0] = 0xb9b618fa0974007a988af01eb20ff9e551931257befa104e4435bc4d25eeddf1;
        // labels "two"
        roots[5] = 0xb772f6a5b38c97caebc176509c52760df0eb6f21c780912f909481f2e4ad5892;
        leaves[5] = new bytes32[](2);
        leaves[5][0] = 0xb9b618fa0974007a988af01eb20ff9e551931257befa104e4435bc4d25eeddf1;
        leaves[5][1] = 0x3a3b9eb19c7acf50fa9b7378d140dfccfed3f389e0ef43596f1f5acaac6c7658;
        // labels "three"
        roots[6] = 0x2ea272b10357dab4a1633756cbe5c47df665de7431d7957e50a0ec028f458238;
        leaves[6] = new bytes32[](3);
        leaves[6][0] = 0xb9b618fa0974007a988af01eb20ff9e551931257befa104e4435bc4d25eeddf1;
        leaves[6][1] = 0xbda5b728398349dd0c4d97adc3b647bf83a15a60d397d02717c635e698728c5b;
        leaves[6][2] = 0x1419cb2c9f863b1be2ba89ff1c52e7ce085b1409a87c0770540361b4f1b2ea2e;
        // labels "five"
        roots[7] = 0x13ee5bfd3b6c0518d9bfec40d356805d84d1386a1fec99869ed677dcc2146baa;
        leaves[7] = new bytes32[](5);
        leaves[7][0] = 0xb9b618fa0974007a988af01eb20ff9e551931257befa104e4435bc4d25eeddf1;
        leaves[7][1] = 0x1f3032ac34af18c0799ed533c8010430a6c445ae20d71dfaa16b0a4920193df3;
        leaves[7][2] = 0x4340f44ee368903c91c54182a49b180c7483271f9edcab2c52b8c7239afa136c;
        leaves[7][3] = 0xd91fa157b4bc9d8a98cc4cff74eb6830e7c5617715696081f826bd8829f5d301;
        leaves[7][4] = 0x891e8d53be4a3671669d1499ece8746023f339c01b67b50d156baa6086498e9d;
        // labels "sixteen"
        roots[8] = 0xb324854575ea75dc4727a0f01735c28c37bc312e0485c34e21f69993e974fcf5;
        leaves[8] = new bytes32[](16);
        leaves[8][0] = 0xb9b618fa0974007a988af01eb20ff9e551931257befa104e4435bc4d25eeddf1;
        leaves[8][1] = 0x1f3032ac34af18c0799ed533c8010430a6c445ae20d71dfaa16b0a4920193df3;
        leaves[8][2] = 0xdb931e526bfb023424d82aedd9e523280330d00cefd7f5a761e6e6a88b2dd50a;
        leaves[8][3] = 0xded89a3bd390cab0e64732ac0c0f8962a0109f986c6bbde2ed515fff105cc084;
        leaves[8][4] = 0x697d363635458cf6d4bf4fd39772602c03422727477061dc3a5742014f40e545;
        leaves[8][5] = 0x85405be43c41f049a6e6d63f59b517b4a579166cff6c7f835b20c1f7efa3cbe4;
        leaves[8][6] = 0xa70b779d18ec3ed8d319bf41dd271eac8587837ae4b433dbb3b1eeca85e84f79;
        leaves[8][7] = 0xc32982e110e0fa472044b98e022cb1ceef5e2c246084bf10297fb74cf329618e;
        leaves[8][8] = 0xa373d68d7c3ce8284d83837f9eba89657844afb162a1c00c4a30d837f9637a75;
        leaves[8][9] = 0xded89a3bd390cab0e64732ac0c0f8962a0109f986c6bbde2ed515fff105cc084;
        leaves[8][10] = 0x3912e2fb5b72962d6c51c50fb98ddb8831a41336f59cc4ad8a9eb80cef30bc04;
        leaves[8][11] = 0x0c6602d7601e1e2234a3f29868aa0f5552a75b3d724e5efc0b52731f815dd3fc;
        leaves[8][12] = 0xc1a1388e38eeb6c56926103107872faf91a00904b0c272d0c436a883faeefd20;
        leaves[8][13] = 0xd32624cc4717c8e9d4c2cee982dacab66779fc1b0700912ce4eab43fd17c8366;
        leaves[8][14] = 0xfb9f441a6c922e87d6d2fb6e4d4e530b0c1a81084f46a19ca9f378f0e61eb271;
        leaves[8][15] = 0x4ece4c85ac82c03a639e493004c7c15b227cb41a88ffdae7f1fc21f5d920eb19;
        // labels "thirty-three"
        roots[9] = 0x226ee7fbff3a3133ee57036b20c520bdeac17c74e70fe45f95d904866303e607;
        leaves[9] = new bytes32[](33);
        leaves[9][0] = 0xb9b618fa0974007a988af01eb20ff9e551931257befa104e4435bc4d25eeddf1;
        leaves[9][1] = 0x1f3032ac34af18c0799ed533c8010430a6c445ae20d71dfaa16b0a4920193df3;
        leaves[9][2] = 0xdb931e526bfb023424d82aedd9e523280330d00cefd7f5a761e6e6a88b2dd50a;
        leaves[9][3] = 0xf5cc971a6cc52b2d989345068cb4c39aa3797b8195efe60a77d82f430a8bdc9b;
        leaves[9][4] = 0xe8eb7af0bb5d8b65eb463b9b24f6796677fdcf74cb39f2d169a747d3dbe014d9;
        leaves[9][5] = 0xf1c9d215ff392eb770a16da7933c8fcfed553cdd50db617a306f04572b9db366;
        leaves[9][6] = 0x53883ba87f801686e05a95b93381711162a61f6c32929a0af66e01642102f8d5;
        leaves[9][7] = 0x69a0be6534bfe768a378f8959bad29a2a12c0dab965e2ca459c3364ed3eb1c6a;
        leaves[9][8] = 0x809520ca5519e4f6794782c87d164a6999256e6cad8b4b32affeb8bf2568f040;
        leaves[9][9] = 0x564cf838228b262bd0c9e654244c439a30a96ca9c87cb8bdcc3ae27cbd9a1fde;
        leaves[9][10] = 0x3c1028d7462253dbb04b347d60cac091bde2d0b0ff47a1b422741b292dfb84e9;
        leaves[9][11] = 0x5ea9bbcbc3124a16a94651d95a9cd1b65f7e4912b1c99f1d1921f6b971b2ebcd;
        leaves[9][12] = 0x73f1e413604f65aba928fdae3624c7d0b3afc3f508d1a8d99d602447b5440c6b;
        leaves[9][13] = 0xb23e69e031c311cc9b2963f80255f453b06daebecc6616c28da4f3be3a9216a6;
        leaves[9][14] = 0xbd30cfdacd55c2766d086b8ee67e2e85a02a867961a64e2bdc0a7823cdfb8f34;
        leaves[9][15] = 0x8d4c513ca6fb9447c7ac9617e88dc0b81018aa6ec1fa25f15e3e2e4322c7b154;
        leaves[9][16] = 0xa00e3c6753fb6bf385d9a09f9a68d32569e5378bea5448d8f75b443c249ed16b;
        leaves[9][17] = 0x7de34bbb4a7448dec78026751291d9bb17963fba276382085ae930028978e31e;
        leaves[9][18] = 0xa373d68d7c3ce8284d83837f9eba89657844afb162a1c00c4a30d837f9637a75;
        leaves[9][19] = 0x02b81df959aab8326a3a6da02aab4cb0bd031ff664f0f62f019e3ca7a1189016;
        leaves[9][20] = 0x1d46c2159db93bd0089984af7e6dc4f0b2f82a63587f2265e363bf1b4145be64;
        leaves[9][21] = 0x7101463cf90d51f760b342e960cc8f55bef0fbbb35a2ac1a6be01e60fba74069;
        leaves[9][22] = 0xba3a73e8e59ddbe6104368f13b5f968356ebca195849a7524119ea7c2bf7087b;
        leaves[9][23] = 0x621bf9a48fe62f40dd664d4c2eba5bb996581bd27e76a234e92dad2628b80295;
        leaves[9][24] = 0x9c871761c1b00d3b3a9888eb1e2a9bc225b55b00b595f028f0d53a44d56f3456;
        leaves[9][25] = 0xab716de69fdadcc15ebbe00f2852ab437479f1d494645cd9612398779a25dbe3;
        leaves[9][26] = 0x8a544079e2cad198489ef623f1882e57d34ae0e6564ab36e23bd975ea1dea5ae;
        leaves[9][27] = 0x9b925c292ac4f486971921293586a9b5ba7823b929efdf0c2d06826d29f120c8;
        leaves[9][28] = 0xb5a5c6437b4516eb8f34ce182de57d5753779627d39ef8df19b721ab24ab98b0;
        leaves[9][29] = 0x5680814018fa977b1068325061febf6081b51ed173ebcf8fe386498ffe2764a4;
        leaves[9][30] = 0x548d415f03783c3fdb37ea53cedd7d0f5c1fc3eb42b977fe2019a1b18f28556e;
        leaves[9][31] = 0xdd20c26576e7f27e526440be6aade1b23645bc5371c934ce33c6a14c2482445d;
        leaves[9][32] = 0x18a932c740dffb1050ebdf65536856d9dd406cc31d45df80ef4b23a41505974e;
    }

    // ---------------------------------------------------------------------------------------------

    /// The tests' own signing helpers give the vectors' digests and, signing deterministically
    /// (RFC 6979) as viem does, their very signatures: every relay the other tests sign is one the
    /// off-chain market could have produced.
    function test_signing_helpers_match_the_vectors() public pure {
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

    /// The market deployed where the vectors say, on their chain.
    function deployAtVectorAddress() internal returns (PlumblineMarket vectorMarket) {
        vm.chainId(VECTOR_CHAIN);
        deployCodeTo("PlumblineMarket.sol:PlumblineMarket", abi.encode(address(token)), VECTOR_MARKET);
        vectorMarket = PlumblineMarket(VECTOR_MARKET);
    }

    function test_contract_digests_match_the_vectors() public {
        PlumblineMarket vectorMarket = deployAtVectorAddress();
        assertEq(vectorMarket.DOMAIN_SEPARATOR(), domainSeparator(VECTOR_CHAIN, VECTOR_MARKET));
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            vectorMarket.eip712Domain();
        assertEq(name, "Plumbline");
        assertEq(version, "1");
        assertEq(chainId, VECTOR_CHAIN);
        assertEq(verifyingContract, VECTOR_MARKET);

        uint256 checked = 0;
        JoinVector[] memory joins = joinVectors();
        for (uint256 i = 0; i < joins.length; ++i) {
            JoinVector memory j = joins[i];
            if (j.typed.chainId != VECTOR_CHAIN) continue;
            assertEq(
                vectorMarket.joinDigest(j.experimentId, j.labeler, j.cohort, j.stake, j.nonce, j.expiresAt),
                j.typed.digest
            );
            ++checked;
        }
        CommitVector[] memory commits = commitVectors();
        for (uint256 i = 0; i < commits.length; ++i) {
            CommitVector memory c = commits[i];
            if (c.typed.chainId != VECTOR_CHAIN) continue;
            assertEq(vectorMarket.commitDigest(c.experimentId, c.batchId, c.commitment), c.typed.digest);
            ++checked;
        }
        assertEq(checked, 3, "one join and two commit vectors are signed for the vector market");
    }

    /// Creates a vector's experiment on the vector market. The vectors' ids are random, so the
    /// creator is whoever's address they start with.
    function createOnVectorMarket(PlumblineMarket vectorMarket, bytes32 experimentId)
        internal
        returns (IPlumblineMarket.ExperimentConfig memory cfg)
    {
        cfg = config();
        // forge-lint: disable-next-line(unsafe-typecast) an id starts with its creator's address
        address creator = address(bytes20(experimentId));
        token.mint(creator, cfg.pool);
        vm.startPrank(creator);
        token.approve(address(vectorMarket), cfg.pool);
        vectorMarket.createExperiment(experimentId, cfg);
        vm.stopPrank();
    }

    /// The vectors' `Commit` signatures, made by viem, relay on the contract as they are.
    function test_contract_accepts_the_vector_commit_signatures() public {
        PlumblineMarket vectorMarket = deployAtVectorAddress();
        CommitVector[] memory commits = commitVectors();
        for (uint256 i = 0; i < commits.length; ++i) {
            CommitVector memory c = commits[i];
            if (c.typed.chainId != VECTOR_CHAIN) continue;
            createOnVectorMarket(vectorMarket, c.experimentId);

            (bytes32 r, bytes32 vs) = compact(c.typed.signature);
            IPlumblineMarket.SignedCommit memory signed = IPlumblineMarket.SignedCommit({
                labeler: c.typed.signer, batchId: c.batchId, commitment: c.commitment, r: r, vs: vs
            });
            vm.prank(operator);
            vectorMarket.commitBatches(c.experimentId, one(signed));
            assertEq(
                vectorMarket.experiment(c.experimentId).commitsHash,
                keccak256(abi.encode(bytes32(0), c.typed.signer, c.batchId, c.commitment))
            );
        }
    }

    /// The vectors' `Join` signature is refused for anything but what was signed.
    function test_contract_refuses_the_vector_join_signature_for_another_stake() public {
        PlumblineMarket vectorMarket = deployAtVectorAddress();
        JoinVector memory j = joinVectors()[1];
        assertEq(j.typed.chainId, VECTOR_CHAIN);
        IPlumblineMarket.ExperimentConfig memory cfg = createOnVectorMarket(vectorMarket, j.experimentId);
        (bytes32 r, bytes32 vs) = compact(j.typed.signature);
        // The vector signs a stake of 2^256 - 1 and nonce 2^64 - 1; passed off as this
        // experiment's stake and the labeler's first join, it recovers someone else.
        IPlumblineMarket.SignedJoin memory join = IPlumblineMarket.SignedJoin({
            labeler: j.labeler,
            cohort: j.cohort,
            stake: cfg.stakePerBatch,
            nonce: 0,
            expiresAt: j.expiresAt,
            r: r,
            vs: vs
        });
        vm.expectPartialRevert(IPlumblineMarket.PlumblineMarket__WrongSigner.selector);
        vm.prank(cfg.operator);
        vectorMarket.lockStakes(j.experimentId, one(join));
    }

    /// The commitment the labelers sign, as the interface documents it.
    function test_commitment_formula_matches_the_vector() public pure {
        assertEq(
            keccak256(abi.encode(COMMIT_EXPERIMENT, COMMIT_BATCH, COMMIT_LABELER, COMMIT_LABELS_ROOT, COMMIT_SALT)),
            COMMIT_COMMITMENT
        );
    }

    /// The tests' payout tree is OpenZeppelin's, leaves, root and proofs, amounts up to 2^256 - 1
    /// included.
    function test_payout_tree_helper_matches_the_vectors() public pure {
        (
            bytes32 root,
            address[] memory accounts,
            uint256[] memory amounts,
            bytes32[] memory leaves,
            bytes32[][] memory proofs
        ) = payoutsSeven();
        PayoutTree.Tree memory tree = PayoutTree.build(accounts, amounts);
        assertEq(PayoutTree.root(tree), root);
        for (uint256 i = 0; i < accounts.length; ++i) {
            assertEq(PayoutTree.leaf(accounts[i], amounts[i]), leaves[i]);
            assertEq(PayoutTree.proof(tree, i), proofs[i]);
        }
    }

    /// Settles an experiment on `market` with `root`, declaring `payouts` of rewards.
    function settleWithRoot(bytes32 experimentId, bytes32 root, uint256 payouts) internal {
        create(experimentId);
        warpToSettlement(experimentId);
        vm.prank(operator);
        market.settle(experimentId, root, totalsOf(POOL, 0, 0, payouts));
        warpPastWindow(experimentId);
    }

    /// The contract pays leaves of payout trees built by the npm package of OpenZeppelin, with the
    /// proofs that package gave.
    function test_contract_pays_the_vector_payout_leaves() public {
        (bytes32 root, address[] memory accounts, uint256[] memory amounts,, bytes32[][] memory proofs) = payoutsTwo();
        settleWithRoot(idOf("two"), root, amounts[0] + amounts[1]);
        for (uint256 i = 0; i < accounts.length; ++i) {
            market.claim(idOf("two"), accounts[i], amounts[i], proofs[i]);
            assertTrue(market.positionOf(idOf("two"), accounts[i]).claimed);
            assertEq(market.balanceOf(accounts[i]), amounts[i]);
        }

        (root, accounts, amounts,, proofs) = payoutsHundredSome();
        uint256 total = 0;
        for (uint256 i = 0; i < accounts.length; ++i) {
            total += amounts[i];
        }
        settleWithRoot(idOf("hundred"), root, total);
        IPlumblineMarket.Payout[] memory payouts = new IPlumblineMarket.Payout[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            payouts[i] = IPlumblineMarket.Payout(accounts[i], amounts[i], proofs[i]);
        }
        market.claimMany(idOf("hundred"), payouts);
        for (uint256 i = 0; i < accounts.length; ++i) {
            // Account 1 of this set also holds a leaf of the "two" tree.
            uint256 earlier = i == 0 ? 1 : 0;
            assertEq(market.balanceOf(accounts[i]), amounts[i] + earlier);
        }
        assertEq(market.experiment(idOf("hundred")).claimed, total);
    }

    /// The library `distribute` rebuilds roots with gives the package's root for every tree of
    /// the vectors, payouts and labels alike, from 1 leaf to 100.
    function test_tree_root_library_matches_the_vectors() public pure {
        (bytes32[][] memory leaves, bytes32[] memory roots) = allTrees();
        for (uint256 t = 0; t < roots.length; ++t) {
            assertEq(StandardTreeRoot.fromSortedLeaves(sortAscending(leaves[t])), roots[t]);
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

    /// `distribute` pays the leaves of a tree built by OpenZeppelin's package.
    function test_contract_distributes_a_vector_tree() public {
        (bytes32 root, address[] memory accounts, uint256[] memory amounts,,) = payoutsTwo();
        settleWithRoot(idOf("two"), root, amounts[0] + amounts[1]);
        market.distribute(idOf("two"), sortedLeaves(accounts, amounts));
        assertEq(market.balanceOf(accounts[1]), amounts[1]);
        assertEq(market.experiment(idOf("two")).claimed, amounts[0] + amounts[1]);
    }
}
