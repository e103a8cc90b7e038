// The labeler's home (balance, locked stake, reputation, work in progress, earnings, open
// experiments) and the experiment page where a labeler sees the stake before joining, and the
// practice (and the qualification it may be) before that. With adaptive rounds both name the
// round, and the experiment page shows the labeler's batches round by round.

import { h, amount, duration, markdown, when } from '../dom.js';
import { eligible } from '../protocol.js';
import { join, reveal } from '../flows.js';
import { describeQuestion, phaseBadge, practiceNeed, practiceScore, tierBadge } from './common.js';
import { hasRounds, roundName, roundOfBatch, roundStats, roundsCard } from './rounds.js';

/** Every experiment with this labeler's work in it: `[{experiment, work, result}]`, where
 * `result` is its line of the settlement once settled. */
export async function myWork(app, experiments) {
  const address = app.signer.address;
  const live = experiments.filter(e => e.phase !== 'draft' && e.phase !== 'cancelled');
  const works = await Promise.all(live.map(e => app.api.work(e.experiment_id, address)));
  const out = [];
  for (const [i, experiment] of live.entries()) {
    const work = works[i];
    app.sawServerClock(work.now);
    if (work.batches.length === 0) continue;
    let result = null;
    if (experiment.phase === 'settled') {
      const settlement = await app.api.settlement(experiment.experiment_id);
      result = settlement.labelers.find(l => l.labeler.toLowerCase() === address.toLowerCase()) ?? null;
    }
    out.push({ experiment, work, result });
  }
  return out;
}

/** Reveals every committed, unrevealed batch whose round is in its reveal window: the
 * "automatic on the next visit" reveal. Returns what it revealed. */
export async function revealPending(app, work) {
  const revealed = [];
  for (const { experiment, work: w } of work) {
    if (experiment.phase !== 'revealing') continue;
    for (const batch of w.batches) {
      if (batch.committed_at == null || batch.revealed_at != null) continue;
      // An earlier round's reveal window is over; only the current round's batches reveal.
      if (roundOfBatch(experiment, batch) !== experiment.round) continue;
      try {
        await reveal(app, experiment, batch.batch_id, batch.commitment);
        batch.revealed_at = app.now();
        revealed.push({ experiment, batch });
      } catch (error) {
        app.notify(`Could not reveal batch ${batch.batch_id} of “${experiment.title}”: ${app.describe(error)}`, 'error');
      }
    }
  }
  return revealed;
}

function batchStatus(experiment, batch, result) {
  if (experiment.phase === 'settled') {
    if (!result) return 'settled';
    return batch.revealed_at != null ? 'settled' : 'not revealed';
  }
  if (batch.revealed_at != null) return 'revealed';
  // A batch of a round that is over can no longer be committed or revealed.
  if (roundOfBatch(experiment, batch) < experiment.round) return batch.committed_at != null ? 'not revealed' : 'missed the deadline';
  if (batch.committed_at != null) return experiment.phase === 'revealing' ? 'reveal now' : 'sealed';
  return experiment.phase === 'open' ? 'labeling' : 'missed the deadline';
}

function workTable(app, work) {
  const rows = [];
  for (const { experiment, work: w, result } of work) {
    for (const batch of w.batches) {
      const status = batchStatus(experiment, batch, result);
      const href = `#/x/${experiment.experiment_id}/batch/${batch.batch_id}`;
      const action = {
        labeling: h('a', { href, class: 'button primary' }, 'Continue labeling'),
        sealed: h('a', { href, class: 'button' }, `Reveal after ${when(experiment.commit_deadline)}`),
        'reveal now': h('a', { href, class: 'button primary' }, 'Reveal now'),
        revealed: h('a', { href, class: 'button' }, 'Revealed'),
        settled: h('a', { href, class: 'button' }, 'See earnings'),
        'not revealed': h('a', { href, class: 'button' }, 'Details'),
        'missed the deadline': h('a', { href, class: 'button' }, 'Details'),
      }[status];
      rows.push(h('tr', { dataset: { batch: String(batch.batch_id) } },
        h('td', null, experiment.title),
        h('td', { class: 'num' }, String(batch.batch_id),
          hasRounds(experiment) ? h('small', { class: 'muted round-of' }, ` · round ${roundOfBatch(experiment, batch) + 1}`) : null),
        h('td', null, h('span', { class: `badge status-${status.replace(/ /g, '-')}` }, status)),
        h('td', null, result ? tierBadge(result.tier) : ''),
        h('td', { class: 'num' }, result ? amount(result.reward) : ''),
        h('td', null, action)));
    }
  }
  if (rows.length === 0) return h('p', { class: 'muted' }, 'No work yet: join an experiment below.');
  return h('div', { class: 'scroll' }, h('table', { class: 'table', id: 'my-work' },
    h('thead', null, h('tr', null, ['Experiment', 'Batch', 'Status', 'Tier', 'Reward', ''].map(t => h('th', { scope: 'col' }, t)))),
    h('tbody', null, rows)));
}

function earnings(work) {
  let rewards = 0n;
  let slashed = 0n;
  let settled = 0;
  for (const { result } of work) {
    if (!result) continue;
    settled += 1;
    rewards += BigInt(result.reward);
    slashed += BigInt(result.slash) + BigInt(result.non_reveal_penalty) + BigInt(result.chance_fee ?? 0) + BigInt(result.copy_fee ?? 0);
  }
  return { rewards, slashed, settled };
}

export async function labelerHome(app) {
  // Drafts and cancelled experiments hold no work; the newest 500 of the rest are looked at.
  const listed = app.api.experiments({ phase: 'open,revealing,settled', limit: 500 });
  const [experiments, account] = await Promise.all([listed, app.refreshAccount()]);
  const work = await myWork(app, experiments);
  const revealed = await revealPending(app, work);
  if (revealed.length) await app.refreshAccount();
  const joinedIds = new Set(work.map(w => w.experiment.experiment_id));
  const batchesIn = id => work.find(w => w.experiment.experiment_id === id)?.work.batches.length ?? 0;
  const open = experiments.filter(e => e.phase === 'open');
  const eligibleOpen = open.filter(e => eligible(account.reputation, e.spec)
    && batchesIn(e.experiment_id) < e.spec.limits.batches_per_labeler_max);
  const { rewards, slashed, settled } = earnings(work);
  const reputation = account.reputation;
  return h('section', { class: 'stack' },
    h('h1', null, 'Labeling'),
    revealed.length
      ? h('div', { class: 'notice ok', role: 'status', id: 'auto-revealed' },
        `Revealed your sealed labels automatically: ${revealed.map(r => `batch ${r.batch.batch_id} of “${r.experiment.title}”`).join(', ')}.`)
      : null,
    h('div', { class: 'cards' },
      h('div', { class: 'card stat' }, h('span', null, 'Available'), h('strong', { id: 'available' }, amount(account.available)), h('small', null, 'credits')),
      h('div', { class: 'card stat' }, h('span', null, 'Locked stake'), h('strong', { id: 'locked' }, amount(account.locked)), h('small', null, 'until settlement')),
      h('div', { class: 'card stat' }, h('span', null, 'Reputation'),
        h('strong', null, reputation ? `${reputation.rewarded} / ${reputation.experiments}` : 'new'),
        h('small', null, reputation ? `rewarded / settled experiments; ${reputation.slashed} slashed` : 'no settled experiment yet')),
      h('div', { class: 'card stat' }, h('span', null, 'Earned'), h('strong', { id: 'earned' }, amount(rewards)),
        h('small', null, `in ${settled} settled experiment${settled === 1 ? '' : 's'}${slashed ? `; ${amount(slashed)} lost to slashing` : ''}`))),
    h('h2', null, 'Your work'),
    workTable(app, work),
    h('h2', null, 'Open experiments you can join'),
    eligibleOpen.length === 0
      ? h('p', { class: 'muted' }, open.length ? 'None you can join now (eligibility, or you took every batch allowed).' : 'No experiment is open right now.')
      : h('ul', { class: 'experiments' }, eligibleOpen.map(e => h('li', { class: 'card' },
        h('h3', null, h('a', { href: `#/x/${e.experiment_id}` }, e.title)),
        h('p', null, describeQuestion(e.spec.question)),
        h('dl', { class: 'facts compact' },
          h('dt', null, 'Tasks per batch'), h('dd', null, String(e.spec.block_size + e.spec.gold_per_batch)),
          h('dt', null, 'Stake'), h('dd', null, amount(e.spec.stake_per_batch)),
          h('dt', null, 'Reward pool'), h('dd', null, amount(e.spec.reward_pool)),
          hasRounds(e) ? [h('dt', null, 'Round'), h('dd', null, `${e.round + 1} of ${e.rounds}`)] : null,
          h('dt', null, 'Commit by'), h('dd', null, when(e.commit_deadline))),
        e.spec.qualification
          ? h('p', { class: 'muted' }, `Practice first: ${e.spec.qualification.items} tasks, a score of at least ${practiceScore(e.spec.qualification.score_min)}.`)
          : (e.practice_tasks ?? 0) > 0 ? h('p', { class: 'muted' }, 'Practice tasks to try before staking.') : null,
        joinedIds.has(e.experiment_id) ? h('p', { class: 'muted' }, `You have ${batchesIn(e.experiment_id)} batch(es) here.`) : null))));
}

/** The labeler's practice here, read signed in: `{practice}` or `{error}`, or null when the
 * experiment has none, is not open, or the labeler is not signed in (a wallet asks first). */
async function practiceOf(app, experiment) {
  if ((experiment.practice_tasks ?? 0) === 0 || experiment.phase !== 'open' || !app.session) return null;
  try {
    return { practice: await app.withSession(() => app.api.practice(experiment.experiment_id)) };
  } catch (error) {
    return { error };
  }
}

/** The practice card of the experiment page: how much, the score needed in plain words, where
 * the labeler stands, and the way in. `lead`: practice is the next step, so its button takes the
 * focus. */
function practiceCard(app, experiment, read, lead) {
  const id = experiment.experiment_id;
  const qualification = experiment.spec.qualification ?? null;
  const practice = read?.practice ?? null;
  const items = practice?.items ?? qualification?.items ?? experiment.practice_tasks;
  const href = `#/x/${id}/practice`;
  let action;
  if (experiment.phase !== 'open') {
    action = h('p', { class: 'muted' }, 'Practice is open while the experiment is, before its commit deadline.');
  } else if (!app.session) {
    action = h('button', { type: 'button', class: 'primary', id: 'practice-sign-in', 'data-autofocus': lead ? '' : null, onclick: async () => {
      try {
        await app.signIn();
        app.render();
      } catch (error) {
        app.notify(app.describe(error), 'error');
      }
    } }, 'Sign in to practice');
  } else if (read?.error) {
    action = h('p', { class: 'error' }, `Could not read your practice: ${app.describe(read.error)}`);
  } else if (practice.task) {
    action = h('p', null, h('a', { href, class: 'button primary', id: 'practice-start', 'data-autofocus': lead ? '' : null },
      practice.answered === 0 ? 'Start practice' : `Continue practice (${practice.answered} of ${practice.items} answered)`));
  } else {
    const badge = practice.qualified === true ? h('span', { class: 'badge ok' }, 'qualified')
      : practice.qualified === false ? h('span', { class: 'badge' }, 'not qualified') : null;
    action = h('p', { id: 'practice-done' }, `Practice done: your score is ${practiceScore(practice.score)}. `, badge, ' ',
      h('a', { href }, 'See the result'));
  }
  return h('div', { class: 'card', id: 'practice-card' },
    h('h2', null, 'Practice'),
    qualification
      ? h('p', null, `Before joining, answer ${items} practice tasks with known answers. `, h('span', { id: 'practice-need' }, practiceNeed(qualification.score_min)))
      : h('p', null, `Try ${items} practice tasks with known answers before you stake anything.`),
    h('p', { class: 'muted' }, 'Each practice task is answered once, and right after it you see the expected answer and why. ',
      'Practice costs nothing and does not count toward your pay.'),
    action);
}

/** Why joining is closed now: with rounds, a round's reveal window may be followed by another
 * round that takes joins again. */
function closedReason(experiment) {
  if (experiment.phase === 'revealing' && experiment.round + 1 < (experiment.rounds ?? 1)) {
    return `Round ${experiment.round + 1} is revealing; round ${experiment.round + 2} takes joins from ${when(experiment.reveal_deadline)}.`;
  }
  return `The experiment is ${experiment.phase}; joining is open only before the commit deadline.`;
}

/** A failed join in words. In a later round the server may have no block left for this
 * labeler (each wants one labeler, and none may repeat a task the labeler has seen): said
 * plainly, with nothing staked. */
function joinError(app, experiment, error) {
  if (error?.code === 'no_batch' && hasRounds(experiment)) {
    return `No batch is left for you in round ${experiment.round + 1}: every batch of this round is taken or holds a task you have already labeled. Nothing was staked.`;
  }
  return app.describe(error);
}

/** The odds of being rewarded by batches taken, and what a rewarded batch earns if every batch
 * is taken: the pool over the experiment's batches. Estimates, and said to be. */
function oddsView(experiment, odds) {
  const spec = experiment.spec;
  const cohorts = spec.cohorts ? spec.cohorts.values.length : 1;
  const batches = Math.ceil(experiment.tasks.regular / spec.block_size) * spec.overlap * cohorts;
  const perBatch = batches > 0 ? BigInt(spec.reward_pool) / BigInt(batches) : 0n;
  const percent = p => `${Math.round(p * 100)}%`;
  const basis = odds[0]?.basis === 'record'
    ? 'from your record: your items\' average and spread, put through the reward test at these sizes'
    : 'from careful labelers in simulation at these sizes; after 30 scored items your own record is used';
  const shown = odds.filter((o, i) => i < 3 || i === odds.length - 1);
  return h('div', { class: 'odds', id: 'odds' },
    h('h3', null, 'Your odds'),
    h('table', { class: 'table compact' },
      h('thead', null, h('tr', null, ['Batches', 'Scored items', 'Rewarded', 'Expected reward'].map(t => h('th', { scope: 'col' }, t)))),
      h('tbody', null, shown.map(o => h('tr', null,
        h('td', { class: 'num' }, String(o.batches)),
        h('td', { class: 'num' }, String(o.items)),
        h('td', { class: 'num' }, percent(o.rewarded)),
        h('td', { class: 'num' }, amount(BigInt(Math.floor(o.rewarded * 1000)) * perBatch * BigInt(o.batches) / 1000n)))))),
    h('p', { class: 'muted' }, `Estimates for careful work, ${basis}. A rewarded batch earns about ${amount(perBatch)} credits if all ${batches} batches are taken and most labelers are careful; more items make the reward test surer.`));
}

export async function joinScreen(app, id) {
  const [experiment, account, work, odds] = await Promise.all([
    app.api.experiment(id), app.refreshAccount(), app.api.work(id, app.signer.address),
    app.api.odds(id, app.signer.address),
  ]);
  app.sawServerClock(work.now);
  const rounds = await roundStats(app, experiment);
  const spec = experiment.spec;
  const read = await practiceOf(app, experiment);
  const qualification = spec.qualification ?? null;
  const qualified = !qualification || read?.practice?.qualified === true;
  const failed = Boolean(qualification) && read?.practice?.qualified === false;
  const open = experiment.phase === 'open';
  // Practice leads when it stands between the labeler and joining.
  const practiceLeads = open && Boolean(qualification) && !qualified && !failed;
  const stake = BigInt(spec.stake_per_batch);
  const available = BigInt(account.available);
  const canAfford = available >= stake;
  const allowed = eligible(account.reputation, spec);
  const underLimit = work.next_nonce < spec.limits.batches_per_labeler_max;
  const cohortSelect = spec.cohorts
    ? h('select', { id: 'cohort', required: true },
      h('option', { value: '' }, `Choose your ${spec.cohorts.attribute}`),
      spec.cohorts.values.map(v => h('option', { value: v }, v)))
    : null;
  const status = h('p', { class: 'error', role: 'alert', id: 'join-error' });
  const joinButton = h('button', {
    class: 'primary', type: 'button', id: 'join', 'data-autofocus': practiceLeads ? null : '',
    disabled: !(open && canAfford && allowed && underLimit && qualified),
  }, `Lock ${amount(stake)} credits and start labeling`);
  joinButton.addEventListener('click', async () => {
    status.textContent = '';
    const cohort = cohortSelect ? cohortSelect.value : null;
    if (cohortSelect && !cohort) {
      status.textContent = `Choose your ${spec.cohorts.attribute} first.`;
      cohortSelect.focus();
      return;
    }
    joinButton.disabled = true;
    try {
      const batch = await join(app, experiment, cohort);
      await app.refreshAccount();
      app.go(`#/x/${id}/batch/${batch.batch_id}`);
    } catch (error) {
      status.textContent = joinError(app, experiment, error);
      joinButton.disabled = false;
    }
  });
  const slash = spec.slash_bps / 100;
  const nonReveal = Math.max(spec.non_reveal_slash_bps, spec.slash_bps) / 100;
  const reasons = [];
  if (experiment.phase !== 'open') reasons.push(closedReason(experiment));
  if (!canAfford) reasons.push(`You have ${amount(available)} credits available; the stake is ${amount(stake)}.`);
  if (!allowed) reasons.push(`Your reputation is below the minimum of ${spec.eligibility.reputation_min}.`);
  if (!underLimit) reasons.push(`You have taken the ${spec.limits.batches_per_labeler_max} batch(es) one labeler may take.`);
  if (qualification && !qualified && !failed && open) {
    reasons.push(`Practice first: joining opens once you answer the ${read?.practice?.items ?? qualification.items} practice tasks with a score of at least ${practiceScore(qualification.score_min)}.`);
  }
  const notQualified = failed
    ? h('div', { class: 'notice', id: 'not-qualified' },
      h('p', null, `Your practice score of ${practiceScore(read.practice.score)} is below the ${practiceScore(qualification.score_min)} this experiment asks for, so it stays closed to you: practice is answered once.`),
      h('p', { class: 'muted' }, 'This concerns this experiment only. Nothing was staked, and your balance, reputation and other experiments are as they were.'))
    : null;
  const secondsMin = spec.limits.seconds_per_task_min;
  return h('section', { class: 'stack' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/label' }, 'Labeling'), ' / ', experiment.title),
    h('h1', null, experiment.title, ' ', phaseBadge(experiment.phase)),
    h('div', { class: 'split' },
      h('div', { class: 'stack' },
        h('div', { class: 'card' },
          h('h2', null, 'The question'),
          h('p', null, describeQuestion(spec.question)),
          h('div', { class: 'prose' }, markdown(spec.question.instructions))),
        (experiment.practice_tasks ?? 0) > 0 ? practiceCard(app, experiment, read, practiceLeads) : null,
        h('div', { class: 'card' },
          h('h2', null, 'The work'),
          h('dl', { class: 'facts' },
            hasRounds(experiment) ? [h('dt', null, 'Round'), h('dd', { id: 'join-round' }, roundName(experiment.round, experiment.rounds))] : null,
            h('dt', null, 'Tasks in a batch'), h('dd', null, `${hasRounds(experiment) ? 'up to ' : ''}${spec.block_size + spec.gold_per_batch} (some are hidden gold tasks with known answers)`),
            h('dt', null, 'Pace'), h('dd', null, secondsMin ? `at least ${secondsMin} s per task; a commit sooner than ${duration(spec.block_size * secondsMin)} after joining is refused` : 'no minimum'),
            h('dt', null, 'Commit by'), h('dd', null, `${when(experiment.commit_deadline)} (in ${duration(experiment.commit_deadline - app.now())})`),
            h('dt', null, 'Reveal by'), h('dd', null, when(experiment.reveal_deadline)),
            h('dt', null, 'Reward pool'), h('dd', null, `${amount(spec.reward_pool)} credits`))),
        hasRounds(experiment) ? roundsCard(experiment, work, rounds, app.now()) : null,
        work.batches.length
          ? h('div', { class: 'card' }, h('h2', null, 'Your batches here'),
            h('ul', null, work.batches.map(b => h('li', null, h('a', { href: `#/x/${id}/batch/${b.batch_id}` }, `Batch ${b.batch_id}`),
              hasRounds(experiment) ? ` (round ${roundOfBatch(experiment, b) + 1})` : '',
              b.revealed_at != null ? ' — revealed' : b.committed_at != null ? ' — sealed' : ' — in progress'))))
          : null),
      h('aside', { class: 'card stake', 'aria-labelledby': 'stake-title' },
        h('h2', { id: 'stake-title' }, 'Your stake'),
        h('p', { class: 'big' }, h('strong', { id: 'stake-amount' }, amount(stake)), ' credits'),
        h('p', null, `Joining locks this from your ${amount(available)} available credits until the experiment settles.`),
        h('ul', { class: 'outcomes' },
          h('li', null, h('strong', null, 'Rewarded'), ': your labels agree with peers and gold beyond chance. Stake back plus a share of the pool.'),
          h('li', null, h('strong', null, 'Even'), ': not distinguishable from chance. Stake back, nothing earned.'),
          h('li', null, h('strong', null, 'Slashed'), `: confidently worse than chance. You lose ${slash}% of the stake.`),
          h('li', null, h('strong', null, 'Not revealed'), `: you lose ${nonReveal}% of the stake, so reveal after the commit deadline.`)),
        oddsView(experiment, odds.odds),
        cohortSelect ? h('label', { for: 'cohort' }, spec.cohorts.attribute, cohortSelect) : null,
        joinButton,
        reasons.map(r => h('p', { class: 'muted join-reason' }, r)),
        notQualified,
        status)));
}

