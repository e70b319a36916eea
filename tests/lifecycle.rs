//! What a CI step lives through: cancellation by signal, earlier runs'
//! files in the results directory, baselines replaced whole or not at all
//! (full disk included), bad output paths, and a closed stdout.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    assert_no_panic, repo_file, signalled, stderr_of, swarmgate, write_scenario, DemoApi,
};

const HEALTH: &str = "[load]\nusers = 2\nduration = \"1s\"\n[[user]]\nwait = \"constant(0.02)\"\n  [[user.task]]\n    [[user.task.step]]\n    get = \"/health\"\n";

fn scenario(dir: &Path, api: &DemoApi, body: &str) -> std::path::PathBuf {
    write_scenario(
        dir,
        "scenario.toml",
        &format!("host = \"{}\"\n{body}", api.url),
    )
}

fn run(scenario: &Path, args: &[&str]) -> std::process::Output {
    let output = swarmgate()
        .arg("run")
        .arg(scenario)
        .arg("-q")
        .args(args)
        .output()
        .unwrap();
    assert_no_panic(&output);
    output
}

/// Names of the entries of `dir`.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn sigterm_and_sighup_write_complete_results_and_exit_3() {
    let api = DemoApi::start();
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        for stale in ["stats.csv", "summary.json", "report.html", "failures.csv"] {
            std::fs::write(out.join(stale), "from an earlier run").unwrap();
        }
        let long = HEALTH.replace("\"1s\"", "\"60s\"");
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("swarmgate"));
        command
            .arg("run")
            .arg(scenario(dir.path(), &api, &long))
            .args(["-q", "--out"])
            .arg(&out);
        let (output, stopping) = signalled(command, signal);
        assert_no_panic(&output);
        assert_eq!(
            output.status.code(),
            Some(3),
            "signal {signal}: {}",
            stderr_of(&output)
        );
        assert!(
            stopping < Duration::from_secs(5),
            "stopping took {stopping:?}"
        );
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["exit_code"], 3);
        assert_eq!(summary["run"]["interrupted"], true);
        for file in ["stats.csv", "report.html", "failures.csv"] {
            let text = std::fs::read_to_string(out.join(file)).unwrap();
            assert!(!text.contains("from an earlier run"), "{file} is stale");
        }
    }
}

/// The ramp of `users = 1000000` once never yielded: no signal got through.
/// (5,000 a second keeps the spawn loop busy without a test holding GiBs;
/// stopping thousands of users on a busy runner takes seconds, a hang forever.)
#[test]
fn a_signal_during_the_ramp_to_a_million_users_stops_it_at_once() {
    let api = DemoApi::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let ramp = HEALTH
        .replace("users = 2", "users = 1000000\nspawn_rate = 5000")
        .replace("\"1s\"", "\"60s\"")
        .replace("constant(0.02)", "constant(1)");
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("swarmgate"));
    command
        .arg("run")
        .arg(scenario(dir.path(), &api, &ramp))
        .args(["-q", "--out"])
        .arg(&out);
    let (output, stopping) = signalled(command, libc::SIGTERM);
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert!(
        stopping < Duration::from_secs(10),
        "stopping took {stopping:?}"
    );
    let histograms: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("histograms.json")).unwrap())
            .unwrap();
    let peak = histograms["run"]["peak_users"].as_u64().unwrap();
    assert!((1..1_000_000).contains(&peak), "{peak} users started");
}

#[test]
fn a_run_that_cannot_start_leaves_no_earlier_results_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("stats.csv"), "from an earlier run").unwrap();
    std::fs::write(out.join("notes.txt"), "the user's own").unwrap();
    // Nothing listens on port 1.
    let path = write_scenario(
        dir.path(),
        "s.toml",
        &format!("host = \"http://127.0.0.1:1\"\n{HEALTH}"),
    );
    let output = run(&path, &["--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert_eq!(entries(&out), ["notes.txt"], "only what is not ours stays");
}

#[test]
fn bad_output_paths_fail_before_any_load_naming_the_flag() {
    let api = DemoApi::start();
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), &api, &HEALTH.replace("\"1s\"", "\"30s\""));
    let out = dir.path().join("out");
    for flag in ["--report", "--summary-md", "--junit", "--history"] {
        let started = Instant::now();
        let output = run(
            &path,
            &[
                flag,
                "/no/such/directory/file",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(2),
            "{flag}: {}",
            stderr_of(&output)
        );
        assert!(stderr_of(&output).contains(flag), "{}", stderr_of(&output));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{flag} was checked late"
        );
        assert!(!out.join("stats.csv").exists(), "{flag}: load was sent");
    }
    let output = run(
        &path,
        &[
            "--baseline",
            "/no/such/directory/baseline",
            "--update-baseline",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("--update-baseline"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn a_baseline_directory_is_replaced_whole_and_a_failed_run_never_becomes_one() {
    let api = DemoApi::start();
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline");
    let out = dir.path().join("out");
    let args = |force: bool| {
        let mut args = vec![
            "--baseline",
            baseline.to_str().unwrap(),
            "--update-baseline",
            "--out",
            out.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let healthy = scenario(dir.path(), &api, HEALTH);
    let first = run(
        &healthy,
        &args(true).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    std::fs::write(baseline.join("README"), "kept with the baseline").unwrap();
    let recorded = std::fs::read(baseline.join("histograms.json")).unwrap();

    // Every request fails: the run fails its gate and the baseline stays.
    let broken = scenario(
        dir.path(),
        &api,
        &HEALTH.replace("/health", "/no-such-page"),
    );
    let refused = run(
        &broken,
        &args(false).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr_of(&refused));
    assert!(
        stderr_of(&refused).contains("failed its gate"),
        "{}",
        stderr_of(&refused)
    );
    assert_eq!(
        std::fs::read(baseline.join("histograms.json")).unwrap(),
        recorded
    );

    // A forced update swaps the whole directory, keeping the user's files.
    let forced = run(
        &broken,
        &args(true).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(forced.status.code(), Some(1), "{}", stderr_of(&forced));
    assert_ne!(
        std::fs::read(baseline.join("histograms.json")).unwrap(),
        recorded
    );
    assert_eq!(
        entries(&baseline),
        ["README", "histograms.json", "stats.csv"]
    );
    assert_eq!(
        entries(dir.path()),
        ["baseline", "out", "scenario.toml"],
        "no temporary left"
    );
}

/// A 1 MiB tmpfs, filled up, under the baseline: the update fails and the old
/// baseline is byte for byte what it was. It needs to mount, so it is run
/// on its own by .ci/run where the machine allows it (and said to be left
/// out where not); run by hand where mounting fails, it fails.
#[test]
#[ignore = "mounts a tmpfs: .ci/run runs it where the machine can mount"]
fn a_full_disk_leaves_the_old_baseline_intact() {
    let api = DemoApi::start();
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&disk)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        mounted,
        "cannot mount a tmpfs here (mount -t tmpfs needs root): this test proves nothing without one"
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&disk);
    let baseline = disk.join("baseline");
    let out = dir.path().join("out");
    let path = scenario(dir.path(), &api, HEALTH);
    let update = |path: &Path| {
        run(
            path,
            &[
                "--baseline",
                baseline.to_str().unwrap(),
                "--update-baseline",
                "--force",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    assert_eq!(update(&path).status.code(), Some(0));
    let before: Vec<(String, Vec<u8>)> = entries(&baseline)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(baseline.join(&name)).unwrap();
            (name, bytes)
        })
        .collect();
    // Fill the disk to the last byte.
    let mut filler = std::fs::File::create(disk.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut filler, &block).is_ok() {}
    drop(filler);

    let output = update(&path);
    assert_ne!(output.status.code(), Some(0), "the update cannot have fit");
    assert!(
        stderr_of(&output).contains("the old baseline is as it was"),
        "{}",
        stderr_of(&output)
    );
    for (name, bytes) in &before {
        assert_eq!(
            &std::fs::read(baseline.join(name)).unwrap(),
            bytes,
            "{name} changed"
        );
    }
    assert_eq!(entries(&disk), ["baseline", "filler"], "no temporary left");
}

#[test]
fn a_closed_stdout_keeps_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("swarmgate"))
        .arg("compare")
        .arg(repo_file("fixtures/locust/slow_stats.csv"))
        .arg("--baseline")
        .arg(repo_file("fixtures/locust/base-a_stats.csv"))
        .args(["--max-fail-rate", "off", "--report"])
        .arg(dir.path().join("report.html"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -0`: the reader is gone before anything is written.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_no_panic(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the slow run regressed: {}",
        stderr_of(&output)
    );
}
