// A best-of experiment set up in the browser, against the real `plumbline serve`: the
// experimenter chooses "the best of each prompt's responses" in the creation form's rounds,
// checks a task file whose regular line is one prompt with its five replies (a line with one
// reply is named and nothing is sent), imports the right one as its ten pairs, funds and opens;
// the dashboard's rounds panel counts matches, and the setup says how the knockout runs. The
// create form and the dashboard are photographed into docs/screenshots as best-of-NN-*.png, and
// any console error fails the test.
//
// Needs PLUMBLINE_BIN (the release binary) and Debian's chromium; web/test.sh provides both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { FAUCET, createKey, setUp, shot, shots, until } from './harness.mjs';

const REPLIES = ['Hello!', 'Hi there, how can I help?', 'Greetings.', 'Hey.', 'Good day to you.'];
const LINES = [
  { id: 'hello', prompt: 'Greet a new user.', responses: REPLIES },
  ...[0, 1, 2].map(g => ({ id: `gold-${g}`, prompt: `Which is polite? (${g})`, responses: ['Thank you.', 'Go away.'], gold: -1 })),
];
const JSONL = LINES.map(line => JSON.stringify(line)).join('\n');

test('a best-of experiment from the form to an open knockout, in the browser', { timeout: 240_000 }, async t => {
  mkdirSync(shots, { recursive: true });
  const { server, page: open, consoleErrors, passed } = await setUp(t);
  const experimenter = await open('experimenter');
  const address = await createKey(experimenter);
  await experimenter.click('#faucet');
  await until('the faucet to top the account up', async () =>
    BigInt((await server.call('GET', `/accounts/${address}`)).available) === FAUCET);
  await experimenter.goto('/#/lab/new');
  await experimenter.locator('#create-form').waitFor();
  await experimenter.fill('#f-title', 'Which greeting is best?');
  await experimenter.selectOption('#f-kind', 'pairwise');
  await experimenter.fill('#f-instructions', 'Pick the friendlier, more useful greeting.');
  await experimenter.fill('#f-block', '4');
  await experimenter.fill('#f-overlap', '3');
  await experimenter.fill('#f-gold', '1');
  await experimenter.fill('#f-batches', '10');
  await experimenter.fill('#f-stake', '1000');
  await experimenter.fill('#f-pool', '20000');
  await experimenter.fill('#f-commit-within', '1h');
  await experimenter.fill('#f-reveal-within', '1h');
  await experimenter.selectOption('#f-rounds-rule', 'best_of');
  await experimenter.fill('#f-rounds', '12');
  await experimenter.fill('#f-rounds-max', '7');
  await experimenter.fill('#f-rounds-commit', '1h');
  await experimenter.fill('#f-rounds-reveal', '1h');
  await experimenter.locator('#rounds-fields').scrollIntoViewIfNeeded();
  await experimenter.evaluate(() => document.activeElement.blur());
  await until('the notices to fade', async () => (await experimenter.locator('#toasts .toast').count()) === 0);
  await shot(experimenter, 'best-of-01-create');
  await experimenter.click('#create');
  await experimenter.waitForURL(/#\/lab\/0x[0-9a-f]{64}$/);
  const id = experimenter.url().split('/').pop();
  const draft = await server.call('GET', `/experiments/${id}`);
  assert.equal(draft.spec.rounds.rule, 'best_of');
  assert.equal(draft.spec.rounds.count, 12);
  assert.match(await experimenter.locator('#setup-rounds').textContent(), /a knockout over each prompt's responses/);

  // A line with one reply is named before anything is sent.
  const alone = JSON.stringify({ id: 'alone', prompt: 'Say hi.', responses: ['Hi.'] });
  await experimenter.setInputFiles('#tasks-file', { name: 'bad.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(alone) });
  await experimenter.locator('#task-errors').waitFor();
  assert.match(await experimenter.locator('#task-errors').textContent(), /line 1: a best-of task compares 2 to 64 responses, found 1/);
  await experimenter.setInputFiles('#tasks-file', { name: 'tasks.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(JSONL) });
  await experimenter.click('#import');
  await experimenter.locator('#tasks-imported').waitFor();
  assert.match(await experimenter.locator('#tasks-imported').textContent(), /13 tasks imported: 10 pairs of responses/);
  await experimenter.click('#fund');
  await experimenter.locator('#funded').waitFor();
  await experimenter.click('#open');
  await experimenter.locator('#dashboard').waitFor();
  const rounds = experimenter.locator('#rounds');
  await rounds.waitFor();
  await until('the rounds panel to count matches', async () => /matches decided \(of 4\)/.test(await rounds.textContent()));
  assert.match(await rounds.textContent(), /Round 1 asks each prompt's first matches, 3 labelers each/);
  assert.equal(await rounds.locator('#rounds-table tbody tr').count(), 12);
  assert.match(await experimenter.locator('#progress-text').textContent(), /of 3 batches \(1 block\(s\) × 3 labelers in round 1/);
  await until('the notices to fade', async () => (await experimenter.locator('#toasts .toast').count()) === 0);
  await shot(experimenter, 'best-of-02-dashboard', true);
  assert.deepEqual(consoleErrors, [], 'no console errors on any screen');
  passed();
});
