// The experimenter's live dashboard: progress per phase, agreement, the score histogram, tier
// counts, with adaptive rounds what each round asked and how sure the crowd became, quality
// through the labelers' sessions and payouts, drawn as inline SVG and refreshed every two
// seconds; export buttons once the experiment is settled.

import { h, s, amount, replace, score, short, when } from '../dom.js';
import { roundWindows } from '../rounds.js';
import { isMine, phaseBadge, tierBadge } from './common.js';

const PHASES = ['draft', 'open', 'revealing', 'settled'];
const FORMATS = [
  ['trl', 'TRL preference pairs', 'pairwise only'],
  ['jsonl', 'JSONL', 'everything per task'],
  ['csv', 'CSV', 'one row per task'],
  ['parquet', 'Parquet', 'one row per task'],
  ['raw', 'Raw labels', 'crowd-kit long format'],
  ['card', 'Dataset card', 'README.md: save it beside the files and load the folder with datasets'],
  ['best_of', 'Best-of results', 'per prompt the winner, a ranking and every decided match'],
];

/** Whether the dashboard offers `format` for this spec: TRL for pairwise questions, the
 * best-of results for best-of experiments. */
const offered = (format, spec) => (format !== 'trl' || spec.question.kind === 'pairwise')
  && (format !== 'best_of' || spec.rounds?.rule === 'best_of');

/** Horizontal bars of `rows` = `[{label, value, max, cls}]`. */
function barChart(title, rows, { width = 420 } = {}) {
  const rowHeight = 30;
  const labelWidth = 110;
  const height = rows.length * rowHeight + 8;
  const plot = width - labelWidth - 60;
  return s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': title },
    s('title', null, title),
    rows.map((row, i) => {
      const y = 4 + i * rowHeight;
      const filled = row.max > 0 ? Math.min(1, row.value / row.max) : 0;
      return s('g', null,
        s('text', { x: 0, y: y + 19, class: 'axis' }, row.label),
        s('rect', { x: labelWidth, y: y + 4, width: plot, height: 20, rx: 3, class: 'track' }),
        s('rect', { x: labelWidth, y: y + 4, width: Math.max(0, plot * filled), height: 20, rx: 3, class: `bar ${row.cls ?? ''}` }),
        s('text', { x: labelWidth + plot + 8, y: y + 19, class: 'value' }, row.max ? `${row.value} / ${row.max}` : String(row.value)));
    }));
}

/** The frame of a column chart `width` × `height`: `left` is kept for the value axis, `bottom`
 * for the labels under the columns and `top` above the tallest; columns stand on `base`, at
 * most `plotH` high. */
function columnFrame(width, height, left, bottom, top = 10) {
  const plotH = height - bottom - top;
  return { width, height, left, plotW: width - left - 8, plotH, base: top + plotH };
}

/** The zero line of a column chart. */
function baseLine(frame) {
  return s('line', { x1: frame.left, y1: frame.base, x2: frame.left + frame.plotW, y2: frame.base, class: 'axisline' });
}

/** A column standing on the frame's zero line, `share` (0..1) of the plot high, with `title`
 * shown on hover and read out. */
function column(frame, x, width, share, cls, title) {
  const barH = Math.max(0, Math.min(1, share)) * frame.plotH;
  return s('rect', { x, y: frame.base - barH, width: Math.max(1, width), height: barH, class: `bar ${cls}` }, s('title', null, title));
}

/** The score histogram: 20 bins over [−1, 1], with the chance line at 0. */
function histogram(bins) {
  const frame = columnFrame(420, 170, 28, 24);
  const { left, plotW } = frame;
  const top = Math.max(1, ...bins.map(b => b.count));
  const barW = plotW / Math.max(1, bins.length);
  return s('svg', { viewBox: `0 0 ${frame.width} ${frame.height}`, class: 'chart', role: 'img', 'aria-label': 'Histogram of labeler scores from −1 to 1' },
    s('title', null, 'Labeler scores'),
    baseLine(frame),
    bins.map((bin, i) => column(frame, left + i * barW + 1, barW - 2, bin.count / top, bin.to <= 0 ? 'neg' : 'pos',
      `${bin.from.toFixed(1)} to ${bin.to.toFixed(1)}: ${bin.count}`)),
    s('line', { x1: left + plotW / 2, y1: 6, x2: left + plotW / 2, y2: frame.base, class: 'chance' }),
    [-1, -0.5, 0, 0.5, 1].map(v => s('text', { x: left + ((v + 1) / 2) * plotW, y: frame.height - 6, class: 'axis', 'text-anchor': 'middle' }, String(v))),
    s('text', { x: 2, y: 18, class: 'axis' }, String(top)));
}

const FIFTHS = ['first fifth', 'second fifth', 'third fifth', 'fourth fifth', 'last fifth'];
const percent = share => `${Math.round(share * 100)}%`;
const labelCount = n => (n === 1 ? '1 label' : `${n} labels`);
const agreementText = value => (value === null ? '—' : value.toFixed(2));

/** Quality through the labelers' sessions: per part of a batch, in labeling order, a column of
 * peer agreement and, once any part has one (after settlement), one of gold agreement, over
 * 0..1, with the part's label count beneath. */
function qualityChart(parts) {
  const frame = columnFrame(560, 214, 34, 46, 24);
  const { left, plotW, plotH, base } = frame;
  const series = [['peer_agreement', 'peer', 'peer agreement']];
  if (parts.some(p => p.gold_agreement !== null)) series.push(['gold_agreement', 'gold', 'gold agreement']);
  const groupW = plotW / parts.length;
  const barW = Math.min(36, (groupW - 24) / series.length);
  const y = value => base - value * plotH;
  const name = (part, i) => (parts.length === FIFTHS.length ? FIFTHS[i] : `${percent(part.from)}–${percent(part.to)}`);
  const describe = (part, i) => `${name(part, i)} (${percent(part.from)} to ${percent(part.to)} of each batch): ${labelCount(part.labels)}, `
    + series.map(([field, , words]) => `${words} ${agreementText(part[field])}`).join(', ');
  return s('svg', {
    viewBox: `0 0 ${frame.width} ${frame.height}`, class: 'chart', role: 'img',
    'aria-label': `Agreement by position in the labelers' batches: ${parts.map(describe).join('; ')}`,
  },
  s('title', null, 'Quality through the session'),
  [0.5, 1].map(v => s('line', { x1: left, y1: y(v), x2: left + plotW, y2: y(v), class: 'gridline' })),
  [0, 0.5, 1].map(v => s('text', { x: left - 6, y: y(v) + 5, class: 'axis', 'text-anchor': 'end' }, String(v))),
  baseLine(frame),
  parts.map((part, i) => {
    const center = left + (i + 0.5) * groupW;
    const start = center - (barW * series.length) / 2;
    return s('g', { class: 'part', 'data-labels': String(part.labels) },
      s('title', null, describe(part, i)),
      series.map(([field, cls, words], k) => {
        const value = part[field];
        const x = start + k * barW;
        return [
          value === null ? null : column(frame, x + 2, barW - 4, value, cls, `${name(part, i)}: ${words} ${agreementText(value)}`),
          s('text', { x: x + barW / 2, y: (value === null ? base : y(Math.max(0, Math.min(1, value)))) - 5, class: 'value small', 'text-anchor': 'middle' }, agreementText(value)),
        ];
      }),
      s('text', { x: center, y: base + 18, class: 'axis', 'text-anchor': 'middle' }, name(part, i)),
      s('text', { x: center, y: base + 37, class: 'axis small', 'text-anchor': 'middle' }, labelCount(part.labels)));
  }));
}

/** The quality section: the chart and what it says, or why there is none yet. */
// What the dataset leaves out, by reason: what the settlement's filter did.
const LEFT_OUT_REASONS = [
  ['slashed', 'of slashed labelers'],
  ['unexplained_copies', 'copies their skill does not explain'],
  ['below_chance_in_stratum', 'in a stratum where their labeler is below chance'],
];

function leftOutNote(leftOut) {
  if (!leftOut) return null;
  const byReason = leftOut.by_reason ?? {};
  const dropped = Object.values(byReason).reduce((a, b) => a + b, 0);
  const reasons = LEFT_OUT_REASONS.filter(([key]) => byReason[key]).map(([key, text]) => `${byReason[key]} ${text}`);
  return h('p', { id: 'left-out' },
    dropped === 0
      ? `Every one of the ${leftOut.kept} revealed labels is in the dataset.`
      : `The dataset keeps ${leftOut.kept} of ${leftOut.kept + dropped} revealed labels; left out: ${reasons.join(', ')}.`);
}

// What weighing tired session tails apart did to the consensus.
function sessionFilterNote(filter) {
  if (!filter) return null;
  if (filter.tired_labels === 0) return h('p', { id: 'session-filter', class: 'muted' }, 'No labeler\'s session showed a fall in quality.');
  const percent = share => share === null ? '–' : `${(100 * share).toFixed(1)}%`;
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return h('p', { id: 'session-filter' },
    `${plural(filter.tired_labels, 'label')} from ${plural(filter.tired_labelers, 'labeler')} came after their quality fell in a session; the consensus weighs them on their own. `
    + `On the ${filter.gold_tasks} gold tasks it agrees with the answer on ${percent(filter.gold_agreement)}, against ${percent(filter.gold_agreement_untired)} with them counted as their labeler's.`);
}

function qualitySection(parts, settled) {
  if (!parts) return null;
  let content;
  if (parts.length === 0) {
    content = h('p', { class: 'muted' }, 'Free-text answers are not compared with each other, so quality through the session is not measured for them.');
  } else if (parts.every(p => p.labels === 0)) {
    content = h('p', { class: 'muted' }, 'Appears once labels are revealed: how well answers agree from the start of each labeler\'s batch to its end.');
  } else {
    const gold = parts.some(p => p.gold_agreement !== null);
    content = h('div', { class: 'quality-body' },
      h('div', null,
        qualityChart(parts),
        h('p', { class: 'legend' },
          h('span', { class: 'swatch peer' }), 'peer agreement',
          gold ? [h('span', { class: 'swatch gold' }), 'gold agreement'] : null)),
      h('div', { class: 'muted' },
        h('p', null, 'Each revealed batch is cut into fifths in the order its labeler answered. Peer agreement is how well a label agrees with the other labels on its task (1 is full agreement); gold agreement, how well it agrees with the gold answer on gold tasks.'),
        h('p', null, 'A fall towards the end of sessions means labelers tire: smaller batches may help.'),
        h('p', null, 'A dash marks a part with nothing to compare: no gold task there, or no other label on its tasks.'),
        gold || settled ? null : h('p', null, 'Gold agreement appears at settlement, when the gold answers stop being secret.')));
  }
  return h('section', { class: 'card quality', id: 'quality', 'aria-labelledby': 'quality-title' },
    h('h2', { id: 'quality-title' }, 'Quality through the session'), content);
}

const countText = value => (value === null || value === undefined ? '—' : String(value));

/** Per round, a column of the regular tasks it asked about and one of those the labels
 * revealed up to it are sure of, both over all the regular tasks, with the round's batches
 * beneath: asked falls and sure rises as later rounds settle what the crowd disagreed on. */
/** What a rounds panel counts: regular tasks and the tasks the crowd is sure of under dynamic
 * overlap; in a best-of experiment, matches asked and matches decided, of every match. */
function roundTerms(rounds) {
  return rounds.rule === 'best_of'
    ? { total: rounds.matches, asked: 'matches asked', sure: 'decided', sureOf: 'matches decided', heading: 'Decided' }
    : { total: rounds.regular_tasks, asked: 'tasks asked', sure: 'sure of', sureOf: 'tasks the crowd is sure of', heading: 'Sure of' };
}

function roundsChart(rounds) {
  const frame = columnFrame(520, 214, 34, 46, 24);
  const { left, plotW, plotH, base } = frame;
  const terms = roundTerms(rounds);
  const total = Math.max(1, terms.total);
  const series = [['tasks_asked', 'asked', terms.asked], ['confident', 'sure', terms.sure]];
  const groupW = plotW / rounds.by_round.length;
  const narrow = groupW < 64;
  const barW = Math.min(44, Math.max(4, (groupW - (narrow ? 6 : 24)) / series.length));
  const y = value => base - (Math.min(value, total) / total) * plotH;
  const describe = r => `Round ${r.round + 1}: ${r.batches} batches, ${r.tasks_asked} ${terms.asked}, ${terms.sure} ${countText(r.confident)} of ${terms.total}`;
  return s('svg', {
    viewBox: `0 0 ${frame.width} ${frame.height}`, class: 'chart', role: 'img',
    'aria-label': `${terms.asked} and ${terms.sureOf}, by round: ${rounds.by_round.map(describe).join('; ')}`,
  },
  s('title', null, 'Rounds'),
  s('line', { x1: left, y1: y(total), x2: left + plotW, y2: y(total), class: 'gridline' }),
  [0, total].map(v => s('text', { x: left - 6, y: y(v) + 5, class: 'axis', 'text-anchor': 'end' }, String(v))),
  baseLine(frame),
  rounds.by_round.map((r, i) => {
    const center = left + (i + 0.5) * groupW;
    const start = center - (barW * series.length) / 2;
    return s('g', { class: 'round', dataset: { round: String(r.round) } },
      s('title', null, describe(r)),
      series.map(([field, cls, words], k) => {
        const value = r[field];
        const x = start + k * barW;
        return [
          value === null ? null : column(frame, x + 2, barW - 4, value / total, cls, `Round ${r.round + 1}: ${words} ${value}`),
          s('text', { x: x + barW / 2, y: (value === null ? base : y(value)) - 5, class: 'value small', 'text-anchor': 'middle' }, countText(value)),
        ];
      }),
      // Past a few rounds a column is too narrow for words: the round's number alone.
      s('text', { x: center, y: base + 18, class: 'axis', 'text-anchor': 'middle' }, narrow ? String(r.round + 1) : `Round ${r.round + 1}`),
      narrow ? null : s('text', { x: center, y: base + 37, class: 'axis small', 'text-anchor': 'middle' }, `${r.batches} batch${r.batches === 1 ? '' : 'es'}`));
  }));
}

/** The rounds panel: the chart and how later rounds choose their tasks, then per round its
 * window, batches, tasks asked and tasks the crowd is sure of. Null without rounds. */
function roundsSection(experiment, rounds) {
  if (!rounds) return null;
  const spec = experiment.spec;
  const windows = roundWindows(spec);
  const sure = Math.round(rounds.confidence * 1000) / 10;
  const settled = experiment.phase === 'settled';
  const terms = roundTerms(rounds);
  const explained = rounds.rule === 'best_of'
    ? [`Round 1 asks each prompt's first matches, ${spec.overlap} labelers each. Each later round asks the knockout's next comparisons, from the labelers whose answers so far weigh most: first votes for the matches whose entrants are now known, and more votes where a match is not yet decided, until the winner is ${sure}% sure, at most ${spec.rounds.labels_max} votes a match.`,
      `“Decided” is how many of the ${terms.total} matches the votes revealed up to a round have decided; it appears once the round's labels are revealed. The winner, the ranking and every match are in the best-of export.`]
    : [`Round 1 asks about all ${rounds.regular_tasks} regular tasks, ${spec.overlap} labelers each. Each later round asks one more labeler about the tasks whose revealed labels are not yet ${sure}% sure of an answer, up to ${spec.rounds.labels_max} labels a task.`,
      '“Sure of” is how many regular tasks the labels revealed up to a round are sure of, each labeler weighed by how often it agreed with its peers; it appears once the round\'s labels are revealed.'];
  return h('section', { class: 'card', id: 'rounds', 'aria-labelledby': 'rounds-title' },
    h('h2', { id: 'rounds-title' }, 'Rounds'),
    h('div', { class: 'quality-body' },
      h('div', null,
        roundsChart(rounds),
        h('p', { class: 'legend' },
          h('span', { class: 'swatch' }), terms.asked,
          h('span', { class: 'swatch sure' }), `${terms.sureOf} (of ${terms.total})`)),
      h('div', { class: 'muted' }, explained.map(text => h('p', null, text)))),
    h('div', { class: 'scroll' }, h('table', { class: 'table', id: 'rounds-table' },
      h('thead', null, h('tr', null, ['Round', 'Commits until', 'Reveals until', 'Batches', 'Revealed', terms.asked[0].toUpperCase() + terms.asked.slice(1), terms.heading].map(t => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rounds.by_round.map(r => h('tr', {
        dataset: { round: String(r.round) },
        class: !settled && r.round === experiment.round ? 'current' : null,
        'aria-current': !settled && r.round === experiment.round ? 'step' : null,
      },
      h('th', { scope: 'row' }, `Round ${r.round + 1}`),
      h('td', null, when(windows[r.round].commit_deadline)),
      h('td', null, when(windows[r.round].reveal_deadline)),
      h('td', { class: 'num' }, String(r.batches)),
      h('td', { class: 'num' }, String(r.revealed)),
      h('td', { class: 'num' }, String(r.tasks_asked)),
      h('td', { class: 'num' }, r.confident === null ? '—' : `${r.confident} of ${terms.total}`)))))));
}

function agreementGauge(alpha) {
  const width = 420;
  const x = alpha === null ? null : 10 + ((Math.max(-1, Math.min(1, alpha)) + 1) / 2) * (width - 20);
  return s('svg', { viewBox: `0 0 ${width} 56`, class: 'chart', role: 'img', 'aria-label': alpha === null ? 'Agreement not yet measured' : `Krippendorff's alpha ${alpha.toFixed(3)}` },
    s('rect', { x: 10, y: 18, width: width - 20, height: 12, rx: 6, class: 'track' }),
    s('rect', { x: 10 + (1.667 / 2) * (width - 20), y: 18, width: ((1 - 0.667) / 2) * (width - 20), height: 12, class: 'zone' }),
    x === null ? null : s('circle', { cx: x, cy: 24, r: 8, class: 'marker' }),
    [-1, 0, 0.667, 1].map(v => s('text', { x: 10 + ((v + 1) / 2) * (width - 20), y: 50, class: 'axis', 'text-anchor': 'middle' }, String(v))));
}

function timeline(experiment) {
  const reached = PHASES.indexOf(experiment.phase);
  // With rounds the phase goes from open to revealing once per round; the notes name the round.
  const live = experiment.phase === 'open' || experiment.phase === 'revealing';
  const round = (experiment.rounds ?? 1) > 1 && live ? `round ${experiment.round + 1} of ${experiment.rounds}: ` : '';
  const notes = {
    draft: 'tasks, funding',
    open: `${round}commits until ${when(experiment.commit_deadline)}`,
    revealing: experiment.spec.commits_closed_at
      ? `commits closed early ${when(experiment.spec.commits_closed_at)}; reveals until ${when(experiment.reveal_deadline)}`
      : `${round}reveals until ${when(experiment.reveal_deadline)}`,
    settled: 'payouts final',
  };
  return h('ol', { class: 'timeline', 'aria-label': 'Phases' }, PHASES.map((phase, i) => h('li', {
    class: i < reached ? 'past' : i === reached ? 'now' : 'future',
    'aria-current': i === reached ? 'step' : null,
  }, h('strong', null, phase), h('small', null, notes[phase]))));
}

function payoutTable(settlement) {
  const t = settlement.totals;
  const inflow = BigInt(t.reward_pool) + BigInt(t.stakes);
  const outflow = BigInt(t.rewards) + BigInt(t.stakes_returned) + BigInt(t.refund) + BigInt(t.burned);
  return h('div', { class: 'stack' },
    h('div', { class: 'scroll' }, h('table', { class: 'table', id: 'payouts' },
      h('thead', null, h('tr', null, ['Labeler', 'Tier', 'Score', 'Items', 'Stake', 'Reward', 'Slashed', 'Payout'].map(c => h('th', { scope: 'col' }, c)))),
      h('tbody', null, settlement.labelers.map(l => h('tr', null,
        h('td', null, h('code', { title: l.labeler }, short(l.labeler))),
        h('td', null, tierBadge(l.tier)),
        h('td', { class: 'num' }, score(l.score)),
        h('td', { class: 'num' }, String(l.tally.peer_n + l.tally.gold_n)),
        h('td', { class: 'num' }, amount(l.stake)),
        h('td', { class: 'num' }, amount(l.reward)),
        h('td', { class: 'num' }, amount(BigInt(l.slash) + BigInt(l.non_reveal_penalty) + BigInt(l.chance_fee ?? 0) + BigInt(l.copy_fee ?? 0))),
        h('td', { class: 'num' }, h('strong', null, amount(l.payout)))))))),
    h('p', { class: inflow === outflow ? 'muted' : 'error', id: 'conservation' },
      `Pool ${amount(t.reward_pool)} + stakes ${amount(t.stakes)} = rewards ${amount(t.rewards)} + stakes returned ${amount(t.stakes_returned)} `,
      `+ refund ${amount(t.refund)} + burned ${amount(t.burned)}`, inflow === outflow ? ' ✓ conserved' : ' ✗ NOT conserved'),
    h('p', { class: 'muted' }, 'Payout root ', h('code', { class: 'break' }, settlement.payout_root)),
    droppedGold(settlement.gold_dropped ?? []));
}

/** Gold whose answers the labelers contradicted: left out of scoring, and worth a second look. */
function droppedGold(tasks) {
  if (!tasks.length) return null;
  const lines = tasks.map(t => t + 1).join(', ');
  return h('p', { class: 'notice warn', id: 'gold-dropped' },
    `${tasks.length} gold task(s) left out of scoring because the labelers contradicted their answers: `,
    `line(s) ${lines} of the imported task file. Check those answers; wrong gold is common.`);
}

export async function dashboardScreen(app, initial) {
  const id = initial.experiment_id;
  const body = h('div', { class: 'stack', id: 'dashboard' });
  let lastKey = '';

  // A settled experiment's stats never change again, and they cost the server a consensus.
  let settledStats = null;
  const draw = async () => {
    const [experiment, stats, work] = await Promise.all([
      app.api.experiment(id), settledStats ?? app.api.stats(id), app.api.work(id, app.signer.address),
    ]);
    if (stats.phase === 'settled') settledStats = stats;
    app.sawServerClock(work.now);
    const settlement = experiment.phase === 'settled' ? await app.api.settlement(id) : null;
    // Redraw only when something changed, so focus and scroll stay put between polls.
    const key = JSON.stringify([experiment.phase, experiment.round, stats, settlement?.payout_root, work.now >= experiment.reveal_deadline]);
    if (key === lastKey) return;
    lastKey = key;
    const spec = experiment.spec;
    const rounds = stats.rounds ?? null;
    // A best-of experiment's first round asks only each prompt's first matches.
    const firstTasks = rounds?.first_round_tasks ?? experiment.tasks.regular;
    const blocks = Math.ceil(firstTasks / spec.block_size);
    const cohorts = spec.cohorts ? spec.cohorts.values.length : 1;
    const b = stats.batches;
    const tiers = stats.tiers;
    // The first round fills every block `overlap` times; later rounds add a batch for each block
    // of the tasks still unsure, which nobody knows ahead, so their batches are counted as taken.
    const firstRound = blocks * spec.overlap * cohorts;
    const capacity = rounds ? firstRound + rounds.by_round.slice(1).reduce((sum, r) => sum + r.batches, 0) : firstRound;
    const lastRound = experiment.round + 1 >= (experiment.rounds ?? 1);
    // Due at the (last round's) reveal deadline, or on the embedded ledger (no market contract)
    // as soon as every committed batch is revealed in the last round.
    const embedded = /^0x0{40}$/.test(experiment.verifying_contract);
    const allRevealed = b.revealed >= b.committed;
    const due = experiment.phase === 'revealing' && lastRound
      && (work.now >= experiment.reveal_deadline || (embedded && allRevealed));
    const act = (path, done) => async () => {
      try {
        await app.api.post(path);
        app.notify(done, 'ok');
        lastKey = '';
        await draw();
      } catch (error) {
        app.notify(app.describe(error), 'error');
      }
    };
    // The creator may end the commit phase once every batch taken is committed (embedded
    // ledger only): reveals open at once, and settlement follows the last one.
    // Each round of an experiment with rounds closes at its deadline instead.
    const closable = experiment.phase === 'open' && embedded && !rounds && isMine(app, experiment.creator) && b.joined > 0 && b.committed >= b.joined;
    const action = due
      ? h('button', { type: 'button', class: 'primary', id: 'settle', onclick: act(`/experiments/${id}/settle`, 'Settled.') }, 'Settle now')
      : closable
        ? h('button', { type: 'button', class: 'primary', id: 'close-commits', title: 'Every batch taken is committed. Closing ends joining now and opens the reveals.', onclick: act(`/experiments/${id}/close`, 'Commits closed: labelers can reveal now.') }, 'Close commits now')
        : null;
    replace(body,
      h('p', { class: 'crumbs' }, h('a', { href: '#/lab' }, 'Experiments'), ' / ', experiment.title),
      h('div', { class: 'row spread' }, h('h1', null, experiment.title, ' ', phaseBadge(experiment.phase)), action),
      timeline(experiment),
      h('div', { class: 'cards dash' },
        h('section', { class: 'card', 'aria-labelledby': 'progress-title' },
          h('h2', { id: 'progress-title' }, 'Progress'),
          barChart('Batches joined, committed and revealed', [
            { label: 'joined', value: b.joined, max: capacity, cls: 'joined' },
            { label: 'committed', value: b.committed, max: capacity, cls: 'committed' },
            { label: 'revealed', value: b.revealed, max: capacity, cls: 'revealed' },
          ]),
          h('p', { class: 'muted', id: 'progress-text' }, `${b.joined} joined, ${b.committed} committed, ${b.revealed} revealed of ${capacity} batches (${blocks} block(s) × ${spec.overlap} labelers${cohorts > 1 ? ` × ${cohorts} cohorts` : ''}${rounds ? ' in round 1, and the batches taken in later rounds' : ''}).`)),
        h('section', { class: 'card', 'aria-labelledby': 'agreement-title' },
          h('h2', { id: 'agreement-title' }, 'Agreement'),
          h('p', { class: 'big', id: 'agreement' }, stats.agreement === null ? '—' : stats.agreement.toFixed(3)),
          agreementGauge(stats.agreement),
          h('p', { class: 'muted' }, 'Krippendorff\'s alpha over revealed labels: 1 is perfect, 0 is chance; 0.667 and above is the usual bar for tentative conclusions.'),
          Object.keys(stats.agreement_by_cohort ?? {}).length
            ? h('dl', { class: 'facts compact' }, Object.entries(stats.agreement_by_cohort).map(([c, a]) => [h('dt', null, c), h('dd', null, a === null ? '—' : a.toFixed(3))]))
            : null),
        h('section', { class: 'card', 'aria-labelledby': 'hist-title' },
          h('h2', { id: 'hist-title' }, 'Scores'),
          stats.score_histogram.length ? histogram(stats.score_histogram) : h('p', { class: 'muted' }, 'The histogram of labeler scores appears at settlement.')),
        h('section', { class: 'card', 'aria-labelledby': 'tiers-title' },
          h('h2', { id: 'tiers-title' }, 'Tiers'),
          tiers
            ? barChart('Labelers per tier', [
              { label: 'rewarded', value: tiers.rewarded, max: tiers.rewarded + tiers.even + tiers.slashed, cls: 'rewarded' },
              { label: 'even', value: tiers.even, max: tiers.rewarded + tiers.even + tiers.slashed, cls: 'even' },
              { label: 'slashed', value: tiers.slashed, max: tiers.rewarded + tiers.even + tiers.slashed, cls: 'slashed' },
            ])
            : h('p', { class: 'muted' }, 'Tiers are decided at settlement.'))),
      roundsSection(experiment, rounds),
      qualitySection(stats.quality_by_position, experiment.phase === 'settled'),
      h('section', { class: 'card', 'aria-labelledby': 'payouts-title' },
        h('h2', { id: 'payouts-title' }, 'Payouts'),
        settlement ? payoutTable(settlement) : h('p', { class: 'muted' }, `Payouts are computed when the experiment settles: as soon as every committed batch ${rounds ? 'of the last round ' : ''}is revealed${embedded ? '' : ' and the reveal deadline has passed'}, and at the latest at ${when(roundWindows(spec).at(-1).reveal_deadline)}.`)),
      h('section', { class: 'card', 'aria-labelledby': 'export-title' },
        h('h2', { id: 'export-title' }, 'Export'),
        settlement ? leftOutNote(stats.left_out) : null,
        settlement ? sessionFilterNote(stats.session_filter) : null,
        settlement
          ? h('div', { class: 'row wrap', id: 'exports' },
            FORMATS.filter(([format]) => offered(format, spec)).map(([format, label, note]) => h('a', {
              class: 'button', href: app.api.exportUrl(id, format), download: '', dataset: { format }, title: note,
            }, label)),
            h('a', { class: 'button ghost', href: `/api/v1/experiments/${id}/record`, download: `${id}.record.json`, dataset: { format: 'record' } }, 'Public record (for audit)'))
          : h('p', { class: 'muted' }, 'The dataset can be exported once the experiment is settled; labels of slashed labelers are left out.')),
      h('p', { class: 'muted' }, 'Seed hash ', h('code', { class: 'break' }, experiment.seed_hash ?? '—')),
      h('p', { class: 'muted' }, 'Task list hash (tasks and gold answers, committed at open) ',
        h('code', { class: 'break', id: 'tasks-hash' }, experiment.tasks_hash ?? '—')));
  };

  await draw();
  app.every(2000, () => draw().catch(() => {
    // A missed refresh is retried on the next tick.
  }));
  return body;
}
