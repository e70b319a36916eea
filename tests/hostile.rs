//! Hostile servers on loopback: each misbehaves in one way a broken service
//! can, and each test checks that the run ends in bounded time and memory
//! with an outcome that never passes a broken service as healthy.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{assert_no_panic, stderr_of, write_scenario};

/// How a hostile server answers each request, given its path.
#[derive(Clone, Copy)]
enum Hostility {
    /// Reads the request and never answers.
    Silent,
    /// A chunked body that never ends.
    EndlessBody,
    /// 200 OK with a cookie whose Max-Age overflows any clock.
    HugeMaxAge,
    /// 302 back to the same path, for ever.
    RedirectLoop,
    /// 200 OK with 90 new cookies on every response (under the 100-header limit).
    CookieFlood,
    /// 200 OK to any path.
    Fine,
    /// A broken response of another kind for each path (see [`broken_framing`]).
    BrokenFraming,
}

fn serve(hostility: Hostility) -> String {
    let address = common::serve_raw(move |request_line, served, stream| {
        answer(hostility, request_line, served, stream)
    });
    format!("http://{address}")
}

/// Answers one request the hostile way; false closes the connection.
fn answer(hostility: Hostility, request_line: &str, served: u64, writer: &mut TcpStream) -> bool {
    let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n";
    let written = match hostility {
        Hostility::Silent => {
            // Holds the connection open until the client goes away.
            let _ = writer.read(&mut [0; 1]);
            return false;
        }
        Hostility::EndlessBody => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            if writer.write_all(head.as_bytes()).is_err() {
                return false;
            }
            let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
            while writer.write_all(chunk.as_bytes()).is_ok() {}
            return false;
        }
        Hostility::HugeMaxAge => writer.write_all(
            format!("{ok}Set-Cookie: a=b; Max-Age=9223372036854775807\r\nSet-Cookie: c=d; Expires=Fri, 31 Dec 9999 23:59:59 GMT\r\n\r\n{{\"ok\": 1}} ").as_bytes(),
        ),
        Hostility::RedirectLoop => writer.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n",
        ),
        Hostility::Fine => writer.write_all(format!("{ok}\r\n{{\"ok\": 1}} ").as_bytes()),
        Hostility::BrokenFraming => {
            let path = request_line.split(' ').nth(1).unwrap_or("/");
            let _ = writer.write_all(&broken_framing(path));
            // Each answer is broken for good: the connection goes with it.
            return false;
        }
        Hostility::CookieFlood => {
            let cookies: String = (0..90)
                .map(|i| format!("Set-Cookie: c{served}_{i}={}\r\n", "v".repeat(100)))
                .collect();
            writer.write_all(format!("{ok}{cookies}\r\n{{\"ok\": 1}} ").as_bytes())
        }
    };
    written.is_ok()
}

/// The paths of [`Hostility::BrokenFraming`], each a response no client
/// may take as a success, and the reason its failure must give.
const BROKEN: [(&str, &str); 8] = [
    ("/huge-head", "head is larger than 64 KiB"),
    ("/many-headers", "more than 100 headers"),
    ("/bad-chunk-size", "invalid chunk size `zz`"),
    ("/endless-chunk-line", "chunk line over 4 KiB"),
    ("/conflicting-lengths", "two different Content-Lengths"),
    ("/short-body", "closed after 9 of 100 body bytes"),
    ("/not-http", "not HTTP/1.1"),
    ("/absurd-length", "invalid Content-Length"),
];

fn broken_framing(path: &str) -> Vec<u8> {
    let ok = "HTTP/1.1 200 OK\r\n";
    match path {
        "/huge-head" => format!("{ok}X-Big: {}\r\n\r\n", "a".repeat(70 * 1024)).into_bytes(),
        "/many-headers" => {
            let headers: String = (0..150).map(|i| format!("X-{i}: {i}\r\n")).collect();
            format!("{ok}{headers}Content-Length: 0\r\n\r\n").into_bytes()
        }
        "/bad-chunk-size" => {
            format!("{ok}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n").into_bytes()
        }
        "/endless-chunk-line" => format!(
            "{ok}Transfer-Encoding: chunked\r\n\r\n{}",
            "1".repeat(64 * 1024)
        )
        .into_bytes(),
        "/conflicting-lengths" => {
            format!("{ok}Content-Length: 5\r\nContent-Length: 7\r\n\r\nhello!!").into_bytes()
        }
        "/short-body" => format!("{ok}Content-Length: 100\r\n\r\nonly this").into_bytes(),
        "/not-http" => b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec(),
        "/absurd-length" => {
            format!("{ok}Content-Length: 18446744073709551616\r\n\r\nx").into_bytes()
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
    }
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
    /// The run's peak resident memory, read from /proc while it ran.
    peak_kib: u64,
    summary: serde_json::Value,
    /// Lines of stats.csv, its header included.
    stats_lines: usize,
    failures_csv: std::path::PathBuf,
    /// Keeps the results until the test has read them.
    _dir: tempfile::TempDir,
}

/// Runs `steps` (one task) for `duration` against `url`, watching memory.
fn run_against(url: &str, load: &str, steps: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        dir.path(),
        "hostile.toml",
        &format!("host = \"{url}\"\n[load]\n{load}\n[[user]]\n  [[user.task]]\n{steps}"),
    );
    let out = dir.path().join("out");
    let started = Instant::now();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("swarmgate"))
        .arg("run")
        .arg(&scenario)
        .arg("-q")
        .arg("--out")
        .arg(&out)
        // Files, not pipes: a long summary would fill a pipe nobody reads yet.
        .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let mut peak_kib = 0;
    while child.try_wait().unwrap().is_none() {
        peak_kib = peak_kib.max(high_water_mark_kib(child.id()).unwrap_or(0));
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = std::process::Output {
        status: child.wait().unwrap(),
        stdout: std::fs::read(dir.path().join("stdout")).unwrap(),
        stderr: std::fs::read(dir.path().join("stderr")).unwrap(),
    };
    assert_no_panic(&output);
    let summary = std::fs::read_to_string(out.join("summary.json"))
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or(serde_json::Value::Null);
    let stats_lines = std::fs::read_to_string(out.join("stats.csv"))
        .map(|s| s.lines().count())
        .unwrap_or(0);
    Outcome {
        stats_lines,
        failures_csv: out.join("failures.csv"),
        _dir: dir,
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: stderr_of(&output),
        took: started.elapsed(),
        peak_kib,
        summary,
    }
}

fn high_water_mark_kib(pid: u32) -> Option<u64> {
    let status =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

const GET: &str = "    [[user.task.step]]\n    get = \"/loop\"\n";

#[test]
fn a_server_that_never_answers_fails_the_run_and_counts_what_was_cut_off() {
    let url = serve(Hostility::Silent);
    // The timeout is longer than the run: every request is still waiting at the end.
    let run = run_against(
        &url,
        "users = 3\nduration = \"2s\"\nrequest_timeout = \"1m\"",
        GET,
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("no request succeeded"),
        "{}",
        run.stdout
    );
    assert_eq!(run.summary["run"]["cut_off"], 3, "{}", run.summary);
    assert_eq!(run.summary["exit_code"], 1);
    assert!(
        run.stderr.contains("still waiting for a response"),
        "{}",
        run.stderr
    );
    assert!(run.took < Duration::from_secs(15), "took {:?}", run.took);
}

#[test]
fn an_endless_body_under_a_capture_fails_at_the_body_limit_in_bounded_memory() {
    let url = serve(Hostility::EndlessBody);
    let steps = format!("{GET}    capture = {{ ok = \"$.ok\" }}\n");
    let run = run_against(
        &url,
        "users = 4\nduration = \"2s\"\nbody_limit = \"1MiB\"",
        &steps,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains("larger than body_limit"),
        "{}",
        run.stdout
    );
    assert!(run.peak_kib < 150_000, "peak {} KiB", run.peak_kib);
    assert!(run.took < Duration::from_secs(15), "took {:?}", run.took);
}

#[test]
fn a_cookie_that_outlives_every_clock_is_kept_without_a_panic() {
    let url = serve(Hostility::HugeMaxAge);
    let run = run_against(&url, "users = 2\nduration = \"1s\"", GET);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.summary["run"]["requests"].as_u64().unwrap() > 10,
        "{}",
        run.summary
    );
    assert_eq!(run.summary["run"]["failures"], 0);
}

#[test]
fn a_redirect_loop_is_a_failure_not_a_success() {
    let url = serve(Hostility::RedirectLoop);
    let run = run_against(&url, "users = 2\nduration = \"1s\"", GET);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains("too many redirects (more than 10)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.summary["run"]["requests"],
        run.summary["run"]["failures"]
    );
}

#[test]
fn a_flood_of_cookies_stays_bounded() {
    let url = serve(Hostility::CookieFlood);
    let run = run_against(&url, "users = 4\nduration = \"2s\"", GET);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.summary["run"]["requests"].as_u64().unwrap() > 10);
    assert!(run.peak_kib < 150_000, "peak {} KiB", run.peak_kib);
}

#[test]
fn a_path_that_makes_a_row_per_request_stops_at_the_row_limit_and_says_why() {
    let url = serve(Hostility::Fine);
    let steps = "    [[user.task.step]]\n    get = \"/item/{{ id }}\"\n    for_each = { id = \"0..1500\" }\n";
    let run = run_against(&url, "users = 2\nduration = \"3s\"", steps);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.summary["run"]["requests"].as_u64().unwrap() > 1000,
        "{}",
        run.summary
    );
    // The header, at most 1,000 rows and the one they overflow into, Aggregated.
    assert!(run.stats_lines <= 1003, "{} lines", run.stats_lines);
    let warnings = run.summary["run"]["warnings"].to_string();
    assert!(
        warnings.contains("GET /item/{{ id }}") && warnings.contains("give such a step a `name`"),
        "{warnings}"
    );
}

#[test]
fn every_broken_framing_is_a_failure_with_its_reason() {
    let url = serve(Hostility::BrokenFraming);
    let steps: String = BROKEN
        .iter()
        .map(|(path, _)| format!("    [[user.task.step]]\n    get = \"{path}\"\n"))
        .collect();
    let run = run_against(&url, "users = 2\nduration = \"2s\"", &steps);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.summary["run"]["requests"], run.summary["run"]["failures"],
        "{}",
        run.stdout
    );
    let failures = std::fs::read_to_string(&run.failures_csv).unwrap();
    for (path, reason) in BROKEN {
        let row = failures
            .lines()
            .find(|line| line.starts_with(&format!("GET,{path},")))
            .unwrap_or_else(|| panic!("no failure for {path}:\n{failures}"));
        assert!(row.contains(reason), "{row}");
    }
    assert!(run.peak_kib < 150_000, "peak {} KiB", run.peak_kib);
    assert!(run.took < Duration::from_secs(15), "took {:?}", run.took);
}
