//! Where the load goes: resolved and reachable before the first user starts.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::{CouldNotRun, InvalidInput};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves the host's addresses and refuses any that are not loopback unless
/// `allow_remote`: a gate pointed at the wrong host must not swarm it.
pub async fn resolve(host: &url::Url, allow_remote: bool) -> anyhow::Result<Vec<SocketAddr>> {
    let name = host.host_str().context("host has no name")?;
    let port = host.port_or_known_default().unwrap_or(80);
    let lookup = name.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((lookup, port))
        .await
        .map_err(|e| CouldNotRun(format!("cannot resolve host {host}: {e}")))?
        .collect();
    if addresses.is_empty() {
        return Err(CouldNotRun(format!("host {host} resolves to no address")).into());
    }
    if !allow_remote {
        if let Some(remote) = addresses.iter().find(|a| !a.ip().is_loopback()) {
            return Err(InvalidInput(format!(
                "host {host} resolves to {}, which is not loopback; pass --allow-remote to load-test another machine",
                remote.ip()
            ))
            .into());
        }
    }
    Ok(addresses)
}

/// Fails fast, naming the host, when nothing listens there.
pub async fn ensure_reachable(host: &url::Url, addresses: &[SocketAddr]) -> anyhow::Result<()> {
    let mut last_error = None;
    for address in addresses {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last_error = Some(e.to_string()),
            Err(_) => last_error = Some(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())),
        }
    }
    Err(CouldNotRun(format!(
        "host {host} is unreachable: {}; is the server running?",
        last_error.unwrap_or_else(|| "no address".into())
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_resolves_and_a_closed_port_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let host = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let addresses = resolve(&host, false).await.unwrap();
        let error = ensure_reachable(&host, &addresses).await.unwrap_err();
        assert!(error.is::<CouldNotRun>());
        assert!(
            error.to_string().contains(&format!("127.0.0.1:{port}")),
            "{error}"
        );
    }

    #[tokio::test]
    async fn non_loopback_needs_permission() {
        let host = url::Url::parse("http://192.0.2.1:80").unwrap();
        let error = resolve(&host, false).await.unwrap_err();
        assert!(error.is::<InvalidInput>());
        assert!(error.to_string().contains("--allow-remote"));
    }
}
