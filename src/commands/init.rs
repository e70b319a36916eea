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
    outln!("next: point `host` in swarmgate.toml at your API, run `swarmgate validate swarmgate.toml`, then `swarmgate run swarmgate.toml --baseline performance/baseline --update-baseline` once to record a baseline");
    Ok(ExitCode::SUCCESS)
}
