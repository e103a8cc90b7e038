// The labeler's view of an experiment's adaptive rounds: which round it is in with that
// round's deadlines, the labeler's share of the work round by round beside what each round
// asked about, and the way into a new round once the labeler's own is over. Nothing here shows
// for an experiment of one round, so those screens stay as they were.

import { h, shortWhen, when } from '../dom.js';
import { batchesByRound, roundAt, roundState, roundWindows } from '../rounds.js';

/** Whether the experiment runs more than one round. */
export function hasRounds(experiment) {
  return (experiment.rounds ?? 1) > 1;
}

/** "Round 2 of 3": rounds are counted from 1 for people, from 0 by the API. */
export function roundName(round, rounds) {
  return `Round ${round + 1} of ${rounds}`;
}

/** The round a batch of the work list belongs to. */
export function roundOfBatch(experiment, batch) {
  return roundAt(roundWindows(experiment.spec), batch.assigned_at);
}

/** The stats' rounds (`{count, regular_tasks, confidence, by_round}`), or null without rounds or
 * when they cannot be read: they add to the screen, and a failed read should not take it down. */
export async function roundStats(app, experiment) {
  if (!hasRounds(experiment) || experiment.phase === 'draft') return null;
  try {
    return (await app.api.stats(experiment.experiment_id)).rounds ?? null;
  } catch {
    return null;
  }
}

/** Where the experiment's rounds stand, in one sentence with the current round's deadlines. */
function nowSentence(experiment) {
  const name = roundName(experiment.round, experiment.rounds);
  if (experiment.phase === 'settled') return `All ${experiment.rounds} rounds are over, and the experiment is settled.`;
  if (experiment.phase === 'open') {
    return `${name} is open: join and commit by ${when(experiment.commit_deadline)}; its reveals run until ${when(experiment.reveal_deadline)}.`;
  }
  const after = experiment.round + 1 < experiment.rounds
    ? `round ${experiment.round + 2} opens then`
    : 'the experiment settles then';
  return `${name} is revealing until ${when(experiment.reveal_deadline)}; ${after}.`;
}

/** How later rounds choose their tasks, in the spec's own numbers. */
function ruleSentence(spec) {
  const sure = Math.round(spec.rounds.confidence * 1000) / 10;
  return `Round 1 asks about every task. Each later round asks one more labeler about the tasks whose revealed labels are not yet ${sure}% sure of an answer, `
    + `up to ${spec.rounds.labels_max} labels a task, and never gives you a task you have already labeled.`;
}

/** One round's row: its state, deadlines, the tasks it asked about and the labeler's batches
 * there against all of the round's. */
function roundRow(experiment, window, state, round, mine, counts) {
  const id = experiment.experiment_id;
  const asked = counts && counts.batches > 0 ? String(counts.tasks_asked) : '—';
  const share = mine.length === 0
    ? '—'
    : [`${mine.length}${counts ? ` of ${counts.batches}` : ''}: `,
      mine.map((b, i) => [i ? ', ' : '', h('a', { href: `#/x/${id}/batch/${b.batch_id}` }, `batch ${b.batch_id}`)])];
  return h('tr', { dataset: { round: String(round) }, class: round === experiment.round && experiment.phase !== 'settled' ? 'current' : null },
    h('th', { scope: 'row' }, `Round ${round + 1} `, h('span', { class: `badge round-${state}` }, state)),
    h('td', { class: 'when' }, shortWhen(window.commit_deadline)),
    h('td', { class: 'when' }, shortWhen(window.reveal_deadline)),
    h('td', { class: 'num' }, asked),
    h('td', { class: 'mine' }, share));
}

/** The rounds card: where the rounds stand, how later ones choose their tasks, and per round
 * its deadlines, the tasks it asked about and the labeler's batches there. `work` is the
 * labeler's work list, `stats` the stats' rounds (or null), `now` the server's clock. */
export function roundsCard(experiment, work, stats, now) {
  const windows = roundWindows(experiment.spec);
  const mine = batchesByRound(windows, work.batches);
  const settled = experiment.phase === 'settled';
  return h('div', { class: 'card rounds', id: 'rounds' },
    h('h2', null, 'Rounds'),
    h('p', { id: 'round-now' }, nowSentence(experiment)),
    h('p', { class: 'muted' }, ruleSentence(experiment.spec)),
    h('div', { class: 'scroll' }, h('table', { class: 'table compact', id: 'rounds-table' },
      h('thead', null, h('tr', null, ['Round', 'Commit by', 'Reveal by', 'Tasks asked', 'Your batches'].map(t => h('th', { scope: 'col' }, t)))),
      h('tbody', null, windows.map((window, round) => roundRow(experiment, window,
        settled ? 'over' : roundState(windows, round, now), round, mine[round].batches, stats?.by_round[round] ?? null))))));
}

/** Once the labeler's batch is from an earlier round and a new round is open, the way into it:
 * the experiment page, where the stake is shown before the join as always. Null otherwise,
 * and when the labeler has taken every batch one labeler may. */
export function nextRoundOffer(experiment, work, batchRound) {
  if (experiment.phase !== 'open' || experiment.round <= batchRound) return null;
  if (work.next_nonce >= experiment.spec.limits.batches_per_labeler_max) return null;
  const round = experiment.round + 1;
  return h('div', { class: 'notice action', id: 'next-round' },
    h('p', null, h('strong', null, `${roundName(experiment.round, experiment.rounds)} is open`), ` until ${when(experiment.commit_deadline)}. `,
      'It asks again about the tasks the crowd is not yet sure of, one labeler a batch, and your batch there holds none of the tasks you have seen. ',
      'Joining locks a stake as before.'),
    h('a', { href: `#/x/${experiment.experiment_id}`, class: 'button primary', id: 'join-next-round', 'data-autofocus': '' }, `Join round ${round}`));
}

/** When the next round opens, for a revealed batch in an earlier round's reveal window. */
export function nextRoundNote(experiment, batchRound) {
  if (experiment.phase !== 'revealing' || experiment.round !== batchRound || experiment.round + 1 >= experiment.rounds) return null;
  return h('p', { class: 'muted', id: 'next-round-note' },
    `Round ${experiment.round + 2} opens at ${when(experiment.reveal_deadline)} and asks again about the tasks the crowd is not yet sure of: you may join it then.`);
}
