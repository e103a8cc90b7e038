// The labeling workspace: one task at a time, keyboard first, with the instructions beside it,
// progress, a warning when an answer comes faster than the experiment's minimum time, a review
// of the whole batch, and the commit. After the commit the same route shows the sealed batch,
// offers the reveal as soon as the commit deadline passes, and shows the earnings once settled.

import { h, amount, duration, markdown, replace, score, short, when } from '../dom.js';
import { toCanonical } from '../protocol.js';
import { comparisonsMax, replay } from '../tournament.js';
import { commit, reveal, revealLeftWithOperator } from '../flows.js';
import { describeQuestion, phaseBadge, tierBadge } from './common.js';

/** Rankings of more responses than this are built by a pairwise tournament by default. */
const TOURNAMENT_ABOVE = 4;

const letter = i => (i < 26 ? String.fromCharCode(65 + i) : `#${i + 1}`);

function draftKey(id, batchId, address) {
  return `plumbline.draft.${id}.${batchId}.${address}`;
}

function loadDraft(key) {
  const empty = { answers: {}, rationales: {}, times: {}, tournaments: {}, orders: {}, listMode: {}, fast: {}, current: 0 };
  try {
    return { ...empty, ...JSON.parse(localStorage.getItem(key) ?? '{}') };
  } catch {
    return empty;
  }
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
function digitFor(question, scale, index) {
  if (question.kind === 'rating' && question.min >= 0 && question.max <= 9) return String(scale[index].value);
  return index < 9 ? String(index + 1) : null;
}

function answerText(question, task, answer) {
  if (answer === undefined || answer === null) return 'not answered';
  const scale = scaleOf(question);
  if (scale) return scale.find(c => c.value === answer)?.label ?? String(answer);
  if (question.kind === 'ranking') return answer.map(letter).join(' > ');
  return answer.length > 80 ? `${answer.slice(0, 80)}…` : answer;
}

function sealedView(app, experiment, mine) {
  const id = experiment.experiment_id;
  const status = h('p', { class: 'error', role: 'alert' });
  const parts = [
    h('p', { class: 'crumbs' }, h('a', { href: '#/label' }, 'Labeling'), ' / ', h('a', { href: `#/x/${id}` }, experiment.title), ` / batch ${mine.batch_id}`),
    h('h1', null, `Batch ${mine.batch_id} `, phaseBadge(experiment.phase)),
    h('dl', { class: 'facts' },
      h('dt', null, 'Commitment'), h('dd', null, h('code', { class: 'break', id: 'commitment' }, mine.commitment)),
      h('dt', null, 'Sealed at'), h('dd', null, when(mine.committed_at)),
      h('dt', null, 'Reveal window'), h('dd', null, `${when(experiment.commit_deadline)} – ${when(experiment.reveal_deadline)}`)),
  ];
  if (mine.revealed_at != null) {
    parts.push(h('div', { class: 'notice ok', id: 'revealed' },
      `Revealed at ${when(mine.revealed_at)}. The experiment settles after ${when(experiment.reveal_deadline)}; your earnings appear here then.`));
  } else if (experiment.phase === 'revealing') {
    const button = h('button', { class: 'primary big', type: 'button', id: 'reveal', 'data-autofocus': '' }, 'Reveal my labels now');
    button.addEventListener('click', async () => {
      button.disabled = true;
      status.textContent = '';
      try {
        await reveal(app, experiment, mine.batch_id, mine.commitment);
        app.notify('Your labels are revealed.', 'ok');
        app.render();
      } catch (error) {
        status.textContent = app.describe(error);
        button.disabled = false;
      }
    });
    parts.push(h('div', { class: 'notice action', id: 'reveal-offer' },
      h('p', null, `The commit deadline has passed. Reveal before ${when(experiment.reveal_deadline)}: an unrevealed batch loses `,
        `${Math.max(experiment.spec.non_reveal_slash_bps, experiment.spec.slash_bps) / 100}% of its stake.`),
      button, status));
  } else {
    const left = revealLeftWithOperator(id, mine.batch_id, app.signer.address);
    parts.push(h('div', { class: 'notice', id: 'sealed' },
      left
        ? h('p', { id: 'left-with-operator' }, 'Your labels are sealed: other labelers see only their commitment. You left your reveal with the operator, so the server reveals them at the commit deadline even if you do not come back.')
        : h('p', null, 'Your labels are sealed: the server holds only their commitment and an encrypted backup that only your key opens.'),
      h('p', null, `The reveal opens at the commit deadline, ${when(experiment.commit_deadline)}. This page offers it as soon as it opens, and your next visit does it for you.`)));
  }
  // Poll for the next phase, so the reveal is offered the moment the deadline passes and the
  // earnings appear the moment the experiment settles.
  app.every(2000, async () => {
    try {
      const now = await app.api.experiment(id);
      if (now.phase !== experiment.phase) app.render();
    } catch {
      // A missed poll is retried on the next tick.
    }
  });
  return h('section', { class: 'stack narrow' }, parts);
}

async function earningsView(app, experiment, mine) {
  const id = experiment.experiment_id;
  const settlement = await app.api.settlement(id);
  const me = settlement.labelers.find(l => l.labeler.toLowerCase() === app.signer.address.toLowerCase());
  await app.refreshAccount();
  const rows = me ? [
    ['Tier', tierBadge(me.tier)],
    ['Score', `${score(me.score)} over ${me.tally.peer_n} peer and ${me.tally.gold_n} gold items`],
    ['Reward bound', score(me.reward_bound)],
    ['Stake', amount(me.stake)],
    ['Stake returned', amount(me.stake_returned)],
    ['Reward', amount(me.reward)],
    ['Slashed', amount(BigInt(me.slash) + BigInt(me.non_reveal_penalty) + BigInt(me.chance_fee ?? 0) + BigInt(me.copy_fee ?? 0))],
    ['Payout', h('strong', { id: 'payout' }, amount(me.payout))],
  ] : [];
  return h('section', { class: 'stack narrow' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/label' }, 'Labeling'), ' / ', experiment.title, ` / batch ${mine.batch_id}`),
    h('h1', null, 'Earnings ', phaseBadge(experiment.phase)),
    me
      ? h('dl', { class: 'facts', id: 'earnings' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]))
      : h('p', null, 'The settlement has no line for you.'),
    h('p', { class: 'muted' }, 'Scores are chance-corrected: 0 is what guessing earns. The reward bound must be above 0 to be rewarded; ',
      'it tightens as you label more items.'),
    h('p', null, h('a', { href: '#/label', class: 'button' }, 'Back to labeling')));
}

function missedView(experiment, mine) {
  return h('section', { class: 'panel narrow' },
    h('h1', null, `Batch ${mine.batch_id} `, phaseBadge(experiment.phase)),
    h('p', null, `This batch was not committed before the commit deadline (${when(experiment.commit_deadline)}). `,
      'It counts as not revealed at settlement.'),
    h('p', null, h('a', { href: '#/label' }, 'Back to labeling')));
}

function labelingView(app, experiment, batch, mine, sealingKey) {
  const id = experiment.experiment_id;
  const spec = experiment.spec;
  const question = spec.question;
  const kind = question.kind;
  const tasks = batch.tasks;
  const key = draftKey(id, batch.batch_id, app.signer.address);
  const draft = loadDraft(key);
  const secondsMin = spec.limits.seconds_per_task_min;
  let mode = 'label';
  let showInstructions = window.matchMedia('(min-width: 900px)').matches;
  let enteredAt = performance.now();
  let warning = null;
  let focusRank = 0;
  const root = h('section', { class: 'workspace', id: 'workspace' });
  const save = () => localStorage.setItem(key, JSON.stringify(draft));
  const current = () => tasks[draft.current];
  const answered = () => tasks.filter(t => draft.answers[t.task] !== undefined).length;

  const spent = task => (draft.times[task] ?? 0)
    + (tasks[draft.current]?.task === task && mode === 'label' ? (performance.now() - enteredAt) / 1000 : 0);

  const leaveTask = () => {
    const task = current().task;
    draft.times[task] = spent(task);
    enteredAt = performance.now();
  };

  const goTo = index => {
    leaveTask();
    mode = 'label';
    draft.current = Math.max(0, Math.min(tasks.length - 1, index));
    warning = null;
    focusRank = 0;
    save();
    render();
  };

  const setAnswer = value => {
    const task = current().task;
    const first = draft.answers[task] === undefined;
    draft.answers[task] = value;
    const took = spent(task);
    if (first && secondsMin > 0 && took < secondsMin) {
      draft.fast[task] = took;
      warning = took;
    }
    save();
    render();
  };

  const next = () => {
    const task = current();
    if (draft.answers[task.task] === undefined) {
      if (kind === 'ranking' && !tournamentActive(task)) {
        setAnswer(orderOf(task));
        return;
      }
      app.notify('Choose an answer first (or press ? for the shortcuts).', 'warn');
      return;
    }
    if (draft.current === tasks.length - 1) {
      leaveTask();
      mode = 'review';
      save();
      render();
      return;
    }
    goTo(draft.current + 1);
  };

  const orderOf = task => draft.orders[task.task] ?? task.responses.map((_, i) => i);
  const tournamentActive = task => kind === 'ranking' && task.responses.length > TOURNAMENT_ABOVE
    && !draft.listMode[task.task] && !replay(task.responses.length, draft.tournaments[task.task] ?? []).done;

  const moveRank = (task, from, to) => {
    const order = [...orderOf(task)];
    if (to < 0 || to >= order.length) return;
    const [item] = order.splice(from, 1);
    order.splice(to, 0, item);
    draft.orders[task.task] = order;
    focusRank = to;
    if (draft.answers[task.task] !== undefined) draft.answers[task.task] = order;
    save();
    render();
  };

  const tournamentAnswer = (task, leftBetter) => {
    const answers = draft.tournaments[task.task] ?? [];
    const state = replay(task.responses.length, answers);
    const candidateBetter = state.question.candidateLeft ? leftBetter : !leftBetter;
    draft.tournaments[task.task] = [...answers, candidateBetter];
    const after = replay(task.responses.length, draft.tournaments[task.task]);
    if (after.done) {
      draft.orders[task.task] = after.sorted;
      setAnswer(after.sorted);
      return;
    }
    save();
    render();
  };

  // ---- Rendering ----

  const responseCard = (text, position, extra = {}) => h('article', { class: `response ${extra.class ?? ''}`, 'aria-label': `Response ${letter(position)}` },
    h('header', null, h('span', { class: 'tag' }, letter(position)), extra.hint ? h('kbd', null, extra.hint) : null),
    h('div', { class: 'text' }, text));

  const scaleControl = task => {
    const scale = scaleOf(question);
    const chosen = draft.answers[task.task];
    return h('div', { class: `scale scale-${kind}`, role: 'radiogroup', 'aria-label': kind === 'pairwise' ? 'Which response is better, and how much?' : 'Your answer' },
      scale.map((choice, index) => {
        const digit = digitFor(question, scale, index);
        const selected = chosen === choice.value;
        return h('button', {
          type: 'button', role: 'radio', 'aria-checked': selected ? 'true' : 'false',
          class: `choice-btn${selected ? ' selected' : ''}${choice.value < 0 && kind === 'pairwise' ? ' lean-a' : ''}${choice.value > 0 && kind === 'pairwise' ? ' lean-b' : ''}`,
          dataset: { value: String(choice.value) },
          onclick: () => setAnswer(choice.value),
        }, digit ? h('kbd', null, digit) : null, h('span', null, choice.label));
      }));
  };

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
    const confirmed = draft.answers[task.task] !== undefined;
    return h('div', { class: 'stack' },
      list,
      h('div', { class: 'row' },
        confirmed
          ? h('span', { class: 'badge ok' }, 'ranking saved')
          : h('button', { type: 'button', class: 'primary', onclick: () => setAnswer(orderOf(task)) }, h('kbd', null, 'Enter'), ' This is my ranking'),
        task.responses.length > TOURNAMENT_ABOVE
          ? h('button', { type: 'button', class: 'ghost', onclick: () => {
            draft.listMode[task.task] = false;
            draft.tournaments[task.task] = [];
            delete draft.answers[task.task];
            save();
            render();
          } }, 'Rank by comparisons instead')
          : null));
  };

  const tournamentControl = task => {
    const n = task.responses.length;
    const state = replay(n, draft.tournaments[task.task] ?? []);
    const { candidate, against, candidateLeft } = state.question;
    const [left, right] = candidateLeft ? [candidate, against] : [against, candidate];
    return h('div', { class: 'stack' },
      h('p', { class: 'muted' }, `Comparison ${state.asked + 1} of at most ${comparisonsMax(n)}: which response is better? `,
        'The ranking is built from your answers, so you only read two at a time.'),
      h('div', { class: 'pair' }, responseCard(task.responses[left], left, { hint: '1 ←' }), responseCard(task.responses[right], right, { hint: '2 →' })),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'choice-btn', onclick: () => tournamentAnswer(task, true) }, h('kbd', null, '1'), `${letter(left)} is better`),
        h('button', { type: 'button', class: 'choice-btn', onclick: () => tournamentAnswer(task, false) }, h('kbd', null, '2'), `${letter(right)} is better`),
        h('button', { type: 'button', class: 'ghost', disabled: state.asked === 0, onclick: () => {
          draft.tournaments[task.task] = (draft.tournaments[task.task] ?? []).slice(0, -1);
          save();
          render();
        } }, h('kbd', null, 'u'), ' Take back'),
        h('button', { type: 'button', class: 'ghost', onclick: () => {
          draft.listMode[task.task] = true;
          save();
          render();
        } }, 'Rank by dragging instead')));
  };

  const answerControl = task => {
    if (kind === 'ranking') return tournamentActive(task) ? tournamentControl(task) : rankingList(task);
    if (kind === 'text') {
      const area = h('textarea', { id: 'text-answer', rows: 5, maxlength: question.length_max, 'aria-label': 'Your answer' });
      area.value = draft.answers[task.task] ?? '';
      area.addEventListener('input', () => {
        if (area.value.trim() === '') delete draft.answers[task.task];
        else draft.answers[task.task] = area.value;
        save();
      });
      return area;
    }
    return scaleControl(task);
  };

  const rationaleControl = task => {
    if (!question.rationale) return null;
    const area = h('textarea', { id: 'rationale', rows: 3, placeholder: 'Why? (optional)' });
    area.value = draft.rationales[task.task] ?? '';
    area.addEventListener('input', () => {
      draft.rationales[task.task] = area.value;
      save();
    });
    return h('div', { class: 'rationale' },
      h('label', { for: 'rationale' }, 'Rationale ', h('kbd', null, 'r'), h('small', { class: 'muted' }, ' kept with your labels in the encrypted backup')),
      area);
  };

  const taskView = () => {
    const task = current();
    const shownResponses = kind === 'ranking' || kind === 'pairwise'
      ? null
      : task.responses.length ? h('div', { class: 'responses' }, task.responses.map((r, i) => responseCard(r, i))) : null;
    const chosen = draft.answers[task.task];
    const pair = kind === 'pairwise'
      ? h('div', { class: 'pair' },
        responseCard(task.responses[0], 0, { class: chosen < 0 ? 'preferred' : '' }),
        responseCard(task.responses[1], 1, { class: chosen > 0 ? 'preferred' : '' }))
      : null;
    return h('div', { class: 'task card', dataset: { task: String(task.task) } },
      h('h2', { class: 'task-title' }, `Task ${draft.current + 1} of ${tasks.length}`),
      task.prompt ? h('div', { class: 'prompt' }, h('span', { class: 'label' }, 'Prompt'), h('div', { class: 'text', id: 'prompt' }, task.prompt)) : null,
      pair,
      shownResponses,
      warning !== null
        ? h('div', { class: 'notice warn', role: 'alert', id: 'fast-warning' },
          `That took ${warning < 0.1 ? 'less than 0.1' : warning.toFixed(1)} s; this experiment asks for at least ${secondsMin} s per task. `,
          'Fast answers tend to disagree with peers and the hidden gold tasks, and those are what the score checks. Take another look before going on.')
        : null,
      answerControl(task),
      rationaleControl(task),
      h('div', { class: 'row nav' },
        h('button', { type: 'button', disabled: draft.current === 0, onclick: () => goTo(draft.current - 1) }, '← Previous ', h('kbd', null, 'Shift+Enter')),
        h('button', { type: 'button', class: 'primary', id: 'next', onclick: next },
          draft.current === tasks.length - 1 ? 'Review batch ' : 'Next ', h('kbd', null, 'Enter'))));
  };

  const navigator = () => h('nav', { class: 'tasknav', 'aria-label': 'Tasks' },
    h('ol', null, tasks.map((t, i) => h('li', null, h('button', {
      type: 'button',
      class: `dot${draft.answers[t.task] !== undefined ? ' done' : ''}${i === draft.current && mode === 'label' ? ' current' : ''}`,
      'aria-label': `Task ${i + 1}${draft.answers[t.task] !== undefined ? ', answered' : ''}`,
      onclick: () => goTo(i),
    }, String(i + 1))))));

  const reviewView = () => {
    const status = h('p', { class: 'error', role: 'alert' });
    const steps = h('ol', { class: 'steps', id: 'commit-steps' });
    const stepNames = {
      salt: 'Deriving the salt from your signature of Salt(experiment, batch)',
      root: 'Computing the labels root and the commitment',
      sign: 'Signing Commit(experiment, batch, commitment)',
      backup: 'Encrypting the backup of your labels',
      leave: 'Signing Reveal and sealing it to the operator',
      send: 'Sending the commitment',
    };
    const missing = tasks.filter(t => draft.answers[t.task] === undefined);
    const fast = tasks.filter(t => draft.fast[t.task] !== undefined).length;
    const earliest = mine.assigned_at + batch.work_secs_min;
    const button = h('button', { class: 'primary big', type: 'button', id: 'commit', 'data-autofocus': '', disabled: missing.length > 0 }, 'Seal and commit my labels');
    // Leaving the reveal with the operator is on by default where the server offers it: then
    // nobody loses a stake for not coming back.
    const leave = sealingKey ? h('input', { type: 'checkbox', id: 'leave-reveal', checked: true }) : null;
    button.addEventListener('click', async () => {
      button.disabled = true;
      status.textContent = '';
      replace(steps);
      const labels = tasks.map(t => ({ task: t.task, label: toCanonical(kind, draft.answers[t.task], t.response_order) }));
      const rationales = {};
      for (const t of tasks) if (draft.rationales[t.task]?.trim()) rationales[t.task] = draft.rationales[t.task];
      try {
        const leaveWith = leave?.checked ? sealingKey : null;
        await commit(app, experiment, batch.batch_id, labels, { rationales, seconds: draft.times }, step => {
          steps.append(h('li', null, stepNames[step]));
        }, leaveWith);
        app.notify('Sealed. Your labels stay hidden until the commit deadline.', 'ok');
        await app.refreshAccount();
        app.render();
      } catch (error) {
        status.textContent = app.describe(error);
        button.disabled = false;
      }
    });
    return h('div', { class: 'card review', id: 'review' },
      h('h2', null, 'Review your batch'),
      h('div', { class: 'scroll' }, h('table', { class: 'table' },
        h('thead', null, h('tr', null, ['#', 'Prompt', 'Your answer', ''].map(t => h('th', { scope: 'col' }, t)))),
        h('tbody', null, tasks.map((t, i) => h('tr', null,
          h('td', { class: 'num' }, String(i + 1)),
          h('td', null, t.prompt.length > 90 ? `${t.prompt.slice(0, 90)}…` : t.prompt),
          h('td', null, answerText(question, t, draft.answers[t.task]), draft.fast[t.task] !== undefined ? h('span', { class: 'badge warn' }, 'fast') : null),
          h('td', null, h('button', { type: 'button', class: 'ghost', onclick: () => goTo(i) }, 'Edit'))))))),
      missing.length ? h('p', { class: 'error' }, `${missing.length} task(s) still need an answer.`) : null,
      fast ? h('p', { class: 'notice warn' }, `${fast} answer(s) came faster than ${secondsMin} s. Edit them if you are unsure.`) : null,
      h('p', null, 'Committing seals your answers: the server keeps only a commitment and an encrypted backup until the commit deadline ',
        `(${when(experiment.commit_deadline)}), so nobody can copy them. You cannot change them afterwards.`),
      leave ? h('div', { class: 'field check explained' }, leave,
        h('label', { for: 'leave-reveal' }, 'Reveal for me at the commit deadline. ',
          h('span', { class: 'muted' }, 'Your signed reveal goes along sealed to the operator\'s key, and the server reveals it if you have not by then. The operator can read these labels before the deadline; other labelers cannot.'))) : null,
      app.now() < earliest ? h('p', { class: 'muted' }, `The server accepts this commit from ${when(earliest)} on (the batch's minimum working time).`) : null,
      button, steps, status);
  };

  const render = () => {
    const instructions = h('aside', { class: `instructions card${showInstructions ? '' : ' collapsed'}`, id: 'instructions', 'aria-label': 'Instructions' },
      h('h2', null, 'Instructions'),
      h('p', { class: 'muted' }, describeQuestion(question)),
      h('div', { class: 'prose' }, markdown(question.instructions)),
      h('h3', null, 'Keys'),
      h('p', { class: 'muted' }, kind === 'ranking' ? '↑ ↓ move between responses, Alt + ↑ ↓ move one, Enter confirms; in comparisons 1 / 2 pick a side.'
        : kind === 'text' ? 'Type your answer; Ctrl + Enter goes on.'
          : 'Number keys choose, ← → move along the scale, Enter goes on, Shift + Enter goes back.'),
      h('p', null, h('button', { type: 'button', class: 'ghost', onclick: () => { showInstructions = false; render(); } }, 'Hide ', h('kbd', null, 'i'))));
    const progress = h('progress', { max: String(tasks.length), value: String(answered()), 'aria-label': 'Answered' });
    const top = h('div', { class: 'worktop' },
      h('div', null,
        h('p', { class: 'crumbs' }, h('a', { href: `#/x/${id}` }, experiment.title), ` / batch ${batch.batch_id}`),
        h('p', { class: 'count', id: 'progress' }, `${answered()} of ${tasks.length} answered`,
          h('span', { class: 'muted' }, ` · commit by ${when(experiment.commit_deadline)} (in ${duration(experiment.commit_deadline - app.now())})`))),
      progress,
      h('button', { type: 'button', class: 'ghost', 'aria-expanded': showInstructions ? 'true' : 'false', 'aria-controls': 'instructions', onclick: () => { showInstructions = !showInstructions; render(); } },
        'Instructions ', h('kbd', null, 'i')));
    replace(root, top,
      h('div', { class: `workgrid${showInstructions ? '' : ' wide'}` },
        h('div', { class: 'stack' }, mode === 'review' ? reviewView() : taskView(), navigator()),
        showInstructions ? instructions : null));
    if (mode === 'label' && kind === 'ranking') {
      root.querySelector(`.rank-item[data-rank="${focusRank}"]`)?.focus({ preventScroll: true });
    }
    if (mode === 'review') root.querySelector('#commit')?.focus({ preventScroll: true });
  };

  app.onKey = event => {
    if (event.key === 'Escape') {
      if (document.activeElement instanceof HTMLElement && document.activeElement.matches('textarea')) {
        document.activeElement.blur();
        return true;
      }
      if (mode === 'review') {
        goTo(tasks.length - 1);
        return true;
      }
      return false;
    }
    if (event.key === 'i') {
      showInstructions = !showInstructions;
      render();
      return true;
    }
    if (mode === 'review') return false;
    const task = current();
    // Enter on a focused button or link presses it, as everywhere else; the shortcut is for
    // when the focus rests on the page or on a ranked response.
    const target = event.target;
    if (event.key === 'Enter' && target instanceof HTMLElement && target.matches('button, a[href]')) return false;
    if (event.key === 'Enter') {
      if (event.shiftKey) {
        if (draft.current > 0) goTo(draft.current - 1);
      } else {
        next();
      }
      return true;
    }
    if (event.key === 'r' && question.rationale) {
      root.querySelector('#rationale')?.focus();
      return true;
    }
    if (kind === 'ranking') {
      if (tournamentActive(task)) {
        if (event.key === '1' || event.key === 'ArrowLeft') { tournamentAnswer(task, true); return true; }
        if (event.key === '2' || event.key === 'ArrowRight') { tournamentAnswer(task, false); return true; }
        if (event.key === 'u' && (draft.tournaments[task.task] ?? []).length) {
          draft.tournaments[task.task] = draft.tournaments[task.task].slice(0, -1);
          save();
          render();
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
      setAnswer(scale[index].value);
      return true;
    }
    if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
      const chosen = scale.findIndex(c => c.value === draft.answers[task.task]);
      const start = chosen >= 0 ? chosen : Math.floor((scale.length - (event.key === 'ArrowLeft' ? 0 : 1)) / 2);
      const target = chosen >= 0 ? chosen + (event.key === 'ArrowLeft' ? -1 : 1) : start;
      setAnswer(scale[Math.max(0, Math.min(scale.length - 1, target))].value);
      return true;
    }
    return false;
  };

  render();
  return root;
}

export async function workspaceScreen(app, id, batchId) {
  const [experiment, work] = await Promise.all([app.api.experiment(id), app.api.work(id, app.signer.address)]);
  app.sawServerClock(work.now);
  const mine = work.batches.find(b => String(b.batch_id) === String(batchId));
  if (!mine) {
    return h('section', { class: 'panel narrow' },
      h('h1', null, 'Not your batch'),
      h('p', null, `Batch ${batchId} was not assigned to ${short(app.signer.address)}.`),
      h('p', null, h('a', { href: `#/x/${id}` }, 'See the experiment')));
  }
  if (experiment.phase === 'settled') return earningsView(app, experiment, mine);
  if (mine.committed_at != null) return sealedView(app, experiment, mine);
  if (experiment.phase !== 'open') return missedView(experiment, mine);
  // A batch is private to its labeler until settlement: read it signed in.
  const [batch, sealing] = await Promise.all([
    app.withSession(() => app.api.batch(id, batchId)),
    app.api.sealingKey(),
  ]);
  return labelingView(app, experiment, batch, mine, sealing.public_key);
}
