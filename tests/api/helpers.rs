//! Test harness: `TestApp` serves the real application on a free port and mints tokens on the
//! emulator's own clock; machine names map to the embedded fleet's ids.

use std::sync::LazyLock;

use defender_mock::{
    Application, Config, Emulator, Fleet, StoreOptions, TokenSpec, DEFAULT_MACHINES,
};
use reqwest::{Client, Response};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const DOC_BODY: &str = r#"{ "Comment": "Unisolate machine since it was clean and validated" }"#;

const LONG_TTL: i64 = 30 * 86_400;

static FLEET: LazyLock<Vec<Value>> =
    LazyLock::new(|| serde_json::from_str(DEFAULT_MACHINES).expect("embedded fleet"));

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

/// A running emulator.
pub struct TestApp {
    pub url: String,
    pub emulator: Emulator,
    pub client: Client,
    _stop: oneshot::Sender<()>,
}

pub async fn spawn_app() -> TestApp {
    spawn_config(Config::for_tests(), fleet()).await
}

pub async fn spawn_with(options: StoreOptions, fleet: Vec<Value>) -> TestApp {
    spawn_config(
        Config {
            store: options,
            ..Config::for_tests()
        },
        fleet,
    )
    .await
}

/// A server with `config` over `fleet` (always on a frozen clock: tests move time explicitly).
pub async fn spawn_config(config: Config, fleet: Vec<Value>) -> TestApp {
    let fleet = Fleet::from_json(&Value::from(fleet).to_string()).expect("test fleet");
    let config = Config {
        listen: "127.0.0.1:0".into(),
        clock: defender_mock::ClockMode::Frozen,
        fleet: Some(fleet),
        ..config
    };
    let app = Application::build(config).await.expect("server starts");
    let (tx, rx) = oneshot::channel::<()>();
    let (url, emulator) = (app.url(), app.emulator().clone());
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        url,
        emulator,
        client: Client::new(),
        _stop: tx,
    }
}

impl TestApp {
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

    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: &str,
    ) -> Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.post_raw(
            path,
            Some(token),
            Some("application/json"),
            &body.to_string(),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// `POST /api/machines/{id}/{action}` with `{"Comment": ...}` plus `extra`.
    pub async fn act(&self, token: &str, id: &str, action: &str, extra: Value) -> Response {
        let mut body = json!({"Comment": format!("{action} by test")});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.post_json(&format!("/api/machines/{id}/{action}"), token, &body)
            .await
    }

    pub async fn advance(&self, seconds: f64) {
        let r = self
            .client
            .post(format!("{}/_mock/clock/advance", self.url))
            .json(&json!({"seconds": seconds}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    pub async fn action(&self, token: &str, id: &str) -> Value {
        let r = self.get(&format!("/api/machineactions/{id}"), token).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// The emulator-side machine view (isolation state) in `tenant` (None = development tenant).
    pub async fn machine_view(&self, id: &str, tenant: Option<&str>) -> Value {
        let q = tenant.map(|t| format!("?tenant={t}")).unwrap_or_default();
        let r = self
            .client
            .get(format!("{}/_mock/machines/{id}{q}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

/// Asserts a Defender error: status, `error.code`, and a non-empty `target` equal to `request-id`.
pub async fn assert_error(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "application/json; charset=utf-8");
    let rid = r
        .headers()
        .get("request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    let target = body["error"]["target"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!target.is_empty(), "{body}");
    assert_eq!(Some(target), rid);
    body
}

pub fn fresh_tenant() -> String {
    uuid::Uuid::new_v4().to_string()
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
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../../keys/dev-signing-key.pem"))
            .unwrap();
    jsonwebtoken::encode(&h, &claims, &key).unwrap()
}
