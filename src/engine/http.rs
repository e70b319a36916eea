//! One HTTP/1.1 connection per user, kept alive across its requests: what a
//! Locust user's session does. The user's own task writes the request and
//! reads the response on its socket, as wrk does.
//!
//! A pooled general-purpose client (reqwest) re-parses URLs, clones its whole
//! service stack and runs redirect and retry layers on every request; that
//! cost half of swarmgate's CPU per request. hyper's connection API still
//! hands every request to a second task over a channel whose blocks hold 32
//! requests (18 KiB a user once the channel recycles a block) and wakes both
//! tasks per request. A user here owns its socket: no channel, no second
//! task, one 4 KiB read buffer that grows only for large responses.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::wire::{self, Chunks, Framing};
use crate::metrics::wire::Wire;
use crate::scenario::Tls;

/// Status, body (empty unless asked for), body length, the `Location` of a
/// redirect, and the cookies set.
#[derive(Debug)]
pub struct Exchanged {
    pub status: StatusCode,
    pub body: Bytes,
    pub body_length: u64,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    /// Its bytes and timings on the wire.
    pub wire: Wire,
}

/// A request as the user prepared it.
pub struct Outgoing<'a> {
    pub method: &'a Method,
    /// Path and query.
    pub target: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Reads ask for at least this much room.
const READ_SIZE: usize = 4096;
/// A read buffer grown past this by a large response is not kept.
const KEEP_BUFFER: usize = 64 * 1024;

/// Where every user of a run connects: resolved once, before the run.
pub struct Target {
    addresses: Vec<SocketAddr>,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl Target {
    pub fn new(
        host: &url::Url,
        addresses: Vec<SocketAddr>,
        tls: &Tls,
    ) -> anyhow::Result<Arc<Self>> {
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
                Some((super::tls::connector(tls)?, server_name))
            }
            _ => None,
        };
        Ok(Arc::new(Self { addresses, tls }))
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// A user's connection, opened on first use and again after it closes.
pub struct Session {
    target: Arc<Target>,
    /// Taken while a request is in flight, so a request abandoned half-way
    /// (timed out, stopped) also abandons its connection.
    connection: Option<Connection>,
    /// The request's bytes, reused from request to request.
    out: Vec<u8>,
}

struct Connection {
    stream: Stream,
    buffer: BytesMut,
    /// Bytes read on it so far.
    received: u64,
    /// When the response being read gave its first bytes.
    first_read: Option<std::time::Instant>,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Why a response could not be read; `Unanswered` on a reused connection
/// means the server had closed it before our request, which is retried.
enum Failure {
    Unanswered(String),
    Broken(String),
}

impl Session {
    pub fn new(target: Arc<Target>) -> Self {
        Self {
            target,
            connection: None,
            out: Vec::new(),
        }
    }

    /// Sends a request and reads the whole response. A request that a
    /// kept-alive connection closed without answering is retried once on a
    /// new connection, as browsers and `requests` do. `keep_body` keeps up to
    /// that many of the body's bytes, and a longer body is a failure;
    /// otherwise they are only counted.
    pub async fn exchange(
        &mut self,
        request: &Outgoing<'_>,
        keep_body: Option<usize>,
    ) -> Result<Exchanged, String> {
        self.out.clear();
        wire::encode_request(
            &mut self.out,
            request.method,
            request.target,
            request.headers,
            request.body,
        );
        let mut on_wire = Wire::default();
        for attempt in 0..2 {
            let (mut connection, reused) = match self.connection.take() {
                Some(connection) => (connection, true),
                None => {
                    let opening = std::time::Instant::now();
                    let connection = self.connect().await?;
                    on_wire.connect = Some(opening.elapsed());
                    (connection, false)
                }
            };
            let sent = async {
                connection.stream.write_all(&self.out).await?;
                connection.stream.flush().await
            }
            .await;
            let (received, sent_at) = (connection.received, std::time::Instant::now());
            // Bytes of an earlier response left in the buffer were read then.
            connection.first_read = (!connection.buffer.is_empty()).then_some(sent_at);
            let outcome = match sent {
                Ok(()) => {
                    on_wire.sent += self.out.len() as u64;
                    connection.read_response(request.method, keep_body).await
                }
                Err(error) => Err(Failure::Unanswered(format!("request failed: {error}"))),
            };
            on_wire.received += connection.received - received;
            match outcome {
                Ok((mut exchanged, keep_alive)) => {
                    on_wire.first_byte = connection
                        .first_read
                        .map(|at| at.saturating_duration_since(sent_at));
                    exchanged.wire = on_wire;
                    if keep_alive {
                        if connection.buffer.capacity() > KEEP_BUFFER {
                            connection.buffer = BytesMut::new();
                        }
                        self.connection = Some(connection);
                    }
                    return Ok(exchanged);
                }
                Err(Failure::Unanswered(_)) if reused && attempt == 0 => continue,
                Err(Failure::Unanswered(message) | Failure::Broken(message)) => {
                    return Err(message)
                }
            }
        }
        unreachable!("the second attempt is on a new connection, which returns")
    }

    async fn connect(&self) -> Result<Connection, String> {
        let mut last_error = None;
        for address in &self.target.addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let stream = match &self.target.tls {
                        None => Stream::Plain(stream),
                        Some((connector, name)) => {
                            match connector.connect(name.clone(), stream).await {
                                Ok(tls) => Stream::Tls(Box::new(tls)),
                                Err(error) => return Err(format!("TLS handshake failed: {error}")),
                            }
                        }
                    };
                    return Ok(Connection {
                        stream,
                        buffer: BytesMut::new(),
                        received: 0,
                        first_read: None,
                    });
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

impl Connection {
    /// Reads one response; also says whether the connection can be reused.
    async fn read_response(
        &mut self,
        method: &Method,
        keep_body: Option<usize>,
    ) -> Result<(Exchanged, bool), Failure> {
        let head = loop {
            match wire::parse_head(&mut self.buffer, method).map_err(Failure::Broken)? {
                // 100 Continue and 103 Early Hints come before the response.
                Some(head) if head.status.is_informational() => continue,
                Some(head) => break head,
                None => {}
            }
            let nothing_yet = self.buffer.is_empty();
            match self.fill(READ_SIZE).await {
                Ok(read) if read > 0 => {}
                outcome if nothing_yet => {
                    return Err(Failure::Unanswered(match outcome {
                        Err(error) => format!("request failed: {error}"),
                        Ok(_) => "request failed: the connection closed without a response".into(),
                    }))
                }
                Ok(_) => {
                    return Err(Failure::Broken(
                        "reading the response failed: the connection closed in the response head"
                            .into(),
                    ))
                }
                Err(error) => {
                    return Err(Failure::Broken(format!(
                        "reading the response failed: {error}"
                    )))
                }
            }
        };
        let mut body = BytesMut::new();
        let mut body_length = 0u64;
        let broken =
            |error: String| Failure::Broken(format!("reading the response failed: {error}"));
        // A body that would outgrow the limit fails before it is buffered, and
        // its connection is dropped with the rest unread.
        let too_large = |limit: usize| {
            Failure::Broken(format!(
                "response body larger than body_limit ({limit} bytes) for a step that reads the body"
            ))
        };
        let over = |kept: usize, more: usize| keep_body.filter(|&limit| kept + more > limit);
        match head.framing {
            Framing::Empty => {}
            Framing::Length(length) => {
                if let Some(limit) = keep_body.filter(|&limit| length > limit as u64) {
                    return Err(too_large(limit));
                }
                let mut remaining = length;
                while remaining > 0 {
                    if self.buffer.is_empty() {
                        let want = remaining.min(KEEP_BUFFER as u64) as usize;
                        match self.fill(want.max(READ_SIZE)).await {
                            Ok(0) => {
                                return Err(broken(format!(
                                    "the connection closed after {} of {length} body bytes",
                                    length - remaining
                                )))
                            }
                            Ok(_) => {}
                            Err(error) => return Err(broken(error.to_string())),
                        }
                    }
                    let take = remaining.min(self.buffer.len() as u64) as usize;
                    let part = self.buffer.split_to(take);
                    if keep_body.is_some() {
                        if body.is_empty() && take as u64 == length {
                            body = part;
                        } else {
                            body.extend_from_slice(&part);
                        }
                    }
                    remaining -= take as u64;
                }
                body_length = length;
            }
            Framing::Chunked => {
                let mut chunks = Chunks::default();
                let mut overflow = None;
                loop {
                    let done = chunks
                        .decode(&mut self.buffer, |part| {
                            body_length += part.len() as u64;
                            if keep_body.is_some() && overflow.is_none() {
                                overflow = over(body.len(), part.len());
                                if overflow.is_none() {
                                    body.extend_from_slice(part);
                                }
                            }
                        })
                        .map_err(broken)?;
                    if let Some(limit) = overflow {
                        return Err(too_large(limit));
                    }
                    if done {
                        break;
                    }
                    match self.fill(READ_SIZE).await {
                        Ok(0) => {
                            return Err(broken("the connection closed in a chunked body".into()))
                        }
                        Ok(_) => {}
                        Err(error) => return Err(broken(error.to_string())),
                    }
                }
            }
            Framing::UntilClose => loop {
                body_length += self.buffer.len() as u64;
                if keep_body.is_some() {
                    if let Some(limit) = over(body.len(), self.buffer.len()) {
                        return Err(too_large(limit));
                    }
                    body.extend_from_slice(&self.buffer);
                }
                self.buffer.clear();
                match self.fill(READ_SIZE).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(error) => return Err(broken(error.to_string())),
                }
            },
        }
        let exchanged = Exchanged {
            status: head.status,
            body: body.freeze(),
            body_length,
            location: head.location,
            set_cookies: head.set_cookies,
            wire: Wire::default(),
        };
        // Bytes beyond the response mean the server and we disagree on
        // framing: such a connection is not reused.
        let keep_alive = head.keep_alive && self.buffer.is_empty();
        Ok((exchanged, keep_alive))
    }

    /// Reads what has arrived, with room for at least `room` bytes.
    async fn fill(&mut self, room: usize) -> io::Result<usize> {
        self.buffer.reserve(room);
        let read = self.stream.read_buf(&mut self.buffer).await?;
        if read > 0 {
            self.received += read as u64;
            self.first_read.get_or_insert_with(std::time::Instant::now);
        }
        Ok(read)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;

    /// A loopback server that answers each request with the next of
    /// `responses` and closes the connection after those marked so; the
    /// number of connections it accepted.
    async fn serve(
        responses: Vec<(&'static [u8], bool)>,
    ) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut responses = responses.into_iter();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut stream = tokio::io::BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    // The request head, to its blank line.
                    loop {
                        line.clear();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            break;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let Some((response, close)) = responses.next() else {
                        return;
                    };
                    stream.get_mut().write_all(response).await.unwrap();
                    if close {
                        break;
                    }
                }
            }
        });
        (address, accepted)
    }

    fn session(address: SocketAddr) -> Session {
        let host = url::Url::parse(&format!("http://{address}")).unwrap();
        Session::new(Target::new(&host, vec![address], &Tls::default()).unwrap())
    }

    fn get(headers: &HeaderMap) -> Outgoing<'_> {
        Outgoing {
            method: &Method::GET,
            target: "/x",
            headers,
            body: b"",
        }
    }

    #[tokio::test]
    async fn a_kept_alive_connection_carries_the_next_request() {
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: a=b\r\n\r\nhi";
        let (address, accepted) = serve(vec![(ok, false), (ok, false)]).await;
        let mut session = session(address);
        let headers = HeaderMap::new();
        for _ in 0..2 {
            let exchanged = session.exchange(&get(&headers), Some(1024)).await.unwrap();
            assert_eq!(exchanged.status, StatusCode::OK);
            assert_eq!(&exchanged.body[..], b"hi");
            assert_eq!(exchanged.set_cookies, ["a=b"]);
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_closed_connection_is_reopened_and_bodies_past_the_limit_fail() {
        let closing: &[u8] =
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";
        let (address, accepted) = serve(vec![(closing, true), (closing, true)]).await;
        let mut session = session(address);
        let headers = HeaderMap::new();
        let counted = session.exchange(&get(&headers), None).await.unwrap();
        assert_eq!((counted.body_length, counted.body.len()), (5, 0));
        let error = session.exchange(&get(&headers), Some(3)).await.unwrap_err();
        assert!(error.contains("body_limit"), "{error}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn nothing_listening_is_a_failure_that_says_so() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let headers = HeaderMap::new();
        let error = session(address)
            .exchange(&get(&headers), None)
            .await
            .unwrap_err();
        assert!(!error.is_empty());
    }
}
