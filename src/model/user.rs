//! The User entity of `GET /api/machines/{id}/logonusers`: the twelve keys of Microsoft's
//! examples in their order, nulls written out as the real service does
//! (docs/contract/machines-companion.md §5.1). Fixture machines carry them under the emulator key
//! `logonUsers` in the same shape.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// One user seen logging on to a machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LogonUser {
    /// `domain\account`, lower case; a fixture may leave it out (then made from the two names).
    #[serde(default)]
    pub id: Box<str>,
    pub account_name: Box<str>,
    pub account_domain: Box<str>,
    #[serde(default)]
    pub account_sid: Option<Box<str>>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    #[serde(default)]
    pub most_prevalent_machine_id: Option<Box<str>>,
    #[serde(default)]
    pub least_prevalent_machine_id: Option<Box<str>>,
    #[serde(default = "interactive")]
    pub logon_types: Box<str>,
    #[serde(default)]
    pub log_on_machines_count: Option<u32>,
    #[serde(default)]
    pub is_domain_admin: bool,
    #[serde(default)]
    pub is_only_network_user: Option<bool>,
}

fn interactive() -> Box<str> {
    "Interactive".into()
}

impl LogonUser {
    /// Fills what a fixture may leave out: the id from the domain and account names.
    pub(crate) fn complete(mut self) -> Self {
        if self.id.is_empty() {
            self.id = format!("{}\\{}", self.account_domain, self.account_name)
                .to_lowercase()
                .into();
        }
        self
    }
}
