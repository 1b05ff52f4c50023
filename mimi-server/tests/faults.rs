//! Each `--fault` mode really misbehaves the way its name says.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use tungstenite::error::ProtocolError;
use tungstenite::{Error, Message};

const REQUEST: &str = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\
    X-Mimi-Content-Type: audio/x-pcm;bit=16;rate=16000;channels=1\r\n\r\n";

fn fault_server(mode: &str) -> Server {
    Server::start(&["--fault", mode])
}

/// Upgrades, sends the first binary message, and hands back the raw socket.
fn raw_after_first_binary(server: &Server) -> TcpStream {
    let mut ws = connect(server.port, Some(PCM_16K_MONO), &[]).unwrap();
    ws.send(Message::binary(vec![0u8; 3200])).unwrap();
    ws.into_inner()
}

fn read_n(tcp: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tcp.read_exact(&mut buf).unwrap();
    buf
}

fn read_to_eof(tcp: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = tcp.read_to_end(&mut all);
    all
}

#[test]
fn http_status_modes() {
    for code in [400u16, 401, 403, 404, 426, 500] {
        let server = fault_server(&format!("http-{code}"));
        let err = connect(server.port, Some(PCM_16K_MONO), &[]).err().unwrap();
        assert_eq!(status_of(&err), code);
        if let Error::Http(resp) = &err {
            let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default());
            assert!(body.contains(&code.to_string()), "{body}");
        }
        server.wait_log(&format!("end=http-{code} "));
    }
}

#[test]
fn broken_101_modes() {
    let server = fault_server("bad-upgrade");
    let err = connect(server.port, Some(PCM_16K_MONO), &[]).err().unwrap();
    assert!(
        matches!(
            err,
            Error::Protocol(
                ProtocolError::MissingUpgradeWebSocketHeader
                    | ProtocolError::MissingConnectionUpgradeHeader
            )
        ),
        "{err:?}"
    );
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.write_all(REQUEST.as_bytes()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut head = vec![0u8; 4096];
    let n = tcp.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(!head.contains("upgrade:") && !head.contains("connection:"), "{head}");
    drop(tcp);
    server.wait_log("end=fault-bad-upgrade");

    let server = fault_server("bad-accept");
    let err = connect(server.port, Some(PCM_16K_MONO), &[]).err().unwrap();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::SecWebSocketAcceptKeyMismatch)),
        "{err:?}"
    );
}

#[test]
fn unanswered_upgrade_modes() {
    let server = fault_server("drop-before-answer");
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.write_all(REQUEST.as_bytes()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(read_to_eof(&mut tcp).is_empty());
    server.wait_log("end=fault-drop-before-answer");

    let server = fault_server("never-answer");
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.write_all(REQUEST.as_bytes()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
    let mut buf = [0u8; 16];
    let err = tcp.read(&mut buf).expect_err("no answer expected");
    assert!(matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{err:?}");
    drop(tcp);
    let line = server.wait_log("end=fault-never-answer");
    assert!(line.contains("peer closed"), "{line}");
}

#[test]
fn silent_mode_sends_nothing_but_answers_close() {
    let server = fault_server("silent");
    let mut ws = connect(server.port, Some(PCM_16K_MONO), &[]).unwrap();
    ws.send(Message::binary(to_bytes(&test_pcm(32000, 1, 2)))).unwrap();
    ws.send(recog_break()).unwrap();
    ws.get_ref().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    match ws.read() {
        Err(Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected silence, got {other:?}"),
    }
    ws.get_ref().set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ws.close(None).unwrap();
    assert!(matches!(ws.read(), Ok(Message::Close(_))));
    let line = server.wait_log("end=fault-silent");
    assert!(line.contains("close handshake completed"), "{line}");
}

#[test]
fn close_frame_modes() {
    for code in [1001u16, 1011, 4001, 4999] {
        let server = fault_server(&format!("close-{code}"));
        let mut ws = connect(server.port, Some(PCM_16K_MONO), &[]).unwrap();
        ws.send(Message::binary(vec![0u8; 3200])).unwrap();
        let (texts, got) = read_to_close(&mut ws);
        assert!(texts.is_empty());
        assert_eq!(got, Some(code));
        server.wait_log(&format!("end=fault-close-{code}"));
    }
    let server = fault_server("close-no-status");
    let mut tcp = raw_after_first_binary(&server);
    assert_eq!(read_n(&mut tcp, 2), [0x88, 0x00]);
}

#[test]
fn connection_cut_modes() {
    let server = fault_server("drop-mid-stream");
    let mut ws = connect(server.port, Some(PCM_16K_MONO), &[]).unwrap();
    ws.send(Message::binary(vec![0u8; 3200])).unwrap();
    let err = ws.read().expect_err("connection must end");
    assert!(matches!(err, Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)), "{err:?}");
    drop(ws);
    server.wait_log("end=fault-drop-mid-stream");

    let server = fault_server("cut-frame");
    let mut tcp = raw_after_first_binary(&server);
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let bytes = read_to_eof(&mut tcp);
    assert_eq!(bytes.len(), 14, "{bytes:?}");
    assert_eq!(bytes[..4], [0x81, 126, 0x03, 0xe8]);
}

#[test]
fn empty_message_modes() {
    let server = fault_server("empty-text");
    let mut ws = connect(server.port, Some(PCM_16K_MONO), &[]).unwrap();
    ws.send(Message::binary(vec![0u8; 3200])).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text(""));

    let server = fault_server("empty-binary");
    let mut ws = connect(server.port, Some(PCM_16K_MONO), &[]).unwrap();
    ws.send(Message::binary(vec![0u8; 3200])).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(Vec::new()));
}

#[test]
fn illegal_frame_modes() {
    let server = fault_server("reserved-opcode");
    let mut tcp = raw_after_first_binary(&server);
    let head = read_n(&mut tcp, 2);
    assert_eq!(head[0], 0x83, "FIN and opcode 3");
    assert_eq!(head[1] & 0x80, 0, "unmasked");

    let server = fault_server("reserved-bits");
    let mut tcp = raw_after_first_binary(&server);
    let head = read_n(&mut tcp, 2);
    assert_eq!(head[0] & 0x40, 0x40, "RSV1 set");
    assert_eq!(head[0] & 0x0f, 1, "text opcode");

    let server = fault_server("masked-frame");
    let mut tcp = raw_after_first_binary(&server);
    let head = read_n(&mut tcp, 2);
    assert_eq!(head[0], 0x81);
    assert_eq!(head[1] & 0x80, 0x80, "MASK bit set");
    let len = usize::from(head[1] & 0x7f);
    let key = read_n(&mut tcp, 4);
    let payload: Vec<u8> =
        read_n(&mut tcp, len).iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
    assert_eq!(payload, b"{\"status\":\"masked\"}");
}

#[test]
fn oversize_mode_sends_17_mib_plus_one() {
    let server = fault_server("oversize");
    let mut tcp = raw_after_first_binary(&server);
    let head = read_n(&mut tcp, 10);
    assert_eq!(head[..2], [0x82, 127]);
    let len = u64::from_be_bytes(head[2..].try_into().unwrap());
    assert_eq!(len, 17_825_793);
    let mut left = len as usize;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let n = tcp.read(&mut buf[..left.min(1 << 16)]).unwrap();
        assert!(n > 0, "payload cut short, {left} bytes missing");
        left -= n;
    }
}

#[test]
fn ping_between_results() {
    let server = fault_server("ping-between");
    let mut ws = connect(server.port, Some(PCM_16K_MONO), &[]).unwrap();
    ws.send(Message::binary(to_bytes(&test_pcm(32000, 1, 9)))).unwrap();
    ws.send(recog_break()).unwrap();
    let mut kinds = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Ping(p)) => {
                assert_eq!(&p[..], b"mimi-ping");
                kinds.push("ping");
            }
            Ok(Message::Text(_)) => kinds.push("text"),
            Ok(Message::Close(_)) => break,
            Ok(other) => panic!("{other:?}"),
            Err(e) => panic!("{e}"),
        }
    }
    while ws.read().is_ok() {}
    assert_eq!(kinds, ["ping", "text", "ping", "text", "ping", "text"]);
    // Our client answered every ping; the server saw the same payload come back.
    let line = server.wait_log("end=recog-finished");
    assert!(line.contains("pings=3 pongs=3"), "{line}");
}

#[test]
fn stop_reading_blocks_the_sender() {
    let server = Server::start_env(&["--fault", "stop-reading"], &[("MIMI_SERVER_HOLD_SECS", "3")]);
    let mut ws = connect(server.port, Some(PCM_16K_MONO), &[]).unwrap();
    ws.get_ref().set_write_timeout(Some(Duration::from_millis(300))).unwrap();
    let chunk = vec![0u8; 256 * 1024];
    let mut blocked = false;
    for _ in 0..256 {
        match ws.send(Message::binary(chunk.clone())) {
            Ok(()) => {}
            Err(Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                blocked = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(blocked, "64 MiB went through a server that does not read");
    drop(ws);
    server.wait_log("end=fault-stop-reading");
}
