// The application shell: identity and session, the header, hash routing between screens, the
// keyboard dispatcher, polling timers and notices.

import { Api, ApiError } from './api.js';
import { h, replace, short, amount } from './dom.js';
import { restoreIdentity, signIn, storedSession } from './wallet.js';
import { accountScreen } from './screens/account.js';
import { labelerHome, joinScreen } from './screens/labeler.js';
import { workspaceScreen } from './screens/workspace.js';
import { practiceScreen } from './screens/practice.js';
import { experimenterHome, createScreen, setupOrDashboard } from './screens/experimenter.js';
import { shortcutsDialog } from './screens/help.js';

const app = {
  api: new Api(),
  signer: null,
  session: null,
  account: null,
  /** The server's clock as last seen, and the browser's monotonic time then. */
  serverClock: null,
  /** The current screen's key handler: `(event) => handled`. */
  onKey: null,
  timers: [],
  generation: 0,
};

/** Seconds since the epoch on the server's clock, extrapolated from its last answer (the test
 * clock only moves when told, so this may run a little ahead there; it is only shown). */
app.now = () => {
  if (!app.serverClock) return Math.floor(Date.now() / 1000);
  const elapsed = (performance.now() - app.serverClock.at) / 1000;
  return Math.floor(app.serverClock.now + elapsed);
};

app.sawServerClock = now => {
  app.serverClock = { now, at: performance.now() };
};

/** Runs `task` every `ms` until the screen changes. */
app.every = (ms, task) => {
  const generation = app.generation;
  const id = setInterval(() => {
    if (generation !== app.generation) {
      clearInterval(id);
      return;
    }
    task();
  }, ms);
  app.timers.push(id);
};

/** A short notice for everyone, read out by screen readers too. */
app.notify = (text, kind = 'info') => {
  const toasts = document.getElementById('toasts');
  const toast = h('p', { class: `toast ${kind}` }, text);
  toasts.append(toast);
  // Two at a time is enough to read; older notices make way.
  while (toasts.children.length > 2) toasts.firstElementChild.remove();
  setTimeout(() => toast.remove(), kind === 'error' ? 9000 : 4000);
};

/** A message for an error of any kind. */
app.describe = error => {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  return error?.shortMessage ?? error?.message ?? String(error);
};

app.go = hash => {
  if (location.hash === hash) render();
  else location.hash = hash;
};

app.setSigner = async signer => {
  app.signer = signer;
  app.session = signer ? storedSession(signer.address) : null;
  app.api.token = app.session?.token ?? null;
  app.account = null;
  if (signer && !app.session && signer.kind === 'local') {
    // A local key signs without a prompt, so signing in needs no click.
    await app.signIn();
  }
  await app.refreshAccount();
};

app.signIn = async () => {
  app.session = await signIn(app.api, app.signer);
  app.api.token = app.session.token;
  renderHeader();
};

/** Runs a request that needs a session, signing in again once if the session has lapsed. */
app.withSession = async request => {
  if (!app.session) await app.signIn();
  try {
    return await request();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      await app.signIn();
      return request();
    }
    throw error;
  }
};

app.refreshAccount = async () => {
  if (!app.signer) {
    app.account = null;
  } else {
    app.account = await app.api.account(app.signer.address);
  }
  renderHeader();
  return app.account;
};

function navLink(href, label, current) {
  return h('a', { href, class: current ? 'current' : null, 'aria-current': current ? 'page' : null }, label);
}

function renderHeader() {
  const route = location.hash || '#/';
  const top = document.getElementById('top');
  const who = app.signer
    ? h('a', { href: '#/account', class: 'who', title: app.signer.address },
      h('span', { class: 'addr' }, short(app.signer.address)),
      app.account ? h('span', { class: 'bal' }, `${amount(app.account.available)} credits`) : null,
      app.session ? null : h('span', { class: 'badge warn' }, 'not signed in'))
    : h('a', { href: '#/account', class: 'who' }, 'Set up a key');
  replace(top,
    h('a', { href: '#/', class: 'brand' }, h('img', { src: '/assets/icon.svg', alt: '', width: 24, height: 24 }), 'Plumbline'),
    h('nav', { 'aria-label': 'Main' },
      navLink('#/label', 'Label', route.startsWith('#/label') || route.startsWith('#/x/')),
      navLink('#/lab', 'Experiments', route.startsWith('#/lab')),
      navLink('#/account', 'Account', route.startsWith('#/account'))),
    who,
    h('button', { class: 'ghost keys', type: 'button', onclick: () => shortcutsDialog(), 'aria-label': 'Keyboard shortcuts' }, '?'));
}

async function screenFor(route) {
  const parts = route.replace(/^#\/?/, '').split('/').filter(Boolean);
  if (parts[0] === 'account') return accountScreen(app);
  if (!app.signer) return accountScreen(app);
  if (parts.length === 0 || parts[0] === 'label') return labelerHome(app);
  if (parts[0] === 'x' && parts.length === 2) return joinScreen(app, parts[1]);
  if (parts[0] === 'x' && parts[2] === 'batch' && parts.length === 4) return workspaceScreen(app, parts[1], parts[3]);
  if (parts[0] === 'x' && parts[2] === 'practice' && parts.length === 3) return practiceScreen(app, parts[1]);
  if (parts[0] === 'lab' && parts.length === 1) return experimenterHome(app);
  if (parts[0] === 'lab' && parts[1] === 'new') return createScreen(app);
  if (parts[0] === 'lab' && parts.length === 2) return setupOrDashboard(app, parts[1]);
  return h('section', { class: 'panel' }, h('h1', null, 'Nothing here'), h('p', null, h('a', { href: '#/' }, 'Back to the start')));
}

async function render() {
  app.generation += 1;
  for (const id of app.timers) clearInterval(id);
  app.timers = [];
  app.onKey = null;
  const generation = app.generation;
  renderHeader();
  const main = document.getElementById('main');
  main.setAttribute('aria-busy', 'true');
  let screen;
  try {
    screen = await screenFor(location.hash || '#/');
  } catch (error) {
    screen = h('section', { class: 'panel' }, h('h1', null, 'Something went wrong'), h('p', { class: 'error' }, app.describe(error)));
  }
  if (generation !== app.generation) return;
  replace(main, screen);
  main.removeAttribute('aria-busy');
  const autofocus = main.querySelector('[data-autofocus]');
  (autofocus ?? main).focus({ preventScroll: false });
  window.scrollTo(0, 0);
}

app.render = render;

function editable(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

document.addEventListener('keydown', event => {
  if (event.defaultPrevented || event.metaKey) return;
  // Alt and Ctrl combinations belong to the browser, but for Alt + ↑/↓ (move a ranked response)
  // and Ctrl + Enter (leave a text box for the next task).
  if (event.altKey && !['ArrowUp', 'ArrowDown'].includes(event.key)) return;
  if (event.ctrlKey && event.key !== 'Enter') return;
  const inField = editable(event.target);
  // In a text field only Escape and Ctrl+Enter reach the screen; everything else is typing.
  if (inField && event.key !== 'Escape' && !(event.key === 'Enter' && event.ctrlKey)) return;
  if (!inField && event.key === '?' && !document.querySelector('dialog[open]')) {
    event.preventDefault();
    shortcutsDialog();
    return;
  }
  if (document.querySelector('dialog[open]')) return;
  if (app.onKey && app.onKey(event)) event.preventDefault();
});

window.addEventListener('hashchange', render);

(async () => {
  try {
    await app.setSigner(await restoreIdentity());
  } catch (error) {
    app.notify(app.describe(error), 'error');
  }
  await render();
})();
