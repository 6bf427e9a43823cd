//! The authenticated caller of one request: who it is (app or user), its tenant, permissions,
//! portal roles and visible device groups, and the 403 checks against an endpoint's `Access`.

use std::sync::Arc;

use super::{guard, permissions, Access, Claims};
use crate::{error::ApiError, model::TenantId, store::Visibility};

/// Who is calling: an app (app-only token) or a user through an app (delegated token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    App { name: String },
    User { upn: String },
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub tenant: TenantId,
    pub app_id: String,
    pub audience: String,
    pub identity: Identity,
    /// App roles (`roles`) or delegated scopes (`scp`).
    pub permissions: Vec<String>,
    /// Machines the caller may see.
    pub visibility: Visibility,
    /// Portal permissions of a delegated caller (`None` = all: apps, and users no fixture names).
    pub portal_roles: Option<Vec<String>>,
}

impl Caller {
    /// The caller a verified token describes, in `tenant` (its `tid`, parsed).
    pub(super) fn from_claims(c: &Claims, tenant: TenantId) -> Self {
        let (identity, permissions) = if c.is_delegated() {
            let upn = c.user().unwrap_or(c.app_id()).to_owned();
            let scopes = c.scp.as_deref().unwrap_or_default();
            (
                Identity::User { upn },
                scopes.split_whitespace().map(str::to_owned).collect(),
            )
        } else {
            let name = c
                .app_displayname
                .clone()
                .unwrap_or_else(|| c.app_id().to_owned());
            (Identity::App { name }, c.roles.clone())
        };
        Self {
            tenant,
            app_id: c.app_id().to_owned(),
            audience: c.aud.clone(),
            identity,
            permissions,
            visibility: Visibility::All,
            portal_roles: None,
        }
    }

    /// The user of a delegated token.
    pub(crate) fn upn(&self) -> Option<&str> {
        match &self.identity {
            Identity::User { upn } => Some(upn),
            Identity::App { .. } => None,
        }
    }

    /// Applies what the directory says of a delegated caller: its portal permissions and device
    /// groups. A UPN no fixture names gets no call here: every role, every group (decisions).
    pub(crate) fn with_rights(mut self, rights: guard::UserRights) -> Self {
        self.portal_roles = rights.portal_roles;
        if let Some(groups) = rights.device_groups {
            self.visibility = Visibility::Groups(Arc::new(groups.into_iter().collect()));
        }
        self
    }

    /// The `requestor` of actions this caller submits: the app's display name or the user's UPN.
    pub(crate) fn requestor(&self) -> &str {
        match &self.identity {
            Identity::App { name } => name,
            Identity::User { upn } => upn,
        }
    }

    /// 403 unless the token is for the MDE API and holds one of `access`'s permissions.
    pub(crate) fn authorize(&self, access: &Access) -> Result<(), ApiError> {
        let aud = self.audience.trim_end_matches('/');
        if !permissions::ACCEPTED_AUDIENCES
            .iter()
            .any(|a| a.eq_ignore_ascii_case(aud))
        {
            return Err(ApiError::Forbidden(format!(
                "The access token audience '{}' is not valid for this resource. Request a token for {}.",
                self.audience,
                permissions::dev::MDE_AUDIENCE
            )));
        }
        let (accepted, who, kind) = match self.identity {
            Identity::App { .. } => (access.app, "application", "application"),
            Identity::User { .. } => (access.delegated, "user", "delegated"),
        };
        if !accepted
            .iter()
            .any(|p| self.permissions.iter().any(|h| h == p))
        {
            return Err(ApiError::Forbidden(format!(
                "The {who} does not have any of the required {kind} permissions ({}) to access the resource.",
                accepted.join(", ")
            )));
        }
        if let (Identity::User { upn }, Some(roles)) = (&self.identity, &self.portal_roles) {
            if !roles.iter().any(|r| r.eq_ignore_ascii_case(access.portal)) {
                return Err(ApiError::Forbidden(format!(
                    "The user {upn} does not have the '{}' portal permission required for this action.",
                    access.portal
                )));
            }
        }
        Ok(())
    }
}
