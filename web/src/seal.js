// Sealed reveals (docs/protocol.md, "Sealed reveals"): at commit the labeler may leave its signed
// reveal with the operator, encrypted to the server's sealing key, and the server reveals it once
// the commit deadline passes if the labeler has not. The same bytes as `plumbline_core::seal`:
// ECIES over secp256k1, HKDF-SHA256 (salt: the ephemeral public key; info: the context) and
// AES-256-GCM (associated data: the context), as `ephemeral public key (33) ‖ iv (12) ‖
// ciphertext ‖ tag`, checked against crates/core/tests/vectors/seal.json.

import { secp256k1 } from '@noble/curves/secp256k1';
import { bytesToHex, concatBytes, hexToBytes } from 'viem';

const DOMAIN = new TextEncoder().encode('plumbline-sealed-reveal-1');

/** The context a seal is bound to: domain ‖ experimentId (32) ‖ batchId (8, big-endian) ‖
 * labeler (20). */
export function sealContext(experimentId, batchId, labeler) {
  const batch = new Uint8Array(8);
  new DataView(batch.buffer).setBigUint64(0, BigInt(batchId));
  return concatBytes([DOMAIN, hexToBytes(experimentId), batch, hexToBytes(labeler)]);
}

/** Seals `reveal` (`{labels, salt, signature}`, as the reveal request carries it) to the
 * server's public key for one batch. `ephemeral` and `iv` are for tests; by default both are
 * fresh random values. */
export async function sealReveal(publicKey, experimentId, batchId, labeler, reveal, options = {}) {
  const plaintext = new TextEncoder().encode(JSON.stringify(reveal));
  return bytesToHex(await seal(publicKey, sealContext(experimentId, batchId, labeler), plaintext, options));
}

/** Seals bytes to a public key for a context. */
export async function seal(publicKey, context, plaintext, options = {}) {
  const ephemeral = options.ephemeral ? hexToBytes(options.ephemeral) : secp256k1.utils.randomPrivateKey();
  const iv = options.iv ? hexToBytes(options.iv) : crypto.getRandomValues(new Uint8Array(12));
  const ephemeralPublic = secp256k1.getPublicKey(ephemeral, true);
  const shared = secp256k1.getSharedSecret(ephemeral, hexToBytes(publicKey), true).slice(1);
  const material = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  const key = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: ephemeralPublic, info: context },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt'],
  );
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: context }, key, plaintext);
  return concatBytes([ephemeralPublic, iv, new Uint8Array(sealed)]);
}
