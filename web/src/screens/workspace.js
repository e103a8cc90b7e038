// The labeling workspace: one task at a time, keyboard first, with the instructions beside it,
// progress, a warning when an answer comes faster than the experiment's minimum time, a calm
// suggestion to take a break when the labeler's pace changes (pace.js), a review of the whole
// batch, and the commit. After the commit the same route shows the sealed batch,
// offers the reveal as soon as the commit deadline passes, and shows the earnings once settled.
// In an experiment with rounds each of these names the batch's round and uses that round's
// deadlines, and once the round is over the sealed batch offers the next round's join.
// The task itself and its answer controls are answering.js's, shared with practice.

import { h, amount, duration, replace, score, short, when } from '../dom.js';
import { toCanonical } from '../protocol.js';
import { commit, reveal, revealLeftWithOperator } from '../flows.js';
import { isMine, phaseBadge, tierBadge } from './common.js';
import { answerText, answering, emptyAnswers, instructionsPanel, promptSummary } from './answering.js';
import { hasRounds, nextRoundNote, nextRoundOffer, roundName, roundOfBatch, roundStats, roundsCard } from './rounds.js';
import { PACE, breakDue, paceFrom, recordAnswer, snooze } from '../pace.js';
import { roundWindows } from '../rounds.js';

function draftKey(id, batchId, address) {
  return `plumbline.draft.${id}.${batchId}.${address}`;
}

function loadDraft(key) {
  const empty = { ...emptyAnswers(), rationales: {}, times: {}, fast: {}, current: 0 };
  try {
    return { ...empty, ...JSON.parse(localStorage.getItem(key) ?? '{}') };
  } catch {
    return empty;
  }
}

/** The wall clock in seconds: pauses and sessions are the labeler's time, not the server's. */
const wallNow = () => Date.now() / 1000;

/** The labeler's pace in this browser tab, across batches and experiments (a session is the
 * labeler's, not a batch's): kept in `sessionStorage`, so a reload keeps it and a new tab
 * starts afresh. */
function paceStore(address) {
  const key = `plumbline.pace.${address.toLowerCase()}`;
  let stored = null;
  try {
    stored = JSON.parse(sessionStorage.getItem(key) ?? 'null');
  } catch {
    // An unreadable log starts afresh.
  }
  let log = paceFrom(stored, wallNow());
  const keep = next => {
    log = next;
    try {
      sessionStorage.setItem(key, JSON.stringify(log));
    } catch {
      // Without storage the suggestion still works for this page.
    }
  };
  keep(log);
  return {
    answered: seconds => keep(recordAnswer(log, wallNow(), seconds)),
    dismiss: () => keep(snooze(log, wallNow())),
    due: () => breakDue(log, wallNow()),
  };
}

/** What the sealed view says of a batch that is not yet revealed: the reveal offer in its
 * round's reveal window, that it missed that window once its round is over, or that it is
 * sealed until the commit deadline. */
function unrevealedNotice(app, experiment, mine, window, current) {
  const id = experiment.experiment_id;
  if (!current) {
    return h('div', { class: 'notice error', id: 'not-revealed' },
      `This batch was not revealed before its round's reveal deadline (${when(window.reveal_deadline)}), so it counts as not revealed at settlement.`);
  }
  if (experiment.phase === 'revealing') {
    const status = h('p', { class: 'error', role: 'alert' });
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
    return h('div', { class: 'notice action', id: 'reveal-offer' },
      h('p', null, `${experiment.spec.commits_closed_at ? 'The experimenter closed commits early: every batch taken is committed.' : 'The commit deadline has passed.'} Reveal before ${when(window.reveal_deadline)}: an unrevealed batch loses `,
        `${Math.max(experiment.spec.non_reveal_slash_bps, experiment.spec.slash_bps) / 100}% of its stake.`),
      button, status);
  }
  const left = revealLeftWithOperator(id, mine.batch_id, app.signer.address);
  return h('div', { class: 'notice', id: 'sealed' },
    left
      ? h('p', { id: 'left-with-operator' }, 'Your labels are sealed: other labelers see only their commitment. You left your reveal with the operator, so the server reveals them at the commit deadline even if you do not come back.')
      : h('p', null, 'Your labels are sealed: the server holds only their commitment and an encrypted backup that only your key opens.'),
    h('p', null, `The reveal opens at the commit deadline, ${when(window.commit_deadline)}. This page offers it as soon as it opens, and your next visit does it for you.`));
}

/** A committed batch. With rounds its deadlines are its own round's, which need not be the
 * experiment's current ones; once its round is over a new round's join is offered here. */
function sealedView(app, experiment, mine, work, stats) {
  const id = experiment.experiment_id;
  const windows = roundWindows(experiment.spec);
  const round = roundOfBatch(experiment, mine);
  const window = windows[round];
  const rounds = hasRounds(experiment);
  const parts = [
    h('p', { class: 'crumbs' }, h('a', { href: '#/label' }, 'Labeling'), ' / ', h('a', { href: `#/x/${id}` }, experiment.title), ` / batch ${mine.batch_id}`),
    h('h1', null, `Batch ${mine.batch_id} `, phaseBadge(experiment.phase)),
    h('dl', { class: 'facts' },
      rounds ? [h('dt', null, 'Round'), h('dd', { id: 'batch-round' }, roundName(round, experiment.rounds))] : null,
      h('dt', null, 'Commitment'), h('dd', null, h('code', { class: 'break', id: 'commitment' }, mine.commitment)),
      h('dt', null, 'Sealed at'), h('dd', null, when(mine.committed_at)),
      h('dt', null, 'Reveal window'), h('dd', null, `${when(window.commit_deadline)} – ${when(window.reveal_deadline)}`)),
  ];
  if (mine.revealed_at != null) {
    const settles = windows[windows.length - 1].reveal_deadline;
    parts.push(h('div', { class: 'notice ok', id: 'revealed' },
      `Revealed at ${when(mine.revealed_at)}. The experiment settles after ${rounds ? 'its last round, ' : ''}${when(settles)}; your earnings appear here then.`));
    parts.push(nextRoundNote(experiment, round));
  } else {
    parts.push(unrevealedNotice(app, experiment, mine, window, round === experiment.round));
  }
  parts.push(nextRoundOffer(experiment, work, round));
  if (rounds) parts.push(roundsCard(experiment, work, stats, app.now()));
  // Poll for the next phase (with rounds, the next round too), so the reveal is offered the
  // moment the deadline passes, a new round's join the moment it opens, and the earnings the
  // moment the experiment settles; in the batch's own reveal window, also for the batch's
  // reveal, which the server makes at its next tick for a reveal left with it (the phase may
  // turn a moment before that tick).
  app.every(2000, async () => {
    try {
      const now = await app.api.experiment(id);
      if (now.phase !== experiment.phase || now.round !== experiment.round) {
        app.render();
      } else if (now.phase === 'revealing' && now.round === round && mine.revealed_at == null) {
        const work = await app.api.work(id, app.signer.address);
        const batch = work.batches.find(b => String(b.batch_id) === String(mine.batch_id));
        if (batch?.revealed_at != null) app.render();
      }
    } catch {
      // A missed poll is retried on the next tick.
    }
  });
  return h('section', { class: 'stack narrow' }, parts);
}

// The reward test's p-value: how often labels like these would score this high by chance.
function rewardTest(pPpm, falseRewardRate) {
  if (pPpm == null) return 'not above chance';
  return `p = ${(pPpm / 1e6).toFixed(2)} (rewarded at p ≤ ${Number(falseRewardRate)})`;
}

async function earningsView(app, experiment, mine, work, stats) {
  const id = experiment.experiment_id;
  const settlement = await app.api.settlement(id);
  const me = settlement.labelers.find(l => isMine(app, l.labeler));
  await app.refreshAccount();
  const rows = me ? [
    ['Tier', tierBadge(me.tier)],
    ['Score', `${score(me.score)} over ${me.tally.peer_n} peer and ${me.tally.gold_n} gold items`],
    ['Reward test', rewardTest(me.reward_p_ppm, experiment.spec.false_reward_rate)],
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
    h('p', { class: 'muted' }, 'Scores are chance-corrected: 0 is what guessing earns. The reward test compares your labels with ',
      'shuffles of them over the same tasks (on a pairwise question, among tasks whose longer response is on the same side, so answering by length ',
      'earns nothing): p is how often labels like yours would score this high by chance, and the more items you label, ',
      'the smaller it gets when your labels are careful.'),
    hasRounds(experiment) ? roundsCard(experiment, work, stats, app.now()) : null,
    h('p', null, h('a', { href: '#/label', class: 'button' }, 'Back to labeling')));
}

/** A batch not committed before its round's commit deadline; with rounds a later round may be
 * open to join. */
function missedView(experiment, mine, work) {
  const round = roundOfBatch(experiment, mine);
  const deadline = roundWindows(experiment.spec)[round].commit_deadline;
  return h('section', { class: 'panel narrow' },
    h('h1', null, `Batch ${mine.batch_id} `, phaseBadge(experiment.phase)),
    h('p', { id: 'missed' }, `This batch was not committed before ${hasRounds(experiment) ? 'its round\'s' : 'the'} commit deadline (${when(deadline)}). `,
      'It counts as not revealed at settlement.'),
    nextRoundOffer(experiment, work, round),
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
  const pace = paceStore(app.signer.address);
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
    controls.resetFocus();
    save();
    render();
  };

  const setAnswer = value => {
    const task = current().task;
    const first = draft.answers[task] === undefined;
    draft.answers[task] = value;
    const took = spent(task);
    if (first) pace.answered(took);
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
      if (controls.confirmAsIs(task)) return;
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

  const controls = answering(question, draft, {
    answer: (_, value) => setAnswer(value),
    save,
    render: () => render(),
  });

  // ---- Rendering ----

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

  /** The break suggestion, when the pace says one is due; "Not now" snoozes it. */
  const breakNotice = () => {
    const reason = pace.due();
    if (!reason) return null;
    return h('div', { class: 'notice rest', role: 'status', id: 'break-notice', dataset: { reason } },
      h('p', null,
        reason === 'rushing'
          ? 'You have been labeling for a while and your pace has changed. '
          : `You have been labeling for ${PACE.sessionMax / 60} minutes without a pause. `,
        'A short break helps keep answers careful; your work is saved.'),
      h('button', { type: 'button', class: 'ghost', id: 'break-later', title: `Hides this for ${PACE.snooze / 60} minutes`, onclick: () => {
        pace.dismiss();
        render();
        document.getElementById('main')?.focus({ preventScroll: true });
      } }, 'Not now'));
  };

  const taskView = () => {
    const task = current();
    return h('div', { class: 'task card', dataset: { task: String(task.task) } },
      h('h2', { class: 'task-title' }, `Task ${draft.current + 1} of ${tasks.length}`),
      controls.prompt(task),
      controls.shown(task),
      warning !== null
        ? h('div', { class: 'notice warn', role: 'alert', id: 'fast-warning' },
          `That took ${warning < 0.1 ? 'less than 0.1' : warning.toFixed(1)} s; this experiment asks for at least ${secondsMin} s per task. `,
          'Fast answers tend to disagree with peers and the hidden gold tasks, and those are what the score checks. Take another look before going on.')
        : null,
      controls.control(task),
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
          h('td', null, promptSummary(t.prompt)),
          h('td', null, answerText(question, draft.answers[t.task]), draft.fast[t.task] !== undefined ? h('span', { class: 'badge warn' }, 'fast') : null),
          h('td', null, h('button', { type: 'button', class: 'ghost', onclick: () => goTo(i) }, 'Edit'))))))),
      missing.length ? h('p', { class: 'error' }, `${missing.length} task(s) still need an answer.`) : null,
      fast ? h('p', { class: 'notice warn' }, `${fast} answer(s) came faster than ${secondsMin} s. Edit them if you are unsure.`) : null,
      h('p', null, 'Committing seals your answers: the server keeps only a commitment and an encrypted backup until the commit deadline ',
        `(${when(batch.commit_deadline)}), so nobody can copy them. You cannot change them afterwards.`),
      leave ? h('div', { class: 'field check explained' }, leave,
        h('label', { for: 'leave-reveal' }, 'Reveal for me at the commit deadline. ',
          h('span', { class: 'muted' }, 'Your signed reveal goes along sealed to the operator\'s key, and the server reveals it if you have not by then. The operator can read these labels before the deadline; other labelers cannot.'))) : null,
      app.now() < earliest ? h('p', { class: 'muted' }, `The server accepts this commit from ${when(earliest)} on (the batch's minimum working time).`) : null,
      button, steps, status);
  };

  const render = () => {
    const instructions = instructionsPanel(question, {
      shown: showInstructions,
      onHide: () => { showInstructions = false; render(); },
    });
    const progress = h('progress', { max: String(tasks.length), value: String(answered()), 'aria-label': 'Answered' });
    const top = h('div', { class: 'worktop' },
      h('div', null,
        h('p', { class: 'crumbs' }, h('a', { href: `#/x/${id}` }, experiment.title), ` / batch ${batch.batch_id}`),
        h('p', { class: 'count', id: 'progress' }, `${answered()} of ${tasks.length} answered`,
          h('span', { class: 'muted' }, ` · `,
            hasRounds(experiment) ? h('span', { id: 'work-round' }, `${roundName(batch.round, experiment.rounds)} · `) : null,
            `commit by ${when(batch.commit_deadline)} (in ${duration(batch.commit_deadline - app.now())})`))),
      progress,
      h('button', { type: 'button', class: 'ghost', 'aria-expanded': showInstructions ? 'true' : 'false', 'aria-controls': 'instructions', onclick: () => { showInstructions = !showInstructions; render(); } },
        'Instructions ', h('kbd', null, 'i')));
    replace(root, top,
      h('div', { class: `workgrid${showInstructions ? '' : ' wide'}` },
        h('div', { class: 'stack' }, mode === 'review' ? reviewView() : [breakNotice(), taskView()], navigator()),
        showInstructions ? instructions : null));
    if (mode === 'label') controls.restoreFocus(root);
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
    return controls.onKey(event, task);
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
  if (experiment.phase === 'settled' || mine.committed_at != null) {
    // With rounds, the rounds card under a sealed batch or its earnings reads the stats'
    // counts per round.
    const stats = await roundStats(app, experiment);
    if (experiment.phase === 'settled') return earningsView(app, experiment, mine, work, stats);
    return sealedView(app, experiment, mine, work, stats);
  }
  // A batch is labeled in its own round's commit window, not in a later round's.
  if (experiment.phase !== 'open' || roundOfBatch(experiment, mine) < experiment.round) return missedView(experiment, mine, work);
  // A batch is private to its labeler until settlement: read it signed in.
  const [batch, sealing] = await Promise.all([
    app.withSession(() => app.api.batch(id, batchId)),
    app.api.sealingKey(),
  ]);
  return labelingView(app, experiment, batch, mine, sealing.public_key);
}
