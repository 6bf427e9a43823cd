//! Unit tests of one tenant's indexes and schedule: lookups by id, name and `aadDeviceId`, the
//! duplicate check and settling with long histories, and stale schedule entries.

use time::Duration;

use super::*;
use crate::store::{SimulationOverride, Store};

fn machine(id: char, name: &str, aad: Option<&str>, last_seen: &str) -> FleetMachine {
    let json = serde_json::json!({
        "id": id.to_string().repeat(40),
        "computerDnsName": name,
        "firstSeen": "2024-01-01T00:00:00Z",
        "lastSeen": last_seen,
        "osPlatform": "Windows11",
        "aadDeviceId": aad,
        "rbacGroupName": "Finance",
    });
    FleetMachine {
        machine: Arc::new(serde_json::from_value(json).unwrap()),
        isolation: None,
        restricted: false,
        simulation: SimulationOverride::default(),
        logon_users: Box::default(),
    }
}

fn tenant_with(options: StoreOptions) -> Arc<Tenant> {
    let fleet = vec![
        machine(
            'a',
            "fin-01.contoso.com",
            Some("0B5C7C4E-AAAA-4BBB-8CCC-000000000001"),
            "2024-06-01T00:00:00Z",
        ),
        machine('b', "FIN-02.contoso.com", None, "2024-06-01T00:00:00Z"),
        // The same short name as `a`, seen later: a name lookup picks this one.
        machine('c', "fin-01.fabrikam.com", None, "2024-07-01T00:00:00Z"),
    ];
    let store = Store::new(fleet, options);
    store.tenant(&crate::model::TenantId::parse("contoso.example.com").unwrap())
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
}

fn new(kind: ActionType, sha1: Option<&str>) -> NewAction {
    NewAction {
        action_type: kind,
        comment: "c".into(),
        requestor: "r".into(),
        scope: (kind == ActionType::Isolate).then_some(Scope::Isolation(IsolationType::Full)),
        sha1: sha1.map(str::to_owned),
    }
}

fn id_of(t: &Tenant, key: MachineKey) -> String {
    t.machine(key, t0()).id.to_string()
}

#[test]
fn machines_are_found_by_id_name_short_name_and_aad_device_id_in_any_case() {
    let t = tenant_with(StoreOptions::default());
    let all = Visibility::All;
    let a = t.resolve(&"A".repeat(40), &all).unwrap();
    assert_eq!(id_of(&t, a), "a".repeat(40));
    let b = t.resolve("fin-02.CONTOSO.com", &all).unwrap();
    assert_eq!(id_of(&t, b), "b".repeat(40));
    assert_eq!(t.resolve("Fin-02", &all).unwrap(), b, "short name");
    // Two machines answer to `fin-01`: the most recently seen wins; the full name is exact.
    assert_eq!(
        id_of(&t, t.resolve("fin-01", &all).unwrap()),
        "c".repeat(40)
    );
    assert_eq!(t.resolve("fin-01.contoso.com", &all).unwrap(), a);
    assert_eq!(
        t.resolve("0b5c7c4e-aaaa-4bbb-8ccc-000000000001", &all)
            .unwrap(),
        a,
        "aadDeviceId, any case"
    );
    for unknown in [
        "d".repeat(40),
        "fin-03".into(),
        "0b5c7c4e-aaaa-4bbb-8ccc-000000000002".into(),
    ] {
        assert!(t.resolve(&unknown, &all).is_err(), "{unknown}");
    }
    let other_group = Visibility::Groups(Arc::new(["Servers".to_owned()].into()));
    assert!(
        t.resolve(&"a".repeat(40), &other_group).is_err(),
        "invisible is unknown"
    );
}

#[test]
fn the_duplicate_check_ignores_thousands_of_terminal_actions() {
    let t = tenant_with(StoreOptions::default());
    let key = t.resolve(&"a".repeat(40), &Visibility::All).unwrap();
    let mut now = t0();
    for i in 0..4_000 {
        let kind = if i % 2 == 0 {
            ActionType::Isolate
        } else {
            ActionType::Unisolate
        };
        t.submit(key, new(kind, None), now).unwrap();
        now += Duration::minutes(2); // each completes (10 s pickup + 50 s) before the next
    }
    let view = t.view(key, now);
    assert!(view.in_flight_actions.is_empty());
    assert!(!view.isolated, "the last of the 4,000 was an unisolate");
    assert_eq!(t.action_count(), 4_000);
    // One in flight again: the next of its group is refused, other groups are not.
    t.submit(key, new(ActionType::Isolate, None), now).unwrap();
    let e = t
        .submit(key, new(ActionType::Unisolate, None), now)
        .unwrap_err();
    assert!(
        format!("{e:?}").contains("ActiveRequestAlreadyExists"),
        "{e:?}"
    );
    t.submit(key, new(ActionType::RunAntiVirusScan, None), now)
        .unwrap();
}

#[test]
fn quarantines_conflict_only_for_the_same_file() {
    let t = tenant_with(StoreOptions::default());
    let key = t.resolve(&"a".repeat(40), &Visibility::All).unwrap();
    for i in 0..2_000 {
        let sha1 = format!("{i:040x}");
        t.submit(
            key,
            new(ActionType::StopAndQuarantineFile, Some(&sha1)),
            t0(),
        )
        .unwrap();
    }
    let again = format!("{:040x}", 1_234);
    assert!(t
        .submit(
            key,
            new(ActionType::StopAndQuarantineFile, Some(&again)),
            t0()
        )
        .is_err());
    assert_eq!(t.view(key, t0()).in_flight_actions.len(), 2_000);
    // All 2,000 complete in one settle, in creation order.
    let later = t0() + Duration::hours(1);
    assert!(t.view(key, later).in_flight_actions.is_empty());
    let page = t.actions(&Visibility::All, &Default::default(), 10_000, later);
    assert!(page
        .rows
        .iter()
        .all(|a| a.status == ActionStatus::Succeeded));
    assert!(page
        .rows
        .iter()
        .all(|a| a.last_update_date_time_utc.0 == t0() + Duration::seconds(60)));
}

#[test]
fn transitions_due_together_apply_in_creation_order() {
    let options = StoreOptions {
        duplicate_policy: DuplicatePolicy::Allow,
        ..StoreOptions::default()
    };
    let t = tenant_with(options);
    let key = t.resolve(&"b".repeat(40), &Visibility::All).unwrap();
    t.submit(key, new(ActionType::Isolate, None), t0()).unwrap();
    t.submit(key, new(ActionType::Unisolate, None), t0())
        .unwrap();
    t.submit(key, new(ActionType::Isolate, None), t0()).unwrap();
    let view = t.view(key, t0() + Duration::days(1));
    assert!(
        view.isolated,
        "isolate, unisolate, isolate: isolated at the end"
    );
    assert!(view.in_flight_actions.is_empty());
}

#[test]
fn replanned_and_cancelled_actions_leave_stale_entries_that_change_nothing() {
    let t = tenant_with(StoreOptions::default());
    let key = t.resolve(&"a".repeat(40), &Visibility::All).unwrap();
    let offline = SimulationOverride {
        online: Some(false),
        ..SimulationOverride::default()
    };
    let online = SimulationOverride {
        online: Some(true),
        ..SimulationOverride::default()
    };
    let a = t
        .submit(key, new(ActionType::Isolate, None), t0())
        .unwrap()
        .into_action();
    // Offline before pickup: the 10 s pickup entry is stale; the action waits.
    t.set_simulation(key, offline, None, t0() + Duration::seconds(5));
    let at = |s| {
        t.action(a.id, &Visibility::All, t0() + Duration::seconds(s))
            .unwrap()
    };
    assert_eq!(at(3_600).status, ActionStatus::Pending);
    // Back online an hour in: picked up 10 s later, done 50 s after that.
    t.set_simulation(key, online, None, t0() + Duration::seconds(3_600));
    assert_eq!(at(3_609).status, ActionStatus::Pending);
    assert_eq!(at(3_610).status, ActionStatus::InProgress);
    assert_eq!(at(3_660).status, ActionStatus::Succeeded);
    assert_eq!(
        at(3_660).last_update_date_time_utc.0,
        t0() + Duration::seconds(3_660)
    );
    // A cancelled action's scheduled transitions change nothing.
    let s = t
        .submit(
            key,
            new(ActionType::Unisolate, None),
            t0() + Duration::seconds(4_000),
        )
        .unwrap();
    let s = s.into_action();
    t.cancel(
        s.id,
        &Visibility::All,
        "me",
        None,
        t0() + Duration::seconds(4_001),
    )
    .unwrap();
    let later = t
        .action(s.id, &Visibility::All, t0() + Duration::days(1))
        .unwrap();
    assert_eq!(later.status, ActionStatus::Cancelled);
    assert!(
        t.view(key, t0() + Duration::days(1)).isolated,
        "the unisolate never ran"
    );
}

#[test]
fn a_list_filtered_by_machine_id_walks_that_machines_history_only() {
    let options = StoreOptions {
        duplicate_policy: DuplicatePolicy::Allow,
        ..StoreOptions::default()
    };
    let t = tenant_with(options);
    let (a, b) = (
        t.resolve(&"a".repeat(40), &Visibility::All).unwrap(),
        t.resolve(&"b".repeat(40), &Visibility::All).unwrap(),
    );
    for i in 0..30 {
        let key = if i % 3 == 0 { a } else { b };
        t.submit(
            key,
            new(ActionType::Isolate, None),
            t0() + Duration::seconds(i),
        )
        .unwrap();
    }
    let query = |filter: &str| {
        let raw = format!(
            "$filter={}",
            form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
        );
        crate::odata::parse(Some(&raw), &crate::odata::MACHINE_ACTIONS).unwrap()
    };
    let later = t0() + Duration::seconds(61);
    let on_a = t.actions(
        &Visibility::All,
        &query(&format!("machineId eq '{}'", "A".repeat(40))),
        100,
        later,
    );
    assert_eq!(on_a.rows.len(), 10);
    assert!(on_a.rows.iter().all(|x| x.machine_id() == "a".repeat(40)));
    let created: Vec<_> = on_a.rows.iter().map(|x| x.creation_date_time_utc).collect();
    assert!(created.windows(2).all(|w| w[0] < w[1]), "creation order");
    // And-ed with more: the same answer as a scan of everything would give.
    let f = format!(
        "status eq 'Succeeded' and machineId eq '{}'",
        "a".repeat(40)
    );
    let done = t.actions(&Visibility::All, &query(&f), 100, later);
    assert_eq!(
        done.rows.len(),
        1,
        "only the first (created at t0, done 60 s later) has completed"
    );
    let none = t.actions(
        &Visibility::All,
        &query(&format!("machineId eq '{}'", "d".repeat(40))),
        100,
        later,
    );
    assert!(none.rows.is_empty());
    let either = t.actions(
        &Visibility::All,
        &query(&format!(
            "machineId eq '{}' or machineId eq '{}'",
            "a".repeat(40),
            "b".repeat(40)
        )),
        100,
        later,
    );
    assert_eq!(either.rows.len(), 30, "an `or` is not narrowed");
}

#[test]
fn stored_entities_stay_compact() {
    // What every machine and action costs before its strings; a change that grows them is a
    // change to the memory figures in BENCHMARKS.md.
    assert!(
        std::mem::size_of::<Machine>() <= 384,
        "{}",
        std::mem::size_of::<Machine>()
    );
    assert!(
        std::mem::size_of::<Slot>() <= 128,
        "{}",
        std::mem::size_of::<Slot>()
    );
    assert!(
        std::mem::size_of::<Plan>() <= 40,
        "{}",
        std::mem::size_of::<Plan>()
    );
}

#[test]
fn seeding_copies_the_fleet_once_and_keeps_every_key_an_action_holds() {
    let store = Store::new(
        vec![
            machine(
                'a',
                "fin-01.contoso.com",
                Some("0B5C7C4E-AAAA-4BBB-8CCC-000000000001"),
                "2024-06-01T00:00:00Z",
            ),
            machine('b', "fin-02.contoso.com", None, "2024-06-01T00:00:00Z"),
        ],
        StoreOptions::default(),
    );
    let tid = crate::model::TenantId::parse("contoso.example.com").unwrap();
    let t = store.tenant(&tid);
    let other = store.tenant(&crate::model::TenantId::parse("fabrikam.example.com").unwrap());
    let all = Visibility::All;
    let a = t.resolve(&"a".repeat(40), &all).unwrap();
    let acted = t
        .submit(a, new(ActionType::Isolate, None), t0())
        .unwrap()
        .into_action();
    assert!(
        Arc::ptr_eq(&t.read().fleet, &store.fleet),
        "shared until the first seed"
    );
    // Remove `a` (a tombstone), add `d` (appended), replace `b` (same key).
    t.remove(&"a".repeat(40), t0()).unwrap();
    let copy = Arc::as_ptr(&t.read().fleet);
    assert!(
        !std::ptr::eq(copy, Arc::as_ptr(&store.fleet)),
        "its own copy"
    );
    let b = t.resolve(&"b".repeat(40), &all).unwrap();
    let seeded = t
        .seed(
            vec![
                machine(
                    'd',
                    "fin-04.contoso.com",
                    Some("0b5c7c4e-aaaa-4bbb-8ccc-000000000001"),
                    "2024-06-01T00:00:00Z",
                ),
                machine('b', "fin-02b.contoso.com", None, "2024-06-01T00:00:00Z"),
            ],
            t0(),
        )
        .unwrap();
    assert_eq!((seeded.created, seeded.replaced), (1, 1));
    assert!(
        std::ptr::eq(Arc::as_ptr(&t.read().fleet), copy),
        "copied once"
    );
    assert!(Arc::ptr_eq(&other.read().fleet, &store.fleet));
    assert_eq!(
        t.resolve(&"b".repeat(40), &all).unwrap(),
        b,
        "a replace keeps the key"
    );
    assert!(t.resolve("fin-02", &all).is_err(), "the old name is gone");
    assert_eq!(t.resolve("fin-02b", &all).unwrap(), b);
    // The tombstone's key still reads for its action, which completes on it.
    assert!(t.resolve(&"a".repeat(40), &all).is_err());
    let done = t
        .action(acted.id, &all, t0() + Duration::minutes(5))
        .unwrap();
    assert_eq!(done.status, ActionStatus::Succeeded);
    assert_eq!(done.machine.id.as_ref(), "a".repeat(40));
    // The aadDeviceId the tombstone had now finds the new machine; lists show live machines in
    // id order.
    let d = t
        .resolve("0B5C7C4E-AAAA-4BBB-8CCC-000000000001", &all)
        .unwrap();
    assert_eq!(id_of(&t, d), "d".repeat(40));
    let page = t.machines(&all, &Default::default(), 10, t0());
    let ids: Vec<String> = page.rows.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, ["b".repeat(40), "d".repeat(40)]);
    // The other tenant still shares the fixtures, untouched.
    assert!(other.resolve(&"a".repeat(40), &all).is_ok());
    assert!(other.resolve(&"d".repeat(40), &all).is_err());
    // A snapshot of the seeded tenant restores to the same answers.
    let snap = t.snapshot(&store.fleet);
    let back = Tenant::restore(
        snap,
        &store.fleet,
        &store.alerts,
        StoreOptions::default(),
        None,
    )
    .unwrap();
    assert_eq!(back.resolve("fin-02b", &all).unwrap(), b);
    assert!(back.resolve(&"a".repeat(40), &all).is_err());
    let again = back
        .action(acted.id, &all, t0() + Duration::minutes(5))
        .unwrap();
    assert_eq!(again.status, ActionStatus::Succeeded);
}
