// The first hour of a new user, in the browser only: no CLI step, no operator. An experimenter
// makes a key, takes test credits from the faucet, creates a pairwise experiment with the form
// (labeling lasts a duration counted from opening), imports the chat-shaped tasks of
// examples/pairwise-chat, funds and opens it. Three labelers make keys, take their own test
// credits, join, label every conversation with the keyboard and commit; two reveal themselves,
// the third leaves its reveal with the server. The experimenter closes commits as soon as every
// batch taken is committed, the reveals follow at once, the scheduler settles as soon as the
// last one is in, and every export format downloads under its own name. Each step is
// photographed into docs/screenshots as first-hour-NN-*.png, and any console error fails it.
//
// Needs PLUMBLINE_BIN (the release binary) and Debian's chromium; web/test.sh provides both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAUCET, createKey, repo, setUp, shot, shots, until } from './harness.mjs';

const EXAMPLE = join(repo, 'examples', 'pairwise-chat');
const TASKS = readFileSync(join(EXAMPLE, 'tasks.jsonl'), 'utf8');
const tasks = TASKS.trim().split('\n').map(line => JSON.parse(line));

// What a careful labeler prefers on each regular task (canonical index); gold tasks carry it.
const BETTER = {
  sourdough: 0, 'git-undo': 1, landlord: 1, 'python-list': 0, plants: 1, interview: 0,
  budget: 0, sql: 1, run: 0, email: 1, french: 1, recursion: 1,
};
const better = task => (task.gold === undefined ? BETTER[task.id] : task.gold < 0 ? 0 : 1);

// Markdown is rendered, so text is compared without its marks and spaces.
const plain = text => text.replace(/[`*_#\s]/g, '');
const lastTurn = task => task.prompt[task.prompt.length - 1].content;

const STAKE = 1000n;
const POOL = 50000n;

test('the first hour: from a new key to a downloaded dataset, in the browser only', { timeout: 300_000 }, async t => {
  mkdirSync(shots, { recursive: true });
  assert.equal(tasks.length, 16);
  for (const task of tasks) assert.ok(better(task) !== undefined, `${task.id}: the careful answer is known`);
  const { server, page: open, consoleErrors, passed } = await setUp(t);

  /** A new key made in the browser, topped up by the faucet on the account screen. */
  const newcomer = async page => {
    const address = await createKey(page);
    await page.click('#faucet');
    await until('the faucet to top the account up', async () =>
      BigInt((await server.call('GET', `/accounts/${address}`)).available) === FAUCET);
    await until('the faucet button to say it has given all', () => page.locator('#faucet').isDisabled());
    return address;
  };

  // ---- The experimenter: a key and test credits. ----
  const experimenter = await open('experimenter');
  await newcomer(experimenter);
  await shot(experimenter, 'first-hour-01-credits');

  // ---- Create from the form: labeling lasts two hours from opening. ----
  await experimenter.goto('/#/lab/new');
  await experimenter.locator('#create-form').waitFor();
  await experimenter.fill('#f-title', 'Which reply is more helpful and harmless?');
  await experimenter.fill('#f-instructions', 'Read the conversation, then both replies. Pick the one that is **more helpful, correct and safe**.');
  await experimenter.fill('#f-block', '12');
  await experimenter.fill('#f-overlap', '3');
  await experimenter.fill('#f-gold', '2');
  await experimenter.fill('#f-seconds', '2');
  await experimenter.fill('#f-stake', STAKE.toString());
  await experimenter.fill('#f-pool', POOL.toString());
  await experimenter.fill('#f-commit-within', '2 hours');
  await experimenter.click('#create');
  // A duration it cannot read is named with the field and an example, and nothing is sent.
  await until('the duration to be refused', async () =>
    /Labeling lasts: `2 hours` is not a duration.*"90m"/.test(await experimenter.locator('#create-error').textContent()));
  await experimenter.fill('#f-commit-within', '2h');
  await shot(experimenter, 'first-hour-02-create', true);
  await experimenter.click('#create');
  await experimenter.waitForURL(/#\/lab\/0x[0-9a-f]{64}$/);
  const id = experimenter.url().split('/').pop();
  const draft = await server.call('GET', `/experiments/${id}`);
  assert.deepEqual([draft.spec.commit_within, draft.spec.reveal_within, draft.commit_deadline], ['2h', '1d', 0]);
  await experimenter.getByText('Labelers can join until 2h after opening').waitFor();

  // ---- Import the example's conversations, fund, open. ----
  await experimenter.setInputFiles('#tasks-file', { name: 'tasks.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(TASKS) });
  await experimenter.click('#import');
  await experimenter.locator('#tasks-imported').waitFor();
  assert.match(await experimenter.locator('#tasks-imported').textContent(), /16 tasks imported: 12 regular in 1 block\(s\) of 12, 4 gold/);
  await experimenter.click('#fund');
  await experimenter.locator('#funded').waitFor();
  await shot(experimenter, 'first-hour-03-setup', true);
  const openedAt = (await server.call('GET', '/health')).now;
  await experimenter.click('#open');
  await experimenter.locator('#dashboard').waitFor();
  const opened = await server.call('GET', `/experiments/${id}`);
  assert.equal(opened.phase, 'open');
  assert.equal(opened.commit_deadline, openedAt + 7200, 'two hours from opening');
  assert.equal(opened.reveal_deadline, opened.commit_deadline + 86400);

  // ---- Three labelers: their own keys and credits, join, label by keyboard, commit. ----
  const labelers = [];
  for (const name of ['labeler-1', 'labeler-2', 'labeler-3']) {
    const page = await open(name);
    labelers.push({ name, page, address: await newcomer(page) });
  }
  for (const { name, page } of labelers) {
    await page.goto(`/#/x/${id}`);
    await page.locator('#stake-amount').waitFor();
    if (name === 'labeler-1') await shot(page, 'first-hour-04-join', true);
    await page.click('#join');
    await page.locator('#workspace').waitFor();
    for (let i = 0; i < 14; i++) {
      await page.locator('.task-title', { hasText: `Task ${i + 1} of 14` }).waitFor();
      const words = plain(await page.locator('.conversation .turn').last().locator('.text').textContent());
      const task = tasks.find(candidate => plain(lastTurn(candidate)) === words);
      assert.ok(task, `a known conversation: ${words}`);
      // The responses are rendered as markdown: code stays code.
      const left = plain(await page.locator('.pair .response').first().locator('.text').textContent());
      const worse = plain(task.responses[1 - better(task)]);
      if (name === 'labeler-1' && task.id === 'git-undo') {
        assert.ok(await page.locator('.pair .response pre code').count() > 0, 'a code block in a response');
        await shot(page, 'first-hour-05-labeling');
      }
      // 1 is "A much better", 5 is "B much better".
      await page.keyboard.press(left === worse ? '5' : '1');
      await page.locator('.choice-btn.selected').waitFor();
      await page.keyboard.press('Enter');
    }
    await page.locator('#review').waitFor();
  }
  // The batches' minimum working time (14 tasks × 2 s) passes on the server's clock.
  await server.setClock(openedAt + 60);
  for (const { name, page } of labelers) {
    // The third leaves its reveal with the server (the default) and does not come back.
    if (name !== 'labeler-3') await page.uncheck('#leave-reveal');
    await page.click('#commit');
    await page.locator('#sealed').waitFor();
  }

  // ---- Every batch taken is committed: the experimenter closes commits. ----
  await experimenter.locator('#progress-text', { hasText: '3 committed' }).waitFor();
  await experimenter.locator('#close-commits').waitFor();
  await shot(experimenter, 'first-hour-06-close', true);
  await experimenter.click('#close-commits');
  await experimenter.getByText(/commits closed early/).waitFor();
  const closed = await server.call('GET', `/experiments/${id}`);
  assert.equal(closed.phase, 'revealing');
  assert.ok(closed.spec.commits_closed_at < opened.commit_deadline, 'long before the deadline');

  // ---- The reveals: offered at once to the two who came back, done by the server for the third. ----
  for (const { name, page } of labelers.slice(0, 2)) {
    await page.locator('#reveal-offer').waitFor();
    assert.match(await page.locator('#reveal-offer').textContent(), /closed commits early/);
    if (name === 'labeler-1') await shot(page, 'first-hour-07-reveal');
    await page.click('#reveal');
    await page.locator('#revealed').waitFor();
  }

  // ---- The last reveal in, the scheduler settles: payouts and every export. ----
  await experimenter.locator('#payouts tbody tr').nth(2).waitFor({ timeout: 30000 });
  const settlement = await server.call('GET', `/experiments/${id}/settlement`);
  for (const line of settlement.labelers) {
    assert.equal(line.tier, 'rewarded', `${line.labeler} is paid for careful labels`);
    assert.equal(line.revealed_batches, 1);
  }
  const record = await server.call('GET', `/experiments/${id}/record`);
  assert.ok(record.settled_at < opened.commit_deadline, 'the data arrives before the commit deadline would have passed');
  await shot(experimenter, 'first-hour-08-settled', true);

  const formats = await experimenter.locator('#exports a').evaluateAll(links => links.map(a => a.dataset.format));
  assert.deepEqual(formats, ['trl', 'jsonl', 'csv', 'parquet', 'raw', 'card', 'record']);
  const names = new Set();
  for (const format of formats) {
    const [download] = await Promise.all([
      experimenter.waitForEvent('download'),
      experimenter.click(`#exports a[data-format="${format}"]`),
    ]);
    const bytes = readFileSync(await download.path());
    assert.ok(bytes.length > 0, `${format} is not empty`);
    names.add(download.suggestedFilename());
    if (format === 'trl') {
      // Conversational rows: the chosen reply is the careful one on every task.
      const rows = bytes.toString('utf8').trim().split('\n').map(line => JSON.parse(line));
      assert.ok(rows.length >= 6, `${rows.length} pairs`);
      for (const row of rows) {
        const task = tasks.find(candidate => candidate.prompt.at(-1).content === row.prompt.at(-1).content);
        assert.equal(row.chosen[0].content, task.responses[better(task)], `the consensus of ${task.id}`);
        assert.equal(row.chosen[0].role, 'assistant');
      }
    }
    if (format === 'parquet') assert.equal(bytes.subarray(0, 4).toString(), 'PAR1');
    if (format === 'record') assert.equal(JSON.parse(bytes.toString('utf8')).spec.commits_closed_at, closed.spec.commits_closed_at);
  }
  assert.equal(names.size, formats.length, `each format under its own file name: ${[...names].join(', ')}`);

  assert.deepEqual(consoleErrors, [], 'no console errors on any screen');
  passed();
});
