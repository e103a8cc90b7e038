// A task and its answer controls, shared by the labeling workspace and the practice workspace:
// the prompt and the responses in this labeler's shown order, the answer scale, the ranking list
// and the ranking tournament, the text box, the keys that answer, and the instructions panel.
// The answers live in a plain object the screen owns (`emptyAnswers()`, keyed by `task.task`),
// so each screen saves them as it likes. With `review` (the expected answer, after a practice
// answer is checked) the same controls are drawn read-only, with the expected answer marked.
// A prompt is text or a conversation (chat messages the responses continue); both screens draw
// it with `promptView`.

import { h, markdown } from '../dom.js';
import { ROLES, isConversation } from '../tasks.js';
import { comparisonsMax, replay } from '../tournament.js';
import { describeQuestion } from './common.js';

/** Rankings of more responses than this are built by a pairwise tournament by default. */
export const TOURNAMENT_ABOVE = 4;

export const letter = i => (i < 26 ? String.fromCharCode(65 + i) : `#${i + 1}`);

const PROMPT_CELL_CHARS = 90;
const clip = (text, max) => (text.length > max ? `${text.slice(0, max)}…` : text);
const messageCount = n => (n === 1 ? '1 message' : `${n} messages`);

/**
 * A task's prompt as the labeler reads it, or null when it has none. Text is one block. A
 * conversation is one turn per message with its speaker, in a box of bounded height that opens
 * on its last turn (the one the responses answer) and scrolls up to the first, so the responses
 * and the answer scale stay in view however long it is. What a model wrote (assistant turns,
 * responses) is CommonMark (`markdown`: raw HTML shown as text, code blocks kept); what people
 * wrote stays text, line breaks kept.
 * `onScroll(top)` hears where the labeler scrolled the conversation; `top` puts it back there
 * (with `restoreScroll` after the redraw).
 */
export function promptView(prompt, { onScroll, top } = {}) {
  if (!isConversation(prompt)) {
    return prompt
      ? h('div', { class: 'prompt' }, h('span', { class: 'label' }, 'Prompt'), h('div', { class: 'text', id: 'prompt' }, prompt))
      : null;
  }
  const count = messageCount(prompt.length);
  // The box is a reversed flex column around the list, so it starts scrolled to the end without
  // waiting for layout; its scrollTop counts up from the end (0 there, negative above).
  const box = h('div', { class: 'conversation-scroll', tabindex: '0', role: 'region', 'aria-label': `Conversation, ${count}` },
    h('ol', { class: 'turns', id: 'prompt' },
      prompt.map(message => h('li', { class: `turn turn-${message.role}`, dataset: { role: message.role } },
        h('span', { class: 'role' }, ROLES[message.role] ?? message.role),
        message.role === 'assistant'
          ? h('div', { class: 'text prose' }, markdown(message.content))
          : h('div', { class: 'text' }, message.content)))));
  if (onScroll) box.addEventListener('scroll', () => onScroll(box.scrollTop));
  // A scroll position can only be set once the box is in the page: `restoreScroll` does it.
  if (top) box.dataset.top = String(top);
  return h('div', { class: 'prompt conversation' },
    h('p', { class: 'conversation-head' }, h('span', { class: 'label' }, 'Conversation'),
      h('span', { class: 'muted' }, ` ${count}; the responses are the assistant's next turn`)),
    box);
}

/** Puts conversations drawn with a `top` back where the labeler had scrolled them. */
export function restoreScroll(root) {
  for (const box of root.querySelectorAll('.conversation-scroll[data-top]')) box.scrollTop = Number(box.dataset.top);
}

/** A prompt in one short line, for a table cell: the text, or a conversation's last message
 * with its speaker and the number of messages. */
export function promptSummary(prompt) {
  if (!isConversation(prompt)) return clip(prompt ?? '', PROMPT_CELL_CHARS);
  const last = prompt[prompt.length - 1];
  return [h('span', { class: 'muted' }, `${messageCount(prompt.length)} · ${ROLES[last.role] ?? last.role}: `), clip(last.content, PROMPT_CELL_CHARS)];
}

/** The answers of a set of tasks, by task key: the answer itself, a tournament's comparisons so
 * far, a ranking list's order, and whether the list replaced the tournament. */
export function emptyAnswers() {
  return { answers: {}, tournaments: {}, orders: {}, listMode: {} };
}

/** The answer choices of a scale-like question, left to right: `[{value, label}]`. */
export function scaleOf(question) {
  switch (question.kind) {
    case 'pairwise': {
      const k = question.strength_max;
      const word = strength => {
        if (k === 1) return '';
        if (k === 2) return strength === 2 ? 'much ' : '';
        if (k === 3) return ['slightly ', '', 'much '][strength - 1];
        return `${strength}/${k} `;
      };
      const out = [];
      for (let v = -k; v <= k; v++) {
        if (v === 0 && !question.allow_tie) continue;
        const label = v === 0 ? 'Tie' : `${v < 0 ? 'A' : 'B'} ${word(Math.abs(v))}better`;
        out.push({ value: v, label });
      }
      return out;
    }
    case 'rating': {
      const out = [];
      for (let v = question.min; v <= question.max; v++) out.push({ value: v, label: String(v) });
      return out;
    }
    case 'choice':
    case 'binary':
      return question.options.map((label, value) => ({ value, label }));
    default:
      return null;
  }
}

/** The digit that picks scale position `index`: ratings whose values are all single digits
 * use the value itself, everything else counts positions from 1. */
export function digitFor(question, scale, index) {
  if (question.kind === 'rating' && question.min >= 0 && question.max <= 9) return String(scale[index].value);
  return index < 9 ? String(index + 1) : null;
}

/** An answer in words, as the labeler saw it (shown order). */
export function answerText(question, answer) {
  if (answer === undefined || answer === null) return 'not answered';
  const scale = scaleOf(question);
  if (scale) return scale.find(c => c.value === answer)?.label ?? String(answer);
  if (question.kind === 'ranking') return answer.map(letter).join(' > ');
  return answer.length > 80 ? `${answer.slice(0, 80)}…` : answer;
}

/** The keys of a task, in one sentence for the instructions panel; in practice Enter checks
 * the answer before it goes on. */
function keysText(kind, practice) {
  if (kind === 'ranking') {
    return `↑ ↓ move between responses, Alt + ↑ ↓ move one, Enter confirms${practice ? ' and then checks' : ''}; in comparisons 1 / 2 pick a side.`;
  }
  if (kind === 'text') return 'Type your answer; Ctrl + Enter goes on.';
  return practice
    ? 'Number keys choose, ← → move along the scale, Enter checks your answer and then goes on.'
    : 'Number keys choose, ← → move along the scale, Enter goes on, Shift + Enter goes back.';
}

/** The instructions beside a task: the question in words, its markdown, and the keys. */
export function instructionsPanel(question, { shown, onHide, practice = false }) {
  return h('aside', { class: `instructions card${shown ? '' : ' collapsed'}`, id: 'instructions', 'aria-label': 'Instructions' },
    h('h2', null, 'Instructions'),
    h('p', { class: 'muted' }, describeQuestion(question)),
    h('div', { class: 'prose' }, markdown(question.instructions)),
    h('h3', null, 'Keys'),
    h('p', { class: 'muted' }, keysText(question.kind, practice)),
    h('p', null, h('button', { type: 'button', class: 'ghost', onclick: onHide }, 'Hide ', h('kbd', null, 'i'))));
}

/**
 * The answering of `question`'s tasks into `state` (from `emptyAnswers()`). The screen supplies
 * `answer(task, value)` (records an answer and draws again; the workspace times it there),
 * `save()` (keep `state`) and `render()` (draw the screen again).
 */
export function answering(question, state, { answer, save, render }) {
  const kind = question.kind;
  let focusRank = 0;

  const orderOf = task => state.orders[task.task] ?? task.responses.map((_, i) => i);
  const tournamentActive = task => kind === 'ranking' && task.responses.length > TOURNAMENT_ABOVE
    && !state.listMode[task.task] && !replay(task.responses.length, state.tournaments[task.task] ?? []).done;

  const moveRank = (task, from, to) => {
    const order = [...orderOf(task)];
    if (to < 0 || to >= order.length) return;
    const [item] = order.splice(from, 1);
    order.splice(to, 0, item);
    state.orders[task.task] = order;
    focusRank = to;
    if (state.answers[task.task] !== undefined) state.answers[task.task] = order;
    save();
    render();
  };

  const tournamentAnswer = (task, leftBetter) => {
    const answers = state.tournaments[task.task] ?? [];
    const now = replay(task.responses.length, answers);
    const candidateBetter = now.question.candidateLeft ? leftBetter : !leftBetter;
    state.tournaments[task.task] = [...answers, candidateBetter];
    const after = replay(task.responses.length, state.tournaments[task.task]);
    if (after.done) {
      state.orders[task.task] = after.sorted;
      answer(task, after.sorted);
      return;
    }
    save();
    render();
  };

  const takeBack = task => {
    state.tournaments[task.task] = (state.tournaments[task.task] ?? []).slice(0, -1);
    save();
    render();
  };

  const responseCard = (text, position, extra = {}) => h('article', { class: `response ${extra.class ?? ''}`, 'aria-label': `Response ${letter(position)}` },
    h('header', null, h('span', { class: 'tag' }, letter(position)),
      extra.marks?.length ? h('span', { class: 'marks' }, extra.marks.map(([cls, text]) => h('span', { class: `badge ${cls}` }, text))) : null,
      extra.hint ? h('kbd', null, extra.hint) : null),
    h('div', { class: 'text prose' }, markdown(text)));

  /** The mark under a scale choice or beside a response after a practice answer is checked. */
  const marksOf = (mine, expected) => [
    mine ? ['mine', 'yours'] : null,
    expected ? ['ok', 'expected'] : null,
  ].filter(Boolean);

  const scaleControl = (task, review) => {
    const scale = scaleOf(question);
    const chosen = state.answers[task.task];
    return h('div', { class: `scale scale-${kind}${review ? ' checked' : ''}`, role: 'radiogroup', 'aria-label': kind === 'pairwise' ? 'Which response is better, and how much?' : 'Your answer' },
      scale.map((choice, index) => {
        const digit = review ? null : digitFor(question, scale, index);
        const selected = chosen === choice.value;
        const expected = review && review.expected === choice.value;
        return h('button', {
          type: 'button', role: 'radio', 'aria-checked': selected ? 'true' : 'false',
          'aria-disabled': review ? 'true' : null,
          class: `choice-btn${selected ? ' selected' : ''}${expected ? ' expected' : ''}${choice.value < 0 && kind === 'pairwise' ? ' lean-a' : ''}${choice.value > 0 && kind === 'pairwise' ? ' lean-b' : ''}`,
          dataset: { value: String(choice.value) },
          onclick: review ? null : () => answer(task, choice.value),
        }, digit ? h('kbd', null, digit) : null, h('span', null, choice.label),
        review && (selected || expected) ? h('small', { class: 'mark' }, marksOf(selected, expected).map(([, text]) => text).join(' · ')) : null);
      }));
  };

  /** A ranking, best first, that cannot be changed: the labeler's and the expected one. */
  const fixedRanking = (task, order, title, id) => h('div', { class: 'stack tight' },
    h('h3', null, title),
    h('ol', { class: 'ranking fixed', id, 'aria-label': title },
      order.map((position, rank) => h('li', { class: 'rank-item' },
        h('span', { class: 'rank' }, String(rank + 1)),
        h('span', { class: 'tag' }, letter(position)),
        h('span', { class: 'text' }, task.responses[position])))));

  const rankingList = task => {
    const order = orderOf(task);
    const list = h('ol', { class: 'ranking', 'aria-label': 'Your ranking, best first' });
    order.forEach((position, rank) => {
      const item = h('li', {
        class: 'rank-item', tabindex: rank === focusRank ? '0' : '-1', draggable: 'true',
        dataset: { rank: String(rank) },
        'aria-label': `Rank ${rank + 1}: response ${letter(position)}`,
      },
      h('span', { class: 'rank' }, String(rank + 1)),
      h('span', { class: 'tag' }, letter(position)),
      h('span', { class: 'text' }, task.responses[position]),
      h('span', { class: 'moves' },
        h('button', { type: 'button', class: 'ghost', 'aria-label': `Move ${letter(position)} up`, disabled: rank === 0, onclick: () => moveRank(task, rank, rank - 1) }, '↑'),
        h('button', { type: 'button', class: 'ghost', 'aria-label': `Move ${letter(position)} down`, disabled: rank === order.length - 1, onclick: () => moveRank(task, rank, rank + 1) }, '↓')));
      item.addEventListener('dragstart', event => {
        event.dataTransfer.setData('text/plain', String(rank));
        event.dataTransfer.effectAllowed = 'move';
        item.classList.add('dragging');
      });
      item.addEventListener('dragend', () => item.classList.remove('dragging'));
      item.addEventListener('dragover', event => {
        event.preventDefault();
        item.classList.add('drop-target');
      });
      item.addEventListener('dragleave', () => item.classList.remove('drop-target'));
      item.addEventListener('drop', event => {
        event.preventDefault();
        const from = Number(event.dataTransfer.getData('text/plain'));
        if (Number.isInteger(from)) moveRank(task, from, rank);
      });
      item.addEventListener('focus', () => {
        focusRank = rank;
      });
      list.append(item);
    });
    const confirmed = state.answers[task.task] !== undefined;
    return h('div', { class: 'stack' },
      list,
      h('div', { class: 'row' },
        confirmed
          ? h('span', { class: 'badge ok' }, 'ranking saved')
          : h('button', { type: 'button', class: 'primary', onclick: () => answer(task, orderOf(task)) }, h('kbd', null, 'Enter'), ' This is my ranking'),
        task.responses.length > TOURNAMENT_ABOVE
          ? h('button', { type: 'button', class: 'ghost', onclick: () => {
            state.listMode[task.task] = false;
            state.tournaments[task.task] = [];
            delete state.answers[task.task];
            save();
            render();
          } }, 'Rank by comparisons instead')
          : null));
  };

  const tournamentControl = task => {
    const n = task.responses.length;
    const now = replay(n, state.tournaments[task.task] ?? []);
    const { candidate, against, candidateLeft } = now.question;
    const [left, right] = candidateLeft ? [candidate, against] : [against, candidate];
    return h('div', { class: 'stack' },
      h('p', { class: 'muted' }, `Comparison ${now.asked + 1} of at most ${comparisonsMax(n)}: which response is better? `,
        'The ranking is built from your answers, so you only read two at a time.'),
      h('div', { class: 'pair' }, responseCard(task.responses[left], left, { hint: '1 ←' }), responseCard(task.responses[right], right, { hint: '2 →' })),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'choice-btn', onclick: () => tournamentAnswer(task, true) }, h('kbd', null, '1'), `${letter(left)} is better`),
        h('button', { type: 'button', class: 'choice-btn', onclick: () => tournamentAnswer(task, false) }, h('kbd', null, '2'), `${letter(right)} is better`),
        h('button', { type: 'button', class: 'ghost', disabled: now.asked === 0, onclick: () => takeBack(task) }, h('kbd', null, 'u'), ' Take back'),
        h('button', { type: 'button', class: 'ghost', onclick: () => {
          state.listMode[task.task] = true;
          save();
          render();
        } }, 'Rank by dragging instead')));
  };

  /** The answer control of `task`; with `review`, the answer given beside the expected one. */
  const control = (task, review = null) => {
    if (kind === 'ranking') {
      if (review) {
        return h('div', { class: 'grid2 rankings' },
          fixedRanking(task, state.answers[task.task] ?? orderOf(task), 'Your ranking', 'my-ranking'),
          fixedRanking(task, review.expected, 'The answer', 'expected-ranking'));
      }
      return tournamentActive(task) ? tournamentControl(task) : rankingList(task);
    }
    if (kind === 'text') {
      const area = h('textarea', { id: 'text-answer', rows: 5, maxlength: question.length_max, 'aria-label': 'Your answer', readonly: review ? true : null });
      area.value = state.answers[task.task] ?? '';
      area.addEventListener('input', () => {
        if (area.value.trim() === '') delete state.answers[task.task];
        else state.answers[task.task] = area.value;
        save();
      });
      return area;
    }
    return scaleControl(task, review);
  };

  /** Where the labeler scrolled each task's conversation, kept across redraws. */
  const conversationTops = {};

  /** The prompt of `task`, if it has one. */
  const prompt = task => promptView(task.prompt, {
    top: conversationTops[task.task],
    onScroll: top => { conversationTops[task.task] = top; },
  });

  /** The responses to read: side by side for a pair (the chosen one, or after a check the
   * expected one, outlined), in a grid for ratings and choices; rankings show theirs in the
   * control. */
  const shown = (task, review = null) => {
    const chosen = state.answers[task.task];
    if (kind === 'pairwise') {
      const side = (position, sign) => {
        const mine = chosen !== undefined && Math.sign(chosen) === sign;
        const expected = review && Math.sign(review.expected) === sign;
        const cls = review ? (expected ? 'expected' : '') : (mine ? 'preferred' : '');
        const marks = review ? [mine ? ['mine', 'you chose'] : null, expected ? ['ok', 'better'] : null].filter(Boolean) : null;
        return responseCard(task.responses[position], position, { class: cls, marks });
      };
      return h('div', { class: 'pair' }, side(0, -1), side(1, 1));
    }
    if (kind === 'ranking') return null;
    return task.responses.length ? h('div', { class: 'responses' }, task.responses.map((r, i) => responseCard(r, i))) : null;
  };

  /** The answer keys of `task`: scale digits and arrows, tournament sides and take-back,
   * ranking moves. Returns whether the key was one. */
  const onKey = (event, task) => {
    if (kind === 'ranking') {
      if (tournamentActive(task)) {
        if (event.key === '1' || event.key === 'ArrowLeft') { tournamentAnswer(task, true); return true; }
        if (event.key === '2' || event.key === 'ArrowRight') { tournamentAnswer(task, false); return true; }
        if (event.key === 'u' && (state.tournaments[task.task] ?? []).length) {
          takeBack(task);
          return true;
        }
        return false;
      }
      if (event.key === 'ArrowUp' || event.key === 'ArrowDown') {
        const delta = event.key === 'ArrowUp' ? -1 : 1;
        if (event.altKey) {
          moveRank(task, focusRank, focusRank + delta);
        } else {
          focusRank = Math.max(0, Math.min(task.responses.length - 1, focusRank + delta));
          render();
        }
        return true;
      }
      return false;
    }
    const scale = scaleOf(question);
    if (!scale) return false;
    const index = scale.findIndex((_, i) => digitFor(question, scale, i) === event.key);
    if (index >= 0) {
      answer(task, scale[index].value);
      return true;
    }
    if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
      const chosen = scale.findIndex(c => c.value === state.answers[task.task]);
      const start = chosen >= 0 ? chosen : Math.floor((scale.length - (event.key === 'ArrowLeft' ? 0 : 1)) / 2);
      const target = chosen >= 0 ? chosen + (event.key === 'ArrowLeft' ? -1 : 1) : start;
      answer(task, scale[Math.max(0, Math.min(scale.length - 1, target))].value);
      return true;
    }
    return false;
  };

  /** Whether Enter on an unanswered task may stand for the answer: a ranking list as it is. */
  const confirmAsIs = task => {
    if (kind !== 'ranking' || tournamentActive(task)) return false;
    answer(task, orderOf(task));
    return true;
  };

  return {
    prompt,
    shown,
    control,
    onKey,
    confirmAsIs,
    /** A new task starts with the first ranked response focused. */
    resetFocus: () => { focusRank = 0; },
    /** Puts back what a redraw loses: the conversation's scroll position and the keyboard
     * focus on the focused ranked response. */
    restoreFocus: root => {
      restoreScroll(root);
      if (kind === 'ranking') root.querySelector(`.rank-item[data-rank="${focusRank}"]`)?.focus({ preventScroll: true });
    },
  };
}
