//! `defender-mock health`: the container's liveness probe. It asks the server at its own listen
//! address for `GET /_mock/health`, over HTTPS when the server runs with TLS, and says why it is
//! unhealthy (connection refused, timeout, TLS error, an answer other than 200).
//!
//! Over HTTPS the server's certificate is not verified: the probe runs beside the server (same
//! container or host, the server's own listen address), sends no credential and reads only a
//! status line, so there is nothing a man in the middle could learn or change that matters; and a
//! liveness check must not turn unhealthy because the certificate does not name the probed address
//! (`--tls-cert` pairs often cover one DNS name only) or its CA sits in a folder the probe cannot
//! read. The handshake itself (key exchange and the server's signature) is still checked.

use std::{sync::Arc, time::Duration};

use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, ServerName, UnixTime},
    DigitallySignedStruct, SignatureScheme,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
    time::{timeout_at, Instant},
};
use tokio_rustls::TlsConnector;

/// What to probe.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// The server's listen address (`0.0.0.0` / `[::]` are probed on loopback).
    pub listen: String,
    /// Whether the server speaks HTTPS.
    pub tls: bool,
    /// The whole probe's deadline.
    pub timeout: Duration,
}

impl Probe {
    fn target(&self) -> String {
        self.listen
            .replace("0.0.0.0:", "127.0.0.1:")
            .replace("[::]:", "[::1]:")
    }

    fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/_mock/health", self.target())
    }

    /// Ok when the server answers 200, else why not (one line, for stderr).
    pub(crate) async fn run(&self) -> Result<(), String> {
        let target = self.target();
        let deadline = Instant::now() + self.timeout;
        let secs = self.timeout.as_secs_f64();
        let tcp = timeout_at(deadline, TcpStream::connect(&target))
            .await
            .map_err(|_| format!("connecting to {target} timed out after {secs} s"))?
            .map_err(|e| format!("cannot connect to {target}: {e}"))?;
        if !self.tls {
            return self.exchange(tcp, deadline).await;
        }
        let host = target
            .rsplit_once(':')
            .map_or(target.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("{host} is not a host name or address: {e}"))?;
        let tls = timeout_at(deadline, connector().connect(name, tcp))
            .await
            .map_err(|_| format!("TLS handshake with {target} did not finish within {secs} s"))?
            .map_err(|e| {
                let plain = e.to_string().contains("InvalidContentType")
                    || e.to_string().contains("corrupt message");
                format!(
                    "TLS handshake with {target} failed: {e}{}",
                    if plain {
                        " (the server answers plain HTTP: is it running without --tls? then \
                         unset DEFENDER_MOCK_TLS for the probe)"
                    } else {
                        ""
                    }
                )
            })?;
        self.exchange(tls, deadline).await
    }

    /// Sends the request and reads the status line.
    async fn exchange<S>(&self, stream: S, deadline: Instant) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let url = self.url();
        let secs = self.timeout.as_secs_f64();
        let req = format!(
            "GET /_mock/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.target()
        );
        let answer = timeout_at(deadline, first_line(stream, req))
            .await
            .map_err(|_| format!("no answer from {url} within {secs} s"))?
            .map_err(|e| format!("GET {url} failed: {e}"))?;
        self.judge(&url, &answer)
    }

    /// The verdict on the start of the answer: healthy on `HTTP/1.x 200`, else why not (with a
    /// hint when the server seems to speak TLS and the probe does not).
    fn judge(&self, url: &str, answer: &[u8]) -> Result<(), String> {
        let not_http =
            " (if the server runs with --tls, probe with --tls or DEFENDER_MOCK_TLS=true)";
        if answer.is_empty() {
            let hint = if self.tls { "" } else { not_http };
            return Err(format!(
                "{url} closed the connection without an answer{hint}"
            ));
        }
        if !self.tls && answer.first() == Some(&0x15) {
            // A TLS alert record: the server wants a handshake.
            return Err(format!("{url} answered with TLS, not HTTP{not_http}"));
        }
        let line = String::from_utf8_lossy(answer);
        let status = line.lines().next().unwrap_or_default().trim();
        match status.split(' ').nth(1) {
            Some("200") if status.starts_with("HTTP/1.") => Ok(()),
            Some(_) if status.starts_with("HTTP/") => Err(format!("{url} answered {status}")),
            _ => Err(format!(
                "{url} did not answer HTTP ({:?}){}",
                status.chars().take(40).collect::<String>(),
                if self.tls { "" } else { not_http }
            )),
        }
    }
}

/// Writes `req` and reads until the first line ends (at most about 1 KiB) or the peer closes.
async fn first_line<S>(mut stream: S, req: String) -> std::io::Result<Vec<u8>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(req.as_bytes()).await?;
    stream.flush().await?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < 1024 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn connector() -> TlsConnector {
    let provider = provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Accepts any server certificate (see the module documentation), but still checks the
/// handshake signatures with the server's key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
