//! Which actions a machine's OS supports (spec §2, §6) and which actions conflict with each other
//! (emulator-decisions "Machine actions": conflict groups).

use crate::{
    error::{ApiError, Code},
    model::{ActionType, IsolationType, Machine, Scope},
};

/// Actions of one group may not be in flight together on one machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ConflictGroup {
    Isolation,
    Restriction,
    Scan,
    Collection,
    Offboard,
    /// StopAndQuarantineFile conflicts only with itself for the same file.
    Quarantine(String),
    LiveResponse,
}

/// The conflict group of an action (`sha1` for StopAndQuarantineFile).
pub(crate) fn conflict_group(kind: ActionType, sha1: Option<&str>) -> ConflictGroup {
    match kind {
        ActionType::Isolate | ActionType::Unisolate => ConflictGroup::Isolation,
        ActionType::RestrictCodeExecution | ActionType::UnrestrictCodeExecution => {
            ConflictGroup::Restriction
        }
        ActionType::RunAntiVirusScan => ConflictGroup::Scan,
        ActionType::CollectInvestigationPackage => ConflictGroup::Collection,
        ActionType::Offboard => ConflictGroup::Offboard,
        ActionType::StopAndQuarantineFile => {
            ConflictGroup::Quarantine(sha1.unwrap_or_default().to_ascii_lowercase())
        }
        ActionType::LiveResponse => ConflictGroup::LiveResponse,
    }
}

/// Windows 10 build numbers of the feature releases, for machines whose fixture gives only `version`.
fn win10_build(version: &str) -> Option<i64> {
    Some(match version {
        "1507" => 10240,
        "1511" => 10586,
        "1607" => 14393,
        "1703" => 15063,
        "1709" => 16299,
        "1803" => 17134,
        "1809" => 17763,
        "1903" => 18362,
        "1909" => 18363,
        "2004" => 19041,
        "20H2" => 19042,
        "21H1" => 19043,
        "21H2" => 19044,
        "22H2" => 19045,
        _ => return None,
    })
}

const WIN10_1703: i64 = 15063;
const WIN10_1709: i64 = 16299;

/// The OS families the support rules distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Windows 10 with its build, if known (unknown = assume current).
    Win10(Option<i64>),
    Win11,
    /// Windows Server with its release year (2012 R2 = 2013 so that "2012 R2 and later" is `>= 2013`).
    Server(u16),
    /// Older Windows clients (7, 8.1) and anything Windows we cannot place.
    OldWindows,
    Linux,
    MacOs,
    Mobile,
    Other,
}

const LINUX_PLATFORMS: &[&str] = &[
    "linux",
    "ubuntu",
    "debian",
    "redhatenterpriselinux",
    "centos",
    "suse",
    "sles",
    "oraclelinux",
    "amazonlinux",
    "fedora",
    "rocky",
    "almalinux",
];

fn family(m: &Machine) -> Family {
    let p = m.os_platform.to_ascii_lowercase();
    if p == "windows10" {
        let build = m
            .os_build
            .filter(|b| *b > 0)
            .or_else(|| m.version.as_deref().and_then(win10_build));
        return Family::Win10(build);
    }
    if p == "windows11" {
        return Family::Win11;
    }
    if let Some(rest) = p.strip_prefix("windowsserver") {
        let year: u16 = rest.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
        let year = if year == 2012 && rest.contains("r2") {
            2013
        } else {
            year
        };
        return Family::Server(year);
    }
    if p == "azurestackhci" {
        return Family::Server(2023);
    }
    if p.starts_with("windows") {
        return Family::OldWindows;
    }
    if LINUX_PLATFORMS.iter().any(|l| p.starts_with(l)) {
        return Family::Linux;
    }
    if p == "macos" {
        return Family::MacOs;
    }
    if p == "ios" || p == "android" {
        return Family::Mobile;
    }
    Family::Other
}

fn win10_at_least(build: Option<i64>, min: i64) -> bool {
    build.is_none_or(|b| b >= min)
}

/// Whether `m` supports `kind` with isolation `scope` (spec §2, §6).
pub(crate) fn supports(m: &Machine, kind: ActionType, scope: Option<Scope>) -> bool {
    let f = family(m);
    let isolation = match scope {
        Some(Scope::Isolation(t)) => Some(t),
        _ => None,
    };
    match kind {
        ActionType::Isolate if isolation == Some(IsolationType::UnManagedDevice) => true,
        ActionType::Isolate if isolation == Some(IsolationType::Selective) => match f {
            Family::Win10(b) => win10_at_least(b, WIN10_1709),
            Family::Win11 | Family::MacOs => true,
            Family::Server(y) => y >= 2013,
            _ => false,
        },
        ActionType::Isolate | ActionType::Unisolate => match f {
            Family::Win10(b) => win10_at_least(b, WIN10_1703),
            Family::Win11 | Family::Linux | Family::MacOs => true,
            Family::Server(y) => y >= 2013,
            _ => false,
        },
        ActionType::RestrictCodeExecution | ActionType::UnrestrictCodeExecution => match f {
            Family::Win10(b) => win10_at_least(b, WIN10_1709),
            Family::Win11 => true,
            Family::Server(y) => y >= 2019,
            _ => false,
        },
        ActionType::RunAntiVirusScan => match f {
            Family::Win10(b) => win10_at_least(b, WIN10_1709),
            Family::Win11 => true,
            _ => false,
        },
        ActionType::StopAndQuarantineFile => match f {
            Family::Win10(b) => win10_at_least(b, WIN10_1703),
            Family::Win11 => true,
            _ => false,
        },
        // Windows 11, Windows 10 1703+, Server 2019+, and 2012 R2 / 2016 with the unified agent
        // (docs/contract/token-service.md §4).
        ActionType::Offboard => match f {
            Family::Win10(b) => win10_at_least(b, WIN10_1703),
            Family::Win11 => true,
            Family::Server(y) => y >= 2019 || (DOWN_LEVEL_SERVERS.contains(&y) && unified_agent(m)),
            _ => false,
        },
        ActionType::CollectInvestigationPackage | ActionType::LiveResponse => {
            !matches!(f, Family::Mobile)
        }
    }
}

/// Whether automated investigation runs on `m` (Start Investigation page: Windows 11, Windows 10
/// 1709 or later (with its cumulative update), Windows Server 2019 and later, Azure Stack HCI).
pub(crate) fn supports_investigation(m: &Machine) -> bool {
    match family(m) {
        Family::Win10(b) => win10_at_least(b, WIN10_1709),
        Family::Win11 => true,
        Family::Server(y) => y >= 2019,
        _ => false,
    }
}

/// Windows Server 2012 R2 (2013 here) and 2016: offboarding needs the unified agent.
const DOWN_LEVEL_SERVERS: &[u16] = &[2013, 2016];
/// The first sensor version of the unified agent for down-level servers (emulator decision: its
/// versions are 10.8xxx; the MMA-based sensor's are 10.3720 and the like).
const UNIFIED_AGENT_MINOR: u32 = 8000;

/// Whether `m` runs the unified agent: its `agentVersion` is 10.8000 or later, or not given.
fn unified_agent(m: &Machine) -> bool {
    let Some(v) = m.agent_version.as_deref() else {
        return true;
    };
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => major > 10 || (major == 10 && minor >= UNIFIED_AGENT_MINOR),
        _ => true,
    }
}

/// 400 `OsPlatformNotSupported` unless `m` supports the action; for offboarding a down-level
/// server without the unified agent, 400 `ClientVersionNotSupported`.
pub(crate) fn check_supported(
    m: &Machine,
    kind: ActionType,
    scope: Option<Scope>,
) -> Result<(), ApiError> {
    if supports(m, kind, scope) {
        return Ok(());
    }
    if kind == ActionType::Offboard
        && matches!(family(m), Family::Server(y) if DOWN_LEVEL_SERVERS.contains(&y))
    {
        return Err(ApiError::bad_request(
            Code::ClientVersionNotSupported,
            format!(
                "{} is supported on client version 10.{UNIFIED_AGENT_MINOR} and above.",
                kind.as_str()
            ),
        ));
    }
    let platform = match (&m.version, m.os_build) {
        (Some(v), _) if !v.is_empty() => format!("{} {v}", m.os_platform),
        (_, Some(b)) => format!("{} build {b}", m.os_platform),
        _ => m.os_platform.to_string(),
    };
    Err(ApiError::bad_request(
        Code::OsPlatformNotSupported,
        format!("OS Platform {platform} isn't supported for this action."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(platform: &str, version: Option<&str>, build: Option<i64>) -> Machine {
        serde_json::from_value(serde_json::json!({
            "id": "0".repeat(40), "computerDnsName": "x", "firstSeen": "2024-01-01T00:00:00Z",
            "lastSeen": "2024-01-01T00:00:00Z", "osPlatform": platform, "version": version, "osBuild": build
        }))
        .unwrap()
    }

    #[test]
    fn windows10_1703_isolates_fully_but_not_selectively() {
        let m = machine("Windows10", Some("1703"), None);
        assert!(supports(
            &m,
            ActionType::Isolate,
            Some(Scope::Isolation(IsolationType::Full))
        ));
        assert!(!supports(
            &m,
            ActionType::Isolate,
            Some(Scope::Isolation(IsolationType::Selective))
        ));
    }

    #[test]
    fn windows10_1607_cannot_be_isolated() {
        let m = machine("Windows10", None, Some(14393));
        assert!(!supports(
            &m,
            ActionType::Isolate,
            Some(Scope::Isolation(IsolationType::Full))
        ));
        assert!(check_supported(
            &m,
            ActionType::Isolate,
            Some(Scope::Isolation(IsolationType::Full))
        )
        .is_err());
    }

    #[test]
    fn linux_isolates_fully_only() {
        let m = machine("Linux", None, None);
        assert!(supports(
            &m,
            ActionType::Isolate,
            Some(Scope::Isolation(IsolationType::Full))
        ));
        assert!(!supports(
            &m,
            ActionType::Isolate,
            Some(Scope::Isolation(IsolationType::Selective))
        ));
        assert!(!supports(&m, ActionType::Offboard, None));
    }

    #[test]
    fn servers_from_2012_r2_isolate() {
        assert!(supports(
            &machine("WindowsServer2012R2", None, None),
            ActionType::Isolate,
            Some(Scope::Isolation(IsolationType::Full))
        ));
        assert!(!supports(
            &machine("WindowsServer2008R2", None, None),
            ActionType::Isolate,
            Some(Scope::Isolation(IsolationType::Full))
        ));
        assert!(!supports(
            &machine("WindowsServer2016", None, None),
            ActionType::RestrictCodeExecution,
            None
        ));
        assert!(supports(
            &machine("WindowsServer2019", None, None),
            ActionType::RestrictCodeExecution,
            None
        ));
    }

    #[test]
    fn offboard_is_refused_on_the_os_versions_its_page_excludes() {
        let off = |m: &Machine| supports(m, ActionType::Offboard, None);
        let with_agent = |platform: &str, agent: &str| {
            let mut m = machine(platform, None, None);
            m.agent_version = Some(agent.into());
            m
        };
        assert!(off(&machine("Windows11", None, None)));
        assert!(off(&machine("Windows10", Some("1703"), None)));
        assert!(
            off(&machine("Windows10", None, None)),
            "unknown build: current"
        );
        assert!(!off(&machine("Windows10", Some("1607"), None)));
        assert!(!off(&machine("Windows10", None, Some(14393))));
        assert!(off(&machine("WindowsServer2019", None, None)));
        assert!(off(&machine("WindowsServer2025", None, None)));
        assert!(!off(&machine("WindowsServer2008R2", None, None)));
        assert!(!off(&machine("WindowsServer2012", None, None)));
        assert!(!off(&machine("Windows7", None, None)));
        assert!(!off(&machine("macOS", None, None)));
        for p in ["WindowsServer2012R2", "WindowsServer2016"] {
            assert!(off(&machine(p, None, None)), "{p}: no agent version given");
            assert!(off(&with_agent(p, "10.8760.14393.1012")), "{p}: unified");
            let mma = with_agent(p, "10.3720.16299.98");
            assert!(!off(&mma), "{p}: MMA-based sensor");
            let e = check_supported(&mma, ActionType::Offboard, None).unwrap_err();
            assert!(
                e.to_string()
                    .ends_with("Offboard is supported on client version 10.8000 and above."),
                "{e}"
            );
        }
        let e = check_supported(
            &machine("WindowsServer2008R2", Some("6.1"), None),
            ActionType::Offboard,
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("OS Platform WindowsServer2008R2 6.1 isn't supported for this action."),
            "{e}"
        );
    }

    #[test]
    fn quarantine_groups_by_file() {
        assert_ne!(
            conflict_group(ActionType::StopAndQuarantineFile, Some("aa")),
            conflict_group(ActionType::StopAndQuarantineFile, Some("bb"))
        );
        assert_eq!(
            conflict_group(ActionType::Isolate, None),
            conflict_group(ActionType::Unisolate, None)
        );
    }
}
