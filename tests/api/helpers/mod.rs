//! Test harness: `TestApp` drives one emulator either in process (the router through `oneshot`,
//! no sockets: the default) or over TCP (`spawn_tcp`, for tests where the connection matters),
//! mints tokens on the emulator's own clock, and has one method per endpoint the tests call.
//! Machine names map to the embedded fleet's ids. `TEST_LOG=1` prints the server's logs.

mod wire;

use std::sync::LazyLock;

use axum::Router;
use defender_mock::{
    init_logging, Application, ClockMode, Config, Emulator, Fleet, LogFormat, StoreOptions,
    TokenSpec, DEFAULT_MACHINES,
};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub use wire::{
    assert_error, assert_error_containing, assert_error_message, Req, TestResponse, IN_PROCESS_HOST,
};

pub const DOC_BODY: &str = r#"{ "Comment": "Unisolate machine since it was clean and validated" }"#;

const LONG_TTL: i64 = 30 * 86_400;

static FLEET: LazyLock<Vec<Value>> =
    LazyLock::new(|| serde_json::from_str(DEFAULT_MACHINES).expect("embedded fleet"));

/// Logs go to stderr only when `TEST_LOG` is set; otherwise tests run silent.
static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        init_logging(LogFormat::Pretty);
    }
});

/// The id of the fixture machine whose DNS name starts with `name`.
pub fn machine_id(name: &str) -> String {
    FLEET
        .iter()
        .find(|m| m["computerDnsName"].as_str().unwrap().starts_with(name))
        .unwrap_or_else(|| panic!("no fixture machine {name}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The embedded fleet as JSON, for tests that edit a machine before starting a server.
pub fn fleet() -> Vec<Value> {
    FLEET.clone()
}

pub fn fresh_tenant() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// How a `TestApp` reaches its emulator.
enum Transport {
    InProcess(Router),
    Tcp {
        client: reqwest::Client,
        _stop: oneshot::Sender<()>,
    },
}

/// An emulator under test, in either tier; `url` is what its links and contexts start with.
pub struct TestApp {
    pub url: String,
    pub emulator: Emulator,
    transport: Transport,
}

/// An in-process emulator over the embedded fleet.
pub async fn spawn_app() -> TestApp {
    spawn_config(Config::for_tests(), fleet()).await
}

pub async fn spawn_with(options: StoreOptions, fleet: Vec<Value>) -> TestApp {
    let config = Config {
        store: options,
        ..Config::for_tests()
    };
    spawn_config(config, fleet).await
}

/// An in-process emulator with `config` over `fleet` (always on a frozen clock: tests move time
/// explicitly).
pub async fn spawn_config(config: Config, fleet: Vec<Value>) -> TestApp {
    let emulator = Emulator::new(&test_config(config, fleet)).expect("emulator builds");
    TestApp {
        url: format!("http://{IN_PROCESS_HOST}"),
        transport: Transport::InProcess(emulator.router()),
        emulator,
    }
}

/// A server with `config` over `fleet` on a free loopback port, stopped when the app drops.
pub async fn spawn_tcp(config: Config, fleet: Vec<Value>) -> TestApp {
    let app = Application::build(test_config(config, fleet))
        .await
        .expect("server starts");
    let (tx, rx) = oneshot::channel::<()>();
    let (url, emulator) = (app.url(), app.emulator().clone());
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        url,
        emulator,
        transport: Transport::Tcp {
            client: reqwest::Client::new(),
            _stop: tx,
        },
    }
}

fn test_config(config: Config, fleet: Vec<Value>) -> Config {
    LazyLock::force(&TRACING);
    let fleet = Fleet::from_json(&Value::from(fleet).to_string()).expect("test fleet");
    Config {
        listen: "127.0.0.1:0".into(),
        clock: ClockMode::Frozen,
        fleet: Some(fleet),
        ..config
    }
}

impl TestApp {
    pub async fn send(&self, req: Req) -> TestResponse {
        match &self.transport {
            Transport::InProcess(router) => req.in_process(router, &self.url).await,
            Transport::Tcp { client, .. } => req.over_tcp(client, &self.url).await,
        }
    }

    /// The TCP tier's client (panics in process: there is no connection to share).
    pub fn tcp_client(&self) -> reqwest::Client {
        match &self.transport {
            Transport::Tcp { client, .. } => client.clone(),
            Transport::InProcess(_) => panic!("an in-process TestApp has no client"),
        }
    }

    /// A token minted at the emulator's current time.
    pub fn token_with(&self, spec: TokenSpec) -> String {
        self.emulator.mint(spec).unwrap()
    }

    /// An app token for the development tenant with `roles`, valid for a month of emulator time
    /// (tests advance the clock by hours and days).
    pub fn token(&self, roles: &[&str]) -> String {
        self.token_with(TokenSpec {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ttl_secs: LONG_TTL,
            ..TokenSpec::default()
        })
    }

    /// An app token with isolate + read roles in `tenant`.
    pub fn tenant_token(&self, tenant: &str) -> String {
        self.token_with(TokenSpec {
            tenant: tenant.to_owned(),
            roles: vec!["Machine.Isolate".into(), "Machine.Read.All".into()],
            ttl_secs: LONG_TTL,
            ..TokenSpec::default()
        })
    }

    pub fn admin_token(&self) -> String {
        self.token(&["Machine.Isolate", "Machine.Read.All"])
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.send(Req::get(path).bearer(token)).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: &str,
    ) -> TestResponse {
        let mut req = Req::post(path).body(content_type, body);
        if let Some(t) = token {
            req = req.bearer(t);
        }
        self.send(req).await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> TestResponse {
        self.send(Req::post(path).bearer(token).json(body)).await
    }

    /// `GET /api/machines/{id}`.
    pub async fn get_machine(&self, token: &str, id: &str) -> TestResponse {
        self.get(&format!("/api/machines/{id}"), token).await
    }

    /// `POST /api/machines/{id}/{action}` with `{"Comment": ...}` plus `extra`.
    pub async fn act(&self, token: &str, id: &str, action: &str, extra: Value) -> TestResponse {
        let mut body = json!({"Comment": format!("{action} by test")});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.post_json(&format!("/api/machines/{id}/{action}"), token, &body)
            .await
    }

    /// [`act`](Self::act), asserting 201: the created machine action.
    pub async fn act_ok(&self, token: &str, id: &str, action: &str, extra: Value) -> Value {
        let r = self.act(token, id, action, extra).await;
        assert_eq!(r.status(), 201, "{action} {id}: {}", r.text());
        r.json()
    }

    pub async fn isolate(&self, token: &str, id: &str) -> TestResponse {
        self.act(token, id, "isolate", json!({})).await
    }

    pub async fn unisolate(&self, token: &str, id: &str) -> TestResponse {
        self.act(token, id, "unisolate", json!({})).await
    }

    /// `POST /api/machineactions/{id}/cancel` with `body` (None: no body at all).
    pub async fn cancel(&self, token: &str, action_id: &str, body: Option<&Value>) -> TestResponse {
        let path = format!("/api/machineactions/{action_id}/cancel");
        match body {
            Some(b) => self.post_json(&path, token, b).await,
            None => self.post_raw(&path, Some(token), None, "").await,
        }
    }

    /// `GET /api/machineactions/{id}`, asserting 200.
    pub async fn action(&self, token: &str, id: &str) -> Value {
        let r = self.get(&format!("/api/machineactions/{id}"), token).await;
        assert_eq!(r.status(), 200, "{}", r.text());
        r.json()
    }

    /// A control-plane `GET` (no token), asserting 200: the JSON body.
    pub async fn mock_get(&self, path: &str) -> Value {
        let r = self.send(Req::get(path)).await;
        assert_eq!(r.status(), 200, "{path}: {}", r.text());
        r.json()
    }

    pub async fn advance(&self, seconds: f64) {
        let r = self
            .send(Req::post("/_mock/clock/advance").json(&json!({"seconds": seconds})))
            .await;
        assert_eq!(r.status(), 200, "{}", r.text());
    }

    /// The emulator-side machine view (isolation state) in `tenant` (None = development tenant).
    pub async fn machine_view(&self, id: &str, tenant: Option<&str>) -> Value {
        let q = tenant.map(|t| format!("?tenant={t}")).unwrap_or_default();
        self.mock_get(&format!("/_mock/machines/{id}{q}")).await
    }
}

/// `token` with its claims edited by `edit`, signed again with the development key (same `kid`).
pub fn resign(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let mut parts = token.split('.');
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    edit(&mut claims);
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = header["kid"].as_str().map(str::to_owned);
    h.typ = Some("JWT".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
        "../../../keys/dev-signing-key.pem"
    ))
    .unwrap();
    jsonwebtoken::encode(&h, &claims, &key).unwrap()
}
