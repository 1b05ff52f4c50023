//! TLS listener, required access token, and the two pre-TLS fault modes.
//! Certificates are made at test time with the `openssl` command.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVerifyMode};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{HandshakeError, Message, WebSocket};

const TOKEN: &str = "tok-3f9d2c71e5a84b06";

/// A self-signed certificate for localhost/127.0.0.1, fresh for each test.
struct Cert {
    dir: PathBuf,
}

impl Cert {
    fn new(name: &str) -> Cert {
        let dir = std::env::temp_dir().join(format!("mimi-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .expect("run openssl");
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        Cert { dir }
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    fn args(&self) -> Vec<String> {
        let path = |p: &Path| p.to_str().unwrap().to_string();
        vec![
            "--tls-cert".into(),
            path(&self.cert()),
            "--tls-key".into(),
            path(&self.dir.join("key.pem")),
        ]
    }
}

impl Drop for Cert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(cert: &Cert, extra: &[&str]) -> Server {
    let mut args: Vec<String> = cert.args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&refs)
}

fn tls_stream(port: u16, ca: Option<&Path>) -> Result<SslStream<TcpStream>, String> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    match ca {
        Some(ca) => builder.set_ca_file(ca).unwrap(),
        None => builder.set_verify(SslVerifyMode::NONE),
    }
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    builder.build().connect("localhost", tcp).map_err(|e| e.to_string())
}

type TlsWs = WebSocket<SslStream<TcpStream>>;

fn wss_connect(port: u16, ca: &Path, auth: Option<&str>) -> Result<TlsWs, tungstenite::Error> {
    let stream = tls_stream(port, Some(ca)).expect("TLS handshake");
    let mut req = format!("wss://localhost:{port}/").into_client_request().unwrap();
    req.headers_mut().insert("X-Mimi-Content-Type", HeaderValue::from_static(PCM_16K_MONO));
    req.headers_mut().insert("X-Mimi-Input-Language", HeaderValue::from_static("ja"));
    if let Some(auth) = auth {
        req.headers_mut().insert("Authorization", HeaderValue::from_str(auth).unwrap());
    }
    match tungstenite::client(req, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(HandshakeError::Failure(e)) => Err(e),
        Err(HandshakeError::Interrupted(_)) => panic!("interrupted"),
    }
}

#[test]
fn wss_session_with_token() {
    let cert = Cert::new("session");
    let server = start(&cert, &["--token", TOKEN]);
    let mut ws = wss_connect(server.port, &cert.cert(), Some(&format!("Bearer {TOKEN}"))).unwrap();
    let pcm = to_bytes(&test_pcm(20000, 1, 4));
    ws.send(Message::binary(pcm.clone())).unwrap();
    ws.send(recog_break()).unwrap();
    let mut texts = Vec::new();
    let code = loop {
        match ws.read().unwrap() {
            Message::Text(t) => texts.push(t.to_string()),
            Message::Close(frame) => break frame.map(|f| u16::from(f.code)),
            _ => {}
        }
    };
    while ws.read().is_ok() {} // sends our close reply
    assert_eq!(code, Some(1000));
    let last = texts.last().unwrap();
    assert_eq!(json_field(last, "status"), "recog-finished");
    assert_eq!(json_field(last, "pcm_fnv1a64"), fnv1a64(&pcm));
    let line = server.wait_log("end=recog-finished");
    assert!(line.contains("authorization"), "the header name is listed: {line}");
    assert!(!line.contains("detail="), "clean close expected: {line}");
    assert!(!server.stderr().contains(TOKEN), "token leaked: {}", server.stderr());
}

#[test]
fn missing_or_wrong_token_gets_401() {
    let cert = Cert::new("token");
    let server = start(&cert, &["--token", TOKEN]);
    for auth in [None, Some("Bearer not-the-token"), Some(TOKEN), Some("Basic abc")] {
        let err = wss_connect(server.port, &cert.cert(), auth).expect_err("must be refused");
        assert_eq!(status_of(&err), 401, "{auth:?}");
    }
    // Without TLS the token check works the same.
    let plain = Server::start(&["--token", TOKEN]);
    let err = connect(plain.port, Some(PCM_16K_MONO), &[]).err().unwrap();
    assert_eq!(status_of(&err), 401);
    let bearer = format!("Bearer {TOKEN}");
    let ok = connect(plain.port, Some(PCM_16K_MONO), &[("Authorization", bearer.as_str())]);
    assert!(ok.is_ok());
    server.wait_log("end=http-401");
    plain.wait_log("end=http-401");
    assert!(!server.stderr().contains(TOKEN) && !plain.stderr().contains(TOKEN));
    assert!(!server.stderr().contains("not-the-token"));
}

#[test]
fn plain_client_on_tls_port_is_dropped() {
    let cert = Cert::new("plain");
    let server = start(&cert, &[]);
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&answer));
    server.wait_log("end=tls-handshake-failed");
}

#[test]
fn tls_close_in_handshake_mode() {
    let server = Server::start(&["--fault", "tls-close-in-handshake"]);
    let err = tls_stream(server.port, None).expect_err("handshake must fail");
    assert!(!err.is_empty());
    let line = server.wait_log("end=fault-tls-close-in-handshake");
    assert!(line.contains("bytes of ClientHello"), "{line}");
    // Raw view: the server reads the hello record and answers nothing.
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 1, 0, 0, 0]).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{answer:?}");
}

#[test]
fn http_text_mode() {
    let server = Server::start(&["--fault", "http-text"]);
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\r\n\r\nmimi-server: plain HTTP"), "{answer}");
    // A TLS client gets text where it expects a ServerHello.
    assert!(tls_stream(server.port, None).is_err());
    server.wait_log("answered 200");
}
