//! The open-files limit: each user holds a connection, so a swarm of
//! thousands needs more descriptors than a shell's default soft limit.

/// Descriptors swarmgate needs beyond one per user: stdio, the runtime,
/// result files, DNS.
const OVERHEAD: u64 = 64;

/// Raises the soft limit as far as the hard limit allows. Returns a warning
/// when the users asked for need more than that.
pub fn raise_open_files(users: u64) -> Option<String> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let needed = users + OVERHEAD;
    let mut limit = getrlimit(Resource::Nofile);
    // `None` is unlimited.
    let below_hard = match (limit.current, limit.maximum) {
        (Some(soft), Some(hard)) => soft < hard,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below_hard {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit.current = limit.maximum;
        }
    }
    let available = limit.current.unwrap_or(u64::MAX);
    (available < needed).then(|| {
        format!(
            "{users} users need about {needed} open files, but this process may open only {available} \
             (hard limit {}); raise it with `ulimit -n {needed}` or expect connection errors",
            limit.maximum.map_or("none".into(), |m| m.to_string())
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_users_fit_and_an_absurd_number_warns() {
        assert_eq!(raise_open_files(1), None);
        let warning = raise_open_files(u32::MAX as u64 * 4).expect("no machine allows this many");
        assert!(warning.contains("ulimit -n"), "{warning}");
    }
}
