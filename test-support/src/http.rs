//! Blocking HTTP helpers, safe to call from any test.

use super::*;

fn http_client() -> &'static reqwest::blocking::Client {
    // Shared: every blocking client starts a runtime thread of its own.
    static CLIENT: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            // A developer's HTTP(S)_PROXY must not capture loopback traffic.
            .no_proxy()
            // Tests restart servers on the same port; a pooled connection to
            // the old one would fail the first request to the new one.
            .pool_max_idle_per_host(0)
            .build()
            .expect("build HTTP client")
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// reqwest's blocking client panics on a tokio runtime thread, which is where
/// an async test calls us from; a plain thread never is one.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// GET: (status, body, content-type). `Err` only when no response arrived.
pub fn http_get(url: &str) -> Result<(u16, String, Option<String>), String> {
    off_runtime(|| get(url, None))
}

/// GET with an `Accept` header: (status, body, content-type).
pub fn http_get_accepting(
    url: &str,
    accept: &str,
) -> Result<(u16, String, Option<String>), String> {
    off_runtime(|| get(url, Some(accept)))
}

/// GET with basic auth (a secured pull endpoint): (status, body, content-type).
pub fn http_get_as(
    url: &str,
    user: &str,
    password: &str,
) -> Result<(u16, String, Option<String>), String> {
    off_runtime(|| get_with(url, None, Some((user, password))))
}

fn get(url: &str, accept: Option<&str>) -> Result<(u16, String, Option<String>), String> {
    get_with(url, accept, None)
}

fn get_with(
    url: &str,
    accept: Option<&str>,
    credentials: Option<(&str, &str)>,
) -> Result<(u16, String, Option<String>), String> {
    let mut request = http_client().get(url);
    if let Some(accept) = accept {
        request = request.header(reqwest::header::ACCEPT, accept);
    }
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    let resp = request
        .send()
        .map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp
        .text()
        .map_err(|e| format!("GET {url}: read body: {}", error_chain(&e)))?;
    Ok((status, body, content_type))
}

/// Any method, empty body: (status, body).
pub fn http_request(method: &str, url: &str) -> Result<(u16, String), String> {
    off_runtime(|| send(method, url, None))
}

/// POST with a body and content type: (status, body).
pub fn http_post(
    url: &str,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> Result<(u16, String), String> {
    let body = body.into();
    off_runtime(|| send("POST", url, Some((content_type, body))))
}

fn send(method: &str, url: &str, body: Option<(&str, Vec<u8>)>) -> Result<(u16, String), String> {
    let m = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| format!("bad method {method:?}: {e}"))?;
    let mut req = http_client().request(m, url);
    if let Some((content_type, body)) = body {
        req = req
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
    }
    let resp = req
        .send()
        .map_err(|e| format!("{method} {url}: {}", error_chain(&e)))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .map_err(|e| format!("{method} {url}: read body: {}", error_chain(&e)))?;
    Ok((status, text))
}

// ---------------------------------------------------------------------------
// Third-party binaries
// ---------------------------------------------------------------------------
