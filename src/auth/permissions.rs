//! The permission vocabulary: app roles, delegated scopes, portal (RBAC) permissions, who may
//! call each endpoint (`Access`), and the well-known development identities with their rights.

/// The action permissions: each name is both an app role and a delegated scope (spec §5.3
/// lists them in this order, with `Machine.CollectForensics` spelled right).
const ACTIONS: &[&str] = &[
    "Machine.CollectForensics",
    "Machine.Isolate",
    "Machine.RestrictExecution",
    "Machine.Scan",
    "Machine.Offboard",
    "Machine.StopAndQuarantine",
    "Machine.LiveResponse",
];
/// App roles for reads.
const READ_ROLES: &[&str] = &["Machine.Read.All", "Machine.ReadWrite.All"];
/// Delegated scopes for reads.
const READ_SCOPES: &[&str] = &["Machine.Read", "Machine.ReadWrite"];
/// User profiles (machine logon users): the same name as app role and delegated scope.
const USER_READ: &[&str] = &["User.Read.All"];

/// Indicator app roles: `Ti.ReadWrite` (the app's own indicators), `Ti.ReadWrite.All` (all).
pub(crate) const TI_ROLES: &[&str] = &["Ti.ReadWrite", "Ti.ReadWrite.All"];
/// The role that exposes every indicator of the tenant, not only the app's own.
pub(crate) const TI_ALL: &str = "Ti.ReadWrite.All";
/// Indicator delegated scopes.
const TI_SCOPES: &[&str] = &["Ti.ReadWrite"];
/// App roles for alert and investigation reads (docs/contract/alerts.md §0).
const ALERT_READ_ROLES: &[&str] = &["Alert.Read.All", "Alert.ReadWrite.All"];
/// Delegated scopes for alert and investigation reads.
const ALERT_READ_SCOPES: &[&str] = &["Alert.Read", "Alert.ReadWrite"];
/// The alert-related entity permissions (user, file, IP, URL profiles): app role and scope alike.
const PROFILE_READS: &[&str] = &[
    "User.Read.All",
    "File.Read.All",
    "Ip.Read.All",
    "URL.Read.All",
];

/// Every app role the MDE APIs this emulator serves know (the development app holds them all).
pub(crate) fn all_roles() -> Vec<String> {
    ACTIONS
        .iter()
        .chain(READ_ROLES)
        .chain(TI_ROLES)
        .chain(ALERT_READ_ROLES)
        .chain(PROFILE_READS)
        .map(|r| (*r).to_owned())
        .collect()
}

/// Every delegated scope of the MDE APIs this emulator serves (the development user has them
/// all).
pub(crate) fn all_scopes() -> Vec<String> {
    ACTIONS
        .iter()
        .chain(READ_SCOPES)
        .chain(TI_SCOPES)
        .chain(ALERT_READ_SCOPES)
        .chain(PROFILE_READS)
        .map(|s| (*s).to_owned())
        .collect()
}

/// Portal (RBAC) permissions a delegated user needs (spec §2, §5, §7).
pub(crate) mod portal {
    /// Reads.
    pub(crate) const VIEW_DATA: &str = "View data";
    /// Isolate, restrict, scan, quarantine, offboard, cancel.
    pub(crate) const ACTIVE_REMEDIATION: &str = "Active remediation actions";
    /// Investigation packages.
    pub(crate) const ALERTS_INVESTIGATION: &str = "Alerts investigation";
    /// Indicators and machine tags (the indicator pages name no portal permission: emulator
    /// decision; the tag pages name this one).
    pub(crate) const MANAGE_SECURITY_SETTINGS: &str = "Manage security settings";
    /// Every portal permission a users fixture may grant.
    pub(crate) const ALL: &[&str] = &[
        VIEW_DATA,
        ACTIVE_REMEDIATION,
        ALERTS_INVESTIGATION,
        "Live response basic",
        "Live response advanced",
        MANAGE_SECURITY_SETTINGS,
    ];
}

/// The well-known development identities. Public on purpose, like Azurite's development account:
/// they prove nothing outside the emulator.
pub mod dev {
    /// The development tenant: tokens minted without a tenant belong to it.
    pub const TENANT_ID: &str = "8a1c2f6e-4b3d-4e5f-9a0b-1c2d3e4f5a6b";
    /// The development app registration, valid in every tenant, with every role.
    pub const APP_ID: &str = "d3fe0d3f-0000-4000-8000-00000000a991";
    /// Its display name: the `requestor` of actions it submits.
    pub const APP_NAME: &str = "defender-mock development app";
    /// Its client secret.
    pub const APP_SECRET: &str = "defender-mock-development-secret";
    /// Its client certificate and key (PEM), for `client_assertion` / `CertificateCredential`.
    pub const APP_CLIENT_PEM: &str = include_str!("../../keys/dev-app-client.pem");
    /// The development user, with every scope, portal role and device group.
    pub const USER_UPN: &str = "analyst@defendermock.onmicrosoft.com";
    /// Its password (for the `password` grant).
    pub const USER_PASSWORD: &str = "defender-mock-development-password";
    /// The App ID URI clients request tokens for by default.
    pub const MDE_AUDIENCE: &str = "https://api.securitycenter.microsoft.com";
}

/// The WindowsDefenderATP resource app (spec §9.1).
pub(crate) const MDE_APP_ID: &str = "fc780465-2017-40d4-a0c5-307022471b92";
/// Audiences the API accepts, and the resources the token endpoints issue MDE tokens for: every
/// identifier URI of the WindowsDefenderATP app (emulator-decisions "Identity",
/// docs/contract/token-service.md §1, §2).
pub(crate) const ACCEPTED_AUDIENCES: &[&str] = &[
    dev::MDE_AUDIENCE,
    "https://api.securitycenter.windows.com",
    "https://securitycenter.onmicrosoft.com/windowsatpservice",
    MDE_APP_ID,
    "https://api-gcc.securitycenter.microsoft.us",
    "https://api-gov.securitycenter.microsoft.us",
];

/// Who may call an endpoint (spec §0, §5, §6, §7).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Access {
    /// App roles, any of which grants access.
    pub(crate) app: &'static [&'static str],
    /// Delegated scopes, any of which grants access.
    pub(crate) delegated: &'static [&'static str],
    /// The portal permission a delegated user also needs.
    pub(crate) portal: &'static str,
}

/// One role or scope granting one portal-guarded operation, the same name for apps and users.
const fn same(name: &'static [&'static str], portal: &'static str) -> Access {
    Access {
        app: name,
        delegated: name,
        portal,
    }
}

/// Isolate / unisolate.
pub(crate) const ISOLATE: Access = same(&["Machine.Isolate"], portal::ACTIVE_REMEDIATION);
/// Restrict / unrestrict app execution.
pub(crate) const RESTRICT: Access =
    same(&["Machine.RestrictExecution"], portal::ACTIVE_REMEDIATION);
/// Antivirus scan.
pub(crate) const SCAN: Access = same(&["Machine.Scan"], portal::ACTIVE_REMEDIATION);
/// Collect investigation package.
pub(crate) const COLLECT: Access =
    same(&["Machine.CollectForensics"], portal::ALERTS_INVESTIGATION);
/// Offboard.
pub(crate) const OFFBOARD: Access = same(&["Machine.Offboard"], portal::ACTIVE_REMEDIATION);
/// Stop and quarantine a file.
pub(crate) const QUARANTINE: Access =
    same(&["Machine.StopAndQuarantine"], portal::ACTIVE_REMEDIATION);

/// Cancel: any action permission (spec §5.3, with `Machine.CollectForensics` spelled right).
pub(crate) const CANCEL: Access = same(ACTIONS, portal::ACTIVE_REMEDIATION);

/// GetPackageUri: app read roles; delegated `Machine.CollectForensics` (spec §5.4).
pub(crate) const PACKAGE: Access = Access {
    app: READ_ROLES,
    delegated: &["Machine.CollectForensics"],
    portal: portal::ALERTS_INVESTIGATION,
};

/// Machine tags, one machine or many: `Machine.ReadWrite.All` / `Machine.ReadWrite`
/// (docs/contract/machines-companion.md §0).
pub(crate) const TAGS: Access = Access {
    app: &["Machine.ReadWrite.All"],
    delegated: &["Machine.ReadWrite"],
    portal: portal::MANAGE_SECURITY_SETTINGS,
};

/// Machine logon users: `User.Read.All` for apps and users alike.
pub(crate) const LOGON_USERS: Access = same(USER_READ, portal::VIEW_DATA);

/// Machine and machine-action reads.
pub(crate) const READ: Access = Access {
    app: READ_ROLES,
    delegated: READ_SCOPES,
    portal: portal::VIEW_DATA,
};

/// Indicators, every endpoint: `Ti.ReadWrite` / `Ti.ReadWrite.All` (apps), `Ti.ReadWrite`
/// (delegated; the delete pages list none: emulator decision).
pub(crate) const INDICATORS: Access = Access {
    app: TI_ROLES,
    delegated: TI_SCOPES,
    portal: portal::MANAGE_SECURITY_SETTINGS,
};

/// Start an automated investigation (`Alert.ReadWrite.All` / `Alert.ReadWrite`).
pub(crate) const INVESTIGATE: Access = Access {
    app: &["Alert.ReadWrite.All"],
    delegated: &["Alert.ReadWrite"],
    portal: portal::ACTIVE_REMEDIATION,
};

/// Investigation reads.
pub(crate) const INVESTIGATION_READ: Access = ALERT_READ;

/// Alert reads: list, get, a machine's alerts (docs/contract/alerts.md §0).
pub(crate) const ALERT_READ: Access = Access {
    app: ALERT_READ_ROLES,
    delegated: ALERT_READ_SCOPES,
    portal: portal::VIEW_DATA,
};

/// Alert changes: update, batch update, CreateAlertByReference (decision 1: the update page's
/// `Alerts.ReadWrite.All` is read as the `Alert.ReadWrite.All` every other page names).
pub(crate) const ALERT_WRITE: Access = Access {
    app: &["Alert.ReadWrite.All"],
    delegated: &["Alert.ReadWrite"],
    portal: portal::ALERTS_INVESTIGATION,
};

/// An alert's user (`User.Read.All`, app and delegated alike).
pub(crate) const ALERT_USER: Access = same(&["User.Read.All"], portal::VIEW_DATA);
/// An alert's files.
pub(crate) const ALERT_FILES: Access = same(&["File.Read.All"], portal::VIEW_DATA);
/// An alert's IPs.
pub(crate) const ALERT_IPS: Access = same(&["Ip.Read.All"], portal::VIEW_DATA);
/// An alert's domains.
pub(crate) const ALERT_DOMAINS: Access = same(&["URL.Read.All"], portal::VIEW_DATA);
