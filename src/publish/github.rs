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
        report: &str,
        summary_json: Option<&str>,
    ) -> anyhow::Result<()> {
        if let Some(path) = &self.step_summary {
            append(Path::new(path), &markdown::render(verdict, Some(report)))?;
        }
        for annotation in annotations(verdict) {
            crate::workflow_command(&annotation);
        }
        if let Some(path) = &self.output {
            let mut lines = format!(
                "verdict={}\nregressions={}\nreport={report}\n",
                if verdict.passed { "passed" } else { "failed" },
                verdict.counts.regressed
            );
            if let Some(summary) = summary_json {
                lines.push_str(&format!("summary-json={summary}\n"));
            }
            append(Path::new(path), &lines)?;
        }
        Ok(())
    }
}

/// `::error` for what fails the gate, `::warning` for what is inconclusive.
pub fn annotations(verdict: &Verdict) -> Vec<String> {
    let mut lines = Vec::new();
    for c in &verdict.comparisons {
        let level = match (c.fails_gate, c.outcome) {
            (true, _) => "error",
            (false, Outcome::Inconclusive) => "warning",
            _ => continue,
        };
        let title = format!(
            "swarmgate: {} {} {}",
            c.endpoint,
            c.metric,
            c.outcome.as_str()
        );
        lines.push(format!(
            "::{level} title={}::{}",
            escape_property(&title),
            escape_data(&format!("{} {}", c.endpoint, c.reason))
        ));
    }
    for t in verdict.thresholds.iter().filter(|t| !t.passed) {
        lines.push(format!(
            "::error title={}::{}",
            escape_property("swarmgate: threshold breached"),
            escape_data(&t.reason)
        ));
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
}
