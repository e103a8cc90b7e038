// Writes the cross-implementation test vectors that crates/core/tests/vectors.rs checks.
//
// The reference implementations are the ones Plumbline's clients and contract depend on:
// OpenZeppelin's `@openzeppelin/merkle-tree` for label and payout trees, and viem for EIP-712
// digests, signatures, EIP-191 messages and ABI encoding. Every input is fixed (keys are hashes
// of fixed strings, values are derived from their index), and the output has no timestamps, so
// running this twice gives byte-identical files.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import {
  concatHex,
  encodeAbiParameters,
  getAddress,
  hashMessage,
  hashTypedData,
  hexToBytes,
  keccak256,
  recoverMessageAddress,
  recoverTypedDataAddress,
  sliceHex,
  stringToHex,
  toHex,
  zeroAddress,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { secp256k1 } from '@noble/curves/secp256k1';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', '..', 'crates', 'core', 'tests', 'vectors');

const U64_MAX = 2n ** 64n - 1n;
const U128_MAX = 2n ** 128n - 1n;
const U256_MAX = 2n ** 256n - 1n;

function packageVersion(name) {
  const path = join(here, 'node_modules', ...name.split('/'), 'package.json');
  return JSON.parse(readFileSync(path, 'utf8')).version;
}

const generator = {
  script: 'tools/vectors/generate.mjs',
  '@openzeppelin/merkle-tree': packageVersion('@openzeppelin/merkle-tree'),
  viem: packageVersion('viem'),
  '@noble/curves': packageVersion('@noble/curves'),
};

// `len` deterministic bytes derived from `seed`, as 0x-prefixed hex.
function bytesFrom(seed, len) {
  let out = '0x';
  for (let block = 0; out.length < 2 + 2 * len; block++) {
    out += keccak256(stringToHex(`${seed}:${block}`)).slice(2);
  }
  return out.slice(0, 2 + 2 * len);
}

const hashOf = text => keccak256(stringToHex(text));
const int256 = value => encodeAbiParameters([{ type: 'int256' }], [value]);

// A label for position `i` of tree `name`. The kinds cycle through the encodings the core
// produces (empty, one byte, int256 words for ratings and pairwise strengths, rankings as byte
// permutations, free text) and through lengths around the 32-byte word boundary.
function label(name, i) {
  switch (i % 10) {
    case 0: return '0x';
    case 1: return toHex(i % 256, { size: 1 });
    case 2: return int256(BigInt(i) - 10n);
    case 3: return int256(i % 2 === 0 ? -(2n ** 255n) : 2n ** 255n - 1n);
    case 4: return stringToHex(`rationale ${i}: response B is more factual and better sourced`);
    case 5: return bytesFrom(`${name} label ${i}`, 31);
    case 6: return bytesFrom(`${name} label ${i}`, 33);
    case 7: return bytesFrom(`${name} label ${i}`, 64);
    case 8: return toHex(new Uint8Array([3, 0, 2, 1]));
    default: return int256(BigInt(-i));
  }
}

function labelValues(name, size) {
  const values = [];
  for (let i = 0; i < size; i++) {
    // Task indices are not in order and include both ends of the uint64 range.
    const taskIndex = i === size - 1 && size > 2 ? U64_MAX : BigInt((i * 7) % (size + 3));
    values.push([taskIndex, label(name, i)]);
  }
  return values;
}

function account(i) {
  return getAddress(sliceHex(hashOf(`plumbline payout account ${i}`), 12));
}

function amount(i) {
  switch (i % 6) {
    case 0: return 0n;
    case 1: return 1n;
    case 2: return 10n ** 18n * BigInt(i + 1);
    case 3: return U128_MAX;
    case 4: return U256_MAX;
    default: return 123456789n * BigInt(i);
  }
}

function merkleVector(name, values, types, describe) {
  const tree = StandardMerkleTree.of(values, types);
  return {
    name,
    values: values.map(describe),
    leaves: values.map(value => tree.leafHash(value)),
    root: tree.root,
    proofs: values.map((_, i) => tree.getProof(i)),
  };
}

const labelTrees = [];
const labelTreeValues = {};
for (const [name, size] of [['one', 1], ['two', 2], ['three', 3], ['five', 5], ['sixteen', 16], ['thirty-three', 33]]) {
  let values = labelValues(name, size);
  if (size === 2) {
    values = [[0n, '0x'], [1n, int256(-1n)]];
  }
  if (size === 16) {
    // Two equal values: OpenZeppelin's stable sort keeps them in value order, and each still
    // gets its own proof.
    values[9] = values[3];
  }
  labelTreeValues[name] = values;
  labelTrees.push(merkleVector(name, values, ['uint64', 'bytes'], ([taskIndex, bytes]) => ({
    task_index: taskIndex.toString(),
    label: bytes,
  })));
}

const payoutTrees = [];
for (const [name, size] of [['one', 1], ['two', 2], ['seven', 7], ['hundred', 100]]) {
  const values = Array.from({ length: size }, (_, i) => [account(i), amount(i)]);
  payoutTrees.push(merkleVector(name, values, ['address', 'uint256'], ([address, value]) => ({
    account: address,
    amount: value.toString(),
  })));
}

// EIP-712.

const keys = [1, 2, 3].map(i => hashOf(`plumbline vector key ${i}`));
const accounts = keys.map(key => privateKeyToAccount(key));

const domains = [
  { name: 'Plumbline', version: '1', chainId: 31337, verifyingContract: zeroAddress },
  {
    name: 'Plumbline',
    version: '1',
    chainId: 8453,
    verifyingContract: getAddress(sliceHex(hashOf('plumbline vector contract'), 12)),
  },
];

const types = {
  Join: [
    { name: 'experimentId', type: 'bytes32' },
    { name: 'labeler', type: 'address' },
    { name: 'cohort', type: 'bytes32' },
    { name: 'stake', type: 'uint256' },
    { name: 'nonce', type: 'uint64' },
    { name: 'expiresAt', type: 'uint64' },
  ],
  Commit: [
    { name: 'experimentId', type: 'bytes32' },
    { name: 'batchId', type: 'uint64' },
    { name: 'commitment', type: 'bytes32' },
  ],
  Salt: [
    { name: 'experimentId', type: 'bytes32' },
    { name: 'batchId', type: 'uint64' },
  ],
  Reveal: [
    { name: 'experimentId', type: 'bytes32' },
    { name: 'batchId', type: 'uint64' },
    { name: 'labelsRoot', type: 'bytes32' },
    { name: 'salt', type: 'bytes32' },
  ],
};

const zeroHash = `0x${'00'.repeat(32)}`;
const experiments = [hashOf('plumbline vector experiment 1'), hashOf('plumbline vector experiment 2')];

function commitmentOf(experimentId, batchId, labeler, labelsRoot, salt) {
  return keccak256(encodeAbiParameters(
    [{ type: 'bytes32' }, { type: 'uint64' }, { type: 'address' }, { type: 'bytes32' }, { type: 'bytes32' }],
    [experimentId, batchId, labeler, labelsRoot, salt],
  ));
}

const describeDomain = domain => ({
  chain_id: domain.chainId.toString(),
  verifying_contract: domain.verifyingContract,
});

// Numbers go into JSON as decimal strings: uint64 and uint256 values do not fit a double.
const jsonMessage = message => Object.fromEntries(Object.entries(message).map(
  ([field, value]) => [field, typeof value === 'bigint' ? value.toString() : value],
));

async function typedVector(primaryType, domainIndex, keyIndex, message) {
  const domain = domains[domainIndex];
  const request = { domain, types: { [primaryType]: types[primaryType] }, primaryType, message };
  const signature = await accounts[keyIndex].signTypedData(request);
  const signer = await recoverTypedDataAddress({ ...request, signature });
  if (signer !== accounts[keyIndex].address) {
    throw new Error(`viem recovered ${signer} for ${primaryType}, expected ${accounts[keyIndex].address}`);
  }
  return {
    primary_type: primaryType,
    domain: describeDomain(domain),
    private_key: keys[keyIndex],
    message: jsonMessage(message),
    digest: hashTypedData(request),
    signature,
    signer,
  };
}

const saltInputs = [
  [0, 0, experiments[0], 0n],
  [1, 1, experiments[1], 42n],
  [0, 2, experiments[0], U64_MAX],
  [1, 0, experiments[0], 0n],
];
const salts = [];
for (const [domainIndex, keyIndex, experimentId, batchId] of saltInputs) {
  const vector = await typedVector('Salt', domainIndex, keyIndex, { experimentId, batchId });
  salts.push({
    domain: vector.domain,
    private_key: vector.private_key,
    experiment_id: experimentId,
    batch_id: batchId.toString(),
    signature: vector.signature,
    salt: keccak256(vector.signature),
  });
}

// The first commitment follows a client's whole commit path: the labels root of the five-label
// tree, the labeler's own address, and the salt the labeler derives from its key.
const fiveRoot = labelTrees.find(tree => tree.name === 'five').root;
const commitmentInputs = [
  [experiments[0], 0n, accounts[0].address, fiveRoot, salts[0].salt],
  [experiments[1], 42n, accounts[1].address, hashOf('another labels root'), salts[1].salt],
  [experiments[0], U64_MAX, accounts[2].address, zeroHash, zeroHash],
  [zeroHash, 0n, zeroAddress, zeroHash, zeroHash],
];
const commitments = commitmentInputs.map(([experimentId, batchId, labeler, labelsRoot, salt]) => ({
  experiment_id: experimentId,
  batch_id: batchId.toString(),
  labeler,
  labels_root: labelsRoot,
  salt,
  commitment: commitmentOf(experimentId, batchId, labeler, labelsRoot, salt),
}));

const typed = [
  await typedVector('Join', 0, 0, {
    experimentId: experiments[0],
    labeler: accounts[0].address,
    cohort: zeroHash,
    stake: 10n ** 18n,
    nonce: 0n,
    expiresAt: 1_800_000_600n,
  }),
  await typedVector('Join', 1, 1, {
    experimentId: experiments[1],
    labeler: accounts[1].address,
    cohort: hashOf('region:EU'),
    stake: U256_MAX,
    nonce: U64_MAX,
    expiresAt: U64_MAX,
  }),
  await typedVector('Join', 0, 2, {
    experimentId: experiments[0],
    labeler: accounts[2].address,
    cohort: hashOf('lang:de'),
    stake: 0n,
    nonce: 7n,
    expiresAt: 0n,
  }),
  await typedVector('Commit', 0, 0, {
    experimentId: experiments[0],
    batchId: 0n,
    commitment: commitments[0].commitment,
  }),
  await typedVector('Commit', 1, 1, {
    experimentId: experiments[1],
    batchId: 42n,
    commitment: commitments[1].commitment,
  }),
  await typedVector('Commit', 1, 2, {
    experimentId: experiments[0],
    batchId: U64_MAX,
    commitment: commitments[2].commitment,
  }),
  await typedVector('Salt', 0, 0, { experimentId: experiments[0], batchId: 0n }),
  await typedVector('Salt', 1, 1, { experimentId: experiments[1], batchId: 42n }),
  await typedVector('Salt', 0, 2, { experimentId: experiments[0], batchId: U64_MAX }),
  await typedVector('Reveal', 0, 0, {
    experimentId: experiments[0],
    batchId: 0n,
    labelsRoot: fiveRoot,
    salt: salts[0].salt,
  }),
  await typedVector('Reveal', 1, 1, {
    experimentId: experiments[1],
    batchId: 42n,
    labelsRoot: hashOf('another labels root'),
    salt: salts[1].salt,
  }),
  await typedVector('Reveal', 0, 2, {
    experimentId: experiments[0],
    batchId: U64_MAX,
    labelsRoot: zeroHash,
    salt: zeroHash,
  }),
];

const siweMessage = [
  'plumbline.example wants you to sign in with your Ethereum account:',
  accounts[0].address,
  '',
  'Sign in to Plumbline.',
  '',
  'URI: https://plumbline.example',
  'Version: 1',
  'Chain ID: 31337',
  'Nonce: 8f3b2a1c9d7e6f50',
  'Issued At: 2025-01-01T00:00:00Z',
].join('\n');

async function personalVector(keyIndex, message, messageHex) {
  const signature = await accounts[keyIndex].signMessage({ message });
  const signer = await recoverMessageAddress({ message, signature });
  if (signer !== accounts[keyIndex].address) {
    throw new Error(`viem recovered ${signer} for a personal message, expected ${accounts[keyIndex].address}`);
  }
  return {
    private_key: keys[keyIndex],
    message: messageHex,
    hash: hashMessage(message),
    signature,
    signer,
  };
}

const rawMessage = concatHex(['0x00ff', bytesFrom('plumbline raw personal message', 30)]);
const personal = [
  await personalVector(0, siweMessage, stringToHex(siweMessage)),
  await personalVector(1, { raw: rawMessage }, rawMessage),
];

// Sealed reveals: ECIES over secp256k1 from its reference parts, noble's ECDH and WebCrypto's
// HKDF-SHA256 and AES-256-GCM (see crates/core/src/seal.rs for the construction).
async function sealVector(index, batchId, plaintext) {
  const operatorKey = hashOf(`plumbline seal operator ${index}`);
  const ephemeralKey = hashOf(`plumbline seal ephemeral ${index}`);
  const iv = bytesFrom(`plumbline seal iv ${index}`, 12);
  const experimentId = hashOf(`plumbline seal experiment ${index}`);
  const labeler = privateKeyToAccount(hashOf(`plumbline seal labeler ${index}`)).address;
  const operatorPublic = toHex(secp256k1.getPublicKey(hexToBytes(operatorKey), true));
  const batch = new Uint8Array(8);
  new DataView(batch.buffer).setBigUint64(0, BigInt(batchId));
  const context = concatHex([
    stringToHex('plumbline-sealed-reveal-1'), experimentId, toHex(batch), labeler.toLowerCase(),
  ]);
  const ephemeralPublic = secp256k1.getPublicKey(hexToBytes(ephemeralKey), true);
  const shared = secp256k1.getSharedSecret(hexToBytes(ephemeralKey), hexToBytes(operatorPublic), true).slice(1);
  const material = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  const key = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: ephemeralPublic, info: hexToBytes(context) },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt'],
  );
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: hexToBytes(iv), additionalData: hexToBytes(context) }, key, hexToBytes(stringToHex(plaintext)),
  );
  return {
    operator_private_key: operatorKey,
    operator_public_key: operatorPublic,
    ephemeral_private_key: ephemeralKey,
    iv,
    experiment_id: experimentId,
    batch_id: String(batchId),
    labeler,
    context,
    plaintext,
    sealed: concatHex([toHex(ephemeralPublic), iv, toHex(new Uint8Array(sealed))]),
  };
}

const seals = [
  await sealVector(0, 0, JSON.stringify({
    labels: [{ task: 0, label: -2 }, { task: 1, label: 1 }],
    salt: hashOf('plumbline seal salt 0'),
    signature: bytesFrom('plumbline seal signature 0', 65),
  })),
  await sealVector(1, 2n ** 64n - 1n, ''),
];

function write(file, data) {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, file), `${JSON.stringify({ generator, ...data }, null, 2)}\n`);
}

write('merkle.json', { labels: labelTrees, payouts: payoutTrees });
write('seal.json', { seals });
write('eip712.json', {
  domain: { name: 'Plumbline', version: '1' },
  typed,
  commitments,
  salts,
  personal,
});
