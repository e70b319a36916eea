//! The report in a real browser: headless Chromium (Debian's package) opens a
//! demo report from disk, with no network, and it must render: no console
//! output at all, the charts in the DOM. A screenshot is kept in target/.
//!
//! Ignored by `cargo test` because a fresh machine has no browser; `.ci/run`
//! installs Chromium and runs it with `--ignored`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{stderr_of, swarmgate};

fn chromium(args: &[&str], page: &Path, profile: &Path) -> std::process::Output {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--enable-logging=stderr", "--v=0"])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot start {binary} ({e}); install it with apt-get install -y chromium")
        })
}

#[test]
#[ignore = "needs Chromium; .ci/run installs it and runs this"]
fn the_report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let demo = swarmgate()
        .args([
            "demo",
            "-q",
            "--duration",
            "6s",
            "--inject-latency",
            "3ms",
            "--inject-jitter",
            "2ms",
            "--out",
        ])
        .arg(&results)
        .output()
        .unwrap();
    assert!(
        matches!(demo.status.code(), Some(0 | 1)),
        "{}",
        stderr_of(&demo)
    );
    let page = results.join("report.html");

    let dom = chromium(&["--dump-dom"], &page, &dir.path().join("profile-dom"));
    assert!(dom.status.success(), "{}", stderr_of(&dom));
    let console: Vec<String> = stderr_of(&dom)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    assert!(
        console.is_empty(),
        "the page wrote to the console:\n{}",
        console.join("\n")
    );
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        html.contains("id=\"verdict\""),
        "the verdict banner rendered"
    );
    assert!(
        html.matches("<svg class=\"chart\"").count() >= 5,
        "five charts in the DOM"
    );
    assert!(
        html.matches("<path class=\"series\"").count() >= 8,
        "lines drawn in the charts"
    );
    // The demo API was slowed by 3 ms against its baseline: the first row of
    // What changed is a regression, the settled rows are collapsed below it,
    // and a path breaks only between its parts.
    let open = html
        .split("<table class=\"sortable\" id=\"comparisons\">")
        .nth(1)
        .expect("What changed has its table of rows that need a look");
    let first_row = open.split("<tbody>").nth(1).unwrap().trim_start();
    assert!(
        first_row.starts_with("<tr class=\"regressed\">"),
        "the first row is a regression: {}",
        &first_row[..first_row.len().min(300)]
    );
    assert!(html.contains("<details id=\"comparisons-settled\">"));
    assert!(
        html.contains("<circle") && html.contains("</title></circle>"),
        "points tell their values on hover"
    );
    assert!(
        html.matches("class=\"chart-endpoint-latency\"").count() >= 5,
        "a percentile chart for each of the demo's five endpoints"
    );
    assert!(html.contains("/<wbr>api/<wbr>v1/<wbr>products/<wbr>[id]/<wbr>"));

    // Nothing is wider than the page: a copy of the report with a script
    // that lists what sticks out on the right, read back from the DOM.
    for width in [1300, 900] {
        let probe = dir.path().join(format!("probe-{width}.html"));
        let page_text = std::fs::read_to_string(&page).unwrap();
        let script = "<script>var wide = []; var limit = document.documentElement.clientWidth + 1; document.querySelectorAll('body *').forEach(function (e) { var r = e.getBoundingClientRect(); if (r.width > 0 && r.right > limit) wide.push(e.tagName + (e.id ? '#' + e.id : '')); }); document.body.setAttribute('data-too-wide', wide.slice(0, 12).join(' ') || 'none');</script></body>";
        std::fs::write(&probe, page_text.replace("</body>", script)).unwrap();
        let dom = chromium(
            &["--dump-dom", &format!("--window-size={width},2000")],
            &probe,
            &dir.path().join(format!("profile-width-{width}")),
        );
        let html = String::from_utf8_lossy(&dom.stdout);
        assert!(
            html.contains("data-too-wide=\"none\""),
            "at {width} px some elements are wider than the page: {}",
            html.split("data-too-wide=\"")
                .nth(1)
                .and_then(|t| t.split('"').next())
                .unwrap_or("(the probe did not run)")
        );
    }

    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-screenshot.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = chromium(
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1300,2400",
        ],
        &page,
        &dir.path().join("profile-shot"),
    );
    assert!(shot.status.success(), "{}", stderr_of(&shot));
    let png = std::fs::read(&screenshot).expect("a screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "a real screenshot, {} bytes",
        png.len()
    );
}
