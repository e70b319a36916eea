//! The scenario file as written: serde structs that mirror the TOML, with
//! spans kept wherever a later check may need to point at a value.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub host: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: BTreeMap<String, Spanned<toml::Value>>,
    pub load: Option<RawLoad>,
    #[serde(default)]
    pub user: Vec<Spanned<RawUser>>,
    /// Read by the gate's own parser (see `config`).
    #[serde(rename = "gate")]
    pub _gate: Option<serde::de::IgnoredAny>,
    pub tls: Option<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca: Option<Spanned<String>>,
    pub verify: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub users: Option<Spanned<toml::Value>>,
    pub spawn_rate: Option<Spanned<toml::Value>>,
    pub duration: Option<Spanned<String>>,
    pub stop_timeout: Option<Spanned<String>>,
    pub request_timeout: Option<Spanned<String>>,
    pub body_limit: Option<Spanned<toml::Value>>,
    pub arrival_rate: Option<Spanned<toml::Value>>,
    pub reset_stats: Option<Spanned<toml::Value>>,
    pub seed: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub stage: Vec<Spanned<RawStage>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub duration: Option<Spanned<String>>,
    pub users: Option<Spanned<toml::Value>>,
    pub rate: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub name: Option<String>,
    pub weight: Option<Spanned<toml::Value>>,
    pub wait: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub on_start: Vec<Spanned<RawStep>>,
    #[serde(default)]
    pub on_stop: Vec<Spanned<RawStep>>,
    #[serde(default)]
    pub task: Vec<Spanned<RawTask>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    /// Names the task for the reader of the file, as a Locust task's
    /// function name does; swarmgate names rows by their steps.
    #[serde(rename = "name")]
    pub _name: Option<String>,
    pub weight: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub step: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub get: Option<Spanned<String>>,
    pub post: Option<Spanned<String>>,
    pub put: Option<Spanned<String>>,
    pub patch: Option<Spanned<String>>,
    pub delete: Option<Spanned<String>>,
    pub head: Option<Spanned<String>>,
    pub options: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub query: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    pub json: Option<Spanned<toml::Value>>,
    pub form: Option<BTreeMap<String, Spanned<toml::Value>>>,
    pub body: Option<Spanned<String>>,
    #[serde(default)]
    pub capture: BTreeMap<String, Spanned<String>>,
    pub for_each: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    pub think: Option<Spanned<String>>,
    pub check: Option<RawCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub status: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub json: BTreeMap<String, Spanned<toml::Value>>,
    pub body_contains: Option<Spanned<String>>,
}
