//! `artifact-store serve`: a local, read-only web view of a store and its JSON API.
//!
//! A face like the CLI: it parses requests, calls the library and renders what it returns.
//! The API's bodies are the CLI's `--json` output, built by [`crate::report`]; the pages are
//! HTML rendered here with a little JavaScript and the chart library embedded in the binary.
//!
//! - Only GET and HEAD are served; any other method is 405.
//! - Bound to a loopback address, requests must name a loopback host (`Host: localhost`,
//!   `127.0.0.1`, `[::1]`), so a web page whose name resolves to 127.0.0.1 cannot read the
//!   store through the visitor's browser. Any other address requires a token: a bearer
//!   token, or the `artifact_store_token` cookie that `?token=` sets.
//! - Artifact bytes are served as `text/plain` or `application/octet-stream`, never HTML,
//!   with `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`; the pages
//!   carry a strict policy with no inline script and no other origin.
//! - The store is opened once per worker thread and kept in a small pool; refs are read
//!   afresh on every request, so commits and pushes from elsewhere show at once.
//!
//! `docs/web.md` describes the routes and the decisions.

mod api;
mod assets;
mod html;
mod pages;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::report;
use crate::store::{OpenOptions, Store};

/// The cookie `?token=` sets.
pub const TOKEN_COOKIE: &str = "artifact_store_token";

/// The shortest token `serve` accepts.
pub const MIN_TOKEN_LEN: usize = 16;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to bind; port 0 picks a free one.
    pub addr: SocketAddr,
    /// The token every request must present; required off loopback.
    pub token: Option<String>,
}

/// A bound, not yet running server.
pub struct Server {
    listener: std::net::TcpListener,
    app: Arc<App>,
}

struct App {
    open: OpenOptions,
    pool: Mutex<Vec<Store>>,
    token: Option<[u8; 32]>,
    loopback: bool,
    git_dir: String,
}

/// Stores kept open between requests; more are opened when requests overlap.
const POOL: usize = 4;

/// Threads the blocking store reads run on at most.
const WORKERS: usize = 8;

impl Server {
    /// Checks the options, opens the store once (so a wrong `--repo` fails here, not on
    /// the first request) and binds the address.
    pub fn bind(opts: &ServeOptions, open: OpenOptions) -> Result<Server> {
        let loopback = opts.addr.ip().is_loopback();
        if let Some(token) = &opts.token {
            check_token(token)?;
        } else if !loopback {
            return Err(Error::InvalidRequest {
                message: format!(
                    "{} is not a loopback address: serving it to the network requires --token",
                    opts.addr
                ),
                hint: Some(format!(
                    "pass --token with a secret of at least {MIN_TOKEN_LEN} characters (or set ARTIFACT_STORE_TOKEN), e.g. from `openssl rand -hex 16`, or bind 127.0.0.1"
                )),
            });
        }
        let store = Store::open(&open)?;
        let listener = std::net::TcpListener::bind(opts.addr).map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => Error::Conflict {
                message: format!("cannot listen on {}: the address is in use", opts.addr),
                hint: Some("stop what listens there, or pick another port with --addr (port 0 picks a free one)".into()),
            },
            _ => Error::InvalidInput(format!("cannot listen on {}: {e}", opts.addr)),
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Internal {
                message: format!("failed to set up the listening socket: {e}"),
            })?;
        let git_dir = store.git_dir().display().to_string();
        Ok(Server {
            listener,
            app: Arc::new(App {
                open,
                pool: Mutex::new(vec![store]),
                token: opts.token.as_deref().map(digest),
                loopback,
                git_dir,
            }),
        })
    }

    /// The address bound (with the port picked when 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|e| Error::Internal {
            message: format!("the listening socket has no address: {e}"),
        })
    }

    /// The URL of the view's front page.
    pub fn url(&self) -> Result<String> {
        let addr = self.local_addr()?;
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        Ok(format!("http://{host}:{}/", addr.port()))
    }

    /// Serves until the process is stopped.
    pub fn run(self) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .max_blocking_threads(WORKERS)
            .build()
            .map_err(|e| Error::Internal {
                message: format!("failed to start the server's runtime: {e}"),
            })?;
        runtime.block_on(async move {
            let listener =
                tokio::net::TcpListener::from_std(self.listener).map_err(|e| Error::Internal {
                    message: format!("failed to use the listening socket: {e}"),
                })?;
            let router = axum::Router::new()
                .fallback(handle)
                .with_state(self.app.clone());
            axum::serve(listener, router)
                .await
                .map_err(|e| Error::Internal {
                    message: format!("the server stopped: {e}"),
                })
        })
    }
}

fn check_token(token: &str) -> Result<()> {
    if token.len() < MIN_TOKEN_LEN {
        return Err(Error::InvalidInput(format!(
            "--token is {} characters long; a token has at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 16`)",
            token.len()
        )));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
    {
        return Err(Error::InvalidInput(
            "--token may hold only printable ASCII without spaces, quotes, commas, semicolons or backslashes".into(),
        ));
    }
    Ok(())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Every request: method, host and token checks, then the route, then the headers every
/// response carries.
async fn handle(State(app): State<Arc<App>>, req: Request) -> Response<Body> {
    let mut response = guarded(app, req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn guarded(app: Arc<App>, req: Request) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let api = path.starts_with("/api/");
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = error_response(
            api,
            StatusCode::METHOD_NOT_ALLOWED,
            &Error::InvalidRequest {
                message: format!("{} is not served: this view is read-only", req.method()),
                hint: Some("use GET or HEAD".into()),
            },
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if app.token.is_none() && app.loopback && !loopback_host(req.headers()) {
        return error_response(
            api,
            StatusCode::FORBIDDEN,
            &Error::Permission {
                message:
                    "this view answers only requests addressed to localhost, 127.0.0.1 or [::1]"
                        .into(),
                hint: Some(
                    "open the URL `serve` printed; to serve under another name, pass --token"
                        .into(),
                ),
            },
        );
    }
    if let Some(expected) = &app.token {
        match token_check(expected, req.headers(), &path, &query) {
            TokenCheck::Pass => {}
            TokenCheck::Exchange(location) => return exchange(&location, &query),
            TokenCheck::Fail(why) => {
                let mut r = error_response(
                    api,
                    StatusCode::UNAUTHORIZED,
                    &Error::Permission {
                        message: why.into(),
                        hint: Some(
                            "send `Authorization: Bearer TOKEN`, or open the page once with ?token=TOKEN (it sets a cookie)".into(),
                        ),
                    },
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"artifact-store\""),
                );
                return r;
            }
        }
    }
    let segments: Option<Vec<String>> = path
        .split('/')
        .skip(1)
        .map(percent_decode)
        .collect::<Option<Vec<String>>>();
    let Some(segments) = segments else {
        return error_response(
            api,
            StatusCode::NOT_FOUND,
            &Error::NotFound(format!("no page at {path:?}")),
        );
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    route(app, &segs, params).await
}

async fn route(app: Arc<App>, segs: &[&str], params: Vec<(String, String)>) -> Response<Body> {
    match segs {
        ["api", rest @ ..] => api::route(app, rest, params).await,
        ["assets", name] => assets::serve(name),
        _ => pages::route(app, segs, params).await,
    }
}

/// Runs `f` with a store from the pool on a blocking thread.
async fn with_store<T: Send + 'static>(
    app: Arc<App>,
    f: impl FnOnce(&Store, &str) -> T + Send + 'static,
    on_open_error: impl FnOnce(Error) -> T + Send + 'static,
) -> T {
    let joined = tokio::task::spawn_blocking(move || {
        let pooled = app.pool.lock().ok().and_then(|mut p| p.pop());
        let store = match pooled {
            Some(store) => store,
            None => match Store::open(&app.open) {
                Ok(store) => store,
                Err(e) => return Some(on_open_error(e)),
            },
        };
        let out = f(&store, &app.git_dir);
        if let Ok(mut pool) = app.pool.lock() {
            if pool.len() < POOL {
                pool.push(store);
            }
        }
        Some(out)
    })
    .await;
    match joined {
        Ok(Some(out)) => out,
        // The closure panicked: a bug. The pool lost a store, nothing else.
        _ => std::panic::resume_unwind(Box::new("a request handler panicked")),
    }
}

/// Whether the request's Host names the loopback interface.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

enum TokenCheck {
    Pass,
    /// A right `?token=`: set the cookie and go to this location without it.
    Exchange(String),
    Fail(&'static str),
}

fn token_check(expected: &[u8; 32], headers: &HeaderMap, path: &str, query: &str) -> TokenCheck {
    let matches = |given: &str| digest(given.trim()) == *expected;
    let from_query = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    if let Some(given) = from_query {
        if matches(&given) {
            return TokenCheck::Exchange(path.to_string());
        }
        return TokenCheck::Fail("the token given in ?token= is wrong");
    }
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    {
        let given = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "));
        return match given {
            Some(given) if matches(given) => TokenCheck::Pass,
            _ => TokenCheck::Fail("the bearer token is wrong"),
        };
    }
    for cookies in headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
    {
        for pair in cookies.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == TOKEN_COOKIE && matches(v) {
                    return TokenCheck::Pass;
                }
            }
        }
    }
    TokenCheck::Fail("this view requires a token")
}

/// Sets the token cookie and sends the browser to the same page without `?token=`.
fn exchange(path: &str, query: &str) -> Response<Body> {
    let rest: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(k, _)| k != "token")
        .collect();
    let mut location = path.to_string();
    if !rest.is_empty() {
        location.push('?');
        location.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(rest)
                .finish(),
        );
    }
    let token = query_token(query);
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(
            header::SET_COOKIE,
            format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"),
        )
        .body(Body::empty())
        .unwrap_or_else(|_| internal_error())
}

fn query_token(query: &str) -> String {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// Decodes `%XX` escapes of one path segment; `None` when they are malformed or the
/// result is not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The HTTP status of a CLI exit code.
pub fn status_of(exit_code: i32) -> StatusCode {
    use crate::error::exit;
    match exit_code {
        exit::OK => StatusCode::OK,
        exit::USAGE => StatusCode::BAD_REQUEST,
        exit::SECRET => StatusCode::UNPROCESSABLE_ENTITY,
        exit::CONFLICT => StatusCode::CONFLICT,
        exit::NOT_FOUND => StatusCode::NOT_FOUND,
        exit::REMOTE => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error as the API's JSON (`report::failure`) or as a page.
fn error_response(api: bool, status: StatusCode, error: &Error) -> Response<Body> {
    if api {
        json_response(status, &report::failure(error).body)
    } else {
        pages::error_page(status, error)
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut text = serde_json::to_string_pretty(body).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(text))
        .unwrap_or_else(|_| internal_error())
}

fn internal_error() -> Response<Body> {
    let mut r = Response::new(Body::from("internal error\n"));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_decode_and_bad_escapes_are_refused() {
        assert_eq!(percent_decode("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("%2e%2E").as_deref(), Some(".."));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%4"), None);
    }

    #[test]
    fn only_loopback_names_pass_the_host_check() {
        let host = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
            loopback_host(&m)
        };
        assert!(host("127.0.0.1:8080") && host("localhost") && host("[::1]:80"));
        assert!(host("127.1.2.3") && host("app.localhost:9"));
        assert!(!host("evil.example:8080") && !host("10.0.0.1") && !host("localhost.evil.example"));
        assert!(!loopback_host(&HeaderMap::new()));
    }

    #[test]
    fn tokens_are_long_and_cookie_safe() {
        assert!(check_token("0123456789abcdef").is_ok());
        assert!(check_token("short").is_err());
        assert!(check_token("0123456789abcdef;x").is_err());
        assert!(check_token("0123456789 abcdef").is_err());
    }
}
