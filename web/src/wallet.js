// Who the user is: a key made and kept in this browser, or an injected EIP-1193 wallet. Both
// sign the same EIP-191 sign-in messages and EIP-712 protocol messages through viem, so the
// rest of the interface does not care which one it has.

import { createWalletClient, custom, getAddress, isHex, stringToHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { normalizeSignature } from './protocol.js';

const IDENTITY_KEY = 'plumbline.identity';
const SESSION_PREFIX = 'plumbline.session.';

/** A key held in this browser's storage. Signing is local and needs no prompt. */
export class LocalSigner {
  constructor(privateKey) {
    this.privateKey = privateKey;
    this.account = privateKeyToAccount(privateKey);
    this.address = this.account.address;
    this.kind = 'local';
  }

  async signMessage(message) {
    return normalizeSignature(await this.account.signMessage({ message }));
  }

  async signTypedData(request) {
    return normalizeSignature(await this.account.signTypedData(request));
  }

  /** The key file `plumbline keys new` writes, so the CLI can use the same key. */
  keyFile() {
    return `${JSON.stringify({ address: this.address, private_key: this.privateKey }, null, 2)}\n`;
  }
}

/** An injected wallet (`window.ethereum`): every signature is the wallet's to grant. */
export class InjectedSigner {
  constructor(provider, address) {
    this.provider = provider;
    this.address = getAddress(address);
    this.kind = 'injected';
    this.client = createWalletClient({ transport: custom(provider) });
  }

  async signMessage(message) {
    const signature = await this.provider.request({
      method: 'personal_sign',
      params: [stringToHex(message), this.address],
    });
    return normalizeSignature(signature);
  }

  async signTypedData(request) {
    return normalizeSignature(await this.client.signTypedData({ account: this.address, ...request }));
  }
}

/** The injected EIP-1193 provider, if the browser has one. */
export function injectedProvider() {
  const provider = globalThis.window?.ethereum;
  return provider && typeof provider.request === 'function' ? provider : null;
}

/** Asks the injected wallet for an account. */
export async function connectInjected() {
  const provider = injectedProvider();
  if (!provider) throw new Error('no browser wallet was found');
  const accounts = await provider.request({ method: 'eth_requestAccounts' });
  if (!accounts?.length) throw new Error('the wallet shared no account');
  const signer = new InjectedSigner(provider, accounts[0]);
  localStorage.setItem(IDENTITY_KEY, JSON.stringify({ kind: 'injected', address: signer.address }));
  return signer;
}

/** Makes a new key in this browser and keeps it. */
export function createLocalKey() {
  const signer = new LocalSigner(generatePrivateKey());
  saveLocal(signer);
  return signer;
}

/** Imports a key from a private key in hex or a key file's text. */
export function importLocalKey(text) {
  let candidate = text.trim();
  if (candidate.startsWith('{')) {
    let parsed;
    try {
      parsed = JSON.parse(candidate);
    } catch {
      throw new Error('the key file is not JSON');
    }
    candidate = String(parsed.private_key ?? '');
  }
  if (!candidate.startsWith('0x')) candidate = `0x${candidate}`;
  if (!isHex(candidate) || candidate.length !== 66) {
    throw new Error('a private key is 32 bytes of hex (64 digits)');
  }
  let signer;
  try {
    signer = new LocalSigner(candidate.toLowerCase());
  } catch {
    throw new Error('these 32 bytes are not a valid secp256k1 key');
  }
  saveLocal(signer);
  return signer;
}

function saveLocal(signer) {
  localStorage.setItem(IDENTITY_KEY, JSON.stringify({ kind: 'local', privateKey: signer.privateKey }));
}

/** The identity kept from an earlier visit, reconnecting an injected wallet silently when it
 * still shares the account. */
export async function restoreIdentity() {
  const raw = localStorage.getItem(IDENTITY_KEY);
  if (!raw) return null;
  let saved;
  try {
    saved = JSON.parse(raw);
  } catch {
    return null;
  }
  if (saved.kind === 'local' && saved.privateKey) return new LocalSigner(saved.privateKey);
  if (saved.kind === 'injected') {
    const provider = injectedProvider();
    if (!provider) return null;
    const accounts = await provider.request({ method: 'eth_accounts' });
    const match = accounts?.find(a => a.toLowerCase() === saved.address.toLowerCase());
    return match ? new InjectedSigner(provider, match) : null;
  }
  return null;
}

/** Forgets the identity and its session (the key is gone unless it was exported). */
export function forgetIdentity(address) {
  localStorage.removeItem(IDENTITY_KEY);
  if (address) localStorage.removeItem(SESSION_PREFIX + address);
}

/** The stored session of an address if it has not expired (by the browser's clock, with a
 * minute to spare). */
export function storedSession(address) {
  const raw = localStorage.getItem(SESSION_PREFIX + address);
  if (!raw) return null;
  try {
    const session = JSON.parse(raw);
    return session.expires_at * 1000 > Date.now() + 60_000 ? session : null;
  } catch {
    return null;
  }
}

/** Signs in with Ethereum: the server's EIP-4361 message, signed EIP-191. */
export async function signIn(api, signer) {
  const challenge = await api.post('/auth/challenge', { address: signer.address });
  const signature = await signer.signMessage(challenge.message);
  const session = await api.post('/auth/login', { message: challenge.message, signature });
  localStorage.setItem(SESSION_PREFIX + signer.address, JSON.stringify(session));
  return session;
}
