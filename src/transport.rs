//! The byte stream under the WebSocket: name resolution and TCP connect with a
//! deadline, classified by phase (701 resolve, 703 timeout, 704 unreachable), and
//! the stream type the session owns.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc;
use std::time::Instant;

use openssl::ssl::SslStream;

use crate::error::MimiError;
use crate::log;

/// The TCP socket under everything. While the connection is being set up it
/// enforces the connect deadline on every read and write (so a peer trickling
/// bytes cannot stretch it); afterwards it is non-blocking and polled.
pub struct Socket {
    tcp: TcpStream,
    deadline: Option<Instant>,
}

impl Socket {
    pub fn new(tcp: TcpStream, deadline: Instant) -> Socket {
        Socket { tcp, deadline: Some(deadline) }
    }

    /// Points the socket timeouts at what is left of the deadline.
    fn arm(&self) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let left = remaining(deadline).ok_or(io::ErrorKind::TimedOut)?;
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.set_write_timeout(Some(left))
    }

    /// Set-up is over: no deadline, no timeouts, non-blocking from now on.
    pub fn finish_setup(&mut self) -> io::Result<()> {
        self.deadline = None;
        self.tcp.set_read_timeout(None)?;
        self.tcp.set_write_timeout(None)?;
        self.tcp.set_nonblocking(true)
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The connection as the WebSocket layer sees it.
pub enum Transport {
    Plain(Socket),
    Tls(Box<SslStream<Socket>>),
}

impl Transport {
    pub fn socket_mut(&mut self) -> &mut Socket {
        match self {
            Transport::Plain(socket) => socket,
            Transport::Tls(tls) => tls.get_mut(),
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        match self {
            Transport::Plain(socket) => socket.tcp.as_raw_fd(),
            Transport::Tls(tls) => tls.get_ref().tcp.as_raw_fd(),
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => socket.read(buf),
            Transport::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => socket.write(buf),
            Transport::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(socket) => socket.flush(),
            Transport::Tls(tls) => tls.flush(),
        }
    }
}

/// Bytes of ours the peer has acknowledged on this TCP socket (Linux TCP_INFO).
pub fn bytes_acked(fd: RawFd) -> Option<u64> {
    // SAFETY: getsockopt writes at most `len` bytes into the zeroed tcp_info we own
    // and updates `len`; a failure is checked.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        (rc == 0).then_some(info.tcpi_bytes_acked)
    }
}

/// Time left before `deadline`, or `None` once it has passed.
pub fn remaining(deadline: Instant) -> Option<std::time::Duration> {
    deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
}

/// Resolves `host`. An address literal needs no lookup; a name is looked up on a
/// helper thread because getaddrinfo has no timeout of its own.
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, MimiError> {
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }

    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    let spawned = std::thread::Builder::new().name("mimiio-resolve".into()).spawn(move || {
        let _ = tx.send((name.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    if spawned.is_err() {
        return Err(MimiError::Internal);
    }

    let wait = remaining(deadline).ok_or(MimiError::Resolve)?;
    match rx.recv_timeout(wait) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(MimiError::Resolve),
        Ok(Err(e)) => {
            log::warning!("cannot resolve {host}: {e}");
            Err(MimiError::Resolve)
        }
        Err(_) => {
            log::warning!("resolving {host} timed out");
            Err(MimiError::Resolve)
        }
    }
}

/// Resolves and connects, trying each address with what is left of the deadline.
/// All addresses timing out is 703; refused or unreachable is 704; a local
/// failure such as running out of descriptors is 799.
pub fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, MimiError> {
    let addrs = resolve(host, port, deadline)?;

    let mut failure = MimiError::Network;
    for addr in addrs {
        let Some(wait) = remaining(deadline) else {
            failure = MimiError::ConnectTimeout;
            break;
        };
        match TcpStream::connect_timeout(&addr, wait) {
            Ok(tcp) => {
                // Audio chunks and results are latency-sensitive; no Nagle delay.
                let _ = tcp.set_nodelay(true);
                log::debug!("connected to {addr}");
                return Ok(tcp);
            }
            Err(e) => {
                log::warning!("cannot connect to {addr}: {e}");
                let this = match e.kind() {
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                        MimiError::ConnectTimeout
                    }
                    io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::NetworkUnreachable
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkDown
                    | io::ErrorKind::AddrNotAvailable => MimiError::Unreachable,
                    _ => MimiError::Network,
                };
                // Of several addresses, a timeout says most, then unreachable.
                failure = worst(failure, this);
            }
        }
    }
    Err(failure)
}

fn worst(a: MimiError, b: MimiError) -> MimiError {
    let rank = |e| match e {
        MimiError::ConnectTimeout => 2,
        MimiError::Unreachable => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}
