//! Fuzzing entry points (for `fuzz/`, not an API): each takes raw input, drives the real parser or
//! check on it as the server would, renders any refusal, and discards the result.
#![doc(hidden)]

use std::{
    collections::HashSet,
    future::Future,
    path::Path,
    pin::pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll, Waker},
};

use axum::{
    body::Body,
    extract::{FromRequest, Request},
    http::{header, HeaderMap, HeaderValue},
};
use serde_json::Value;
use time::OffsetDateTime;

use crate::{
    auth::{
        guard::Rights as _,
        permissions,
        token::{self, TokenVersion},
        Authenticator, Keys,
    },
    error::ApiError,
    fixtures,
    identity::{
        form,
        grant::{grant, TokenRequest},
        Directory,
    },
    model::{ActionType, IsolationType, Machine, MachineAction, ScanType, Scope, TenantId},
    odata::{self, EntitySet},
    routes::extract::{optional_enum, required_string, JsonBody},
    store::{NewAction, Store, StoreOptions, Visibility},
};

/// The fixed emulator time of every entry point (seed tokens are minted to be valid then).
fn now() -> OffsetDateTime {
    // 2030-01-01T00:00:00Z.
    OffsetDateTime::from_unix_timestamp(1_893_456_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Renders a refusal as the client would see it (the part that echoes input back).
fn render(e: &ApiError) {
    let _ = (e.status(), e.body("fuzz"));
}

/// Typed rows of both entity sets: the embedded fleet, and actions submitted on it.
#[derive(Default)]
struct Rows {
    machines: Vec<Arc<Machine>>,
    actions: Vec<MachineAction>,
}

fn rows() -> &'static Rows {
    static ROWS: OnceLock<Rows> = OnceLock::new();
    ROWS.get_or_init(|| {
        // The embedded fleet is checked by unit tests: it loads.
        let fleet = fixtures::default_fleet().unwrap_or_default();
        let store = Store::new(fleet, StoreOptions::default());
        let Some(tid) = TenantId::parse(permissions::dev::TENANT_ID) else {
            return Rows::default();
        };
        let tenant = store.tenant(&tid);
        let t = now();
        let machines = tenant.machines(&Visibility::All, &Default::default(), odata::MAX_TOP, t);
        let kinds = [
            (
                ActionType::Isolate,
                Some(Scope::Isolation(IsolationType::Selective)),
                None,
            ),
            (
                ActionType::RunAntiVirusScan,
                Some(Scope::Scan(ScanType::Quick)),
                None,
            ),
            (ActionType::CollectInvestigationPackage, None, None),
            (
                ActionType::StopAndQuarantineFile,
                None,
                Some("87662bc3d60e4200ceaf7aae249d1c343f4b83c9"),
            ),
            (ActionType::RestrictCodeExecution, None, None),
        ];
        for (m, (kind, scope, sha1)) in machines.rows.iter().zip(kinds) {
            let new = NewAction {
                action_type: kind,
                comment: "seeded by the fuzzing facade".to_owned(),
                requestor: "fuzz@defendermock.onmicrosoft.com".to_owned(),
                scope,
                sha1: sha1.map(str::to_owned),
            };
            if let Ok(key) = tenant.resolve(&m.id, &Visibility::All) {
                let _ = tenant.submit(key, new, t);
            }
        }
        let later = t + time::Duration::minutes(10);
        Rows {
            machines: tenant
                .machines(&Visibility::All, &Default::default(), odata::MAX_TOP, later)
                .rows,
            actions: tenant
                .actions(&Visibility::All, &Default::default(), odata::MAX_TOP, later)
                .rows,
        }
    })
}

/// OData on both entity sets: the whole input as a request's raw query string (parsed, then
/// applied to the set's rows with paging, and the next link built), and as a bare `$filter`
/// expression (parsed, then evaluated on every row).
pub fn odata(input: &str) {
    let rows = rows();
    odata_on(input, &odata::MACHINES, &rows.machines);
    odata_on(input, &odata::MACHINE_ACTIONS, &rows.actions);
}

/// `input` as a whole query string, and as a bare `$filter` evaluated against every row.
fn odata_on<R, T>(input: &str, set: &'static EntitySet<R>, rows: &[T])
where
    T: std::borrow::Borrow<R> + serde::Serialize,
{
    match odata::parse(Some(input), set) {
        Ok(q) => {
            let page = odata::select(&q, rows.iter(), 7);
            if let Some(skip) = page.next_skip {
                let _ = odata::next_link_query(Some(input), skip);
            }
            let select = q.select.as_deref();
            let projected: Vec<_> = page
                .rows
                .into_iter()
                .map(|row| odata::Projected { row, select })
                .collect();
            let _ = serde_json::to_vec(&projected);
        }
        Err(e) => render(&e),
    }
    if let Ok(expr) = odata::filter::parse(input, set) {
        for row in rows {
            let _ = odata::matches(&expr, row.borrow());
        }
    }
}

/// Content types a client may send with an action body (chosen by the input's first byte).
const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("Application/JSON;odata.metadata=minimal"),
    Some("application/merge-patch+json"),
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    Some("application/json\u{7f}"),
    None,
];

/// An action request body: the first byte picks the Content-Type, the rest is the body. Runs
/// the `JsonBody` extractor and every body parameter the action and cancel handlers read.
pub fn json_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let mut req = Request::new(Body::from(body.to_vec()));
    if let Some(ct) = CONTENT_TYPES[usize::from(pick) % CONTENT_TYPES.len()] {
        if let Ok(v) = HeaderValue::from_bytes(ct.as_bytes()) {
            req.headers_mut().insert(header::CONTENT_TYPE, v);
        }
    }
    let fut = pin!(JsonBody::from_request(req, &()));
    let body = match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(b)) => b,
        Poll::Ready(Err(e)) => return render(&e),
        Poll::Pending => unreachable!("an in-memory body is read in one poll"),
    };
    let _ = body.is_empty();
    let obj = match body.object() {
        Ok(o) => o,
        Err(e) => return render(&e),
    };
    let results = [
        required_string(&obj, "Comment").map(drop),
        optional_enum(&obj, "IsolationType", IsolationType::Full).map(drop),
        optional_enum(&obj, "ScanType", ScanType::Full).map(drop),
        required_string(&obj, "Sha1").map(drop),
    ];
    for r in &results {
        if let Err(e) = r {
            render(e);
        }
    }
    let _ = obj.get("Comment").map(Value::as_str);
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(Keys::development)
}

fn directory() -> &'static Directory {
    static DIRECTORY: OnceLock<Directory> = OnceLock::new();
    // The embedded samples are checked by unit tests: they load.
    DIRECTORY.get_or_init(|| {
        fixtures::load_directory(None).unwrap_or_else(|_| Directory::new(Vec::new(), Vec::new()))
    })
}

/// An `Authorization` header value: bearer parsing and token verification with the development
/// keys at the fixed time, then, for an admitted caller, the directory's rights and every
/// endpoint's authorization check.
pub fn bearer(header_value: &[u8]) {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(header_value) {
        headers.insert(header::AUTHORIZATION, v);
    }
    // A fresh authenticator per input, so no input depends on an earlier one's cache.
    let auth = Authenticator::with_capacity(keys().clone(), 4);
    let mut caller = match auth.authenticate(&headers, now()) {
        Ok(c) => c,
        Err(e) => return render(&e),
    };
    if let Some(upn) = caller.upn().map(str::to_owned) {
        if let Some(rights) = directory().rights(&upn, caller.tenant.as_str()) {
            caller = caller.with_rights(rights);
        }
    }
    let _ = caller.requestor();
    for access in [
        &permissions::READ,
        &permissions::ISOLATE,
        &permissions::RESTRICT,
        &permissions::SCAN,
        &permissions::COLLECT,
        &permissions::OFFBOARD,
        &permissions::QUARANTINE,
        &permissions::CANCEL,
        &permissions::PACKAGE,
    ] {
        if let Err(e) = caller.authorize(access) {
            render(&e);
        }
    }
}

/// A token request: an optional first line `tenant` (the path segment; the development tenant
/// without one), then the form body. Parsed as the token handler does and decided by `grant` for
/// both endpoints (`oauth2/token`, `oauth2/v2.0/token`) and both token shapes; a granted token's
/// claims are built (not signed: signing is RSA, slow, and takes no input).
pub fn token_form(data: &[u8]) {
    let (tenant, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (permissions::dev::TENANT_ID.to_owned(), data),
    };
    let form = match form::parse(Some("application/x-www-form-urlencoded"), body, now()) {
        Ok(form) => form,
        Err(e) => return render(&e),
    };
    for endpoint in [TokenVersion::V1, TokenVersion::V2] {
        let request = TokenRequest {
            endpoint,
            origin: "https://login.microsoftonline.com".to_owned(),
            tenant: tenant.clone(),
            form: form.clone(),
            basic: None,
        };
        for shape in [TokenVersion::V1, TokenVersion::V2] {
            match grant(directory(), &request, shape, now()) {
                Ok(spec) => {
                    let _ = serde_json::to_vec(&token::claims_for(&spec));
                }
                Err(e) => render(&e),
            }
        }
    }
}

/// A fixture file's text: parsed as a machine file (twice into one id set, so the duplicate
/// check runs), as `apps.json` and as `users.json`.
pub fn fixtures(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("fuzz.json");
    let mut seen = HashSet::new();
    for _ in 0..2 {
        match fixtures::parse_machines(file, text, &mut seen) {
            Ok(fleet) => {
                for m in &fleet {
                    let _ = serde_json::to_value(&m.machine);
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if let Err(e) = fixtures::directory::parse_apps(file, text) {
        let _ = e.to_string();
    }
    if let Err(e) = fixtures::directory::parse_users(file, text) {
        let _ = e.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_points_run_on_typical_and_odd_input() {
        odata("$filter=healthStatus eq 'Active' and machineTags/any(t: t eq 'prod')&$top=3");
        odata("startswith(computerDnsName,'dc') or riskScore in ('High','Medium')");
        odata("$orderby=lastSeen desc&$skip=2&$count=true&$select=id,computerDnsName");
        odata("status eq 'Pending' and creationDateTimeUtc ge 2024-01-01T00:00:00Z");
        odata("$filter=((((");
        json_body(b"\0{\"Comment\":\"Unisolate machine due to case #123\"}");
        json_body(b"\x04{\"Comment\":1}");
        json_body(b"");
        bearer(b"Bearer abc.def.ghi");
        bearer(b"\xff\xfe");
        let token = token::mint(
            keys(),
            &token::TokenSpec {
                roles: vec!["Machine.Read.All".into()],
                now: now(),
                ..token::TokenSpec::default()
            },
        )
        .unwrap();
        bearer(format!("Bearer {token}").as_bytes());
        token_form(b"grant_type=client_credentials&client_id=d3fe0d3f-0000-4000-8000-00000000a991&client_secret=defender-mock-development-secret&scope=https%3A%2F%2Fapi.securitycenter.microsoft.com%2F.default");
        token_form(b"common\ngrant_type=password");
        fixtures(fixtures::DEFAULT_MACHINES.as_bytes());
        fixtures(fixtures::DEFAULT_USERS.as_bytes());
        fixtures(b"[{\"id\":1}]");
        assert!(rows().machines.len() >= 20);
        assert!(!rows().actions.is_empty());
    }
}
