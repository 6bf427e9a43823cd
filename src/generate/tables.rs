//! The generator's weighted tables: device groups, OS versions and builds, roles, tags, health,
//! risk and exposure mixes, chosen to look like a real fleet.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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
pub(super) struct Group {
    pub(super) name: Option<&'static str>,
    pub(super) id: i64,
    pub(super) prefix: &'static str,
    pub(super) weight: u32,
    pub(super) kinds: &'static [(Kind, u32)],
    pub(super) tag: Option<&'static str>,
    pub(super) net: u8,
}

pub(super) const GROUPS: &[Group] = &[
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
pub(super) const WINDOWS_CLIENTS: &[((&str, &str, i64), u32)] = &[
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
pub(super) const KIOSKS: &[((&str, &str, i64), u32)] = &[
    (("Windows10", "1809", 17763), 45),
    (("Windows10", "21H2", 19044), 40),
    (("Windows11", "24H2", 26100), 15),
];

pub(super) const WINDOWS_SERVERS: &[((&str, &str, i64), u32)] = &[
    (("WindowsServer2025", "24H2", 26100), 4),
    (("WindowsServer2022", "21H2", 20348), 36),
    (("WindowsServer2019", "1809", 17763), 30),
    (("WindowsServer2016", "1607", 14393), 18),
    (("WindowsServer2012R2", "6.3", 9600), 10),
    (("WindowsServer2008R2", "6.1", 7601), 2),
];

pub(super) const LINUX: &[((&str, &str), u32)] = &[
    (("Ubuntu", "22.04"), 30),
    (("Ubuntu", "24.04"), 15),
    (("Ubuntu", "20.04"), 10),
    (("RedHatEnterpriseLinux", "9.4"), 15),
    (("RedHatEnterpriseLinux", "8.10"), 10),
    (("Debian", "12"), 8),
    (("AmazonLinux", "2023"), 5),
    (("Linux", "9.3"), 7),
];

pub(super) const MACOS: &[(&str, u32)] = &[("15.1", 35), ("14.7", 40), ("13.6", 25)];

pub(super) const MOBILE: &[((&str, &str), u32)] = &[
    (("iOS", "18.1"), 40),
    (("iOS", "17.5"), 20),
    (("Android", "14"), 30),
    (("Android", "13"), 10),
];

pub(super) const UNIFIED_AGENTS: &[(&str, u32)] = &[
    ("101.24072.0001", 20),
    ("101.24082.0004", 30),
    ("101.24092.0002", 35),
    ("101.25012.0006", 15),
];

pub(super) const SERVER_ROLES: &[((&str, &[&str]), u32)] = &[
    (("dc", &["DomainController", "Tier0"]), 10),
    (("sql", &["SQL"]), 20),
    (("file", &["FileServer"]), 15),
    (("app", &[]), 25),
    (("web", &["Web"]), 15),
    (("rds", &["RDS"]), 8),
    (("ca", &["PKI", "Tier0"]), 2),
    (("exch", &["Exchange"]), 5),
];

pub(super) const LINUX_ROLES: &[((&str, &[&str]), u32)] = &[
    (("web-lnx", &["Web"]), 30),
    (("api-lnx", &["Web"]), 20),
    (("db-lnx", &["Database"]), 15),
    (("k8s-node", &["Kubernetes"]), 25),
    (("build-lnx", &["CI"]), 10),
];

pub(super) const EXTRA_TAGS: &[(&str, u32)] = &[
    ("Pilot", 30),
    ("Remote", 30),
    ("Contractor", 15),
    ("PCI", 10),
    ("Lab", 15),
];

pub(super) const HEALTH: &[(&str, u32)] = &[
    ("Active", 880),
    ("Inactive", 60),
    ("ImpairedCommunication", 20),
    ("NoSensorData", 20),
    ("NoSensorDataImpairedCommunication", 10),
    ("Unknown", 10),
];

pub(super) const RISK: &[(&str, u32)] = &[
    ("None", 25),
    ("Informational", 30),
    ("Low", 20),
    ("Medium", 15),
    ("High", 10),
];

pub(super) const EXPOSURE: &[(&str, u32)] =
    &[("None", 3), ("Low", 37), ("Medium", 40), ("High", 20)];
pub(super) const LEGACY_EXPOSURE: &[(&str, u32)] = &[("Medium", 40), ("High", 60)];
