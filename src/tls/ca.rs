//! The development CA in a folder: loaded, or created once, and never replaced; the server
//! certificate it issues at each start, with a validity inside its own.

use super::*;

/// The CA's parameters: its name, CA constraints and key usages, valid 2024 to 2049.
pub(super) fn ca_params() -> Result<CertificateParams, String> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "defender-mock");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2049, 12, 31);
    Ok(p)
}

/// The CA in `dir` (created with the folder when neither file exists) and a fresh server
/// certificate it signs. A CA that clients may already trust is never replaced: a half-present,
/// unreadable or inconsistent CA stops the start with the file named and what to do.
pub(crate) fn from_dir(dir: &Path) -> Result<Tls, String> {
    let issued = issue(dir, OffsetDateTime::now_utc())?;
    Ok(Tls {
        config: server_config(&issued.chain_pem, &issued.key_pem)?,
        ca_path: Some(issued.ca_path),
    })
}

/// A server certificate from the CA in a folder: the chain (leaf, then the CA) and the leaf's key.
pub(super) struct Issued {
    pub(super) chain_pem: String,
    key_pem: String,
    ca_path: PathBuf,
}

/// The CA of `dir`, loaded: its key, its certificate (PEM and DER) and validity.
pub(super) struct Ca {
    key: KeyPair,
    pem: String,
    der: CertificateDer<'static>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

/// A server certificate signed by the CA of `dir` (loaded, or created), valid at `now` and
/// checked the way a client checks it.
pub(super) fn issue(dir: &Path, now: OffsetDateTime) -> Result<Issued, String> {
    let ca_path = dir.join(CA_FILE);
    let ca = load_or_create_ca(dir)?;
    check_ca_dates(&ca, &ca_path, now)?;
    let (not_before, not_after) = leaf_validity(now, ca.not_before, ca.not_after);
    let leaf_key = KeyPair::generate().map_err(|e| e.to_string())?;
    let leaf = leaf_params(not_before, not_after)?;
    let issuer = Issuer::new(ca_params()?, ca.key);
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| e.to_string())?;
    // What a client does: the leaf must verify against ca.pem alone. This catches a ca.pem that
    // another program made (another subject) whatever the key check above let through.
    verify_leaf(leaf_cert.der(), &ca.der, now).map_err(|e| {
        format!(
            "a certificate issued with {} does not verify against {} ({e}): delete both to \
             create a new CA",
            dir.join(CA_KEY_FILE).display(),
            ca_path.display()
        )
    })?;
    Ok(Issued {
        chain_pem: format!("{}{}", leaf_cert.pem(), ca.pem),
        key_pem: leaf_key.serialize_pem(),
        ca_path,
    })
}

/// Refuses a CA that `now` is outside of: expired (make a new one), or not yet valid (a clock).
fn check_ca_dates(ca: &Ca, ca_path: &Path, now: OffsetDateTime) -> Result<(), String> {
    let day = |t: OffsetDateTime| t.date().to_string();
    if now > ca.not_after {
        return Err(format!(
            "the CA {} expired on {}: delete it and {CA_KEY_FILE} to create a new CA (clients \
             must then trust the new {CA_FILE})",
            ca_path.display(),
            day(ca.not_after)
        ));
    }
    if now < ca.not_before {
        return Err(format!(
            "the CA {} is valid only from {}: is this machine's clock right?",
            ca_path.display(),
            day(ca.not_before)
        ));
    }
    Ok(())
}

/// The server certificate's parameters: every name of `HOST_NAMES`, server authentication only,
/// the given validity.
fn leaf_params(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, String> {
    let mut leaf = CertificateParams::new(
        HOST_NAMES
            .iter()
            .map(|h| (*h).to_owned())
            .collect::<Vec<_>>(),
    )
    .map_err(|e| e.to_string())?;
    leaf.distinguished_name
        .push(DnType::CommonName, "defender-mock");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    Ok(leaf)
}

/// The leaf's validity: from an hour ago (clients with a slightly slow clock), for at most 397
/// days (the most browsers and Apple's TLS stack accept), and never outside the CA's.
pub(super) fn leaf_validity(
    now: OffsetDateTime,
    ca_not_before: OffsetDateTime,
    ca_not_after: OffsetDateTime,
) -> (OffsetDateTime, OffsetDateTime) {
    let not_before = (now - time::Duration::hours(1)).max(ca_not_before);
    let not_after = (not_before + time::Duration::days(LEAF_MAX_DAYS)).min(ca_not_after);
    (not_before, not_after)
}

pub(super) fn verify_leaf(
    leaf: &CertificateDer<'_>,
    ca: &CertificateDer<'static>,
    now: OffsetDateTime,
) -> Result<(), String> {
    verify_leaf_for(leaf, ca, now, "localhost")
}

/// Whether `leaf`, issued by `ca`, is valid at `now` for host `name`.
pub(super) fn verify_leaf_for(
    leaf: &CertificateDer<'_>,
    ca: &CertificateDer<'static>,
    now: OffsetDateTime,
    name: &str,
) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).map_err(|e| e.to_string())?;
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| e.to_string())?;
    let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    verifier
        .verify_server_cert(
            leaf,
            &[],
            &ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?,
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(secs)),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Loads the CA of `dir`, or creates it when neither file exists. Never writes over a file.
pub(super) fn load_or_create_ca(dir: &Path) -> Result<Ca, String> {
    let ca_path = dir.join(CA_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    refuse_symlink(&key_path)?;
    if !present(&ca_path) && !present(&key_path) {
        create_ca(dir, &ca_path, &key_path)?;
    }
    wait_for_other_start(&ca_path, &key_path);
    require_both(&ca_path, &key_path)?;
    let key = read_ca_key(&key_path)?;
    let (pem, der, cert) = read_ca_cert(&ca_path)?;
    if cert.spki != key.subject_public_key_info() {
        return Err(format!(
            "{} and {} do not belong together (the certificate's public key is not the key's): \
             restore the matching pair, or delete both to create a new CA (clients must then \
             trust the new {CA_FILE})",
            ca_path.display(),
            key_path.display()
        ));
    }
    Ok(Ca {
        key,
        pem,
        der,
        not_before: cert.not_before,
        not_after: cert.not_after,
    })
}

/// Whether a file is there. `symlink_metadata`: a dangling symlink counts as present, and is
/// never written through.
fn present(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}

/// Another start on the same folder may be between writing the key and the certificate: while
/// the key alone is there and young, waits up to two seconds for the certificate.
fn wait_for_other_start(ca_path: &Path, key_path: &Path) {
    let young = |p: &Path| {
        p.symlink_metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < Duration::from_secs(10))
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while present(key_path) && !present(ca_path) && young(key_path) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Refuses a half-present CA (or one gone meanwhile), naming the missing file and what to do.
fn require_both(ca_path: &Path, key_path: &Path) -> Result<(), String> {
    match (present(ca_path), present(key_path)) {
        (true, true) => Ok(()),
        (true, false) => Err(format!(
            "{} exists but its key {} is missing; clients may trust this CA, so it is not \
             replaced: restore {CA_KEY_FILE}, or delete {CA_FILE} to create a new CA (clients \
             must then trust the new one)",
            ca_path.display(),
            key_path.display()
        )),
        (false, true) => Err(format!(
            "{} exists but its certificate {} is missing: restore {CA_FILE}, or delete \
             {CA_KEY_FILE} to create a new CA",
            key_path.display(),
            ca_path.display()
        )),
        (false, false) => Err(format!(
            "{} and {} vanished while starting",
            ca_path.display(),
            key_path.display()
        )),
    }
}

/// The CA key of `key_path` (read as a private file), refused when empty or not a key.
fn read_ca_key(key_path: &Path) -> Result<KeyPair, String> {
    let key_pem = read_private(key_path)?;
    let bad_key = |why: &dyn std::fmt::Display| {
        format!(
            "{} is not a usable CA key ({why}): restore it, or delete it and {CA_FILE} to create \
             a new CA",
            key_path.display()
        )
    };
    if key_pem.trim().is_empty() {
        return Err(bad_key(&"the file is empty"));
    }
    KeyPair::from_pem(&key_pem).map_err(|e| bad_key(&e))
}

/// The CA certificate of `ca_path`: its PEM, its first certificate's DER and that parsed;
/// refused when empty, without a PEM certificate or not X.509.
fn read_ca_cert(ca_path: &Path) -> Result<(String, CertificateDer<'static>, der::Cert), String> {
    let pem = std::fs::read_to_string(ca_path)
        .map_err(|e| format!("cannot read {}: {e}", ca_path.display()))?;
    let bad_ca = |why: &dyn std::fmt::Display| {
        format!(
            "{} is not a usable CA certificate ({why}): restore it, or delete it and \
             {CA_KEY_FILE} to create a new CA",
            ca_path.display()
        )
    };
    if pem.trim().is_empty() {
        return Err(bad_ca(&"the file is empty"));
    }
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| bad_ca(&"no PEM certificate in it"))?
        .map_err(|e| bad_ca(&e))?;
    let cert = der::Cert::parse(&der).ok_or_else(|| bad_ca(&"not an X.509 certificate"))?;
    Ok((pem, der, cert))
}

/// Creates the CA: the key (0600) first, then the certificate, each written to a temporary file
/// and linked into place only if no file is there (two starts racing on one folder agree on one
/// CA: the loser loads the winner's).
pub(super) fn create_ca(dir: &Path, ca_path: &Path, key_path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = ca_params()?.self_signed(&key).map_err(|e| e.to_string())?;
    let write_err = |p: &Path, e: io::Error| {
        let mut msg = format!("cannot write {}: {e}", p.display());
        if e.kind() == io::ErrorKind::PermissionDenied {
            msg.push_str(&ownership_hint(dir));
        }
        msg
    };
    if publish(dir, key_path, &key.serialize_pem(), 0o600).map_err(|e| write_err(key_path, e))? {
        publish(dir, ca_path, &cert.pem(), 0o644).map_err(|e| write_err(ca_path, e))?;
    }
    Ok(())
}
