// The experimenter's side: the list of one's experiments, creating one (a form or a spec file),
// and setting up a draft: import tasks (drag and drop, every bad line named), import practice
// tasks (the same, each with its answer and why), fund, open.

import { parse as parseToml } from 'smol-toml';
import { h, amount, markdown, replace, short } from '../dom.js';
import { checkTasks } from '../tasks.js';
import { commitsEnd, describeQuestion, isMine, phaseBadge, practiceScore, revealsEnd } from './common.js';
import { dashboardScreen } from './dashboard.js';

const mine = (app, experiment) => isMine(app, experiment.creator);

export async function experimenterHome(app) {
  const listed = app.api.experiments({ creator: app.signer.address, limit: 500 });
  const [own, account] = await Promise.all([listed, app.refreshAccount()]);
  return h('section', { class: 'stack' },
    h('div', { class: 'row spread' },
      h('h1', null, 'Your experiments'),
      h('a', { href: '#/lab/new', class: 'button primary', id: 'new-experiment', 'data-autofocus': '' }, 'New experiment')),
    h('p', { class: 'muted' }, `Available to fund reward pools: ${amount(account.available)} credits.`),
    own.length === 0
      ? h('p', null, 'You have not created an experiment yet.')
      : h('div', { class: 'scroll' }, h('table', { class: 'table', id: 'experiments' },
        h('thead', null, h('tr', null, ['Title', 'Phase', 'Tasks', 'Pool', 'Commit by', ''].map(t => h('th', { scope: 'col' }, t)))),
        h('tbody', null, own.map(e => h('tr', null,
          h('td', null, e.title),
          h('td', null, phaseBadge(e.phase)),
          h('td', { class: 'num' }, String(e.tasks.tasks)),
          h('td', { class: 'num' }, amount(e.spec.reward_pool)),
          h('td', null, commitsEnd(e)),
          h('td', null, h('a', { href: `#/lab/${e.experiment_id}`, class: 'button' }, e.phase === 'draft' ? 'Set up' : 'Dashboard'))))))));
}

// ---- Create ----

const KINDS = ['pairwise', 'rating', 'choice', 'binary', 'ranking', 'text'];

function field(label, input, help) {
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, help ? h('small', { class: 'muted' }, help) : null);
}

function number(id, value, attrs = {}) {
  return h('input', { id, type: 'number', value: String(value), step: '1', ...attrs });
}

/** Builds a spec from the form; throws with the field's name on a value that cannot be one. */
function specFromForm(form) {
  const value = id => form.querySelector(`#${id}`).value.trim();
  const checked = id => form.querySelector(`#${id}`).checked;
  const integer = (id, label) => {
    const text = value(id);
    if (!/^-?\d+$/.test(text)) throw new Error(`${label} must be a whole number`);
    return Number(text);
  };
  // A share of the stake as a percentage with at most two decimals, in basis points.
  const percent = (id, label) => {
    const text = value(id);
    if (!/^\d+(\.\d{1,2})?$/.test(text) || Number(text) > 100) throw new Error(`${label} must be a percentage from 0 to 100`);
    return Math.round(Number(text) * 100);
  };
  const credits = (id, label) => {
    const text = value(id);
    if (!/^\d+$/.test(text)) throw new Error(`${label} must be a whole number of credits`);
    return text;
  };
  // A duration as specs write it, by the core's rule: numbers with d, h, m, s, largest first.
  const within = (id, label) => {
    const text = value(id);
    if (!/^(?=\d)(\d+d)?(\d+h)?(\d+m)?(\d+s)?$/.test(text)) {
      throw new Error(`${label}: \`${text}\` is not a duration: write a number and a unit (s, m, h or d), for example "90m", "3d" or "1d12h"`);
    }
    return text;
  };
  const kind = value('f-kind');
  const question = { kind, instructions: form.querySelector('#f-instructions').value, rationale: checked('f-rationale') };
  if (kind === 'pairwise') {
    question.strength_max = integer('f-strength', 'Preference steps on each side');
    question.allow_tie = checked('f-tie');
  } else if (kind === 'rating') {
    question.min = integer('f-min', 'Lowest rating');
    question.max = integer('f-max', 'Highest rating');
  } else if (kind === 'choice' || kind === 'binary') {
    question.options = value('f-options').split('\n').map(o => o.trim()).filter(Boolean);
  } else if (kind === 'ranking') {
    question.n = integer('f-n', 'Responses per task');
  } else if (kind === 'text') {
    question.length_max = integer('f-length', 'Longest answer');
  }
  const spec = {
    schema_version: 1,
    title: value('f-title'),
    question,
    subjective: checked('f-subjective'),
    block_size: integer('f-block', 'Tasks per batch'),
    overlap: integer('f-overlap', 'Labelers per task'),
    gold_per_batch: integer('f-gold', 'Gold tasks per batch'),
    stake_per_batch: credits('f-stake', 'Stake'),
    reward_pool: credits('f-pool', 'Reward pool'),
    slash_bps: percent('f-slash', 'Lost when confidently below chance'),
    non_reveal_slash_bps: percent('f-nonreveal', 'Lost when not revealed'),
    commit_within: within('f-commit-within', 'Labeling lasts'),
    reveal_within: within('f-reveal-within', 'Reveals last'),
    limits: {
      batches_per_labeler_max: integer('f-batches', 'Batches per labeler'),
      seconds_per_task_min: integer('f-seconds', 'Seconds per task'),
    },
  };
  const min = value('f-repmin');
  if (min !== '') spec.eligibility = { reputation_min: Number(min) };
  const practiceItems = value('f-qual-items');
  if (practiceItems !== '') {
    const items = integer('f-qual-items', 'Practice tasks to answer');
    const scoreText = value('f-qual-min');
    const scoreMin = Number(scoreText);
    if (scoreText === '' || !Number.isFinite(scoreMin)) throw new Error('Practice score needed must be a number from 0 to 1');
    spec.qualification = { items, score_min: scoreMin };
  }
  const rounds = roundsFromForm(value, integer, within);
  if (rounds) spec.rounds = rounds;
  const attribute = value('f-cohort-attr');
  if (attribute) {
    spec.cohorts = { attribute, values: value('f-cohort-values').split(',').map(v => v.trim()).filter(Boolean) };
  }
  return spec;
}

/** The form's `[rounds]`, or null for one round (the count left empty or 1). */
function roundsFromForm(value, integer, within) {
  if (value('f-rounds') === '') return null;
  const count = integer('f-rounds', 'Rounds in all');
  if (count === 1) return null;
  const confidenceText = value('f-rounds-confidence');
  const confidence = Number(confidenceText);
  if (confidenceText === '' || !Number.isFinite(confidence)) throw new Error('Sure enough to stop must be a number above 0.5 and below 1');
  const rule = value('f-rounds-rule');
  return {
    ...(rule === 'best_of' ? { rule } : {}),
    count,
    labels_max: integer('f-rounds-max', 'Labels per task, at most'),
    confidence,
    commit_within: within('f-rounds-commit', 'Later rounds take commits for'),
    reveal_within: within('f-rounds-reveal', 'Later rounds take reveals for'),
  };
}

/** The rounds of a spec in one sentence, for the spec file's preview and the setup screen. */
export function roundsSummary(rounds) {
  if (rounds.rule === 'best_of') {
    return `up to ${rounds.count} rounds of a knockout over each prompt's responses: after the first matches, each round takes joins and commits for ${rounds.commit_within} and reveals for ${rounds.reveal_within}, `
      + `asking the next comparisons of the labelers whose answers weigh most, until the winner is ${Math.round(rounds.confidence * 1000) / 10}% sure, at most ${rounds.labels_max} votes a match.`;
  }
  return `${rounds.count} rounds: after the first, each round takes joins and commits for ${rounds.commit_within} and reveals for ${rounds.reveal_within}, `
    + `asking one more labeler about the tasks the revealed labels are not yet ${Math.round(rounds.confidence * 1000) / 10}% sure of, up to ${rounds.labels_max} labels a task.`;
}

/** Turns TOML integers too large for a double into strings, which the spec's amounts accept. */
function plain(value) {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** A drop zone that is also a file picker, so it works by mouse, by touch and by keyboard. */
export function dropZone(id, accept, prompt, onFile) {
  const input = h('input', { type: 'file', id, accept, class: 'visually-hidden' });
  const zone = h('label', { class: 'drop', for: id, tabindex: '0', role: 'button', 'aria-describedby': `${id}-hint` },
    h('strong', null, prompt),
    h('span', { id: `${id}-hint`, class: 'muted' }, 'Drop a file here, or press Enter to choose one.'));
  zone.addEventListener('keydown', event => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      input.click();
    }
  });
  zone.addEventListener('dragover', event => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', event => {
    event.preventDefault();
    zone.classList.remove('over');
    const file = event.dataTransfer?.files?.[0];
    if (file) onFile(file);
  });
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) onFile(file);
    input.value = '';
  });
  return h('div', null, zone, input);
}

export function createScreen(app) {
  const status = h('p', { class: 'error', role: 'alert', id: 'create-error' });
  const create = async spec => {
    status.textContent = '';
    try {
      const experiment = await app.withSession(() => app.api.post('/experiments', { spec }));
      app.notify(`Created the draft “${experiment.title}”.`, 'ok');
      app.go(`#/lab/${experiment.experiment_id}`);
    } catch (error) {
      status.textContent = app.describe(error);
    }
  };

  const kindParams = h('div', { class: 'grid2', id: 'kind-params' });
  const kindSelect = h('select', { id: 'f-kind' }, KINDS.map(k => h('option', { value: k }, k)));
  const showKind = () => {
    const kind = kindSelect.value;
    const parts = {
      pairwise: [
        field('Preference steps on each side', number('f-strength', 2, { min: 1, max: 10 }), 'with 2: A much better, A better, (tie,) B better, B much better'),
        h('div', { class: 'field check' }, h('input', { type: 'checkbox', id: 'f-tie', checked: true }), h('label', { for: 'f-tie' }, 'Allow a tie')),
      ],
      rating: [field('Lowest rating', number('f-min', 1)), field('Highest rating', number('f-max', 5))],
      choice: [field('Options, one per line', h('textarea', { id: 'f-options', rows: 4 }, 'helpful\nunhelpful\nharmful'))],
      binary: [field('The two options, one per line', h('textarea', { id: 'f-options', rows: 2 }, 'no\nyes'))],
      ranking: [field('Responses per task', number('f-n', 5, { min: 2, max: 64 }), 'more than 4 are ranked by a pairwise tournament')],
      text: [field('Longest answer in bytes', number('f-length', 500, { min: 1, max: 10000 }))],
    }[kind];
    replace(kindParams, parts);
  };
  kindSelect.addEventListener('change', showKind);
  showKind();

  // The instructions as labelers will read them, redrawn as they are typed.
  const instructions = h('textarea', { id: 'f-instructions', rows: 4 }, 'Read the prompt and both answers. Pick the more helpful, correct and safe one.');
  const instructionsPreview = h('div', { class: 'prose preview', id: 'instructions-preview', 'aria-live': 'polite' });
  const showInstructions = () => replace(instructionsPreview, markdown(instructions.value));
  instructions.addEventListener('input', showInstructions);
  showInstructions();
  const form = h('form', { class: 'card stack', id: 'create-form', novalidate: true },
    h('h2', null, 'Fill in the spec'),
    field('Title', h('input', { id: 'f-title', type: 'text', required: true, maxlength: 200, 'data-autofocus': '', value: '' })),
    h('div', { class: 'grid2' }, field('Question kind', kindSelect)),
    kindParams,
    field('Instructions (markdown)', instructions),
    h('div', { class: 'field' }, h('span', { class: 'label' }, 'As labelers will read them'), instructionsPreview),
    h('div', { class: 'grid2' },
      h('div', { class: 'field check' }, h('input', { type: 'checkbox', id: 'f-rationale' }), h('label', { for: 'f-rationale' }, 'Offer a rationale text box')),
      h('div', { class: 'field check' }, h('input', { type: 'checkbox', id: 'f-subjective' }), h('label', { for: 'f-subjective' }, 'Subjective (only gold may slash)'))),
    h('h3', null, 'Work'),
    h('div', { class: 'grid3' },
      field('Tasks per batch', number('f-block', 10, { min: 1 })),
      field('Labelers per task', number('f-overlap', 3, { min: 1 })),
      field('Gold tasks per batch', number('f-gold', 2, { min: 0 })),
      field('Seconds per task, at least', number('f-seconds', 5, { min: 0 })),
      field('Batches per labeler', number('f-batches', 1, { min: 1 })),
      field('Minimum reputation', h('input', { id: 'f-repmin', type: 'number', step: '0.01', min: '-1', max: '1', value: '' }), 'empty: anyone')),
    h('h3', null, 'Money'),
    h('div', { class: 'grid3' },
      field('Stake per batch', h('input', { id: 'f-stake', type: 'text', inputmode: 'numeric', value: '1000' })),
      field('Reward pool', h('input', { id: 'f-pool', type: 'text', inputmode: 'numeric', value: '100000' })),
      field('Lost when confidently below chance, % of the stake', number('f-slash', 50, { min: 0, max: 100, step: '0.01' })),
      field('Lost when not revealed, % of the stake', number('f-nonreveal', 100, { min: 0, max: 100, step: '0.01' }))),
    h('h3', null, 'Time'),
    h('div', { class: 'grid3' },
      field('Labeling lasts', h('input', { id: 'f-commit-within', type: 'text', value: '3d', spellcheck: 'false' }), 'from opening, e.g. 90m, 2h, 3d; you can close it early once every batch taken is committed'),
      field('Reveals last', h('input', { id: 'f-reveal-within', type: 'text', value: '1d', spellcheck: 'false' }), 'after labeling ends; settlement follows the last reveal')),
    h('h3', null, 'Qualification (optional)'),
    h('p', { class: 'muted' }, 'Labelers answer practice tasks with known answers (imported after creating the draft) and may join only with a practice score of at least this much. Leave the count empty for no qualification.'),
    h('div', { class: 'grid3' },
      field('Practice tasks to answer', number('f-qual-items', '', { min: 1, max: 200, placeholder: 'none' }), 'empty: practice is optional'),
      field('Practice score needed', h('input', { id: 'f-qual-min', type: 'number', step: '0.01', min: '0', max: '1', value: '0.15' }), '0 to 1; 0 is guessing, 1 is every answer right')),
    h('h3', null, 'Rounds (optional)'),
    h('p', { class: 'muted' }, 'More labels where the crowd is unsure (binary and choice questions): after the first round, later rounds ask one more labeler about the tasks whose revealed labels are not yet sure of an answer, so labels go where the crowd disagrees; batches per labeler must be at least the count, so a labeler can work in every round. The best of each prompt\'s responses (pairwise questions): each task line holds one prompt and its 2 to 64 responses, and the rounds play a knockout of pairwise comparisons until the winner is as sure as asked. Leave the count empty for one round.'),
    h('div', { class: 'grid3', id: 'rounds-fields' },
      field('Later rounds ask', h('select', { id: 'f-rounds-rule' },
        h('option', { value: 'overlap' }, 'more labels'),
        h('option', { value: 'best_of' }, 'best of N')), 'more labels where unsure (binary, choice), or the best of each prompt\'s responses (pairwise)'),
      field('Rounds in all', number('f-rounds', '', { min: 1, max: 32, placeholder: '1' }), 'the first included, up to 8 (32 for the best of N)'),
      field('Labels per task, at most', number('f-rounds-max', 5, { min: 2 }), 'over every round, above labelers per task; for the best of N, votes a match'),
      field('Sure enough to stop', h('input', { id: 'f-rounds-confidence', type: 'number', step: '0.01', min: '0.51', max: '0.99', value: '0.95' }), 'above 0.5, below 1: how sure a task\'s weighted vote must be'),
      field('Later rounds take commits for', h('input', { id: 'f-rounds-commit', type: 'text', value: '1d', spellcheck: 'false' }), 'each from the previous round\'s reveal deadline'),
      field('Later rounds take reveals for', h('input', { id: 'f-rounds-reveal', type: 'text', value: '1d', spellcheck: 'false' }), 'each after its commits end')),
    h('h3', null, 'Cohorts (optional)'),
    h('div', { class: 'grid3' },
      field('Attribute', h('input', { id: 'f-cohort-attr', type: 'text', placeholder: 'region' })),
      field('Values, comma separated', h('input', { id: 'f-cohort-values', type: 'text', placeholder: 'EU, US, IN' }))),
    h('button', { class: 'primary', type: 'submit', id: 'create' }, 'Create draft'));
  form.addEventListener('submit', async event => {
    event.preventDefault();
    let spec;
    try {
      spec = specFromForm(form);
    } catch (error) {
      status.textContent = error.message;
      return;
    }
    await create(spec);
  });

  const preview = h('div', { id: 'spec-preview' });
  const upload = h('div', { class: 'card stack' },
    h('h2', null, 'Or upload a spec'),
    h('p', { class: 'muted' }, 'TOML or JSON, as ', h('code', null, 'plumbline spec check'), ' reads it.'),
    dropZone('spec-file', '.toml,.json,application/json,application/toml', 'Spec file (TOML or JSON)', async file => {
      replace(preview);
      status.textContent = '';
      let spec;
      try {
        const text = await file.text();
        spec = file.name.toLowerCase().endsWith('.json') ? JSON.parse(text) : plain(parseToml(text, { integersAsBigInt: 'asNeeded' }));
      } catch (error) {
        replace(preview, h('p', { class: 'error' }, `${file.name} does not parse: ${error.message}`));
        return;
      }
      replace(preview,
        h('p', null, h('strong', null, spec.title ?? '(no title)'), ' — ', spec.question ? describeQuestion(spec.question) : 'no question'),
        spec.qualification
          ? h('p', { class: 'muted', id: 'spec-qualification' }, `Qualification: ${spec.qualification.items} practice tasks, a score of at least ${practiceScore(spec.qualification.score_min)}.`)
          : null,
        spec.rounds ? h('p', { class: 'muted', id: 'spec-rounds' }, roundsSummary(spec.rounds)) : null,
        h('button', { type: 'button', class: 'primary', onclick: () => create(spec) }, `Create draft from ${file.name}`));
    }),
    preview);

  return h('section', { class: 'stack' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/lab' }, 'Experiments'), ' / new'),
    h('h1', null, 'New experiment'),
    status,
    h('div', { class: 'split wide-left' }, form, upload));
}

// ---- Set up a draft ----

function setupScreen(app, experiment, account) {
  const id = experiment.experiment_id;
  const spec = experiment.spec;
  const imported = experiment.tasks.tasks > 0;
  const status = h('p', { class: 'error', role: 'alert' });
  const act = async (action, path) => {
    status.textContent = '';
    try {
      await app.withSession(() => app.api.post(path));
      app.notify(action, 'ok');
      await app.refreshAccount();
      app.render();
    } catch (error) {
      status.textContent = app.describe(error);
    }
  };

  const report = h('div', { id: 'import-report', 'aria-live': 'polite' });
  const onTasks = async file => {
    const text = await file.text();
    const checked = checkTasks(text, spec.question, { bestOf: spec.rounds?.rule === 'best_of' });
    if (checked.errors.length) {
      replace(report, h('div', { class: 'notice error', id: 'task-errors' },
        h('p', null, h('strong', null, `${file.name}: nothing was imported.`), ` Fix ${checked.errors.length}${checked.truncated ? '+' : ''} line(s):`),
        h('ol', { class: 'lines' }, checked.errors.map(e => h('li', null, e.line ? h('strong', null, `line ${e.line}`) : null, e.line ? ': ' : '', e.reason)))));
      return;
    }
    const importButton = h('button', { type: 'button', class: 'primary', id: 'import' }, `Import ${checked.tasks} tasks`);
    importButton.addEventListener('click', async () => {
      importButton.disabled = true;
      try {
        const summary = await app.withSession(() => app.api.request('POST', `/experiments/${id}/tasks`, { text, contentType: 'application/x-ndjson' }));
        app.notify(`Imported ${summary.tasks} tasks: ${summary.regular} regular, ${summary.gold} gold.`, 'ok');
        app.render();
      } catch (error) {
        replace(report, h('div', { class: 'notice error' }, app.describe(error)));
      }
    });
    replace(report, h('div', { class: 'notice ok' },
      h('p', null, `${file.name}: ${checked.tasks} tasks (${checked.regular} regular, ${checked.gold} gold) pass every check.`),
      importButton));
  };

  const practiceCount = experiment.practice_tasks ?? 0;
  const qualification = spec.qualification ?? null;
  const practiceReport = h('div', { id: 'practice-report', 'aria-live': 'polite' });
  const onPractice = async file => {
    const text = await file.text();
    const checked = checkTasks(text, spec.question, { practice: true });
    if (checked.errors.length) {
      replace(practiceReport, h('div', { class: 'notice error', id: 'practice-errors' },
        h('p', null, h('strong', null, `${file.name}: nothing was imported.`), ` Fix ${checked.errors.length}${checked.truncated ? '+' : ''} line(s):`),
        h('ol', { class: 'lines' }, checked.errors.map(e => h('li', null, e.line ? h('strong', null, `line ${e.line}`) : null, e.line ? ': ' : '', e.reason)))));
      return;
    }
    const importButton = h('button', { type: 'button', class: 'primary', id: 'import-practice' }, `Import ${checked.tasks} practice tasks`);
    importButton.addEventListener('click', async () => {
      importButton.disabled = true;
      try {
        const summary = await app.withSession(() => app.api.importPractice(id, text));
        app.notify(`Imported ${summary.practice_tasks} practice tasks.`, 'ok');
        app.render();
      } catch (error) {
        replace(practiceReport, h('div', { class: 'notice error', id: 'practice-import-error' }, app.describe(error)));
      }
    });
    const tooFew = qualification && checked.tasks < qualification.items
      ? h('p', { class: 'error' }, `The spec asks each labeler for ${qualification.items} practice tasks; this file has ${checked.tasks}.`)
      : null;
    replace(practiceReport, h('div', { class: 'notice ok' },
      h('p', null, `${file.name}: ${checked.tasks} practice tasks pass every check.`),
      tooFew,
      importButton));
  };

  const pool = BigInt(spec.reward_pool);
  const canFund = !experiment.funded && BigInt(account.available) >= pool;
  const blocks = Math.ceil(experiment.tasks.regular / spec.block_size);
  const goldShort = experiment.tasks.gold < spec.gold_per_batch;
  const practiceShort = Boolean(qualification) && practiceCount < qualification.items;
  const openable = imported && experiment.funded && !goldShort && !practiceShort;
  return h('section', { class: 'stack' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/lab' }, 'Experiments'), ' / ', experiment.title),
    h('h1', null, experiment.title, ' ', phaseBadge(experiment.phase)),
    h('p', null, describeQuestion(spec.question)),
    spec.question.instructions
      ? h('details', { class: 'card', id: 'instructions' },
        h('summary', null, 'Instructions, as labelers will read them'),
        h('div', { class: 'prose' }, markdown(spec.question.instructions)))
      : null,
    status,
    h('ol', { class: 'setup' },
      h('li', { class: `card step${imported ? ' done' : ''}` },
        h('h2', null, '1. Tasks'),
        imported
          ? h('p', { id: 'tasks-imported' }, spec.rounds?.rule === 'best_of'
            ? `${experiment.tasks.tasks} tasks imported: ${experiment.tasks.regular} pairs of responses, of which the knockout asks its matches round by round, and ${experiment.tasks.gold} gold.`
            : `${experiment.tasks.tasks} tasks imported: ${experiment.tasks.regular} regular in ${blocks} block(s) of ${spec.block_size}, ${experiment.tasks.gold} gold.`)
          : [
            h('p', { class: 'muted' }, 'JSONL, one task a line: ', h('code', null, '{"id", "prompt", "responses": [...], "gold"?, "meta"?}'),
              ', where the prompt is text or a conversation, ', h('code', null, '[{"role": "system" | "user" | "assistant", "content"}, ...]'),
              ', that the responses continue. The import is all or nothing; every bad line is named below before anything is sent.'),
            dropZone('tasks-file', '.jsonl,.ndjson,application/x-ndjson,text/plain', 'Task file (JSONL)', onTasks),
            report,
          ]),
      h('li', { class: `card step${practiceCount > 0 ? ' done' : ''}`, id: 'practice-step' },
        h('h2', null, qualification ? '2. Practice' : '2. Practice (optional)'),
        qualification
          ? h('p', null, `Labelers must answer ${qualification.items} practice tasks and reach a practice score of at least ${practiceScore(qualification.score_min)} `,
            '(0 is guessing, 1 is every answer right) before they may join.')
          : h('p', null, 'Practice tasks with known answers let labelers try the question before they stake anything. ',
            'With a qualification in the spec, a practice score becomes a condition for joining.'),
        practiceCount > 0
          ? h('p', { id: 'practice-imported' }, `${practiceCount} practice tasks imported.`)
          : [
            h('p', { class: 'muted' }, 'JSONL, one task a line: ', h('code', null, '{"id", "prompt", "responses": [...], "gold", "explanation"?, "meta"?}'),
              ': ', h('code', null, 'gold'), ' is the answer, and the explanation is shown to the labeler after answering.'),
            dropZone('practice-file', '.jsonl,.ndjson,application/x-ndjson,text/plain', 'Practice file (JSONL)', onPractice),
            practiceReport,
          ]),
      h('li', { class: `card step${experiment.funded ? ' done' : ''}` },
        h('h2', null, '3. Fund'),
        experiment.funded
          ? h('p', { id: 'funded' }, `The reward pool of ${amount(pool)} credits is in escrow.`)
          : [
            h('p', null, `Move the reward pool of ${amount(pool)} credits from your balance (${amount(account.available)} available) into escrow. Cancelling the draft refunds it.`),
            h('button', { type: 'button', class: 'primary', id: 'fund', disabled: !canFund, onclick: () => act('The pool is in escrow.', `/experiments/${id}/fund`) }, `Fund ${amount(pool)} credits`),
          ]),
      h('li', { class: 'card step' },
        h('h2', null, '4. Open'),
        h('p', null, `Labelers can join until ${commitsEnd(experiment)}; reveals run until ${revealsEnd(experiment)}.`),
        spec.rounds ? h('p', { id: 'setup-rounds' }, `This experiment runs in ${roundsSummary(spec.rounds)}`) : null,
        goldShort && imported ? h('p', { class: 'error' }, `Each batch needs ${spec.gold_per_batch} gold tasks; ${experiment.tasks.gold} are imported.`) : null,
        practiceShort ? h('p', { class: 'error', id: 'practice-short' }, `The qualification asks each labeler for ${qualification.items} practice tasks; import at least that many first (${practiceCount} so far).`) : null,
        h('button', { type: 'button', class: 'primary', id: 'open', disabled: !openable, onclick: () => act('The experiment is open.', `/experiments/${id}/open`) }, 'Open to labelers'))),
    h('p', null, h('button', { type: 'button', class: 'danger', onclick: () => {
      if (window.confirm('Cancel this draft? The pool, if funded, is refunded.')) act('Cancelled.', `/experiments/${id}/cancel`);
    } }, 'Cancel draft')),
    h('p', { class: 'muted' }, `Experiment ${short(id)} by ${short(experiment.creator)}.`));
}

export async function setupOrDashboard(app, id) {
  const [experiment, account] = await Promise.all([app.api.experiment(id), app.refreshAccount()]);
  if (experiment.phase === 'draft' && mine(app, experiment)) return setupScreen(app, experiment, account);
  return dashboardScreen(app, experiment);
}
