//! HTTP/1.1 on the wire: request heads written, response heads parsed, and
//! bodies framed (by length, chunks, or the connection's end).
//!
//! Pure functions over buffers, so every framing rule is unit-tested without
//! a socket; `http.rs` moves the bytes.

use bytes::{Buf, BytesMut};
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};

/// A response head larger than this is refused, as `http.client` refuses one.
pub const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
/// A chunk-size or trailer line longer than this is not HTTP.
const MAX_LINE: usize = 4096;

/// Writes a request head and body into `out`.
pub fn encode_request(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // As `requests` does: a length whenever there is a body, or a method
    // that carries one.
    if !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// How the body of a response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Neither length nor chunks: the body is all the server sends until it
    /// closes the connection.
    UntilClose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: StatusCode,
    pub framing: Framing,
    /// The connection may carry another request after this response.
    pub keep_alive: bool,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
}

/// Parses a response head at the start of `buffer` and removes it; `None`
/// until the whole head has arrived.
pub fn parse_head(buffer: &mut BytesMut, request_method: &Method) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buffer.len() >= MAX_HEAD => {
            return Err(format!(
                "the response head is larger than {} KiB",
                MAX_HEAD / 1024
            ))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(format!("the response has more than {MAX_HEADERS} headers"))
        }
        Err(error) => return Err(format!("the response is not HTTP/1.1: {error}")),
    };
    let code = response.code.unwrap_or_default();
    let status = StatusCode::from_u16(code)
        .map_err(|_| format!("the response has an invalid status code {code}"))?;
    let mut content_length = None;
    let mut chunked = false;
    let mut close = response.version == Some(0);
    let mut location = None;
    let mut set_cookies = Vec::new();
    for header in response.headers.iter() {
        // Only the few headers that frame the body or are kept are decoded.
        let value = || std::str::from_utf8(header.value).unwrap_or_default().trim();
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let value = value();
            let length: u64 = value
                .parse()
                .map_err(|_| format!("the response has an invalid Content-Length `{value}`"))?;
            if content_length.is_some_and(|l| l != length) {
                return Err("the response has two different Content-Lengths".into());
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value()
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value().split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && response.version == Some(0) {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("location") {
            location = Some(value().to_owned());
        } else if name.eq_ignore_ascii_case("set-cookie") {
            set_cookies.push(value().to_owned());
        }
    }
    let bodiless = *request_method == Method::HEAD
        || status.is_informational()
        || matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    // RFC 9112 6.3: chunked wins over a length.
    let framing = if bodiless {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else {
        match content_length {
            Some(0) => Framing::Empty,
            Some(length) => Framing::Length(length),
            None => Framing::UntilClose,
        }
    };
    buffer.advance(length);
    Ok(Some(Head {
        status,
        framing,
        keep_alive: !close && framing != Framing::UntilClose,
        location,
        set_cookies,
    }))
}

/// Decodes a chunked body as it arrives.
#[derive(Debug, Default)]
pub struct Chunks {
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

impl Chunks {
    /// Consumes what it can of `buffer`, handing the body's bytes to `sink`;
    /// true once the last chunk and the trailers have been read.
    pub fn decode(
        &mut self,
        buffer: &mut BytesMut,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<bool, String> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) = take_line(buffer)? else {
                        return Ok(false);
                    };
                    let digits = line[..].split(|&b| b == b';').next().unwrap_or_default();
                    let digits = std::str::from_utf8(digits).unwrap_or_default().trim();
                    let size = u64::from_str_radix(digits, 16).map_err(|_| {
                        format!("the response has an invalid chunk size `{digits}`")
                    })?;
                    self.state = if size == 0 {
                        ChunkState::Trailers
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(remaining) => {
                    if buffer.is_empty() {
                        return Ok(false);
                    }
                    let take = remaining.min(buffer.len() as u64) as usize;
                    sink(&buffer[..take]);
                    buffer.advance(take);
                    self.state = match remaining - take as u64 {
                        0 => ChunkState::DataEnd,
                        left => ChunkState::Data(left),
                    };
                }
                ChunkState::DataEnd => {
                    if buffer.len() < 2 {
                        return Ok(false);
                    }
                    if &buffer[..2] != b"\r\n" {
                        return Err("the response has a chunk without its CRLF".into());
                    }
                    buffer.advance(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(line) = take_line(buffer)? else {
                        return Ok(false);
                    };
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                    }
                }
                ChunkState::Done => return Ok(true),
            }
        }
    }
}

/// Takes one CRLF-ended line off the buffer, without its CRLF.
fn take_line(buffer: &mut BytesMut) -> Result<Option<BytesMut>, String> {
    match buffer.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            let line = buffer.split_to(end);
            buffer.advance(2);
            Ok(Some(line))
        }
        None if buffer.len() > MAX_LINE => Err("the response has a chunk line over 4 KiB".into()),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderValue, HOST};

    fn head(text: &str) -> Result<Option<Head>, String> {
        parse_head(&mut BytesMut::from(text), &Method::GET)
    }

    #[test]
    fn requests_carry_their_headers_and_a_length_when_they_have_a_body() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:8089"));
        let mut out = Vec::new();
        encode_request(&mut out, &Method::GET, "/a?b=1", &headers, b"");
        assert_eq!(out, b"GET /a?b=1 HTTP/1.1\r\nhost: 127.0.0.1:8089\r\n\r\n");
        out.clear();
        encode_request(&mut out, &Method::POST, "/p", &headers, b"{}");
        assert_eq!(
            out,
            b"POST /p HTTP/1.1\r\nhost: 127.0.0.1:8089\r\ncontent-length: 2\r\n\r\n{}"
        );
        out.clear();
        encode_request(&mut out, &Method::POST, "/p", &HeaderMap::new(), b"");
        assert!(out.ends_with(b"content-length: 0\r\n\r\n"));
    }

    #[test]
    fn heads_give_status_framing_and_keep_alive() {
        let ok = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(
            (ok.status, ok.framing, ok.keep_alive),
            (StatusCode::OK, Framing::Length(12), true)
        );

        let mut buffer =
            BytesMut::from("HTTP/1.1 301 Moved\r\nLocation: /b/\r\nContent-Length: 0\r\n\r\nrest");
        let moved = parse_head(&mut buffer, &Method::GET).unwrap().unwrap();
        assert_eq!(moved.location.as_deref(), Some("/b/"));
        assert_eq!(moved.framing, Framing::Empty);
        assert_eq!(&buffer[..], b"rest", "the head is consumed, nothing more");

        let chunked = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(chunked.framing, Framing::Chunked);

        let closing = head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!closing.keep_alive);
        let until_close = head("HTTP/1.1 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!(
            (until_close.framing, until_close.keep_alive),
            (Framing::UntilClose, false)
        );
        let old = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!old.keep_alive);
        let old_kept =
            head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(old_kept.keep_alive);

        let no_content = head("HTTP/1.1 204 No Content\r\n\r\n").unwrap().unwrap();
        assert_eq!(
            (no_content.framing, no_content.keep_alive),
            (Framing::Empty, true)
        );
        let to_head = parse_head(
            &mut BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"),
            &Method::HEAD,
        )
        .unwrap()
        .unwrap();
        assert_eq!(to_head.framing, Framing::Empty);
    }

    #[test]
    fn partial_and_broken_heads() {
        assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        assert!(head("SSH-2.0-OpenSSH\r\n\r\n")
            .unwrap_err()
            .contains("not HTTP/1.1"));
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n")
            .unwrap_err()
            .contains("invalid Content-Length `ten`"));
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").is_err());
        let huge = format!("HTTP/1.1 200 OK\r\nX-Big: {}", "a".repeat(MAX_HEAD));
        assert!(head(&huge).unwrap_err().contains("larger than 64 KiB"));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert!(head(&format!("HTTP/1.1 200 OK\r\n{many}\r\n"))
            .unwrap_err()
            .contains("more than 100 headers"));
    }

    #[test]
    fn chunks_decode_across_arbitrary_splits() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        // Every split point of the wire gives the same body and stops at NEXT.
        for split in 0..wire.len() {
            let mut chunks = Chunks::default();
            let mut body = Vec::new();
            let mut buffer = BytesMut::from(&wire[..split]);
            chunks
                .decode(&mut buffer, |b| body.extend_from_slice(b))
                .unwrap();
            buffer.extend_from_slice(&wire[split..]);
            let done = chunks
                .decode(&mut buffer, |b| body.extend_from_slice(b))
                .unwrap();
            assert!(done, "split at {split}");
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "split at {split}");
            assert_eq!(&buffer[..], b"NEXT", "split at {split}");
        }
    }

    #[test]
    fn broken_chunks_are_errors() {
        let mut chunks = Chunks::default();
        let error = chunks
            .decode(&mut BytesMut::from("zz\r\n"), |_| {})
            .unwrap_err();
        assert!(error.contains("invalid chunk size `zz`"));
        let mut chunks = Chunks::default();
        assert!(chunks
            .decode(&mut BytesMut::from("2\r\nabXY"), |_| {})
            .is_err());
    }
}
