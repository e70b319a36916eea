//! A user's cookies, kept across its requests as a Locust user's `requests`
//! session keeps them: a login that sets a session cookie stays logged in.
//!
//! One jar per user and one host per run, so domains need no matching; paths,
//! expiry (Max-Age, Expires) and Secure are honoured (RFC 6265).

use std::time::{Instant, SystemTime};

use hyper::header::HeaderValue;

/// Cookies one jar keeps, and the bytes of one cookie: RFC 6265 6.1's
/// minimums (which browsers also keep to), so a server that floods a user
/// with Set-Cookie cannot grow it without bound.
const MAX_COOKIES: usize = 50;
const MAX_COOKIE_BYTES: usize = 4096;

#[derive(Debug, Default)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

#[derive(Debug)]
struct Cookie {
    name: String,
    value: String,
    path: String,
    secure: bool,
    expires: Option<Instant>,
}

impl CookieJar {
    /// Takes one `Set-Cookie` value from a response to `request_path`.
    pub fn store(&mut self, set_cookie: &str, request_path: &str) {
        if set_cookie.len() > MAX_COOKIE_BYTES {
            return;
        }
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let mut cookie = Cookie {
            name: name.to_owned(),
            value: value.trim().trim_matches('"').to_owned(),
            path: default_path(request_path).to_owned(),
            secure: false,
            expires: None,
        };
        let mut expired = false;
        let mut max_age_seen = false;
        for attribute in parts {
            let (key, value) = attribute.split_once('=').unwrap_or((attribute, ""));
            let (key, value) = (key.trim(), value.trim());
            if key.eq_ignore_ascii_case("path") && value.starts_with('/') {
                cookie.path = value.to_owned();
            } else if key.eq_ignore_ascii_case("secure") {
                cookie.secure = true;
            } else if key.eq_ignore_ascii_case("max-age") {
                // Max-Age wins over Expires, whatever their order.
                if let Ok(seconds) = value.parse::<i64>() {
                    max_age_seen = true;
                    expired = seconds <= 0;
                    // An expiry past what an Instant can hold outlives the run: none.
                    cookie.expires = (seconds > 0)
                        .then(|| {
                            Instant::now()
                                .checked_add(std::time::Duration::from_secs(seconds as u64))
                        })
                        .flatten();
                }
            } else if key.eq_ignore_ascii_case("expires") && !max_age_seen {
                if let Ok(at) = httpdate::parse_http_date(value) {
                    match at.duration_since(SystemTime::now()) {
                        Ok(left) => cookie.expires = Instant::now().checked_add(left),
                        Err(_) => expired = true,
                    }
                }
            }
        }
        self.cookies
            .retain(|c| !(c.name == cookie.name && c.path == cookie.path));
        if !expired {
            if self.cookies.len() >= MAX_COOKIES {
                self.cookies.remove(0);
            }
            self.cookies.push(cookie);
        }
    }

    /// The `Cookie` header for a request to `request_path`, if any cookie
    /// applies: longer paths first, as browsers send them.
    pub fn header(&mut self, request_path: &str, secure_channel: bool) -> Option<HeaderValue> {
        if self.cookies.is_empty() {
            return None;
        }
        let now = Instant::now();
        self.cookies.retain(|c| c.expires.is_none_or(|at| at > now));
        let mut applying: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| (secure_channel || !c.secure) && path_matches(request_path, &c.path))
            .collect();
        if applying.is_empty() {
            return None;
        }
        applying.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let header = applying
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&header).ok()
    }
}

/// RFC 6265 5.1.4: the request path up to its last slash.
fn default_path(request_path: &str) -> &str {
    let path = request_path.split('?').next().unwrap_or("/");
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(last) => &path[..last],
    }
}

/// RFC 6265 5.1.4: `/docs` matches `/docs`, `/docs/` and `/docs/web`, not `/docsets`.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    let path = request_path.split('?').next().unwrap_or("/");
    path == cookie_path
        || path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_expiries_and_floods_stay_bounded() {
        let mut jar = CookieJar::default();
        jar.store("a=b; Max-Age=9223372036854775807", "/");
        jar.store("c=d; Expires=Fri, 31 Dec 9999 23:59:59 GMT", "/");
        assert_eq!(header(&mut jar, "/"), Some("a=b; c=d".into()));
        for i in 0..10_000 {
            jar.store(&format!("flood{i}=x"), "/");
        }
        assert_eq!(jar.cookies.len(), MAX_COOKIES);
        assert!(jar.cookies.iter().any(|c| c.name == "flood9999"));
        jar.store(&format!("big={}", "x".repeat(10_000)), "/");
        assert!(!jar.cookies.iter().any(|c| c.name == "big"));
    }

    fn header(jar: &mut CookieJar, path: &str) -> Option<String> {
        jar.header(path, false)
            .map(|h| h.to_str().unwrap().to_owned())
    }

    #[test]
    fn a_cookie_is_sent_back_until_it_is_deleted() {
        let mut jar = CookieJar::default();
        assert_eq!(header(&mut jar, "/"), None);
        jar.store(
            "sessionid=abc123; Path=/; HttpOnly; SameSite=Lax",
            "/login/",
        );
        jar.store("csrftoken=\"t0k\"; Path=/", "/login/");
        assert_eq!(
            header(&mut jar, "/api/v1/products/"),
            Some("sessionid=abc123; csrftoken=t0k".into())
        );
        jar.store("sessionid=xyz; Path=/", "/login/");
        assert_eq!(
            header(&mut jar, "/"),
            Some("csrftoken=t0k; sessionid=xyz".into())
        );
        // Django's logout.
        jar.store(
            "sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
            "/logout/",
        );
        assert_eq!(header(&mut jar, "/"), Some("csrftoken=t0k".into()));
        jar.store(
            "csrftoken=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
            "/",
        );
        assert_eq!(header(&mut jar, "/"), None);
    }

    #[test]
    fn paths_and_secure_decide_where_a_cookie_goes() {
        let mut jar = CookieJar::default();
        jar.store("a=1", "/docs/web/page");
        jar.store("b=2; Path=/docs", "/");
        jar.store("c=3; Path=/; Secure", "/");
        assert_eq!(header(&mut jar, "/docs/web/x"), Some("a=1; b=2".into()));
        assert_eq!(header(&mut jar, "/docs"), Some("b=2".into()));
        assert_eq!(header(&mut jar, "/docsets"), None);
        assert_eq!(
            jar.header("/docs/web/x", true).unwrap().to_str().unwrap(),
            "a=1; b=2; c=3"
        );
    }

    #[test]
    fn max_age_outlives_a_past_expires_and_expires_in_time() {
        let mut jar = CookieJar::default();
        jar.store(
            "keep=1; Max-Age=3600; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "/",
        );
        assert_eq!(header(&mut jar, "/"), Some("keep=1".into()));
        jar.store("brief=1; Max-Age=1", "/");
        jar.cookies.iter_mut().for_each(|c| {
            if c.name == "brief" {
                c.expires = Some(Instant::now());
            }
        });
        assert_eq!(header(&mut jar, "/"), Some("keep=1".into()));
        jar.store("novalue", "/");
        jar.store("=nameless", "/");
        assert_eq!(header(&mut jar, "/"), Some("keep=1".into()));
    }
}
