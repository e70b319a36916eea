//! One scenario file, read into its two halves: what the users do
//! ([`Scenario`]) and how their run is judged (`[gate]`, [`Rules`]). Neither
//! half knows the other; this module is the only place that sees both.

use std::path::Path;

use crate::diagnostic::ScenarioError;
use crate::gate::rules::Rules;
use crate::scenario::Scenario;

#[derive(Debug)]
pub struct Config {
    pub scenario: Scenario,
    pub rules: Rules,
}

/// Reads, parses and checks a scenario file.
pub fn load(path: &Path) -> anyhow::Result<Config> {
    let source = crate::bounds::read_text(path, crate::bounds::MAX_TEXT_FILE).map_err(|e| {
        crate::InvalidInput(format!("cannot read scenario {}: {e}", path.display()))
    })?;
    Ok(parse(path, &source)?)
}

/// Reads a rules file for `compare`: a `[gate]` table on its own.
pub fn load_rules(path: &Path) -> anyhow::Result<Rules> {
    let source = crate::bounds::read_text(path, crate::bounds::MAX_TEXT_FILE).map_err(|e| {
        crate::InvalidInput(format!("cannot read rules file {}: {e}", path.display()))
    })?;
    Ok(Rules::parse(path, &source)?)
}

pub fn parse(path: &Path, source: &str) -> Result<Config, ScenarioError> {
    parse_with_env(path, source, &|name| std::env::var(name).ok())
}

/// [`parse`] with `env` in place of the process's environment.
pub(crate) fn parse_with_env(
    path: &Path,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ScenarioError> {
    match (
        crate::scenario::compile(path, source, env),
        Rules::parse_scenario_file(path, source),
    ) {
        (Ok(scenario), Ok(rules)) => Ok(Config { scenario, rules }),
        (Err(error), Ok(_)) | (Ok(_), Err(error)) => Err(error),
        // A TOML syntax error is found by both; it is said once.
        (Err(mut error), Err(more)) => {
            for diagnostic in more.diagnostics {
                if !error.diagnostics.contains(&diagnostic) {
                    error.diagnostics.push(diagnostic);
                }
            }
            Err(error)
        }
    }
}
