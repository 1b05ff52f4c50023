//! `--fault MODE`: one deliberate misbehaviour for every connection of a run,
//! so that client libraries can be tested against broken servers.
//!
//! Faults after the upgrade write raw frames straight onto the stream:
//! tungstenite would refuse to produce most of them.

use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use crate::conn::{self, Conn, PeerGone};
use crate::session::{wait_end, WsEnd};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Http(u16),
    BadUpgrade,
    BadAccept,
    DropBeforeAnswer,
    NeverAnswer,
    Silent,
    DropMidStream,
    Close(u16),
    CloseNoStatus,
    EmptyText,
    EmptyBinary,
    ReservedOpcode,
    ReservedBits,
    MaskedFrame,
    Oversize,
    CutFrame,
    PingBetween,
    StopReading,
    TlsCloseInHandshake,
    HttpText,
}

/// Every mode name `--fault` accepts.
pub const NAMES: &[&str] = &[
    "http-400",
    "http-401",
    "http-403",
    "http-404",
    "http-426",
    "http-500",
    "bad-upgrade",
    "bad-accept",
    "drop-before-answer",
    "never-answer",
    "silent",
    "drop-mid-stream",
    "close-1001",
    "close-1011",
    "close-4001",
    "close-4999",
    "close-no-status",
    "empty-text",
    "empty-binary",
    "reserved-opcode",
    "reserved-bits",
    "masked-frame",
    "oversize",
    "cut-frame",
    "ping-between",
    "stop-reading",
    "tls-close-in-handshake",
    "http-text",
];

/// Size of the `oversize` message: one byte over 17 MiB, well past a 16 MiB limit.
pub const OVERSIZE_BYTES: u64 = 17 * 1024 * 1024 + 1;
/// Payload of every ping sent in `ping-between` mode.
pub const PING_PAYLOAD: &[u8] = b"mimi-ping";

impl Fault {
    pub fn parse(name: &str) -> Option<Fault> {
        if !NAMES.contains(&name) {
            return None;
        }
        let number = |prefix: &str| name.strip_prefix(prefix).and_then(|n| n.parse().ok());
        Some(match name {
            "bad-upgrade" => Fault::BadUpgrade,
            "bad-accept" => Fault::BadAccept,
            "drop-before-answer" => Fault::DropBeforeAnswer,
            "never-answer" => Fault::NeverAnswer,
            "silent" => Fault::Silent,
            "drop-mid-stream" => Fault::DropMidStream,
            "close-no-status" => Fault::CloseNoStatus,
            "empty-text" => Fault::EmptyText,
            "empty-binary" => Fault::EmptyBinary,
            "reserved-opcode" => Fault::ReservedOpcode,
            "reserved-bits" => Fault::ReservedBits,
            "masked-frame" => Fault::MaskedFrame,
            "oversize" => Fault::Oversize,
            "cut-frame" => Fault::CutFrame,
            "ping-between" => Fault::PingBetween,
            "stop-reading" => Fault::StopReading,
            "tls-close-in-handshake" => Fault::TlsCloseInHandshake,
            "http-text" => Fault::HttpText,
            _ if name.starts_with("http-") => Fault::Http(number("http-")?),
            _ => Fault::Close(number("close-")?),
        })
    }

    pub fn name(self) -> String {
        match self {
            Fault::Http(status) => format!("http-{status}"),
            Fault::Close(code) => format!("close-{code}"),
            other => {
                let found = NAMES.iter().find(|n| Fault::parse(n) == Some(other));
                found.map(|n| n.to_string()).unwrap_or_else(|| format!("{other:?}"))
            }
        }
    }

    /// Faults that act on the raw TCP connection, before TLS or HTTP.
    pub fn before_tls(self) -> bool {
        matches!(self, Fault::TlsCloseInHandshake | Fault::HttpText)
    }

    /// Faults that read the upgrade request but never answer it properly.
    pub fn before_upgrade(self) -> bool {
        matches!(self, Fault::DropBeforeAnswer | Fault::NeverAnswer)
    }

    /// Faults that take over right after the upgrade.
    pub fn after_upgrade(self) -> bool {
        matches!(self, Fault::BadUpgrade | Fault::BadAccept | Fault::Silent | Fault::StopReading)
    }

    /// Faults triggered by the first binary message.
    pub fn after_first_binary(self) -> bool {
        matches!(
            self,
            Fault::DropMidStream
                | Fault::Close(_)
                | Fault::CloseNoStatus
                | Fault::EmptyText
                | Fault::EmptyBinary
                | Fault::ReservedOpcode
                | Fault::ReservedBits
                | Fault::MaskedFrame
                | Fault::Oversize
                | Fault::CutFrame
        )
    }
}

/// How a fault session ended: the `end=` word and a detail for the log.
pub struct FaultEnd {
    pub end: String,
    pub detail: String,
}

fn ended(fault: Fault, detail: impl Into<String>) -> FaultEnd {
    FaultEnd { end: format!("fault-{}", fault.name()), detail: detail.into() }
}

/// `tls-close-in-handshake` and `http-text`: no TLS, no WebSocket.
pub fn before_tls(fault: Fault, tcp: TcpStream, hold: Duration) -> FaultEnd {
    let mut conn = Conn::Plain(tcp);
    match fault {
        Fault::TlsCloseInHandshake => {
            let hello = read_client_hello(&mut conn);
            // Dropping the socket now closes it without a byte of answer.
            ended(fault, format!("read {} bytes of ClientHello, closed", hello))
        }
        _ => {
            let first = read_first_request(&mut conn);
            let body = "mimi-server: plain HTTP here, neither TLS nor a WebSocket upgrade\n";
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.set_write_timeout(Some(Duration::from_secs(10)));
            conn::write_all_quiet(&mut conn, answer.as_bytes());
            conn.shutdown_write();
            let gone = conn::drain(&mut conn, hold.min(Duration::from_secs(5)));
            ended(fault, format!("read {first} bytes, answered 200, {}", gone.name()))
        }
    }
}

/// Reads one TLS record (the ClientHello) or whatever a non-TLS client sent first.
fn read_client_hello(conn: &mut Conn) -> usize {
    use std::io::Read;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let want = match got.as_slice() {
            [0x16, _, _, hi, lo, ..] => 5 + usize::from(u16::from_be_bytes([*hi, *lo])),
            [first, ..] if *first != 0x16 => 0,
            _ => 5,
        };
        if got.len() >= want && !got.is_empty() {
            return got.len();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return got.len();
        }
        conn.set_read_timeout(Some(left));
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return got.len(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads what a client sends first: an HTTP request head if it looks like
/// HTTP, otherwise (a TLS ClientHello, say) just the first bytes.
fn read_first_request(conn: &mut Conn) -> usize {
    use std::io::Read;
    conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = [0u8; 4096];
    let first = match conn.read(&mut buf) {
        Ok(n) => buf[..n].to_vec(),
        Err(_) => Vec::new(),
    };
    let looks_like_http = first.first().is_some_and(|b| b.is_ascii_uppercase());
    if !looks_like_http || first.windows(4).any(|w| w == b"\r\n\r\n") {
        return first.len();
    }
    let rest = conn::read_request_head(conn, Duration::from_secs(5));
    first.len() + rest.len()
}

/// `drop-before-answer` and `never-answer`.
pub fn before_upgrade(fault: Fault, mut conn: Conn, hold: Duration) -> FaultEnd {
    let head = conn::read_request_head(&mut conn, Duration::from_secs(30));
    if fault == Fault::DropBeforeAnswer {
        let _ = conn.tcp().shutdown(std::net::Shutdown::Both);
        return ended(fault, format!("read {} bytes of request, closed", head.len()));
    }
    let gone = conn::drain(&mut conn, hold);
    ended(fault, format!("read {} bytes of request, never answered, {}", head.len(), gone.name()))
}

/// `bad-upgrade`, `bad-accept`, `silent` and `stop-reading`, right after the
/// (possibly tampered) 101 answer went out.
pub fn after_upgrade(fault: Fault, ws: &mut WebSocket<Conn>, hold: Duration) -> FaultEnd {
    match fault {
        Fault::Silent => {
            let end = wait_end(ws, hold, |_| {});
            ended(fault, format!("sent nothing; {}", end.describe()))
        }
        Fault::StopReading => {
            let gone = hold_without_reading(ws.get_ref().tcp(), hold);
            ended(fault, format!("stopped reading; {}", gone.name()))
        }
        _ => {
            // The client should refuse the 101; wait for it to hang up.
            let gone = conn::drain(ws.get_mut(), hold.min(Duration::from_secs(30)));
            ended(fault, format!("sent a broken 101; {}", gone.name()))
        }
    }
}

/// Keeps the socket open without reading until the peer hangs up or `hold`
/// passes. A small receive buffer makes the client's sends block sooner.
fn hold_without_reading(tcp: &TcpStream, hold: Duration) -> PeerGone {
    let fd = tcp.as_raw_fd();
    let small: libc::c_int = 4096;
    // SAFETY: plain socket option calls on a socket this thread owns.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &small as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    let deadline = Instant::now() + hold;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return PeerGone::Timeout;
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLRDHUP, revents: 0 };
        let wait_ms = left.as_millis().min(1000) as libc::c_int;
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, wait_ms.max(1)) };
        if n > 0 {
            if pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                return PeerGone::Error;
            }
            if pfd.revents & libc::POLLRDHUP != 0 {
                return PeerGone::Eof;
            }
        }
    }
}

/// Frame bytes as a server would send them (unmasked unless `mask` is given).
pub fn frame_bytes(first_byte: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = frame_header(first_byte, payload.len() as u64, mask.is_some());
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A frame header announcing `len` payload bytes (mask key not included).
pub fn frame_header(first_byte: u8, len: u64, masked: bool) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first_byte];
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out
}

/// The faults triggered by the first binary message.
pub fn after_first_binary(fault: Fault, ws: &mut WebSocket<Conn>, hold: Duration) -> FaultEnd {
    // Anything tungstenite still buffers (a pong, say) must go out first.
    let _ = ws.flush();
    ws.get_ref().set_write_timeout(Some(Duration::from_secs(30)));
    let after = hold.min(Duration::from_secs(30));
    match fault {
        Fault::Close(code) => {
            let frame =
                CloseFrame { code: CloseCode::from(code), reason: "mimi-server fault".into() };
            let sent = ws.close(Some(frame)).is_ok();
            let end = wait_end(ws, Duration::from_secs(5), |_| {});
            ended(fault, format!("close {code} sent={sent}; {}", end.describe()))
        }
        Fault::CloseNoStatus => {
            let sent = ws.close(None).is_ok();
            let end = wait_end(ws, Duration::from_secs(5), |_| {});
            ended(fault, format!("empty close sent={sent}; {}", end.describe()))
        }
        Fault::EmptyText | Fault::EmptyBinary => {
            let message = match fault {
                Fault::EmptyText => Message::text(""),
                _ => Message::binary(Vec::new()),
            };
            let sent = ws.send(message).is_ok();
            let end = wait_end(ws, after, |_| {});
            ended(fault, format!("empty message sent={sent}; {}", end.describe()))
        }
        Fault::DropMidStream | Fault::CutFrame => {
            let mut sent = true;
            if fault == Fault::CutFrame {
                // Announces 1000 bytes of text, delivers 10.
                let mut bytes = frame_header(0x81, 1000, false);
                bytes.extend_from_slice(b"{\"status\":");
                sent = conn::write_all_quiet(ws.get_mut(), &bytes);
            }
            // FIN without a close frame; reading on so the peer sees EOF, not a reset.
            ws.get_ref().shutdown_write();
            let gone = conn::drain(ws.get_mut(), after);
            ended(fault, format!("shut down sent={sent}; {}", gone.name()))
        }
        Fault::Oversize => {
            let sent = write_oversize(ws.get_mut());
            let end = wait_end(ws, after, |_| {});
            ended(fault, format!("oversize sent={sent}; {}", end.describe()))
        }
        _ => {
            let bytes = match fault {
                Fault::ReservedOpcode => frame_bytes(0x83, b"reserved opcode 3", None),
                Fault::ReservedBits => frame_bytes(0xc1, b"{\"status\":\"rsv1\"}", None),
                _ => frame_bytes(0x81, b"{\"status\":\"masked\"}", Some([0x1f, 0x2e, 0x3d, 0x4c])),
            };
            let sent = conn::write_all_quiet(ws.get_mut(), &bytes);
            let end = wait_end(ws, after, |_| {});
            ended(fault, format!("raw frame sent={sent}; {}", end.describe()))
        }
    }
}

/// One binary message of `OVERSIZE_BYTES`, written in pieces.
fn write_oversize(conn: &mut Conn) -> bool {
    if !conn::write_all_quiet(conn, &frame_header(0x82, OVERSIZE_BYTES, false)) {
        return false;
    }
    let piece = vec![0x55u8; 65536];
    let mut left = OVERSIZE_BYTES;
    while left > 0 {
        let n = left.min(piece.len() as u64) as usize;
        if !conn::write_all_quiet(conn, &piece[..n]) {
            return false;
        }
        left -= n as u64;
    }
    true
}

impl WsEnd {
    pub fn describe(&self) -> String {
        match self {
            WsEnd::Closed => "close handshake completed".to_string(),
            WsEnd::Dropped => "peer dropped the connection".to_string(),
            WsEnd::Timeout => "peer still connected at the time limit".to_string(),
            WsEnd::Error(e) => format!("error: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in NAMES {
            let fault = Fault::parse(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(fault.name(), *name);
        }
        assert_eq!(Fault::parse("http-402"), None);
        assert_eq!(Fault::parse("close-1000"), None);
        assert_eq!(Fault::parse("slow-results"), None);
    }

    #[test]
    fn frames() {
        assert_eq!(frame_bytes(0x81, b"hi", None), vec![0x81, 2, b'h', b'i']);
        assert_eq!(frame_header(0x81, 1000, false), vec![0x81, 126, 0x03, 0xe8]);
        assert_eq!(frame_header(0x82, OVERSIZE_BYTES, false)[1], 127);
        let masked = frame_bytes(0x81, b"ab", Some([1, 2, 3, 4]));
        assert_eq!(masked, vec![0x81, 0x82, 1, 2, 3, 4, b'a' ^ 1, b'b' ^ 2]);
    }
}
