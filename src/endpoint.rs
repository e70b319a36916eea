//! An endpoint as every stage after the run names it: a stats row, keyed
//! by method and name as Locust's CSVs key them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stats row: `GET /api/v1/products/`, or `Aggregated`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub method: String,
    pub name: String,
}

impl Endpoint {
    pub fn aggregated() -> Self {
        Self {
            method: String::new(),
            name: "Aggregated".into(),
        }
    }

    pub fn is_aggregated(&self) -> bool {
        self.method.is_empty() && self.name == "Aggregated"
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.method.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{} {}", self.method, self.name)
        }
    }
}
