//! The gate end to end: genuine Locust files, our own runs, summary.json
//! against its schema, baselines, and bad input.

mod common;

use std::path::Path;

use common::{
    assert_no_panic, assert_valid_summary, bundled_run, compare_locust as compare, comparison,
    health_scenario, interrupted, locust, repo_file, run_with_baseline, stderr_of, stdout_of,
    swarmgate, write_scenario, DemoApi,
};

/// `compare` writes only what it is asked to: no report.html appears in the
/// directory it was started from.
#[test]
fn compare_writes_no_report_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let output = swarmgate()
        .current_dir(dir.path())
        .args(["compare", &locust("base-b_stats.csv"), "--baseline"])
        .arg(locust("base-a_stats.csv"))
        .args(["--max-fail-rate", "20%"])
        .output()
        .unwrap();
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    assert!(!stdout_of(&output).contains("report:"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_run_writes_a_valid_summary_and_updates_its_baseline_atomically() {
    let api = DemoApi::with_latency(2);
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        dir.path(),
        "s.toml",
        &format!(
            "host = \"{}\"\n[load]\nusers = 4\nduration = \"2s\"\n[gate.thresholds]\n\"GET /health\" = [\"p(95)<1s\"]\n[[user]]\nwait = \"constant(0.01)\"\n  [[user.task]]\n    [[user.task.step]]\n    get = \"/health\"\n",
            api.url
        ),
    );
    let baseline = dir.path().join("baseline");
    let run = |extra: &[&str]| {
        let output = swarmgate()
            .arg("run")
            .arg(&scenario)
            .args(["-q", "--out"])
            .arg(dir.path().join("out"))
            .arg("--baseline")
            .arg(&baseline)
            .args(extra)
            .output()
            .unwrap();
        assert_no_panic(&output);
        output
    };
    // No baseline yet: only --update-baseline may create it.
    assert_eq!(run(&[]).status.code(), Some(2));
    let first = run(&["--update-baseline"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    assert!(
        stdout_of(&first).contains("baseline")
            && baseline.join("histograms.json").exists()
            && baseline.join("stats.csv").exists()
    );
    let saved = std::fs::read(baseline.join("histograms.json")).unwrap();

    let second = run(&[]);
    assert_eq!(
        second.status.code(),
        Some(0),
        "A/A against its own baseline:\n{}",
        stdout_of(&second)
    );
    let summary = assert_valid_summary(&dir.path().join("out/summary.json"));
    assert_eq!(summary["run"]["users"], 4);
    assert_eq!(summary["verdict"]["thresholds"][0]["passed"], true);
    // On the wire: one kept-alive connection per user, and every response
    // starts no sooner than the 2 ms the demo API waits before answering.
    let wire = &summary["run"]["wire"];
    let connections = wire["connections"].as_u64().unwrap();
    assert!((4..=8).contains(&connections), "{wire}");
    assert_eq!(wire["requests"], summary["run"]["requests"], "{wire}");
    assert!(wire["bytes_sent"].as_u64().unwrap() > 30 * wire["requests"].as_u64().unwrap());
    assert!(wire["bytes_received"].as_u64().unwrap() > wire["bytes_sent"].as_u64().unwrap() / 10);
    let first_byte_p50 = wire["first_byte_ms"]["p50"].as_f64().unwrap();
    let latency_p50 = comparison(&summary, "/health", "p50")["current"]
        .as_f64()
        .unwrap();
    assert!(
        (2.0..=latency_p50 + 0.5).contains(&first_byte_p50),
        "first byte {first_byte_p50} ms, response {latency_p50} ms: {wire}"
    );
    let report = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(report.contains("id=\"run-wire\""), "the report shows it");
    assert_eq!(
        std::fs::read(baseline.join("histograms.json")).unwrap(),
        saved,
        "a plain run never touches the baseline"
    );
    // The baseline's stats.csv, with its histograms.json beside it, is read
    // exactly: in time blocks, which no CSV has.
    let output = compare(
        dir.path().join("out").to_str().unwrap(),
        baseline.join("stats.csv").to_str().unwrap(),
        &[],
    );
    assert!(
        stdout_of(&output).contains("Noise: requests in time blocks"),
        "{}",
        stdout_of(&output)
    );
}

/// Every bad input: a clear message naming the file, exit 2, no panic, and
/// the baseline left byte for byte as it was.
fn rejected(current: &Path, baseline: &Path, extra: &[&str], expected: &str) {
    let before = std::fs::read(baseline).ok();
    let output = compare(current.to_str().unwrap(), baseline.to_str().unwrap(), extra);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}\n{}",
        stdout_of(&output),
        stderr_of(&output)
    );
    let message = stderr_of(&output);
    assert!(
        message.contains(expected),
        "expected `{expected}` in:\n{message}"
    );
    assert_eq!(
        std::fs::read(baseline).ok(),
        before,
        "the baseline is untouched"
    );
}

#[test]
fn bad_baselines_and_rules_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let good = repo_file("fixtures/locust/base-a_stats.csv");
    let original = std::fs::read_to_string(&good).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    rejected(&good, &dir.path().join("absent.csv"), &[], "absent.csv");
    rejected(
        &good,
        &write("empty.csv", ""),
        &[],
        "empty.csv: the file is empty",
    );
    rejected(
        &good,
        &write("header.csv", "Method,Name,Count\r\nGET,/,1\r\n"),
        &[],
        "header.csv: not a stats CSV",
    );
    rejected(&good, &write("cells.csv", &original.replacen(",20,0,", ",twenty,0,", 1)), &[], "cells.csv:2: column `Request Count` of POST /api/v1/auth/token/ should be a number, but it is `twenty`");
    let second_row = original.lines().nth(1).unwrap();
    rejected(
        &good,
        &write(
            "duplicate.csv",
            &original.replacen(second_row, &format!("{second_row}\r\n{second_row}"), 1),
        ),
        &[],
        "duplicate.csv:3: duplicate row POST /api/v1/auth/token/ (first on line 2)",
    );
    let fewer_percentiles = original
        .lines()
        .map(|line| {
            line.split(',')
                .take(11)
                .chain(line.split(',').skip(16).take(1))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    rejected(
        &good,
        &write("ladder.csv", &fewer_percentiles),
        &[],
        "ladder.csv: has no 50% column to compare (its percentile columns are 95%)",
    );
    let rules = write("rules.toml", "[gate]\nmetrics = [\"latncy\"]\n");
    rejected(&good, &good, &["--rules", rules.to_str().unwrap()], "rules.toml:2:12: unknown metric `latncy`: expected latency, fail_rate or throughput; did you mean `latency`?");
    let rules = write(
        "thresholds.toml",
        "[gate.thresholds]\n\"GET /x\" = [\"p95<200ms\"]\n",
    );
    rejected(
        &good,
        &good,
        &["--rules", rules.to_str().unwrap()],
        "thresholds.toml:2:13: invalid threshold `p95<200ms`",
    );
}

#[test]
fn an_interrupted_run_does_not_replace_the_baseline() {
    let api = DemoApi::start();
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.csv");
    std::fs::copy(repo_file("fixtures/locust/base-a_stats.csv"), &baseline).unwrap();
    let before = std::fs::read(&baseline).unwrap();
    let mut command = bundled_run(&api);
    command
        .args(["-q", "--update-baseline", "--baseline"])
        .arg(&baseline)
        .arg("--out")
        .arg(dir.path().join("out"));
    let (output, _) = interrupted(command);
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("was left as it was"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(std::fs::read(&baseline).unwrap(), before);
}

#[test]
fn failures_over_the_limit_fail_a_run_without_a_baseline_unless_expected() {
    let api = DemoApi::start();
    let dir = tempfile::tempdir().unwrap();
    let scenario = |check: &str| {
        write_scenario(
            dir.path(),
            "s.toml",
            &format!(
                "host = \"{}\"\n[load]\nusers = 2\nduration = \"1s\"\n[[user]]\nwait = \"constant(0.05)\"\n  [[user.task]]\n    [[user.task.step]]\n    get = \"/health\"\n    [[user.task.step]]\n    get = \"/no-such-page\"\n{check}",
                api.url
            ),
        )
    };
    let run = |path: &std::path::Path| {
        let output = swarmgate()
            .arg("run")
            .arg(path)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        assert_no_panic(&output);
        output
    };
    let unexpected = run(&scenario(""));
    let stdout = String::from_utf8_lossy(&unexpected.stdout).into_owned();
    assert_eq!(unexpected.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("max_fail_rate 1%: breached"), "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["verdict"]["passed"], false);

    let expected = run(&scenario("    check = { status = 404 }\n"));
    assert_eq!(
        expected.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&expected.stdout)
    );
}

/// A 4 s /health run of `quiet` recorded as the baseline (16 blocks, so
/// that the exact critical value of a design effect estimated on a loaded
/// runner still bounds the median), then one of
/// `current` judged against it: the directory (with `out` and `baseline`)
/// and the second run's output.
fn baseline_then_current(
    quiet: &DemoApi,
    current: &DemoApi,
) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = health_scenario(dir.path(), "4s");
    let (out, baseline) = (dir.path().join("out"), dir.path().join("baseline"));
    let first = run_with_baseline(
        &scenario,
        &quiet.url,
        &out,
        &baseline,
        &["--update-baseline"],
    );
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    let judged = run_with_baseline(&scenario, &current.url, &out, &baseline, &[]);
    (dir, judged)
}

/// A service on the generator's own machine that burns CPU per request
/// makes the machine busy, but only under the load: the gate takes its
/// evidence of a busy machine from before the first request, so this
/// slowdown is a regression, never excused as the machine's.
#[test]
fn a_service_that_eats_the_machine_is_not_excused_by_it() {
    let quiet = DemoApi::with_latency(2);
    let hungry = DemoApi::with_faults(swarmgate::demo::Faults {
        latency: std::time::Duration::from_millis(2),
        cpu: std::time::Duration::from_millis(4),
        ..Default::default()
    });
    let (dir, slowed) = baseline_then_current(&quiet, &hungry);
    let out = dir.path().join("out");
    assert_eq!(slowed.status.code(), Some(1), "{}", stdout_of(&slowed));
    let summary = assert_valid_summary(&out.join("summary.json"));
    assert!(
        summary["run"]["machine"]["background"]["cpu_share"].is_number(),
        "{summary}"
    );
    // Nothing is excused by the machine. (The median's own outcome is
    // regressed, or unjudged when a neighbouring test burned CPU through the
    // baseline's run and left its blocks too uneven to bound it; the run
    // fails on its other comparisons then.)
    let median = comparison(&summary, "/health", "p50");
    assert!(
        ["regressed", "unjudged"].contains(&median["outcome"].as_str().unwrap()),
        "{median}"
    );
    let excused = summary["verdict"]["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["reason"]
                .as_str()
                .unwrap_or("")
                .contains("which explains")
        })
        .count();
    assert_eq!(excused, 0, "{summary}");
}

/// A service that burns CPU per request and is 40% slower, measured on a
/// machine whose background was 6% busier than the baseline's: the timer
/// lag and CPU pressure under the load are the service's own doing, so the
/// machine excuses ×1.06 at most and the slowdown fails.
#[test]
fn a_slightly_busier_background_excuses_no_more_than_itself() {
    let quiet = DemoApi::with_latency(5);
    let hungry = DemoApi::with_faults(swarmgate::demo::Faults {
        latency: std::time::Duration::from_millis(7),
        cpu: std::time::Duration::from_millis(2),
        ..Default::default()
    });
    let (dir, slowed) = baseline_then_current(&quiet, &hungry);
    let (out, baseline) = (dir.path().join("out"), dir.path().join("baseline"));
    assert_ne!(slowed.status.code(), Some(2), "{}", stderr_of(&slowed));
    // The two runs' backgrounds as a busier runner would have left them:
    // the current one's busy thread got 1/1.06 of the baseline's share.
    let read = |path: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let recorded = read(&baseline.join("histograms.json"));
    // A share is counted at most whole (a busy thread's clock may say 1.003).
    let share = recorded["run"]["machine"]["background"]["cpu_share"]
        .as_f64()
        .expect("the baseline records its background")
        .min(1.0);
    let current = out.join("histograms.json");
    let mut patched = read(&current);
    patched["run"]["machine"]["background"]["cpu_share"] = (share / 1.06).into();
    std::fs::write(&current, serde_json::to_vec(&patched).unwrap()).unwrap();
    let judged = compare(
        out.to_str().unwrap(),
        baseline.to_str().unwrap(),
        &[
            "--summary-json",
            dir.path().join("again.json").to_str().unwrap(),
        ],
    );
    assert_eq!(judged.status.code(), Some(1), "{}", stdout_of(&judged));
    let summary = read(&dir.path().join("again.json"));
    assert!(
        summary["verdict"]["machine"]
            .as_str()
            .is_some_and(|m| m.starts_with("this run's machine was busier")),
        "{summary}"
    );
    let median = comparison(&summary, "/health", "p50");
    assert_eq!(median["outcome"], "regressed", "{median}");
    let reason = median["reason"].as_str().unwrap();
    // The background was patched to 1/1.06 of the baseline's; what the
    // allowance prints is rounded from the measured fractions (×1.05 or
    // ×1.06), never more.
    let allowance: f64 = reason
        .split("although this run's machine was busier (allowance ×")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no allowance in {reason}"));
    assert!((1.0..=1.065).contains(&allowance), "{reason}");
}

/// A history of 20 runs at 20 ms, then 10 at 10 ms (an improvement that
/// landed), ±1% from run to run: the step is a change point, not noise, so
/// the genuine Locust slowdown (+27% on the median of products/[id]) still
/// fails with the history. The same thirty values in alternation are
/// noise, and widen the verdict; runs of another branch do not count.
#[test]
fn a_level_shift_in_the_history_does_not_hide_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let history_of = |p50_of_run: &dyn Fn(usize) -> f64| {
        let mut text = String::from("time,commit,branch,label,method,name,requests,failures,p50_ms,p95_ms,p99_ms,requests_per_second,verdict,scenario\r\n");
        for i in 0..30 {
            let p50 = p50_of_run(i) * [1.0, 1.01, 0.99][i % 3];
            for (method, name) in [("GET", "/api/v1/products/[id]/"), ("", "Aggregated")] {
                text.push_str(&format!(
                    "2026-01-{:02}T00:00:00Z,c{i:02}aaaaaaa,main,,{method},{name},700,0,{p50},{},{},{},unchanged,\r\n",
                    i + 1,
                    p50 * 1.2,
                    p50 * 1.5,
                    70_000.0 / p50
                ));
            }
        }
        // Wild runs of a pull request's branch, which must not count.
        for i in 0..10 {
            let p50 = if i % 2 == 0 { 5.0 } else { 30.0 };
            text.push_str(&format!(
                "2026-02-{:02}T00:00:00Z,f{i},feature,,GET,/api/v1/products/[id]/,700,0,{p50},{p50},{p50},100,unchanged,\r\n",
                i + 1,
            ));
        }
        text
    };
    let judge = |name: &str, text: &str| {
        let history = dir.path().join(name);
        std::fs::write(&history, text).unwrap();
        let summary = dir.path().join(format!("{name}.json"));
        let output = compare(
            &locust("slow_stats.csv"),
            &locust("base-a_stats.csv"),
            &[
                "--history",
                history.to_str().unwrap(),
                "--history-branch",
                "main",
                "--summary-json",
                summary.to_str().unwrap(),
            ],
        );
        assert_ne!(output.status.code(), Some(2), "{}", stderr_of(&output));
        let summary = assert_valid_summary(&summary);
        let median = comparison(&summary, "/api/v1/products/[id]/", "p50").clone();
        (history, output, median)
    };

    let (history, output, median) = judge(
        "shifted.csv",
        &history_of(&|i| if i < 20 { 20.0 } else { 10.0 }),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stdout_of(&output));
    assert_eq!(median["outcome"], "regressed", "{median}");
    // The own interval (+15%..) is wider than the history's ±7% since
    // the change, so the history widened nothing; without the change
    // point the step would have made it ±60%.
    assert!(stdout_of(&output).contains("since the last change point"));

    let (_, _, median) = judge(
        "alternating.csv",
        &history_of(&|i| if i % 2 == 0 { 20.0 } else { 10.0 }),
    );
    assert_ne!(median["outcome"], "regressed", "{median}");
    assert!(
        median["reason"]
            .as_str()
            .unwrap()
            .contains("from the spread of 30 earlier runs"),
        "{median}"
    );

    // The history command names the change.
    let shown = swarmgate()
        .args(["history", history.to_str().unwrap(), "--last", "40"])
        .output()
        .unwrap();
    let listed = stdout_of(&shown);
    assert!(
        listed.contains(
            "p50 of GET /api/v1/products/[id]/ fell 50% at c20aaaa (run 21 of branch main)"
        ),
        "{listed}"
    );
    assert!(!listed.contains("branch feature"), "{listed}");
}

/// With a history of runs that differ by ×5 from one another, a ×4
/// change between two single runs is within what runs do; without the
/// history the same pair regresses. (×4, so that a busy machine cannot
/// hide it.)
#[test]
fn a_history_of_noisy_runs_widens_the_verdict_to_their_spread() {
    let quiet = DemoApi::with_latency(2);
    let slower = DemoApi::with_latency(8);
    let dir = tempfile::tempdir().unwrap();
    let scenario = health_scenario(dir.path(), "4s");
    let history = dir.path().join("history.csv");
    let mut text = String::from("time,commit,branch,label,method,name,requests,failures,p50_ms,p95_ms,p99_ms,requests_per_second,verdict\r\n");
    for (i, p50) in [2.0, 10.0, 2.2, 11.0, 2.0, 10.5, 2.1, 10.0]
        .iter()
        .enumerate()
    {
        for (method, name) in [("GET", "/health"), ("", "Aggregated")] {
            text.push_str(&format!(
                "2026-01-0{}T00:00:00Z,c{i},main,,{method},{name},700,0,{p50},{},{},{},unchanged\r\n",
                i + 1,
                p50 * 1.2,
                p50 * 1.5,
                700.0 / p50
            ));
        }
    }
    std::fs::write(&history, &text).unwrap();
    let (out, baseline) = (dir.path().join("out"), dir.path().join("baseline"));
    let run = |api: &DemoApi, extra: &[&str]| {
        run_with_baseline(&scenario, &api.url, &out, &baseline, extra)
    };
    assert_eq!(run(&quiet, &["--update-baseline"]).status.code(), Some(0));
    let alone = run(&slower, &[]);
    assert_eq!(alone.status.code(), Some(1), "{}", stdout_of(&alone));
    let with_history = run(
        &slower,
        &[
            "--history",
            history.to_str().unwrap(),
            "--history-branch",
            "main",
        ],
    );
    let stdout = stdout_of(&with_history);
    assert_eq!(with_history.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("run to run: the spread of 8 earlier runs in the history"),
        "{stdout}"
    );
    let summary = assert_valid_summary(&out.join("summary.json"));
    let median = comparison(&summary, "/health", "p50");
    assert!(
        median["reason"]
            .as_str()
            .unwrap()
            .contains("from the spread of 8 earlier runs"),
        "{median}"
    );
    assert!(
        median["detectable"]["change"].as_f64().unwrap() > 0.5,
        "{median}"
    );
    // Run-to-run noise does not shrink with run length: no run length is
    // advised, only interleaving.
    assert_eq!(
        median["detectable"]["set_by_noise_between_runs"], true,
        "{median}"
    );
    assert!(median["detectable"]["run_secs_for_twice_tolerance"].is_null());
    assert!(
        median["reason"]
            .as_str()
            .unwrap()
            .contains("which longer runs would not narrow"),
        "{median}"
    );

    // Offline, `compare --history` judges the same pair the same way and
    // leaves the history as it was.
    let kept = std::fs::read(&history).unwrap();
    let offline =
        |extra: &[&str]| compare(out.to_str().unwrap(), baseline.to_str().unwrap(), extra);
    let alone = offline(&[]);
    assert_eq!(alone.status.code(), Some(1), "{}", stdout_of(&alone));
    let with_history = offline(&["--history", history.to_str().unwrap()]);
    let stdout = stdout_of(&with_history);
    assert_eq!(with_history.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("run to run: the spread of"), "{stdout}");
    assert_eq!(std::fs::read(&history).unwrap(), kept);
    let missing = offline(&["--history", "no-such-history.csv"]);
    let stderr = stderr_of(&missing);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--history no-such-history.csv: no such file"),
        "{stderr}"
    );
}
