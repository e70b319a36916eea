//! One HTTP/1.1 connection per user, kept alive across its requests: what a
//! Locust user's session does, on hyper's connection API directly.
//!
//! A pooled general-purpose client (reqwest) re-parses URLs, clones its whole
//! service stack and runs redirect and retry layers on every request; that
//! cost half of swarmgate's CPU per request. A user here owns its connection,
//! so none of that is needed: the request goes straight to the connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::LOCATION;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Status, body, and the `Location` of a redirect.
pub type Exchanged = (StatusCode, Bytes, Option<String>);

/// Where every user of a run connects: resolved once, before the run.
pub struct Target {
    addresses: Vec<SocketAddr>,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl Target {
    pub fn new(host: &url::Url, addresses: Vec<SocketAddr>) -> anyhow::Result<Arc<Self>> {
        let tls = match host.scheme() {
            "https" => {
                let name = host
                    .host_str()
                    .unwrap_or_default()
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let server_name = rustls::pki_types::ServerName::try_from(name.to_owned())
                    .map_err(|e| {
                        crate::InvalidInput(format!(
                            "host {host}: not a valid TLS server name: {e}"
                        ))
                    })?;
                Some((tls_connector(), server_name))
            }
            _ => None,
        };
        Ok(Arc::new(Self { addresses, tls }))
    }
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A user's connection, opened on first use and again after it breaks.
pub struct Session {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Session {
    pub fn new(target: Arc<Target>) -> Self {
        Self {
            target,
            sender: None,
        }
    }

    /// Sends a request and reads the whole response body; returns the status,
    /// the body and any `Location`. A request that a kept-alive connection
    /// closed before sending is retried once on a new connection, as browsers
    /// and `requests` do.
    pub async fn exchange(
        &mut self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Exchanged, String> {
        for attempt in 0..2 {
            let reused = self.sender.as_ref().is_some_and(|s| !s.is_closed());
            if !reused {
                self.sender = Some(self.connect().await?);
            }
            let sender = self.sender.as_mut().expect("connected above");
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let status = response.status();
                    let location = status
                        .is_redirection()
                        .then(|| {
                            response
                                .headers()
                                .get(LOCATION)
                                .and_then(|l| l.to_str().ok())
                                .map(str::to_owned)
                        })
                        .flatten();
                    return match response.into_body().collect().await {
                        Ok(body) => Ok((status, body.to_bytes(), location)),
                        Err(error) => {
                            self.sender = None;
                            Err(format!("reading the response failed: {}", describe(&error)))
                        }
                    };
                }
                Err(mut failed) => {
                    self.sender = None;
                    match failed.take_message() {
                        Some(unsent) if reused && attempt == 0 => request = unsent,
                        _ => return Err(format!("request failed: {}", describe(failed.error()))),
                    }
                }
            }
        }
        Err("request failed: the connection closed before the request was sent".into())
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let mut last_error = None;
        for address in &self.target.addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return match &self.target.tls {
                        None => handshake(stream).await,
                        Some((connector, name)) => {
                            match connector.connect(name.clone(), stream).await {
                                Ok(tls) => handshake(tls).await,
                                Err(error) => Err(format!("TLS handshake failed: {error}")),
                            }
                        }
                    };
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(format!(
            "connection failed: {}",
            last_error
                .map(|e| e.to_string())
                .unwrap_or_else(|| "no address".into())
        ))
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("connection failed: {}", describe(&e)))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// hyper's errors say "connection error" on the outside and why on the inside.
fn describe(error: &hyper::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}
