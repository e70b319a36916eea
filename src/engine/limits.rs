//! The open-files limit: each user holds a connection, so a swarm of
//! thousands needs more descriptors than a shell's default soft limit.

/// Descriptors swarmgate needs beyond one per user: stdio, the runtime,
/// result files, DNS.
const OVERHEAD: u64 = 64;

/// Raises the soft limit as far as the hard limit allows. Returns a warning
/// when the users asked for need more than that.
pub fn raise_open_files(users: u64) -> Option<String> {
    let needed = users + OVERHEAD;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    let available = limit.rlim_cur;
    (available < needed).then(|| {
        format!(
            "{users} users need about {needed} open files, but this process may open only {available} \
             (hard limit {}); raise it with `ulimit -n {needed}` or expect connection errors",
            limit.rlim_max
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
