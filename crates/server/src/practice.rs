//! Practice and qualification on the server (see [`plumbline_core::practice`]): the creator
//! imports a pool into a draft; while the experiment is open, a signed-in labeler gets its
//! draw one task at a time, answers each once and sees the answer and its explanation; a join
//! to an experiment that requires a qualification is refused until the labeler has passed.

use crate::fault::{Reason, ServiceError, ServiceResult};
use crate::service::require_creator;
use crate::state::AppState;
use plumbline_core::assign::{to_canonical, to_shown};
use plumbline_core::label::Label;
use plumbline_core::lifecycle::Phase;
use plumbline_core::practice::{
    self, PracticeAnswer, PracticeRecord, PracticeTask, Standing, Verdict,
};
use plumbline_core::task::Prompt;
use plumbline_core::{Address, B256};
use plumbline_store::ExperimentRow;
use serde::Serialize;

/// A practice task as its labeler sees it: responses in its own order.
#[derive(Clone, Debug, Serialize)]
pub struct PracticeTaskView {
    /// The task's id.
    pub id: String,
    /// The prompt: text, or chat messages.
    pub prompt: Prompt,
    /// The responses in the order shown to this labeler.
    pub responses: Vec<String>,
    /// `response_order[p]`: the canonical index of shown response p.
    pub response_order: Vec<u8>,
}

/// `PRACTICE`: a labeler's standing and its next task.
#[derive(Clone, Debug, Serialize)]
pub struct PracticeView {
    /// Tasks it is asked to answer.
    pub items: usize,
    /// The lowest score that qualifies, when the experiment requires a qualification.
    pub score_min: Option<f64>,
    /// Whether joining requires qualifying.
    pub required: bool,
    /// Tasks answered.
    pub answered: usize,
    /// Its practice score (−1..1; 0 is guessing), once two tasks are answered.
    pub score: Option<f64>,
    /// Whether it qualified: `null` until every task is answered.
    pub qualified: Option<bool>,
    /// The next task, `null` once every task is answered.
    pub task: Option<PracticeTaskView>,
}

/// The feedback on one practice answer.
#[derive(Clone, Debug, Serialize)]
pub struct FeedbackView {
    /// Right, close or wrong.
    pub verdict: Verdict,
    /// The expected answer, in the labeler's shown order.
    pub answer: Label,
    /// Why it is the answer.
    pub explanation: String,
    /// The agreement of the label with the answer (0..1).
    pub agreement: f64,
    /// The standing after this answer, with the next task.
    pub progress: PracticeView,
}

/// A labeler's practice as read from the store: the pool, its draw and its answers so far.
struct Session {
    row: ExperimentRow,
    pool: Vec<PracticeTask>,
    drawn: Vec<usize>,
    answers: Vec<(usize, Label)>,
}

impl Session {
    fn standing(&self) -> Standing {
        let spec = &self.row.spec;
        practice::standing(
            &spec.question.kind,
            spec.qualification.as_ref(),
            &self.pool,
            &self.answers,
            self.drawn.len(),
        )
    }

    fn response_order(&self, task: usize) -> Vec<u8> {
        practice::response_order(&self.pool[task].task)
    }

    fn view(&self) -> PracticeView {
        let standing = self.standing();
        let qualification = self.row.spec.qualification.as_ref();
        let task = self.drawn.get(self.answers.len()).map(|&index| {
            let task = &self.pool[index].task;
            let order = self.response_order(index);
            PracticeTaskView {
                id: task.id.clone(),
                prompt: task.prompt.clone(),
                responses: order.iter().map(|&c| task.responses[c as usize].clone()).collect(),
                response_order: order,
            }
        });
        PracticeView {
            items: standing.items,
            score_min: qualification.map(|q| q.score_min),
            required: qualification.is_some(),
            answered: standing.answered,
            score: standing.score.map(to_unit),
            qualified: standing.qualified,
            task,
        }
    }
}

fn to_unit(ppm: i64) -> f64 {
    ppm as f64 / plumbline_core::fixed::SCALE as f64
}

impl AppState {
    /// Imports a draft's practice pool from JSONL, all or nothing; returns its size.
    pub async fn import_practice(
        &self,
        experiment_id: B256,
        caller: Address,
        text: &str,
        now: u64,
    ) -> ServiceResult<usize> {
        let row = self.experiment_row(experiment_id).await?;
        require_creator(&row, caller)?;
        if row.phase != Phase::Draft {
            return Err(ServiceError::new(
                Reason::Conflict,
                "wrong_phase",
                format!("cannot import practice tasks: the experiment is {}", row.phase_at(now)),
            ));
        }
        let pool = practice::parse_jsonl(text, &row.spec.question.kind)?;
        self.store().import_practice(experiment_id, &pool).await?;
        Ok(pool.len())
    }

    /// The caller's practice standing and next task.
    pub async fn practice(
        &self,
        experiment_id: B256,
        labeler: Address,
        now: u64,
    ) -> ServiceResult<PracticeView> {
        Ok(self.practice_session(experiment_id, labeler, now).await?.view())
    }

    /// Records the caller's answer to its current practice task (in its shown order) and
    /// gives the feedback.
    pub async fn answer_practice(
        &self,
        experiment_id: B256,
        labeler: Address,
        task_id: &str,
        shown: &serde_json::Value,
        now: u64,
    ) -> ServiceResult<FeedbackView> {
        let mut session = self.practice_session(experiment_id, labeler, now).await?;
        let position = session.answers.len();
        let Some(&current) = session.drawn.get(position) else {
            return Err(ServiceError::new(
                Reason::Conflict,
                "practice_done",
                format!("every one of the {} practice tasks is answered", session.drawn.len()),
            ));
        };
        let expected = &session.pool[current].task.id;
        if task_id != expected {
            return Err(ServiceError::new(
                Reason::Conflict,
                "not_current",
                format!("the current practice task is {expected:?}, not {task_id:?}"),
            ));
        }
        let kind = session.row.spec.question.kind.clone();
        let shown = Label::from_json(shown, &kind)
            .map_err(|e| ServiceError::invalid(format!("label: {e}")))?;
        let order = session.response_order(current);
        let label = to_canonical(&shown, &order);
        let answer =
            PracticeAnswer { labeler, task: task_id.to_string(), label: label.clone(), at: now };
        if !self.store().add_practice_answer(experiment_id, position as u64, &answer).await? {
            return Err(ServiceError::new(
                Reason::Conflict,
                "not_current",
                "this practice task was answered meanwhile",
            ));
        }
        session.answers.push((current, label.clone()));
        let expected = session.pool[current].answer();
        let (verdict, agreement) = practice::verdict(&kind, &label, expected);
        Ok(FeedbackView {
            verdict,
            answer: to_shown(expected, &order),
            explanation: session.pool[current].explanation.clone(),
            agreement: to_unit(agreement),
            progress: session.view(),
        })
    }

    /// Refuses a join to an experiment requiring a qualification the labeler has not passed.
    pub(crate) async fn check_qualified(
        &self,
        row: &ExperimentRow,
        labeler: Address,
    ) -> ServiceResult<()> {
        let Some(qualification) = &row.spec.qualification else { return Ok(()) };
        let (Some(seed), true) = (row.seed, row.practice_count > 0) else {
            return Err(not_qualified("this experiment has no practice tasks to qualify on"));
        };
        let pool = self.store().practice_tasks(row.experiment_id).await?;
        let answers = self.store().practice_answers(row.experiment_id, Some(labeler)).await?;
        let answers: Vec<&PracticeAnswer> = answers.iter().collect();
        let kind = &row.spec.question.kind;
        let standing = practice::check_answers(
            kind,
            Some(qualification),
            seed,
            &pool,
            labeler,
            &answers,
            u64::MAX,
        )
        .map_err(|e| ServiceError::internal(format!("stored practice answers: {e}")))?;
        match standing.qualified {
            Some(true) => Ok(()),
            Some(false) => Err(not_qualified(format!(
                "practice score {:.2} is below the {:.2} this experiment requires; practice \
                 is answered once, so this labeler cannot join it",
                to_unit(standing.score.unwrap_or(0)),
                qualification.score_min
            ))),
            None => Err(not_qualified(format!(
                "this experiment requires practice first: {} of {} practice tasks answered",
                standing.answered, standing.items
            ))),
        }
    }

    /// The practice section of an experiment's public record, if it has a pool.
    pub(crate) async fn practice_record(
        &self,
        row: &ExperimentRow,
    ) -> ServiceResult<Option<PracticeRecord>> {
        if row.practice_count == 0 {
            return Ok(None);
        }
        Ok(Some(PracticeRecord {
            tasks: self.store().practice_tasks(row.experiment_id).await?,
            answers: self.store().practice_answers(row.experiment_id, None).await?,
        }))
    }

    async fn practice_session(
        &self,
        experiment_id: B256,
        labeler: Address,
        now: u64,
    ) -> ServiceResult<Session> {
        let row = self.experiment_row(experiment_id).await?;
        if row.practice_count == 0 {
            return Err(ServiceError::new(
                Reason::NotFound,
                "no_practice",
                "this experiment has no practice tasks",
            ));
        }
        let phase = row.phase_at(now);
        let Some(seed) = row.seed.filter(|_| phase == Phase::Open) else {
            return Err(ServiceError::new(
                Reason::Conflict,
                "wrong_phase",
                format!("practice is open while the experiment is open; it is {phase}"),
            ));
        };
        let pool = self.store().practice_tasks(experiment_id).await?;
        let items = practice::items_per_labeler(row.spec.qualification.as_ref(), pool.len());
        let drawn = practice::draw(seed, labeler, &pool, items);
        // The answer at place i of the draw is to its i-th task: each is stored only when it names
        // the labeler's current task.
        let answers = self
            .store()
            .practice_answers(experiment_id, Some(labeler))
            .await?
            .into_iter()
            .zip(&drawn)
            .map(|(answer, &task)| (task, answer.label))
            .collect();
        Ok(Session { row, pool, drawn, answers })
    }
}

fn not_qualified(message: impl Into<String>) -> ServiceError {
    ServiceError::new(Reason::Forbidden, "not_qualified", message)
}
