// Adaptive rounds as the browser sees them (docs/protocol.md, "Rounds"). The server's
// EXPERIMENT names only the current round and its deadlines, and a labeler's work list gives
// each batch's join time but not its round; every round's window follows from the spec as the
// core computes it (`rounds::windows`), and a batch belongs to the round whose window its join
// fell in, which is how the server's replay places it. Pure functions, unit-tested.

const UNITS = { d: 86400, h: 3600, m: 60, s: 1 };

/** Seconds in a duration as specs write it ("90m", "1d12h"): numbers with d, h, m, s, largest
 * unit first, by the core's rule. Throws on anything else. */
export function durationSecs(text) {
  const parts = String(text).trim().match(/^(?=\d)(\d+d)?(\d+h)?(\d+m)?(\d+s)?$/);
  if (!parts) throw new Error(`\`${text}\` is not a duration`);
  return parts.slice(1).filter(Boolean).reduce((sum, part) => sum + Number(part.slice(0, -1)) * UNITS[part.slice(-1)], 0);
}

/** Every round's `{commit_deadline, reveal_deadline}`: the spec's own for round 0 (its commits
 * end early when the creator closed them, which only an experiment of one round allows), then
 * each later round opening at the previous one's reveal deadline. Meaningful once the
 * experiment is open (a draft's deadlines may still read 0). */
export function roundWindows(spec) {
  const commitsEnd = Math.min(spec.commit_deadline, spec.commits_closed_at ?? Infinity);
  const windows = [{ commit_deadline: commitsEnd, reveal_deadline: spec.reveal_deadline }];
  if (!spec.rounds) return windows;
  const commitSecs = durationSecs(spec.rounds.commit_within);
  const revealSecs = durationSecs(spec.rounds.reveal_within);
  for (let round = 1; round < spec.rounds.count; round++) {
    const commitDeadline = windows[round - 1].reveal_deadline + commitSecs;
    windows.push({ commit_deadline: commitDeadline, reveal_deadline: commitDeadline + revealSecs });
  }
  return windows;
}

/** The round an instant falls in: the first whose reveal deadline is after it, the last once
 * every deadline has passed (the core's `rounds::round_at`). */
export function roundAt(windows, at) {
  const round = windows.findIndex(w => at < w.reveal_deadline);
  return round === -1 ? windows.length - 1 : round;
}

/** A labeler's batches (the work list's) counted per round: `[{round, batches: [...]}]`, one
 * entry for every round of the experiment, in order. */
export function batchesByRound(windows, batches) {
  const rounds = windows.map((_, round) => ({ round, batches: [] }));
  for (const batch of batches) rounds[roundAt(windows, batch.assigned_at)].batches.push(batch);
  return rounds;
}

/** Where a round stands at `now`: 'upcoming', 'open' (joins and commits), 'revealing' or
 * 'over'. */
export function roundState(windows, round, now) {
  const window = windows[round];
  const opens = round === 0 ? -Infinity : windows[round - 1].reveal_deadline;
  if (now < opens) return 'upcoming';
  if (now < window.commit_deadline) return 'open';
  if (now < window.reveal_deadline) return 'revealing';
  return 'over';
}
