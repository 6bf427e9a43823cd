//! `defender-mock fixtures generate`: a realistic synthetic fleet for demos and load tests: an OS
//! mix (Windows 10/11 clients of several releases, Windows Server 2008 R2 to 2025, Linux
//! distributions, macOS, iOS and Android), device groups with their ids, tags, health, risk,
//! exposure, device value, internal and external addresses, first and last seen. The same
//! `--count` and `--seed` always give the same bytes. The output is a machine file the fixture
//! loader reads (`serve --fixtures DIR`).
//!
//! The generator draws from a small SplitMix64 stream (no `rand` dependency: it needs nothing but
//! a reproducible sequence); machine ids are the SHA-1 of the seed and the machine's index, so
//! they are unique and 40 hex characters like the real ones; computer names carry a per-kind
//! serial, so they are unique too.

use std::{
    collections::HashMap,
    fmt::Write as _,
    io,
    path::{Path, PathBuf},
};

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use time::{macros::datetime, Duration, OffsetDateTime};

use crate::model::Timestamp;

/// Flags of `fixtures`.
#[derive(Debug, Args)]
pub struct FixturesArgs {
    #[command(subcommand)]
    pub command: FixturesCommand,
}

/// The `fixtures` subcommands.
#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Write a synthetic fleet (deterministic for a seed) to DIR/machines.json, or to stdout.
    Generate(GenerateArgs),
}

/// Flags of `fixtures generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many machines.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub count: u64,
    /// The seed: the same count and seed give byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder to write `machines.json` into (created if missing); without it, stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `fixtures generate`: the file written, or `None` when the fleet went to stdout.
pub(crate) fn run(args: &GenerateArgs) -> io::Result<Option<PathBuf>> {
    let count = usize::try_from(args.count).unwrap_or(usize::MAX);
    let text = fleet_json(count, args.seed);
    match &args.out {
        None => {
            use std::io::Write;
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(None)
        }
        Some(dir) => write_to(dir, &text).map(Some),
    }
}

fn write_to(dir: &Path, text: &str) -> io::Result<PathBuf> {
    let context = |what: &str, path: &Path, e: io::Error| {
        io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| context("create", dir, e))?;
    let file = dir.join("machines.json");
    std::fs::write(&file, text).map_err(|e| context("write", &file, e))?;
    Ok(file)
}

/// The fleet as the text of a machine file (a pretty-printed JSON array, newline-terminated).
pub(crate) fn fleet_json(count: usize, seed: u64) -> String {
    let machines = Generator::new(seed).fleet(count);
    let mut text = serde_json::to_string_pretty(&Value::Array(machines)).unwrap_or_default();
    text.push('\n');
    text
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    fn range(&mut self, low: u64, high_inclusive: u64) -> u64 {
        low + self.below(high_inclusive - low + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`, each as likely as its weight.
    fn pick<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut n = self.below(total);
        for (item, w) in items {
            if n < u64::from(*w) {
                return item;
            }
            n -= u64::from(*w);
        }
        &items[items.len() - 1].0
    }

    fn guid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    fn mac(&mut self) -> String {
        format!("{:012X}", self.next() & 0xFFFF_FFFF_FFFF)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Laptop,
    Desktop,
    Mac,
    Kiosk,
    Server,
    LinuxServer,
    Mobile,
}

/// A device group: its name and id (`rbacGroupName`/`rbacGroupId`), host-name prefix, share of the
/// fleet, device kinds, its own tag, and the second octet of its internal network.
struct Group {
    name: Option<&'static str>,
    id: i64,
    prefix: &'static str,
    weight: u32,
    kinds: &'static [(Kind, u32)],
    tag: Option<&'static str>,
    net: u8,
}

const GROUPS: &[Group] = &[
    Group {
        name: Some("Finance"),
        id: 140,
        prefix: "fin",
        weight: 12,
        kinds: &[(Kind::Laptop, 60), (Kind::Desktop, 40)],
        tag: Some("Finance"),
        net: 60,
    },
    Group {
        name: Some("HR"),
        id: 141,
        prefix: "hr",
        weight: 6,
        kinds: &[(Kind::Laptop, 50), (Kind::Desktop, 50)],
        tag: Some("HR"),
        net: 61,
    },
    Group {
        name: Some("Engineering"),
        id: 142,
        prefix: "eng",
        weight: 20,
        kinds: &[(Kind::Laptop, 55), (Kind::Desktop, 30), (Kind::Mac, 15)],
        tag: Some("Engineering"),
        net: 62,
    },
    Group {
        name: Some("Sales"),
        id: 143,
        prefix: "sales",
        weight: 14,
        kinds: &[(Kind::Laptop, 85), (Kind::Desktop, 5), (Kind::Mac, 10)],
        tag: Some("Sales"),
        net: 63,
    },
    Group {
        name: Some("Design"),
        id: 144,
        prefix: "design",
        weight: 5,
        kinds: &[(Kind::Mac, 80), (Kind::Laptop, 20)],
        tag: Some("Mac"),
        net: 64,
    },
    Group {
        name: Some("Executives"),
        id: 145,
        prefix: "exec",
        weight: 2,
        kinds: &[(Kind::Laptop, 70), (Kind::Mac, 30)],
        tag: Some("VIP"),
        net: 65,
    },
    Group {
        name: Some("Kiosks"),
        id: 146,
        prefix: "kiosk",
        weight: 3,
        kinds: &[(Kind::Kiosk, 1)],
        tag: Some("Kiosk"),
        net: 66,
    },
    Group {
        name: Some("Servers"),
        id: 150,
        prefix: "srv",
        weight: 15,
        kinds: &[(Kind::Server, 1)],
        tag: None,
        net: 70,
    },
    Group {
        name: Some("Linux Servers"),
        id: 151,
        prefix: "lnx",
        weight: 13,
        kinds: &[(Kind::LinuxServer, 1)],
        tag: None,
        net: 71,
    },
    Group {
        name: None,
        id: 0,
        prefix: "byod",
        weight: 5,
        kinds: &[(Kind::Mobile, 1)],
        tag: None,
        net: 20,
    },
];

/// (osPlatform, version, osBuild) of Windows clients, with their share.
const WINDOWS_CLIENTS: &[((&str, &str, i64), u32)] = &[
    (("Windows11", "24H2", 26100), 24),
    (("Windows11", "23H2", 22631), 20),
    (("Windows11", "22H2", 22621), 6),
    (("Windows10", "22H2", 19045), 30),
    (("Windows10", "21H2", 19044), 8),
    (("Windows10", "20H2", 19042), 3),
    (("Windows10", "1809", 17763), 4),
    (("Windows10", "1709", 16299), 1),
    (("Windows10", "1703", 15063), 1),
    (("Windows10", "1607", 14393), 3),
];

/// Kiosks run the long-term servicing channels.
const KIOSKS: &[((&str, &str, i64), u32)] = &[
    (("Windows10", "1809", 17763), 45),
    (("Windows10", "21H2", 19044), 40),
    (("Windows11", "24H2", 26100), 15),
];

const WINDOWS_SERVERS: &[((&str, &str, i64), u32)] = &[
    (("WindowsServer2025", "24H2", 26100), 4),
    (("WindowsServer2022", "21H2", 20348), 36),
    (("WindowsServer2019", "1809", 17763), 30),
    (("WindowsServer2016", "1607", 14393), 18),
    (("WindowsServer2012R2", "6.3", 9600), 10),
    (("WindowsServer2008R2", "6.1", 7601), 2),
];

const LINUX: &[((&str, &str), u32)] = &[
    (("Ubuntu", "22.04"), 30),
    (("Ubuntu", "24.04"), 15),
    (("Ubuntu", "20.04"), 10),
    (("RedHatEnterpriseLinux", "9.4"), 15),
    (("RedHatEnterpriseLinux", "8.10"), 10),
    (("Debian", "12"), 8),
    (("AmazonLinux", "2023"), 5),
    (("Linux", "9.3"), 7),
];

const MACOS: &[(&str, u32)] = &[("15.1", 35), ("14.7", 40), ("13.6", 25)];

const MOBILE: &[((&str, &str), u32)] = &[
    (("iOS", "18.1"), 40),
    (("iOS", "17.5"), 20),
    (("Android", "14"), 30),
    (("Android", "13"), 10),
];

const UNIFIED_AGENTS: &[(&str, u32)] = &[
    ("101.24072.0001", 20),
    ("101.24082.0004", 30),
    ("101.24092.0002", 35),
    ("101.25012.0006", 15),
];

const SERVER_ROLES: &[((&str, &[&str]), u32)] = &[
    (("dc", &["DomainController", "Tier0"]), 10),
    (("sql", &["SQL"]), 20),
    (("file", &["FileServer"]), 15),
    (("app", &[]), 25),
    (("web", &["Web"]), 15),
    (("rds", &["RDS"]), 8),
    (("ca", &["PKI", "Tier0"]), 2),
    (("exch", &["Exchange"]), 5),
];

const LINUX_ROLES: &[((&str, &[&str]), u32)] = &[
    (("web-lnx", &["Web"]), 30),
    (("api-lnx", &["Web"]), 20),
    (("db-lnx", &["Database"]), 15),
    (("k8s-node", &["Kubernetes"]), 25),
    (("build-lnx", &["CI"]), 10),
];

const EXTRA_TAGS: &[(&str, u32)] = &[
    ("Pilot", 30),
    ("Remote", 30),
    ("Contractor", 15),
    ("PCI", 10),
    ("Lab", 15),
];

const HEALTH: &[(&str, u32)] = &[
    ("Active", 880),
    ("Inactive", 60),
    ("ImpairedCommunication", 20),
    ("NoSensorData", 20),
    ("NoSensorDataImpairedCommunication", 10),
    ("Unknown", 10),
];

const RISK: &[(&str, u32)] = &[
    ("None", 25),
    ("Informational", 30),
    ("Low", 20),
    ("Medium", 15),
    ("High", 10),
];

const EXPOSURE: &[(&str, u32)] = &[("None", 3), ("Low", 37), ("Medium", 40), ("High", 20)];
const LEGACY_EXPOSURE: &[(&str, u32)] = &[("Medium", 40), ("High", 60)];

/// "Now" for the synthetic fleet: fixed, so a seed gives the same dates on any day.
const REFERENCE: OffsetDateTime = datetime!(2026-11-28 00:00 UTC);

/// The OS of one machine, as the Machine entity spells it.
struct Os {
    platform: &'static str,
    version: &'static str,
    build: Option<i64>,
    processor: &'static str,
    agent: String,
    /// Out of support or close to it: more exposed, often tagged.
    legacy: bool,
    windows: bool,
}

struct Generator {
    rng: Rng,
    seed: u64,
    serials: HashMap<String, u32>,
    subscriptions: [String; 3],
}

impl Generator {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed ^ 0xD3FE_0D3F_0000_A991);
        let subscriptions = [rng.guid(), rng.guid(), rng.guid()];
        Self {
            rng,
            seed,
            serials: HashMap::new(),
            subscriptions,
        }
    }

    fn fleet(&mut self, count: usize) -> Vec<Value> {
        let groups: Vec<(usize, u32)> = GROUPS
            .iter()
            .enumerate()
            .map(|(i, g)| (i, g.weight))
            .collect();
        (0..count)
            .map(|index| {
                let group = &GROUPS[*self.rng.pick(&groups)];
                let kind = *self.rng.pick(group.kinds);
                self.machine(index, group, kind)
            })
            .collect()
    }

    /// The next serial of a host-name stem: names are unique because serials are.
    fn host(&mut self, stem: String, domain: &str) -> String {
        let serial = self.serials.entry(stem.clone()).or_insert(0);
        *serial += 1;
        format!("{stem}{:04}{domain}", *serial)
    }

    fn windows(&mut self, table: &[((&'static str, &'static str, i64), u32)]) -> Os {
        let (platform, version, build) = *self.rng.pick(table);
        let arm = platform == "Windows11" && self.rng.chance(3);
        Os {
            platform,
            version,
            build: Some(build),
            processor: if arm { "arm64" } else { "x64" },
            agent: format!("10.8760.{build}.{}", self.rng.range(1000, 1199)),
            legacy: build < 17763 || platform == "WindowsServer2016",
            windows: true,
        }
    }

    fn os(&mut self, kind: Kind) -> Os {
        match kind {
            Kind::Laptop | Kind::Desktop => self.windows(WINDOWS_CLIENTS),
            Kind::Kiosk => self.windows(KIOSKS),
            Kind::Server => self.windows(WINDOWS_SERVERS),
            Kind::LinuxServer => {
                let (platform, version) = *self.rng.pick(LINUX);
                Os {
                    platform,
                    version,
                    build: None,
                    processor: if self.rng.chance(10) { "arm64" } else { "x64" },
                    agent: (*self.rng.pick(UNIFIED_AGENTS)).to_owned(),
                    legacy: version == "20.04",
                    windows: false,
                }
            }
            Kind::Mac => Os {
                platform: "macOS",
                version: self.rng.pick::<&str>(MACOS),
                build: None,
                processor: if self.rng.chance(80) { "arm64" } else { "x64" },
                agent: (*self.rng.pick(UNIFIED_AGENTS)).to_owned(),
                legacy: false,
                windows: false,
            },
            Kind::Mobile => {
                let (platform, version) = *self.rng.pick(MOBILE);
                let agent = if platform == "iOS" {
                    "1.1.55230101"
                } else {
                    "1.0.7128.0101"
                };
                Os {
                    platform,
                    version,
                    build: None,
                    processor: "arm64",
                    agent: agent.to_owned(),
                    legacy: false,
                    windows: false,
                }
            }
        }
    }

    fn id(&self, index: usize) -> String {
        let digest = Sha1::digest(format!("defender-mock fleet {} {index}", self.seed));
        let mut id = String::with_capacity(40);
        for b in digest {
            let _ = write!(id, "{b:02x}");
        }
        id
    }

    /// An instant `days_back` days (plus a random part of a day) before [`REFERENCE`], with the
    /// 7 fractional digits Defender writes.
    fn before_reference(&mut self, days_back: u64) -> OffsetDateTime {
        let seconds = days_back * 86_400 + self.rng.below(86_400);
        let ticks = self.rng.below(10_000_000);
        REFERENCE - Duration::seconds(seconds as i64) + Duration::nanoseconds(ticks as i64 * 100)
    }

    fn machine(&mut self, index: usize, group: &Group, kind: Kind) -> Value {
        let mut tags: Vec<&str> = Vec::new();
        let name = match kind {
            Kind::Laptop => self.host(format!("{}-lt-", group.prefix), ".contoso.com"),
            Kind::Desktop => self.host(format!("{}-dt-", group.prefix), ".contoso.com"),
            Kind::Mac => self.host(format!("{}-mbp-", group.prefix), ".contoso.com"),
            Kind::Kiosk => self.host("kiosk-".to_owned(), ".contoso.com"),
            Kind::Server => {
                let (role, role_tags) = *self.rng.pick(SERVER_ROLES);
                tags.extend(role_tags);
                self.host(format!("{role}-"), ".corp.contoso.com")
            }
            Kind::LinuxServer => {
                let (role, role_tags) = *self.rng.pick(LINUX_ROLES);
                tags.extend(role_tags);
                self.host(format!("{role}-"), ".corp.contoso.com")
            }
            Kind::Mobile => {
                let stem = if self.rng.chance(80) {
                    "byod-phone-"
                } else {
                    "byod-tablet-"
                };
                self.host(stem.to_owned(), "")
            }
        };
        let os = self.os(kind);
        let client = matches!(kind, Kind::Laptop | Kind::Desktop | Kind::Kiosk);

        if let Some(tag) = group.tag {
            if self.rng.chance(70) {
                tags.push(tag);
            }
        }
        if kind == Kind::Laptop && self.rng.chance(30) {
            tags.push("Laptop");
        }
        if os.legacy && self.rng.chance(60) {
            tags.push("Legacy");
        }
        if matches!(os.version, "1607" | "1703" | "1709" | "6.1") && self.rng.chance(50) {
            tags.push("EOL");
        }
        if kind != Kind::Mobile && self.rng.chance(12) {
            let extra = *self.rng.pick(EXTRA_TAGS);
            if !tags.contains(&extra) {
                tags.push(extra);
            }
        }

        let health = *self.rng.pick(HEALTH);
        let first_back = self.rng.range(30, 1000);
        let first_seen = self.before_reference(first_back);
        let last_back = match health {
            "Active" => self.rng.below(3),
            "Inactive" => self.rng.range(8, 120),
            _ => self.rng.range(1, 7),
        };
        let last_seen = self
            .before_reference(last_back)
            .max(first_seen + Duration::hours(1));

        let risk = *self.rng.pick(RISK);
        let exposure = if os.legacy {
            *self.rng.pick(LEGACY_EXPOSURE)
        } else {
            *self.rng.pick(EXPOSURE)
        };
        let device_value = if group.name == Some("Executives") || tags.contains(&"Tier0") {
            "High"
        } else if kind == Kind::Kiosk && self.rng.chance(40) {
            "Low"
        } else {
            *self.rng.pick(&[("Normal", 90), ("High", 7), ("Low", 3)])
        };

        let aad_joined = client || (kind == Kind::Server && self.rng.chance(20));
        let aad_device_id = aad_joined.then(|| self.rng.guid());
        let av_status = if kind == Kind::Mobile {
            "NotSupported"
        } else if health == "Inactive" {
            *self
                .rng
                .pick(&[("NotUpdated", 70), ("Updated", 25), ("Unknown", 5)])
        } else {
            *self.rng.pick(&[
                ("Updated", 88),
                ("NotUpdated", 8),
                ("Disabled", 2),
                ("Unknown", 2),
            ])
        };
        let (managed_by, managed_status) = match kind {
            Kind::Laptop | Kind::Desktop | Kind::Kiosk => {
                if self.rng.chance(72) {
                    ("Intune", "Success")
                } else {
                    ("ConfigMgr", "Success")
                }
            }
            Kind::Server => {
                if self.rng.chance(50) {
                    ("ConfigMgr", "Success")
                } else {
                    ("MicrosoftDefenderForEndpoint", "Success")
                }
            }
            Kind::Mac if self.rng.chance(50) => ("Intune", "Success"),
            _ => ("MicrosoftDefenderForEndpoint", "Unknown"),
        };

        let last_ip = format!(
            "10.{}.{}.{}",
            group.net,
            self.rng.below(256),
            self.rng.range(2, 254)
        );
        let external = {
            let net = *self
                .rng
                .pick(&[("203.0.113", 60), ("198.51.100", 30), ("192.0.2", 10)]);
            format!("{net}.{}", self.rng.range(1, 254))
        };
        let mac = self.rng.mac();
        let wireless =
            matches!(kind, Kind::Laptop | Kind::Mac | Kind::Mobile) && self.rng.chance(60);
        let if_type = if wireless {
            "Wireless80211"
        } else {
            "Ethernet"
        };
        let mut addresses = vec![json!({
            "ipAddress": last_ip, "macAddress": mac, "type": if_type, "operationalStatus": "Up"
        })];
        if kind != Kind::Mobile && self.rng.chance(50) {
            let link_local = format!(
                "fe80::{:x}:{:x}:{:x}:{:x}",
                self.rng.below(0x10000),
                self.rng.below(0x10000),
                self.rng.below(0x10000),
                self.rng.below(0x10000)
            );
            addresses.push(json!({
                "ipAddress": link_local, "macAddress": mac, "type": if_type, "operationalStatus": "Up"
            }));
        }
        if kind != Kind::Mobile {
            addresses.push(json!({
                "ipAddress": "127.0.0.1", "macAddress": null, "type": "SoftwareLoopback", "operationalStatus": "Up"
            }));
        }

        let vm_metadata = if matches!(kind, Kind::Server | Kind::LinuxServer) && self.rng.chance(45)
        {
            let subscription = self.subscriptions[self.rng.below(3) as usize].clone();
            let host = name.split('.').next().unwrap_or_default();
            let rg = *self
                .rng
                .pick(&[("prod", 60), ("staging", 25), ("shared", 15)]);
            json!({
                "vmId": self.rng.guid(),
                "cloudProvider": "Azure",
                "resourceId": format!("/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{host}"),
                "subscriptionId": subscription,
            })
        } else {
            Value::Null
        };

        let mut machine = json!({
            "id": self.id(index),
            "mergedIntoMachineId": null,
            "isPotentialDuplication": false,
            "isExcluded": false,
            "exclusionReason": null,
            "computerDnsName": name,
            "firstSeen": Timestamp(first_seen).to_string(),
            "lastSeen": Timestamp(last_seen).to_string(),
            "osPlatform": os.platform,
            "osVersion": null,
            "osProcessor": os.processor,
            "version": os.version,
            "lastIpAddress": last_ip,
            "lastExternalIpAddress": external,
            "agentVersion": os.agent,
            "osBuild": os.build,
            "healthStatus": health,
            "deviceValue": device_value,
            "rbacGroupId": group.id,
            "rbacGroupName": group.name,
            "riskScore": risk,
            "exposureLevel": exposure,
            "isAadJoined": aad_joined,
            "aadDeviceId": aad_device_id,
            "machineTags": tags,
            "defenderAvStatus": av_status,
            "onboardingStatus": "Onboarded",
            "osArchitecture": "64-bit",
            "managedBy": managed_by,
            "managedByStatus": managed_status,
            "ipAddresses": addresses,
            "vmMetadata": vm_metadata,
        });
        // A few current Windows clients start isolated, as in a fleet mid-incident.
        let isolatable = os.windows && client && os.build.is_some_and(|b| b >= 19041);
        if isolatable && self.rng.chance(1) {
            let scope = if self.rng.chance(80) {
                "Full"
            } else {
                "Selective"
            };
            machine["isolation"] = json!(scope);
        }
        machine
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
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
    }

    #[test]
    fn the_mix_is_realistic() {
        let text = fleet_json(2000, 1);
        let fleet = parse_machines(Path::new("m.json"), &text, &mut HashSet::new()).unwrap();
        let mut platforms: HashMap<&str, usize> = HashMap::new();
        for m in &fleet {
            *platforms.entry(m.machine.os_platform.as_str()).or_default() += 1;
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
            if m.machine.os_platform == "Windows10" {
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
            .map(|m| m.machine.health_status.as_str())
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
}
