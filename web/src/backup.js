// The encrypted backup stored beside a commit (DESIGN section 5): the labels are "encrypted and
// public" until the reveal, so a labeler who loses this browser's storage can still reveal from
// any device that holds the key.
//
// The AES-256-GCM key comes from the signature of the batch's `Salt` message through HKDF-SHA256.
// That signature is deterministic (RFC 6979) and never leaves the client: only its keccak256, the
// salt, is published at the reveal, and HKDF with its own label makes a key unrelated to it. So
// the key costs no extra wallet prompt, needs no storage, and nobody without the labeler's key can
// derive it. The experiment, batch and labeler are bound in as associated data, so a backup
// cannot be passed off as another batch's.

import { hexToBytes } from 'viem';
import { normalizeSignature } from './protocol.js';

const FORMAT = 'plumbline-backup-1';
const HKDF_SALT = new TextEncoder().encode('plumbline backup key');

function base64(bytes) {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

function unbase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function context(experimentId, batchId, labeler) {
  return new TextEncoder().encode(`${experimentId.toLowerCase()}:${batchId}:${labeler.toLowerCase()}`);
}

async function keyFrom(saltSignature, experimentId, batchId, labeler) {
  const material = await crypto.subtle.importKey(
    'raw', hexToBytes(normalizeSignature(saltSignature)), 'HKDF', false, ['deriveKey'],
  );
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: HKDF_SALT, info: context(experimentId, batchId, labeler) },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** Encrypts `contents` (any JSON value) into the opaque backup string the server stores. */
export async function sealBackup(saltSignature, experimentId, batchId, labeler, contents) {
  const key = await keyFrom(saltSignature, experimentId, batchId, labeler);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify(contents));
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: context(experimentId, batchId, labeler) }, key, plain,
  ));
  return JSON.stringify({ format: FORMAT, iv: base64(iv), data: base64(sealed) });
}

/** Decrypts a backup made by `sealBackup`; throws when it is not one or the key is wrong. */
export async function openBackup(saltSignature, experimentId, batchId, labeler, backup) {
  const envelope = JSON.parse(backup);
  if (envelope.format !== FORMAT) {
    throw new Error(`unknown backup format ${JSON.stringify(envelope.format)}`);
  }
  const key = await keyFrom(saltSignature, experimentId, batchId, labeler);
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: unbase64(envelope.iv), additionalData: context(experimentId, batchId, labeler) },
    key,
    unbase64(envelope.data),
  );
  return JSON.parse(new TextDecoder().decode(plain));
}
