//! `swarmgate init`: a starter scenario with a `[gate]` section and a GitHub
//! Actions workflow, written into a repository without overwriting anything.

use std::path::Path;
use std::process::ExitCode;

use crate::InvalidInput;

const FILES: [(&str, &str); 2] = [
    (
        "swarmgate.toml",
        include_str!("../../templates/init/swarmgate.toml"),
    ),
    (
        ".github/workflows/swarmgate.yml",
        include_str!("../../templates/init/swarmgate.yml"),
    ),
];

pub fn init(dir: &Path) -> anyhow::Result<ExitCode> {
    let existing: Vec<String> = FILES
        .iter()
        .map(|(name, _)| dir.join(name))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(InvalidInput(format!(
            "init writes nothing, since these files exist already: {}",
            existing.join(", ")
        ))
        .into());
    }
    for (name, contents) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| InvalidInput(format!("cannot create {}: {e}", parent.display())))?;
        }
        // create_new: a file that appeared meanwhile is still not overwritten.
        let mut file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| InvalidInput(format!("cannot create {}: {e}", path.display())))?;
        std::io::Write::write_all(&mut file, contents.as_bytes())?;
        outln!("wrote {}", path.display());
    }
    ignore_results(dir)?;
    outln!("next: point `host` in swarmgate.toml at your API, run `swarmgate validate swarmgate.toml` and `swarmgate run swarmgate.toml` to try it; in CI the first push to main records the baseline on the swarmgate-data branch");
    Ok(ExitCode::SUCCESS)
}

/// What a run writes locally and no one should commit.
const IGNORED: &str = "swarmgate-results/";

/// Adds the results directory to the repository's .gitignore, unless it is
/// there already; the rest of the file is kept as it was.
fn ignore_results(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(".gitignore");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(InvalidInput(format!("cannot read {}: {e}", path.display())).into()),
    };
    let listed = existing.lines().map(str::trim).any(|line| {
        line == IGNORED || line == IGNORED.trim_end_matches('/') || line == format!("/{IGNORED}")
    });
    if listed {
        return Ok(());
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("# swarmgate's local results\n{IGNORED}\n"));
    crate::results::write_atomically(&path, text.as_bytes())?;
    outln!("added {IGNORED} to {}", path.display());
    Ok(())
}
