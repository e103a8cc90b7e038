// Practice: an experiment's practice tasks, one at a time, with the labeling workspace's task and
// answer controls (answering.js) and its keys. Nothing is staked. Each task is answered once and
// checked at once: right, close or wrong, the expected answer marked beside the labeler's, and
// why. At the end: the practice score and, where the experiment asks for one, whether it lets the
// labeler join, with the way back to the experiment.

import { ApiError } from '../api.js';
import { h, markdown, replace } from '../dom.js';
import { answering, emptyAnswers, instructionsPanel } from './answering.js';
import { phaseBadge, practiceScore } from './common.js';

const VERDICTS = {
  right: { cls: 'ok', title: 'Right', text: 'Your answer is the expected one.' },
  close: { cls: 'warn', title: 'Close', text: 'Your answer is near the expected one, not on it. The expected answer is marked below.' },
  wrong: { cls: 'wrong', title: 'Wrong', text: 'The expected answer is marked below, beside yours.' },
};

/** A practice task as the answer controls take a task: keyed by `task`. */
const asTask = t => ({ task: t.id, prompt: t.prompt, responses: t.responses, response_order: t.response_order });

function practiceView(app, experiment, initial) {
  const id = experiment.experiment_id;
  const question = experiment.spec.question;
  const state = emptyAnswers();
  let progress = initial;
  /** The checked answer being shown: `{task, label, verdict, answer, explanation, agreement}`. */
  let feedback = null;
  let sending = false;
  let problem = '';
  let showInstructions = window.matchMedia('(min-width: 900px)').matches;
  const root = h('section', { class: 'workspace', id: 'practice' });

  const submit = async () => {
    if (sending || feedback || !progress.task) return;
    const task = asTask(progress.task);
    const label = state.answers[task.task];
    if (label === undefined) {
      if (controls.confirmAsIs(task)) return;
      app.notify('Choose an answer first (or press ? for the shortcuts).', 'warn');
      return;
    }
    sending = true;
    problem = '';
    render();
    try {
      const checked = await app.withSession(() => app.api.practiceAnswer(id, task.task, label));
      feedback = { task, label, ...checked };
      progress = checked.progress;
    } catch (error) {
      if (error instanceof ApiError && (error.code === 'not_current' || error.code === 'practice_done')) {
        // Answered already, in another tab or window: go on from where the server stands.
        app.notify('That practice task was already answered; here is where your practice stands.', 'warn');
        try {
          progress = await app.withSession(() => app.api.practice(id));
        } catch (again) {
          problem = app.describe(again);
        }
      } else {
        problem = app.describe(error);
      }
    } finally {
      sending = false;
      render();
    }
  };

  const next = () => {
    feedback = null;
    controls.resetFocus();
    render();
  };

  const controls = answering(question, state, {
    answer: (task, value) => {
      state.answers[task.task] = value;
      render();
    },
    save: () => {},
    render: () => render(),
  });

  const taskView = () => {
    const task = asTask(progress.task);
    return h('div', { class: 'task card', id: 'practice-task', dataset: { task: String(task.task) } },
      h('h2', { class: 'task-title' }, `Practice task ${progress.answered + 1} of ${progress.items}`),
      controls.prompt(task),
      controls.shown(task),
      controls.control(task),
      problem ? h('p', { class: 'error', role: 'alert' }, problem) : null,
      h('div', { class: 'row nav' },
        h('span', { class: 'muted' }, 'Each practice task is answered once; the expected answer and why come right after.'),
        h('button', { type: 'button', class: 'primary', id: 'check', disabled: sending, onclick: submit },
          sending ? 'Checking…' : 'Check my answer ', sending ? null : h('kbd', null, 'Enter'))));
  };

  const feedbackView = () => {
    const { task, verdict, answer, explanation, agreement } = feedback;
    const review = { expected: answer };
    const said = VERDICTS[verdict] ?? { cls: '', title: verdict, text: '' };
    const last = progress.task === null;
    return h('div', { class: 'task card', id: 'practice-feedback', dataset: { task: String(task.task) } },
      h('h2', { class: 'task-title' }, `Practice task ${progress.answered} of ${progress.items}`),
      h('div', { class: `notice verdict ${said.cls}`, id: 'verdict', role: 'status', dataset: { verdict } },
        h('p', null, h('strong', { class: 'verdict-word' }, said.title), ' ', said.text,
          agreement !== null && agreement !== undefined && verdict === 'close'
            ? h('span', { class: 'muted' }, ` Agreement with the expected answer: ${practiceScore(agreement)} of 1.`)
            : null),
        explanation ? h('div', { class: 'explanation prose', id: 'explanation' }, h('h3', null, 'Why'), markdown(explanation)) : null),
      controls.prompt(task),
      controls.shown(task, review),
      controls.control(task, review),
      h('div', { class: 'row nav' },
        h('span', { class: 'muted' }, `${progress.answered} of ${progress.items} answered`),
        h('button', { type: 'button', class: 'primary', id: 'next', onclick: next },
          last ? 'See my result ' : 'Next task ', h('kbd', null, 'Enter'))));
  };

  const resultView = () => {
    const need = progress.score_min;
    const back = `#/x/${id}`;
    let verdict;
    if (progress.qualified === true) {
      verdict = h('div', { class: 'notice ok', id: 'qualified' },
        h('p', null, h('strong', null, 'You qualified. '),
          `Your practice score of ${practiceScore(progress.score)} reaches the ${practiceScore(need)} this experiment asks for, so you can join it now.`));
    } else if (progress.qualified === false) {
      verdict = h('div', { class: 'notice', id: 'not-qualified' },
        h('p', null, h('strong', null, 'Not qualified for this experiment. '),
          `Your practice score of ${practiceScore(progress.score)} is below the ${practiceScore(need)} it asks for.`),
        h('p', null, 'Practice is answered once, so this experiment stays closed to you. Nothing else changes: ',
          'no credits were staked, your reputation is untouched, and every other experiment is open to you as before.'));
    } else {
      verdict = h('div', { class: 'notice', id: 'practiced' },
        h('p', null, 'This experiment does not ask for a practice score; join when you are ready.'));
    }
    return h('div', { class: 'card stack', id: 'practice-result' },
      h('h2', null, 'Practice done'),
      h('div', { class: 'result-score' },
        h('strong', { class: 'big', id: 'practice-score' }, practiceScore(progress.score)),
        h('span', { class: 'muted' }, `your practice score over ${progress.items} tasks: 0 is what guessing scores, 1 is every answer right`)),
      verdict,
      h('p', { class: 'row' },
        progress.qualified === false
          ? [h('a', { href: '#/label', class: 'button primary', id: 'other-experiments' }, 'Find another experiment'),
            h('a', { href: back, class: 'button', id: 'back-to-experiment' }, 'Back to the experiment')]
          : h('a', { href: back, class: 'button primary', id: 'back-to-experiment' },
            progress.qualified === true ? 'Back to the experiment to join' : 'Back to the experiment')));
  };

  const render = () => {
    const instructions = instructionsPanel(question, {
      shown: showInstructions,
      onHide: () => { showInstructions = false; render(); },
      practice: true,
    });
    // The result needs no instructions beside it.
    const done = !feedback && !progress.task;
    const aside = showInstructions && !done;
    const top = h('div', { class: 'worktop' },
      h('div', null,
        h('p', { class: 'crumbs' }, h('a', { href: `#/x/${id}` }, experiment.title), ' / practice'),
        h('p', { class: 'count', id: 'progress' }, `${progress.answered} of ${progress.items} answered`,
          h('span', { class: 'muted' }, ' · practice: nothing is staked',
            progress.score_min !== null && progress.score_min !== undefined ? `, a score of ${practiceScore(progress.score_min)} lets you join` : ''))),
      h('progress', { max: String(progress.items), value: String(progress.answered), 'aria-label': 'Practice tasks answered' }),
      done ? h('span') : h('button', { type: 'button', class: 'ghost', 'aria-expanded': showInstructions ? 'true' : 'false', 'aria-controls': 'instructions', onclick: () => { showInstructions = !showInstructions; render(); } },
        'Instructions ', h('kbd', null, 'i')));
    const body = feedback ? feedbackView() : progress.task ? taskView() : resultView();
    replace(root, top,
      h('div', { class: `workgrid${aside ? '' : ' wide'}` },
        h('div', { class: 'stack' }, body),
        aside ? instructions : null));
    if (feedback) root.querySelector('#next')?.focus({ preventScroll: true });
    else if (progress.task) controls.restoreFocus(root);
    else root.querySelector('#back-to-experiment.primary, #other-experiments')?.focus({ preventScroll: true });
  };

  app.onKey = event => {
    if (event.key === 'i' && (feedback || progress.task)) {
      showInstructions = !showInstructions;
      render();
      return true;
    }
    // Enter on a focused button or link presses it, as in the labeling workspace.
    const target = event.target;
    if (event.key === 'Enter' && target instanceof HTMLElement && target.matches('button, a[href]')) return false;
    if (event.key === 'Enter' && !event.shiftKey) {
      if (feedback) next();
      else if (progress.task) submit();
      else return false;
      return true;
    }
    if (feedback || sending || !progress.task) return false;
    return controls.onKey(event, asTask(progress.task));
  };

  render();
  return root;
}

export async function practiceScreen(app, id) {
  const experiment = await app.api.experiment(id);
  let progress;
  try {
    progress = await app.withSession(() => app.api.practice(id));
  } catch (error) {
    if (!(error instanceof ApiError) || !['wrong_phase', 'no_practice'].includes(error.code)) throw error;
    return h('section', { class: 'panel narrow', id: 'no-practice' },
      h('p', { class: 'crumbs' }, h('a', { href: '#/label' }, 'Labeling'), ' / ', h('a', { href: `#/x/${id}` }, experiment.title), ' / practice'),
      h('h1', null, 'Practice ', phaseBadge(experiment.phase)),
      h('p', null, error.code === 'no_practice'
        ? 'This experiment has no practice tasks.'
        : `Practice is served while the experiment is open, before its commit deadline; this one is ${experiment.phase}.`),
      h('p', null, h('a', { href: `#/x/${id}` }, 'Back to the experiment')));
  }
  return practiceView(app, experiment, progress);
}
