// The browser's pure pieces: the task file check (every bad line by number, the server's rules,
// prompts as text or as chat messages), the ranking tournament, the encrypted backup, when
// the workspace suggests a break, and the windows of adaptive rounds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROMPT_SHAPE, checkTasks, labelProblem } from '../src/tasks.js';
import { comparisonsMax, replay } from '../src/tournament.js';
import { openBackup, sealBackup } from '../src/backup.js';
import { LocalSigner } from '../src/wallet.js';
import { typedData } from '../src/protocol.js';
import { PACE, breakDue, paceFrom, paceLog, recordAnswer, snooze } from '../src/pace.js';
import { batchesByRound, durationSecs, roundAt, roundState, roundWindows } from '../src/rounds.js';

const here = dirname(fileURLToPath(import.meta.url));
const pairwise = { kind: 'pairwise', strength_max: 2, allow_tie: true };

test('a good task file passes and is counted', () => {
  const text = readFileSync(join(here, 'data', 'tasks.jsonl'), 'utf8');
  const checked = checkTasks(text, pairwise);
  assert.deepEqual(checked, { tasks: 10, regular: 8, gold: 2, errors: [], truncated: false });
});

test('every bad line is named, not only the first', () => {
  const text = readFileSync(join(here, 'data', 'tasks-with-errors.jsonl'), 'utf8');
  const { errors } = checkTasks(text, pairwise);
  assert.deepEqual(errors.map(e => e.line), [2, 3, 4, 5]);
  assert.match(errors[1].reason, /needs exactly 2 responses, found 3/);
  assert.match(errors[2].reason, /`gold`: a pairwise label must be an integer from -2 to 2/);
  assert.match(errors[3].reason, /appears twice \(first on line 1\)/);
});

test('the file rules follow the core', () => {
  const lines = (...objects) => objects.map(o => JSON.stringify(o)).join('\n');
  assert.equal(checkTasks('\n\n', pairwise).errors[0].reason, 'the file holds no tasks');
  assert.match(checkTasks(lines({ id: 'a', extra: 1, responses: ['x', 'y'] }), pairwise).errors[0].reason, /unknown field `extra`/);
  assert.match(checkTasks(lines({ id: true, responses: ['x', 'y'] }), pairwise).errors[0].reason, /`id` must be a string or a number/);
  assert.match(checkTasks(lines({ id: '', responses: ['x', 'y'] }), pairwise).errors[0].reason, /`id` must be 1 to 128 bytes/);
  assert.match(checkTasks(lines({ id: 'a', gold: 'x' }), { kind: 'text', length_max: 10 }).errors[0].reason, /text questions cannot have gold/);
  assert.deepEqual(checkTasks(lines({ id: 7, responses: ['x', 'y'], gold: 0 }), pairwise).errors, []);
  assert.match(checkTasks(lines({ id: 7, responses: ['x', 'y'], gold: 0 }), { ...pairwise, allow_tie: false }).errors[0].reason, /ties are not allowed/);
  assert.equal(labelProblem({ kind: 'ranking', n: 3 }, [2, 0, 1]), null);
  assert.match(labelProblem({ kind: 'ranking', n: 3 }, [2, 2, 1]), /permutation/);
  assert.equal(labelProblem({ kind: 'rating', min: 1, max: 5 }, 5), null);
  assert.match(labelProblem({ kind: 'choice', options: ['a', 'b', 'c'] }, 3), /0\.\.2/);
});

test('a best-of task file counts the pairs its prompts become and checks their lines', () => {
  const pairwiseQuestion = { kind: 'pairwise', strength_max: 2, allow_tie: false };
  const text = [
    JSON.stringify({ id: 'p', prompt: 'q', responses: ['a', 'b', 'c', 'd'] }),
    JSON.stringify({ id: 'g', prompt: 'r', responses: ['x', 'y'], gold: -1 }),
  ].join('\n');
  const checked = checkTasks(text, pairwiseQuestion, { bestOf: true });
  assert.deepEqual([checked.tasks, checked.regular, checked.gold, checked.errors], [7, 6, 1, []]);
  assert.match(checkTasks(text, pairwiseQuestion).errors[0].reason, /needs exactly 2 responses, found 4/);
  const alone = JSON.stringify({ id: 'p', responses: ['a'] });
  assert.match(checkTasks(alone, pairwiseQuestion, { bestOf: true }).errors[0].reason, /a best-of task compares 2 to 64 responses, found 1/);
  const tagged = JSON.stringify({ id: 'p', responses: ['a', 'b'], meta: { best_of: 1 } });
  assert.match(checkTasks(tagged, pairwiseQuestion, { bestOf: true }).errors[0].reason, /meta.best_of/);
});

test('a prompt is text or a conversation of system, user and assistant messages', () => {
  const lines = (...objects) => objects.map(o => JSON.stringify(o)).join('\n');
  const conversation = [
    { role: 'system', content: 'You are a careful cook.' },
    { role: 'user', content: 'How long do eggs boil?' },
    { role: 'assistant', content: 'Soft or hard?' },
    { role: 'user', content: 'Hard, please.\nLarge eggs.' },
  ];
  const good = lines(
    { id: 'text', prompt: 'plain', responses: ['x', 'y'] },
    { id: 'chat', prompt: conversation, responses: ['x', 'y'], gold: 1 },
    { id: 'one', prompt: [{ role: 'user', content: '' }], responses: ['x', 'y'] },
    { id: 'none', prompt: null, responses: ['x', 'y'] },
  );
  assert.deepEqual(checkTasks(good, pairwise), { tasks: 4, regular: 3, gold: 1, errors: [], truncated: false });
  // Practice files take conversations too.
  assert.deepEqual(checkTasks(lines({ id: 'p', prompt: conversation, responses: ['x', 'y'], gold: -1, explanation: 'e' }), pairwise, { practice: true }).errors, []);

  // Every wrong shape gets the core's one sentence, on its own line.
  const malformed = [
    [],
    {},
    3,
    ['hello'],
    [{ role: 'tool', content: 'x' }],
    [{ role: 'User', content: 'x' }],
    [{ role: 'user' }],
    [{ content: 'x' }],
    [{ role: 'user', content: 7 }],
    [{ role: 'user', content: ['x'] }],
    [{ role: ['user'], content: 'x' }],
    [{ role: 'user', content: 'x', name: 'ann' }],
    [{ role: 'user', content: 'x' }, null],
  ];
  const checked = checkTasks(lines(...malformed.map((prompt, i) => ({ id: i, prompt, responses: ['x', 'y'] }))), pairwise);
  assert.deepEqual(checked.errors, malformed.map((_, i) => ({ line: i + 1, reason: PROMPT_SHAPE })));
  assert.equal(PROMPT_SHAPE, '`prompt` must be a string or a list of {"role", "content"} messages');

  // A conversation's size is its contents', as for text.
  const half = 'é'.repeat(64 * 1024);
  const big = [{ role: 'user', content: half }, { role: 'assistant', content: half }];
  assert.deepEqual(checkTasks(lines({ id: 'a', prompt: big, responses: ['x', 'y'] }), pairwise).errors, []);
  assert.match(checkTasks(lines({ id: 'a', prompt: [...big, { role: 'user', content: '?' }], responses: ['x', 'y'] }), pairwise).errors[0].reason,
    /`prompt` is longer than 262144 bytes/);
});

test('a practice file needs every answer and may explain it', () => {
  const lines = (...objects) => objects.map(o => JSON.stringify(o)).join('\n');
  const practice = { practice: true };
  const good = lines(
    { id: 'p1', prompt: 'q', responses: ['x', 'y'], gold: -2, explanation: 'x answers the question' },
    { id: 'p2', prompt: 'q', responses: ['x', 'y'], gold: 1 },
  );
  assert.deepEqual(checkTasks(good, pairwise, practice), { tasks: 2, regular: 0, gold: 2, errors: [], truncated: false });
  const bad = checkTasks(lines(
    { id: 'p1', responses: ['x', 'y'] },
    { id: 'p2', responses: ['x', 'y'], gold: 0, explanation: 3 },
    { id: 'p3', responses: ['x', 'y'], gold: 3 },
    { id: 'p4', responses: ['x', 'y'], gold: 1, why: 'no' },
  ), pairwise, practice);
  assert.deepEqual(bad.errors.map(e => e.line), [1, 2, 3, 4]);
  assert.match(bad.errors[0].reason, /a practice task needs its answer in `gold`/);
  assert.match(bad.errors[1].reason, /`explanation` must be a string/);
  assert.match(bad.errors[2].reason, /`gold`: a pairwise label must be an integer from -2 to 2/);
  assert.match(bad.errors[3].reason, /unknown field `why`; a practice task has/);
  // An explanation belongs to practice files only.
  assert.match(checkTasks(lines({ id: 'a', responses: ['x', 'y'], explanation: 'e' }), pairwise).errors[0].reason, /unknown field `explanation`/);
  assert.match(checkTasks(lines({ id: 'a', gold: 'x' }), { kind: 'text', length_max: 10 }, practice).errors[0].reason, /text answers cannot be practised/);
});

test('the tournament finds any order within its comparison budget', () => {
  // Every permutation of five, and a fixed shuffle of eight: the comparisons a labeler answers
  // by the true order rebuild exactly that order.
  const permutations = items => (items.length <= 1 ? [items]
    : items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map(p => [x, ...p])));
  const orders = [...permutations([0, 1, 2, 3, 4]), [5, 2, 7, 0, 3, 6, 1, 4]];
  for (const truth of orders) {
    const n = truth.length;
    const answers = [];
    let state = replay(n, answers);
    while (!state.done) {
      const { candidate, against } = state.question;
      answers.push(truth.indexOf(candidate) < truth.indexOf(against));
      state = replay(n, answers);
    }
    assert.deepEqual(state.sorted, truth);
    assert.ok(state.asked <= comparisonsMax(n));
  }
  assert.equal(comparisonsMax(5), 8);
  assert.deepEqual(replay(1, []), { sorted: [0], question: null, done: true, asked: 0 });
});

test('taking back an answer returns to the question it answered', () => {
  const before = replay(6, [true, false]);
  const after = replay(6, [true, false, true]);
  assert.notDeepEqual(before.question, after.question);
  assert.deepEqual(replay(6, [true, false, true].slice(0, -1)), before);
});

test('the backup opens only with the labeler key, for its own batch', async () => {
  const signer = new LocalSigner(`0x${'11'.repeat(32)}`);
  const other = new LocalSigner(`0x${'22'.repeat(32)}`);
  const experiment = { chain_id: 31337, verifying_contract: `0x${'00'.repeat(20)}` };
  const id = `0x${'ab'.repeat(32)}`;
  const saltOf = async (who, batchId) => who.signTypedData(typedData(experiment, 'Salt', { experimentId: id, batchId: BigInt(batchId) }));
  const contents = { labels: [{ task: 3, label: -2 }, { task: 9, label: [1, 0, 2] }], rationales: { 3: 'B cites a source' } };
  const sig = await saltOf(signer, 4);
  const sealed = await sealBackup(sig, id, 4, signer.address, contents);
  assert.equal(JSON.parse(sealed).format, 'plumbline-backup-1');
  assert.ok(!sealed.includes('cites'), 'the backup does not show the labels');
  assert.deepEqual(await openBackup(await saltOf(signer, 4), id, 4, signer.address, sealed), contents);
  await assert.rejects(openBackup(await saltOf(other, 4), id, 4, signer.address, sealed));
  await assert.rejects(openBackup(await saltOf(signer, 5), id, 5, signer.address, sealed));
  await assert.rejects(openBackup(sig, id, 5, signer.address, sealed), 'the batch is bound in');
});

/** A session from `start` with answers taking `seconds` each, one straight after another; the
 * log and the time of its last answer. */
function session(start, seconds, log = paceLog(start)) {
  let now = log.answers.length ? log.answers[log.answers.length - 1].at : start;
  for (const s of seconds) {
    now += s;
    log = recordAnswer(log, now, s);
  }
  return { log, now };
}

test('no break is suggested early on, nor at a steady pace', () => {
  assert.equal(breakDue(paceLog(0), 0), null);
  // Nine answers, the last four much faster: not yet two windows of five to compare.
  const early = session(0, [20, 20, 20, 20, 20, 3, 3, 3, 3]);
  assert.equal(breakDue(early.log, early.now), null);
  // Forty minutes at 20 s a task, a little faster towards the end.
  const steady = session(0, [...Array(60).fill(20), ...Array(60).fill(14)]);
  assert.equal(breakDue(steady.log, steady.now), null);
});

test('rushing suggests a break: the last five answers under half the pace of the first five', () => {
  const { log, now } = session(0, [20, 18, 25, 22, 19, 20, 15, 9, 8, 9, 7, 9]);
  assert.equal(breakDue(log, now), 'rushing');
  // Half the first median (20 s) exactly is not under it.
  const half = session(0, [20, 20, 20, 20, 20, 10, 10, 10, 10, 10]);
  assert.equal(breakDue(half.log, half.now), null);
  // The median, not the mean: one slow answer among fast ones does not hide the rush.
  const mixed = session(0, [20, 20, 20, 20, 20, 4, 4, 200, 4, 4]);
  assert.equal(breakDue(mixed.log, mixed.now), 'rushing');
});

test('a long session suggests a break', () => {
  // 44 minutes at 30 s a task and a steady pace: not yet.
  const before = session(0, Array(88).fill(30));
  assert.equal(breakDue(before.log, before.now), null);
  // 46 minutes.
  const after = session(0, Array(92).fill(30));
  assert.equal(after.now, 46 * 60);
  assert.equal(breakDue(after.log, after.now), 'long');
  // The session counts from when it began, not from the first answer: four minutes on the
  // first task, then 41 at 30 s a task.
  const slowStart = session(0, [240, ...Array(82).fill(30)]);
  assert.equal(slowStart.now, PACE.sessionMax);
  assert.equal(breakDue(slowStart.log, slowStart.now), 'long');
});

test('a pause of five minutes starts the long-session clock again', () => {
  // 30 minutes, then 6 minutes without an answer, then 20 more minutes: 56 in all, 20 since.
  const first = session(0, Array(60).fill(30));
  const paused = recordAnswer(first.log, first.now + 6 * 60, 30);
  const second = session(0, Array(40).fill(30), paused);
  assert.ok(second.now - 0 > PACE.sessionMax);
  assert.equal(breakDue(second.log, second.now), null);
  // A shorter gap is no pause: the clock keeps running.
  const short = recordAnswer(first.log, first.now + 4 * 60, 30);
  const unbroken = session(0, Array(40).fill(30), short);
  assert.equal(breakDue(unbroken.log, unbroken.now), 'long');
  // Away right now (five minutes since the last answer): nothing to say until they are back.
  const long = session(0, Array(92).fill(30));
  assert.equal(breakDue(long.log, long.now + PACE.pause), null);
  // After a pause the recent pace is judged on the answers since, five of them first.
  const rushed = session(0, [20, 20, 20, 20, 20, 5, 5, 5, 5, 5]);
  assert.equal(breakDue(rushed.log, rushed.now), 'rushing');
  const back = session(0, [5, 5, 5], recordAnswer(rushed.log, rushed.now + 10 * 60, 20));
  assert.equal(breakDue(back.log, back.now), null);
  const rushingAgain = session(0, [5], back.log);
  assert.equal(breakDue(rushingAgain.log, rushingAgain.now), 'rushing');
});

test('dismissing the suggestion snoozes it for fifteen minutes', () => {
  const { log, now } = session(0, Array(92).fill(30));
  assert.equal(breakDue(log, now), 'long');
  const dismissed = snooze(log, now);
  assert.equal(breakDue(dismissed, now), null);
  // Labeling on without a pause: still quiet for 14 minutes, then it asks again.
  const later = session(0, Array(28).fill(30), dismissed);
  assert.equal(later.now - now, 14 * 60);
  assert.equal(breakDue(later.log, later.now), null);
  const again = session(0, Array(2).fill(30), later.log);
  assert.equal(again.now - now, PACE.snooze);
  assert.equal(breakDue(again.log, again.now), 'long');
});

test('the pace log survives storage, and a bad one starts afresh', () => {
  const { log } = session(100, [20, 30]);
  assert.deepEqual(paceFrom(JSON.parse(JSON.stringify(log)), 999), log);
  assert.deepEqual(paceFrom(null, 999), paceLog(999));
  assert.deepEqual(paceFrom({ started: 1, answers: [{ at: 'x' }] }, 999), paceLog(999));
  // A very long log keeps the session's first answers and the latest ones.
  let long = paceLog(0);
  for (let i = 1; i <= PACE.kept + 10; i++) long = recordAnswer(long, i, i);
  assert.equal(long.answers.length, PACE.kept);
  assert.deepEqual(long.answers.slice(0, PACE.window).map(a => a.seconds), [1, 2, 3, 4, 5]);
  assert.equal(long.answers[long.answers.length - 1].seconds, PACE.kept + 10);
});

// A spec of three rounds as the server holds it once open: round 0's deadlines fixed, each later
// round ten minutes of commits and an hour and a half of reveals after the previous one.
const ROUNDS_SPEC = {
  commit_deadline: 1000,
  reveal_deadline: 2000,
  rounds: { count: 3, labels_max: 5, confidence: 0.95, commit_within: '10m', reveal_within: '1h30m' },
};

test('durations read as the core reads them, largest unit first', () => {
  assert.equal(durationSecs('90m'), 5400);
  assert.equal(durationSecs('1d12h'), 129600);
  assert.equal(durationSecs('2h30m15s'), 9015);
  assert.equal(durationSecs('0s'), 0);
  for (const bad of ['', '2 hours', '1h1d', '1h2h', 'h', '10']) assert.throws(() => durationSecs(bad), /is not a duration/, bad);
});

test('later rounds open at the previous reveal deadline, as the core computes them', () => {
  assert.deepEqual(roundWindows(ROUNDS_SPEC), [
    { commit_deadline: 1000, reveal_deadline: 2000 },
    { commit_deadline: 2600, reveal_deadline: 8000 },
    { commit_deadline: 8600, reveal_deadline: 14000 },
  ]);
  // One round: the spec's own window, ending early where the creator closed commits.
  const single = { commit_deadline: 1000, reveal_deadline: 2000 };
  assert.deepEqual(roundWindows(single), [{ commit_deadline: 1000, reveal_deadline: 2000 }]);
  assert.deepEqual(roundWindows({ ...single, commits_closed_at: 700 }), [{ commit_deadline: 700, reveal_deadline: 2000 }]);
});

test('an instant and a join fall in the round whose reveal deadline is after them', () => {
  const windows = roundWindows(ROUNDS_SPEC);
  assert.deepEqual([0, 999, 1999, 2000, 7999, 8000, 14000, 99999].map(at => roundAt(windows, at)), [0, 0, 0, 1, 1, 2, 2, 2]);
  const batches = [{ batch_id: 0, assigned_at: 500 }, { batch_id: 4, assigned_at: 2100 }, { batch_id: 9, assigned_at: 8100 }, { batch_id: 2, assigned_at: 900 }];
  assert.deepEqual(batchesByRound(windows, batches).map(r => [r.round, r.batches.map(b => b.batch_id)]), [[0, [0, 2]], [1, [4]], [2, [9]]]);
  assert.deepEqual(batchesByRound(windows, []).map(r => r.batches.length), [0, 0, 0]);
});

test('a round is upcoming, open, revealing, then over', () => {
  const windows = roundWindows(ROUNDS_SPEC);
  const states = at => [0, 1, 2].map(round => roundState(windows, round, at));
  assert.deepEqual(states(500), ['open', 'upcoming', 'upcoming']);
  assert.deepEqual(states(1500), ['revealing', 'upcoming', 'upcoming']);
  assert.deepEqual(states(2000), ['over', 'open', 'upcoming']);
  assert.deepEqual(states(2600), ['over', 'revealing', 'upcoming']);
  assert.deepEqual(states(8000), ['over', 'over', 'open']);
  assert.deepEqual(states(14000), ['over', 'over', 'over']);
});
