//! Our result files have the shape of genuine Locust 2.47 output, kept in
//! fixtures/locust/ (see the README there for how it was made).

mod common;

use std::path::Path;

use common::{bundled_run_counting_404s, repo_file, stderr_of, DemoApi, Table};

/// What a cell of each stats.csv column may look like, per Locust's code:
/// counts are ints; times and sizes are Python floats or a bare 0;
/// percentiles are ints or N/A.
fn shape(column: &str, cell: &str) -> &'static str {
    let int = cell.bytes().all(|b| b.is_ascii_digit()) && !cell.is_empty();
    let float = cell.contains('.') && cell.parse::<f64>().is_ok() && !cell.ends_with('.');
    match column {
        "Type" | "Name" => "text",
        "Request Count" | "Failure Count" if int => "int",
        "Median Response Time"
        | "Min Response Time"
        | "Max Response Time"
        | "Average Content Size"
            if int || float =>
        {
            "number"
        }
        "Average Response Time" | "Requests/s" | "Failures/s" if float => "float",
        _ if column.ends_with('%') && (int || cell == "N/A") => "percentile",
        _ => "malformed",
    }
}

fn our_run(out: &Path) {
    // Latency like Locust's fixture run, so medians are whole milliseconds.
    let api = DemoApi::with_latency(8);
    // Locust's seed locustfile counts the unknown ids' 404s as failures.
    let (mut command, _scenario) = bundled_run_counting_404s(&api);
    let output = command
        .args([
            "--users",
            "20",
            "--spawn-rate",
            "10",
            "--duration",
            "4s",
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    std::fs::write(out.join("console.txt"), &output.stdout).unwrap();
}

fn first_line(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let end = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("CRLF line ends")
        + 2;
    bytes[..end].to_vec()
}

fn assert_crlf_only(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count();
    let lf = bytes.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(crlf, lf, "{}: every line ends in CRLF", path.display());
    assert!(
        bytes.ends_with(b"\r\n"),
        "{}: ends with a line end",
        path.display()
    );
}

#[test]
fn result_files_match_genuine_locust_files() {
    let dir = tempfile::tempdir().unwrap();
    our_run(dir.path());
    for (ours, theirs) in [
        ("stats.csv", "base-a_stats.csv"),
        ("stats_history.csv", "base-a_stats_history.csv"),
        ("failures.csv", "base-a_failures.csv"),
    ] {
        let ours = dir.path().join(ours);
        let theirs = repo_file("fixtures/locust").join(theirs);
        assert_eq!(
            String::from_utf8(first_line(&ours)).unwrap(),
            String::from_utf8(first_line(&theirs)).unwrap(),
            "header of {}",
            ours.display()
        );
        assert_crlf_only(&ours);
        assert_crlf_only(&theirs);
    }

    let ours = Table::read(&dir.path().join("stats.csv"));
    let theirs = Table::read(&repo_file("fixtures/locust/base-a_stats.csv"));
    let rows = |t: &Table| {
        t.rows
            .iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows(&ours),
        rows(&theirs),
        "same rows in the same order, Aggregated last"
    );
    for table in [&ours, &theirs] {
        for row in &table.rows {
            for (column, cell) in table.header.iter().zip(row) {
                assert_ne!(
                    shape(column, cell),
                    "malformed",
                    "{column} = {cell:?} in {row:?}"
                );
            }
        }
    }
}

#[test]
fn terminal_summary_has_locusts_layout() {
    let dir = tempfile::tempdir().unwrap();
    our_run(dir.path());
    let ours = std::fs::read_to_string(dir.path().join("console.txt")).unwrap();
    let theirs = std::fs::read_to_string(repo_file("fixtures/locust/base-a_console.txt")).unwrap();
    let ours: Vec<&str> = ours.lines().collect();
    let theirs: Vec<&str> = theirs.lines().collect();
    // Headers, titles and separators are identical; in data lines every
    // number ends in the same column, and error messages start in the same one.
    let ends = |l: &str| {
        let bytes = l.as_bytes();
        (0..bytes.len())
            .filter(|&i| bytes[i] != b' ' && bytes.get(i + 1).is_none_or(|b| *b == b' '))
            .skip(2)
            .collect::<Vec<_>>()
    };
    let mut in_error_report = false;
    for (index, line) in theirs.iter().enumerate() {
        in_error_report |= line.starts_with("# occurrences");
        let structural = line.starts_with("Type")
            || line.starts_with("----")
            || line.is_empty()
            || !line
                .starts_with(|c: char| c.is_ascii_uppercase() || c == ' ' || c.is_ascii_digit());
        let title = ["Response time percentiles", "Error report", "# occurrences"]
            .iter()
            .any(|t| line.starts_with(t));
        if structural || title {
            assert_eq!(ours[index].trim_end(), line.trim_end(), "line {index}");
        } else if in_error_report {
            assert_eq!(
                ours[index].find(" GET "),
                line.find(" GET "),
                "line {index}: {:?} vs {line:?}",
                ours[index]
            );
        } else {
            assert_eq!(
                ends(ours[index]),
                ends(line),
                "line {index}: {:?} vs {line:?}",
                ours[index]
            );
        }
    }
}
