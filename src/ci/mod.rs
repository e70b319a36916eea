//! What swarmgate learns from the CI system it runs in, and what it tells it.

pub mod github;

use std::process::Command;

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
