//! HTTPS: a development CA the emulator creates once per `--tls-dir` and reuses (so a user trusts
//! it once), a server certificate it signs at every start for localhost and the Microsoft host
//! names of spec §1 and §9 (transparent mode), or a given certificate and key; and the listener
//! that serves TLS through `axum::serve`.

use std::{
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    ServerConfig,
};
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

/// The CA in `dir` (created with the folder if missing) and a fresh server certificate it signs.
pub(crate) fn from_dir(dir: &Path) -> Result<Tls, String> {
    let ca_path = dir.join(CA_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    let ctx =
        |what: &str, p: &Path, e: &dyn std::fmt::Display| format!("{what} {}: {e}", p.display());
    let ca_key = if ca_path.exists() && key_path.exists() {
        let pem =
            std::fs::read_to_string(&key_path).map_err(|e| ctx("cannot read", &key_path, &e))?;
        KeyPair::from_pem(&pem).map_err(|e| ctx("not a usable CA key:", &key_path, &e))?
    } else {
        std::fs::create_dir_all(dir).map_err(|e| ctx("cannot create", dir, &e))?;
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let cert = ca_params()?.self_signed(&key).map_err(|e| e.to_string())?;
        write_private(&key_path, &key.serialize_pem())
            .map_err(|e| ctx("cannot write", &key_path, &e))?;
        std::fs::write(&ca_path, cert.pem()).map_err(|e| ctx("cannot write", &ca_path, &e))?;
        key
    };
    let ca_pem = std::fs::read_to_string(&ca_path).map_err(|e| ctx("cannot read", &ca_path, &e))?;
    let issuer = Issuer::new(ca_params()?, ca_key);
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
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| e.to_string())?;
    let chain = format!("{}{ca_pem}", leaf_cert.pem());
    let config = server_config(&chain, &leaf_key.serialize_pem())?;
    Ok(Tls {
        config,
        ca_path: Some(ca_path),
    })
}

/// A given certificate chain and key (`--tls-cert`, `--tls-key`).
pub(crate) fn from_pair(cert: &Path, key: &Path) -> Result<Tls, String> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    Ok(Tls {
        config: server_config(&read(cert)?, &read(key)?)?,
        ca_path: None,
    })
}

fn server_config(chain_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the PEM file".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("not a PEM private key: {e}"))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::{io::Write, os::unix::fs::OpenOptionsExt};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(contents.as_bytes())
    }
    #[cfg(not(unix))]
    std::fs::write(path, contents)
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
#[path = "tls_tests.rs"]
mod tests;
