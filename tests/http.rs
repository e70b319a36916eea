//! The engine's HTTP/1.1 against a hand-written server on loopback that
//! frames its responses every way HTTP allows: by length, in chunks, by
//! closing the connection, and that drops kept-alive connections.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::swarm_at;

/// Serves each connection on a thread of its own until the client or the
/// path's behaviour closes it; counts connections accepted.
fn serve() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            counter.fetch_add(1, Ordering::Relaxed);
            std::thread::spawn(move || serve_connection(stream));
        }
    });
    (url, accepted)
}

fn serve_connection(stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut cookie = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("cookie:") {
                cookie = value.trim().to_owned();
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let (response, close): (&[u8], bool) = match path.as_str() {
            // {"ok": true, "n": 7}, in three chunks with an extension and a trailer.
            "/chunked" => (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
                  7;x=y\r\n{\"ok\": \r\n6\r\ntrue, \r\n7\r\n\"n\": 7}\r\n0\r\nX-Done: 1\r\n\r\n",
                false,
            ),
            // No length: the body ends when the connection does.
            "/until-close" => (b"HTTP/1.0 200 OK\r\n\r\nthe body ends at the close", true),
            // Answers, then drops the kept-alive connection without saying so,
            // as servers with short idle timeouts do.
            "/then-drop" => (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
            "/early-hints" => (
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                false,
            ),
            // A session cookie, as Django's login sets and its logout deletes.
            "/login/" => (
                b"HTTP/1.1 200 OK\r\nSet-Cookie: sessionid=s3cret; Path=/; HttpOnly\r\nSet-Cookie: theme=dark; Path=/account\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            "/logout/" => (
                b"HTTP/1.1 200 OK\r\nSet-Cookie: sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            "/whoami/" if cookie == "sessionid=s3cret" => {
                (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false)
            }
            "/whoami/" => (b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", false),
            _ => (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false),
        };
        if writer.write_all(response).is_err() || close {
            return;
        }
    }
}

#[test]
fn every_framing_of_a_response_is_read_whole() {
    let (url, accepted) = serve();
    let run = swarm_at(
        &url,
        r#"
[load]
users = 1
duration = "1s"
# The last iteration runs to its end, so the connections it opens are known.
stop_timeout = "5s"
[[user]]
wait = "constant(0.05)"
  [[user.task]]
    [[user.task.step]]
    get = "/chunked"
    check = { json = { "$.ok" = true } }
    capture = { n = "$.n" }
    [[user.task.step]]
    get = "/until-close"
    check = { body_contains = "ends at the close" }
    [[user.task.step]]
    get = "/then-drop"
    [[user.task.step]]
    get = "/early-hints"
"#,
    );
    let stats = run.stats();
    for path in ["/chunked", "/until-close", "/then-drop", "/early-hints"] {
        assert!(
            stats.number("GET", path, "Request Count") >= 5.0,
            "{path}: {:?}",
            stats.row("GET", path)
        );
        assert_eq!(
            stats.number("GET", path, "Failure Count"),
            0.0,
            "{path}: {:?}",
            run.failures().rows
        );
    }
    // Sizes are of the decoded body.
    assert_eq!(
        stats.number("GET", "/chunked", "Average Content Size"),
        20.0
    );
    assert_eq!(
        stats.number("GET", "/until-close", "Average Content Size"),
        26.0
    );
    assert_eq!(
        stats.number("GET", "/early-hints", "Average Content Size"),
        0.0
    );
    // Each iteration needs a new connection after /until-close, and after
    // /then-drop, whose dropped connection /early-hints finds closed and is
    // retried on a new one without a failure; /chunked rides on that. Add the
    // first connection and the reachability check before the run.
    let iterations = stats.number("GET", "/chunked", "Request Count") as u64;
    for path in ["/until-close", "/then-drop", "/early-hints"] {
        assert_eq!(
            stats.number("GET", path, "Request Count") as u64,
            iterations
        );
    }
    let connections = accepted.load(Ordering::Relaxed);
    assert_eq!(
        connections,
        2 * iterations + 2,
        "{connections} connections for {iterations} iterations"
    );
}

#[test]
fn each_user_keeps_its_cookies_like_a_requests_session() {
    let (url, _) = serve();
    // Logged in, /whoami/ is 200 (only the session cookie applies there:
    // theme is for /account); logged out, 401 again.
    let run = swarm_at(
        &url,
        r#"
[load]
users = 2
duration = "1s"
[[user]]
wait = "constant(0.05)"
  [[user.task]]
    [[user.task.step]]
    get = "/whoami/"
    name = "before login"
    check = { status = 401 }
    [[user.task.step]]
    get = "/login/"
    [[user.task.step]]
    get = "/whoami/"
    name = "logged in"
    [[user.task.step]]
    get = "/logout/"
    [[user.task.step]]
    get = "/whoami/"
    name = "logged out"
    check = { status = 401 }
"#,
    );
    let stats = run.stats();
    for name in ["before login", "logged in", "logged out"] {
        assert!(stats.number("GET", name, "Request Count") >= 5.0, "{name}");
        assert_eq!(
            stats.number("GET", name, "Failure Count"),
            0.0,
            "{name}: {:?}",
            run.failures().rows
        );
    }
}
