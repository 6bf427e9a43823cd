//! One synthetic machine at a time: OS, group, names, addresses, health and tags drawn from the
//! tables with the seeded generator.

use super::{tables::*, *};

/// The OS of one machine, as the Machine entity spells it.
pub(super) struct Os {
    platform: &'static str,
    version: &'static str,
    build: Option<i64>,
    processor: &'static str,
    agent: String,
    /// Out of support or close to it: more exposed, often tagged.
    legacy: bool,
    windows: bool,
}

pub(super) struct Generator {
    rng: Rng,
    seed: u64,
    serials: HashMap<String, u32>,
    subscriptions: [String; 3],
}

impl Generator {
    pub(super) fn new(seed: u64) -> Self {
        let mut rng = Rng(seed ^ 0xD3FE_0D3F_0000_A991);
        let subscriptions = [rng.guid(), rng.guid(), rng.guid()];
        Self {
            rng,
            seed,
            serials: HashMap::new(),
            subscriptions,
        }
    }

    pub(super) fn fleet(&mut self, count: usize) -> Vec<Value> {
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
