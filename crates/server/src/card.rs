//! The dataset card of a settled experiment: a `README.md` whose YAML header is what the
//! Hugging Face Hub and `datasets` read (name, task, size, and one configuration per export
//! file), and whose text says how the labels were collected and filtered. Saved beside the
//! export files (under their download names), the folder loads with
//! `datasets.load_dataset(folder, name)`.

use crate::export::Format;
use plumbline_core::record::PublicRecord;
use plumbline_core::settle::{LeftOut, Tier};
use plumbline_core::spec::QuestionKind;
use std::fmt::Write;

/// The card's Markdown.
pub fn dataset_card(record: &PublicRecord) -> String {
    let id = record.experiment_id.to_string();
    let spec = &record.spec;
    let pairwise = matches!(spec.question.kind, QuestionKind::Pairwise { .. });
    let revealed: usize = record.revealed().iter().map(|b| b.labels.len()).sum();
    let left_out = record.left_out();
    let gold = record.tasks.iter().filter(|t| t.gold.is_some()).count();
    let labelers = record.settlement.labelers.len();
    let tier = |t: Tier| record.settlement.labelers.iter().filter(|l| l.tier == t).count();

    let mut card = String::from("---\n");
    let _ = writeln!(card, "pretty_name: {}", yaml_string(&spec.title));
    card.push_str("license: other\n");
    let (category, tags) = if pairwise {
        ("text-generation", "  - preference\n  - rlhf\n  - dpo\n")
    } else {
        ("text-classification", "")
    };
    let _ = writeln!(card, "task_categories:\n  - {category}");
    let _ = write!(card, "tags:\n  - plumbline\n  - crowdsourcing\n{tags}");
    let _ = writeln!(card, "size_categories:\n  - {}", size_category(record.tasks.len()));
    card.push_str("configs:\n");
    let mut configs = Vec::new();
    if pairwise {
        configs.push(("preferences", Format::Trl));
    }
    // JSON Lines only: `datasets` reads a folder with one builder, chosen from its files.
    configs.push(("tasks", Format::Jsonl));
    for (i, (name, format)) in configs.iter().enumerate() {
        let _ = writeln!(card, "  - config_name: {name}");
        let _ = writeln!(card, "    data_files: {}", yaml_string(&format.file_name(&id)));
        if i == 0 {
            card.push_str("    default: true\n");
        }
    }
    card.push_str("---\n\n");

    let _ = writeln!(card, "# {}\n", spec.title.trim());
    let _ = writeln!(
        card,
        "Labels collected with Plumbline in experiment `{id}`: a {} question. The instructions \
         labelers saw:\n",
        spec.question.kind.name()
    );
    for line in spec.question.instructions.lines() {
        let _ = writeln!(card, "> {line}");
    }
    card.push_str("\n## How it was collected\n\n");
    let _ = writeln!(
        card,
        "- {} tasks, {gold} of them hidden gold tasks with a known answer; each regular task \
         was labeled by up to {} labelers.",
        record.tasks.len(),
        spec.overlap
    );
    let _ = writeln!(
        card,
        "- {labelers} labelers staked before they worked, committed their labels hidden and \
         revealed them: {revealed} labels."
    );
    let _ = writeln!(
        card,
        "- Each labeler was scored against its peers and the gold tasks with chance-corrected \
         scores: {} rewarded, {} even, {} slashed.",
        tier(Tier::Rewarded),
        tier(Tier::Even),
        tier(Tier::Slashed)
    );
    card.push_str("\n## How it was filtered\n\n");
    let count = |reason: LeftOut| left_out.get(&reason).copied().unwrap_or(0);
    let _ = writeln!(
        card,
        "- {} of the {revealed} labels are left out: {} of slashed labelers, {} of labelers \
         whose identical labels their skill does not explain, and {} of labelers in a declared \
         stratum where they are below chance.",
        left_out.values().sum::<usize>(),
        count(LeftOut::Slashed),
        count(LeftOut::UnexplainedCopies),
        count(LeftOut::BelowChanceInStratum),
    );
    let sessions = crate::export::session_filter(record);
    if sessions.tired_labels == 0 {
        card.push_str("- No labeler's session showed a fall in quality.\n");
    } else {
        let percent =
            |share: Option<f64>| share.map_or("–".into(), |s| format!("{:.1}%", 100.0 * s));
        let _ = writeln!(
            card,
            "- {} labels of {} come after the point where the labeler's agreement with \
             the gold answers and its peers fell in its session; the consensus weighs them as \
             another labeler's, by their own agreement. On the {} gold tasks the consensus \
             agrees with the gold answer on {} of them, and on {} with those labels counted as \
             their labeler's.",
            sessions.tired_labels,
            match sessions.tired_labelers {
                1 => "1 labeler".to_owned(),
                n => format!("{n} labelers"),
            },
            sessions.gold_tasks,
            percent(sessions.gold_agreement),
            percent(sessions.gold_agreement_untired),
        );
    }
    let _ = writeln!(
        card,
        "- {} gold tasks the crowd confidently contradicted were left out of scoring.",
        record.settlement.gold_dropped.len()
    );
    card.push_str(
        "- Each task's consensus comes from a model of the labelers (Dawid-Skene; for pairs, \
         over the preferred side with strength as evidence), and its confidence is the \
         model's probability recalibrated on the gold answers.\n",
    );
    if pairwise {
        card.push_str(
            "- `preferences` holds TRL preference pairs (`prompt`, `chosen`, `rejected`, \
             `margin`, `confidence`, `gold`): pairs at least 70% sure, and gold tasks with \
             their gold answer.",
        );
        if record.tasks.iter().any(|t| t.prompt.is_messages()) {
            card.push_str(
                " The prompts are conversations, so the pairs are in TRL's conversational \
                 form: `prompt` a list of `{role, content}` messages, `chosen` and `rejected` \
                 the assistant's turn.",
            );
        }
        card.push('\n');
    }
    card.push_str("\n## Files\n\n| configuration | file | rows |\n|---|---|---|\n");
    for (name, format) in &configs {
        let rows = match format {
            Format::Trl => "one per preferred pair",
            _ => "one per task, with its labels",
        };
        let _ = writeln!(card, "| `{name}` | `{}` | {rows} |", format.file_name(&id));
    }
    let _ = writeln!(
        card,
        "\nThe same per-task table is also exported as `{}` and `{}`, and every label as \
         `{}` (`task, worker, label`, crowd-kit's long format).",
        Format::Csv.file_name(&id),
        Format::Parquet.file_name(&id),
        Format::Raw.file_name(&id)
    );
    let _ = write!(
        card,
        "\n## Audit\n\nThe experiment's public record (`/api/v1/experiments/{id}/record`) holds \
         every commitment, reveal and payout; `plumbline audit` recomputes the settlement from \
         it, and the task list and gold answers hash to the `tasks_hash` committed before \
         labeling began.\n"
    );
    card
}

/// A string as a double-quoted YAML scalar.
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text.trim()).expect("a string serializes")
}

/// The Hub's size category for a number of rows.
fn size_category(rows: usize) -> &'static str {
    match rows {
        0..1_000 => "n<1K",
        1_000..10_000 => "1K<n<10K",
        10_000..100_000 => "10K<n<100K",
        100_000..1_000_000 => "100K<n<1M",
        _ => "1M<n<10M",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::record;

    #[test]
    fn the_card_names_every_file_and_counts_what_was_left_out() {
        let record = record();
        let card = dataset_card(&record);
        let id = record.experiment_id.to_string();
        assert!(card.starts_with("---\npretty_name: "), "{card}");
        assert!(card.contains(&format!("data_files: \"{id}.jsonl\"")), "{card}");
        assert!(card.contains(&format!("`{id}.labels.csv`")), "{card}");
        assert!(!card.contains("trl.jsonl"), "no preference pairs for a binary question");
        assert!(card.contains("  - text-classification\n"));
        let revealed: usize = record.revealed().iter().map(|b| b.labels.len()).sum();
        let exported: usize = record.exported().iter().map(|b| b.labels.len()).sum();
        assert!(revealed > exported, "the inaccurate labeler is slashed and left out");
        assert!(card.contains(&format!("- {} of the {revealed} labels", revealed - exported)));
    }
}
