//! The results directory: Locust-compatible CSVs, exact histograms, and the
//! terminal summary. One file per format, each behind [`ResultFile`].

mod blocks;
pub mod failures_csv;
pub mod histograms;
mod history_blocks;
mod history_csv;
pub mod locust;
mod stats_csv;
pub mod terminal;
pub mod timeline;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::engine::RunResult;
pub use failures_csv::utc_timestamp;

/// The file `publish` writes the run and its verdict to, in the results directory.
pub const SUMMARY_JSON: &str = "summary.json";
pub use history_csv::HistoryWriter;
pub use stats_csv::{parse_stats_csv, StatsCsv};

use crate::gate::input::RunStats;
use crate::InvalidInput;

/// A run's statistics as the gate compares them, from a stats CSV (ours or
/// Locust's) or a results directory (its histograms.json when present, which
/// is exact, else its stats.csv). A `stats.csv` with a histograms.json
/// beside it is read from the histograms; any other stats CSV takes its
/// time blocks from the stats history beside it, when there is one.
pub fn load_stats(path: &Path) -> anyhow::Result<RunStats> {
    if path.is_dir() {
        let histograms_path = path.join(histograms::FILE_NAME);
        if histograms_path.exists() {
            let bytes = crate::bounds::read_file(&histograms_path, crate::bounds::MAX_DATA_FILE)
                .map_err(|e| {
                    InvalidInput(format!("cannot read {}: {e}", histograms_path.display()))
                })?;
            return histograms::run_stats(&bytes, &histograms_path.display().to_string());
        }
        return load_stats(&path.join("stats.csv"));
    }
    // swarmgate's own stats.csv with its histograms.json beside it: the
    // exact numbers, not the CSV's whole-millisecond buckets.
    if let Some(dir) = path.parent() {
        let is_own_csv = path.file_name().is_some_and(|n| n == "stats.csv");
        if is_own_csv && dir.join(histograms::FILE_NAME).is_file() {
            return load_stats(dir);
        }
    }
    let read = |path: &Path| {
        crate::bounds::read_file(path, crate::bounds::MAX_DATA_FILE)
            .map_err(|e| InvalidInput(format!("cannot read {}: {e}", path.display())))
    };
    let mut stats = parse_stats_csv(&read(path)?, path)?;
    // Its stats history, when beside it, has the run in time blocks.
    if let Some(history) = history_blocks::path_beside(path).filter(|p| p.is_file()) {
        history_blocks::attach(&mut stats, &read(&history)?, &history)?;
    }
    Ok(stats)
}

/// Reads a baseline and checks that it has every percentile the rules compare.
pub fn load_baseline(path: &Path, rules: &crate::gate::rules::Rules) -> anyhow::Result<RunStats> {
    let baseline = load_stats(path)?;
    crate::gate::rules::check_percentiles(&baseline, rules)?;
    Ok(baseline)
}

/// Writes the run as the new baseline: into a directory (stats.csv and
/// histograms.json) unless the path names a .csv file. Each file is replaced
/// atomically, so a reader never sees half a baseline.
pub fn update_baseline(path: &Path, run: &RunResult, force: bool) -> anyhow::Result<()> {
    if run.interrupted && !force {
        return Err(crate::CouldNotRun(format!(
            "the run was interrupted, so the baseline {} was left as it was; pass --force with --update-baseline to accept a partial run",
            path.display()
        ))
        .into());
    }

    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        write_atomically(path, &StatsCsv.render(run)?)?;
    } else {
        let files = [
            ("stats.csv", StatsCsv.render(run)?),
            (
                histograms::FILE_NAME,
                histograms::HistogramsJson.render(run)?,
            ),
        ];
        replace_dir_atomically(path, &files).map_err(|e| {
            InvalidInput(format!(
                "--update-baseline {}: {e:#}; the old baseline is as it was",
                path.display()
            ))
        })?;
    }
    outln!(
        "baseline {} updated from this run ({} rows)",
        path.display(),
        run.stats.endpoints.len() + 1
    );
    Ok(())
}

/// The run's own statistics as the gate compares them: exact.
pub fn run_stats(run: &RunResult, source: &str) -> RunStats {
    RunStats {
        machine: run.machine.clone(),
        ..RunStats::from_snapshot(
            &run.stats,
            run.measured.as_secs_f64(),
            run.ramp_up.as_secs_f64(),
            source,
        )
    }
}

/// A file written from a finished run.
pub trait ResultFile {
    fn file_name(&self) -> &'static str;
    fn render(&self, run: &RunResult) -> anyhow::Result<Vec<u8>>;
}

/// Every file written at the end of a run, in the order they are written.
pub fn final_files() -> Vec<Box<dyn ResultFile>> {
    vec![
        Box::new(stats_csv::StatsCsv),
        Box::new(failures_csv::FailuresCsv),
        Box::new(histograms::HistogramsJson),
    ]
}

/// The `--out` directory, created and proven writable before the run starts
/// so that a bad path fails in a second rather than after the whole run.
pub struct ResultsDir {
    path: PathBuf,
}

impl ResultsDir {
    /// Also removes what an earlier run left, so that the directory never
    /// mixes two runs (a CI step that uploads it after a cut-short run would
    /// otherwise publish stale results as new).
    pub fn prepare(path: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| {
            crate::InvalidInput(format!(
                "--out {}: cannot create directory: {e}",
                path.display()
            ))
        })?;
        let probe = tempfile::NamedTempFile::new_in(path).map_err(|e| {
            crate::InvalidInput(format!(
                "--out {}: directory is not writable: {e}",
                path.display()
            ))
        })?;
        drop(probe);
        let files = final_files();
        let earlier = files.iter().map(|f| f.file_name()).chain([
            history_csv::FILE_NAME,
            SUMMARY_JSON,
            "report.html",
        ]);
        for name in earlier {
            match std::fs::remove_file(path.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(crate::InvalidInput(format!(
                        "--out {}: cannot remove the earlier run's {name}: {e}",
                        path.display()
                    ))
                    .into())
                }
                _ => {}
            }
        }
        Ok(Self {
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn history(&self) -> anyhow::Result<HistoryWriter> {
        HistoryWriter::create(&self.path.join(history_csv::FILE_NAME))
    }

    /// Writes every final file; each replaces its old version atomically.
    pub fn write(&self, run: &RunResult) -> anyhow::Result<()> {
        for file in final_files() {
            let bytes = file
                .render(run)
                .with_context(|| format!("rendering {}", file.file_name()))?;
            write_atomically(&self.path.join(file.file_name()), &bytes)?;
        }
        Ok(())
    }
}

/// Writes `files` as the directory `path`, both or neither: they go into a
/// fresh sibling directory, which then trades places with the old one in one
/// rename (Linux's RENAME_EXCHANGE), so a full disk or a kill at any point
/// leaves the old directory whole. Other files of the old directory move along.
pub fn replace_dir_atomically(path: &Path, files: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} names no directory", path.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .tempdir_in(parent)
        .with_context(|| format!("creating a directory in {}", parent.display()))?;
    for (file, bytes) in files {
        let mut out = std::fs::File::create(staging.path().join(file))?;
        out.write_all(bytes)?;
        out.sync_all()?;
    }
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let own = files.iter().any(|(f, _)| entry.file_name() == **f);
            if !own && entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), staging.path().join(entry.file_name()))?;
            }
        }
        std::fs::set_permissions(staging.path(), std::fs::metadata(path)?.permissions())?;
        exchange(staging.path(), path)?;
        // The staging directory now holds the old baseline; dropping it removes it.
    } else {
        std::fs::set_permissions(
            staging.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        std::fs::rename(staging.path(), path)
            .with_context(|| format!("moving the new baseline to {}", path.display()))?;
    }
    std::fs::File::open(parent)?.sync_all()?;
    Ok(())
}

/// Swaps two paths in one step.
fn exchange(a: &Path, b: &Path) -> anyhow::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE)
        .map_err(std::io::Error::from)
        .with_context(|| format!("swapping {} into place", b.display()))
}

/// Fails, naming `flag`, unless a file can be written at `path`: its
/// directory exists and takes new files (a directory `path` itself counts
/// as its own place for the baseline layout).
pub fn check_writable(path: &Path, flag: &str) -> Result<(), crate::InvalidInput> {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    if !dir.is_dir() {
        return Err(crate::InvalidInput(format!(
            "{flag} {}: the directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    tempfile::NamedTempFile::new_in(dir).map(drop).map_err(|e| {
        crate::InvalidInput(format!(
            "{flag} {}: cannot write in {}: {e}",
            path.display(),
            dir.display()
        ))
    })
}

/// Temporary file in the same directory, then rename: a reader sees the old
/// file or the new one, never half of one.
///
/// A path that is not a regular file (`/dev/null`, a FIFO, /dev/stdout) is
/// written in place: renaming over it would replace the device itself.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut file| file.write_all(bytes))
            .with_context(|| format!("writing {}", path.display()));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    temp.write_all(bytes)?;
    // A temporary file is private; the result should read like any other file.
    let permissions = match std::fs::metadata(path) {
        Ok(existing) => existing.permissions(),
        Err(_) => std::os::unix::fs::PermissionsExt::from_mode(0o644),
    };
    temp.as_file().set_permissions(permissions)?;
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_written_in_place_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomically(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn a_new_baseline_directory_replaces_the_old_whole() {
        let dir = tempfile::tempdir().unwrap();
        let baseline = dir.path().join("baseline");
        replace_dir_atomically(&baseline, &[("a", b"1".to_vec()), ("b", b"2".to_vec())]).unwrap();
        std::fs::write(baseline.join("notes"), "mine").unwrap();
        replace_dir_atomically(&baseline, &[("a", b"3".to_vec()), ("b", b"4".to_vec())]).unwrap();
        assert_eq!(std::fs::read(baseline.join("a")).unwrap(), b"3");
        assert_eq!(std::fs::read(baseline.join("b")).unwrap(), b"4");
        assert_eq!(std::fs::read(baseline.join("notes")).unwrap(), b"mine");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the baseline itself");
    }
}
