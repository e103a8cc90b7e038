// The pairwise tournament for rankings of more than four responses: instead of reading every
// response and ordering them all at once, the labeler answers "which of these two is better?"
// and the ranking is built by binary insertion, about n·log2(n) comparisons.
//
// The state is the list of answers given so far; everything else is replayed from it, so an
// answer can be taken back and the tournament survives a reload as plain JSON.

/** The most comparisons binary insertion needs for `n` items. */
export function comparisonsMax(n) {
  let total = 0;
  for (let size = 1; size < n; size++) total += Math.ceil(Math.log2(size + 1));
  return total;
}

/** Replays `answers` (booleans: "the candidate is better") over items `0..n-1` inserted in
 * order. Returns `{sorted, question, done, asked}`: `sorted` best first, `question`
 * `{candidate, against, candidateLeft}` when one is pending. */
export function replay(n, answers) {
  if (n < 1) throw new Error('a tournament needs at least one item');
  const sorted = [0];
  let next = 1;
  let lo = 0;
  let hi = 1;
  let asked = 0;
  for (const better of answers) {
    if (next >= n) break;
    const mid = Math.floor((lo + hi) / 2);
    if (better) hi = mid;
    else lo = mid + 1;
    asked += 1;
    if (lo === hi) {
      sorted.splice(lo, 0, next);
      next += 1;
      lo = 0;
      hi = sorted.length;
    }
  }
  if (next >= n) return { sorted, question: null, done: true, asked };
  const mid = Math.floor((lo + hi) / 2);
  // The candidate alternates sides so that neither side is always the newcomer, which would
  // invite a position habit.
  return { sorted, question: { candidate: next, against: sorted[mid], candidateLeft: asked % 2 === 0 }, done: false, asked };
}
