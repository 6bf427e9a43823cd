//! One synthetic machine at a time: group, names and tags here, the OS (`os`), addresses
//! (`network`) and health, risk and management (`posture`) in siblings, all drawn from the tables
//! with the seeded generator in one fixed order.

use super::{
    network::Network,
    os::Os,
    posture::{Management, Seen, Standing},
    tables::*,
    *,
};

/// The seeded draw stream, plus what must stay unique or shared across the fleet.
pub(super) struct Generator {
    pub(super) rng: Rng,
    seed: u64,
    serials: HashMap<String, u32>,
    pub(super) subscriptions: [String; 3],
}

/// Everything drawn for one machine, ready to be written as a Machine entity.
struct Drawn {
    name: String,
    os: Os,
    tags: Vec<&'static str>,
    seen: Seen,
    standing: Standing,
    management: Management,
    network: Network,
    vm_metadata: Value,
}

impl Generator {
    /// A generator for `seed`: draws the three Azure subscriptions first.
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

    /// Draws `count` machines, each from a weighted group and a kind of that group.
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

    /// The machine id: the SHA-1 of the seed and index, in hex (no draws).
    fn id(&self, index: usize) -> String {
        let digest = Sha1::digest(format!("defender-mock fleet {} {index}", self.seed));
        let mut id = String::with_capacity(40);
        for b in digest {
            let _ = write!(id, "{b:02x}");
        }
        id
    }

    /// Draws one machine, part by part in a fixed order (the order of the seeded draws), and
    /// writes it as a Machine entity.
    fn machine(&mut self, index: usize, group: &Group, kind: Kind) -> Value {
        let mut tags = Vec::new();
        let name = self.name(group, kind, &mut tags);
        let os = self.os(kind);
        self.tag(group, kind, &os, &mut tags);
        let seen = self.seen();
        let standing = self.standing(group, kind, &os, &tags);
        let management = self.management(kind, seen.health);
        let network = self.network(group, kind);
        let vm_metadata = self.vm_metadata(kind, &name);
        let isolation = self.isolation(kind, &os);
        let users = logon_users(group, kind, &name, &seen);
        let mut machine = self.entity(
            index,
            group,
            Drawn {
                name,
                os,
                tags,
                seen,
                standing,
                management,
                network,
                vm_metadata,
            },
        );
        if let Some(scope) = isolation {
            machine["isolation"] = json!(scope);
        }
        if !users.is_empty() {
            machine["logonUsers"] = Value::Array(users);
        }
        machine
    }

    /// Draws the computer name (a server's role first, whose tags go to `tags`).
    fn name(&mut self, group: &Group, kind: Kind, tags: &mut Vec<&'static str>) -> String {
        let prefix = group.prefix;
        match kind {
            Kind::Laptop => self.host(format!("{prefix}-lt-"), ".contoso.com"),
            Kind::Desktop => self.host(format!("{prefix}-dt-"), ".contoso.com"),
            Kind::Mac => self.host(format!("{prefix}-mbp-"), ".contoso.com"),
            Kind::Kiosk => self.host("kiosk-".to_owned(), ".contoso.com"),
            Kind::Server | Kind::LinuxServer => {
                let roles = if kind == Kind::Server {
                    SERVER_ROLES
                } else {
                    LINUX_ROLES
                };
                let (role, role_tags) = *self.rng.pick(roles);
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
        }
    }

    /// Draws the group, laptop, legacy, end-of-life and extra tags, after the role's.
    fn tag(&mut self, group: &Group, kind: Kind, os: &Os, tags: &mut Vec<&'static str>) {
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
    }

    /// Writes the drawn parts as a Machine entity, without isolation (no draws: the id is a
    /// digest of the seed and index).
    fn entity(&self, index: usize, group: &Group, d: Drawn) -> Value {
        json!({
            "id": self.id(index),
            "mergedIntoMachineId": null,
            "isPotentialDuplication": false,
            "isExcluded": false,
            "exclusionReason": null,
            "computerDnsName": d.name,
            "firstSeen": Timestamp(d.seen.first).to_string(),
            "lastSeen": Timestamp(d.seen.last).to_string(),
            "osPlatform": d.os.platform,
            "osVersion": null,
            "osProcessor": d.os.processor,
            "version": d.os.version,
            "lastIpAddress": d.network.last_ip,
            "lastExternalIpAddress": d.network.external,
            "agentVersion": d.os.agent,
            "osBuild": d.os.build,
            "healthStatus": d.seen.health,
            "deviceValue": d.standing.device_value,
            "rbacGroupId": group.id,
            "rbacGroupName": group.name,
            "riskScore": d.standing.risk,
            "exposureLevel": d.standing.exposure,
            "isAadJoined": d.management.aad_joined,
            "aadDeviceId": d.management.aad_device_id,
            "machineTags": d.tags,
            "defenderAvStatus": d.management.av_status,
            "onboardingStatus": "Onboarded",
            "osArchitecture": "64-bit",
            "managedBy": d.management.managed_by,
            "managedByStatus": d.management.managed_status,
            "ipAddresses": d.network.addresses,
            "vmMetadata": d.vm_metadata,
        })
    }
}

/// The users seen logging on (the fixture key `logonUsers`), made from the machine's name and
/// times without a draw, so the rest of the fleet is what the seed always gave: on kiosks the
/// kiosk account and a backup service account (network only), on the executives' Windows laptops
/// their owner and a tier-1 admin (remote interactive). Only these, a few percent of a fleet:
/// an entry with an emulator key costs start-up about twice a plain one's parse.
fn logon_users(group: &Group, kind: Kind, name: &str, seen: &Seen) -> Vec<Value> {
    let host = name.split('.').next().unwrap_or(name);
    let (first, last) = (
        Timestamp(seen.first).to_string(),
        Timestamp(seen.last).to_string(),
    );
    let user = |account: &str, types: &str, admin: bool, network_only: bool| {
        json!({
            "accountName": account,
            "accountDomain": "contoso",
            "firstSeen": first,
            "lastSeen": last,
            "logonTypes": types,
            "isDomainAdmin": admin,
            "isOnlyNetworkUser": network_only,
        })
    };
    match kind {
        Kind::Laptop if group.name == Some("Executives") => vec![
            user(&format!("user-{host}"), "Interactive", false, false),
            user("admin.tier1", "RemoteInteractive", true, false),
        ],
        Kind::Kiosk => vec![
            user("kiosk", "Interactive", false, false),
            user("svc-backup", "Network", false, true),
        ],
        _ => Vec::new(),
    }
}
