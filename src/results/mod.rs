//! The results directory: Locust-compatible CSVs, exact histograms, and the
//! terminal summary. One file per format, each behind [`ResultFile`].

mod failures_csv;
pub mod histograms;
mod history_csv;
pub mod junit;
pub mod locust;
pub mod markdown;
mod stats_csv;
pub mod summary_json;
pub mod terminal;
pub mod verdict_text;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::engine::RunResult;
pub use failures_csv::utc_timestamp;
pub use history_csv::HistoryWriter;
pub use stats_csv::{StatsCsv, HEADER as STATS_HEADER};

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

/// Temporary file in the same directory, then rename: a reader sees the old
/// file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
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
