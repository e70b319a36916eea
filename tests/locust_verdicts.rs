//! The gate on genuine Locust 2.47 files (fixtures/locust, made by its
//! generate.sh): A/A pairs pass, slower servers fail, a history gives time
//! blocks from the steady state, and a `--reset-stats` history is read by
//! its reset.

mod common;

use common::{
    assert_valid_summary, compare_locust as compare, comparison, locust, stderr_of, stdout_of,
};

#[test]
fn genuine_locust_a_a_pair_passes_both_ways() {
    for text in passes_both_ways("base-a", "base-b") {
        assert!(text.contains("Verdict: PASSED"), "{text}");
    }
}

/// `PREFIX_stats.csv` of `b` against `a`'s and the other way round: each
/// exits 0; their verdicts' text.
fn passes_both_ways(a: &str, b: &str) -> [String; 2] {
    [(b, a), (a, b)].map(|(current, baseline)| {
        let (current, baseline) = (
            format!("{current}_stats.csv"),
            format!("{baseline}_stats.csv"),
        );
        let output = compare(&locust(&current), &locust(&baseline), &[]);
        let text = stdout_of(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{current} vs {baseline}:\n{text}{}",
            stderr_of(&output)
        );
        text
    })
}

#[test]
fn genuine_locust_slowdown_fails_and_names_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let output = compare(
        &locust("slow_stats.csv"),
        &locust("base-a_stats.csv"),
        &["--summary-json", summary.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stdout_of(&output));
    let text = stdout_of(&output);
    assert!(
        text.contains("✗ GET /api/v1/products/[id]/ p50 11.0 ms → 14.0 ms (+27%, CI +"),
        "{text}"
    );
    let summary = assert_valid_summary(&summary);
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["run"], serde_json::Value::Null);
    let regressed: Vec<&str> = summary["verdict"]["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "regressed")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        regressed.contains(&"/api/v1/products/[id]/"),
        "{regressed:?}"
    );
}

/// Locust's `--csv-full-history` writes every row's cumulative counts once a
/// second: the gate takes time blocks from them, so the 404s that come in
/// nines widen the failure rate's interval, and the verdicts still hold.
#[test]
fn genuine_locust_full_history_gives_time_blocks_and_the_verdicts_hold() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    for (current, baseline) in [
        ("full-b_stats.csv", "full-a_stats.csv"),
        ("full-a_stats.csv", "full-b_stats.csv"),
    ] {
        let output = compare(
            &locust(current),
            &locust(baseline),
            &["--summary-json", summary.to_str().unwrap()],
        );
        let text = stdout_of(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{current} vs {baseline}:\n{text}"
        );
        assert!(
            text.contains("Noise: requests in time blocks (27 and 27)")
                && text.contains("the ramp-up (2 s and 2 s, users below their peak) is left out"),
            "{text}"
        );
    }
    let summary = assert_valid_summary(&summary);
    let products = comparison(&summary, "/api/v1/products/[id]/", "fail_rate");
    let effects = products["design_effect"].as_array().unwrap();
    assert!(
        effects.iter().all(|e| e.as_f64().unwrap() > 1.5),
        "404s in nines are correlated: {effects:?}"
    );

    let output = compare(
        &locust("full-slow_stats.csv"),
        &locust("full-a_stats.csv"),
        &[],
    );
    let text = stdout_of(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("✗ GET /api/v1/products/[id]/ avg 11.3 ms → 13.7 ms (+21%, CI +"),
        "{text}"
    );
}

/// A history beside a Locust CSV that cannot be from its run is refused by
/// file and line, and the CSV alone is still read when it is removed.
#[test]
fn a_history_that_does_not_belong_to_its_stats_csv_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("run_stats.csv");
    std::fs::copy(locust("full-b_stats.csv"), &current).unwrap();
    let history = std::fs::read_to_string(locust("full-b_stats_history.csv")).unwrap();
    let history_path = dir.path().join("run_stats_history.csv");
    let lines: Vec<&str> = history.split("\r\n").collect();
    // Line 57 is the first row of a write long after the users were
    // spawned (where a reset is recognised), POST /api/v1/auth/token/ (no
    // failures): its count set to zero.
    let mut cells: Vec<String> = lines[56].split(',').map(str::to_owned).collect();
    assert_eq!(cells[3], "/api/v1/auth/token/");
    cells[17] = "0".into();
    let broken: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 56 {
                cells.join(",")
            } else {
                (*l).to_owned()
            }
        })
        .collect();
    std::fs::write(&history_path, broken.join("\r\n")).unwrap();
    let output = compare(current.to_str().unwrap(), &locust("full-a_stats.csv"), &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("run_stats_history.csv:57: the Total Request Count")
            && stderr.contains("fell from"),
        "{stderr}"
    );

    std::fs::copy(locust("base-b_stats_history.csv"), &history_path).unwrap();
    let output = compare(current.to_str().unwrap(), &locust("full-a_stats.csv"), &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is the history from another run?"),
        "{stderr}"
    );

    std::fs::remove_file(&history_path).unwrap();
    let output = compare(current.to_str().unwrap(), &locust("full-a_stats.csv"), &[]);
    let text = stdout_of(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("requests taken as independent"), "{text}");
}

/// Issue 28's pairs: the seed's locustfile, 50 users spawned over 5 s,
/// 30 s with a full history, the server 5 ms slower in `fifty-slow`, made
/// back to back. The ramp is left out of the blocks and the slowdown is
/// caught; the A/A pair of the same shape passes both ways.
#[test]
fn fifty_users_five_ms_slower_is_caught_and_the_same_server_passes() {
    for text in passes_both_ways("fifty-a", "fifty-b") {
        assert!(
            text.contains(
                "the ramp-up (5 s and 5 s, users below their peak) is left out of the blocks"
            ) && text.contains("and out of the counts, averages and throughput compared"),
            "{text}"
        );
    }
    for baseline in ["fifty-a_stats.csv", "fifty-b_stats.csv"] {
        let dir = tempfile::tempdir().unwrap();
        let summary = dir.path().join("summary.json");
        let output = compare(
            &locust("fifty-slow_stats.csv"),
            &locust(baseline),
            &["--summary-json", summary.to_str().unwrap()],
        );
        let text = stdout_of(&output);
        assert_eq!(output.status.code(), Some(1), "{baseline}:\n{text}");
        let summary = assert_valid_summary(&summary);
        for metric in ["avg", "p50"] {
            let row = comparison(&summary, "Aggregated", metric);
            assert_eq!(row["outcome"], "regressed", "{row}");
            let change = row["change"].as_f64().unwrap();
            assert!((0.2..0.5).contains(&change), "{row}");
        }
    }
}

/// Locust's `--reset-stats` with 50 users spawned in 1.4 s: at the reset
/// the login, hit only in `on_start`, falls from 35 to 15 while the
/// Aggregated total grows. The history is read by its reset (it was
/// refused as counts that fell), its blocks start there, and the A/A pair
/// passes both ways.
#[test]
fn a_reset_stats_history_is_read_by_its_reset_and_its_a_a_pair_passes() {
    let history = std::fs::read_to_string(locust("reset-a_stats_history.csv")).unwrap();
    let totals = |name: &str| -> Vec<(u64, u64)> {
        history
            .lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|cells| cells.get(3) == Some(&name))
            .map(|cells| (cells[1].parse().unwrap(), cells[17].parse().unwrap()))
            .collect()
    };
    let at_the_peak = |writes: &[(u64, u64)]| {
        let first = writes.iter().position(|&(users, _)| users == 50).unwrap();
        (writes[first - 1].1, writes[first].1)
    };
    let (logins, all) = (totals("/api/v1/auth/token/"), totals("Aggregated"));
    let (before, after) = at_the_peak(&logins);
    assert!(before > after, "{logins:?}");
    let (before, after) = at_the_peak(&all);
    assert!(after > before, "{all:?}");
    for text in passes_both_ways("reset-a", "reset-b") {
        assert!(
            text.contains("Noise: requests in time blocks (27 and 27)"),
            "{text}"
        );
        assert!(
            !text.contains("ramp-up"),
            "the reset left the ramp out: {text}"
        );
    }
}

#[test]
fn csv_variants_locust_writes_are_read() {
    // LF line ends and a byte-order mark, as other tools rewrite Locust files.
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(locust("base-a_stats.csv")).unwrap();
    let variant = dir.path().join("variant.csv");
    std::fs::write(
        &variant,
        format!("\u{feff}{}", original.replace("\r\n", "\n")),
    )
    .unwrap();
    let output = compare(variant.to_str().unwrap(), &locust("base-a_stats.csv"), &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&output),
        stderr_of(&output)
    );
}
