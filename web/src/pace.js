// When to suggest a break: the workspace keeps, for this browser tab, when each task was
// answered and how long it took, and suggests a short break when the labeler's pace changes in
// a way that tiredness explains. Pure functions over a plain log, so they are tested without a
// clock; the workspace stores the log and passes the time (seconds, wall clock).
//
// The rule: no suggestion while snoozed (a dismissed one stays away for 15 minutes) or while
// the labeler is away (5 minutes without an answer is a pause); otherwise one when the median
// time of the last 5 answers since the last pause is under half the median of the session's
// first 5 (rushing), or when the labeler has answered for 45 minutes with no pause between.

export const PACE = {
  /** Answers in the first and in the recent window of the rushing rule. */
  window: 5,
  /** The recent median must fall below this share of the first one to count as rushing. */
  rushing: 0.5,
  /** Seconds of labeling without a pause after which a break is suggested. */
  sessionMax: 45 * 60,
  /** Seconds between answers that count as a pause. */
  pause: 5 * 60,
  /** Seconds a dismissed suggestion stays away. */
  snooze: 15 * 60,
  /** Answers kept in the log; the session's first window is always kept. */
  kept: 2000,
};

/** A session begun at `now`: `{started, answers: [{at, seconds}], snoozedUntil}`. */
export function paceLog(now) {
  return { started: now, answers: [], snoozedUntil: 0 };
}

/** A stored log read back, or a new one from `now` when it is missing or unreadable. */
export function paceFrom(stored, now) {
  const ok = stored && typeof stored === 'object' && Number.isFinite(stored.started) && Array.isArray(stored.answers)
    && stored.answers.every(a => a && Number.isFinite(a.at) && Number.isFinite(a.seconds));
  return ok ? { started: stored.started, answers: stored.answers, snoozedUntil: Number(stored.snoozedUntil) || 0 } : paceLog(now);
}

/** The log with a task answered at `now` after `seconds` on it. */
export function recordAnswer(log, now, seconds) {
  let answers = [...log.answers, { at: now, seconds }];
  if (answers.length > PACE.kept) answers = [...answers.slice(0, PACE.window), ...answers.slice(-(PACE.kept - PACE.window))];
  return { ...log, answers };
}

/** The log with its suggestion dismissed at `now`, for `PACE.snooze` seconds. */
export function snooze(log, now) {
  return { ...log, snoozedUntil: now + PACE.snooze };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Whether to suggest a break at `now`, and why: 'rushing', 'long' or null. */
export function breakDue(log, now) {
  if (now < log.snoozedUntil) return null;
  const { answers } = log;
  // Activity: the session's start, then every answer. The current stretch begins at the first
  // activity after the last pause.
  const times = [log.started, ...answers.map(a => a.at)];
  if (now - times[times.length - 1] >= PACE.pause) return null;
  let stretch = 0;
  for (let i = 1; i < times.length; i++) if (times[i] - times[i - 1] >= PACE.pause) stretch = i;
  // The answers of this stretch (times[i] is answers[i - 1]) that are not among the first ones.
  const recent = answers.slice(Math.max(stretch - 1, PACE.window, 0)).slice(-PACE.window);
  if (recent.length === PACE.window) {
    const first = median(answers.slice(0, PACE.window).map(a => a.seconds));
    if (median(recent.map(a => a.seconds)) < PACE.rushing * first) return 'rushing';
  }
  if (now - times[stretch] >= PACE.sessionMax) return 'long';
  return null;
}
