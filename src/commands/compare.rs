//! `swarmgate compare`: the gate alone, offline, on files.

use std::process::ExitCode;

use super::gate::{judge_and_print, print_headline, write_report};
use crate::cli::CompareArgs;
use crate::gate::rules::Rules;
use crate::publish::summary_json::{self, Curves};
use crate::report::ReportInput;

pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let rules = match &args.rules {
        Some(path) => crate::config::load_rules(path)?,
        None => Rules::default(),
    };
    let rules = args.gate.apply(rules);
    let baseline = crate::results::load_baseline(&args.baseline, &rules)?;
    let current = crate::results::load_stats(&args.current)?;
    crate::gate::rules::check_percentiles(&current, &rules)?;
    let spread = match &args.history {
        Some(path) => crate::history::spread_between_runs(
            &crate::history::read_existing(path, "--history")?,
            &crate::history::RunFilter {
                branch: args.history_branch.clone().filter(|b| b != "*"),
                ..crate::history::RunFilter::every_run()
            },
        ),
        None => None,
    };
    let verdict = judge_and_print(
        &current,
        Some(&baseline),
        &rules,
        spread.as_ref(),
        args.verbose,
    );
    let code = if verdict.passed { 0 } else { 1 };
    let curves = Curves::of(&current, Some(&baseline));
    if let Some(path) = &args.summary_json {
        summary_json::write(path, None, &verdict, code, &curves)?;
    }
    let input = ReportInput {
        title: format!("{} against {}", current.source, baseline.source),
        run: None,
        current: &current,
        current_curve: curves.current.clone(),
        baseline_curve: curves.baseline.clone(),
        verdict: Some(&verdict),
        timeline: Vec::new(),
        failures: Vec::new(),
        history: &[],
    };
    if let Some(path) = &args.report {
        write_report(path, &input)?;
    }
    crate::publish::to_ci(
        &verdict,
        args.ci.summary_md.as_deref(),
        args.ci.junit.as_deref(),
        args.report.as_deref(),
        args.summary_json.as_deref(),
    )?;
    print_headline(&verdict, true, &rules);
    Ok(ExitCode::from(code))
}
