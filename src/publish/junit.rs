//! JUnit XML, which GitLab and Jenkins show as test results: a suite per
//! endpoint, a test case per gated metric and threshold, a failure for each
//! regression or breach.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::gate::{Outcome, Verdict};

pub fn render(verdict: &Verdict) -> String {
    #[derive(Default)]
    struct Suite {
        cases: Vec<String>,
        failures: usize,
        skipped: usize,
    }
    let mut suites: BTreeMap<String, Suite> = BTreeMap::new();
    for c in &verdict.comparisons {
        let endpoint = c.endpoint.to_string();
        let suite = suites.entry(endpoint.clone()).or_default();
        let mut case = format!(
            r#"<testcase classname="{}" name="{}">"#,
            escape(&endpoint),
            escape(&c.metric.to_string())
        );
        if c.fails_gate {
            suite.failures += 1;
            let _ = write!(
                case,
                r#"<failure type="{}" message="{}">{}</failure>"#,
                c.outcome.as_str(),
                escape(&c.reason),
                escape(&c.reason)
            );
        } else if matches!(
            c.outcome,
            Outcome::Inconclusive | Outcome::Unjudged | Outcome::Missing
        ) {
            suite.skipped += 1;
            let _ = write!(case, r#"<skipped message="{}"/>"#, escape(&c.reason));
        } else {
            let _ = write!(case, "<system-out>{}</system-out>", escape(&c.reason));
        }
        case.push_str("</testcase>");
        suite.cases.push(case);
    }
    for t in &verdict.thresholds {
        let endpoint = t.endpoint.to_string();
        let suite = suites.entry(endpoint.clone()).or_default();
        let mut case = format!(
            r#"<testcase classname="{}" name="threshold {}">"#,
            escape(&endpoint),
            escape(&t.threshold)
        );
        if !t.passed {
            suite.failures += 1;
            let _ = write!(
                case,
                r#"<failure type="threshold" message="{}">{}</failure>"#,
                escape(&t.reason),
                escape(&t.reason)
            );
        }
        case.push_str("</testcase>");
        suite.cases.push(case);
    }
    let tests: usize = suites.values().map(|s| s.cases.len()).sum();
    let failures: usize = suites.values().map(|s| s.failures).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="swarmgate" tests="{tests}" failures="{failures}">"#
    );
    for (name, suite) in &suites {
        let _ = writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{}" skipped="{}">"#,
            escape(name),
            suite.cases.len(),
            suite.failures,
            suite.skipped
        );
        for case in &suite.cases {
            let _ = writeln!(out, "    {case}");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_counts_a_failure_per_regression_and_breach() {
        let verdict = crate::publish::sample_verdict();
        let xml = render(&verdict);
        let document = roxmltree::Document::parse(&xml).unwrap();
        let failures = document
            .descendants()
            .filter(|n| n.has_tag_name("failure"))
            .count();
        let expected = verdict.comparisons.iter().filter(|c| c.fails_gate).count()
            + verdict.thresholds.iter().filter(|t| !t.passed).count();
        assert_eq!(failures, expected);
        let declared: usize = document
            .descendants()
            .filter(|n| n.has_tag_name("testsuite"))
            .map(|n| n.attribute("failures").unwrap().parse::<usize>().unwrap())
            .sum();
        assert_eq!(declared, expected);
    }
}
