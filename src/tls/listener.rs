//! The TLS half of an accepted connection: its handshake, bounded in time so a stalled client
//! holds nothing (the serve loop runs each one in the connection's own task).

use super::*;

/// Turns accepted TCP connections into TLS streams with one server configuration.
#[derive(Clone)]
pub(crate) struct Acceptor(TlsAcceptor);

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor").finish_non_exhaustive()
    }
}

impl Acceptor {
    /// Serves TLS with `config`.
    pub(crate) fn new(config: Arc<ServerConfig>) -> Self {
        Self(TlsAcceptor::from(config))
    }

    /// Completes the server handshake on `tcp`, or fails with `TimedOut` when it has not
    /// finished within `within`.
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        within: Duration,
    ) -> io::Result<TlsStream<TcpStream>> {
        match tokio::time::timeout(within, self.0.accept(tcp)).await {
            Ok(done) => done,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the TLS handshake did not finish in time",
            )),
        }
    }
}
