//! HTTPS: a development CA the emulator creates once per `--tls-dir` and reuses (so a user trusts
//! it once), a server certificate it signs at every start for localhost and the Microsoft host
//! names of spec §1 and §9 (transparent mode), or a given certificate and key; and the bounded
//! handshake of each accepted connection.

use std::{
    io,
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
use tokio::net::TcpStream;
use tokio_rustls::{server::TlsStream, TlsAcceptor};

mod ca;
mod der;
mod files;
mod listener;

pub(crate) use ca::from_dir;
use files::{ownership_hint, publish, read_private, refuse_symlink};
pub(crate) use listener::Acceptor;

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

#[cfg(test)]
mod tests;
