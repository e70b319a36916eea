//! The verdict as Markdown: for `$GITHUB_STEP_SUMMARY` and `--summary-md`.

use std::fmt::Write;

use super::verdict_text::{change, counts, interval, value, Sections};
use crate::gate::{Comparison, Verdict};

/// In a reviewer's order: what fails the gate, then what is inconclusive
/// (folded), the rest in one line, and how noise was judged.
pub fn render(verdict: &Verdict, report: Option<&str>) -> String {
    let mut out = String::new();
    let mark = if verdict.passed {
        "✅ PASSED"
    } else {
        "❌ FAILED"
    };
    let _ = writeln!(out, "### swarmgate: {mark}\n");
    let _ = writeln!(out, "{}\n", cell(&counts(verdict)));
    let Sections {
        failing, uncertain, ..
    } = Sections::of(verdict);
    if !failing.is_empty() {
        let _ = writeln!(out, "**Fails the gate ({})**\n", failing.len());
        table(&mut out, &failing);
    }
    if !uncertain.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>{} inconclusive</summary>\n",
            uncertain.len()
        );
        table(&mut out, &uncertain);
        let _ = writeln!(out, "</details>\n");
    }
    let rest = verdict.comparisons.len() - failing.len() - uncertain.len();
    if rest > 0 {
        let c = &verdict.counts;
        let mut parts = vec![format!("{} unchanged", c.unchanged)];
        for (n, what) in [
            (c.improved, "improved"),
            (c.unjudged, "cannot be judged (too few requests)"),
            (c.new, "new"),
            (c.missing, "missing"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let _ = writeln!(out, "Otherwise: {}.\n", parts.join(", "));
    }
    if !verdict.thresholds.is_empty() {
        let _ = writeln!(out, "| | Threshold |\n|---|---|");
        let breached_first = verdict
            .thresholds
            .iter()
            .filter(|t| !t.passed)
            .chain(verdict.thresholds.iter().filter(|t| t.passed));
        for t in breached_first {
            let _ = writeln!(
                out,
                "| {} | {} |",
                if t.passed { "✅" } else { "❌" },
                cell(&t.reason)
            );
        }
        out.push('\n');
    }
    if !verdict.noise_model.is_empty() {
        let _ = writeln!(out, "Noise: {}.\n", cell(&verdict.noise_model));
    }
    if let Some(machine) = &verdict.machine {
        let _ = writeln!(out, "Machine: {}.\n", cell(machine));
    }
    for trend in &verdict.trends {
        let _ = writeln!(out, "Trend: {}.\n", cell(trend));
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

fn table(out: &mut String, comparisons: &[&Comparison]) {
    let _ = writeln!(
        out,
        "| | Endpoint | Metric | Baseline | Current | Change | Interval | Verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---|");
    for c in comparisons {
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
        // Both rounded p50s and the exact averages of the Locust CSVs.
        assert_eq!(markdown.matches("| regressed |").count(), 6, "{markdown}");
        assert!(markdown.matches("| avg |").count() >= 4, "{markdown}");
        assert!(markdown.contains("inconclusive</summary>"), "{markdown}");
        assert!(
            markdown.contains("cannot be judged (too few requests)"),
            "{markdown}"
        );
    }
}
