//! Inside GitHub Actions: the verdict in the job summary, annotations on the
//! regressions, and step outputs for later steps.
//!
//! Everything is read from the environment GitHub sets, so tests can point
//! it at temporary files.

use std::io::Write;
use std::path::Path;

use super::markdown;
use crate::gate::{Outcome, Verdict};

/// The environment of a GitHub Actions step, if this is one.
pub struct Actions {
    step_summary: Option<String>,
    output: Option<String>,
}

impl Actions {
    pub fn detect() -> Option<Self> {
        (std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")).then(|| Self {
            step_summary: std::env::var("GITHUB_STEP_SUMMARY")
                .ok()
                .filter(|p| !p.is_empty()),
            output: std::env::var("GITHUB_OUTPUT")
                .ok()
                .filter(|p| !p.is_empty()),
        })
    }

    /// Appends the summary, prints the annotations, writes the outputs.
    pub fn publish(
        &self,
        verdict: &Verdict,
        report: Option<&str>,
        summary_json: Option<&str>,
    ) -> anyhow::Result<()> {
        if let Some(path) = &self.step_summary {
            append(Path::new(path), &markdown::render(verdict, report))?;
        }
        for annotation in annotations(verdict) {
            crate::workflow_command(&annotation);
        }
        if let Some(path) = &self.output {
            let mut lines = format!(
                "verdict={}\nregressions={}\n",
                if verdict.passed { "passed" } else { "failed" },
                verdict.counts.regressed
            );
            if let Some(report) = report {
                lines.push_str(&format!("report={report}\n"));
            }
            if let Some(summary) = summary_json {
                lines.push_str(&format!("summary-json={summary}\n"));
            }
            append(Path::new(path), &lines)?;
        }
        Ok(())
    }
}

/// Annotations GitHub shows per step and level; the rest it drops unsaid.
const SHOWN_PER_LEVEL: usize = 10;

/// `::error` for what fails the gate, `::warning` for what is inconclusive;
/// past GitHub's ten of a level, the tenth says how many more there are.
pub fn annotations(verdict: &Verdict) -> Vec<String> {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    for c in &verdict.comparisons {
        let title = format!(
            "swarmgate: {} {} {}",
            c.endpoint,
            c.metric,
            c.outcome.as_str()
        );
        let message = format!("{} {}", c.endpoint, c.reason);
        match (c.fails_gate, c.outcome) {
            (true, _) => errors.push((title, message)),
            (false, Outcome::Inconclusive) => warnings.push((title, message)),
            _ => {}
        }
    }
    for t in verdict.thresholds.iter().filter(|t| !t.passed) {
        errors.push(("swarmgate: threshold breached".into(), t.reason.clone()));
    }
    let mut lines = Vec::new();
    for (level, mut items, what) in [
        ("error", errors, "fail the gate"),
        ("warning", warnings, "are inconclusive"),
    ] {
        if items.len() > SHOWN_PER_LEVEL {
            let more = items.len() - (SHOWN_PER_LEVEL - 1);
            items.truncate(SHOWN_PER_LEVEL - 1);
            items.push((
                format!("swarmgate: {more} more"),
                format!("{more} more comparisons or thresholds {what}; GitHub shows {SHOWN_PER_LEVEL} annotations of a kind per step, the job summary and the report list them all"),
            ));
        }
        for (title, message) in items {
            lines.push(format!(
                "::{level} title={}::{}",
                escape_property(&title),
                escape_data(&message)
            ));
        }
    }
    lines
}

/// Workflow commands end at a newline and read `%` as an escape.
fn escape_data(text: &str) -> String {
    let escaped = text
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    crate::text::one_line(&escaped).into_owned()
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot append to {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_text_is_escaped() {
        assert_eq!(escape_data("50% of\nrequests"), "50%25 of%0Arequests");
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }

    #[test]
    fn past_ten_of_a_kind_the_tenth_annotation_says_how_many_more() {
        let mut verdict = crate::publish::sample_verdict();
        let failing = verdict
            .comparisons
            .iter()
            .find(|c| c.fails_gate)
            .unwrap()
            .clone();
        let inconclusive = verdict
            .comparisons
            .iter()
            .find(|c| c.outcome == Outcome::Inconclusive && !c.fails_gate)
            .unwrap()
            .clone();
        verdict.comparisons = std::iter::repeat_n(failing, 25)
            .chain(std::iter::repeat_n(inconclusive, 3))
            .collect();
        let lines = annotations(&verdict);
        let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("::error")).collect();
        let warnings = lines.iter().filter(|l| l.starts_with("::warning")).count();
        assert_eq!((errors.len(), warnings), (10, 3), "{lines:#?}");
        let breached = verdict.thresholds.iter().filter(|t| !t.passed).count();
        let more = 25 + breached - 9;
        assert!(
            errors[9].contains(&format!(
                "title=swarmgate%3A {more} more::{more} more comparisons or thresholds fail the gate"
            )),
            "{}",
            errors[9]
        );
    }
}
