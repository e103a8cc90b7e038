// Rankings in the browser, keyboard only: a ranking of five responses is built by the pairwise
// tournament (two responses at a time), another is arranged in the list by drag and drop and
// Alt + arrow keys; the batch is committed and revealed with Enter alone. The server accepts
// the reveal only if the browser's ranking bytes, labels root and commitment match the core's,
// and the public record then holds exactly the canonical rankings the labeler chose.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createKey, setUp, shot, shots } from './harness.mjs';

// Five answers to each prompt, written best first; the experiment stores them in another order.
const PROMPTS = [
  {
    id: 'sleep', prompt: 'How can I fall asleep more easily?',
    best: [
      'Keep a regular bedtime, dim the lights an hour before, and leave screens outside the bedroom.',
      'Avoid coffee in the afternoon and keep the room cool.',
      'Read a paper book until you feel drowsy.',
      'Count sheep.',
      'Drink an energy drink so you are tired later.',
    ],
  },
  {
    id: 'plants', prompt: 'Which houseplant is easiest for a beginner?',
    best: [
      'A snake plant: it tolerates low light and needs water only every two or three weeks.',
      'A pothos, which grows fast and shows clearly when it is thirsty.',
      'A spider plant, as long as it gets some indirect light.',
      'An orchid, which needs careful watering and humidity.',
      'A bonsai tree, which takes years of practice.',
    ],
  },
];
// The stored (canonical) order of each task's responses: a fixed shuffle of the best-first list.
const STORED = [3, 0, 4, 1, 2];
const tasks = PROMPTS.map(p => ({ id: p.id, prompt: p.prompt, responses: STORED.map(i => p.best[i]) }));

test('rankings by tournament and by dragging, committed and revealed with the keyboard', { timeout: 240_000 }, async t => {
  mkdirSync(shots, { recursive: true });
  const { server, operator, operatorToken, mint, page: open, consoleErrors, passed } = await setUp(t);
  const now = Math.floor(Date.now() / 1000);
  const spec = {
    schema_version: 1,
    title: 'Rank the answers',
    question: { kind: 'ranking', n: 5, instructions: 'Rank the five answers from most to least helpful.' },
    block_size: 2,
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
  const jsonl = tasks.map(task => JSON.stringify(task)).join('\n');
  const imported = await fetch(`${server.base}/api/v1/experiments/${id}/tasks`, {
    method: 'POST', headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${operatorToken}` }, body: jsonl,
  });
  assert.equal(imported.status, 200);
  await server.call('POST', `/experiments/${id}/fund`, undefined, operatorToken);
  await server.call('POST', `/experiments/${id}/open`, undefined, operatorToken);

  const page = await open('ranker');
  const address = await createKey(page);
  await mint(address, 100n);
  await page.goto(`/#/x/${id}`);
  await page.locator('#join').focus();
  await page.keyboard.press('Enter');
  await page.locator('#workspace').waitFor();

  const promptOf = async () => {
    const text = await page.locator('#prompt').textContent();
    return PROMPTS.find(p => p.prompt === text);
  };
  const chosen = {};

  // The first task shown: the tournament. Each comparison is answered by the best-first list.
  const first = await promptOf();
  let comparisons = 0;
  while (await page.locator('.pair').count()) {
    const [left, right] = (await page.locator('.pair .response .text').allTextContents()).map(text => text.trim());
    if (comparisons === 1) await shot(page, '21-tournament');
    const leftBetter = first.best.indexOf(left) < first.best.indexOf(right);
    await page.keyboard.press(leftBetter ? (comparisons % 2 ? 'ArrowLeft' : '1') : (comparisons % 2 ? 'ArrowRight' : '2'));
    comparisons += 1;
    assert.ok(comparisons <= 8, 'five responses need at most eight comparisons');
  }
  const firstOrder = await page.locator('.rank-item .text').allTextContents();
  assert.deepEqual(firstOrder, first.best, 'the tournament rebuilt the best-first order');
  chosen[first.id] = firstOrder;
  await page.keyboard.press('Enter');

  // The second task: the list, by drag and drop and by Alt + arrows, best first.
  const second = await promptOf();
  assert.notEqual(second.id, first.id);
  await page.getByRole('button', { name: 'Rank by dragging instead' }).click();
  await page.locator('.rank-item').first().waitFor();
  const texts = () => page.locator('.rank-item .text').allTextContents();
  // Drag the last answer to the top, then order all five with the keyboard: focus a response
  // and move it up with Alt + ↑ until it stands at its rank.
  const before = await texts();
  await page.locator('.rank-item').nth(4).dragTo(page.locator('.rank-item').nth(0));
  assert.deepEqual(await texts(), [before[4], ...before.slice(0, 4)], 'dragging moved the last answer to the top');
  for (let rank = 0; rank < 5; rank++) {
    const from = (await texts()).indexOf(second.best[rank]);
    await page.locator('.rank-item').nth(from).focus();
    for (let step = from; step > rank; step--) await page.keyboard.press('Alt+ArrowUp');
  }
  const secondOrder = await texts();
  assert.deepEqual(secondOrder, second.best);
  await shot(page, '22-ranking-list');
  chosen[second.id] = secondOrder;
  await page.keyboard.press('Enter');
  await page.locator('.badge', { hasText: 'ranking saved' }).waitFor();
  await page.keyboard.press('Enter');

  // Review, then commit with Enter on the focused button (revealing ourselves: the reveal is
  // not left with the operator).
  await page.locator('#review').waitFor();
  await page.uncheck('#leave-reveal');
  await page.locator('#commit').focus();
  await page.keyboard.press('Enter');
  await page.locator('#sealed').waitFor();

  // Past the commit deadline the reveal is offered, focused, and Enter reveals.
  await server.setClock(spec.commit_deadline + 1);
  await page.locator('#reveal').waitFor();
  await page.locator('#reveal').focus();
  await page.keyboard.press('Enter');
  await page.locator('#revealed').waitFor();

  // Settle and read the public record: the revealed rankings are the canonical indices of the
  // orders the labeler chose (shown order mapped back through the per-labeler shuffle).
  await server.setClock(spec.reveal_deadline + 1);
  await server.call('POST', `/experiments/${id}/settle`);
  const record = await server.call('GET', `/experiments/${id}/record`);
  assert.equal(record.reveals.length, 1);
  for (const { task, label } of record.reveals[0].reveal.labels) {
    const stored = tasks[task];
    const expected = chosen[stored.id].map(text => stored.responses.indexOf(text));
    assert.deepEqual(label, expected, `the canonical ranking of ${stored.id}`);
  }

  assert.deepEqual(consoleErrors, [], 'no console errors on any screen');
  passed();
});
