//! `MockServer`, the embeddable test double: a whole emulator on a free loopback port of the
//! test's own runtime, with the control plane (clock, reset, journal, faults, seeding, events) as
//! async methods, and tokens minted on the emulator's clock. It stops when dropped.
//!
//! The facade drives its own control plane through the in-process router (the same routes, the
//! same state as the socket clients use), so it needs no HTTP client and follows the `/_mock/`
//! contract exactly: what a method does is what the matching control-plane request does.
//!
//! ```no_run
//! use defender_mock::{FaultRule, MockServer, RequestFilter};
//! use std::time::Duration;
//!
//! # async fn demo() {
//! let server = MockServer::start().await;
//! let (url, token) = (server.base_url(), server.token());
//! // ... point the client under test at `url` with `token` and let it work ...
//! server.advance(Duration::from_secs(3600)).await; // actions complete, no sleeping
//! let unisolates = RequestFilter::new().method("POST").path("/api/machines/*/unisolate");
//! assert_eq!(server.request_count(&unisolates).await, 1);
//! server.fault(FaultRule::error(503).route("/api/machines/{id}/isolate").times(2)).await;
//! # }
//! ```

use std::{
    collections::VecDeque,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{to_bytes, Body, Bytes},
    http::{header, HeaderValue, Method, Request, StatusCode},
    Router,
};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use tokio::{sync::oneshot, task::JoinHandle};
use tower::ServiceExt;

use crate::{
    auth::{
        permissions::{self, dev},
        TokenSpec,
    },
    config::{AdminToken, ClockMode, Config, DuplicatePolicy, RateLimits, TlsSource, TokenVersion},
    fixtures::Fleet,
    startup::{Application, Emulator, StartupError},
};

/// How long tokens from [`MockServer::token`] stay valid on the emulator clock: a month, so a
/// test can advance the clock by hours and days and keep using one token (set
/// [`TokenBuilder::ttl`] to test expiry).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(30 * 86_400);

/// A running emulator for one test: started on `127.0.0.1:0` on the calling runtime, stopped when
/// dropped (it stops accepting at once, then lets in-flight requests finish). It is served by a
/// task of that runtime, so a client under test that blocks a thread (`reqwest::blocking`) needs
/// a multi-thread runtime (`#[tokio::test(flavor = "multi_thread")]`); async clients work on any.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use defender_mock::MockServer;
///
/// let server = MockServer::start().await;
/// assert!(server.base_url().starts_with("http://127.0.0.1:"));
/// // Every app role (Machine.*, Ti.*, Alert.*), minted at the emulator clock, for the dev tenant.
/// let token = server.token();
/// assert_eq!(token.split('.').count(), 3);
/// let time = server.now();
/// server.advance_secs(3 * 86_400).await;
/// assert_eq!((server.now() - time).whole_days(), 3);
/// # }
/// ```
pub struct MockServer {
    emulator: Emulator,
    control: Control,
    addr: SocketAddr,
    url: String,
    tenant: String,
    ca_path: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("url", &self.url)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The task ends by itself after the grace; it is not aborted, so in-flight requests get
        // their answer.
        drop(self.task.take());
    }
}

impl MockServer {
    /// An emulator over the embedded sample fleet, with a frozen clock (it moves only when
    /// [`advance`](Self::advance)d), on a free loopback port.
    ///
    /// # Panics
    /// When it cannot start (no free port, or a broken option); see [`MockServerBuilder::try_start`].
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// Options first: fleet or fixture folder, tenant, clock mode, duplicate policy, rate limits,
    /// HTTPS, or any [`Config`] field through [`MockServerBuilder::configure`].
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS): what the client under test calls, as the
    /// API root (`{base_url}/api/machines`) and as the token authority
    /// (`{base_url}/{tenant}/oauth2/v2.0/token`).
    pub fn base_url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// The tenant the facade's tokens and tenant-scoped calls use (the development tenant unless
    /// [`MockServerBuilder::tenant`] named another).
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The CA certificate (PEM file) a client must trust, when the server serves HTTPS from a CA
    /// it issued ([`TlsSource::Ca`]).
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// The emulator behind the socket: its router for in-process requests, its clock.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// The emulator's current time.
    pub fn now(&self) -> OffsetDateTime {
        self.emulator.now()
    }

    /// An app token for [`tenant`](Self::tenant) with every app role the emulator knows, from the
    /// development app, minted at the emulator's clock and valid for [`DEFAULT_TOKEN_TTL`].
    pub fn token(&self) -> String {
        self.token_builder().mint()
    }

    /// An app token with exactly `roles` (say, only `Machine.Read.All` to test a 403).
    pub fn token_with<I, S>(&self, roles: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.token_builder().roles(roles).mint()
    }

    /// A token to shape: roles, delegated scopes and user, tenant, app, lifetime, audience, shape.
    pub fn token_builder(&self) -> TokenBuilder<'_> {
        TokenBuilder {
            emulator: &self.emulator,
            spec: TokenSpec {
                tenant: self.tenant.clone(),
                roles: permissions::all_roles(),
                ttl_secs: secs_i64(DEFAULT_TOKEN_TTL),
                ..TokenSpec::default()
            },
        }
    }

    /// Moves the emulator clock forward (`POST /_mock/clock/advance`): actions due by then move
    /// on, tokens age, rate-limit windows slide. Returns the new time.
    ///
    /// # Panics
    /// When the emulator refuses the advance (more than ten years at once).
    pub async fn advance(&self, by: Duration) -> OffsetDateTime {
        let body = json!({"seconds": by.as_secs_f64()});
        let now = self
            .control
            .expect("POST", "/_mock/clock/advance", Some(&body), StatusCode::OK)
            .await;
        now["now"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .unwrap_or_else(|| self.now())
    }

    /// [`advance`](Self::advance) by whole seconds.
    pub async fn advance_secs(&self, secs: u64) -> OffsetDateTime {
        self.advance(Duration::from_secs(secs)).await
    }

    /// `POST /_mock/reset`: every tenant back to the fixtures (and whatever else reset clears:
    /// throttle counters, overrides, journal, fault rules). The clock stays where it is.
    pub async fn reset(&self) {
        self.control
            .expect("POST", "/_mock/reset", None, StatusCode::NO_CONTENT)
            .await;
    }

    /// `POST /_mock/reset?tenant=`: one tenant back to the fixtures.
    pub async fn reset_tenant(&self, tenant: &str) {
        let path = format!("/_mock/reset?tenant={}", encode(tenant));
        self.control
            .expect("POST", &path, None, StatusCode::NO_CONTENT)
            .await;
    }

    /// The journal entries `filter` selects (`GET /_mock/requests`), oldest first.
    pub async fn requests(&self, filter: &RequestFilter) -> Vec<RecordedRequest> {
        let path = format!("/_mock/requests{}", filter.query());
        let body = self
            .control
            .expect("GET", &path, None, StatusCode::OK)
            .await;
        let page: Journal = serde_json::from_value(body)
            .unwrap_or_else(|e| panic!("GET {path}: not a journal page: {e}"));
        page.value
    }

    /// How many journal entries `filter` selects (`GET /_mock/requests/count`): "exactly one
    /// unisolate of machine M" in one call.
    pub async fn request_count(&self, filter: &RequestFilter) -> u64 {
        let path = format!("/_mock/requests/count{}", filter.query());
        let body = self
            .control
            .expect("GET", &path, None, StatusCode::OK)
            .await;
        body["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("GET {path}: no count in {body}"))
    }

    /// Empties the journal (`DELETE /_mock/requests`).
    pub async fn clear_requests(&self) {
        self.control
            .expect("DELETE", "/_mock/requests", None, StatusCode::NO_CONTENT)
            .await;
    }

    /// Installs a fault rule (`POST /_mock/faults`); the handle reads its hits and removes it.
    ///
    /// # Panics
    /// When the emulator refuses the rule (the panic carries its error message).
    pub async fn fault(&self, rule: FaultRule) -> FaultHandle {
        let body = self
            .control
            .expect(
                "POST",
                "/_mock/faults",
                Some(&rule.body),
                StatusCode::CREATED,
            )
            .await;
        let id = match &body["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => panic!("POST /_mock/faults: no rule id in {body}"),
        };
        FaultHandle {
            id,
            control: self.control.clone(),
        }
    }

    /// Removes every fault rule (`DELETE /_mock/faults`).
    pub async fn clear_faults(&self) {
        self.control
            .expect("DELETE", "/_mock/faults", None, StatusCode::NO_CONTENT)
            .await;
    }

    /// Creates or replaces one machine of [`tenant`](Self::tenant) (`PUT /_mock/machines/{id}`):
    /// a Machine entity as in a fixture file, with the emulator keys `isolation`, `restricted`,
    /// `simulation` if wanted. Returns 201 (created) or 200 (replaced).
    ///
    /// # Panics
    /// When the machine has no string `id`, or the emulator refuses it (with its message).
    pub async fn put_machine(&self, machine: &Value) -> StatusCode {
        let id = machine["id"]
            .as_str()
            .unwrap_or_else(|| panic!("a machine to seed needs a string \"id\": {machine}"));
        let path = format!(
            "/_mock/machines/{}?tenant={}",
            encode(id),
            encode(&self.tenant)
        );
        let (status, body) = self.control.call("PUT", &path, Some(machine)).await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "PUT {path} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        status
    }

    /// The live state stream (`GET /_mock/events`) of [`tenant`](Self::tenant), only the event
    /// kinds in `types` (all when empty): subscribed when this returns, so every change made
    /// afterwards arrives, in order.
    pub async fn events(&self, types: &[&str]) -> EventStream {
        let mut path = format!("/_mock/events?tenant={}", encode(&self.tenant));
        if !types.is_empty() {
            path.push_str("&types=");
            path.push_str(&encode(&types.join(",")));
        }
        let res = self.control.send("GET", &path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        EventStream {
            body: Box::pin(res.into_body().into_data_stream()),
            buffer: Vec::new(),
            ready: VecDeque::new(),
        }
    }

    /// Any control-plane request, for what has no method here: `(status, JSON body or Null)`.
    pub async fn control(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let (status, bytes) = self.control.call(method, path_and_query, body).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

/// Options of a [`MockServer`], all optional: by default the embedded fleet, the development
/// tenant, a frozen clock, the documented rate limits, plain HTTP on a free loopback port.
#[derive(Debug, Clone)]
#[must_use]
pub struct MockServerBuilder {
    config: Config,
    tenant: String,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            config: Config::for_tests(),
            tenant: dev::TENANT_ID.to_owned(),
        }
    }
}

impl MockServerBuilder {
    /// Serve these machines (say, `Fleet::from_json` of a test's own fixture).
    pub fn fleet(mut self, fleet: Fleet) -> Self {
        self.config.fleet = Some(fleet);
        self
    }

    /// Load machines, apps and users from a fixture folder, as `--fixtures DIR` does.
    pub fn fixtures(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.fixtures = Some(dir.into());
        self
    }

    /// The tenant [`MockServer::token`] and the tenant-scoped helpers use.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// `Frozen` (the default: time moves only when advanced) or `System` (wall time plus advances).
    pub fn clock(mut self, mode: ClockMode) -> Self {
        self.config.clock = mode;
        self
    }

    /// What a second action of the same kind on a busy machine gets.
    pub fn duplicate_policy(mut self, policy: DuplicatePolicy) -> Self {
        self.config.store.duplicate_policy = policy;
        self
    }

    /// Server-wide rate limits (`RateLimits { mode: RateLimitMode::Off, .. }` turns them off).
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.config.rate_limits = limits;
        self
    }

    /// HTTPS from a CA kept in a folder, or from a certificate and key
    /// ([`MockServer::ca_path`] is the CA to trust).
    pub fn tls(mut self, source: TlsSource) -> Self {
        self.config.tls = Some(source);
        self
    }

    /// The shape of the tokens the token endpoints issue.
    pub fn token_version(mut self, version: TokenVersion) -> Self {
        self.config.token_version = version;
        self
    }

    /// Any other serve option (page size, timeouts, journal size...), on the [`Config`] the
    /// builder has so far (its `listen` stays `127.0.0.1:0` unless set here).
    pub fn configure(mut self, edit: impl FnOnce(&mut Config)) -> Self {
        edit(&mut self.config);
        self
    }

    /// Starts the server on the calling runtime.
    ///
    /// # Panics
    /// When it cannot start; the message is [`try_start`](Self::try_start)'s error.
    pub async fn start(self) -> MockServer {
        self.try_start()
            .await
            .unwrap_or_else(|e| panic!("the MockServer cannot start: {e}"))
    }

    /// Protects the control plane with `token` (`--admin-token`), as a server exposed beyond
    /// the test would be; the facade's own control-plane calls send it.
    pub fn admin_token(mut self, token: &str) -> Self {
        self.config.admin_token = AdminToken::new(token);
        self
    }

    /// Starts the server on the calling runtime, or says why it cannot (a fixture, a key, TLS,
    /// the listen address).
    pub async fn try_start(self) -> Result<MockServer, StartupError> {
        let admin = self
            .config
            .admin_token
            .as_ref()
            .and_then(|t| HeaderValue::from_str(&format!("Bearer {}", t.as_str())).ok());
        let app = Application::build(self.config).await?;
        let (addr, url) = (app.local_addr(), app.url());
        let ca_path = app.ca_path().map(Path::to_path_buf);
        let emulator = app.emulator().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = app
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("the MockServer stopped serving: {e}");
            }
        });
        let host = HeaderValue::from_str(&addr.to_string())
            .unwrap_or(HeaderValue::from_static("127.0.0.1"));
        Ok(MockServer {
            control: Control {
                router: emulator.router(),
                host,
                admin,
            },
            emulator,
            addr,
            url,
            tenant: self.tenant,
            ca_path,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A token being shaped; [`mint`](Self::mint) signs it at the emulator's clock.
#[derive(Debug)]
#[must_use]
pub struct TokenBuilder<'a> {
    emulator: &'a Emulator,
    spec: TokenSpec,
}

impl TokenBuilder<'_> {
    /// Exactly these app roles (replacing the default: every role).
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.spec.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// A delegated (user) token with these scopes, for `upn` (a user of the fixtures, or any UPN:
    /// one no fixture names has every portal role).
    pub fn user<I, S>(mut self, upn: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.spec.scp = Some(scopes.join(" "));
        self.spec.upn = Some(upn.into());
        self
    }

    /// Another tenant (a fresh GUID per test keeps tests apart on one server).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.spec.tenant = tenant.into();
        self
    }

    /// Another calling app (`appid` / `azp`).
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.spec.app_id = app_id.into();
        self
    }

    /// Valid for `ttl` of emulator time from now (default [`DEFAULT_TOKEN_TTL`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.spec.ttl_secs = secs_i64(ttl);
        self
    }

    /// Another `aud` (default: the MDE API's).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.spec.audience = Some(audience.into());
        self
    }

    /// v1 (the default) or v2 claims.
    pub fn version(mut self, version: TokenVersion) -> Self {
        self.spec.version = version;
        self
    }

    /// The signed token, issued at the emulator's current time.
    ///
    /// # Panics
    /// Only if the emulator's own key cannot sign, which a started server rules out.
    pub fn mint(self) -> String {
        self.emulator
            .mint(self.spec)
            .unwrap_or_else(|e| panic!("the MockServer cannot mint a token: {e}"))
    }
}

/// Which journal entries to read or count; every criterion is optional and they all must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct RequestFilter {
    pairs: Vec<(&'static str, String)>,
}

impl RequestFilter {
    /// Every entry.
    pub fn new() -> Self {
        Self::default()
    }

    fn with(mut self, key: &'static str, value: String) -> Self {
        self.pairs.retain(|(k, _)| *k != key);
        self.pairs.push((key, value));
        self
    }

    /// `GET`, `POST`...
    pub fn method(self, method: &str) -> Self {
        self.with("method", method.to_owned())
    }

    /// A path pattern: `*` matches one segment, `**` any rest (`/api/machines/*/unisolate`),
    /// case-insensitively against the path as sent.
    pub fn path(self, pattern: &str) -> Self {
        self.with("path", pattern.to_owned())
    }

    /// A status (`201`) or a class (`"4xx"`).
    pub fn status(self, status: impl Into<StatusMatch>) -> Self {
        let status = match status.into() {
            StatusMatch::Code(c) => c.to_string(),
            StatusMatch::Class(c) => c,
        };
        self.with("status", status)
    }

    /// One tenant (a GUID or domain).
    pub fn tenant(self, tenant: &str) -> Self {
        self.with("tenant", tenant.to_owned())
    }

    /// Requests about one machine.
    pub fn machine(self, machine_id: &str) -> Self {
        self.with("machine", machine_id.to_owned())
    }

    /// Entries from this emulator time on.
    pub fn since(self, time: OffsetDateTime) -> Self {
        let time = time.format(&Rfc3339).unwrap_or_default();
        self.with("since", time)
    }

    /// Entries after this one (by journal entry id).
    pub fn since_entry(self, id: u64) -> Self {
        self.with("since", id.to_string())
    }

    /// Only the newest `n`.
    pub fn limit(self, n: usize) -> Self {
        self.with("limit", n.to_string())
    }

    /// `?k=v&...`, or nothing.
    fn query(&self) -> String {
        if self.pairs.is_empty() {
            return String::new();
        }
        let mut q = form_urlencoded::Serializer::for_suffix(String::from("?"), 1);
        for (k, v) in &self.pairs {
            q.append_pair(k, v);
        }
        q.finish()
    }
}

/// A status filter: one code or a class such as `"5xx"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusMatch {
    Code(u16),
    Class(String),
}

impl From<u16> for StatusMatch {
    fn from(code: u16) -> Self {
        Self::Code(code)
    }
}

impl From<StatusCode> for StatusMatch {
    fn from(code: StatusCode) -> Self {
        Self::Code(code.as_u16())
    }
}

impl From<&str> for StatusMatch {
    fn from(class: &str) -> Self {
        Self::Class(class.to_owned())
    }
}

#[derive(Deserialize)]
struct Journal {
    value: Vec<RecordedRequest>,
}

/// One journal entry: a request the emulator served (never its token or a secret).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RecordedRequest {
    /// Increasing with each entry.
    pub id: u64,
    /// When it arrived, on the emulator clock.
    #[serde(deserialize_with = "rfc3339")]
    pub time: OffsetDateTime,
    #[serde(default)]
    pub request_id: String,
    pub method: String,
    /// As sent.
    pub path: String,
    #[serde(default)]
    pub query: Option<String>,
    /// The route template (`/api/machines/{id}/unisolate`), when one matched.
    #[serde(default)]
    pub route: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
    /// The signed-in user of a delegated token.
    #[serde(default)]
    pub user: Option<String>,
    /// The token's roles or scopes that were used.
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub machine_id: Option<String>,
    #[serde(default)]
    pub action_id: Option<String>,
    #[serde(default)]
    pub latency_ms: f64,
    /// The fault rule applied, if any.
    #[serde(default)]
    pub fault_rule: Option<String>,
    /// The body as UTF-8, truncated (see `body_truncated`).
    #[serde(default)]
    pub request_body: Option<String>,
    #[serde(default)]
    pub body_truncated: bool,
}

impl RecordedRequest {
    /// The request body as JSON, when it is whole JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_str(self.request_body.as_deref()?).ok()
    }
}

fn rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let text = String::deserialize(d)?;
    OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
}

/// A fault to inject: what it does (an error answer, a delay, a dropped connection), which
/// requests it matches (all by default), how many times and how likely.
///
/// ```
/// use defender_mock::FaultRule;
/// use std::time::Duration;
///
/// // Two 503s with Retry-After on isolate, then normal service.
/// let flaky = FaultRule::error(503).retry_after(2).route("/api/machines/{id}/isolate").times(2);
/// // Every request of one app is 3 s slow.
/// let slow = FaultRule::delay(Duration::from_secs(3)).app("d3fe0d3f-0000-4000-8000-00000000a991");
/// // One in ten calls loses its connection.
/// let lossy = FaultRule::drop_connection(defender_mock::DropMode::Reset).probability(0.1);
/// # let _ = (flaky, slow, lossy);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct FaultRule {
    body: Value,
}

/// How a dropped connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropMode {
    /// A TCP reset (the client sees "connection reset").
    Reset,
    /// Closed without a response.
    Close,
}

impl FaultRule {
    fn new(action: Value) -> Self {
        Self {
            body: json!({"match": {}, "action": action}),
        }
    }

    /// Answer `status` with the Defender (or, on the token endpoints, Entra) error body.
    pub fn error(status: u16) -> Self {
        Self::new(json!({"kind": "error", "status": status}))
    }

    /// Serve normally, `by` late.
    pub fn delay(by: Duration) -> Self {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        Self::new(json!({"kind": "delay", "ms": ms}))
    }

    /// Drop the connection instead of answering.
    pub fn drop_connection(mode: DropMode) -> Self {
        let mode = match mode {
            DropMode::Reset => "reset",
            DropMode::Close => "close",
        };
        Self::new(json!({"kind": "drop", "mode": mode}))
    }

    /// Sets `key` in the `section` object (`"match"`, `"action"`), or at the top when `None`.
    fn set(mut self, section: Option<&str>, key: &str, value: Value) -> Self {
        let target = match section {
            Some(section) => self.body.get_mut(section),
            None => Some(&mut self.body),
        };
        if let Some(obj) = target.and_then(Value::as_object_mut) {
            obj.insert(key.to_owned(), value);
        }
        self
    }

    /// The error code of an error fault (default: the status's usual code).
    pub fn code(self, code: &str) -> Self {
        self.set(Some("action"), "code", code.into())
    }

    /// The error message of an error fault.
    pub fn message(self, message: &str) -> Self {
        self.set(Some("action"), "message", message.into())
    }

    /// A `Retry-After` of `secs` on an error fault.
    pub fn retry_after(self, secs: u64) -> Self {
        self.set(Some("action"), "retryAfter", secs.into())
    }

    /// Only this method.
    pub fn method(self, method: &str) -> Self {
        self.set(Some("match"), "method", method.into())
    }

    /// Only this route: a template (`/api/machines/{id}/isolate`) or a `*` pattern.
    pub fn route(self, route: &str) -> Self {
        self.set(Some("match"), "route", route.into())
    }

    /// Only this tenant.
    pub fn tenant(self, tenant: &str) -> Self {
        self.set(Some("match"), "tenant", tenant.into())
    }

    /// Only requests about this machine.
    pub fn machine(self, machine_id: &str) -> Self {
        self.set(Some("match"), "machine", machine_id.into())
    }

    /// Only this calling app.
    pub fn app(self, app_id: &str) -> Self {
        self.set(Some("match"), "app", app_id.into())
    }

    /// For the next `n` matching requests only (default: until removed).
    pub fn times(self, n: u64) -> Self {
        self.set(None, "times", n.into())
    }

    /// Applied to a matching request with this probability, 0.0 to 1.0 (default 1).
    pub fn probability(self, p: f64) -> Self {
        self.set(None, "probability", p.into())
    }

    /// The `POST /_mock/faults` body.
    pub fn to_json(&self) -> &Value {
        &self.body
    }
}

/// An installed fault rule. It stays installed when the handle drops; [`remove`](Self::remove)
/// it, or [`MockServer::clear_faults`].
#[derive(Debug, Clone)]
pub struct FaultHandle {
    id: String,
    control: Control,
}

impl FaultHandle {
    /// The rule's id (as in journal entries' `faultRule`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The rule as the emulator has it now (`hits`, `remaining`...); `None` once removed.
    pub async fn state(&self) -> Option<Value> {
        let rules = self
            .control
            .expect("GET", "/_mock/faults", None, StatusCode::OK)
            .await;
        let rules = rules["value"].as_array().cloned().unwrap_or_default();
        rules.into_iter().find(|r| match &r["id"] {
            Value::String(s) => *s == self.id,
            Value::Number(n) => n.to_string() == self.id,
            _ => false,
        })
    }

    /// How many requests the rule has faulted so far (0 once removed).
    pub async fn hits(&self) -> u64 {
        self.state()
            .await
            .and_then(|r| r["hits"].as_u64())
            .unwrap_or(0)
    }

    /// Uninstalls the rule (`DELETE /_mock/faults/{id}`); `false` if it was already gone.
    pub async fn remove(self) -> bool {
        let path = format!("/_mock/faults/{}", encode(&self.id));
        let (status, _) = self.control.call("DELETE", &path, None).await;
        status == StatusCode::NO_CONTENT
    }
}

/// The live state stream: each item is one event's JSON (`type`, `id`, `tenant`, `time` and the
/// change's fields). It ends when the server stops.
pub struct EventStream {
    body: Pin<Box<dyn Stream<Item = Result<Bytes, axum::Error>> + Send>>,
    buffer: Vec<u8>,
    ready: VecDeque<Value>,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("pending", &self.ready.len())
            .finish_non_exhaustive()
    }
}

impl EventStream {
    /// The next event, waiting for it; `None` once the stream ended.
    pub async fn next_event(&mut self) -> Option<Value> {
        self.next().await
    }

    /// Takes the complete SSE frames out of the buffer, keeping the state events.
    fn parse_frames(&mut self) {
        while let Some(end) = find(&self.buffer, b"\n\n") {
            let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let frame = String::from_utf8_lossy(&frame);
            let mut kind = "message";
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(k) = line.strip_prefix("event:") {
                    kind = k.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            // `ready` opens the stream, `lagged` reports a slow reader; neither is a change.
            if kind == "ready" || data.is_empty() {
                continue;
            }
            let value = serde_json::from_str(&data).unwrap_or(Value::String(data));
            let value = match (kind, value) {
                ("lagged", Value::Object(mut o)) => {
                    o.insert("type".into(), "lagged".into());
                    Value::Object(o)
                }
                (_, v) => v,
            };
            self.ready.push_back(value);
        }
    }
}

impl Stream for EventStream {
    type Item = Value;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Value>> {
        loop {
            if let Some(v) = self.ready.pop_front() {
                return Poll::Ready(Some(v));
            }
            match self.body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    // SSE lines may end in CRLF; frames are compared on LF only.
                    self.buffer
                        .extend(chunk.iter().copied().filter(|b| *b != b'\r'));
                    self.parse_frames();
                }
                Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The facade's side door: control-plane requests through the served emulator's own router.
#[derive(Clone)]
struct Control {
    router: Router,
    host: HeaderValue,
    /// `Bearer <admin token>`, when the server was built with one.
    admin: Option<HeaderValue>,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Control {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> axum::response::Response {
        let method = Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|_| panic!("{method:?} is not an HTTP method"));
        let bytes = body.map(Value::to_string).unwrap_or_default();
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.host.clone())
            .header(header::CONTENT_LENGTH, bytes.len());
        if let Some(admin) = &self.admin {
            req = req.header(header::AUTHORIZATION, admin.clone());
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Body::from(bytes))
            .unwrap_or_else(|e| panic!("{path}: not a request: {e}"));
        match self.router.clone().oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (StatusCode, Bytes) {
        let res = self.send(method, path, body).await;
        let status = res.status();
        let bytes = to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: the body broke off: {e}"));
        (status, bytes)
    }

    /// The JSON answer (Null when empty), or a panic with the emulator's error when the status
    /// is not `want`.
    async fn expect(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        want: StatusCode,
    ) -> Value {
        let (status, bytes) = self.call(method, path, body).await;
        assert_eq!(
            status,
            want,
            "{method} {path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        if bytes.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{method} {path}: the answer is not JSON: {e}"))
    }
}

/// Percent-encodes a query or path value.
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn secs_i64(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_a_query_string_with_each_criterion_once() {
        assert_eq!(RequestFilter::new().query(), "");
        let f = RequestFilter::new()
            .method("POST")
            .path("/api/machines/*/unisolate")
            .status("4xx")
            .status(201)
            .limit(5);
        assert_eq!(
            f.query(),
            "?method=POST&path=%2Fapi%2Fmachines%2F*%2Funisolate&status=201&limit=5"
        );
    }

    #[test]
    fn a_fault_rule_is_the_contract_body() {
        let rule = FaultRule::error(503)
            .code("ServiceUnavailable")
            .retry_after(2)
            .route("/api/machines/{id}/isolate")
            .times(2)
            .probability(1.0);
        assert_eq!(
            rule.to_json(),
            &json!({
                "match": {"route": "/api/machines/{id}/isolate"},
                "action": {"kind": "error", "status": 503, "code": "ServiceUnavailable", "retryAfter": 2},
                "times": 2,
                "probability": 1.0,
            })
        );
        let drop = FaultRule::drop_connection(DropMode::Close).machine("m1");
        assert_eq!(
            drop.to_json()["action"],
            json!({"kind": "drop", "mode": "close"})
        );
        assert_eq!(drop.to_json()["match"], json!({"machine": "m1"}));
        let delay = FaultRule::delay(Duration::from_millis(1500));
        assert_eq!(
            delay.to_json()["action"],
            json!({"kind": "delay", "ms": 1500})
        );
    }

    #[test]
    fn a_journal_entry_reads_with_missing_optional_fields() {
        let entry: RecordedRequest = serde_json::from_value(json!({
            "id": 7, "time": "2026-11-29T10:00:00.1234567Z", "method": "POST",
            "path": "/api/machines/abc/unisolate", "status": 201,
            "requestBody": "{\"Comment\":\"x\"}", "latencyMs": 3,
        }))
        .unwrap();
        assert_eq!(entry.id, 7);
        assert_eq!(entry.body_json(), Some(json!({"Comment": "x"})));
        assert_eq!(entry.route, None);
        assert!(!entry.body_truncated);
    }
}
