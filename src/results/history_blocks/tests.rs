use super::*;

const HEADER: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";

/// A history line: the columns this reader uses, the rest as Locust
/// fills them.
fn line(at: u64, method: &str, name: &str, requests: u64, failures: u64, mean: f64) -> String {
    line_with_users(at, 20, method, name, requests, failures, mean)
}

fn line_with_users(
    at: u64,
    users: u64,
    method: &str,
    name: &str,
    requests: u64,
    failures: u64,
    mean: f64,
) -> String {
    format!("{at},{users},{method},{name},0.000000,0.000000,N/A,N/A,{requests},{failures},0,{mean},0,0,0")
}

fn history(lines: &[String]) -> Vec<u8> {
    std::iter::once(HEADER.to_owned())
        .chain(lines.iter().cloned())
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes()
}

fn get(name: &str) -> Endpoint {
    Endpoint {
        method: "GET".into(),
        name: name.into(),
    }
}

#[test]
fn the_history_of_a_locust_prefix_or_of_stats_csv_sits_beside_it() {
    let beside = |p: &str| path_beside(Path::new(p)).map(|p| p.display().to_string());
    assert_eq!(
        beside("base/run_stats.csv").as_deref(),
        Some("base/run_stats_history.csv")
    );
    assert_eq!(beside("stats.csv").as_deref(), Some("stats_history.csv"));
    assert_eq!(beside("base/mystats.csv"), None);
    assert_eq!(beside("base/run_failures.csv"), None);
}

#[test]
fn writes_become_blocks_of_their_differences() {
    let lines = [
        line(100, "", "Aggregated", 0, 0, 0.0),
        line(101, "GET", "/a", 10, 1, 5.0),
        line(101, "", "Aggregated", 10, 1, 5.0),
        line(102, "GET", "/a", 30, 1, 6.0),
        line(102, "GET", "/b", 5, 5, 2.0),
        line(102, "", "Aggregated", 35, 6, 5.428571428571429),
        line(104, "GET", "/a", 40, 3, 6.5),
        line(104, "GET", "/b", 5, 5, 2.0),
        line(104, "", "Aggregated", 45, 8, 6.0),
        // A write cut short by the end of the run is left out.
        line(105, "GET", "/a", 99, 3, 6.5),
    ];
    let (blocks, coverage, _) = read(&history(&lines), Path::new("h.csv")).unwrap();
    assert_eq!(coverage, Coverage::default());
    let a = &blocks[&get("/a")];
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|b| (b.secs - 4.0 / 3.0).abs() < 1e-12));
    let counts: Vec<(u64, u64)> = a.iter().map(|b| (b.requests, b.failures)).collect();
    assert_eq!(counts, [(10, 1), (20, 0), (10, 2)]);
    let BlockLatency::Sum { timed, total_ms } = a[1].latency else {
        panic!("a history's blocks know sums");
    };
    assert_eq!(timed, 20);
    assert!((total_ms - (180.0 - 50.0)).abs() < 1e-9, "{total_ms}");
    let b: Vec<u64> = blocks[&get("/b")].iter().map(|b| b.requests).collect();
    assert_eq!(b, [0, 5, 0], "a row listed late had nothing before");
    assert_eq!(blocks[&Endpoint::aggregated()].len(), 3);
}

#[test]
fn a_reset_starts_the_blocks_over_and_a_long_history_is_merged() {
    let mut lines = vec![
        line_with_users(1, 10, "", "Aggregated", 500, 0, 1.0),
        line_with_users(2, 15, "", "Aggregated", 900, 0, 1.0),
    ];
    for i in 0..100u64 {
        lines.push(line(3 + i, "", "Aggregated", 7 * i, 0, 1.0));
    }
    let (blocks, coverage, _) = read(&history(&lines), Path::new("h.csv")).unwrap();
    assert!(coverage.reset);
    let total = &blocks[&Endpoint::aggregated()];
    assert!(total.len() <= MAX_BLOCKS && total.len() > MAX_BLOCKS / 2);
    assert_eq!(total.iter().map(|b| b.requests).sum::<u64>(), 7 * 99);
    assert!((total.iter().map(|b| b.secs).sum::<f64>() - 99.0).abs() < 1e-9);
}

#[test]
fn a_history_that_no_run_wrote_is_refused_by_line() {
    let refused = |lines: &[String]| {
        read(&history(lines), Path::new("h.csv"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    // Long after the users were spawned, no reset explains a fall.
    let fell = refused(&[
        line(1, "GET", "/a", 6, 0, 1.0),
        line(1, "", "Aggregated", 6, 0, 1.0),
        line(2, "GET", "/a", 8, 0, 1.0),
        line(2, "", "Aggregated", 8, 0, 1.0),
        line(3, "GET", "/a", 10, 0, 1.0),
        line(3, "", "Aggregated", 10, 0, 1.0),
        line(4, "GET", "/a", 5, 0, 1.0),
        line(4, "GET", "/b", 9, 0, 1.0),
        line(4, "", "Aggregated", 14, 0, 1.0),
    ]);
    assert!(
        fell.starts_with("h.csv:8:") && fell.contains("fell from 10 to 5"),
        "{fell}"
    );
    let back = refused(&[
        line(5, "", "Aggregated", 1, 0, 1.0),
        line(4, "", "Aggregated", 2, 0, 1.0),
    ]);
    assert!(
        back.starts_with("h.csv:3:") && back.contains("never go back"),
        "{back}"
    );
    let nan = refused(&[line(5, "GET", "/a", 1, 0, f64::NAN)]);
    assert!(
        nan.contains("`Total Average Response Time` of GET /a"),
        "{nan}"
    );
    let more = refused(&[line(5, "GET", "/a", 1, 2, 1.0)]);
    assert!(more.contains("2 failures of 1 requests"), "{more}");
    let stuck = refused(&[
        line(5, "", "Aggregated", 1, 0, 1.0),
        line(5, "", "Aggregated", 2, 0, 1.0),
    ]);
    assert!(stuck.contains("all at timestamp 5"), "{stuck}");
    let columns = read(b"Timestamp,Name\n1,Aggregated\n", Path::new("h.csv"))
        .map(|_| ())
        .err()
        .unwrap()
        .to_string();
    assert!(columns.contains("no column `Type`"), "{columns}");
}

/// Writes once a second: users 10, 20, 30, 40, then 50 for `steady`
/// seconds; `/login` is hit only while users are spawned, `/a` steadily.
fn ramp_then_steady(steady: u64, reset_at_peak: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let (mut a, mut logins) = (0, 0);
    for t in 1..=4 + steady {
        let users = (t * 10).min(50);
        a += 100 * users / 50;
        if t <= 5 {
            logins += 10;
        }
        if reset_at_peak && t == 5 {
            // Reset as the last users were spawned: their logins count,
            // and the second that follows the reset only.
            (a, logins) = (60, 7);
        }
        lines.push(line_with_users(t, users, "POST", "/login", logins, 0, 9.0));
        lines.push(line_with_users(t, users, "GET", "/a", a, 0, 4.0));
        lines.push(line_with_users(
            t,
            users,
            "",
            "Aggregated",
            a + logins,
            0,
            5.0,
        ));
    }
    lines
}

/// Locust's `--reset-stats` with a fast spawn: the first write after
/// the reset has more requests in all than the last before it, and only
/// the login, hit in `on_start`, falls. Recognised as the reset, not
/// refused, and the blocks start there.
#[test]
fn a_reset_is_recognised_by_any_row_at_the_end_of_the_spawn() {
    let lines = ramp_then_steady(12, true);
    let (blocks, coverage, _) = read(&history(&lines), Path::new("h.csv")).unwrap();
    assert!(coverage.reset);
    assert_eq!(coverage.ramp_left_out_secs, 0.0);
    let a: Vec<u64> = blocks[&get("/a")].iter().map(|b| b.requests).collect();
    assert_eq!(a, vec![100; 11]);
    // A login whose count stays while its time changes was reset too.
    let mut same_count = ramp_then_steady(12, false);
    for line in same_count.iter_mut().skip(12).step_by(3).take(1) {
        *line = line_with_users(5, 50, "POST", "/login", 40, 0, 12.0);
    }
    let (_, coverage, _) = read(&history(&same_count), Path::new("h.csv")).unwrap();
    assert!(coverage.reset);
}

/// Without a reset, the writes before the peak User Count are left out
/// of the blocks (the ramp is not noise), unless too few would be left.
#[test]
fn the_ramp_is_left_out_of_the_blocks_while_enough_remain() {
    let (blocks, coverage, _) =
        read(&history(&ramp_then_steady(12, false)), Path::new("h.csv")).unwrap();
    assert!(!coverage.reset);
    assert_eq!(coverage.ramp_left_out_secs, 4.0);
    let a: Vec<u64> = blocks[&get("/a")].iter().map(|b| b.requests).collect();
    assert_eq!(a, vec![100; 11]);
    let (short, coverage, _) =
        read(&history(&ramp_then_steady(5, false)), Path::new("h.csv")).unwrap();
    assert_eq!(coverage.ramp_left_out_secs, 0.0);
    assert_eq!(short[&get("/a")].len(), 8);
}
