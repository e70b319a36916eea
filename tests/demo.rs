//! The demo end to end, in a test binary of its own: cargo runs test
//! binaries one after another, so no other test loads the machine while the
//! healthy demo is compared with its baseline. The baseline is recorded here,
//! on this machine, so the verdict compares like with like.

mod common;

use common::{assert_no_panic, bundled_run, swarmgate, DemoApi};

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One test, so that nothing else runs beside the timed comparisons.
#[test]
fn the_demo_runs_and_passes_against_a_baseline_of_this_machine_and_fails_when_slowed() {
    demo_command_writes_results();
    a_healthy_demo_passes_against_its_own_baseline_and_a_slowed_one_fails();
}

fn a_healthy_demo_passes_against_its_own_baseline_and_a_slowed_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline");
    let healthy_api = DemoApi::start();
    let run = |api: &DemoApi, out: &str, extra: &[&str]| {
        let output = bundled_run(api)
            .args(["-q", "-t", "8s", "--out"])
            .arg(dir.path().join(out))
            .arg("--baseline")
            .arg(&baseline)
            // The demo's users never wait, so its throughput measures the
            // machine's spare CPU, which two busy neighbours cut by a fifth;
            // latency is what this test gates.
            .args(["--throughput-tolerance", "60%"])
            .args(extra)
            .output()
            .unwrap();
        assert_no_panic(&output);
        output
    };
    let recorded = run(&healthy_api, "recorded", &["--update-baseline"]);
    assert_eq!(recorded.status.code(), Some(0), "{}", stdout_of(&recorded));
    assert!(baseline.join("histograms.json").exists());

    let healthy = run(&healthy_api, "healthy", &[]);
    assert_eq!(healthy.status.code(), Some(0), "{}", stdout_of(&healthy));
    drop(healthy_api);
    // The run in time blocks, and how its machine fared, for the gate.
    let read = |file: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.path().join("healthy").join(file)).unwrap())
            .unwrap()
    };
    let blocks = read("histograms.json")["blocks"].as_array().unwrap().len();
    assert!((16..=33).contains(&blocks), "{blocks} blocks in 8 s");
    let machine = &read("summary.json")["run"]["machine"];
    assert!(machine["cores"].as_u64().unwrap() >= 1, "{machine}");
    assert!(machine["timer_lag_p99_ms"].as_f64().unwrap() >= 0.0);
    assert!(stdout_of(&healthy).contains("Noise: requests in time blocks"));

    let slowed = run(&DemoApi::with_latency(5), "slowed", &[]);
    assert_eq!(slowed.status.code(), Some(1), "{}", stdout_of(&slowed));
    let text = stdout_of(&slowed);
    assert!(text.contains("): regressed, "), "{text}");
    // What a reviewer reads last is the verdict.
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(last.starts_with("Verdict: FAILED"), "{text}");
}

/// `swarmgate demo` swarms its embedded API and writes the results.
fn demo_command_writes_results() {
    let dir = tempfile::tempdir().unwrap();
    let output = swarmgate()
        .args(["demo", "-q", "-t", "2s", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_no_panic(&output);
    // Against the baseline bundled from another machine: a verdict (0 or
    // 1) either way, never an error.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        stdout_of(&output)
    );
    for file in [
        "stats.csv",
        "histograms.json",
        "summary.json",
        "report.html",
    ] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
}
