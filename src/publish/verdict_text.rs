//! The gate's verdict as a terminal table, then the reasons worth reading.

use std::fmt::Write;

use crate::gate::{ms, percent_change, significant, Comparison, Outcome, Unit, Verdict};

pub fn render(verdict: &Verdict) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(verdict));
    if !verdict.comparisons.is_empty() {
        let width = verdict
            .comparisons
            .iter()
            .map(|c| crate::text::one_line(&c.endpoint.to_string()).len())
            .max()
            .unwrap_or(8)
            .clamp(8, 60);
        let _ = writeln!(
            out,
            "{:<width$}  {:<10} {:>12} {:>12} {:>8} {:>17}  Verdict",
            "Endpoint", "Metric", "Baseline", "Current", "Change", "Interval"
        );
        for c in &verdict.comparisons {
            let _ = writeln!(
                out,
                "{:<width$}  {:<10} {:>12} {:>12} {:>8} {:>17}  {}",
                crate::text::one_line(&c.endpoint.to_string()).into_owned(),
                c.metric,
                value(c, c.baseline),
                value(c, c.current),
                c.change.map(|x| change(c, x)).unwrap_or_default(),
                interval(c),
                c.outcome.as_str()
            );
        }
    }
    let notable: Vec<&Comparison> = verdict
        .comparisons
        .iter()
        .filter(|c| c.outcome != Outcome::Unchanged)
        .collect();
    if !notable.is_empty() {
        let _ = writeln!(out, "\nWhy:");
        for c in notable {
            let _ = writeln!(
                out,
                "  {}{} {}",
                if c.fails_gate { "✗ " } else { "  " },
                crate::text::one_line(&c.endpoint.to_string()),
                crate::text::one_line(&c.reason)
            );
        }
    }
    if !verdict.thresholds.is_empty() {
        let _ = writeln!(out, "\nThresholds:");
        for t in &verdict.thresholds {
            let _ = writeln!(
                out,
                "  {}{}",
                if t.passed { "  " } else { "✗ " },
                crate::text::one_line(&t.reason)
            );
        }
    }
    out
}

/// `Verdict: FAILED: 2 regressed, …`.
pub fn headline(verdict: &Verdict) -> String {
    format!(
        "Verdict: {}: {}",
        if verdict.passed { "PASSED" } else { "FAILED" },
        counts(verdict)
    )
}

/// What the verdict counted, and what its intervals cover.
pub fn counts(verdict: &Verdict) -> String {
    let c = &verdict.counts;
    let mut parts = vec![
        format!("{} regressed", c.regressed),
        format!("{} improved", c.improved),
        format!("{} unchanged", c.unchanged),
        format!("{} inconclusive", c.inconclusive),
    ];
    if c.new > 0 {
        parts.push(format!("{} new", c.new));
    }
    if c.missing > 0 {
        parts.push(format!("{} missing", c.missing));
    }
    if !verdict.thresholds.is_empty() {
        parts.push(format!(
            "{} of {} thresholds breached",
            c.thresholds_breached,
            verdict.thresholds.len()
        ));
    }
    let scope = match &verdict.baseline {
        Some(_) => format!(
            "; intervals hold together at {}% over {} comparisons",
            significant(verdict.confidence * 100.0),
            verdict.comparisons_tested
        ),
        None => "; no baseline, thresholds only".into(),
    };
    format!("{}{scope}", parts.join(", "))
}

pub fn value(c: &Comparison, v: Option<f64>) -> String {
    match (v, c.unit) {
        (None, _) => String::new(),
        (Some(v), Unit::Ms) => ms(v),
        (Some(v), Unit::Fraction) => format!("{:.2}%", v * 100.0),
        (Some(v), Unit::PerSecond | Unit::Requests) => format!("{}/s", significant(v)),
    }
}

pub fn change(c: &Comparison, x: f64) -> String {
    if c.unit == Unit::Fraction {
        format!("{:+.1} pp", x * 100.0)
    } else {
        percent_change(x)
    }
}

pub fn interval(c: &Comparison) -> String {
    let Some((lower, upper)) = c.interval else {
        return String::new();
    };
    let bound = |b: Option<f64>, infinite: f64| change(c, b.unwrap_or(infinite));
    format!(
        "{}..{}",
        bound(lower, f64::NEG_INFINITY),
        bound(upper, f64::INFINITY)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_each_regression_with_its_interval_and_the_breach() {
        let verdict = crate::publish::sample_verdict();
        assert!(!verdict.passed);
        let text = render(&verdict);
        assert!(text.starts_with("Verdict: FAILED"), "{text}");
        let regressed: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("): regressed"))
            .collect();
        assert_eq!(regressed.len(), 2, "{text}");
        for line in regressed {
            assert!(line.contains("→") && line.contains("CI "), "{line}");
        }
        assert!(text.contains("p(50)<1ms"), "{text}");
    }
}
