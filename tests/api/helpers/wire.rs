//! The two tiers' common currency: a request (`Req`) a test describes once, sent either through
//! the router in process or over TCP, and the response (`TestResponse`) both tiers give back.

use axum::body::Bytes;
use axum::{
    body::{to_bytes, Body},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode},
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt;

/// The `Host` in-process requests carry unless a test sets its own; `TestApp::url` names it.
pub const IN_PROCESS_HOST: &str = "defender-mock.test";

/// An HTTP request: method, path (or an absolute URL the emulator handed out), headers, body.
#[derive(Debug, Clone)]
pub struct Req {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Req {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }

    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(
            HeaderName::try_from(name).unwrap(),
            HeaderValue::try_from(value).unwrap(),
        );
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn basic(self, user: &str, password: &str) -> Self {
        let credentials = STANDARD.encode(format!("{user}:{password}"));
        self.header("authorization", &format!("Basic {credentials}"))
    }

    /// `body` as is, with `content_type` when given.
    pub fn body(mut self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Self {
        if let Some(ct) = content_type {
            self = self.header("content-type", ct);
        }
        self.body = body.into();
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.body(Some("application/json"), body.to_string())
    }

    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            form.append_pair(k.as_ref(), v.as_ref());
        }
        self.body(Some("application/x-www-form-urlencoded"), form.finish())
    }

    /// The path and query, relative to `base` when the request names an absolute URL under it.
    fn relative_to(&self, base: &str) -> String {
        match self.path.strip_prefix(base) {
            Some(rest) => rest.to_owned(),
            None => {
                assert!(
                    self.path.starts_with('/'),
                    "{} is not under {base}",
                    self.path
                );
                self.path.clone()
            }
        }
    }

    /// Through the router, as hyper would hand the request over (`Host`, `Content-Length`).
    pub(super) async fn in_process(self, router: &Router, base: &str) -> TestResponse {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(url_encoded(&self.relative_to(base)));
        let headers = builder.headers_mut().unwrap();
        headers.extend(self.headers);
        headers
            .entry(header::HOST)
            .or_insert(HeaderValue::from_static(IN_PROCESS_HOST));
        if !self.body.is_empty()
            || [Method::POST, Method::PUT, Method::PATCH].contains(&self.method)
        {
            headers.insert(header::CONTENT_LENGTH, self.body.len().into());
        }
        let req = builder.body(Body::from(self.body)).unwrap();
        let res = router.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: to_bytes(body, usize::MAX).await.unwrap(),
        }
    }

    /// Over a real connection from `client` to the server at `base`.
    pub async fn over_tcp(self, client: &reqwest::Client, base: &str) -> TestResponse {
        let url = format!("{base}{}", self.relative_to(base));
        let res = client
            .request(self.method, url)
            .headers(self.headers)
            .body(self.body)
            .send()
            .await
            .unwrap();
        TestResponse {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.bytes().await.unwrap(),
        }
    }
}

/// `path` with what a URL may not hold literally percent-encoded, as reqwest sends it.
fn url_encoded(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b' ' | b'"' | b'<' | b'>' | b'`' | 0x80.. => out.push_str(&format!("%{b:02X}")),
            _ => out.push(char::from(b)),
        }
    }
    out
}

/// A whole response, read: what both tiers return.
#[derive(Debug)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body's text when it is not).
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not the JSON expected: {e}: {}",
                self.status,
                self.text()
            )
        })
    }
}

/// Asserts a Defender error: status, JSON content type, `error.code`, and a non-empty `target`
/// equal to the `request-id` header. Returns the body.
pub fn assert_error(r: TestResponse, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status: {}", r.text());
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let rid = r
        .headers()
        .get("request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = r.json();
    assert_eq!(body["error"]["code"], code, "{body}");
    let target = body["error"]["target"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!target.is_empty(), "{body}");
    assert_eq!(Some(target), rid);
    body
}

/// [`assert_error`], and the message is exactly `message`.
pub fn assert_error_message(r: TestResponse, status: u16, code: &str, message: &str) -> Value {
    let body = assert_error(r, status, code);
    assert_eq!(body["error"]["message"], message, "{body}");
    body
}

/// [`assert_error`], and the message contains `needle`.
pub fn assert_error_containing(r: TestResponse, status: u16, code: &str, needle: &str) -> Value {
    let body = assert_error(r, status, code);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {body}");
    body
}
