//! Investigation packages (spec §5.4): the short-lived signed download URL `GetPackageUri`
//! answers, its check, and the small zip it downloads. The URL points at the emulator itself
//! (`/_mock/packages/...`), standing in for the real service's storage SAS link.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::model::MachineAction;

/// How long a package URL stays valid, in emulator time.
pub(crate) const URL_LIFETIME: Duration = Duration::minutes(10);
/// Bytes of the HMAC-SHA256 tag kept in a URL (192 bits).
const TAG_BYTES: usize = 24;

/// The signed URL of action `id`'s package under `origin` (`scheme://host`), valid for
/// [`URL_LIFETIME`] from `now`; `key` is the server's secret.
pub(crate) fn signed_url(
    key: &[u8],
    origin: &str,
    tenant: &str,
    id: Uuid,
    now: OffsetDateTime,
) -> String {
    let expires = (now + URL_LIFETIME).unix_timestamp();
    let tag = mac(key, tenant, id, expires).finalize().into_bytes();
    let sig = URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]);
    format!("{origin}/_mock/packages/{tenant}/{id}.zip?se={expires}&sig={sig}")
}

/// HMAC-SHA256 over (tenant, action, expiry), so a URL cannot be forged or altered.
fn mac(key: &[u8], tenant: &str, id: Uuid, expires: i64) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(format!("{tenant}|{id}|{expires}").as_bytes());
    m
}

/// Whether `sig` signs (tenant, id, expires) under `key` and `expires` is still ahead of `now`;
/// the tag is compared in constant time.
pub(crate) fn verify(
    key: &[u8],
    tenant: &str,
    id: Uuid,
    expires: i64,
    sig: &str,
    now: OffsetDateTime,
) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    now.unix_timestamp() < expires
        && tag.len() == TAG_BYTES
        && mac(key, tenant, id, expires)
            .verify_truncated_left(&tag)
            .is_ok()
}

/// The package of a succeeded collection `action`: a summary naming the machine, the action and
/// its requestor, and a process list, as a zip.
pub(crate) fn archive(action: &MachineAction) -> Vec<u8> {
    let summary = format!(
        "Investigation package (emulated by defender-mock)\r\nMachine: {} ({})\r\nAction: {}\r\nCollected: {}\r\nRequested by: {}\r\nComment: {}\r\n",
        action.computer_dns_name(),
        action.machine_id(),
        action.id,
        action.last_update_date_time_utc,
        action.requestor,
        action.requestor_comment
    );
    let processes = "Name,PID,User\r\nSystem,4,SYSTEM\r\nsvchost.exe,812,NETWORK SERVICE\r\nMsSense.exe,3120,SYSTEM\r\n";
    zip(&[
        ("Summary.txt", summary.into_bytes()),
        ("Processes/Processes.csv", processes.as_bytes().to_vec()),
    ])
}

/// A zip archive (stored, no compression) of `files`.
fn zip(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let (size, name_len) = (data.len() as u32, name.len() as u16);
        // Local file header.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // version, flags, stored, 1980-01-01
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // Central directory entry.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_size, n) = (out.len() as u32, central.len() as u32, files.len() as u16);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn the_zip_has_headers_a_directory_and_an_end_record() {
        let z = zip(&[("a.txt", b"hello".to_vec()), ("b/c.txt", b"x".to_vec())]);
        assert_eq!(&z[..4], b"PK\x03\x04");
        let end = z.len() - 22;
        assert_eq!(&z[end..end + 4], b"PK\x05\x06");
        assert_eq!(u16::from_le_bytes([z[end + 10], z[end + 11]]), 2);
    }
}
