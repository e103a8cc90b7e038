// Checks a JSONL task file in the browser before it is sent, with the rules of
// crates/core/src/task.rs. The server stays the judge (its import is all or nothing and names
// the first bad line); checking here lets the experimenter see every bad line at once, by
// number, without a round trip. Practice files are task files whose every line carries its
// answer (`gold`) and may say why (`explanation`). A prompt is a string or a conversation: chat
// messages `[{"role", "content"}]` that the responses continue as the next assistant turn.

const TASK_ID_BYTES_MAX = 128;
const PROMPT_BYTES_MAX = 256 * 1024;
const RESPONSES_MAX = 64;
const RESPONSE_BYTES_MAX = 256 * 1024;
const TASKS_MAX = 1_000_000;
const PRACTICE_TASKS_MAX = 10_000;
const EXPLANATION_BYTES_MAX = 16 * 1024;
const FIELDS = new Set(['id', 'prompt', 'responses', 'gold', 'meta']);
const PRACTICE_FIELDS = new Set([...FIELDS, 'explanation']);
/** The speakers of a conversation prompt, in the words the screens show them by. */
export const ROLES = { system: 'System', user: 'User', assistant: 'Assistant' };
/** The server's words for a prompt of the wrong shape, whatever is wrong with it. */
export const PROMPT_SHAPE = '`prompt` must be a string or a list of {"role", "content"} messages';

/** Errors reported before the check stops, so a wholly wrong file stays readable. */
export const ERRORS_SHOWN_MAX = 50;

const utf8Length = text => new TextEncoder().encode(text).length;

/** Whether a prompt is a conversation (a list of chat messages) rather than text. */
export const isConversation = prompt => Array.isArray(prompt);

const isMessage = m => m !== null && typeof m === 'object' && !Array.isArray(m)
  && Object.keys(m).every(k => k === 'role' || k === 'content')
  && typeof m.role === 'string' && Object.hasOwn(ROLES, m.role) && typeof m.content === 'string';

/** Why `prompt` is not a prompt, or null when it is one: text (absent or null is no prompt) or
 * at least one message `{"role": "system" | "user" | "assistant", "content": string}` with no
 * other field. Its size is that of the text or of every message's content, as the core counts. */
export function promptProblem(prompt) {
  let bytes;
  if (prompt === undefined || prompt === null) return null;
  if (typeof prompt === 'string') {
    bytes = utf8Length(prompt);
  } else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every(isMessage)) {
    bytes = prompt.reduce((sum, m) => sum + utf8Length(m.content), 0);
  } else {
    return PROMPT_SHAPE;
  }
  return bytes > PROMPT_BYTES_MAX ? `\`prompt\` is longer than ${PROMPT_BYTES_MAX} bytes` : null;
}

function responsesRequired(question) {
  if (question.kind === 'pairwise') return 2;
  if (question.kind === 'ranking') return question.n;
  return null;
}

/** Why `value` is not a label of the question, or null when it is one. */
export function labelProblem(question, value) {
  switch (question.kind) {
    case 'binary':
      return Number.isInteger(value) && (value === 0 || value === 1) ? null : 'a binary label must be 0 or 1';
    case 'choice':
      return Number.isInteger(value) && value >= 0 && value < question.options.length
        ? null
        : `a choice label must be an option index 0..${question.options.length - 1}`;
    case 'rating':
      return Number.isInteger(value) && value >= question.min && value <= question.max
        ? null
        : `a rating must be an integer from ${question.min} to ${question.max}`;
    case 'pairwise': {
      const k = question.strength_max;
      if (!Number.isInteger(value) || value < -k || value > k) return `a pairwise label must be an integer from -${k} to ${k}`;
      if (value === 0 && !question.allow_tie) return 'ties are not allowed';
      return null;
    }
    case 'ranking': {
      const n = question.n;
      const ok = Array.isArray(value) && value.length === n
        && value.every(i => Number.isInteger(i) && i >= 0 && i < n)
        && new Set(value).size === n;
      return ok ? null : `a ranking must be a permutation of 0..${n - 1}`;
    }
    case 'text':
      return typeof value === 'string' && utf8Length(value) <= question.length_max
        ? null
        : `a text label must be a string of at most ${question.length_max} bytes`;
    default:
      return `unknown question kind ${question.kind}`;
  }
}

/** What a best-of task line (a prompt and the responses it compares, `docs/protocol.md`,
 * "Best of N") must be beyond a task line: 2 to 64 responses, an id short enough for its pairs'
 * ids, and no `meta.best_of` of its own. */
function bestOfProblem(object) {
  const responses = Array.isArray(object.responses) ? object.responses : [];
  if (responses.length < 2 || responses.length > RESPONSES_MAX) {
    return `a best-of task compares 2 to ${RESPONSES_MAX} responses, found ${responses.length}`;
  }
  if (utf8Length(String(object.id)) > TASK_ID_BYTES_MAX - 6) return `a best-of task's \`id\` must be 1 to ${TASK_ID_BYTES_MAX - 6} bytes`;
  if (object.meta && typeof object.meta === 'object' && 'best_of' in object.meta) return '`meta.best_of` is written by the import; leave it out';
  return null;
}

function lineProblem(object, question, practice, bestOf = false) {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) {
    return 'a task must be a JSON object';
  }
  for (const field of Object.keys(object)) {
    if (practice && !PRACTICE_FIELDS.has(field)) return `unknown field \`${field}\`; a practice task has id, prompt, responses, gold, explanation and meta`;
    if (!practice && !FIELDS.has(field)) return `unknown field \`${field}\`; a task has id, prompt, responses, gold and meta`;
  }
  if (practice) {
    if (question.kind === 'text') return 'text answers cannot be practised: nothing grades them';
    if (object.gold === undefined || object.gold === null) return 'a practice task needs its answer in `gold`';
    if (object.explanation !== undefined && object.explanation !== null) {
      if (typeof object.explanation !== 'string') return '`explanation` must be a string';
      if (utf8Length(object.explanation) > EXPLANATION_BYTES_MAX) return `\`explanation\` is longer than ${EXPLANATION_BYTES_MAX} bytes`;
    }
  }
  const { id, prompt, responses = [], gold = null, meta = {} } = object;
  if (id === undefined) return 'missing field `id`';
  if (typeof id !== 'string' && typeof id !== 'number') return '`id` must be a string or a number';
  const idText = String(id);
  if (idText.length === 0 || utf8Length(idText) > TASK_ID_BYTES_MAX) return `\`id\` must be 1 to ${TASK_ID_BYTES_MAX} bytes`;
  const promptWrong = promptProblem(prompt);
  if (promptWrong) return promptWrong;
  if (!Array.isArray(responses) || responses.some(r => typeof r !== 'string')) return '`responses` must be a list of strings';
  if (responses.length > RESPONSES_MAX) return `more than ${RESPONSES_MAX} responses`;
  const required = responsesRequired(question);
  if (bestOf && (gold === null || gold === undefined)) {
    const problem = bestOfProblem(object);
    if (problem) return problem;
  } else if (required !== null && responses.length !== required) {
    return `a ${question.kind} task needs exactly ${required} responses, found ${responses.length}`;
  }
  const long = responses.findIndex(r => utf8Length(r) > RESPONSE_BYTES_MAX);
  if (long >= 0) return `response ${long} is longer than ${RESPONSE_BYTES_MAX} bytes`;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return '`meta` must be an object';
  if (gold !== null) {
    if (question.kind === 'text') return 'text questions cannot have gold answers';
    const problem = labelProblem(question, gold);
    if (problem) return `\`gold\`: ${problem}`;
  }
  return null;
}

/** Checks a task file for a question (with `practice`, a practice file; with `bestOf`, the
 * task file of a best-of experiment, counted as the pair tasks it becomes). Returns `{tasks,
 * regular, gold, errors: [{line, reason}], truncated}`; blank lines are skipped as the server
 * skips them. */
export function checkTasks(text, question, { practice = false, bestOf = false } = {}) {
  const errors = [];
  const ids = new Map();
  let tasks = 0;
  let gold = 0;
  // In a best-of experiment each regular line becomes a task per pair of its responses.
  let pairs = 0;
  let truncated = false;
  const max = practice ? PRACTICE_TASKS_MAX : TASKS_MAX;
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index];
    const line = index + 1;
    if (raw.trim() === '') continue;
    if (errors.length >= ERRORS_SHOWN_MAX) {
      truncated = true;
      break;
    }
    if (tasks >= max) {
      errors.push({ line, reason: `more than ${max} tasks` });
      break;
    }
    let object;
    try {
      object = JSON.parse(raw);
    } catch (error) {
      errors.push({ line, reason: `not valid JSON: ${error.message}` });
      continue;
    }
    const problem = lineProblem(object, question, practice, bestOf);
    if (problem) {
      errors.push({ line, reason: problem });
      continue;
    }
    const id = String(object.id);
    if (ids.has(id)) {
      errors.push({ line, reason: `task id ${JSON.stringify(id)} appears twice (first on line ${ids.get(id)})` });
      continue;
    }
    ids.set(id, line);
    tasks += 1;
    if (object.gold != null) gold += 1;
    else if (bestOf) pairs += (object.responses.length * (object.responses.length - 1)) / 2;
  }
  if (tasks === 0 && errors.length === 0) {
    errors.push({ line: 0, reason: 'the file holds no tasks' });
  }
  if (bestOf) return { tasks: pairs + gold, regular: pairs, gold, errors, truncated };
  return { tasks, regular: tasks - gold, gold, errors, truncated };
}
