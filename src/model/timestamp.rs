//! `Timestamp`: a UTC instant written as Defender writes it, `2024-01-24T01:36:28.7283693Z`.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use time::{format_description::well_known::Rfc3339, macros::format_description, OffsetDateTime};

/// A UTC instant serialized with exactly 7 fractional digits and a `Z` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Timestamp(pub OffsetDateTime);

impl Timestamp {
    /// Parses RFC 3339 (any number of fractional digits, any offset), normalised to UTC.
    pub(crate) fn parse(s: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(s, &Rfc3339).map(|t| Self(t.to_offset(time::UtcOffset::UTC)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fmt = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z"
        );
        let utc = self.0.to_offset(time::UtcOffset::UTC);
        match utc.format(&fmt) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s)
            .map_err(|e| de::Error::custom(format!("not an RFC 3339 timestamp ({e})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_seven_digits_and_z() {
        let t = Timestamp::parse("2024-01-24T01:36:28.72836931Z").unwrap();
        assert_eq!(t.to_string(), "2024-01-24T01:36:28.7283693Z");
        let t = Timestamp::parse("2024-01-24T02:36:28+01:00").unwrap();
        assert_eq!(t.to_string(), "2024-01-24T01:36:28.0000000Z");
    }
}
