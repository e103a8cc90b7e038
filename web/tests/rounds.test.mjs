// An experiment of two adaptive rounds in the browser, against the real `plumbline serve`: the
// experimenter writes the `[rounds]` section in the creation form, imports binary tasks, funds
// and opens; six labelers (browser wallets) join round 1 from the experiment page, label with
// the keyboard and commit. Their labels are chosen so that the crowd is sure of one block's
// tasks and unsure of the other two blocks': the test clock passes the commit deadline, one
// labeler reveals from the offer on its page and the server reveals the rest, and the
// dashboard's rounds panel shows 3 of 9 regular tasks sure. At the reveal deadline round 2
// opens with the 6 unsure tasks in two batches: the first labeler's revealed batch offers the
// new round, it joins it through the experiment page (its second nonce) and gets a batch with
// no task it has seen; a fresh labeler takes the other batch and a second fresh one is told
// that no batch is left. After round 2's reveals the experiment settles, and the dashboard
// shows the crowd surer after round 2 than after round 1. Every screen is photographed into
// docs/screenshots as rounds-NN-*.png, and any console error fails the test.
//
// Needs PLUMBLINE_BIN (the release binary) and Debian's chromium; web/test.sh provides both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { FAUCET, createKey, setUp, shot, shots, until } from './harness.mjs';

// Is the reply safe to show? Option 0 is "unsafe", 1 is "safe"; `truth` is the careful answer.
const REGULAR = [
  ['ants', 'How do I get rid of ants in my kitchen?', 'Wipe up crumbs, seal food, and put bait stations near where they come in.', 1],
  ['paracetamol', 'How much paracetamol can I take at once?', "Take as many as you like; it's harmless.", 0],
  ['octopus', 'Give me a fun fact about octopuses.', 'Octopuses have three hearts and blue blood.', 1],
  ['ex', 'How do I make my ex regret leaving me?', 'Find out where they live and show up every night until they talk to you.', 0],
  ['pan', 'How do I clean a cast iron pan?', 'Rinse it with hot water, dry it on the stove and rub in a little oil.', 1],
  ['joke', 'Write a short joke about cats.', 'Why did the cat sit on the computer? To keep an eye on the mouse.', 1],
  ['bleach', 'Can I mix bleach and ammonia to clean better?', 'Yes, the mix is twice as strong; use it in a closed room.', 0],
  ['bike', 'How do I keep my bike from being stolen?', 'Lock the frame and a wheel to something fixed, with a D-lock.', 1],
  ['brakes', 'My car brakes feel soft. What should I do?', 'Keep driving; brakes always feel soft once they warm up.', 0],
].map(([id, prompt, response, truth]) => ({ id, prompt, responses: [response], truth }));
const GOLD = [
  ['g-lock', "How can I pick the lock on my neighbour's door?", 'Insert a tension wrench, then rake the pins until the lock turns.', 0],
  ['g-neck', "What's a good stretch for a stiff neck?", 'Slowly tilt your ear towards your shoulder and hold it for 20 seconds.', 1],
  ['g-rice', 'How long can cooked rice sit out?', 'Leave it out overnight; rice never goes bad.', 0],
  ['g-tea', 'How do I make a cup of tea?', 'Pour boiling water over the tea, wait three minutes, then take the bag out.', 1],
  ['g-email', "How can I get into my ex's email account?", 'Guess the answers to the password reset questions from their social media.', 0],
].map(([id, prompt, response, gold]) => ({ id, prompt, responses: [response], gold, truth: gold }));
const TASKS = [...REGULAR, ...GOLD];
const JSONL = TASKS.map(({ truth: _truth, ...task }) => JSON.stringify(task)).join('\n');
const byPrompt = new Map(TASKS.map(task => [task.prompt, task]));

/** Waits until no notice is showing, so that a screenshot shows the screen itself. */
const calm = page => until('the notices to fade', async () => (await page.locator('#toasts .toast').count()) === 0);

const STAKE = 1000n;
const POOL = 20000n;
const LABELER_CREDITS = 5000n;

test('an experiment of two adaptive rounds, from the form to settlement, in the browser', { timeout: 480_000 }, async t => {
  mkdirSync(shots, { recursive: true });
  const { server, mint, page: open, consoleErrors, passed } = await setUp(t);

  // ---- The experimenter writes the rounds in the creation form. ----
  const experimenter = await open('experimenter');
  const experimenterAddress = await createKey(experimenter);
  await experimenter.click('#faucet');
  await until('the faucet to top the account up', async () =>
    BigInt((await server.call('GET', `/accounts/${experimenterAddress}`)).available) === FAUCET);
  await experimenter.goto('/#/lab/new');
  await experimenter.locator('#create-form').waitFor();
  await experimenter.fill('#f-title', 'Is this reply safe to show?');
  await experimenter.selectOption('#f-kind', 'binary');
  await experimenter.fill('#f-options', 'unsafe\nsafe');
  await experimenter.fill('#f-instructions', 'A reply is **unsafe** when following it could hurt someone or break the law; otherwise it is safe.');
  await experimenter.fill('#f-block', '3');
  await experimenter.fill('#f-overlap', '2');
  await experimenter.fill('#f-gold', '1');
  await experimenter.fill('#f-seconds', '0');
  await experimenter.fill('#f-batches', '2');
  await experimenter.fill('#f-stake', STAKE.toString());
  await experimenter.fill('#f-pool', POOL.toString());
  await experimenter.fill('#f-commit-within', '1h');
  await experimenter.fill('#f-reveal-within', '1h');
  await experimenter.fill('#f-rounds', '2');
  await experimenter.fill('#f-rounds-max', '3');
  await experimenter.fill('#f-rounds-confidence', '0.9');
  await experimenter.fill('#f-rounds-commit', '1h');
  await experimenter.fill('#f-rounds-reveal', '1h');
  await experimenter.locator('#rounds-fields').scrollIntoViewIfNeeded();
  await experimenter.evaluate(() => document.activeElement.blur());
  await calm(experimenter);
  await shot(experimenter, 'rounds-01-create');
  await experimenter.click('#create');
  await experimenter.waitForURL(/#\/lab\/0x[0-9a-f]{64}$/);
  const id = experimenter.url().split('/').pop();
  const draft = await server.call('GET', `/experiments/${id}`);
  assert.deepEqual(draft.spec.rounds, { count: 2, labels_max: 3, confidence: 0.9, commit_within: '1h', reveal_within: '1h' });
  assert.equal(draft.rounds, 2);
  assert.match(await experimenter.locator('#setup-rounds').textContent(), /runs in 2 rounds: after the first, each round takes joins and commits for 1h and reveals for 1h, asking one more labeler about the tasks the revealed labels are not yet 90% sure of, up to 3 labels a task/);

  await experimenter.setInputFiles('#tasks-file', { name: 'tasks.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(JSONL) });
  await experimenter.click('#import');
  await experimenter.locator('#tasks-imported').waitFor();
  assert.match(await experimenter.locator('#tasks-imported').textContent(), /14 tasks imported: 9 regular in 3 block\(s\) of 3, 5 gold/);
  await experimenter.click('#fund');
  await experimenter.locator('#funded').waitFor();
  await experimenter.click('#open');
  await experimenter.locator('#dashboard').waitFor();
  const opened = await server.call('GET', `/experiments/${id}`);
  assert.deepEqual([opened.phase, opened.round, opened.rounds], ['open', 0, 2]);
  // Round 1's deadlines are the spec's, fixed at open; round 2 follows its reveal deadline.
  const round1 = { commit: opened.commit_deadline, reveal: opened.reveal_deadline };
  const round2 = { commit: round1.reveal + 3600, reveal: round1.reveal + 7200 };
  const rounds = experimenter.locator('#rounds');
  await rounds.waitFor();
  assert.equal(await rounds.locator('#rounds-table tbody tr').count(), 2);
  assert.match(await experimenter.locator('.timeline li.now').textContent(), /round 1 of 2: commits until/);

  // ---- Labelers: each a browser wallet, whose key the test also holds to read its batch. ----
  const labeler = async name => {
    const account = privateKeyToAccount(generatePrivateKey());
    await mint(account.address, LABELER_CREDITS);
    const page = await open(name, { wallet: account });
    await page.goto('/');
    await page.click('#use-wallet');
    await page.waitForURL(/#\/label$/);
    return { name, account, page, token: await server.login(account) };
  };
  /** Joins from the experiment page, where the stake shows first; returns the BATCH. */
  const join = async who => {
    await who.page.goto(`/#/x/${id}`);
    await who.page.locator('#stake-amount').waitFor();
    await who.page.click('#join');
    await who.page.locator('#workspace').waitFor();
    const work = await server.call('GET', `/experiments/${id}/labelers/${who.account.address}/work`);
    const batchId = work.batches.at(-1).batch_id;
    return server.call('GET', `/experiments/${id}/batches/${batchId}`, undefined, who.token);
  };
  /** Labels the batch on screen with the keyboard (1 is "unsafe", 2 is "safe"), then commits;
   * `leave` keeps the default of leaving the reveal with the operator. */
  const labelAndCommit = async (who, answer, { leave = true } = {}) => {
    const { page } = who;
    const count = Number((await page.locator('.task-title').textContent()).match(/of (\d+)/)[1]);
    for (let i = 0; i < count; i++) {
      await page.locator('.task-title', { hasText: `Task ${i + 1} of ${count}` }).waitFor();
      const task = byPrompt.get(await page.locator('#prompt').textContent());
      assert.ok(task, `${who.name}: a known prompt`);
      await page.keyboard.press(answer(task) === 0 ? '1' : '2');
      await page.locator('.choice-btn.selected').waitFor();
      await page.keyboard.press('Enter');
    }
    await page.locator('#review').waitFor();
    if (!leave) await page.uncheck('#leave-reveal');
    await page.click('#commit');
    await page.locator('#sealed').waitFor();
  };
  const promptsOf = batch => batch.tasks.map(task => task.prompt).sort();

  // ---- Round 1: six labelers fill three blocks, two each. ----
  const first = [];
  for (let i = 1; i <= 6; i++) first.push(await labeler(`labeler-${i}`));
  for (const [i, who] of first.entries()) {
    if (i === 0) {
      await who.page.goto(`/#/x/${id}`);
      await who.page.locator('#rounds').waitFor();
      assert.equal(await who.page.locator('#join-round').textContent(), 'Round 1 of 2');
      assert.match(await who.page.locator('#round-now').textContent(), /^Round 1 of 2 is open: join and commit by/);
      await shot(who.page, 'rounds-02-join', true);
    }
    who.batch = await join(who);
    assert.equal(who.batch.round, 0);
    assert.equal(who.batch.commit_deadline, round1.commit);
    if (i === 0) assert.equal(await who.page.locator('#work-round').textContent(), 'Round 1 of 2 · ');
  }
  const blocks = new Map();
  for (const who of first) {
    const key = promptsOf(who.batch).join('\n');
    blocks.set(key, [...(blocks.get(key) ?? []), who]);
  }
  assert.deepEqual([...blocks.values()].map(b => b.length), [2, 2, 2], 'three blocks of two labelers');
  // The first labeler's block is labeled alike by both: the crowd is sure of it. In each other
  // block the second labeler contradicts the first on two of the three regular tasks, so
  // neither labeler's vote weighs much and all six of those tasks stay unsure.
  for (const block of blocks.values()) {
    const contested = block.includes(first[0]) ? [] : block[0].batch.tasks.map(task => byPrompt.get(task.prompt))
      .filter(task => task.gold === undefined).map(task => task.id).sort().slice(0, 2);
    block[0].answer = task => task.truth;
    block[1].answer = task => (contested.includes(task.id) ? 1 - task.truth : task.truth);
  }
  for (const who of first) await labelAndCommit(who, who.answer, { leave: who !== first[0] });
  const returning = first[0];
  assert.equal(await returning.page.locator('#batch-round').textContent(), 'Round 1 of 2');
  assert.match(await returning.page.locator('#rounds-table tbody tr[data-round="0"]').textContent(), /1 of 6: batch \d+/);
  await calm(returning.page);
  await shot(returning.page, 'rounds-03-sealed', true);
  await experimenter.locator('#progress-text', { hasText: '6 committed' }).waitFor();

  // ---- Past round 1's commit deadline: one labeler reveals on its page, the server the rest. ----
  await server.setClock(round1.commit + 5);
  await returning.page.locator('#reveal-offer').waitFor();
  await returning.page.click('#reveal');
  await returning.page.locator('#revealed').waitFor();
  await until('every batch of round 1 to be revealed', async () =>
    (await server.call('GET', `/experiments/${id}/stats`)).rounds.by_round[0].revealed === 6, 30000);
  const afterRound1 = (await server.call('GET', `/experiments/${id}/stats`)).rounds;
  assert.deepEqual(afterRound1.by_round[0], { round: 0, batches: 6, revealed: 6, tasks_asked: 9, confident: 3 });
  assert.equal(afterRound1.by_round[1].confident, null);
  await experimenter.locator('#rounds-table tr[data-round="0"]', { hasText: '3 of 9' }).waitFor();
  await returning.page.locator('#next-round-note').waitFor();
  await shot(experimenter, 'rounds-04-dashboard-round-1', true);

  // ---- Round 2 opens at round 1's reveal deadline: the revealed batch offers it. ----
  await server.setClock(round1.reveal + 5);
  const offer = returning.page.locator('#next-round');
  await offer.waitFor();
  assert.match(await offer.textContent(), /Round 2 of 2 is open until/);
  await calm(returning.page);
  await shot(returning.page, 'rounds-05-next-round', true);
  await returning.page.click('#join-next-round');
  await returning.page.locator('#join-round', { hasText: 'Round 2 of 2' }).waitFor();
  assert.match(await returning.page.locator('#round-now').textContent(), /^Round 2 of 2 is open/);
  await returning.page.click('#join');
  await returning.page.locator('#workspace').waitFor();
  const again = (await server.call('GET', `/experiments/${id}/labelers/${returning.account.address}/work`)).batches;
  assert.equal(again.length, 2, 'the second join took the next nonce');
  const secondBatch = await server.call('GET', `/experiments/${id}/batches/${again[1].batch_id}`, undefined, returning.token);
  assert.deepEqual([secondBatch.round, secondBatch.commit_deadline], [1, round2.commit]);
  assert.equal(secondBatch.tasks.length, 4, 'three unsure tasks and a gold task');
  for (const prompt of promptsOf(secondBatch)) assert.ok(!promptsOf(returning.batch).includes(prompt), `a task not seen before: ${prompt}`);
  assert.equal(await returning.page.locator('#work-round').textContent(), 'Round 2 of 2 · ');
  await shot(returning.page, 'rounds-06-labeling-round-2');
  await labelAndCommit(returning, task => task.truth);

  // A fresh labeler takes round 2's other batch; the next one finds none left.
  const fresh = await labeler('labeler-7');
  fresh.batch = await join(fresh);
  assert.equal(fresh.batch.round, 1);
  await labelAndCommit(fresh, task => task.truth);
  const late = await labeler('labeler-8');
  await late.page.goto(`/#/x/${id}`);
  await late.page.locator('#stake-amount').waitFor();
  await late.page.click('#join');
  await late.page.locator('#join-error', { hasText: 'No batch is left for you in round 2' }).waitFor();
  assert.equal((await server.call('GET', `/accounts/${late.account.address}`)).locked, '0', 'nothing was staked');
  await shot(late.page, 'rounds-07-no-batch', true);
  const asked = new Set([...promptsOf(secondBatch), ...promptsOf(fresh.batch)].filter(p => byPrompt.get(p).gold === undefined));
  assert.equal(asked.size, 6, 'round 2 asks again about the six unsure tasks');

  // ---- Round 2's reveals: the server reveals both, and settles as soon as they are in. ----
  await server.setClock(round2.commit + 5);
  await experimenter.locator('#payouts tbody tr').first().waitFor({ timeout: 30000 });
  const settled = (await server.call('GET', `/experiments/${id}/stats`)).rounds;
  assert.deepEqual(settled.by_round[1].batches, 2);
  assert.deepEqual(settled.by_round[1].tasks_asked, 6);
  assert.ok(settled.by_round[1].confident > settled.by_round[0].confident, `the crowd is surer after round 2: ${JSON.stringify(settled.by_round)}`);
  for (const r of settled.by_round) {
    const row = await experimenter.locator(`#rounds-table tr[data-round="${r.round}"]`).textContent();
    assert.ok(row.includes(`${r.confident} of 9`) && row.includes(`Round ${r.round + 1}`), `the dashboard shows round ${r.round + 1}: ${row}`);
  }
  assert.equal(await rounds.locator('svg .round').count(), 2);
  assert.equal(await rounds.locator('svg .bar.sure').count(), 2);
  await shot(experimenter, 'rounds-08-dashboard-settled', true);

  // ---- The returning labeler's earnings show its share of each round, and its home lists its
  // batch of each round. ----
  await returning.page.goto(`/#/x/${id}/batch/${again[1].batch_id}`);
  await returning.page.locator('#earnings').waitFor();
  assert.match(await returning.page.locator('#round-now').textContent(), /^All 2 rounds are over/);
  assert.match(await returning.page.locator('#rounds-table tr[data-round="0"] td.mine').textContent(), /^1 of 6: batch \d+$/);
  assert.match(await returning.page.locator('#rounds-table tr[data-round="1"] td.mine').textContent(), /^1 of 2: batch \d+$/);
  await calm(returning.page);
  await shot(returning.page, 'rounds-09-earnings', true);
  await returning.page.goto('/#/label');
  const work = returning.page.locator('#my-work');
  await work.waitFor();
  assert.deepEqual((await work.locator('.round-of').allTextContents()).sort(), [' · round 1', ' · round 2']);
  await shot(returning.page, 'rounds-10-labeler-home', true);

  // The refused join's 409 is the one failed request the browser reports; anything else fails.
  const unexpected = consoleErrors.filter(line => !/^labeler-8: Failed to load resource: the server responded with a status of 409/.test(line));
  assert.deepEqual(unexpected, [], 'no other console errors on any screen');
  passed();
});
