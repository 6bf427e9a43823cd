//! The standing of one synthetic machine: health and first/last seen, risk, exposure and device
//! value, Entra ID join, antivirus and management, and isolation.

use super::{machine::Generator, os::Os, tables::*, *};

/// When a machine was first and last seen, and the health that goes with it.
pub(super) struct Seen {
    pub(super) health: &'static str,
    pub(super) first: OffsetDateTime,
    pub(super) last: OffsetDateTime,
}

/// How much a machine matters and how exposed it is.
pub(super) struct Standing {
    pub(super) risk: &'static str,
    pub(super) exposure: &'static str,
    pub(super) device_value: &'static str,
}

/// Entra ID join, antivirus status and who manages the machine.
pub(super) struct Management {
    pub(super) aad_joined: bool,
    pub(super) aad_device_id: Option<String>,
    pub(super) av_status: &'static str,
    pub(super) managed_by: &'static str,
    pub(super) managed_status: &'static str,
}

/// Clients: the Windows kinds that users sign in to.
fn is_client(kind: Kind) -> bool {
    matches!(kind, Kind::Laptop | Kind::Desktop | Kind::Kiosk)
}

impl Generator {
    /// An instant `days_back` days (plus a random part of a day) before [`REFERENCE`], with the
    /// 7 fractional digits Defender writes.
    fn before_reference(&mut self, days_back: u64) -> OffsetDateTime {
        let seconds = days_back * 86_400 + self.rng.below(86_400);
        let ticks = self.rng.below(10_000_000);
        REFERENCE - Duration::seconds(seconds as i64) + Duration::nanoseconds(ticks as i64 * 100)
    }

    /// Draws the health status, then first and last seen (last seen follows the health).
    pub(super) fn seen(&mut self) -> Seen {
        let health = *self.rng.pick(HEALTH);
        let first_back = self.rng.range(30, 1000);
        let first = self.before_reference(first_back);
        let last_back = match health {
            "Active" => self.rng.below(3),
            "Inactive" => self.rng.range(8, 120),
            _ => self.rng.range(1, 7),
        };
        let last = self
            .before_reference(last_back)
            .max(first + Duration::hours(1));
        Seen {
            health,
            first,
            last,
        }
    }

    /// Draws the risk score, the exposure level (higher for legacy OSes) and the device value.
    pub(super) fn standing(
        &mut self,
        group: &Group,
        kind: Kind,
        os: &Os,
        tags: &[&str],
    ) -> Standing {
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
        Standing {
            risk,
            exposure,
            device_value,
        }
    }

    /// Draws the Entra ID join and device id, the antivirus status and the management.
    pub(super) fn management(&mut self, kind: Kind, health: &str) -> Management {
        let aad_joined = is_client(kind) || (kind == Kind::Server && self.rng.chance(20));
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
        let (managed_by, managed_status) = self.managed_by(kind);
        Management {
            aad_joined,
            aad_device_id,
            av_status,
            managed_by,
            managed_status,
        }
    }

    /// Draws who manages a machine of `kind` (Intune, ConfigMgr or Defender) and its status.
    fn managed_by(&mut self, kind: Kind) -> (&'static str, &'static str) {
        match kind {
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
        }
    }

    /// Draws whether a current Windows client starts isolated (as in a fleet mid-incident), and
    /// the isolation scope.
    pub(super) fn isolation(&mut self, kind: Kind, os: &Os) -> Option<&'static str> {
        let isolatable = os.windows && is_client(kind) && os.build.is_some_and(|b| b >= 19041);
        if !(isolatable && self.rng.chance(1)) {
            return None;
        }
        Some(if self.rng.chance(80) {
            "Full"
        } else {
            "Selective"
        })
    }
}
