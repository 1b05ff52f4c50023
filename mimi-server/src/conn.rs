//! The byte stream of one connection, plain TCP or TLS, plus small blocking
//! helpers with deadlines so that no misbehaving peer holds a thread forever.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use openssl::ssl::SslStream;

pub enum Conn {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Conn {
    /// The TCP socket underneath (for timeouts and shutdown).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        }
    }

    /// Sends FIN without any TLS close_notify or WebSocket close frame.
    pub fn shutdown_write(&self) {
        let _ = self.tcp().shutdown(Shutdown::Write);
    }

    pub fn set_read_timeout(&self, limit: Option<Duration>) {
        // A zero duration is an error for the socket API; treat it as "tiny".
        let limit = limit.map(|d| d.max(Duration::from_millis(1)));
        let _ = self.tcp().set_read_timeout(limit);
    }

    pub fn set_write_timeout(&self, limit: Option<Duration>) {
        let _ = self.tcp().set_write_timeout(limit);
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

pub fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// How a wait for the peer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerGone {
    /// Orderly end of stream.
    Eof,
    /// Reset or another socket error.
    Error,
    /// Still there when the deadline passed.
    Timeout,
}

impl PeerGone {
    pub fn name(self) -> &'static str {
        match self {
            PeerGone::Eof => "peer closed",
            PeerGone::Error => "peer reset",
            PeerGone::Timeout => "peer still connected at the time limit",
        }
    }
}

/// Reads and discards until the peer goes away or `limit` passes.
pub fn drain(stream: &mut Conn, limit: Duration) -> PeerGone {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 16384];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return PeerGone::Timeout;
        }
        stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => return PeerGone::Eof,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return PeerGone::Error,
        }
    }
}

/// Reads an HTTP request head (up to the blank line) without answering it.
/// Stops early at end of stream, after 64 KiB, or at the deadline.
pub fn read_request_head(stream: &mut Conn, limit: Duration) -> Vec<u8> {
    let deadline = Instant::now() + limit;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    head
}

/// Writes everything or gives up quietly: the peer of a fault may be gone.
pub fn write_all_quiet<W: Write>(stream: &mut W, bytes: &[u8]) -> bool {
    stream.write_all(bytes).and_then(|_| stream.flush()).is_ok()
}
