//! Identifiers, parsed once at the edge: `TenantId` (a GUID, lower-cased and hyphenated; a domain
//! name maps to the stable GUID the token endpoints give it) and `MachineId` (40 hex, lower case).

use std::{borrow::Borrow, fmt, sync::Arc};

use serde::{Serialize, Serializer};
use uuid::Uuid;

/// The string views of an id newtype over `Arc<str>`: serialized and displayed as the string,
/// debugged as `Name(value)`, and `as_str`.
macro_rules! id_views {
    ($name:ident) => {
        impl $name {
            pub(crate) fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_views!(TenantId);
id_views!(MachineId);

/// A tenant: always the canonical GUID form, so two spellings of one tenant are one key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TenantId(Arc<str>);

/// Longest domain name (RFC 1035).
const MAX_DOMAIN: usize = 253;

impl TenantId {
    /// A GUID in any case and format, or a domain name (`contoso.onmicrosoft.com`), which maps
    /// to the same GUID every time (UUIDv5 of the lower-cased name). Anything else is `None`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        if let Ok(g) = Uuid::try_parse(s) {
            return Some(Self::from_uuid(g));
        }
        let name = s.to_ascii_lowercase();
        let labels_ok = name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        (name.len() <= MAX_DOMAIN && name.contains('.') && labels_ok)
            .then(|| Self::from_uuid(Uuid::new_v5(&Uuid::NAMESPACE_DNS, name.as_bytes())))
    }

    fn from_uuid(g: Uuid) -> Self {
        Self(g.hyphenated().to_string().into())
    }
}

/// A machine id: 40 hexadecimal characters, lower case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct MachineId(Arc<str>);

impl MachineId {
    /// 40 hex characters in any case, or `None`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        (s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(s.to_ascii_lowercase().into()))
    }
}

// Hash and Eq are those of the string, so maps keyed by `MachineId` answer `&str` lookups.
impl Borrow<str> for MachineId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_spellings_of_one_guid_are_one_tenant() {
        let a = TenantId::parse("8A1C2F6E-4B3D-4E5F-9A0B-1C2D3E4F5A6B").unwrap();
        let b = TenantId::parse("{8a1c2f6e-4b3d-4e5f-9a0b-1c2d3e4f5a6b}").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "8a1c2f6e-4b3d-4e5f-9a0b-1c2d3e4f5a6b");
    }

    #[test]
    fn a_domain_maps_to_a_stable_guid_and_junk_is_refused() {
        let a = TenantId::parse("Contoso.onmicrosoft.com").unwrap();
        assert_eq!(Some(a.clone()), TenantId::parse("contoso.onmicrosoft.com"));
        assert!(Uuid::try_parse(a.as_str()).is_ok());
        for junk in ["", "tenant", "a..b", "x y.com", &"a".repeat(300), "common"] {
            assert_eq!(TenantId::parse(junk), None, "{junk}");
        }
        assert_eq!(TenantId::parse(&format!("{}.com", "a".repeat(64))), None);
    }

    #[test]
    fn machine_ids_are_40_hex_in_lower_case() {
        let id = MachineId::parse(&"AB".repeat(20)).unwrap();
        assert_eq!(id.as_str(), "ab".repeat(20));
        assert_eq!(MachineId::parse("dc01"), None);
        assert_eq!(MachineId::parse(&"g".repeat(40)), None);
    }
}
