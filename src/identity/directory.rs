//! App registrations and users: the built-in development app and user, plus those of the
//! `apps.json` and `users.json` fixtures.

use std::{fmt, sync::Arc};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use super::replay::SeenAssertions;
use crate::auth::{
    guard::{Rights, UserRights},
    permissions::{all_roles, all_scopes, dev},
};

/// An app registration.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AppRegistration {
    pub client_id: String,
    pub display_name: String,
    /// Client secrets, any of which authenticates the app.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// PEM certificates whose keys may sign client assertions.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// App roles granted on the MDE API.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The only tenant it exists in; absent = every tenant (multi-tenant).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Each client assertion is accepted once: it must carry a `jti`, and a `jti` the app
    /// presented before is refused until that assertion expires. Off by default, as in Entra,
    /// which accepts an assertion again while it is valid (MSAL Python reuses one for up to
    /// nine minutes; see docs/contract/token-service.md).
    #[serde(default)]
    pub single_use_assertions: bool,
    /// The certificates' public keys, parsed once when the directory is built.
    #[serde(skip)]
    pub keys: Vec<DecodingKey>,
}

impl AppRegistration {
    /// Parses the certificates' keys (fixture loading has already refused unusable ones), and
    /// installs the verification backend they are used with, as building the emulator's own
    /// `Keys` does: a directory may be used without them (the fuzzing facade, a library user).
    fn with_keys(mut self) -> Self {
        crate::auth::install_crypto();
        self.keys = self
            .certificates
            .iter()
            .filter_map(|pem| DecodingKey::from_rsa_pem(pem.as_bytes()).ok())
            .collect();
        self
    }
}

impl fmt::Debug for AppRegistration {
    // Never prints secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRegistration")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field(
                "secrets",
                &format_args!("<{} redacted>", self.secrets.len()),
            )
            .field("certificates", &self.certificates.len())
            .field("roles", &self.roles)
            .field("tenant", &self.tenant)
            .field("single_use_assertions", &self.single_use_assertions)
            .finish()
    }
}

/// A user who can sign in with the password grant.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct User {
    pub upn: String,
    pub password: String,
    /// Accepted in `users.json` to describe the user; tokens carry the UPN, not this.
    #[serde(default)]
    #[allow(dead_code)]
    pub display_name: Option<String>,
    /// Delegated scopes consented for the user (default: every Machine.* scope).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Portal permissions (default: all).
    #[serde(default)]
    pub portal_roles: Option<Vec<String>>,
    /// Device groups (`rbacGroupName`) the user sees (default: all).
    #[serde(default)]
    pub device_groups: Option<Vec<String>>,
    /// The only tenant the user exists in; absent = every tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

impl fmt::Debug for User {
    // Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("upn", &self.upn)
            .field("password", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("portal_roles", &self.portal_roles)
            .field("device_groups", &self.device_groups)
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl User {
    /// The scopes the user holds.
    pub(crate) fn scopes(&self) -> Vec<String> {
        self.scopes.clone().unwrap_or_else(all_scopes)
    }
}

/// Every app registration and user the emulator knows, and the client assertions its
/// single-use apps have presented (its `Debug` prints no secret).
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    apps: Vec<AppRegistration>,
    users: Vec<User>,
    seen: Arc<SeenAssertions>,
}

fn in_tenant(scope: Option<&str>, tenant: &str) -> bool {
    scope.is_none_or(|t| t.eq_ignore_ascii_case(tenant))
}

impl Directory {
    /// The built-ins, then `apps` and `users` (a fixture entry with a built-in's id replaces it).
    pub(crate) fn new(apps: Vec<AppRegistration>, users: Vec<User>) -> Self {
        let mut all_apps = vec![Self::development_app()];
        all_apps.retain(|b| {
            !apps
                .iter()
                .any(|a| a.client_id.eq_ignore_ascii_case(&b.client_id))
        });
        all_apps.extend(apps);
        let all_apps = all_apps
            .into_iter()
            .map(AppRegistration::with_keys)
            .collect();
        let mut all_users = vec![Self::development_user()];
        all_users.retain(|b| !users.iter().any(|u| u.upn.eq_ignore_ascii_case(&b.upn)));
        all_users.extend(users);
        Self {
            apps: all_apps,
            users: all_users,
            seen: Arc::default(),
        }
    }

    /// The client assertions single-use apps have presented.
    pub(crate) fn seen_assertions(&self) -> &SeenAssertions {
        &self.seen
    }

    /// The development app: every tenant, every Machine.* role, a secret and a certificate.
    pub(crate) fn development_app() -> AppRegistration {
        let cert_start = dev::APP_CLIENT_PEM
            .find("-----BEGIN CERTIFICATE-----")
            .unwrap_or(0);
        AppRegistration {
            client_id: dev::APP_ID.to_owned(),
            display_name: dev::APP_NAME.to_owned(),
            secrets: vec![dev::APP_SECRET.to_owned()],
            certificates: vec![dev::APP_CLIENT_PEM[cert_start..].to_owned()],
            roles: all_roles(),
            tenant: None,
            single_use_assertions: false,
            keys: Vec::new(),
        }
    }

    /// The development user: every tenant, every scope, portal role and device group.
    pub(crate) fn development_user() -> User {
        User {
            upn: dev::USER_UPN.to_owned(),
            password: dev::USER_PASSWORD.to_owned(),
            display_name: Some("Development Analyst".to_owned()),
            scopes: None,
            portal_roles: None,
            device_groups: None,
            tenant: None,
        }
    }

    /// The app `client_id` as registered in `tenant`.
    pub(crate) fn app(&self, client_id: &str, tenant: &str) -> Option<&AppRegistration> {
        self.apps.iter().find(|a| {
            a.client_id.eq_ignore_ascii_case(client_id) && in_tenant(a.tenant.as_deref(), tenant)
        })
    }

    /// The user `upn` in `tenant`.
    pub(crate) fn user(&self, upn: &str, tenant: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.upn.eq_ignore_ascii_case(upn) && in_tenant(u.tenant.as_deref(), tenant))
    }

    /// How many app registrations and users there are.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.apps.len(), self.users.len())
    }
}

impl Rights for Directory {
    fn rights(&self, upn: &str, tenant: &str) -> Option<UserRights> {
        self.user(upn, tenant).map(|u| UserRights {
            portal_roles: u.portal_roles.clone(),
            device_groups: u.device_groups.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets_or_passwords() {
        let shown = format!("{:?}", Directory::new(Vec::new(), Vec::new()));
        assert!(!shown.contains(dev::APP_SECRET), "{shown}");
        assert!(!shown.contains(dev::USER_PASSWORD), "{shown}");
        assert!(shown.contains(dev::APP_ID), "{shown}");
    }

    #[test]
    fn certificate_keys_are_parsed_once_when_the_directory_is_built() {
        let d = Directory::new(Vec::new(), Vec::new());
        let app = d.app(dev::APP_ID, dev::TENANT_ID).unwrap();
        assert_eq!(app.keys.len(), app.certificates.len());
        assert_eq!(app.keys.len(), 1);
    }
}
