//! CI integration: what GitHub Actions, GitLab and Jenkins are given, the
//! performance history, and `init`.

mod common;

use std::path::Path;

use common::{assert_no_panic, repo_file, stderr_of, swarmgate, write_scenario, DemoApi};

fn locust(file: &str) -> String {
    repo_file("fixtures/locust")
        .join(file)
        .display()
        .to_string()
}

/// `swarmgate compare CURRENT --baseline BASELINE` with its report in `dir`;
/// the caller adds flags and environment.
fn compare(current: &str, baseline: &str, dir: &std::path::Path) -> assert_cmd::Command {
    let mut command = swarmgate();
    // The genuine Locust files count the demo's 404s (17%) as failures; the
    // absolute failure-rate limit is tested in tests/gate.rs.
    command
        .args(["compare", current, "--baseline", baseline])
        .args(["--max-fail-rate", "off", "--report"])
        .arg(dir.join("report.html"));
    command
}

struct GitHub {
    dir: tempfile::TempDir,
}

impl GitHub {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn compare(&self, current: &str, baseline: &str) -> std::process::Output {
        let output = compare(current, baseline, self.dir.path())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", self.dir.path().join("summary.md"))
            .env("GITHUB_OUTPUT", self.dir.path().join("output.txt"))
            .output()
            .unwrap();
        assert_no_panic(&output);
        output
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

#[test]
fn a_failing_gate_in_github_actions_writes_summary_annotations_and_outputs() {
    let github = GitHub::new();
    let output = github.compare(&locust("slow_stats.csv"), &locust("base-a_stats.csv"));
    assert_eq!(output.status.code(), Some(1));
    let summary = github.read("summary.md");
    assert!(summary.contains("### swarmgate: ❌ FAILED"), "{summary}");
    assert!(
        summary.contains("| ❌ | GET /api/v1/products/[id]/ | p50 |"),
        "{summary}"
    );
    let outputs = github.read("output.txt");
    let regressions: usize = outputs
        .lines()
        .find_map(|l| l.strip_prefix("regressions="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        outputs.contains("verdict=failed\n") && regressions >= 1,
        "{outputs}"
    );
    assert!(outputs.contains(&format!(
        "report={}",
        github.dir.path().join("report.html").display()
    )));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(
        errors.len(),
        regressions,
        "one ::error per regression: {errors:?}"
    );
    // Each says endpoint, metric, change and tolerance.
    assert!(
        errors.iter().any(
            |e| e.contains("GET /api/v1/products/[id]/ p50 11.0 ms → 14.0 ms (+27%")
                && e.contains("beyond +10%")
        ),
        "{errors:?}"
    );
    assert!(stdout
        .lines()
        .any(|l| l.starts_with("::warning ") && l.contains("inconclusive")));
}

#[test]
fn a_passing_gate_in_github_actions_says_so() {
    let github = GitHub::new();
    let output = github.compare(&locust("base-b_stats.csv"), &locust("base-a_stats.csv"));
    assert_eq!(output.status.code(), Some(0));
    assert!(github
        .read("summary.md")
        .contains("### swarmgate: ✅ PASSED"));
    let outputs = github.read("output.txt");
    assert!(
        outputs.contains("verdict=passed\n") && outputs.contains("regressions=0\n"),
        "{outputs}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("::error"));
}

#[test]
fn outside_github_actions_nothing_is_written_there() {
    let dir = tempfile::tempdir().unwrap();
    let output = compare(
        &locust("slow_stats.csv"),
        &locust("base-a_stats.csv"),
        dir.path(),
    )
    .env_remove("GITHUB_ACTIONS")
    .env("GITHUB_STEP_SUMMARY", dir.path().join("summary.md"))
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(!dir.path().join("summary.md").exists());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("::error"));
}

#[test]
fn junit_xml_parses_with_one_failure_per_regression() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let markdown = dir.path().join("verdict.md");
    let output = compare(
        &locust("slow_stats.csv"),
        &locust("base-a_stats.csv"),
        dir.path(),
    )
    .arg("--junit")
    .arg(&junit)
    .arg("--summary-md")
    .arg(&markdown)
    .arg("--summary-json")
    .arg(dir.path().join("summary.json"))
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let document = roxmltree::Document::parse(&xml).expect("JUnit output is well-formed XML");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    let regressions = summary["verdict"]["counts"]["regressed"].as_u64().unwrap() as usize;
    let failures: Vec<_> = document
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), regressions);
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(
        root.attribute("failures"),
        Some(regressions.to_string().as_str())
    );
    let suites: Vec<&str> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert!(
        suites.contains(&"GET /api/v1/products/[id]/") && suites.contains(&"Aggregated"),
        "{suites:?}"
    );
    assert!(failures.iter().all(|f| f
        .attribute("message")
        .is_some_and(|m| m.contains("): regressed, "))));
    assert!(std::fs::read_to_string(&markdown)
        .unwrap()
        .contains("❌ FAILED"));
}

fn history_scenario(dir: &Path, api: &DemoApi) -> std::path::PathBuf {
    write_scenario(
        dir,
        "s.toml",
        &format!(
            "host = \"{}\"\n[load]\nusers = 2\nduration = \"1s\"\n[[user]]\nwait = \"constant(0.05)\"\n  [[user.task]]\n    [[user.task.step]]\n    get = \"/health\"\n",
            api.url
        ),
    )
}

fn run_with_history(
    scenario: &Path,
    out: &Path,
    history: &Path,
    label: &str,
) -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("swarmgate"));
    command
        .arg("run")
        .arg(scenario)
        .args(["-q", "--label", label, "--out"])
        .arg(out)
        .arg("--history")
        .arg(history);
    command
}

#[test]
fn history_grows_by_a_run_at_a_time_and_concurrent_appends_lose_nothing() {
    let api = DemoApi::start();
    let dir = tempfile::tempdir().unwrap();
    let scenario = history_scenario(dir.path(), &api);
    let history = dir.path().join("history.csv");
    for label in ["first", "second"] {
        let output = run_with_history(&scenario, &dir.path().join(label), &history, label)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
    }
    let text = std::fs::read_to_string(&history).unwrap();
    assert!(text.starts_with("time,commit,branch,label,method,name,requests,failures,p50_ms,p95_ms,p99_ms,requests_per_second,verdict,scenario\r\n"));
    // Two rows a run: the endpoint and Aggregated.
    assert_eq!(text.lines().count(), 1 + 2 * 2, "{text}");
    assert_eq!(text.lines().filter(|l| l.contains(",first,")).count(), 2);
    assert_eq!(text.lines().filter(|l| l.contains(",second,")).count(), 2);

    let concurrent: Vec<_> = ["third", "fourth", "fifth"]
        .iter()
        .map(|label| {
            run_with_history(&scenario, &dir.path().join(label), &history, label)
                .spawn()
                .unwrap()
        })
        .collect();
    for child in concurrent {
        assert!(child.wait_with_output().unwrap().status.success());
    }
    let text = std::fs::read_to_string(&history).unwrap();
    assert_eq!(text.lines().count(), 1 + 5 * 2, "{text}");
    let beside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("history"))
        .collect();
    assert_eq!(beside, ["history.csv"], "no lock or temporary file is left");
    for label in ["first", "second", "third", "fourth", "fifth"] {
        assert_eq!(
            text.lines()
                .filter(|l| l.contains(&format!(",{label},")))
                .count(),
            2,
            "{label}: {text}"
        );
    }

    let table = swarmgate().arg("history").arg(&history).output().unwrap();
    assert!(table.status.success());
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.starts_with("5 runs") && table.contains("GET /health") && table.contains("fifth"),
        "{table}"
    );
    let missing = swarmgate()
        .arg("history")
        .arg(dir.path().join("no-such.csv"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no-such.csv: no such file; `run --history"),
        "{stderr}"
    );

    // A run's report draws the trend of the runs so far (the concurrent ones
    // finish in any order, so look at the second).
    let html = std::fs::read_to_string(dir.path().join("second/report.html")).unwrap();
    assert!(html.contains("History: p95 over the last 2 runs") && html.contains("chart-trend"));
}

#[test]
fn a_corrupt_history_is_reported_and_left_untouched() {
    let api = DemoApi::start();
    let dir = tempfile::tempdir().unwrap();
    let scenario = history_scenario(dir.path(), &api);
    let history = dir.path().join("history.csv");
    let corrupt = b"time,commit,branch,label,method,name,requests,failures,p50_ms,p95_ms,p99_ms,requests_per_second,verdict\r\n2026-01-01T00:00:00Z,abc,main,,GET,/x,many,0,1,2,3,4,none\r\n";
    std::fs::write(&history, corrupt).unwrap();
    let output = run_with_history(&scenario, &dir.path().join("out"), &history, "x")
        .output()
        .unwrap();
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output)
            .contains("history.csv:2: column `requests` does not hold a number: `many`"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(std::fs::read(&history).unwrap(), corrupt);
    assert!(!dir.path().join("out").exists(), "no load was sent");
}

#[test]
fn init_writes_a_starter_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    // The repository's own .gitignore, without a final newline, is kept.
    std::fs::write(dir.path().join(".gitignore"), "target").unwrap();
    let init = || {
        swarmgate()
            .args(["init", "--dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let first = init();
    assert!(first.status.success(), "{}", stderr_of(&first));
    let scenario = dir.path().join("swarmgate.toml");
    let workflow = dir.path().join(".github/workflows/swarmgate.yml");
    assert!(std::fs::read_to_string(&scenario)
        .unwrap()
        .contains("[gate]"));
    assert!(std::fs::read_to_string(&workflow)
        .unwrap()
        .contains("uses: swarmgate/swarmgate/.github/actions/swarmgate@main"));
    let ignored = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
    assert!(
        ignored.starts_with("target\n") && ignored.ends_with("\nswarmgate-results/\n"),
        "{ignored}"
    );
    let validate = swarmgate()
        .arg("validate")
        .arg(&scenario)
        .env("LOADTEST_PASSWORD", "x")
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "the starter scenario is valid: {}",
        stderr_of(&validate)
    );

    std::fs::write(&scenario, "# mine\n").unwrap();
    let again = init();
    assert_no_panic(&again);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr_of(&again).contains("exist already"));
    assert_eq!(std::fs::read_to_string(&scenario).unwrap(), "# mine\n");
    // Once the starter files are gone, init writes them again, but lists
    // the results directory only once.
    std::fs::remove_file(&scenario).unwrap();
    std::fs::remove_file(&workflow).unwrap();
    let third = init();
    assert!(third.status.success(), "{}", stderr_of(&third));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".gitignore")).unwrap(),
        ignored,
        "listed once"
    );
}
