//! Connection limits over real sockets (issue 12, item 2): the header, body, request and idle
//! timeouts and the connection cap, on HTTP and HTTPS, with HTTP/1.1 keep-alive and HTTP/2.
//! Timeouts are configured in the hundreds of milliseconds so each test takes about a second.

use std::{path::PathBuf, sync::Arc, time::Duration};

use defender_mock::{Config, ConnectionLimits, RateLimitMode, RateLimits, TlsSource};
use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use crate::helpers::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Limits whose timeouts are all long except those a test sets.
fn limits() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        max_connections: 100,
    }
}

async fn server(connections: ConnectionLimits) -> TestApp {
    let config = Config {
        connections,
        ..Config::for_tests()
    };
    spawn_tcp(config, fleet()).await
}

fn addr(app: &TestApp) -> String {
    app.url.rsplit("//").next().unwrap().to_owned()
}

/// Time for a closed connection to be seen (and a busy machine to schedule it).
const MARGIN: Duration = Duration::from_secs(3);

/// One response read off a raw HTTP/1.1 connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The head, header names lower-cased.
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn closes(&self) -> bool {
        self.head.contains("\r\nconnection: close")
    }
}

/// A raw client connection: what a test writes is exactly what the server reads.
struct Raw<S> {
    stream: S,
    buf: Vec<u8>,
}

impl Raw<TcpStream> {
    async fn connect(app: &TestApp) -> Self {
        Self::over(TcpStream::connect(addr(app)).await.unwrap())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    fn over(stream: S) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &str) {
        self.stream.write_all(bytes.as_bytes()).await.unwrap();
    }

    async fn get(&mut self, path: &str, token: Option<&str>) -> Answer {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        self.send(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"))
            .await;
        self.answer().await.expect("an answer")
    }

    /// Reads more bytes; false at the end of the stream (a reset counts as an end).
    async fn fill(&mut self, within: Duration) -> bool {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(within, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => panic!("nothing from the server within {within:?}"),
        }
    }

    /// The next response, or `None` when the server closed the connection before one.
    async fn answer(&mut self) -> Option<Answer> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill(MARGIN).await {
                assert!(self.buf.is_empty(), "a cut answer: {:?}", self.buf);
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
        let status = head[9..12].parse().unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        while self.buf.len() < end + length {
            assert!(self.fill(MARGIN).await, "the body was cut");
        }
        let body = self.buf[end..end + length].to_vec();
        self.buf.drain(..end + length);
        Some(Answer { status, head, body })
    }

    /// Waits for the server to close the connection (with nothing more sent) and returns when.
    async fn closed(&mut self) -> Instant {
        let more = self.fill(MARGIN + Duration::from_secs(2)).await;
        assert!(!more, "data instead of a close: {:?}", self.buf);
        Instant::now()
    }
}

#[tokio::test]
async fn a_slowloris_head_is_cut_off_at_the_header_timeout() {
    let app = server(ConnectionLimits {
        header_timeout: ms(300),
        ..limits()
    })
    .await;
    let started = Instant::now();
    let mut raw = Raw::connect(&app).await;
    raw.send("GET /_mock/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await;
    // Still open, and dripping more header bytes does not extend the deadline.
    for _ in 0..4 {
        tokio::time::sleep(ms(50)).await;
        raw.send("a").await;
    }
    let closed = raw.closed().await - started;
    assert!(closed >= ms(300), "closed after {closed:?}");
    assert!(closed < ms(300) + MARGIN, "closed after {closed:?}");

    // A connection that sends nothing at all gets the same deadline.
    let started = Instant::now();
    let mut silent = Raw::connect(&app).await;
    let closed = silent.closed().await - started;
    assert!(closed >= ms(300), "closed after {closed:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout_not_the_header_one() {
    let app = server(ConnectionLimits {
        header_timeout: ms(150),
        idle_timeout: ms(600),
        ..limits()
    })
    .await;
    let mut raw = Raw::connect(&app).await;
    assert_eq!(raw.get("/_mock/health", None).await.status, 200);
    // Idle for longer than the header timeout: still there for the next request.
    tokio::time::sleep(ms(300)).await;
    let started = Instant::now();
    let second = raw.get("/_mock/health", None).await;
    assert_eq!(second.status, 200);
    assert!(!second.closes(), "{}", second.head);
    let closed = raw.closed().await - started;
    assert!(closed >= ms(600), "closed after {closed:?}");
    assert!(closed < ms(600) + MARGIN, "closed after {closed:?}");
}

#[tokio::test]
async fn a_body_that_stops_midway_is_answered_408_and_the_connection_ends() {
    let app = server(ConnectionLimits {
        body_timeout: ms(300),
        ..limits()
    })
    .await;
    let token = app.admin_token();
    let id = machine_id("fin-lt-0187");
    let mut raw = Raw::connect(&app).await;
    let started = Instant::now();
    raw.send(&format!(
        "POST /api/machines/{id}/unisolate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"Comment\": "
    ))
    .await;
    let answer = raw.answer().await.expect("an answer, not a hang");
    assert!(started.elapsed() >= ms(300), "{:?}", started.elapsed());
    assert_eq!(answer.status, 408, "{answer:?}");
    let err = answer.json();
    assert_eq!(err["error"]["code"], "RequestTimeout", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stalled"),
        "{err}"
    );
    assert!(answer.head.contains("\r\nrequest-id: "), "{}", answer.head);
    assert!(answer.closes(), "{}", answer.head);
    raw.closed().await;
    // Nothing was created from half a body.
    let view = app.machine_view(&id, None).await;
    assert_eq!(view["inFlightActions"], serde_json::json!([]), "{view}");
}

#[tokio::test]
async fn a_body_dripping_in_is_cut_off_at_the_request_timeout() {
    let app = server(ConnectionLimits {
        body_timeout: ms(300),
        request_timeout: ms(600),
        ..limits()
    })
    .await;
    let mut raw = Raw::connect(&app).await;
    let started = Instant::now();
    raw.send(
        "POST /_mock/clock/advance HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n",
    )
    .await;
    // One byte every 100 ms never stalls for the body timeout, but never finishes either.
    let drip = async {
        loop {
            raw.stream.write_all(b" ").await?;
            tokio::time::sleep(ms(100)).await;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(ms(900), drip).await;
    let answer = raw.answer().await.expect("an answer");
    assert!(started.elapsed() >= ms(600));
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not complete within 0.6 s"),
        "{answer:?}"
    );
    assert!(answer.closes());
}

#[tokio::test]
async fn the_connection_cap_refuses_one_more_and_serves_again_once_one_closes() {
    let app = server(ConnectionLimits {
        max_connections: 2,
        ..limits()
    })
    .await;
    let mut first = Raw::connect(&app).await;
    let mut second = Raw::connect(&app).await;
    assert_eq!(first.get("/_mock/health", None).await.status, 200);
    assert_eq!(second.get("/_mock/health", None).await.status, 200);

    let mut third = Raw::connect(&app).await;
    third
        .send("GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let refused = third.answer().await.expect("a 503, not a hang");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.json()["error"]["code"], "ServiceUnavailable");
    assert!(
        refused.head.contains("\r\nretry-after: 1\r\n"),
        "{}",
        refused.head
    );
    assert!(refused.closes());
    third.closed().await;

    // The two served connections keep working.
    assert_eq!(first.get("/_mock/health", None).await.status, 200);
    assert_eq!(second.get("/_mock/health", None).await.status, 200);

    // Once one closes, a new connection is served (the slot frees when the server sees the close).
    drop(first);
    let deadline = Instant::now() + MARGIN;
    loop {
        let mut again = Raw::connect(&app).await;
        let answer = again.get("/_mock/health", None).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503);
        assert!(Instant::now() < deadline, "never served again");
        tokio::time::sleep(ms(20)).await;
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_body_timeout() {
    let config = Config {
        rate_limits: RateLimits {
            mode: RateLimitMode::Off,
            ..RateLimits::default()
        },
        connections: ConnectionLimits {
            body_timeout: ms(300),
            ..limits()
        },
        ..Config::for_tests()
    };
    let app = spawn_tcp(config, fleet()).await;
    let token = app.admin_token();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr(&app).parse().unwrap()).await.unwrap();
    let mut raw = Raw::over(stream);
    // Far more answer than the socket buffers hold, and none of it read for a while.
    let request =
        format!("GET /api/machines HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    let asked = 200;
    let _ = tokio::time::timeout(MARGIN, async {
        for _ in 0..asked {
            raw.send(&request).await;
        }
    })
    .await;
    tokio::time::sleep(ms(1500)).await;
    // What the buffers held, then the end: the server gave up on the connection.
    while raw.fill(MARGIN).await {}
    let answered = raw.buf.windows(12).filter(|w| w == b"HTTP/1.1 200").count();
    assert!(
        answered < asked,
        "all {answered} answers came: never dropped"
    );
}

/// Refusals keep the connection (issue 12, item 3, under this serve loop): each call's body comes
/// in a second write, as a client that sends head and body separately does.
#[tokio::test]
async fn one_keep_alive_connection_carries_401_403_201_429_and_200() {
    let config = Config {
        rate_limits: RateLimits {
            per_minute: Some(1),
            ..RateLimits::default()
        },
        connections: ConnectionLimits {
            max_connections: 1, // a second connection would be refused: all goes over one
            ..limits()
        },
        ..Config::for_tests()
    };
    let app = spawn_tcp(config, fleet()).await;
    let path = format!("/api/machines/{}/unisolate", machine_id("fin-lt-0187"));
    let (admin, weak) = (app.admin_token(), app.token(&["Machine.Read.All"]));
    let mut raw = Raw::connect(&app).await;
    let mut statuses = Vec::new();
    for token in [None, Some(&weak), Some(&admin), Some(&admin)] {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        raw.send(&format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            DOC_BODY.len()
        ))
        .await;
        tokio::time::sleep(ms(30)).await;
        raw.send(DOC_BODY).await;
        let answer = raw
            .answer()
            .await
            .expect("an answer on the same connection");
        assert!(!answer.closes(), "{}", answer.head);
        statuses.push(answer.status);
    }
    statuses.push(raw.get("/_mock/health", None).await.status);
    assert_eq!(statuses, [401, 403, 201, 429, 200]);
}

/// A server with the emulator's own CA in a fresh folder, and that CA's file.
async fn tls_server(connections: ConnectionLimits) -> (TestApp, PathBuf) {
    let dir = std::env::temp_dir().join(format!("dm-conn-{}", uuid::Uuid::new_v4()));
    let config = Config {
        connections,
        tls: Some(TlsSource::Ca(dir.clone())),
        ..Config::for_tests()
    };
    let app = spawn_tcp(config, fleet()).await;
    assert!(app.url.starts_with("https://"), "{}", app.url);
    (app, dir.join("ca.pem"))
}

fn tls_connector(ca: &std::path::Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn https_has_the_same_limits() {
    let (app, ca) = tls_server(ConnectionLimits {
        header_timeout: ms(300),
        max_connections: 2,
        ..limits()
    })
    .await;
    let connector = tls_connector(&ca);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();

    // A client that never starts the handshake is dropped at the header timeout.
    let started = Instant::now();
    let mut silent = Raw::connect(&app).await;
    let closed = silent.closed().await - started;
    assert!(closed >= ms(300), "closed after {closed:?}");

    // A half head after the handshake: the same.
    let tcp = TcpStream::connect(addr(&app)).await.unwrap();
    let tls = connector.connect(name.clone(), tcp).await.unwrap();
    let mut slow = Raw::over(tls);
    assert_eq!(slow.get("/_mock/health", None).await.status, 200);
    let started = Instant::now();
    slow.send("GET /_mock/health HTTP/1.1\r\nHost: x\r\n").await;
    let closed = slow.closed().await - started;
    assert!(closed >= ms(300), "closed after {closed:?}");

    // The cap: two held connections, a third is closed without a handshake.
    let mut held = Vec::new();
    for _ in 0..2 {
        let tcp = TcpStream::connect(addr(&app)).await.unwrap();
        let mut raw = Raw::over(connector.connect(name.clone(), tcp).await.unwrap());
        assert_eq!(raw.get("/_mock/health", None).await.status, 200);
        held.push(raw);
    }
    let tcp = TcpStream::connect(addr(&app)).await.unwrap();
    assert!(
        connector.connect(name.clone(), tcp).await.is_err(),
        "the connection over the cap was served"
    );
}

#[tokio::test]
async fn http2_works_with_prior_knowledge_and_over_tls_alpn() {
    let app = server(ConnectionLimits {
        header_timeout: ms(200),
        idle_timeout: ms(400),
        ..limits()
    })
    .await;
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let health = format!("{}/_mock/health", app.url);
    for _ in 0..2 {
        let r = h2c.get(&health).send().await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 200);
        // Idle past the idle timeout: the server says GOAWAY, the client opens a new connection.
        tokio::time::sleep(ms(600)).await;
    }

    let (tls, ca) = tls_server(limits()).await;
    let pem = std::fs::read(&ca).unwrap();
    let client = reqwest::Client::builder()
        .resolve("localhost", std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let url = tls.url.replace("127.0.0.1", "localhost");
    let r = client
        .get(format!("{url}/_mock/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN chose h2");
    assert_eq!(r.status(), 200);
}

/// The case: under a low open-file limit, hundreds of silent sockets made the server
/// unreachable. Now the cap follows the limit, a client over it gets a 503 at once, and the
/// silent sockets are closed at the header timeout.
#[tokio::test]
async fn silent_sockets_under_a_low_fd_limit_neither_wedge_nor_crash_the_server() {
    let bin = env!("CARGO_BIN_EXE_defender-mock");
    let mut child = std::process::Command::new("sh")
        .args(["-c", "ulimit -n 256 && exec \"$0\" \"$@\"", bin])
        .args(["serve", "--listen", "127.0.0.1:0", "--header-timeout", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("defender-mock listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(&addr).await.unwrap());
    }
    let health = |addr: String| async move {
        let mut raw = Raw::over(TcpStream::connect(addr).await.unwrap());
        raw.send("GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        raw.answer().await.map(|a| a.status)
    };
    // At the cap (the limit less its reserve): a 503 (or, while the server is still refusing
    // the flood, a plain close) at once, not a wait.
    let busy = tokio::time::timeout(ms(1000), health(addr.clone())).await;
    let busy = busy.expect("an answer, not a hang");
    assert!(matches!(busy, Some(503) | None), "{busy:?}");
    // Once the header timeout has closed the silent sockets, served again.
    tokio::time::sleep(ms(2500)).await;
    assert_eq!(health(addr.clone()).await, Some(200));
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn the_limits_come_from_flags_and_env_twins() {
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--body-timeout",
        "0.2",
        "--request-timeout",
        "20",
    ];
    let env = [
        ("DEFENDER_MOCK_MAX_CONNECTIONS", "1"),
        ("DEFENDER_MOCK_HEADER_TIMEOUT", "0.1"),
        ("DEFENDER_MOCK_IDLE_TIMEOUT", "0.4"),
    ];
    let server = crate::cli::start(&args, &env);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let connect = || async { Raw::over(TcpStream::connect(&addr).await.unwrap()) };

    let mut first = connect().await;
    let started = Instant::now();
    assert_eq!(first.get("/_mock/health", None).await.status, 200);
    let mut second = connect().await;
    assert_eq!(second.get("/_mock/health", None).await.status, 503, "cap 1");
    let closed = first.closed().await - started;
    assert!(
        closed >= ms(400),
        "idle 0.4 s, not header 0.1 s: {closed:?}"
    );

    let mut third = connect().await;
    third
        .send("POST /_mock/clock/advance HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
        .await;
    let answer = third.answer().await.expect("an answer");
    assert_eq!(answer.status, 408);
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no data arrived for 0.2 s"),
        "{answer:?}"
    );

    let bin = env!("CARGO_BIN_EXE_defender-mock");
    for bad in ["0", "nan", "86401", "soon"] {
        let out = std::process::Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--idle-timeout", bad])
            .output()
            .unwrap();
        assert!(!out.status.success(), "--idle-timeout {bad} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("0.001 to 86400"), "{err}");
    }
}
