// What the browser tests share: the real server on a fresh database with the test clock, a
// small API client, headless Debian chromium with a console-error collector, and a stand-in
// for a browser wallet.

import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = join(here, '..', '..');
export const shots = process.env.PLUMBLINE_SCREENSHOTS ?? join(repo, 'docs', 'screenshots');
const binary = process.env.PLUMBLINE_BIN;
const chromiumPath = process.env.PLUMBLINE_CHROMIUM ?? '/usr/bin/chromium';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function until(what, check, timeoutMs = 20000) {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

export class Server {
  constructor(base) {
    this.base = base;
  }

  async call(method, path, body, token) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${this.base}/api/v1${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const value = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return value;
  }

  async login(account) {
    const challenge = await this.call('POST', '/auth/challenge', { address: account.address });
    const signature = await account.signMessage({ message: challenge.message });
    const session = await this.call('POST', '/auth/login', { message: challenge.message, signature });
    return session.token;
  }

  setClock(now) {
    return this.call('POST', '/test/clock', { now });
  }
}

/** What the servers' testing faucet tops an account up to. */
export const FAUCET = 200000n;

/** Runs `plumbline serve` on a fresh database with the test clock, a sealing key (so
 * labelers may leave their reveals with it) and a faucet; resolves once it answers. */
async function startServer(dir, operator) {
  const port = await freePort();
  const log = openSync(join(dir, 'server.log'), 'w');
  const sealingKey = join(dir, 'sealing-key.json');
  const secret = generatePrivateKey();
  writeFileSync(sealingKey, JSON.stringify({ address: privateKeyToAccount(secret).address, private_key: secret }));
  const child = spawn(binary, [
    'serve', '--test-clock', '--db', join(dir, 'plumbline.db'), '--addr', `127.0.0.1:${port}`, '--operator', operator,
    '--sealing-key', sealingKey, '--faucet', FAUCET.toString(),
  ], { stdio: ['ignore', log, log] });
  const exited = new Promise(resolve => child.on('exit', code => resolve(code)));
  const server = new Server(`http://127.0.0.1:${port}`);
  await until('the server to answer', async () => {
    try {
      const health = await server.call('GET', '/health');
      return health.status === 'ok';
    } catch {
      return false;
    }
  });
  return { server, child, exited };
}

/** An EIP-1193 provider inside the page whose signing happens in Node with a viem account,
 * standing in for a browser wallet extension. */
export async function injectWallet(context, account) {
  await context.exposeBinding('__plumblineWallet', async (_source, method, params) => {
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts':
        return [account.address];
      case 'eth_chainId':
        return '0x7a69';
      case 'personal_sign': {
        const [message] = params;
        return account.signMessage({ message: { raw: message } });
      }
      case 'eth_signTypedData_v4': {
        const typed = JSON.parse(params[1]);
        const { EIP712Domain: _domain, ...types } = typed.types;
        // JSON carries integers as strings or numbers; the typed data wants bigints for them.
        const message = {};
        for (const { name, type } of types[typed.primaryType]) {
          const value = typed.message[name];
          message[name] = /^u?int/.test(type) ? BigInt(value) : value;
        }
        return account.signTypedData({ domain: typed.domain, types, primaryType: typed.primaryType, message });
      }
      default:
        throw new Error(`the test wallet does not answer ${method}`);
    }
  });
  await context.addInitScript(() => {
    window.ethereum = {
      isTestWallet: true,
      request: ({ method, params }) => window.__plumblineWallet(method, params ?? []),
      on() {},
      removeListener() {},
    };
  });
}


/** A server, a browser and an operator for one test; `t.after` stops them all. `page(who)`
 * opens a fresh browser context (its own storage: its own user) and records its console
 * errors in `consoleErrors`. */
export async function setUp(t) {
  if (!binary) throw new Error('set PLUMBLINE_BIN to the plumbline binary (web/test.sh does)');
  const dir = mkdtempSync(join(tmpdir(), 'plumbline-web-'));
  const operator = privateKeyToAccount(generatePrivateKey());
  const { server, child, exited } = await startServer(dir, operator.address);
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const consoleErrors = [];
  let failed = true;
  t.after(async () => {
    await browser.close();
    child.kill('SIGTERM');
    await exited;
    if (failed) process.stderr.write(`--- server log ---\n${readFileSync(join(dir, 'server.log'), 'utf8').slice(-6000)}\n`);
    rmSync(dir, { recursive: true, force: true });
  });
  const page = async (who, { viewport = { width: 1280, height: 800 }, wallet } = {}) => {
    const context = await browser.newContext({ viewport, acceptDownloads: true, baseURL: server.base });
    if (wallet) await injectWallet(context, wallet);
    const opened = await context.newPage();
    opened.on('console', message => {
      if (message.type() === 'error') consoleErrors.push(`${who}: ${message.text()}`);
    });
    opened.on('pageerror', error => consoleErrors.push(`${who}: ${error.message}`));
    opened.setDefaultTimeout(15000);
    return opened;
  };
  const operatorToken = await server.login(operator);
  const mint = (to, amount) => server.call('POST', '/ledger/mint', { to, amount: amount.toString() }, operatorToken);
  return { server, operator, operatorToken, mint, page, consoleErrors, passed: () => { failed = false; } };
}

/** A screenshot into docs/screenshots: the pointer is moved off the page's controls so no hover
 * shows, and full-page shots start from the top so the sticky header sits where it belongs. */
export async function shot(page, name, fullPage = false) {
  await page.mouse.move(1, page.viewportSize().height - 1);
  if (fullPage) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage });
}

/** Makes a key in the browser on the account screen and returns its address. */
export async function createKey(page) {
  await page.goto('/');
  await page.click('#create-key');
  await page.waitForURL(/#\/label$/);
  await page.goto('/#/account');
  return (await page.locator('#my-address').textContent()).trim();
}
