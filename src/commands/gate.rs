//! What `run`, `compare` and `demo` print of the gate: the verdict table
//! and where the report went.

use std::path::Path;

use crate::gate::input::RunStats;
use crate::gate::rules::Rules;
use crate::gate::spread::Spread;
use crate::gate::{judge, judge_with_spread, Verdict};
use crate::publish::verdict_text;
use crate::results::write_atomically;

/// Judges and prints what the verdict rests on; returns the verdict. The
/// verdict line itself comes last, from [`print_headline`].
pub fn judge_and_print(
    current: &RunStats,
    baseline: Option<&RunStats>,
    rules: &Rules,
    spread: Option<&Spread>,
    verbose: bool,
) -> Verdict {
    let verdict = match (baseline, spread) {
        (Some(baseline), Some(spread)) => judge_with_spread(current, baseline, rules, spread),
        _ => judge(current, baseline, rules),
    };
    print_verdict(&verdict, baseline.is_some(), rules, verbose);
    verdict
}

/// What the verdict rests on, when there is anything to say.
pub fn print_verdict(verdict: &Verdict, judged: bool, rules: &Rules, verbose: bool) {
    if worth_printing(verdict, judged, rules) {
        out!("{}", verdict_text::render(verdict, verbose));
    } else {
        // A run measured, not judged, still says when its latency trended.
        for trend in &verdict.trends {
            crate::errln!("warning: {trend}");
        }
    }
}

fn worth_printing(verdict: &Verdict, judged: bool, rules: &Rules) -> bool {
    judged || !rules.thresholds.is_empty() || !verdict.passed
}

/// The verdict as the last line a reviewer sees, coloured on a terminal.
pub fn print_headline(verdict: &Verdict, judged: bool, rules: &Rules) {
    if worth_printing(verdict, judged, rules) {
        use std::io::IsTerminal;
        let terminal = std::io::stdout().is_terminal();
        outln!("\n{}", verdict_text::headline_for(verdict, terminal));
    }
}

pub fn write_report(path: &Path, input: &crate::report::ReportInput) -> anyhow::Result<()> {
    write_atomically(path, crate::report::render(input)?.as_bytes())?;
    outln!("report: {}", path.display());
    Ok(())
}
