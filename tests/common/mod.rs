//! Helpers for the end-to-end tests: the embedded demo API on loopback, the
//! swarmgate binary, and CSV reading.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use swarmgate::demo::{DemoServer, Faults};

/// The demo API served from a runtime of its own, so the binary under test
/// talks to it over real loopback HTTP.
pub struct DemoApi {
    runtime: tokio::runtime::Runtime,
    server: Option<DemoServer>,
    pub url: String,
}

impl DemoApi {
    pub fn start() -> Self {
        Self::with_faults(Faults::default())
    }

    pub fn with_latency(latency_ms: u64) -> Self {
        Self::with_faults(Faults {
            latency: Duration::from_millis(latency_ms),
            ..Faults::default()
        })
    }

    pub fn with_faults(faults: Faults) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(DemoServer::start(
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                faults,
            ))
            .unwrap();
        let url = server.base_url();
        Self {
            runtime,
            server: Some(server),
            url,
        }
    }
}

impl Drop for DemoApi {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.stop());
        }
    }
}

/// A raw HTTP/1.1 server on loopback, for servers no framework would write:
/// for each request `respond` gets the request line, how many requests the
/// connection carried before it, and the socket; false closes the connection.
pub fn serve_raw<F>(respond: F) -> SocketAddr
where
    F: Fn(&str, u64, &mut std::net::TcpStream) -> bool + Send + Sync + 'static,
{
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let address = listener.local_addr().unwrap();
    let respond = std::sync::Arc::new(respond);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let respond = respond.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                for served in 0.. {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    if !respond(&request_line, served, &mut stream) {
                        return;
                    }
                }
            });
        }
    });
    address
}

pub fn swarmgate() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("swarmgate").unwrap()
}

pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn write_scenario(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// A scenario of 4 users asking for /health every 5 ms for `duration`; the
/// host comes from `--host`.
pub fn health_scenario(dir: &Path, duration: &str) -> PathBuf {
    write_scenario(
        dir,
        "health.toml",
        &format!("host = \"http://127.0.0.1:1\"\n[load]\nusers = 4\nspawn_rate = 100\nduration = \"{duration}\"\n[[user]]\nwait = \"constant(0.005)\"\n  [[user.task]]\n    [[user.task.step]]\n    get = \"/health\"\n"),
    )
}

/// `swarmgate run SCENARIO -q --host URL --out OUT --baseline BASELINE
/// EXTRA…`, checked for panics.
pub fn run_with_baseline(
    scenario: &Path,
    url: &str,
    out: &Path,
    baseline: &Path,
    extra: &[&str],
) -> std::process::Output {
    let output = swarmgate()
        .arg("run")
        .arg(scenario)
        .args(["-q", "--host", url, "--out"])
        .arg(out)
        .arg("--baseline")
        .arg(baseline)
        .args(extra)
        .output()
        .unwrap();
    assert_no_panic(&output);
    output
}

/// The comparison of `name`'s `metric` in a summary.json.
pub fn comparison<'a>(
    summary: &'a serde_json::Value,
    name: &str,
    metric: &str,
) -> &'a serde_json::Value {
    summary["verdict"]["comparisons"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|c| c["name"] == name && c["metric"] == metric)
        })
        .unwrap_or_else(|| panic!("no {name} {metric} in {summary}"))
}

/// A CSV as a header and rows of cells.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn read(path: &Path) -> Table {
        let mut reader =
            csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let header = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        Table { header, rows }
    }

    pub fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    /// The row whose Type and Name are these.
    pub fn row(&self, method: &str, name: &str) -> &Vec<String> {
        self.rows
            .iter()
            .find(|r| r[0] == method && r[1] == name)
            .unwrap_or_else(|| panic!("no row {method} {name}: {:?}", self.rows))
    }

    pub fn number(&self, method: &str, name: &str, column: &str) -> f64 {
        self.row(method, name)[self.column(column)].parse().unwrap()
    }
}

/// A finished, successful `swarmgate run` of a scenario against the demo API.
pub struct Swarm {
    dir: tempfile::TempDir,
    /// 0, or 1 when no request succeeded (which never passes).
    pub exit_code: i32,
}

impl Swarm {
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn stats(&self) -> Table {
        Table::read(&self.dir.path().join("out/stats.csv"))
    }

    pub fn failures(&self) -> Table {
        Table::read(&self.dir.path().join("out/failures.csv"))
    }

    pub fn history(&self) -> Table {
        Table::read(&self.dir.path().join("out/stats_history.csv"))
    }
}

/// Runs a scenario, written without `host`, against `api` and checks that it
/// succeeded without a panic.
pub fn swarm(api: &DemoApi, scenario: &str) -> Swarm {
    swarm_at(&api.url, scenario)
}

/// Runs a scenario, written without `host`, against the server at `url`.
pub fn swarm_at(url: &str, scenario: &str) -> Swarm {
    swarm_with_files(url, scenario, &[])
}

/// Like [`swarm_at`], with files (name, contents) beside the scenario.
pub fn swarm_with_files(url: &str, scenario: &str, files: &[(&str, &str)]) -> Swarm {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    let path = write_scenario(
        dir.path(),
        "scenario.toml",
        &format!("host = \"{url}\"\n{scenario}"),
    );
    // These runs test what the engine records, failures included; the gate's
    // limit on the failure rate is tested in tests/gate.rs.
    let output = swarmgate()
        .arg("run")
        .arg(&path)
        .args(["-q", "--max-fail-rate", "off", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_no_panic(&output);
    let exit_code = output.status.code().unwrap_or(-1);
    let nothing_succeeded =
        String::from_utf8_lossy(&output.stdout).contains("no request succeeded");
    assert!(
        exit_code == 0 || exit_code == 1 && nothing_succeeded,
        "exit {exit_code}: {}",
        stderr_of(&output)
    );
    Swarm { dir, exit_code }
}

/// `swarmgate run` of the bundled Market API scenario against `api`, with
/// more arguments.
pub fn bundled_run(api: &DemoApi) -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("swarmgate"));
    command
        .arg("run")
        .arg(repo_file("fixtures/market-api.toml"))
        .args(["--host", &api.url]);
    command
}

/// The bundled scenario as Locust's seed locustfile has it: the unknown
/// ids' 404s are failures, and the run's failure rate does not fail the gate.
/// The directory holds the scenario; keep it while the command runs.
pub fn bundled_run_counting_404s(api: &DemoApi) -> (std::process::Command, tempfile::TempDir) {
    let source = std::fs::read_to_string(repo_file("fixtures/market-api.toml")).unwrap();
    let expected_404s = "    check = { status = [200, 404] }\n";
    assert!(
        source.contains(expected_404s),
        "the bundled scenario expects its 404s"
    );
    let source = source.replace(expected_404s, "") + "max_fail_rate = \"off\"\n";
    let dir = tempfile::tempdir().unwrap();
    let path = write_scenario(dir.path(), "market-api.toml", &source);
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("swarmgate"));
    command.arg("run").arg(path).args(["--host", &api.url]);
    (command, dir)
}

/// Starts `command`, sends it Ctrl-C (SIGINT) after two seconds, and returns
/// its output and how long it took to stop.
pub fn interrupted(command: std::process::Command) -> (std::process::Output, Duration) {
    signalled(command, libc::SIGINT)
}

/// Like [`interrupted`], with another signal.
pub fn signalled(
    mut command: std::process::Command,
    signal: i32,
) -> (std::process::Output, Duration) {
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    (output, started.elapsed())
}

pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn assert_no_panic(output: &std::process::Output) {
    let stderr = stderr_of(output);
    assert!(
        !stderr.contains("panicked"),
        "swarmgate panicked:\n{stderr}"
    );
}

/// A genuine Locust fixture's path.
pub fn locust(file: &str) -> String {
    repo_file("fixtures/locust")
        .join(file)
        .display()
        .to_string()
}

/// `swarmgate compare CURRENT --baseline BASELINE`, the report in a
/// temporary place, checked for panics.
pub fn compare_locust(current: &str, baseline: &str, extra: &[&str]) -> std::process::Output {
    // The report goes to a temporary place, not into the working tree.
    let dir = tempfile::tempdir().unwrap();
    // The genuine Locust files count the demo's 404s (17%) as failures; the
    // limit on the run's own failure rate is tested on its own below.
    let output = swarmgate()
        .args(["compare", current, "--baseline", baseline])
        .args(["--max-fail-rate", "20%"])
        .args(extra)
        .arg("--report")
        .arg(dir.path().join("report.html"))
        .output()
        .unwrap();
    assert_no_panic(&output);
    output
}

pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// summary.json read and checked against docs/summary.schema.json.
pub fn assert_valid_summary(path: &Path) -> serde_json::Value {
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_file("docs/summary.schema.json")).unwrap())
            .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{} does not match docs/summary.schema.json:\n{}",
        path.display(),
        errors.join("\n")
    );
    summary
}

/// `swarmgate serve-demo` in a process of its own, as a deployment is: two
/// sides of a comparison never share a server. Killed when dropped.
pub struct DemoProcess {
    child: std::process::Child,
    pub url: String,
}

impl DemoProcess {
    /// A demo API that adds `latency` (e.g. `"40ms"`) to every response.
    pub fn with_latency(latency: &str) -> Self {
        Self::with_flags(&["--inject-latency", latency])
    }

    /// `serve-demo --port 0` with these flags.
    pub fn with_flags(flags: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("swarmgate"))
            .args(["serve-demo", "--port", "0"])
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|word| word.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("serve-demo printed no address: {line}"))
            .to_owned();
        Self { child, url }
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
