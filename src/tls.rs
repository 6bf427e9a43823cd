//! HTTPS: a development CA the emulator creates once per `--tls-dir` and reuses (so a user trusts
//! it once), a server certificate it signs at every start for localhost and the Microsoft host
//! names of spec §1 and §9 (transparent mode), or a given certificate and key; and the listener
//! that serves TLS through `axum::serve`.

use std::{
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use rcgen::PublicKeyData;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::{
    client::danger::ServerCertVerifier,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    ServerConfig,
};
use time::OffsetDateTime;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

/// Names the server certificate covers: loopback, and every host a client may have hard-coded.
pub(crate) const HOST_NAMES: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "::1",
    "api.security.microsoft.com",
    "*.api.security.microsoft.com",
    "api.securitycenter.microsoft.com",
    "api-us.securitycenter.microsoft.com",
    "api-eu.securitycenter.microsoft.com",
    "api-uk.securitycenter.microsoft.com",
    "api-au.securitycenter.microsoft.com",
    "api-us3.securitycenter.microsoft.com",
    "api.securitycenter.windows.com",
    "api-us.securitycenter.windows.com",
    "api-eu.securitycenter.windows.com",
    "api-uk.securitycenter.windows.com",
    "api-gcc.securitycenter.microsoft.us",
    "api-gov.securitycenter.microsoft.us",
    "securitycenter.onmicrosoft.com",
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
];

const CA_NAME: &str = "defender-mock development CA";
const CA_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca-key.pem";
/// Longest server certificate validity browsers accept (CA/Browser Forum: 398 days).
const LEAF_MAX_DAYS: i64 = 397;
/// A handshake that has not finished by then is dropped, so a stalled client holds nothing.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server TLS configuration and, when the emulator made it, where its CA is.
#[derive(Debug, Clone)]
pub(crate) struct Tls {
    pub config: Arc<ServerConfig>,
    pub ca_path: Option<PathBuf>,
}

/// The per-user default for `--tls-dir`: `$XDG_DATA_HOME/defender-mock/tls`, else
/// `~/.local/share/defender-mock/tls`, else `./.defender-mock/tls`.
pub(crate) fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("defender-mock/tls");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/defender-mock/tls"),
        None => PathBuf::from(".defender-mock/tls"),
    }
}

fn ca_params() -> Result<CertificateParams, String> {
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
struct Issued {
    chain_pem: String,
    key_pem: String,
    ca_path: PathBuf,
}

/// The CA of `dir`, loaded: its key, its certificate (PEM and DER) and validity.
struct Ca {
    key: KeyPair,
    pem: String,
    der: CertificateDer<'static>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

fn issue(dir: &Path, now: OffsetDateTime) -> Result<Issued, String> {
    let ca_path = dir.join(CA_FILE);
    let ca = load_or_create_ca(dir)?;
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
    let (not_before, not_after) = leaf_validity(now, ca.not_before, ca.not_after);
    let leaf_key = KeyPair::generate().map_err(|e| e.to_string())?;
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

/// The leaf's validity: from an hour ago (clients with a slightly slow clock), for at most 397
/// days (the most browsers and Apple's TLS stack accept), and never outside the CA's.
fn leaf_validity(
    now: OffsetDateTime,
    ca_not_before: OffsetDateTime,
    ca_not_after: OffsetDateTime,
) -> (OffsetDateTime, OffsetDateTime) {
    let not_before = (now - time::Duration::hours(1)).max(ca_not_before);
    let not_after = (not_before + time::Duration::days(LEAF_MAX_DAYS)).min(ca_not_after);
    (not_before, not_after)
}

fn verify_leaf(
    leaf: &CertificateDer<'_>,
    ca: &CertificateDer<'static>,
    now: OffsetDateTime,
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
            &ServerName::try_from("localhost").map_err(|e| e.to_string())?,
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(secs)),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Loads the CA of `dir`, or creates it when neither file exists. Never writes over a file.
fn load_or_create_ca(dir: &Path) -> Result<Ca, String> {
    let ca_path = dir.join(CA_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    // `symlink_metadata`: a dangling symlink counts as present, and is never written through.
    let present = |p: &Path| p.symlink_metadata().is_ok();
    refuse_symlink(&key_path)?;
    if !present(&ca_path) && !present(&key_path) {
        create_ca(dir, &ca_path, &key_path)?;
    }
    // Another start on the same folder may be between writing the key and the certificate.
    let young = |p: &Path| {
        p.symlink_metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < Duration::from_secs(10))
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while present(&key_path) && !present(&ca_path) && young(&key_path) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    match (present(&ca_path), present(&key_path)) {
        (true, true) => {}
        (true, false) => {
            return Err(format!(
                "{} exists but its key {} is missing; clients may trust this CA, so it is not \
                 replaced: restore {CA_KEY_FILE}, or delete {CA_FILE} to create a new CA (clients \
                 must then trust the new one)",
                ca_path.display(),
                key_path.display()
            ))
        }
        (false, true) => {
            return Err(format!(
                "{} exists but its certificate {} is missing: restore {CA_FILE}, or delete \
                 {CA_KEY_FILE} to create a new CA",
                key_path.display(),
                ca_path.display()
            ))
        }
        (false, false) => {
            return Err(format!(
                "{} and {} vanished while starting",
                ca_path.display(),
                key_path.display()
            ))
        }
    }
    let key_pem = read_private(&key_path)?;
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
    let key = KeyPair::from_pem(&key_pem).map_err(|e| bad_key(&e))?;
    let pem = std::fs::read_to_string(&ca_path)
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

fn refuse_symlink(path: &Path) -> Result<(), String> {
    match path.symlink_metadata() {
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "{} is a symbolic link: the CA key must be a regular file, and a link is not \
             followed (replace the link by the key file itself)",
            path.display()
        )),
        Ok(m) if !m.is_file() => Err(format!("{} is not a regular file", path.display())),
        _ => Ok(()),
    }
}

/// Reads the CA key, refusing a file swapped for a link since the check, and makes it 0600 if it
/// was readable by group or others (with a warning).
fn read_private(path: &Path) -> Result<String, String> {
    use std::io::Read;
    refuse_symlink(path)?;
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let opened = f
            .metadata()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let checked = path
            .symlink_metadata()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if (opened.dev(), opened.ino()) != (checked.dev(), checked.ino())
            || checked.file_type().is_symlink()
        {
            return Err(format!(
                "{} changed while it was opened (a symbolic link?): not used",
                path.display()
            ));
        }
        let mode = opened.mode() & 0o777;
        if mode & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| {
                    format!(
                        "{} is readable by others (mode {mode:o}) and cannot be made 0600 ({e}): \
                         run `chmod 600 {}`",
                        path.display(),
                        path.display()
                    )
                })?;
            tracing::warn!(
                key = %path.display(),
                was = format!("{mode:o}"),
                "the CA key was readable by group or others: made it 0600"
            );
        }
    }
    let mut pem = String::new();
    f.read_to_string(&mut pem)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(pem)
}

/// Creates the CA: the key (0600) first, then the certificate, each written to a temporary file
/// and linked into place only if no file is there (two starts racing on one folder agree on one
/// CA: the loser loads the winner's).
fn create_ca(dir: &Path, ca_path: &Path, key_path: &Path) -> Result<(), String> {
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

/// Why a folder is not writable, for the error message: who owns it and who we run as.
fn ownership_hint(dir: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // The owner of /proc/self is this process's effective uid (Linux).
        let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
        if let (Ok(d), Some(me)) = (std::fs::metadata(dir), me) {
            return format!(
                " ({} belongs to uid {} with mode {:o}; this process runs as uid {me}: make the \
                 folder writable for uid {me} (a mounted host folder: `chown {me}` it on the \
                 host), or run as the folder's owner, e.g. `docker run --user \"$(id -u):$(id -g)\"`)",
                dir.display(),
                d.uid(),
                d.mode() & 0o7777,
            );
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    String::new()
}

/// Writes `contents` to `path` unless a file is there: false when one was (another start won).
fn publish(dir: &Path, path: &Path, contents: &str, mode: u32) -> io::Result<bool> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    write_new(&tmp, contents, mode)?;
    let placed = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: rename, after a (racy) check.
        Err(_) if path.symlink_metadata().is_ok() => Ok(false),
        Err(_) => std::fs::rename(&tmp, path).map(|()| true),
    };
    let _ = std::fs::remove_file(&tmp);
    placed
}

fn write_new(path: &Path, contents: &str, mode: u32) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

/// A given certificate chain and key (`--tls-cert`, `--tls-key`).
pub(crate) fn from_pair(cert: &Path, key: &Path) -> Result<Tls, String> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let (chain_pem, key_pem) = (read(cert)?, read(key)?);
    let name = |p: &Path, e: String| format!("{}: {e}", p.display());
    let chain = parse_chain(&chain_pem).map_err(|e| name(cert, e))?;
    let key_der = parse_key(&key_pem).map_err(|e| name(key, e))?;
    if let Some(leaf) = der::Cert::parse(&chain[0]) {
        let now = OffsetDateTime::now_utc();
        if now > leaf.not_after || now < leaf.not_before {
            // Served anyway: a test may want exactly that; clients will refuse it.
            tracing::warn!(cert = %cert.display(), not_before = %leaf.not_before,
                not_after = %leaf.not_after, "the TLS certificate is not valid now");
        }
    }
    let config = config_for(chain, key_der).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "{} and {} do not belong together (the certificate's public key is not the key's)",
            cert.display(),
            key.display()
        ),
        e => format!(
            "{} cannot be used with {}: {e}",
            key.display(),
            cert.display()
        ),
    })?;
    Ok(Tls {
        config,
        ca_path: None,
    })
}

fn parse_chain(chain_pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    if chain_pem.trim().is_empty() {
        return Err("the certificate file is empty".into());
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the PEM file (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(chain)
}

fn parse_key(key_pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    if key_pem.trim().is_empty() {
        return Err("the private key file is empty".into());
    }
    PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("not a PEM private key: {e}"))
}

fn server_config(chain_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, String> {
    config_for(parse_chain(chain_pem)?, parse_key(key_pem)?)
        .map_err(|e| format!("certificate and key do not fit: {e}"))
}

fn config_for(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Just enough DER to read a certificate's validity and public key (rcgen's parser needs a
/// feature this crate does not enable).
mod der {
    use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

    /// The parts of an X.509 certificate the CA checks use.
    pub(super) struct Cert {
        pub(super) not_before: OffsetDateTime,
        pub(super) not_after: OffsetDateTime,
        /// The whole SubjectPublicKeyInfo element, as `rcgen`'s `subject_public_key_info`.
        pub(super) spki: Vec<u8>,
    }

    /// One element: (tag, contents, the whole element, what follows).
    type Element<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

    fn next(input: &[u8]) -> Option<Element<'_>> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |a, b| (a << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        let header = input.len() - rest.len();
        Some((tag, &rest[..len], &input[..header + len], &rest[len..]))
    }

    fn time(tag: u8, v: &[u8]) -> Option<OffsetDateTime> {
        let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
        let (year, s) = match tag {
            0x17 => {
                let yy: i32 = s.get(..2)?.parse().ok()?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
            }
            0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
            _ => return None,
        };
        let n = |i: usize| -> Option<u8> { s.get(i..i + 2)?.parse().ok() };
        if s.len() != 10 {
            return None;
        }
        let date = Date::from_calendar_date(year, Month::try_from(n(0)?).ok()?, n(2)?).ok()?;
        let t = Time::from_hms(n(4)?, n(6)?, n(8)?).ok()?;
        Some(PrimitiveDateTime::new(date, t).assume_utc())
    }

    impl Cert {
        pub(super) fn parse(der: &[u8]) -> Option<Self> {
            let (0x30, cert, _, _) = next(der)? else {
                return None;
            };
            let (0x30, tbs, _, _) = next(cert)? else {
                return None;
            };
            let (tag, _, _, mut rest) = next(tbs)?;
            if tag == 0xa0 {
                (_, _, _, rest) = next(rest)?; // version, then the serial number
            }
            let (_, _, _, rest) = next(rest)?; // signature algorithm
            let (_, _, _, rest) = next(rest)?; // issuer
            let (0x30, validity, _, rest) = next(rest)? else {
                return None;
            };
            let (_, _, _, rest) = next(rest)?; // subject
            let (0x30, _, spki, _) = next(rest)? else {
                return None;
            };
            let (t1, v1, _, after) = next(validity)?;
            let (t2, v2, _, _) = next(after)?;
            Some(Self {
                not_before: time(t1, v1)?,
                not_after: time(t2, v2)?,
                spki: spki.to_vec(),
            })
        }
    }
}

/// A TLS listener for `axum::serve`: TCP accepts run in a task, each handshake in its own task
/// with a timeout, so one slow or broken client never holds up the others.
#[derive(Debug)]
pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Serves TLS with `config` on `tcp`.
    pub(crate) fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    break;
                }
                let (acceptor, conn_tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = conn_tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept task only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let key =
            KeyPair::from_pem(&std::fs::read_to_string(dir.join(CA_KEY_FILE)).unwrap()).unwrap();
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
}
