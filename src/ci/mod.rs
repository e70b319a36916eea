//! What swarmgate learns from the CI system it runs in.

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
