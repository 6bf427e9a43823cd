//! Unit tests of `fixtures`.

use super::*;

fn parse(text: &str) -> Result<Vec<FleetMachine>, FixtureError> {
    parse_machines(Path::new("t.json"), text, &mut HashSet::new())
}

const OK: &str = r#"{"id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","computerDnsName":"a","firstSeen":"2024-01-01T00:00:00Z","lastSeen":"2024-01-01T00:00:00Z","osPlatform":"Windows11"}"#;

#[test]
fn the_default_fleet_loads() {
    let fleet = default_fleet().unwrap();
    assert!(fleet.len() >= 20);
    assert!(fleet.iter().any(|f| f.isolation.is_some()));
}

#[test]
fn ids_are_lowercased() {
    let fleet = parse(&format!("[{OK}]")).unwrap();
    assert_eq!(fleet[0].machine.id, "a".repeat(40));
}

#[test]
fn a_wrong_type_names_the_field() {
    let text = OK.replace(
        r#""osPlatform":"Windows11""#,
        r#""osPlatform":"Windows11","osBuild":"x""#,
    );
    let e = parse(&format!("[{text}]")).unwrap_err().to_string();
    assert!(e.contains("t.json") && e.contains("osBuild"), "{e}");
}

#[test]
fn an_unknown_field_is_named() {
    let text = OK.replace(r#""osPlatform""#, r#""osPlatfrom":"x","osPlatform""#);
    let e = parse(&format!("[{text}]")).unwrap_err().to_string();
    assert!(e.contains("osPlatfrom"), "{e}");
}

#[test]
fn a_missing_field_is_named() {
    let text = OK.replace(r#","osPlatform":"Windows11""#, "");
    let e = parse(&format!("[{text}]")).unwrap_err().to_string();
    assert!(e.contains("osPlatform"), "{e}");
}

#[test]
fn duplicates_and_bad_ids_are_refused() {
    assert!(parse(&format!("[{OK},{OK}]"))
        .unwrap_err()
        .to_string()
        .contains("duplicate"));
    let bad = OK.replace("AAAA", "ZZZZ");
    assert!(parse(&format!("[{bad}]"))
        .unwrap_err()
        .to_string()
        .contains("`id`"));
}

#[test]
fn the_embedded_identity_fixtures_load() {
    let d = load_directory(None).unwrap();
    assert_eq!(d.counts(), (3, 3));
}

#[test]
fn identity_fixture_errors_name_the_field() {
    let e = parse_users(
        Path::new("users.json"),
        r#"[{"upn":"a","password":"b","portalRoles":["God mode"]}]"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("portalRoles"), "{e}");
    let e = parse_apps(
        Path::new("apps.json"),
        r#"[{"clientId":"a","displayName":"b","certificates":["x"]}]"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("certificates[0]"), "{e}");
    let e = parse_apps(
        Path::new("apps.json"),
        r#"[{"clientId":"a","displayName":"b","secret":"x"}]"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("secret"), "{e}");
}

#[test]
fn bad_simulation_is_named() {
    let text = OK.replace(
        r#""osPlatform""#,
        r#""simulation":{"outcome":"Maybe"},"osPlatform""#,
    );
    let e = parse(&format!("[{text}]")).unwrap_err().to_string();
    assert!(e.contains("simulation.outcome"), "{e}");
}

// The store's copy-on-write over the embedded fleet (here because the store sits below the
// fixture loader).
use crate::{
    model::{ActionType, Scope, TenantId},
    store::{NewAction, Store, StoreOptions, Visibility},
};
use time::OffsetDateTime;

fn isolate(requestor: &str) -> NewAction {
    NewAction {
        action_type: ActionType::Isolate,
        comment: "c".into(),
        requestor: requestor.into(),
        scope: Some(Scope::Isolation(IsolationType::Full)),
        sha1: None,
    }
}

#[test]
fn a_tenant_copies_a_machine_only_when_it_changes_it() {
    let store = Store::new(default_fleet().unwrap(), StoreOptions::default());
    let tid = |s: &str| TenantId::parse(&format!("{s}.example.com")).unwrap();
    let (a, b) = (store.tenant(&tid("a")), store.tenant(&tid("b")));
    let now = OffsetDateTime::now_utc();
    let id = a.resolve("dc01", &Visibility::All).unwrap();
    assert!(a.machine(&id, now).is_some());
    assert_eq!(a.machines(&Visibility::All, now).len(), 24);
    assert!(a.view(&id, now).is_some());
    assert_eq!(a.copied(), 0, "reads copy nothing");
    a.submit(&id, isolate("x"), now).unwrap();
    assert_eq!(a.copied(), 1);
    assert_eq!(a.view(&id, now).unwrap().in_flight_actions.len(), 1);
    assert!(
        b.view(&id, now).unwrap().in_flight_actions.is_empty(),
        "b still reads the fleet"
    );
    assert_eq!(b.copied(), 0);
}
