//! The GitHub action's run step (`.github/actions/swarmgate/gate.sh`) as far
//! as it runs offline: GitHub's environment pointed at temporary files, a
//! bare repository on disk as `origin`, the demo API on loopback. This is
//! the life cycle `init`'s workflow relies on: the first run on the default
//! branch passes without a baseline and stores one, a pull request compares
//! with it and stores nothing, the next default-branch run updates it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{health_scenario, repo_file, DemoApi};

const STORE: &str = "swarmgate-data";

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A checkout of a repository whose origin is a bare repository beside it.
fn checkout(root: &Path) -> PathBuf {
    let origin = root.join("origin.git");
    git(
        root,
        &["init", "--quiet", "--bare", origin.to_str().unwrap()],
    );
    let work = root.join("work");
    std::fs::create_dir(&work).unwrap();
    git(&work, &["init", "--quiet"]);
    std::fs::write(work.join("README"), "an API\n").unwrap();
    git(&work, &["add", "README"]);
    git(&work, &["commit", "--quiet", "-m", "start"]);
    git(
        &work,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    git(
        &work,
        &["push", "--quiet", "origin", "HEAD:refs/heads/main"],
    );
    work
}

struct Step {
    code: String,
    verdict_md: String,
    stdout: String,
    summary: String,
    outputs: String,
}

/// Runs the action's step as a push to the default branch or as a pull
/// request, with the outputs and the job summary in fresh files.
fn step(work: &Path, scenario: &Path, api: &DemoApi, on_default_branch: bool) -> Step {
    let temp = tempfile::tempdir().unwrap();
    let (output_file, summary_file) = (temp.path().join("output"), temp.path().join("summary"));
    let output = Command::new("bash")
        .arg(repo_file(".github/actions/swarmgate/gate.sh"))
        .current_dir(work)
        .env("SWARMGATE", env!("CARGO_BIN_EXE_swarmgate"))
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file)
        .env("GITHUB_STEP_SUMMARY", &summary_file)
        .env("RUNNER_TEMP", temp.path())
        .env("SCENARIO", scenario)
        .env("RESULTS", work.join("swarmgate-results"))
        .env("BASELINE", "")
        .env("HISTORY", "")
        .env("UPDATE_BASELINE", "auto")
        .env("STORE_BRANCH", STORE)
        .env("IS_DEFAULT_BRANCH", on_default_branch.to_string())
        .env("HOST", &api.url)
        .env("DURATION", "1s")
        .env(
            "LABEL",
            if on_default_branch {
                "push"
            } else {
                "pull_request"
            },
        )
        .env("EXTRA", "--quiet")
        .env("VERDICT_MD", temp.path().join("verdict.md"))
        .output()
        .unwrap();
    let verdict_md = std::fs::read_to_string(temp.path().join("verdict.md")).unwrap_or_default();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the step itself fails only through its exit-code output: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outputs = std::fs::read_to_string(&output_file).unwrap_or_default();
    let code = outputs
        .lines()
        .find_map(|l| l.strip_prefix("exit-code="))
        .expect("the step writes its exit code")
        .to_owned();
    Step {
        code,
        verdict_md,
        stdout,
        summary: std::fs::read_to_string(&summary_file).unwrap_or_default(),
        outputs,
    }
}

fn stored(work: &Path, path: &str) -> String {
    git(
        work,
        &[
            "fetch",
            "--quiet",
            "origin",
            &format!("+refs/heads/{STORE}:refs/remotes/origin/{STORE}"),
        ],
    );
    git(work, &["show", &format!("origin/{STORE}:{path}")])
}

fn store_head(work: &Path) -> String {
    let origin = work.parent().unwrap().join("origin.git");
    git(&origin, &["rev-parse", &format!("refs/heads/{STORE}")])
}

#[test]
fn the_baseline_bootstraps_on_the_default_branch_and_pull_requests_only_read_it() {
    let api = DemoApi::start();
    let root = tempfile::tempdir().unwrap();
    let work = checkout(root.path());
    let scenario = health_scenario(root.path(), "1s");

    // The first run on the default branch: no baseline yet, so it passes on
    // thresholds alone, and what it measured becomes the baseline.
    let first = step(&work, &scenario, &api, true);
    assert_eq!(first.code, "0", "{}", first.stdout);
    assert!(
        first
            .stdout
            .contains("::notice title=swarmgate: no baseline yet::"),
        "{}",
        first.stdout
    );
    assert!(
        first.summary.contains("It becomes the baseline."),
        "{}",
        first.summary
    );
    assert!(
        first
            .verdict_md
            .starts_with("> **swarmgate:** No baseline yet")
            && first.verdict_md.contains("PASSED"),
        "the comment's text says it too: {}",
        first.verdict_md
    );
    assert!(stored(&work, "baseline/stats.csv").contains("/health"));
    assert_eq!(stored(&work, "history.csv").lines().count(), 1 + 2);
    let recorded = store_head(&work);

    // A pull request compares with it and stores nothing.
    let pull = step(&work, &scenario, &api, false);
    assert_eq!(pull.code, "0", "{}", pull.stdout);
    assert!(pull.outputs.contains("verdict=passed"), "{}", pull.outputs);
    assert!(!pull.stdout.contains("no baseline yet"), "{}", pull.stdout);
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(work.join("swarmgate-results/summary.json")).unwrap(),
    )
    .unwrap();
    assert!(
        summary["verdict"]["comparisons"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "compared with the stored baseline: {summary}"
    );
    assert_eq!(store_head(&work), recorded, "a pull request pushes nothing");

    // The next run on the default branch replaces the baseline and adds to
    // the history, in one more commit on the branch.
    let second = step(&work, &scenario, &api, true);
    assert_eq!(second.code, "0", "{}", second.stdout);
    let head = store_head(&work);
    assert_ne!(head, recorded);
    let origin = root.path().join("origin.git");
    assert_eq!(git(&origin, &["rev-parse", &format!("{head}^")]), recorded);
    assert_eq!(stored(&work, "history.csv").lines().count(), 1 + 2 * 2);
    // The checkout is left as it was: no worktree, no branch of ours.
    assert_eq!(git(&work, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(git(&work, &["branch", "--list", "swarmgate-store-*"]), "");
}

/// Without a store branch the baseline is a path in the checkout; one that
/// does not exist yet passes on thresholds alone, with the note, instead of
/// failing the first pull request with exit 2.
#[test]
fn a_missing_baseline_in_the_checkout_passes_with_a_note() {
    let api = DemoApi::start();
    let root = tempfile::tempdir().unwrap();
    let work = checkout(root.path());
    let scenario = health_scenario(root.path(), "1s");
    let temp = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .arg(repo_file(".github/actions/swarmgate/gate.sh"))
        .current_dir(&work)
        .env("SWARMGATE", env!("CARGO_BIN_EXE_swarmgate"))
        .env("GITHUB_OUTPUT", temp.path().join("output"))
        .env("SCENARIO", &scenario)
        .env("RESULTS", work.join("swarmgate-results"))
        .env("BASELINE", "performance/baseline")
        .env("UPDATE_BASELINE", "auto")
        .env("HOST", &api.url)
        .env("DURATION", "1s")
        .env("EXTRA", "--quiet")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let outputs = std::fs::read_to_string(temp.path().join("output")).unwrap();
    assert!(outputs.contains("exit-code=0"), "{outputs}\n{stdout}");
    assert!(
        stdout.contains("No baseline yet at performance/baseline"),
        "{stdout}"
    );
    assert!(
        !work.join("performance").exists(),
        "auto updates only with a store branch"
    );
}

/// The comment step against a stand-in for `gh` (GitHub's API is not
/// reachable here) that answers the list of comments and records the rest:
/// the first push posts, a later one updates the same comment.
#[test]
fn the_verdict_comment_is_posted_once_then_updated_in_place() {
    let temp = tempfile::tempdir().unwrap();
    let bin = temp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let gh = bin.join("gh");
    std::fs::write(
        &gh,
        "#!/bin/sh\necho \"$*\" >> \"$LOG\"\ncase \"$*\" in\n  *--paginate*) [ -n \"$EXISTING\" ] && echo \"$EXISTING\"; exit 0 ;;\nesac\nfor a; do case \"$a\" in body=@*) cp \"${a#body=@}\" \"$BODY\" ;; esac; done\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let verdict = temp.path().join("verdict.md");
    std::fs::write(&verdict, "## swarmgate: PASSED\n").unwrap();
    let post = |existing: &str| {
        let log = temp.path().join(format!("log{existing}"));
        let body = temp.path().join(format!("body{existing}"));
        let output = Command::new("bash")
            .arg(repo_file(".github/actions/swarmgate/comment.sh"))
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("LOG", &log)
            .env("BODY", &body)
            .env("EXISTING", existing)
            .env("VERDICT_MD", &verdict)
            .env(
                "ARTIFACT_URL",
                "https://github.com/o/r/actions/runs/1/artifacts/2",
            )
            .env("GITHUB_REPOSITORY", "o/r")
            .env("PR_NUMBER", "7")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        (
            std::fs::read_to_string(log).unwrap(),
            std::fs::read_to_string(body).unwrap(),
        )
    };
    let (log, body) = post("");
    assert!(
        log.contains("--method POST repos/o/r/issues/7/comments"),
        "{log}"
    );
    assert!(
        body.starts_with("<!-- swarmgate verdict -->\n## swarmgate: PASSED\n"),
        "{body}"
    );
    assert!(
        body.contains("](https://github.com/o/r/actions/runs/1/artifacts/2)"),
        "{body}"
    );
    let (log, _) = post("4242");
    assert!(
        log.contains("--method PATCH repos/o/r/issues/comments/4242"),
        "{log}"
    );
    assert!(!log.contains("POST"), "{log}");
}

/// The action's install step against a release laid out as GitHub serves
/// it, from a `file://` URL: the archive that matches its checksum is
/// installed and runs; one that does not is refused; a branch builds.
#[test]
fn the_release_matching_the_ref_is_installed_only_when_its_checksum_holds() {
    let target = match std::env::consts::ARCH {
        "x86_64" => "x86_64-unknown-linux-musl",
        "aarch64" => "aarch64-unknown-linux-musl",
        other => panic!("no release target for {other}"),
    };
    let root = tempfile::tempdir().unwrap();
    let name = format!("swarmgate-{target}");
    let stage = root.path().join("stage").join(&name);
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_swarmgate"), stage.join("swarmgate")).unwrap();
    let release = root.path().join("releases/o/r/releases/download/v0.1.0");
    std::fs::create_dir_all(&release).unwrap();
    let archive = release.join(format!("{name}.tar.gz"));
    let tar = Command::new("tar")
        .arg("-C")
        .arg(root.path().join("stage"))
        .arg("-czf")
        .arg(&archive)
        .arg(&name)
        .status()
        .unwrap();
    assert!(tar.success());
    let digest = Command::new("sha256sum").arg(&archive).output().unwrap();
    let digest = String::from_utf8_lossy(&digest.stdout);
    let digest = digest.split_whitespace().next().unwrap().to_owned();
    let checksum = release.join(format!("{name}.tar.gz.sha256"));
    std::fs::write(&checksum, format!("{digest}  {name}.tar.gz\n")).unwrap();

    let install = |reference: &str, home: &Path| {
        let output_file = home.join("output");
        std::fs::create_dir_all(home).unwrap();
        let output = Command::new("bash")
            .arg(repo_file(".github/actions/swarmgate/install.sh"))
            .env("HOME", home)
            .env("GITHUB_OUTPUT", &output_file)
            .env("REF", reference)
            .env("REPO", "o/r")
            .env(
                "RELEASES_URL",
                format!("file://{}", root.path().join("releases").display()),
            )
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let outputs = std::fs::read_to_string(output_file).unwrap_or_default();
        (output.status.success(), outputs, said)
    };

    let home = root.path().join("home");
    let (ok, outputs, said) = install("v0.1.0", &home);
    assert!(ok && outputs.contains("installed=true"), "{outputs}{said}");
    let installed = home.join(".swarmgate/bin/swarmgate");
    let version = Command::new(&installed).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("swarmgate "));

    let (ok, outputs, said) = install("main", &root.path().join("branch"));
    assert!(ok && outputs.contains("installed=false"), "{outputs}{said}");
    let (ok, outputs, said) = install("v9.9.9", &root.path().join("absent"));
    assert!(
        ok && outputs.contains("installed=false"),
        "no such release: {outputs}{said}"
    );

    std::fs::write(&checksum, format!("{}  {name}.tar.gz\n", "0".repeat(64))).unwrap();
    let tampered = root.path().join("tampered");
    let (ok, outputs, said) = install("v0.1.0", &tampered);
    assert!(
        !ok && !outputs.contains("installed=true"),
        "{outputs}{said}"
    );
    assert!(said.contains("but its .sha256 says 0000"), "{said}");
    assert!(!tampered.join(".swarmgate/bin/swarmgate").exists());
}
