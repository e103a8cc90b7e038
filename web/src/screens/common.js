// Pieces several screens share: how a question reads in words, phase and tier badges, when
// the phases end.

import { h, when } from '../dom.js';

/** A question kind in one sentence. */
export function describeQuestion(question) {
  switch (question.kind) {
    case 'pairwise':
      return `Compare two responses and say which is better, with a strength from 1 to ${question.strength_max}${question.allow_tie ? ', or a tie' : ''}.`;
    case 'rating':
      return `Rate each response from ${question.min} to ${question.max}.`;
    case 'choice':
      return `Choose one of: ${question.options.join(', ')}.`;
    case 'binary':
      return `Answer ${question.options[0]} or ${question.options[1]}.`;
    case 'ranking':
      return `Rank ${question.n} responses from best to worst${question.n > 4 ? ', one comparison at a time' : ''}.`;
    case 'text':
      return `Write a short answer (up to ${question.length_max} bytes).`;
    default:
      return question.kind;
  }
}

export function phaseBadge(phase) {
  return h('span', { class: `badge phase-${phase}` }, phase);
}

export function tierBadge(tier) {
  return h('span', { class: `badge tier-${tier}` }, tier);
}

/** A practice score or the score a spec asks for (−1..1, 0 is guessing), to three places at
 * most: 0.15, 0.312, 1. */
export function practiceScore(value) {
  if (value === null || value === undefined) return '—';
  return String(Number(Number(value).toFixed(3)));
}

/** The score an experiment's qualification asks for, in plain words. */
export function practiceNeed(scoreMin) {
  return `You need a practice score of at least ${practiceScore(scoreMin)}, where 0 is guessing and 1 is every answer right.`;
}

/** When commits end, in words: the deadline (or the early close), or for a draft whose spec
 * gives durations, how long after opening. */
export function commitsEnd(experiment) {
  if (experiment.commit_deadline) return when(experiment.commit_deadline);
  return `${experiment.spec.commit_within} after opening`;
}

/** When reveals end, in words, as `commitsEnd`. */
export function revealsEnd(experiment) {
  if (experiment.reveal_deadline) return when(experiment.reveal_deadline);
  return `${experiment.spec.reveal_within} after commits end`;
}

/** Whether `address` is the signed-in account's (addresses compare without their case). */
export function isMine(app, address) {
  return Boolean(app.signer && address) && address.toLowerCase() === app.signer.address.toLowerCase();
}
