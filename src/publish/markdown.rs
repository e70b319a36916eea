//! The verdict as Markdown: for `$GITHUB_STEP_SUMMARY` and `--summary-md`.

use std::fmt::Write;

use super::verdict_text::{change, counts, interval, value};
use crate::gate::{Outcome, Verdict};

pub fn render(verdict: &Verdict, report: Option<&str>) -> String {
    let mut out = String::new();
    let mark = if verdict.passed {
        "✅ PASSED"
    } else {
        "❌ FAILED"
    };
    let _ = writeln!(out, "### swarmgate: {mark}\n");
    let _ = writeln!(out, "{}\n", cell(&counts(verdict)));
    let notable: Vec<_> = verdict
        .comparisons
        .iter()
        .filter(|c| c.outcome != Outcome::Unchanged)
        .collect();
    if !notable.is_empty() {
        let _ = writeln!(
            out,
            "| | Endpoint | Metric | Baseline | Current | Change | Interval | Verdict |"
        );
        let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---|");
        for c in &notable {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                if c.fails_gate { "❌" } else { "" },
                cell(&c.endpoint.to_string()),
                c.metric,
                value(c, c.baseline),
                value(c, c.current),
                c.change.map(|x| change(c, x)).unwrap_or_default(),
                interval(c),
                c.outcome.as_str()
            );
        }
        out.push('\n');
    }
    let unchanged = verdict.comparisons.len() - notable.len();
    if unchanged > 0 {
        let _ = writeln!(out, "{unchanged} comparisons unchanged.\n");
    }
    if !verdict.thresholds.is_empty() {
        let _ = writeln!(out, "| | Threshold |\n|---|---|");
        for t in &verdict.thresholds {
            let _ = writeln!(
                out,
                "| {} | {} |",
                if t.passed { "✅" } else { "❌" },
                cell(&t.reason)
            );
        }
        out.push('\n');
    }
    if let Some(report) = report {
        let _ = writeln!(
            out,
            "Full report: `{}` (in the run's artifact).\n",
            cell(report)
        );
    }
    out
}

/// Endpoint names come from the system under test: keep them from breaking
/// the table or becoming markup.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_has_the_headline_a_table_and_the_report() {
        let verdict = crate::publish::sample_verdict();
        let markdown = render(&verdict, Some("out/report.html"));
        assert!(
            markdown.starts_with("### swarmgate: ❌ FAILED\n"),
            "{markdown}"
        );
        // The headline once, without the text form's prefix.
        assert!(!markdown.contains("Verdict: FAILED"), "{markdown}");
        let table_rows = markdown.lines().filter(|l| l.starts_with('|')).count();
        assert!(table_rows >= 3, "{markdown}");
        assert!(markdown.contains("out/report.html"), "{markdown}");
        assert!(markdown.contains("p(50)&lt;1ms: breached"), "{markdown}");
        assert_eq!(markdown.matches("| regressed |").count(), 2, "{markdown}");
    }
}
