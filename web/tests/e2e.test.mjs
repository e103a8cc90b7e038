// The whole market in the browser, end to end, against the real `plumbline serve`: an
// experimenter makes a key, takes test credits from the faucet, creates an experiment with the
// form, drops a task file (first one with bad lines), funds and opens it; three labelers (two
// with keys made in the browser, one through an injected EIP-1193 wallet) join, label with the
// keyboard and commit; the server's test clock passes the commit deadline; one labeler reveals
// from the offer on its page, the server reveals for the third, who left its reveal with the
// operator, and the dashboard shows quality through the session, peer agreement only; the
// second reveals by coming back, and with every commit revealed the scheduler settles before the
// reveal deadline; the dashboard shows gold agreement beside it and the payouts, and the TRL
// export downloads. The wallet labeler's tab is seeded with 50 minutes
// of labeling, so its workspace suggests a break, which "Not now" puts off. Every screen is
// photographed into docs/screenshots, and any console error on any page fails the test.
//
// The server verifies every signature, labels root and commitment the browser makes, so a
// commit or reveal accepted here is the byte-for-byte proof that the browser's cryptography
// matches crates/core.
//
// The second test is practice before stakes: an experiment whose spec asks for a qualification
// gets its practice file in the browser (bad lines named first), and two labelers practise: one
// answers well, sees each verdict, the expected answer and why, qualifies and joins; the other
// answers badly, does not qualify, and finds the join button disabled with the reason.
//
// The third test is a prompt that is a conversation: an experiment whose tasks (and a practice
// task) carry chat messages as their prompt; a labeler at 1280×800 practises and labels them,
// sees every turn with its speaker, the conversation opened on its last turn with the responses
// and the scale still on screen, scrolls back to the first turn with the keyboard, and commits.
//
// Needs PLUMBLINE_BIN (the release binary) and Debian's chromium at /usr/bin/chromium;
// web/test.sh provides both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { FAUCET, createKey, setUp, shot, shots, until } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const TASKS = readFileSync(join(here, 'data', 'tasks.jsonl'), 'utf8');
const BAD_TASKS = readFileSync(join(here, 'data', 'tasks-with-errors.jsonl'), 'utf8');

// The better response (canonical index) of every task; the gold tasks' answers agree.
const BETTER = {
  umbrella: 0, rice: 1, email: 0, battery: 1, fraction: 0, plant: 1, walk: 0, password: 1, 'gold-boil': 0, 'gold-sun': 1,
};
const taskByPrompt = new Map(TASKS.trim().split('\n').map(line => JSON.parse(line)).map(t => [t.prompt, t]));

const STAKE = 1000n;
const POOL = 100000n;
const LABELER_CREDITS = 10000n;

test('an experiment from creation to export, in the browser', { timeout: 420_000 }, async t => {
  mkdirSync(shots, { recursive: true });
  const { server, operator, mint, page: open, consoleErrors, passed } = await setUp(t);

  // ---- The experimenter makes a key in the browser and gets credits. ----
  const experimenter = await open('experimenter');
  await experimenter.goto('/');
  await experimenter.locator('#create-key').waitFor();
  await shot(experimenter, '01-key');
  const experimenterAddress = await createKey(experimenter);
  // Credits from the faucet, on the account screen createKey leaves it on.
  await experimenter.click('#faucet');
  await until('the faucet to top the account up', async () => {
    const account = await server.call('GET', `/accounts/${experimenterAddress}`);
    return BigInt(account.available) === FAUCET;
  });
  // The screen shows the new balance, and the faucet has nothing more to give.
  await until('the account screen to show the new balance', async () =>
    /at least 200,000 available credits/.test(await experimenter.locator('#faucet-status').textContent()));
  assert.equal(await experimenter.locator('#faucet').isDisabled(), true);

  // ---- Create the experiment with the form. ----
  await experimenter.goto('/#/lab');
  await experimenter.locator('#new-experiment').waitFor();
  await shot(experimenter, '02-experiments');
  await experimenter.click('#new-experiment');
  await experimenter.locator('#create-form').waitFor();
  await experimenter.fill('#f-title', 'Which answer helps more?');
  // CommonMark as written by hand: a heading straight above a list, bold, a raw tag, a link.
  await experimenter.fill('#f-instructions', 'Read the prompt and both answers. Pick the one that is **more helpful, correct and safe**.\n## The scale\n- 1 or 5: one answer is clearly better\n- 2 or 4: somewhat better\n- 3: a tie\n\n<b>raw tags</b> stay text; see [the guide](https://example.org/guide).');
  await experimenter.fill('#f-block', '8');
  await experimenter.fill('#f-overlap', '3');
  await experimenter.fill('#f-gold', '2');
  await experimenter.fill('#f-seconds', '2');
  await experimenter.fill('#f-stake', STAKE.toString());
  await experimenter.fill('#f-pool', POOL.toString());
  await shot(experimenter, '03-create', true);
  await experimenter.click('#create');
  await experimenter.waitForURL(/#\/lab\/0x[0-9a-f]{64}$/);
  const experimentId = experimenter.url().split('/').pop();

  // ---- Import: a file with bad lines is dropped and refused line by line, then the good one. ----
  await experimenter.locator('label[for="tasks-file"]').waitFor();
  const dataTransfer = await experimenter.evaluateHandle(text => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([text], 'tasks-with-errors.jsonl', { type: 'application/x-ndjson' }));
    return transfer;
  }, BAD_TASKS);
  await experimenter.dispatchEvent('label[for="tasks-file"]', 'drop', { dataTransfer });
  const errors = experimenter.locator('#task-errors li');
  await errors.first().waitFor();
  assert.deepEqual(
    (await errors.allTextContents()).map(text => text.split(':')[0]),
    ['line 2', 'line 3', 'line 4', 'line 5'],
  );
  await shot(experimenter, '04-import-errors', true);
  await experimenter.setInputFiles('#tasks-file', { name: 'tasks.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(TASKS) });
  await experimenter.click('#import');
  await experimenter.locator('#tasks-imported').waitFor();
  assert.match(await experimenter.locator('#tasks-imported').textContent(), /10 tasks imported: 8 regular in 1 block\(s\) of 8, 2 gold/);
  await shot(experimenter, '05-setup', true);
  await experimenter.click('#fund');
  await experimenter.locator('#funded').waitFor();
  await experimenter.click('#open');
  await experimenter.locator('#dashboard').waitFor();
  const experiment = await server.call('GET', `/experiments/${experimentId}`);
  assert.equal(experiment.phase, 'open');
  // The form's percentages of the stake are the spec's basis points.
  assert.deepEqual([experiment.spec.slash_bps, experiment.spec.non_reveal_slash_bps], [5000, 10000]);
  await shot(experimenter, '06-dashboard-open', true);

  // ---- Three labelers: two make keys here, one brings a wallet. ----
  const walletAccount = privateKeyToAccount(generatePrivateKey());
  const labelers = [
    { name: 'labeler-1', page: await open('labeler-1') },
    { name: 'labeler-2', page: await open('labeler-2', { viewport: { width: 390, height: 844 } }) },
    { name: 'labeler-3', page: await open('labeler-3', { wallet: walletAccount }) },
  ];
  for (const labeler of labelers) {
    const { page } = labeler;
    if (labeler.name === 'labeler-3') {
      await page.goto('/');
      await page.click('#use-wallet');
      await page.waitForURL(/#\/label$/);
      await page.goto('/#/account');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByText(/signed in until/).waitFor();
      labeler.address = (await page.locator('#my-address').textContent()).trim();
    } else {
      labeler.address = await createKey(page);
    }
    if (labeler.name !== 'labeler-1') await mint(labeler.address, LABELER_CREDITS);
  }
  assert.equal(labelers[2].address, walletAccount.address);
  // The operator issues the first labeler's credits from its own account screen.
  const operatorPage = await open('operator', { wallet: operator });
  await operatorPage.goto('/');
  await operatorPage.click('#use-wallet');
  await operatorPage.waitForURL(/#\/label$/);
  await operatorPage.goto('/#/account');
  await operatorPage.locator('#mint').waitFor();
  await operatorPage.fill('#mint-to', 'not an address');
  await operatorPage.click('#mint-submit');
  await operatorPage.getByText('The address must be 0x followed by 40 hexadecimal digits.').waitFor();
  await operatorPage.fill('#mint-to', labelers[0].address);
  await operatorPage.fill('#mint-amount', LABELER_CREDITS.toString());
  await operatorPage.click('#mint-submit');
  await operatorPage.getByText(`Issued 10,000 credits to ${labelers[0].address}: it now has 10,000 available.`).waitFor();
  await shot(operatorPage, '23-operator-credits');
  assert.equal(await labelers[1].page.locator('#mint').count(), 0, 'only the operator sees the mint panel');
  await shot(labelers[0].page, '07-account');

  // ---- Join: the stake is shown before it is locked. ----
  for (const labeler of labelers) {
    const { page } = labeler;
    await page.goto('/#/label');
    await page.locator(`a[href="#/x/${experimentId}"]`).waitFor();
    if (labeler.name === 'labeler-1') await shot(page, '08-labeler-home', true);
    await page.click(`a[href="#/x/${experimentId}"]`);
    await page.locator('#stake-amount').waitFor();
    assert.equal(await page.locator('#stake-amount').textContent(), '1,000');
    if (labeler.name === 'labeler-1') {
      const prose = page.locator('.prose').first();
      assert.equal(await prose.locator('strong').first().textContent(), 'more helpful, correct and safe');
      assert.equal(await prose.locator('h2').textContent(), 'The scale');
      assert.equal(await prose.locator('li').count(), 3);
      assert.equal(await prose.locator('b').count(), 0, 'raw HTML is shown as text');
      assert.match(await prose.textContent(), /<b>raw tags<\/b> stay text/);
      assert.equal(await prose.locator('a[href="https://example.org/guide"][rel="noopener noreferrer"]').count(), 1);
      await shot(page, '09-join', true);
    }
    await page.click('#join');
    await page.locator('#workspace').waitFor();
  }
  for (const labeler of labelers) {
    const account = await server.call('GET', `/accounts/${labeler.address}`);
    assert.deepEqual([account.available, account.locked], [(LABELER_CREDITS - STAKE).toString(), STAKE.toString()]);
  }

  // ---- Label with the keyboard. ----
  for (const labeler of labelers) {
    const { page } = labeler;
    if (labeler.name === 'labeler-3') {
      // This tab has been labeling for 50 minutes with no pause (a task every four minutes):
      // the workspace suggests a break, and "Not now" puts it away.
      await page.evaluate(address => {
        const now = Date.now() / 1000;
        const started = now - 50 * 60;
        const answers = Array.from({ length: 12 }, (_, k) => ({ at: started + (k + 1) * 240, seconds: 20 }));
        sessionStorage.setItem(`plumbline.pace.${address.toLowerCase()}`, JSON.stringify({ started, answers, snoozedUntil: 0 }));
      }, labeler.address);
    }
    // Coming back to the batch starts each task's clock afresh.
    await page.reload();
    await page.locator('#workspace').waitFor();
    if (labeler.name === 'labeler-3') {
      const notice = page.locator('#break-notice');
      await notice.waitFor();
      assert.equal(await notice.getAttribute('data-reason'), 'long');
      assert.match(await notice.textContent(), /labeling for 45 minutes without a pause\. A short break helps keep answers careful; your work is saved\./);
      await page.click('#break-later');
      await notice.waitFor({ state: 'detached' });
      const snoozed = await page.evaluate(address => JSON.parse(sessionStorage.getItem(`plumbline.pace.${address.toLowerCase()}`)).snoozedUntil, labeler.address);
      assert.ok(snoozed > Date.now() / 1000 + 14 * 60, 'snoozed for 15 minutes');
    }
    for (let i = 0; i < 10; i++) {
      await page.locator('.task-title', { hasText: `Task ${i + 1} of 10` }).waitFor();
      const prompt = await page.locator('#prompt').textContent();
      const task = taskByPrompt.get(prompt);
      assert.ok(task, `unknown prompt ${prompt}`);
      const left = (await page.locator('.pair .response').first().locator('.text').textContent()).trim();
      const betterShownLeft = left === task.responses[BETTER[task.id]];
      if (labeler.name === 'labeler-1' && i === 0) await shot(page, '10-labeling');
      // 1 is "A much better", 5 is "B much better".
      await page.keyboard.press(betterShownLeft ? '1' : '5');
      await page.locator('.choice-btn.selected').waitFor();
      if (i === 0) {
        // Answered within milliseconds: faster than the experiment's 2 s per task.
        await page.locator('#fast-warning').waitFor();
        if (labeler.name === 'labeler-1') await shot(page, '11-fast-warning');
        if (labeler.name === 'labeler-2') await shot(page, '12-labeling-phone', true);
      }
      await page.keyboard.press('Enter');
    }
    await page.locator('#review').waitFor();
    if (labeler.name === 'labeler-1') {
      await page.keyboard.press('?');
      await page.locator('dialog.help').waitFor();
      await shot(page, '13-shortcuts');
      await page.keyboard.press('Escape');
      await page.locator('dialog.help').waitFor({ state: 'detached' });
      await shot(page, '14-review', true);
    }
  }

  // The batch's minimum working time (8 tasks × 2 s) passes on the server's clock.
  const joinedAt = (await server.call('GET', `/experiments/${experimentId}/labelers/${labelers[0].address}/work`)).now;
  await server.setClock(joinedAt + 60);

  // ---- Commit: salt, root, commitment and the Commit signature in the browser. ----
  // Labelers 1 and 2 will reveal themselves; labeler 3 leaves its reveal with the operator
  // (the default) and never comes back.
  for (const labeler of labelers) {
    const { page } = labeler;
    if (labeler.name !== 'labeler-3') await page.uncheck('#leave-reveal');
    await page.click('#commit');
    await page.locator('#sealed').waitFor();
    if (labeler.name === 'labeler-1') await shot(page, '15-sealed');
  }
  await labelers[2].page.locator('#left-with-operator').waitFor();
  for (const labeler of labelers) {
    const work = await server.call('GET', `/experiments/${experimentId}/labelers/${labeler.address}/work`);
    assert.equal(work.batches.length, 1);
    assert.match(work.batches[0].commitment, /^0x[0-9a-f]{64}$/);
    const stored = await server.call('GET', `/experiments/${experimentId}/batches/${work.batches[0].batch_id}/commit`);
    assert.equal(JSON.parse(stored.backup).format, 'plumbline-backup-1', 'the encrypted backup is stored beside the commit');
  }
  await experimenter.locator('#progress-text', { hasText: '3 committed' }).waitFor();
  await shot(experimenter, '16-dashboard-committed', true);

  // ---- Past the commit deadline: the reveal is offered at once, and automatic on a revisit. ----
  await server.setClock(experiment.commit_deadline + 5);
  const first = labelers[0].page;
  await first.locator('#reveal-offer').waitFor();
  await shot(first, '17-reveal-offer');
  await first.click('#reveal');
  await first.locator('#revealed').waitFor();
  // The server revealed labeler 3's sealed reveal at its next tick; its open page shows it.
  await labelers[2].page.locator('#revealed').waitFor();
  await experimenter.locator('#progress-text', { hasText: '2 revealed' }).waitFor();
  assert.equal(await experimenter.locator('#agreement').textContent(), '1.000');
  // Quality through the session: five parts of two labels per batch, peer agreement only
  // (the gold answers are secret until settlement).
  const quality = experimenter.locator('#quality');
  assert.equal(await quality.locator('.part').count(), 5);
  assert.equal(await quality.locator('.bar.peer').count(), 5);
  assert.equal(await quality.locator('.bar.gold').count(), 0);
  assert.match(await quality.textContent(), /Gold agreement appears at settlement/);
  await labelers[1].page.goto('/#/label');
  await labelers[1].page.locator('#auto-revealed').waitFor();
  await shot(labelers[1].page, '18-auto-revealed', true);
  for (const labeler of labelers) {
    const work = await server.call('GET', `/experiments/${experimentId}/labelers/${labeler.address}/work`);
    assert.notEqual(work.batches[0].revealed_at, null, `${labeler.name} revealed`);
  }

  // ---- Every committed batch is revealed: the scheduler settles at its next tick, before the
  // reveal deadline, and the dashboard shows the payouts. ----
  await experimenter.locator('#payouts tbody tr').nth(2).waitFor({ timeout: 30000 });
  const record = await server.call('GET', `/experiments/${experimentId}/record`);
  assert.ok(record.settled_at < experiment.reveal_deadline, 'settled before the reveal deadline');
  const settlement = await server.call('GET', `/experiments/${experimentId}/settlement`);
  assert.equal(settlement.labelers.length, 3);
  // The gold answers agree with the labelers, so none is left out; the task list's commitment
  // made at open is on the dashboard.
  assert.deepEqual(settlement.gold_dropped, []);
  assert.equal(await experimenter.locator('#gold-dropped').count(), 0);
  const opened = await server.call('GET', `/experiments/${experimentId}`);
  assert.match(opened.tasks_hash, /^0x[0-9a-f]{64}$/);
  assert.equal(await experimenter.locator('#tasks-hash').textContent(), opened.tasks_hash);
  for (const line of settlement.labelers) {
    assert.equal(line.tier, 'rewarded', `${line.labeler} is rewarded for careful, agreeing labels`);
    assert.equal(line.revealed_batches, 1);
    assert.ok(BigInt(line.payout) > STAKE);
  }
  const rows = await experimenter.locator('#payouts tbody tr').allTextContents();
  assert.equal(rows.length, 3);
  for (const line of settlement.labelers) {
    const payout = BigInt(line.payout).toLocaleString('en-US');
    assert.ok(rows.some(row => row.includes(payout) && row.includes('rewarded')), `the dashboard shows payout ${payout}`);
  }
  assert.match(await experimenter.locator('#conservation').textContent(), /conserved/);
  // After settlement quality through the session has gold agreement beside peer agreement: the
  // labelers agree with each other and with the gold answers all through their batches.
  await quality.locator('.bar.gold').first().waitFor();
  assert.equal(await quality.locator('h2').textContent(), 'Quality through the session');
  assert.deepEqual(await quality.locator('.part').evaluateAll(parts => parts.map(p => p.dataset.labels)), ['6', '6', '6', '6', '6']);
  const stats = await server.call('GET', `/experiments/${experimentId}/stats`);
  assert.equal(stats.quality_by_position.length, 5);
  for (const part of stats.quality_by_position) assert.equal(part.peer_agreement, 1);
  assert.ok(stats.quality_by_position.some(part => part.gold_agreement === 1));
  assert.equal(await quality.locator('.bar.gold').count(), stats.quality_by_position.filter(part => part.gold_agreement !== null).length);
  assert.doesNotMatch(await quality.textContent(), /appears at settlement/);
  // Nobody tired: the consensus counts every label as its labeler's, and the export says so.
  assert.equal(stats.session_filter.tired_labels, 0);
  assert.equal(stats.session_filter.gold_agreement, 1);
  assert.equal(await experimenter.locator('#session-filter').textContent(), 'No labeler\'s session showed a fall in quality.');
  await shot(experimenter, '19-dashboard-settled', true);

  // ---- The labeler sees its earnings. ----
  const batchId = (await server.call('GET', `/experiments/${experimentId}/labelers/${labelers[0].address}/work`)).batches[0].batch_id;
  await first.goto(`/#/x/${experimentId}/batch/${batchId}`);
  await first.locator('#earnings').waitFor();
  const mine = settlement.labelers.find(l => l.labeler.toLowerCase() === labelers[0].address.toLowerCase());
  assert.equal(await first.locator('#payout').textContent(), BigInt(mine.payout).toLocaleString('en-US'));
  await shot(first, '20-earnings');

  // ---- The TRL export downloads: chosen is the better response of every task. ----
  const [download] = await Promise.all([
    experimenter.waitForEvent('download'),
    experimenter.click('#exports a[data-format="trl"]'),
  ]);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map(line => JSON.parse(line));
  assert.equal(lines.length, 10);
  for (const line of lines) {
    const task = taskByPrompt.get(line.prompt);
    assert.equal(line.chosen, task.responses[BETTER[task.id]], `the consensus of ${task.id}`);
    assert.equal(line.rejected, task.responses[1 - BETTER[task.id]]);
    assert.equal(line.margin, 2);
  }
  assert.match(download.suggestedFilename(), /\.jsonl$/);

  assert.deepEqual(consoleErrors, [], 'no console errors on any screen');
  passed();
});

// Practice tasks with their answers (canonical order: negative prefers the first response) and
// why; the answers differ, so a constant answer would score nothing.
const PRACTICE = [
  {
    id: 'p-tea', prompt: 'How long should green tea steep?',
    responses: ['Two to three minutes, in water just below boiling.', 'Ten minutes in boiling water, for the full flavour.'],
    gold: -2, explanation: 'Green tea turns bitter in boiling water and with long steeping; two to three minutes just below boiling is the usual advice.',
  },
  {
    id: 'p-tyres', prompt: 'How often should I pump up my bicycle tyres?',
    responses: ['Only once they are completely flat.', 'Check them every week or two: tyres lose air slowly even without a puncture.'],
    gold: 2, explanation: 'Tyres lose pressure through the rubber over days, and riding on soft tyres invites punctures.',
  },
  {
    id: 'p-cactus', prompt: 'Should I water my cactus every day?',
    responses: ['No: let the soil dry out completely between waterings.', 'Water it a little every morning.'],
    gold: -1, explanation: 'Cacti store water and rot in soil that stays wet; both answers are short, but only the first is right.',
  },
  {
    id: 'p-eggs', prompt: 'How can I tell whether an egg is still fresh?',
    responses: ['Smell it through the shell.', 'Put it in a bowl of water: a fresh egg sinks and lies flat.'],
    gold: 1, explanation: 'The air cell grows as an egg ages, so an old egg floats; the water test is the usual one.',
  },
];
const practiceByPrompt = new Map(PRACTICE.map(p => [p.prompt, p]));

test('practice and qualification before stakes, in the browser', { timeout: 300_000 }, async t => {
  mkdirSync(shots, { recursive: true });
  const { server, mint, page: open, consoleErrors, passed } = await setUp(t);

  // ---- The experimenter brings a wallet; the experiment is created through the API. ----
  const creator = privateKeyToAccount(generatePrivateKey());
  const token = await server.login(creator);
  await mint(creator.address, 1000n);
  const now = Math.floor(Date.now() / 1000);
  const spec = {
    schema_version: 1,
    title: 'Which answer helps more? (with practice)',
    question: { kind: 'pairwise', strength_max: 2, allow_tie: true, instructions: 'Pick the answer that is **more helpful, correct and safe**.' },
    block_size: 8,
    overlap: 2,
    gold_per_batch: 2,
    stake_per_batch: '10',
    reward_pool: '100',
    commit_deadline: now + 86400,
    reveal_deadline: now + 2 * 86400,
    qualification: { items: 4, score_min: 0.15 },
  };
  const created = await server.call('POST', '/experiments', { spec }, token);
  const id = created.experiment_id;
  assert.deepEqual(created.spec.qualification, spec.qualification);
  const imported = await fetch(`${server.base}/api/v1/experiments/${id}/tasks`, {
    method: 'POST', headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${token}` }, body: TASKS,
  });
  assert.equal(imported.status, 200, await imported.text());

  // ---- The practice file, in the browser: bad lines are named, then the good file imports. ----
  const experimenter = await open('experimenter', { wallet: creator });
  await experimenter.goto('/');
  await experimenter.click('#use-wallet');
  await experimenter.waitForURL(/#\/label$/);
  await experimenter.goto(`/#/lab/${id}`);
  await experimenter.locator('#practice-step').waitFor();
  // Opening waits for the practice the qualification needs.
  assert.equal(await experimenter.locator('#open').isDisabled(), true);
  const badPractice = [
    JSON.stringify(PRACTICE[0]),
    JSON.stringify({ ...PRACTICE[1], gold: undefined }),
    JSON.stringify({ ...PRACTICE[2], explanation: 7 }),
  ].join('\n');
  await experimenter.setInputFiles('#practice-file', { name: 'practice-bad.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(badPractice) });
  const practiceErrors = experimenter.locator('#practice-errors li');
  await practiceErrors.first().waitFor();
  assert.deepEqual((await practiceErrors.allTextContents()).map(text => text.split(':')[0]), ['line 2', 'line 3']);
  assert.match(await practiceErrors.first().textContent(), /needs its answer in `gold`/);
  const practiceFile = PRACTICE.map(task => JSON.stringify(task)).join('\n');
  await experimenter.setInputFiles('#practice-file', { name: 'practice.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(practiceFile) });
  await experimenter.click('#import-practice');
  await experimenter.locator('#practice-imported').waitFor();
  assert.match(await experimenter.locator('#practice-imported').textContent(), /^4 practice tasks imported/);
  await shot(experimenter, '23-setup-practice', true);
  assert.equal((await server.call('GET', `/experiments/${id}`)).practice_tasks, 4);
  await experimenter.click('#fund');
  await experimenter.locator('#funded').waitFor();
  await experimenter.click('#open');
  await experimenter.locator('#dashboard').waitFor();

  // The form builds a qualification into the spec too.
  await experimenter.goto('/#/lab/new');
  await experimenter.fill('#f-title', 'A qualification from the form');
  await experimenter.fill('#f-qual-items', '6');
  await experimenter.fill('#f-qual-min', '0.2');
  // The default pool is more than the 900 credits left: the draft is refused, and says why.
  await experimenter.click('#create');
  await experimenter.locator('#create-error', { hasText: 'reward pool of 100000' }).waitFor();
  const refused = consoleErrors.findIndex(e => e.startsWith('experimenter:') && e.includes('409'));
  assert.notEqual(refused, -1, 'the browser saw the 409');
  consoleErrors.splice(refused, 1);
  await experimenter.fill('#f-pool', '100');
  await experimenter.click('#create');
  await experimenter.waitForURL(/#\/lab\/0x[0-9a-f]{64}$/);
  const fromForm = await server.call('GET', `/experiments/${experimenter.url().split('/').pop()}`);
  assert.deepEqual(fromForm.spec.qualification, { items: 6, score_min: 0.2 });

  // ---- Two labelers: one answers well (one answer only close), one answers badly. ----
  const practise = async (page, name, answerFor) => {
    const verdicts = [];
    for (let i = 0; i < 4; i++) {
      await page.locator('#practice-task .task-title', { hasText: `Practice task ${i + 1} of 4` }).waitFor();
      assert.equal(await page.locator('#progress').evaluate(node => node.firstChild.textContent), `${i} of 4 answered`);
      const task = practiceByPrompt.get(await page.locator('#prompt').textContent());
      assert.ok(task, 'a practice prompt');
      // The label in shown order: the pair may be shown flipped.
      const left = (await page.locator('.pair .response').first().locator('.text').textContent()).trim();
      const flipped = left !== task.responses[0];
      const shownAnswer = flipped ? -task.gold : task.gold;
      const label = answerFor(i, shownAnswer);
      // 1 … 5 are −2 … 2 (A much better … B much better), as in the labeling workspace.
      await page.keyboard.press(String(label + 3));
      await page.locator('.choice-btn.selected').waitFor();
      await page.keyboard.press('Enter');
      await page.locator('#verdict').waitFor();
      const verdict = await page.locator('#verdict').getAttribute('data-verdict');
      verdicts.push(verdict);
      assert.ok((await page.locator('#explanation').textContent()).includes(task.explanation), 'the explanation is shown');
      // The expected answer is marked on the scale, in this labeler's shown order.
      assert.equal(await page.locator('.choice-btn.expected').getAttribute('data-value'), String(shownAnswer));
      if (name === 'good' && i === 0) await shot(page, '25-practice-feedback');
      if (name === 'bad' && i === 0) await shot(page, '26-practice-wrong');
      await page.keyboard.press('Enter');
    }
    await page.locator('#practice-result').waitFor();
    return verdicts;
  };

  const good = await open('good');
  const goodAddress = await createKey(good);
  await mint(goodAddress, 100n);
  await good.goto(`/#/x/${id}`);
  await good.locator('#practice-card').waitFor();
  assert.match(await good.locator('#practice-need').textContent(), /at least 0\.15, where 0 is guessing and 1 is every answer right/);
  assert.equal(await good.locator('#join').isDisabled(), true, 'joining waits for the qualification');
  assert.match(await good.locator('.join-reason').last().textContent(), /Practice first/);
  await shot(good, '24-practice-join', true);
  await good.click('#practice-start');
  await good.locator('#practice').waitFor();
  // Right every time but once, where the same side with another strength is close.
  const goodVerdicts = await practise(good, 'good', (i, shown) => (i === 1 ? Math.sign(shown) * (3 - Math.abs(shown)) : shown));
  assert.deepEqual(goodVerdicts, ['right', 'close', 'right', 'right']);
  await good.locator('#qualified').waitFor();
  const goodScore = Number(await good.locator('#practice-score').textContent());
  assert.ok(goodScore >= 0.15, `a good practice score (${goodScore})`);
  await shot(good, '27-practice-result');
  await good.click('#back-to-experiment');
  await good.locator('#practice-done').waitFor();
  assert.equal(await good.locator('#join').isDisabled(), false, 'qualified: the join button is enabled');
  await good.click('#join');
  await good.locator('#workspace').waitFor();
  const goodWork = await server.call('GET', `/experiments/${id}/labelers/${goodAddress}/work`);
  assert.equal(goodWork.batches.length, 1, 'the qualified labeler joined');

  const bad = await open('bad');
  const badAddress = await createKey(bad);
  await mint(badAddress, 100n);
  await bad.goto(`/#/x/${id}/practice`);
  await bad.locator('#practice').waitFor();
  // The opposite side every time.
  const badVerdicts = await practise(bad, 'bad', (_, shown) => -shown);
  assert.deepEqual(badVerdicts, ['wrong', 'wrong', 'wrong', 'wrong']);
  await bad.locator('#not-qualified').waitFor();
  assert.ok(Number(await bad.locator('#practice-score').textContent()) < 0.15);
  await shot(bad, '28-practice-not-qualified');
  await bad.click('#back-to-experiment');
  await bad.locator('#practice-done').waitFor();
  assert.equal(await bad.locator('#join').isDisabled(), true, 'not qualified: the join button stays disabled');
  assert.match(await bad.locator('#not-qualified').textContent(), /below the 0\.15 this experiment asks for/);
  await shot(bad, '29-join-not-qualified', true);
  const badWork = await server.call('GET', `/experiments/${id}/labelers/${badAddress}/work`);
  assert.equal(badWork.batches.length, 0);

  assert.deepEqual(consoleErrors, [], 'no console errors on any screen');
  passed();
});

// Conversations as prompts: the responses continue the chat as the assistant's next turn. The
// first response (canonical order) is the better one of every task.
const BREAD = [
  { role: 'system', content: 'You are a patient cooking assistant. Answer briefly, and say when food safety matters.' },
  { role: 'user', content: 'I want to bake bread for the first time this weekend. Where do I start?' },
  { role: 'assistant', content: 'A no-knead loaf is the easiest start: flour, water, salt and a little yeast, mixed the evening before and baked the next day.' },
  { role: 'user', content: 'I only have an ordinary oven, no Dutch oven. Is that a problem?' },
  { role: 'assistant', content: 'No. Bake it on a tray and put a pan of hot water on the rack below for the first 20 minutes; the steam helps the crust.' },
  { role: 'user', content: 'How do I know when it is done?\nThe recipe says 40 minutes, but my oven runs hot.' },
  { role: 'assistant', content: 'Tap the bottom: a done loaf sounds hollow. A thermometer in the middle should read about 95 °C.' },
  { role: 'user', content: 'Great. One more thing: can I leave the dough out overnight in a warm kitchen?' },
];
const CHAT_TASKS = [
  {
    id: 'bread', prompt: BREAD,
    responses: [
      'Yes, as long as the kitchen stays below about 24 °C; warmer than that, the dough over-proofs and collapses. In a warm kitchen let it rise in the fridge instead, and give it an hour at room temperature before baking.',
      'Leave it anywhere: dough cannot go wrong, and the warmer the better.',
    ],
  },
  {
    id: 'hike',
    prompt: [
      { role: 'system', content: 'Answer as a friendly travel guide.' },
      { role: 'user', content: 'What should I pack for a weekend hike in the mountains in May?' },
    ],
    responses: [
      'Layers: a warm fleece, a rain jacket, a hat and gloves, plus water, snacks and a map. Mountain weather in May turns quickly.',
      'Just a T-shirt; it is almost summer.',
    ],
  },
  {
    id: 'markup',
    prompt: [
      { role: 'user', content: "Is this safe to paste into my web page?\n<script>alert('hi')</script>\n<b>bold</b>" },
      { role: 'assistant', content: 'No: the script tag runs code in your visitors\' browsers.' },
      { role: 'user', content: 'What should I do instead?' },
    ],
    responses: [
      'Insert it as text (textContent, or your template\'s escaping), so the browser shows the tags instead of running them.',
      'Paste it anyway; browsers ignore scripts in pasted text.',
    ],
  },
  {
    id: 'words', prompt: 'What is a good way to remember a new word in a foreign language?',
    responses: [
      'Use it in a sentence of your own today, and review it again in a few days: spaced repetition.',
      'Read it once; if it matters, you will remember it.',
    ],
  },
];
const CHAT_PRACTICE = [
  {
    id: 'p-rice',
    prompt: [
      { role: 'user', content: 'Can I freeze cooked rice?' },
      { role: 'assistant', content: 'Yes: cool it quickly and freeze it within an hour or two of cooking.' },
      { role: 'user', content: 'And how do I reheat it?' },
    ],
    responses: ['Until it is steaming hot all the way through, and only once.', 'Thaw it on the counter overnight, then eat it cold.'],
    gold: -2, explanation: 'Rice can carry spores that survive cooking; reheating it once, until steaming hot, is the usual advice.',
  },
  PRACTICE[0],
];
/** The task on screen, by its prompt: a conversation's last message or the text. */
const lastWords = prompt => (Array.isArray(prompt) ? prompt[prompt.length - 1].content : prompt);
const ROLE_WORDS = { system: 'System', user: 'User', assistant: 'Assistant' };

test('prompts that are conversations, practised, labeled and committed in the browser', { timeout: 240_000 }, async t => {
  mkdirSync(shots, { recursive: true });
  const { server, operator, operatorToken, mint, page: open, consoleErrors, passed } = await setUp(t);
  const now = Math.floor(Date.now() / 1000);
  const spec = {
    schema_version: 1,
    title: 'Which reply continues the chat better?',
    question: { kind: 'pairwise', strength_max: 2, allow_tie: true, instructions: 'Read the conversation, then pick the **more helpful, correct and safe** next reply.' },
    block_size: CHAT_TASKS.length,
    overlap: 1,
    gold_per_batch: 0,
    stake_per_batch: '10',
    reward_pool: '100',
    commit_deadline: now + 86400,
    reveal_deadline: now + 2 * 86400,
  };
  await mint(operator.address, 100n);
  const experiment = await server.call('POST', '/experiments', { spec }, operatorToken);
  const id = experiment.experiment_id;
  const upload = async (path, lines) => {
    const response = await fetch(`${server.base}/api/v1/experiments/${id}/${path}`, {
      method: 'POST', headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${operatorToken}` },
      body: lines.map(line => JSON.stringify(line)).join('\n'),
    });
    assert.equal(response.status, 200, await response.text());
  };
  await upload('tasks', CHAT_TASKS);
  await upload('practice', CHAT_PRACTICE);
  await server.call('POST', `/experiments/${id}/fund`, undefined, operatorToken);
  await server.call('POST', `/experiments/${id}/open`, undefined, operatorToken);

  const page = await open('chat-labeler');
  const address = await createKey(page);
  await mint(address, 100n);
  const viewport = page.viewportSize();

  /** The task on screen (whichever list it is from), after checking how its prompt is drawn:
   * a conversation turn by turn with its speakers, opened on its last turn, the scale on screen. */
  const onScreen = async (card, list) => {
    await page.locator(`${card} .scale`).waitFor();
    const conversation = page.locator(`${card} .conversation`);
    const isChat = (await conversation.count()) > 0;
    const words = isChat
      ? await conversation.locator('.turn').last().locator('.text').textContent()
      : await page.locator(`${card} #prompt`).textContent();
    const task = list.find(item => lastWords(item.prompt) === words);
    assert.ok(task, `a known prompt: ${words}`);
    assert.equal(isChat, Array.isArray(task.prompt), `${task.id} is drawn as ${isChat ? 'a conversation' : 'text'}`);
    if (isChat) {
      const turns = conversation.locator('.turn');
      assert.deepEqual(await turns.locator('.role').allTextContents(), task.prompt.map(m => ROLE_WORDS[m.role]), `${task.id}: one turn per message, with its speaker`);
      // People's turns are text, line breaks kept; the assistant's are markdown.
      const contents = (await turns.locator('.text').allTextContents()).map((text, k) => (task.prompt[k].role === 'assistant' ? text.trim() : text));
      assert.deepEqual(contents, task.prompt.map(m => m.content), `${task.id}: the contents, line breaks kept`);
      assert.deepEqual(await turns.evaluateAll(nodes => nodes.map(n => n.dataset.role)), task.prompt.map(m => m.role));
      // The last turn, the one the responses answer, is in view inside the box.
      const box = await conversation.locator('.conversation-scroll').boundingBox();
      const last = await turns.last().boundingBox();
      assert.ok(last.y >= box.y - 1 && last.y + last.height <= box.y + box.height + 1, `${task.id}: the last turn is in view`);
    }
    // However long the conversation, the responses and the answer scale stay on screen.
    for (const selector of [`${card} .pair`, `${card} .scale`]) {
      const { y, height } = await page.locator(selector).boundingBox();
      assert.ok(y >= 0 && y + height <= viewport.height, `${task.id}: ${selector} within ${viewport.width}×${viewport.height} (${Math.round(y + height)})`);
    }
    return task;
  };
  /** The key that says the first (canonical) response is much better, in the shown order. */
  const betterKey = async (card, task) => {
    const left = (await page.locator(`${card} .pair .response`).first().locator('.text').textContent()).trim();
    return left === task.responses[0] ? '1' : '5';
  };

  // ---- Practice: the same conversation, before and after the check. ----
  await page.goto(`/#/x/${id}/practice`);
  await page.locator('#practice').waitFor();
  for (;;) {
    await page.locator('#practice-task, #practice-result').first().waitFor();
    if (await page.locator('#practice-result').count()) break;
    const task = await onScreen('#practice-task', CHAT_PRACTICE);
    await page.keyboard.press(await betterKey('#practice-task', task));
    await page.keyboard.press('Enter');
    await page.locator('#verdict').waitFor();
    assert.equal(await page.locator('#verdict').getAttribute('data-verdict'), 'right');
    if (Array.isArray(task.prompt)) {
      assert.deepEqual((await page.locator('#practice-feedback .turn .text').allTextContents()).map(text => text.trim()), task.prompt.map(m => m.content.trim()), 'the feedback shows the conversation again');
    }
    await page.keyboard.press('Enter');
  }
  await page.locator('#practice-result').waitFor();

  // ---- Join and label: every conversation checked, one scrolled back with the keyboard. ----
  await page.goto(`/#/x/${id}`);
  await page.locator('#join').click();
  await page.locator('#workspace').waitFor();
  const seen = [];
  for (let i = 0; i < CHAT_TASKS.length; i++) {
    await page.locator('.task-title', { hasText: `Task ${i + 1} of ${CHAT_TASKS.length}` }).waitFor();
    const task = await onScreen('#workspace .task', CHAT_TASKS);
    seen.push(task.id);
    if (task.id === 'markup') {
      // Untrusted content stays text: the tags are shown, not parsed.
      assert.equal(await page.locator('.turns script, .turns b').count(), 0);
      assert.match(await page.locator('.turn .text').first().textContent(), /<script>alert\('hi'\)<\/script>\n<b>bold<\/b>/);
    }
    if (task.id === 'bread') {
      const scroller = page.locator('.conversation-scroll');
      assert.ok(await scroller.evaluate(el => el.scrollHeight > el.clientHeight + 20), 'the long conversation scrolls');
      await shot(page, '30-conversation');
      // The first turn is out of view until the labeler scrolls back (Home on the focused box).
      const first = page.locator('.turn').first();
      const outside = async () => {
        const [box, turn] = [await scroller.boundingBox(), await first.boundingBox()];
        return turn.y + turn.height <= box.y + 1;
      };
      assert.ok(await outside(), 'the conversation opens on its end, not its start');
      await scroller.focus();
      await page.keyboard.press('Home');
      await page.waitForFunction(() => {
        const box = document.querySelector('.conversation-scroll').getBoundingClientRect();
        return document.querySelector('.turn').getBoundingClientRect().top >= box.top - 1;
      });
      // Answering redraws the task; the conversation stays where the labeler scrolled it.
      await page.keyboard.press(await betterKey('#workspace .task', task));
      await page.locator('.choice-btn.selected').waitFor();
      assert.ok(!(await outside()), 'the scroll position survives the redraw');
    } else {
      await page.keyboard.press(await betterKey('#workspace .task', task));
      await page.locator('.choice-btn.selected').waitFor();
    }
    await page.keyboard.press('Enter');
  }
  assert.deepEqual([...seen].sort(), CHAT_TASKS.map(task => task.id).sort());

  // The review names each conversation by its last message.
  await page.locator('#review').waitFor();
  const cells = await page.locator('#review tbody tr td:nth-child(2)').allTextContents();
  assert.ok(cells.includes(`8 messages · User: ${BREAD[7].content}`), `the review shows the conversation's last turn: ${cells}`);
  assert.ok(cells.includes(CHAT_TASKS[3].prompt));
  await page.click('#commit');
  await page.locator('#sealed').waitFor();
  const work = await server.call('GET', `/experiments/${id}/labelers/${address}/work`);
  assert.match(work.batches[0].commitment, /^0x[0-9a-f]{64}$/);

  assert.deepEqual(consoleErrors, [], 'no console errors on any screen');
  passed();
});
