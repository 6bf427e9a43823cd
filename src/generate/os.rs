//! The OS of one synthetic machine: platform, version, build, processor and agent, drawn by kind.

use super::{machine::Generator, tables::*};

/// The OS of one machine, as the Machine entity spells it.
pub(super) struct Os {
    pub(super) platform: &'static str,
    pub(super) version: &'static str,
    pub(super) build: Option<i64>,
    pub(super) processor: &'static str,
    pub(super) agent: String,
    /// Out of support or close to it: more exposed, often tagged.
    pub(super) legacy: bool,
    pub(super) windows: bool,
}

impl Generator {
    /// Draws the OS of a machine of `kind`.
    pub(super) fn os(&mut self, kind: Kind) -> Os {
        match kind {
            Kind::Laptop | Kind::Desktop => self.windows(WINDOWS_CLIENTS),
            Kind::Kiosk => self.windows(KIOSKS),
            Kind::Server => self.windows(WINDOWS_SERVERS),
            Kind::LinuxServer => self.linux(),
            Kind::Mac => self.mac(),
            Kind::Mobile => self.mobile(),
        }
    }

    /// Draws a Windows release from `table`, its processor and its agent version.
    fn windows(&mut self, table: &[((&'static str, &'static str, i64), u32)]) -> Os {
        let (platform, version, build) = *self.rng.pick(table);
        let arm = platform == "Windows11" && self.rng.chance(3);
        Os {
            platform,
            version,
            build: Some(build),
            processor: if arm { "arm64" } else { "x64" },
            agent: format!("10.8760.{build}.{}", self.rng.range(1000, 1199)),
            legacy: build < 17763 || platform == "WindowsServer2016",
            windows: true,
        }
    }

    /// Draws a Linux distribution and release, its processor and its unified agent version.
    fn linux(&mut self) -> Os {
        let (platform, version) = *self.rng.pick(LINUX);
        Os {
            platform,
            version,
            build: None,
            processor: if self.rng.chance(10) { "arm64" } else { "x64" },
            agent: (*self.rng.pick(UNIFIED_AGENTS)).to_owned(),
            legacy: version == "20.04",
            windows: false,
        }
    }

    /// Draws a macOS release, its processor and its unified agent version.
    fn mac(&mut self) -> Os {
        Os {
            platform: "macOS",
            version: self.rng.pick::<&str>(MACOS),
            build: None,
            processor: if self.rng.chance(80) { "arm64" } else { "x64" },
            agent: (*self.rng.pick(UNIFIED_AGENTS)).to_owned(),
            legacy: false,
            windows: false,
        }
    }

    /// Draws a mobile platform (iOS or Android) and release; the agent follows the platform.
    fn mobile(&mut self) -> Os {
        let (platform, version) = *self.rng.pick(MOBILE);
        let agent = if platform == "iOS" {
            "1.1.55230101"
        } else {
            "1.0.7128.0101"
        };
        Os {
            platform,
            version,
            build: None,
            processor: "arm64",
            agent: agent.to_owned(),
            legacy: false,
            windows: false,
        }
    }
}
