//! Unit tests of the fleet generator: it loads, it is realistic, it is deterministic.

use std::collections::{HashMap, HashSet};

use super::{tables::GROUPS, *};
use crate::fixtures::{parse_machines, Fleet};

#[test]
fn a_generated_fleet_loads_as_fixtures() {
    let text = fleet_json(500, 7);
    let fleet = parse_machines(Path::new("machines.json"), &text, &mut HashSet::new())
        .expect("the generated fleet loads");
    assert_eq!(fleet.len(), 500);
    let names: HashSet<_> = fleet
        .iter()
        .map(|m| m.machine.computer_dns_name.to_ascii_lowercase())
        .collect();
    assert_eq!(names.len(), 500, "computer names are unique");
    let ids: HashSet<_> = fleet.iter().map(|m| &m.machine.id).collect();
    assert_eq!(ids.len(), 500, "ids are unique");
    for m in &fleet {
        let m = &m.machine;
        assert!(m.id.len() == 40 && m.id.bytes().all(|b| b.is_ascii_hexdigit()));
        if let Some(aad) = &m.aad_device_id {
            assert!(uuid::Uuid::parse_str(aad).is_ok(), "{aad}");
        }
        assert!(m.first_seen < m.last_seen, "{}", m.computer_dns_name);
        assert!(m.last_ip_address.is_some() && m.last_external_ip_address.is_some());
        assert!(!m.ip_addresses.is_empty());
        assert_eq!(m.rbac_group_name.is_some(), m.rbac_group_id != 0);
    }
    let with_users = fleet.iter().filter(|m| !m.logon_users.is_empty()).count();
    assert!(
        (5..=60).contains(&with_users),
        "{with_users} of 500 have logon users"
    );
    let kiosk = fleet
        .iter()
        .find(|m| m.machine.computer_dns_name.starts_with("kiosk-"))
        .unwrap();
    assert_eq!(&*kiosk.logon_users[0].id, "contoso\\kiosk");
}

#[test]
fn the_mix_is_realistic() {
    let text = fleet_json(2000, 1);
    let fleet = parse_machines(Path::new("m.json"), &text, &mut HashSet::new()).unwrap();
    let mut platforms: HashMap<&str, usize> = HashMap::new();
    for m in &fleet {
        *platforms.entry(&*m.machine.os_platform).or_default() += 1;
        // Windows version and build agree (the OS support rules read either).
        let win10 = [
            ("22H2", 19045),
            ("21H2", 19044),
            ("20H2", 19042),
            ("1809", 17763),
            ("1709", 16299),
            ("1703", 15063),
            ("1607", 14393),
        ];
        if &*m.machine.os_platform == "Windows10" {
            let v = m.machine.version.as_deref().unwrap();
            assert!(win10.contains(&(v, m.machine.os_build.unwrap())), "{v}");
        }
    }
    for p in [
        "Windows10",
        "Windows11",
        "WindowsServer2022",
        "Ubuntu",
        "macOS",
        "iOS",
    ] {
        assert!(
            platforms.get(p).copied().unwrap_or(0) > 10,
            "{p}: {platforms:?}"
        );
    }
    let windows = platforms
        .iter()
        .filter(|(p, _)| p.starts_with("Windows"))
        .map(|(_, n)| n)
        .sum::<usize>();
    assert!(windows > 1000 && windows < 1600, "{platforms:?}");
    let groups: HashSet<_> = fleet.iter().map(|m| m.machine.rbac_group_id).collect();
    assert_eq!(groups.len(), GROUPS.len());
    let health: HashSet<_> = fleet
        .iter()
        .map(|m| <&str>::from(m.machine.health_status))
        .collect();
    assert!(health.len() >= 4, "{health:?}");
    assert!(fleet.iter().any(|m| m.isolation.is_some()));
    assert!(fleet.iter().any(|m| m.machine.machine_tags.len() >= 2));
}

#[test]
fn a_seed_gives_the_same_bytes_and_another_seed_differs() {
    assert_eq!(fleet_json(300, 42), fleet_json(300, 42));
    assert_ne!(fleet_json(300, 42), fleet_json(300, 43));
    // A longer fleet of the same seed starts with the same machines.
    let short: Value = serde_json::from_str(&fleet_json(10, 5)).unwrap();
    let long: Value = serde_json::from_str(&fleet_json(20, 5)).unwrap();
    assert_eq!(short[9], long[9]);
}

#[test]
fn the_command_writes_a_folder_serve_can_load() {
    let dir = std::env::temp_dir().join(format!(
        "defender-mock-generate-{}-{}",
        std::process::id(),
        REFERENCE.unix_timestamp()
    ));
    let args = GenerateArgs {
        count: 50,
        seed: 3,
        out: Some(dir.clone()),
    };
    let file = run(&args).unwrap().unwrap();
    assert_eq!(file, dir.join("machines.json"));
    let fleet = Fleet::from_dir(&dir).unwrap();
    assert_eq!(fleet.len(), 50);
    let _ = std::fs::remove_dir_all(&dir);
}
