// The account screen: make a key in this browser, import one, or use an injected wallet; export
// the key; sign in; forget the key.

import { h, amount, short, when } from '../dom.js';
import {
  connectInjected, createLocalKey, forgetIdentity, importLocalKey, injectedProvider,
} from '../wallet.js';
import { isMine } from './common.js';

function download(name, text, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h('a', { href: url, download: name, class: 'hidden' });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function setupPanel(app) {
  const status = h('p', { class: 'error', role: 'alert' });
  const useSigner = async make => {
    status.textContent = '';
    try {
      await app.setSigner(await make());
      app.notify(`Signed in as ${short(app.signer.address)}`, 'ok');
      app.go('#/label');
    } catch (error) {
      status.textContent = app.describe(error);
    }
  };
  const keyText = h('textarea', { id: 'import-key', rows: 3, spellcheck: 'false', autocomplete: 'off', placeholder: '0x… private key, or the contents of a key file' });
  // One picker: the label below is the button, the input itself stays out of sight.
  const keyFile = h('input', { type: 'file', id: 'import-file', class: 'visually-hidden', accept: '.json,application/json' });
  keyFile.addEventListener('change', async () => {
    const file = keyFile.files?.[0];
    if (file) await useSigner(async () => importLocalKey(await file.text()));
  });
  const provider = injectedProvider();
  return h('section', { class: 'panel narrow' },
    h('h1', null, 'Your key'),
    h('p', { class: 'lede' }, 'Your account is a key: a secret only you hold, which signs your sign-in, your stake, ',
      'your sealed labels and their reveal. The server never sees it; your address, which it names, is public.'),
    h('div', { class: 'choices' },
      h('div', { class: 'choice' },
        h('h2', null, 'Make a key in this browser'),
        h('p', null, 'Kept in this browser\'s storage. Export it afterwards so that clearing the browser does not lose your stake.'),
        h('button', { class: 'primary', type: 'button', 'data-autofocus': '', id: 'create-key', onclick: () => useSigner(async () => createLocalKey()) }, 'Create a key')),
      provider
        ? h('div', { class: 'choice' },
          h('h2', null, 'Use your browser wallet'),
          h('p', null, 'Your wallet shows each message before it signs: the sign-in, the join, the salt, the commit and the reveal.'),
          h('button', { class: 'primary', type: 'button', id: 'use-wallet', onclick: () => useSigner(connectInjected) }, 'Connect wallet'))
        : null,
      h('div', { class: 'choice' },
        h('h2', null, 'Import a key'),
        h('label', { for: 'import-key' }, 'Private key or key file contents (as ', h('code', null, 'plumbline keys new'), ' writes it)'),
        keyText,
        h('div', { class: 'row' },
          h('button', { type: 'button', onclick: () => useSigner(async () => importLocalKey(keyText.value)) }, 'Import'),
          h('label', { class: 'button', for: 'import-file' }, 'Choose a key file…'), keyFile))),
    status);
}

// Test credits from the server's faucet, where it has one: what a new key needs to fund an
// experiment or stake on one without the operator.
function faucetPanel(app, account, amountText) {
  if (amountText == null) return null;
  const full = BigInt(account?.available ?? 0) >= BigInt(amountText);
  const status = h('p', { class: 'muted', role: 'status', id: 'faucet-status' },
    full ? `You hold at least ${amount(amountText)} available credits, all the faucet gives.` : '');
  const button = h('button', { type: 'button', id: 'faucet', disabled: full, onclick: async () => {
    button.disabled = true;
    try {
      const drawn = await app.withSession(() => app.api.drawFaucet());
      await app.refreshAccount();
      app.notify(`Added ${amount(drawn.amount)} test credits`, 'ok');
      app.render();
    } catch (error) {
      status.textContent = app.describe(error);
      button.disabled = false;
    }
  } }, 'Get test credits');
  return h('div', { class: 'card' },
    h('h2', null, 'Test credits'),
    h('p', null, `This server gives test credits: your available credits are topped up to ${amount(amountText)}, as often as you need. They are for trying Plumbline and are worth nothing elsewhere.`),
    button, status);
}

// The operator issues credits in the embedded ledger (never in chain mode, where money is
// tokens): to an experimenter's or a labeler's address, typed or pasted.
function mintPanel(app) {
  const to = h('input', { id: 'mint-to', type: 'text', placeholder: '0x…', spellcheck: 'false', autocomplete: 'off' });
  const credits = h('input', { id: 'mint-amount', type: 'text', inputmode: 'numeric', value: '10000' });
  const status = h('p', { class: 'muted', role: 'status', id: 'mint-status' });
  const form = h('form', { class: 'card stack', id: 'mint', novalidate: true },
    h('h2', null, 'Issue credits'),
    h('p', null, 'You run this server: credits you issue here are added to an account\'s available balance in its ledger.'),
    h('div', { class: 'grid2' },
      h('div', { class: 'field' }, h('label', { for: 'mint-to' }, 'To address'), to),
      h('div', { class: 'field' }, h('label', { for: 'mint-amount' }, 'Credits'), credits)),
    h('button', { type: 'submit', class: 'primary', id: 'mint-submit' }, 'Issue credits'),
    status);
  form.addEventListener('submit', async event => {
    event.preventDefault();
    const address = to.value.trim();
    const value = credits.value.trim();
    if (!/^0x[0-9a-fA-F]{40}$/.test(address)) {
      status.textContent = 'The address must be 0x followed by 40 hexadecimal digits.';
      return;
    }
    if (!/^[1-9]\d*$/.test(value)) {
      status.textContent = 'Credits must be a whole number above 0.';
      return;
    }
    try {
      const minted = await app.withSession(() => app.api.mint(address, value));
      status.textContent = `Issued ${amount(minted.amount)} credits to ${minted.to}: it now has ${amount(minted.available)} available.`;
      if (isMine(app, address)) await app.refreshAccount();
    } catch (error) {
      status.textContent = app.describe(error);
    }
  });
  return form;
}

export async function accountScreen(app) {
  if (!app.signer) return setupPanel(app);
  const signer = app.signer;
  const [account, faucet, health] = await Promise.all([
    app.account ?? app.refreshAccount(),
    app.api.faucet().catch(() => ({ amount: null })),
    app.api.health().catch(() => ({})),
  ]);
  const operator = health.ledger === 'embedded' && isMine(app, health.operator);
  const reputation = account?.reputation;
  const signInButton = h('button', { class: 'primary', type: 'button', onclick: async () => {
    try {
      await app.signIn();
      app.render();
    } catch (error) {
      app.notify(app.describe(error), 'error');
    }
  } }, app.session ? 'Sign in again' : 'Sign in');
  return h('section', { class: 'panel narrow' },
    h('h1', null, 'Your account'),
    h('dl', { class: 'facts' },
      h('dt', null, 'Address'), h('dd', null, h('code', { class: 'break', id: 'my-address' }, signer.address)),
      h('dt', null, 'Key'), h('dd', null, signer.kind === 'local' ? 'kept in this browser' : 'your browser wallet'),
      h('dt', null, 'Session'), h('dd', null, app.session ? `signed in until ${when(app.session.expires_at)}` : 'not signed in'),
      h('dt', null, 'Available'), h('dd', null, `${amount(account?.available)} credits`),
      h('dt', null, 'Locked stake'), h('dd', null, `${amount(account?.locked)} credits`),
      h('dt', null, 'Reputation'), h('dd', null, reputation
        ? `${reputation.experiments} experiments, ${reputation.rewarded} rewarded, ${reputation.slashed} slashed, ${reputation.non_reveals} batches not revealed; gold items ${reputation.tally.gold_n}, peer items ${reputation.tally.peer_n}`
        : 'no settled experiment yet')),
    faucetPanel(app, account, faucet.amount),
    operator ? mintPanel(app) : null,
    h('div', { class: 'row' },
      signInButton,
      signer.kind === 'local'
        ? h('button', { type: 'button', id: 'export-key', onclick: () => download(`plumbline-key-${signer.address}.json`, signer.keyFile()) }, 'Export key file')
        : null,
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        const warning = signer.kind === 'local'
          ? 'Forget this key? Without an exported copy, its balance and stakes cannot be reached again.'
          : 'Disconnect this wallet from Plumbline?';
        if (!window.confirm(warning)) return;
        forgetIdentity(signer.address);
        await app.setSigner(null);
        app.go('#/account');
      } }, signer.kind === 'local' ? 'Forget this key' : 'Disconnect')));
}
