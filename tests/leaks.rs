//! Nothing hostile or secret gets out: a server that answers with workflow
//! commands, terminal escapes and spreadsheet formulas, and a scenario that
//! puts a secret from the environment and host credentials into its
//! requests; every output is then searched.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{assert_no_panic, write_scenario};

const SECRET: &str = "sg-secret-7f3a9c";
const PASSWORD: &str = "hunter2pw";
/// What the server hands out to be captured and sent back as a name.
const HOSTILE: &str = "\\n::error title=owned::owned\\u001b[31m";

/// Answers every request with a JSON body holding hostile text; paths under
/// /fail get a 500 whose reason phrase starts a workflow command.
fn serve() -> String {
    let address = common::serve_raw(|request_line, _, stream| {
        let body = format!(
            "{{\"next\": \"{HOSTILE}\", \"formula\": \"=SUM(1,2)\", \"cmd\": \"=cmd|' /C calc'!A0\"}}"
        );
        let status = if request_line.contains(" /fail") {
            "500 ::error title=reason::owned"
        } else {
            "200 OK"
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).is_ok()
    });
    address.to_string()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn no_secret_and_no_server_sent_command_gets_into_any_output() {
    let authority = serve();
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        dir.path(),
        "leaky.toml",
        &format!(
            r#"host = "http://admin:{PASSWORD}@{authority}"
[load]
users = 2
duration = "2s"
[[user]]
  headers = {{ X-Token = "{{{{ env.SG_LEAK_SECRET }}}}" }}
  [[user.task]]
    [[user.task.step]]
    get = "/start"
    capture = {{ next = "$.next", formula = "$.formula", cmd = "$.cmd" }}
    [[user.task.step]]
    get = "/item/{{{{ env.SG_LEAK_SECRET }}}}"
    name = "{{{{ formula }}}}{{{{ next }}}}"
    [[user.task.step]]
    get = "/fail/{{{{ env.SG_LEAK_SECRET }}}}?token={{{{ env.SG_LEAK_SECRET }}}}"
    [[user.task.step]]
    get = "/again"
    name = "{{{{ cmd }}}}"
"#
        ),
    );
    let out = dir.path().join("out");
    let step_summary = dir.path().join("step-summary.md");
    let github_output = dir.path().join("github-output");
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("swarmgate"))
        .arg("run")
        .arg(&scenario)
        .arg("-q")
        .arg("--out")
        .arg(&out)
        .arg("--junit")
        .arg(dir.path().join("junit.xml"))
        .arg("--summary-md")
        .arg(dir.path().join("summary.md"))
        .arg("--history")
        .arg(dir.path().join("history.csv"))
        .env("SG_LEAK_SECRET", SECRET)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .env("GITHUB_OUTPUT", &github_output)
        .output()
        .unwrap();
    assert_no_panic(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let stats = std::fs::read_to_string(out.join("stats.csv")).unwrap();
    assert!(stats.contains("/fail/***?token=***"), "{stats}");

    // The run really requested with the secret and captured the hostile text.
    assert!(stats.contains("'=SUM(1,2)"), "{stats}");
    let mut outputs = vec![
        ("stdout".to_owned(), stdout.to_string()),
        ("stderr".to_owned(), stderr.to_string()),
    ];
    for file in files_under(dir.path()) {
        if file == scenario {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        outputs.push((file.display().to_string(), text));
    }
    assert!(
        outputs.len() > 10,
        "{:?}",
        outputs.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for (name, text) in &outputs {
        assert!(!text.contains(SECRET), "{name} shows the secret:\n{text}");
        assert!(
            !text.contains(PASSWORD),
            "{name} shows the password:\n{text}"
        );
        // The Basic credentials as sent, base64 of admin:hunter2pw.
        assert!(
            !text.contains("YWRtaW46aHVudGVyMnB3"),
            "{name} shows the credentials"
        );
    }
    for (name, text) in &outputs[..2] {
        for line in text.lines() {
            let command = line.trim_start();
            assert!(
                !command.starts_with("::")
                    || command.starts_with("::error title=swarmgate")
                    || command.starts_with("::warning title=swarmgate"),
                "{name} has a line that is a workflow command: {line:?}"
            );
            assert!(
                !line.contains('\u{1b}'),
                "{name} passes an escape through: {line:?}"
            );
        }
    }
    // Spreadsheet formulas stay text in every CSV.
    for file in files_under(dir.path())
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "csv"))
    {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(file)
            .unwrap();
        for record in reader.records() {
            for cell in record.unwrap().iter() {
                assert!(
                    !cell.starts_with(['=', '+', '@']),
                    "{} has a formula cell {cell:?}",
                    file.display()
                );
            }
        }
    }
}
