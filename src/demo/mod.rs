//! The embedded demo API: the seed's Market API, served on loopback.
//!
//! It exists so that a newcomer can watch swarmgate work with nothing but the
//! binary, and so that the tests talk real HTTP to a real server. Latency,
//! jitter and an error rate can be injected to watch the gate fail.

mod jwt;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use jwt::{Claims, Signer, TokenType};

pub const DEMO_EMAIL: &str = "demo@example.com";
pub const DEMO_PASSWORD: &str = "demo-password";
pub const PRODUCT_COUNT: u64 = 40;

const ACCESS_LIFETIME_SECS: u64 = 300;
const REFRESH_LIFETIME_SECS: u64 = 86_400;
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the demo API injects into every response.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Added to every response.
    pub latency: Duration,
    /// A uniformly random extra delay in `[0, jitter]`.
    pub jitter: Duration,
    /// Fraction of requests answered with a 500, in `[0, 1]`.
    pub error_rate: f64,
    /// A stall: from this long after the start, for this long, every
    /// request waits until the stall is over.
    pub stall: Option<(Duration, Duration)>,
    /// CPU time every request burns on the server's thread: a service on
    /// the generator's own machine that competes with it for the CPUs.
    pub cpu: Duration,
    /// How many requests are served at once; the rest queue, as behind
    /// gunicorn's sync workers. `None` is unlimited.
    pub workers: Option<usize>,
}

/// A running demo API; dropping it does not stop it, [`DemoServer::stop`] does.
pub struct DemoServer {
    addr: SocketAddr,
    api: Arc<MarketApi>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl DemoServer {
    /// Binds `addr` (port 0 picks a free port) and serves until stopped.
    pub async fn start(addr: SocketAddr, faults: Faults) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let api = Arc::new(MarketApi::new(faults));
        let task = tokio::spawn(accept_loop(listener, api.clone(), shutdown.clone()));
        Ok(Self {
            addr,
            api,
            shutdown,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How long each request was held in the server, in microseconds: the
    /// truth a load generator's latencies are checked against.
    pub fn time_in_server(&self) -> hdrhistogram::Histogram<u64> {
        self.api.held.lock().expect("not poisoned").clone()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

async fn accept_loop(listener: TcpListener, api: Arc<MarketApi>, shutdown: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Running out of file descriptors must not kill the server;
                // back off and let connections drain.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let api = api.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let api = api.clone();
                async move {
                    let arrived = std::time::Instant::now();
                    let reply = api.handle(req).await;
                    api.record_held(arrived.elapsed());
                    Ok::<_, Infallible>(reply)
                }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

struct MarketApi {
    faults: Faults,
    workers: Option<tokio::sync::Semaphore>,
    held: std::sync::Mutex<hdrhistogram::Histogram<u64>>,
    started: std::time::Instant,
    signer: Signer,
    next_jti: AtomicU64,
    products_body: Bytes,
    comments_body: Bytes,
    product_bodies: Vec<Bytes>,
}

type Reply = Response<Full<Bytes>>;

impl MarketApi {
    fn new(faults: Faults) -> Self {
        let products: Vec<_> = (1..=PRODUCT_COUNT).map(product).collect();
        let comments: Vec<_> = (1..=PRODUCT_COUNT * 2)
            .map(|id| {
                json!({
                    "id": id,
                    "product": (id - 1) % PRODUCT_COUNT + 1,
                    "author": format!("customer{}", id % 7 + 1),
                    "rating": id % 5 + 1,
                    "text": format!("Comment {id}: works as described."),
                })
            })
            .collect();
        Self {
            faults,
            workers: faults.workers.map(tokio::sync::Semaphore::new),
            held: std::sync::Mutex::new(crate::metrics::new_histogram()),
            started: std::time::Instant::now(),
            signer: Signer::new(rand::random()),
            next_jti: AtomicU64::new(1),
            products_body: Bytes::from(
                serde_json::to_vec(&json!({"count": PRODUCT_COUNT, "results": products})).unwrap(),
            ),
            comments_body: Bytes::from(
                serde_json::to_vec(&json!({"count": comments.len(), "results": comments})).unwrap(),
            ),
            product_bodies: products
                .iter()
                .map(|p| Bytes::from(serde_json::to_vec(p).unwrap()))
                .collect(),
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Reply {
        let _worker = match &self.workers {
            Some(workers) => Some(workers.acquire().await.expect("never closed")),
            None => None,
        };
        self.inject_delay().await;
        burn_cpu(self.faults.cpu);
        if self.faults.error_rate > 0.0
            && rand::thread_rng().gen_bool(self.faults.error_rate.min(1.0))
        {
            return reply_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"detail": "injected error"}),
            );
        }
        let path = req.uri().path().to_owned();
        // Like Django's APPEND_SLASH: the API's paths end in a slash.
        if path.starts_with("/api/") && !path.ends_with('/') {
            let mut response =
                reply_json(StatusCode::MOVED_PERMANENTLY, &json!({"detail": "Moved."}));
            let location =
                HeaderValue::from_str(&format!("{path}/")).expect("a path is a valid header");
            response
                .headers_mut()
                .insert(hyper::header::LOCATION, location);
            return response;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (req.method(), segments.as_slice()) {
            (&Method::POST, ["api", "v1", "auth", "token"]) => self.obtain_token(req).await,
            (&Method::POST, ["api", "v1", "auth", "token", "refresh"]) => {
                self.refresh_token(req).await
            }
            (&Method::GET, ["api", "v1", "products", rest @ ..]) => {
                if !self.authorized(&req) {
                    return reply_json(
                        StatusCode::UNAUTHORIZED,
                        &json!({"detail": "Authentication credentials were not provided or are invalid."}),
                    );
                }
                match rest {
                    [] => reply_body(StatusCode::OK, self.products_body.clone()),
                    ["comments"] => reply_body(StatusCode::OK, self.comments_body.clone()),
                    [id] => match id.parse::<u64>() {
                        Ok(id @ 1..=PRODUCT_COUNT) => {
                            reply_body(StatusCode::OK, self.product_bodies[id as usize - 1].clone())
                        }
                        _ => reply_json(StatusCode::NOT_FOUND, &json!({"detail": "Not found."})),
                    },
                    _ => reply_json(StatusCode::NOT_FOUND, &json!({"detail": "Not found."})),
                }
            }
            // Plain text on purpose: lets tests see a JSON capture meet a non-JSON body.
            (&Method::GET, ["health"]) => {
                let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                response
            }
            (_, ["api", "v1", ..]) => reply_json(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"detail": "Method not allowed."}),
            ),
            _ => reply_json(StatusCode::NOT_FOUND, &json!({"detail": "Not found."})),
        }
    }

    fn record_held(&self, held: Duration) {
        let micros = held.as_micros().min(u64::MAX as u128) as u64;
        let mut histogram = self.held.lock().expect("not poisoned");
        if histogram.record(micros).is_err() {
            histogram.saturating_record(micros);
        }
    }

    async fn inject_delay(&self) {
        if let Some((after, length)) = self.faults.stall {
            let since_start = self.started.elapsed();
            if since_start >= after && since_start < after + length {
                tokio::time::sleep(after + length - since_start).await;
            }
        }
        let jitter = self.faults.jitter.as_secs_f64() * rand::thread_rng().gen::<f64>();
        let delay = self.faults.latency + Duration::from_secs_f64(jitter);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    async fn obtain_token(&self, req: Request<Incoming>) -> Reply {
        let Some(body) = json_body(req).await else {
            return reply_json(
                StatusCode::BAD_REQUEST,
                &json!({"errors": {"body": "expected a JSON object"}}),
            );
        };
        let email = body.get("email").and_then(|v| v.as_str());
        let password = body.get("password").and_then(|v| v.as_str());
        if email != Some(DEMO_EMAIL) || password != Some(DEMO_PASSWORD) {
            return reply_json(
                StatusCode::UNAUTHORIZED,
                &json!({"errors": {"detail": "No active account found with the given credentials"}}),
            );
        }
        reply_json(
            StatusCode::OK,
            &json!({"access": self.issue(TokenType::Access), "refresh": self.issue(TokenType::Refresh)}),
        )
    }

    async fn refresh_token(&self, req: Request<Incoming>) -> Reply {
        let refresh = json_body(req)
            .await
            .and_then(|b| b.get("refresh").and_then(|v| v.as_str()).map(str::to_owned));
        match refresh.and_then(|t| self.signer.verify(&t, TokenType::Refresh, unix_now())) {
            Some(_) => reply_json(
                StatusCode::OK,
                &json!({"access": self.issue(TokenType::Access)}),
            ),
            None => reply_json(
                StatusCode::UNAUTHORIZED,
                &json!({"errors": {"detail": "Token is invalid or expired"}}),
            ),
        }
    }

    fn issue(&self, token_type: TokenType) -> String {
        let lifetime = match token_type {
            TokenType::Access => ACCESS_LIFETIME_SECS,
            TokenType::Refresh => REFRESH_LIFETIME_SECS,
        };
        self.signer.issue(&Claims {
            token_type,
            exp: unix_now() + lifetime,
            jti: self.next_jti.fetch_add(1, Ordering::Relaxed),
            user_id: 1,
        })
    }

    fn authorized(&self, req: &Request<Incoming>) -> bool {
        req.headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|token| {
                self.signer
                    .verify(token, TokenType::Access, unix_now())
                    .is_some()
            })
    }
}

/// Work the CPU, not a timer: a sleeping server leaves the CPU to the
/// generator, a busy one takes it.
fn burn_cpu(length: Duration) {
    if length.is_zero() {
        return;
    }
    let until = std::time::Instant::now() + length;
    let mut state = 1u64;
    while std::time::Instant::now() < until {
        for _ in 0..64 {
            state = std::hint::black_box(state.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

fn product(id: u64) -> serde_json::Value {
    let category = ["books", "garden", "kitchen", "tools"][(id % 4) as usize];
    json!({
        "id": id,
        "name": format!("Product {id}"),
        "price": format!("{}.{:02}", 5 + id * 3, (id * 37) % 100),
        "in_stock": !id.is_multiple_of(4),
        "category": category,
    })
}

/// A JSON object, or a urlencoded form read as one, as Django REST framework accepts both.
async fn json_body(req: Request<Incoming>) -> Option<serde_json::Value> {
    let is_form = req.headers().get(CONTENT_TYPE).is_some_and(|t| {
        t.as_bytes()
            .starts_with(b"application/x-www-form-urlencoded")
    });
    let bytes = Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .ok()?
        .to_bytes();
    if is_form {
        let fields: serde_json::Map<String, serde_json::Value> =
            url::form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
                .collect();
        return Some(serde_json::Value::Object(fields));
    }
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .filter(|v| v.is_object())
}

fn reply_json(status: StatusCode, value: &serde_json::Value) -> Reply {
    reply_body(
        status,
        Bytes::from(serde_json::to_vec(value).expect("json values serialize")),
    )
}

fn reply_body(status: StatusCode, body: Bytes) -> Reply {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
