//! The verdict told to people and CI systems, one file per form: text for
//! the terminal, Markdown, JUnit, summary.json, GitHub Actions; and what
//! swarmgate learns from the CI system it runs in (commit, branch).

pub mod github;
pub mod junit;
pub mod markdown;
pub mod summary_json;
pub mod verdict_text;

use std::path::Path;
use std::process::Command;

use crate::gate::Verdict;

/// The commit under test: `GITHUB_SHA` in GitHub Actions, else the checkout's
/// `HEAD` when run inside a git repository.
pub fn commit() -> Option<String> {
    if let Ok(sha) = std::env::var("GITHUB_SHA") {
        if !sha.trim().is_empty() {
            return Some(sha.trim().to_owned());
        }
    }
    let output = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let sha = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !sha.trim().is_empty()).then(|| sha.trim().to_owned())
}

/// The branch under test: GitHub's pull-request head or ref name, else the
/// checkout's current branch.
pub fn branch() -> Option<String> {
    for variable in [
        "GITHUB_HEAD_REF",
        "GITHUB_REF_NAME",
        "CI_COMMIT_REF_NAME",
        "BRANCH_NAME",
    ] {
        if let Ok(value) = std::env::var(variable) {
            if !value.trim().is_empty() {
                return Some(value.trim().to_owned());
            }
        }
    }
    let output = Command::new("git")
        .args(["rev-parse", "--abbrev-ref", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let branch = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !branch.trim().is_empty() && branch.trim() != "HEAD")
        .then(|| branch.trim().to_owned())
}

/// The verdict for CI systems: Markdown and JUnit where asked, and inside
/// GitHub Actions the job summary, annotations and step outputs.
pub fn to_ci(
    verdict: &Verdict,
    summary_md: Option<&Path>,
    junit: Option<&Path>,
    report: Option<&Path>,
    summary_json: Option<&Path>,
) -> anyhow::Result<()> {
    let report_text = report.map(|p| p.display().to_string());
    if let Some(path) = summary_md {
        crate::results::write_atomically(
            path,
            markdown::render(verdict, report_text.as_deref()).as_bytes(),
        )?;
    }
    if let Some(path) = junit {
        crate::results::write_atomically(path, junit::render(verdict).as_bytes())?;
    }
    if let Some(actions) = github::Actions::detect() {
        let summary = summary_json.map(|p| p.display().to_string());
        actions.publish(verdict, report_text.as_deref(), summary.as_deref())?;
    }
    Ok(())
}

/// A verdict to render in every form's tests: Locust's genuine files of a
/// healthy run and of the same run slowed down, under rules with a
/// threshold that holds and one that is breached.
#[cfg(test)]
pub(crate) fn sample_verdict() -> Verdict {
    let read = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/locust")
            .join(name);
        crate::results::parse_stats_csv(&std::fs::read(&path).unwrap(), &path).unwrap()
    };
    let rules = crate::gate::rules::Rules::parse(
        Path::new("rules.toml"),
        "[gate]\n[gate.thresholds]\n\"Aggregated\" = [\"p(95)<10s\", \"p(50)<1ms\"]\n",
    )
    .unwrap();
    crate::gate::judge(
        &read("slow_stats.csv"),
        Some(&read("base-a_stats.csv")),
        &rules,
    )
}
