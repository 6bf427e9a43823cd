//! Unit tests of `tls`: each refusal of a CA folder, the leaf's validity, a given pair.

use super::{ca::*, files::write_new, *};

/// A fresh folder under the temp dir, removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("dm-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A CA of `ca_params` with other dates, written to `dir` as the emulator would.
fn write_ca(dir: &Path, not_before: OffsetDateTime, not_after: OffsetDateTime) {
    let key = KeyPair::generate().unwrap();
    let mut p = ca_params().unwrap();
    p.not_before = not_before;
    p.not_after = not_after;
    let cert = p.self_signed(&key).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    write_new(&dir.join(CA_KEY_FILE), &key.serialize_pem(), 0o600).unwrap();
    std::fs::write(dir.join(CA_FILE), cert.pem()).unwrap();
}

fn leaf_of(issued: &Issued) -> der::Cert {
    let leaf = CertificateDer::pem_slice_iter(issued.chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    der::Cert::parse(&leaf).unwrap()
}

#[test]
fn the_ca_is_created_once_and_reused() {
    let dir = TempDir::new();
    let tls_dir = dir.join("tls");
    from_dir(&tls_dir).unwrap();
    let first = std::fs::read_to_string(tls_dir.join(CA_FILE)).unwrap();
    from_dir(&tls_dir).unwrap();
    assert_eq!(
        std::fs::read_to_string(tls_dir.join(CA_FILE)).unwrap(),
        first
    );
    #[cfg(unix)]
    assert_eq!(mode(&tls_dir.join(CA_KEY_FILE)), 0o600);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&tls_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn starts_racing_on_a_new_folder_agree_on_one_ca() {
    let dir = TempDir::new();
    let tls_dir = dir.join("tls");
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| s.spawn(|| issue(&tls_dir, OffsetDateTime::now_utc())))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ca = std::fs::read_to_string(tls_dir.join(CA_FILE)).unwrap();
    for r in results {
        let issued = r.unwrap();
        assert!(issued.chain_pem.ends_with(&ca), "a start served another CA");
    }
}

#[test]
fn a_ca_without_its_key_is_refused_and_never_overwritten() {
    let dir = TempDir::new();
    from_dir(&dir.0).unwrap();
    let trusted = std::fs::read_to_string(dir.join(CA_FILE)).unwrap();
    std::fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
    let e = from_dir(&dir.0).unwrap_err();
    assert!(
        e.contains("ca-key.pem is missing") && e.contains("delete ca.pem"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(dir.join(CA_FILE)).unwrap(), trusted);
    assert!(!dir.join(CA_KEY_FILE).exists());
}

#[test]
fn a_key_without_its_ca_is_refused() {
    let dir = TempDir::new();
    from_dir(&dir.0).unwrap();
    std::fs::remove_file(dir.join(CA_FILE)).unwrap();
    // Old enough not to look like another start's half-written CA.
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(dir.join(CA_KEY_FILE))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let e = from_dir(&dir.0).unwrap_err();
    assert!(e.contains("ca.pem is missing"), "{e}");
    assert!(!dir.join(CA_FILE).exists());
}

#[test]
fn an_empty_or_garbage_ca_file_is_refused_by_name() {
    for content in [
        "",
        "garbage\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let dir = TempDir::new();
        from_dir(&dir.0).unwrap();
        std::fs::write(dir.join(CA_FILE), content).unwrap();
        let e = from_dir(&dir.0).unwrap_err();
        assert!(
            e.contains(&format!("{}", dir.join(CA_FILE).display()))
                && e.contains("not a usable CA certificate"),
            "{content:?}: {e}"
        );
        assert_eq!(std::fs::read_to_string(dir.join(CA_FILE)).unwrap(), content);
    }
}

#[test]
fn an_empty_or_garbage_key_is_refused_by_name() {
    for content in ["", "garbage\n"] {
        let dir = TempDir::new();
        from_dir(&dir.0).unwrap();
        std::fs::write(dir.join(CA_KEY_FILE), content).unwrap();
        let e = from_dir(&dir.0).unwrap_err();
        assert!(
            e.contains(&format!("{}", dir.join(CA_KEY_FILE).display()))
                && e.contains("not a usable CA key"),
            "{content:?}: {e}"
        );
    }
}

#[test]
fn a_ca_and_a_key_that_do_not_match_are_refused() {
    let (a, b) = (TempDir::new(), TempDir::new());
    from_dir(&a.0).unwrap();
    from_dir(&b.0).unwrap();
    std::fs::copy(b.join(CA_KEY_FILE), a.join(CA_KEY_FILE)).unwrap();
    let e = from_dir(&a.0).unwrap_err();
    assert!(e.contains("do not belong together"), "{e}");
}

#[test]
fn a_ca_another_program_made_is_refused() {
    // Same key, another subject: the leaf would name an issuer clients cannot find.
    let dir = TempDir::new();
    from_dir(&dir.0).unwrap();
    let key = KeyPair::from_pem(&std::fs::read_to_string(dir.join(CA_KEY_FILE)).unwrap()).unwrap();
    let mut p = ca_params().unwrap();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, "someone else's CA");
    std::fs::write(dir.join(CA_FILE), p.self_signed(&key).unwrap().pem()).unwrap();
    let e = from_dir(&dir.0).unwrap_err();
    assert!(e.contains("does not verify against"), "{e}");
}

#[cfg(unix)]
#[test]
fn a_key_readable_by_others_is_made_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    from_dir(&dir.0).unwrap();
    let key = dir.join(CA_KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    from_dir(&dir.0).unwrap();
    assert_eq!(mode(&key), 0o600);
}

#[cfg(unix)]
#[test]
fn a_symlink_at_the_key_path_is_refused_and_not_followed() {
    let dir = TempDir::new();
    // Dangling: before the fix the key was written through it.
    let target = dir.join("elsewhere-key.pem");
    std::os::unix::fs::symlink(&target, dir.join(CA_KEY_FILE)).unwrap();
    let e = from_dir(&dir.0).unwrap_err();
    assert!(e.contains("symbolic link"), "{e}");
    assert!(!target.exists());
    assert!(!dir.join(CA_FILE).exists());
    // To a real key of a matching CA: still refused.
    let other = TempDir::new();
    from_dir(&other.0).unwrap();
    std::fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
    std::fs::copy(other.join(CA_FILE), dir.join(CA_FILE)).unwrap();
    std::os::unix::fs::symlink(other.join(CA_KEY_FILE), dir.join(CA_KEY_FILE)).unwrap();
    let e = from_dir(&dir.0).unwrap_err();
    assert!(e.contains("symbolic link"), "{e}");
}

#[test]
fn the_leaf_is_valid_from_an_hour_ago_for_at_most_397_days() {
    let dir = TempDir::new();
    let now = OffsetDateTime::now_utc();
    let issued = issue(&dir.0, now).unwrap();
    let leaf = leaf_of(&issued);
    let hour = time::Duration::hours(1);
    assert!((leaf.not_before - (now - hour)).abs() < time::Duration::seconds(2));
    assert!(leaf.not_after - leaf.not_before <= time::Duration::days(397));
    assert!(leaf.not_after > now + time::Duration::days(390));
}

#[test]
fn the_leaf_ends_with_its_ca() {
    let dir = TempDir::new();
    let now = OffsetDateTime::now_utc();
    let ca_end = (now + time::Duration::days(30))
        .replace_nanosecond(0)
        .unwrap();
    write_ca(&dir.0, now - time::Duration::minutes(10), ca_end);
    let leaf = leaf_of(&issue(&dir.0, now).unwrap());
    assert_eq!(leaf.not_after, ca_end);
    assert!(leaf.not_before >= now - time::Duration::minutes(10) - time::Duration::seconds(1));
}

#[test]
fn an_expired_ca_is_refused() {
    let dir = TempDir::new();
    let now = OffsetDateTime::now_utc();
    write_ca(
        &dir.0,
        now - time::Duration::days(60),
        now - time::Duration::days(1),
    );
    let e = issue(&dir.0, now).err().unwrap();
    assert!(e.contains("expired on"), "{e}");
}

#[cfg(unix)]
#[test]
fn an_unwritable_folder_says_who_owns_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o555)).unwrap();
    let r = from_dir(&dir.0);
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Root writes anyway; elsewhere the message names the owner and this uid.
    if let Err(e) = r {
        assert!(
            e.contains("cannot write") && e.contains("runs as uid"),
            "{e}"
        );
    }
}

fn pair(dir: &TempDir, name: &str) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (c, k) = (
        dir.join(&format!("{name}-cert.pem")),
        dir.join(&format!("{name}-key.pem")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

#[test]
fn a_given_pair_serves_and_a_mismatched_one_is_refused_by_name() {
    let dir = TempDir::new();
    let (c1, k1) = pair(&dir, "one");
    let (_, k2) = pair(&dir, "two");
    from_pair(&c1, &k1).unwrap();
    let e = from_pair(&c1, &k2).unwrap_err();
    assert!(
        e.contains("do not belong together")
            && e.contains(&c1.display().to_string())
            && e.contains(&k2.display().to_string()),
        "{e}"
    );
}

#[test]
fn a_bad_pair_is_refused_with_a_reason() {
    let dir = TempDir::new();
    let (c, k) = pair(&dir, "good");
    for (what, cert, key) in [
        ("cert", "nope", None),
        ("cert", "", None),
        ("key", "x", Some("")),
        ("key", "x", Some("nope")),
    ] {
        let (cp, kp) = (dir.join("c.pem"), dir.join("k.pem"));
        if cert == "x" {
            std::fs::copy(&c, &cp).unwrap();
        } else {
            std::fs::write(&cp, cert).unwrap();
        }
        match key {
            Some(k) => std::fs::write(&kp, k).unwrap(),
            None => {
                std::fs::copy(&k, &kp).unwrap();
            }
        }
        let e = from_pair(&cp, &kp).unwrap_err();
        let named = if what == "cert" { &cp } else { &kp };
        assert!(e.contains(&named.display().to_string()), "{what}: {e}");
    }
}

#[test]
fn the_leaf_is_valid_for_the_us_government_hosts() {
    let dir = TempDir::new();
    let now = OffsetDateTime::now_utc();
    let issued = issue(&dir.0, now).unwrap();
    let mut chain = CertificateDer::pem_slice_iter(issued.chain_pem.as_bytes());
    let leaf = chain.next().unwrap().unwrap();
    let ca = CertificateDer::pem_file_iter(dir.join(CA_FILE))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    for host in [
        "login.microsoftonline.us",
        "api-gcc.securitycenter.microsoft.us",
        "api-gov.securitycenter.microsoft.us",
        "login.microsoftonline.com",
        "api.securitycenter.windows.com",
    ] {
        verify_leaf_for(&leaf, &ca, now, host).unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    assert!(verify_leaf_for(&leaf, &ca, now, "api.example.com").is_err());
}
