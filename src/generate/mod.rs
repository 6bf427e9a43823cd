//! `defender-mock fixtures generate`: a realistic synthetic fleet for demos and load tests: an OS
//! mix (Windows 10/11 clients of several releases, Windows Server 2008 R2 to 2025, Linux
//! distributions, macOS, iOS and Android), device groups with their ids, tags, health, risk,
//! exposure, device value, internal and external addresses, first and last seen, and the users
//! seen logging on (emulator key `logonUsers`, for `GET /api/machines/{id}/logonusers`). The same
//! `--count` and `--seed` always give the same bytes. The output is a machine file the fixture
//! loader reads (`serve --fixtures DIR`).
//!
//! The generator draws from a small SplitMix64 stream (no `rand` dependency: it needs nothing but
//! a reproducible sequence); machine ids are the SHA-1 of the seed and the machine's index, so
//! they are unique and 40 hex characters like the real ones; computer names carry a per-kind
//! serial, so they are unique too.

use std::{
    collections::HashMap,
    fmt::Write as _,
    io,
    path::{Path, PathBuf},
};

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use time::{macros::datetime, Duration, OffsetDateTime};

use crate::model::Timestamp;

/// Flags of `fixtures`.
#[derive(Debug, Args)]
pub struct FixturesArgs {
    #[command(subcommand)]
    pub command: FixturesCommand,
}

/// The `fixtures` subcommands.
#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Write a synthetic fleet (deterministic for a seed) to DIR/machines.json, or to stdout.
    Generate(GenerateArgs),
}

/// Flags of `fixtures generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many machines.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub count: u64,
    /// The seed: the same count and seed give byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder to write `machines.json` into (created if missing); without it, stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `fixtures generate`: the file written, or `None` when the fleet went to stdout.
pub(crate) fn run(args: &GenerateArgs) -> io::Result<Option<PathBuf>> {
    let count = usize::try_from(args.count).unwrap_or(usize::MAX);
    let text = fleet_json(count, args.seed);
    match &args.out {
        None => {
            use std::io::Write;
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(None)
        }
        Some(dir) => write_to(dir, &text).map(Some),
    }
}

fn write_to(dir: &Path, text: &str) -> io::Result<PathBuf> {
    let context = |what: &str, path: &Path, e: io::Error| {
        io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| context("create", dir, e))?;
    let file = dir.join("machines.json");
    std::fs::write(&file, text).map_err(|e| context("write", &file, e))?;
    Ok(file)
}

/// The fleet as the text of a machine file (a pretty-printed JSON array, newline-terminated).
pub(crate) fn fleet_json(count: usize, seed: u64) -> String {
    let machines = Generator::new(seed).fleet(count);
    let mut text = serde_json::to_string_pretty(&Value::Array(machines)).unwrap_or_default();
    text.push('\n');
    text
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    fn range(&mut self, low: u64, high_inclusive: u64) -> u64 {
        low + self.below(high_inclusive - low + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`, each as likely as its weight.
    fn pick<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut n = self.below(total);
        for (item, w) in items {
            if n < u64::from(*w) {
                return item;
            }
            n -= u64::from(*w);
        }
        &items[items.len() - 1].0
    }

    fn guid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    fn mac(&mut self) -> String {
        format!("{:012X}", self.next() & 0xFFFF_FFFF_FFFF)
    }
}

/// "Now" for the synthetic fleet: fixed, so a seed gives the same dates on any day.
const REFERENCE: OffsetDateTime = datetime!(2026-11-28 00:00 UTC);

mod machine;
mod network;
mod os;
mod posture;
mod tables;

use machine::Generator;

#[cfg(test)]
mod tests;
