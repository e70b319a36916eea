//! The gate's verdict as a terminal table, then the reasons worth reading.

use std::fmt::Write;

use crate::gate::{ms, percent_change, significant, Comparison, Outcome, Unit, Verdict};

/// What a reviewer reads: what fails the gate, then what is uncertain,
/// the rest in one line, and how noise was judged. With `verbose` every
/// comparison first, as a table. The headline is not in it: the command
/// prints it last ([`headline`]).
pub fn render(verdict: &Verdict, verbose: bool) -> String {
    let mut out = String::new();
    if verbose && !verdict.comparisons.is_empty() {
        table(&mut out, verdict);
    }
    let Sections {
        failing,
        uncertain,
        unjudged,
        other,
    } = Sections::of(verdict);
    section(&mut out, "Fails the gate", "✗ ", &failing);
    section(&mut out, "Inconclusive", "? ", &uncertain);
    if verbose {
        section(&mut out, "Cannot be judged", "- ", &unjudged);
    } else if !unjudged.is_empty() {
        let _ = writeln!(
            out,
            "\n{} comparisons cannot be judged by this pair of runs: too few requests (-v lists them)",
            unjudged.len()
        );
    }
    if !other.is_empty() {
        let mut kinds: Vec<(Outcome, usize)> = Vec::new();
        for c in &other {
            match kinds.iter_mut().find(|(o, _)| *o == c.outcome) {
                Some((_, n)) => *n += 1,
                None => kinds.push((c.outcome, 1)),
            }
        }
        kinds.sort_by_key(|(o, _)| *o as u8);
        let listed: Vec<String> = kinds
            .iter()
            .map(|(o, n)| format!("{n} {}", o.as_str()))
            .collect();
        let _ = writeln!(
            out,
            "\n{}{}",
            listed.join(", "),
            if verbose {
                ""
            } else {
                " (-v lists every comparison)"
            }
        );
    }
    let breached: Vec<_> = verdict.thresholds.iter().filter(|t| !t.passed).collect();
    if !breached.is_empty() {
        let _ = writeln!(out, "\nThresholds breached:");
        for t in &breached {
            let _ = writeln!(out, "  ✗ {}", crate::text::one_line(&t.reason));
        }
    }
    let holding = verdict.thresholds.len() - breached.len();
    if holding > 0 {
        if verbose {
            let _ = writeln!(out, "\nThresholds that hold:");
            for t in verdict.thresholds.iter().filter(|t| t.passed) {
                let _ = writeln!(out, "    {}", crate::text::one_line(&t.reason));
            }
        } else {
            let _ = writeln!(
                out,
                "\n{holding} of {} thresholds hold",
                verdict.thresholds.len()
            );
        }
    }
    if !verdict.noise_model.is_empty() {
        let _ = writeln!(out, "\nNoise: {}", verdict.noise_model);
    }
    if let Some(machine) = &verdict.machine {
        let _ = writeln!(out, "Machine: {machine}");
    }
    for trend in &verdict.trends {
        let _ = writeln!(out, "Trend: {trend}");
    }
    out
}

fn section(out: &mut String, title: &str, mark: &str, comparisons: &[&Comparison]) {
    if comparisons.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title} ({}):", comparisons.len());
    for c in comparisons {
        let _ = writeln!(
            out,
            "  {mark}{} {}",
            crate::text::one_line(&c.endpoint.to_string()),
            crate::text::one_line(&c.reason)
        );
    }
}

fn table(out: &mut String, verdict: &Verdict) {
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

/// A verdict's comparisons in a reviewer's order.
pub struct Sections<'a> {
    pub failing: Vec<&'a Comparison>,
    pub uncertain: Vec<&'a Comparison>,
    pub unjudged: Vec<&'a Comparison>,
    pub other: Vec<&'a Comparison>,
}

impl<'a> Sections<'a> {
    pub fn of(verdict: &'a Verdict) -> Self {
        let mut sections = Sections {
            failing: Vec::new(),
            uncertain: Vec::new(),
            unjudged: Vec::new(),
            other: Vec::new(),
        };
        for c in &verdict.comparisons {
            match (c.fails_gate, c.outcome) {
                (true, _) => sections.failing.push(c),
                (_, Outcome::Inconclusive) => sections.uncertain.push(c),
                (_, Outcome::Unjudged) => sections.unjudged.push(c),
                _ => sections.other.push(c),
            }
        }
        sections
    }
}

/// The headline in red or green on a terminal; plain under `NO_COLOR`, in
/// CI logs, or into a pipe.
pub fn headline_for(verdict: &Verdict, terminal: bool) -> String {
    let text = headline(verdict);
    let plain = !terminal
        || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || std::env::var_os("CI").is_some();
    if plain {
        text
    } else {
        let colour = if verdict.passed { "32" } else { "31" };
        format!("\x1b[1;{colour}m{text}\x1b[0m")
    }
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
    if c.unjudged > 0 {
        parts.push(format!("{} cannot be judged", c.unjudged));
    }
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
        let text = render(&verdict, false);
        assert!(headline(&verdict).starts_with("Verdict: FAILED"));
        assert!(text.starts_with("\nFails the gate (6):"), "{text}");
        let regressed: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("): regressed"))
            .collect();
        assert_eq!(regressed.len(), 6, "{text}");
        assert!(text.contains("Aggregated avg 11.8 ms → 14.0 ms"), "{text}");
        for line in regressed {
            assert!(line.contains("→") && line.contains("CI "), "{line}");
        }
        assert!(text.contains("p(50)<1ms"), "{text}");
    }
}
