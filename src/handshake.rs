//! Opening a connection: TCP (and TLS) within the connect deadline, then the
//! WebSocket upgrade, with every way it can fail mapped to its number.
//!
//! The upgrade request is written here rather than by tungstenite, so that
//! headers go out exactly as SPEC §4 says: `X-Mimi-Content-Type`, then the
//! user's headers in the order and spelling given, byte for byte. tungstenite
//! takes over the stream once the server has answered 101.

use std::io::{self, Read, Write};
use std::time::Instant;

use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::WebSocket;

use crate::error::MimiError;
use crate::frame_tracker::Tracked;
use crate::log;
use crate::options::{OpenOptions, MAX_MESSAGE_SIZE};
use crate::tls;
use crate::transport::{self, Socket, Transport};

/// The stream a session's WebSocket runs on.
pub type WsStream = Tracked<Transport>;

/// The longest upgrade response accepted; a longer head is not a WebSocket server.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// WebSocket settings: the 16 MiB message limit of 810, and a read buffer smaller
/// than tungstenite's 128 KiB default, since results are small and sessions many.
fn config() -> WebSocketConfig {
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_MESSAGE_SIZE);
    config.max_frame_size = Some(MAX_MESSAGE_SIZE);
    config.read_buffer_size = 16 * 1024;
    config
}

/// The upgrade request. Every piece was validated (no CR, LF or NUL can occur).
fn request(opts: &OpenOptions, key: &str) -> Vec<u8> {
    let host = if opts.host.contains(':') && !opts.host.starts_with('[') {
        format!("[{}]", opts.host)
    } else {
        opts.host.clone()
    };
    let content_type = opts.audio.format.content_type(opts.audio.rate, opts.audio.channels);

    let mut head = format!(
        "GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         X-Mimi-Content-Type: {content_type}\r\n",
        port = opts.port
    )
    .into_bytes();
    if let Some(token) = &opts.access_token {
        head.extend_from_slice(format!("Authorization: Bearer {token}\r\n").as_bytes());
    }
    for (name, value) in &opts.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Connects and upgrades; blocks until done or `opts.timeouts.connect` has passed.
pub fn open(opts: &OpenOptions) -> Result<WebSocket<WsStream>, MimiError> {
    let deadline = Instant::now() + opts.timeouts.connect;
    let socket = Socket::new(transport::connect(&opts.host, opts.port, deadline)?, deadline);

    // The TLS handshake is ours, with the deadline (tungstenite's own TLS wrapping
    // panics on a timeout, #450).
    let transport = match &opts.access_token {
        Some(_) => Transport::Tls(Box::new(tls::handshake(&opts.host, socket)?)),
        None => Transport::Plain(socket),
    };
    let mut stream = Tracked::new(transport);

    let key = generate_key();
    stream.write_all(&request(opts, &key)).map_err(|e| io_failure("sending the upgrade", &e))?;
    stream.flush().map_err(|e| io_failure("sending the upgrade", &e))?;
    let (status, tail) = read_response(&mut stream, &key)?;
    log::info!("WebSocket open to {}:{} ({status})", opts.host, opts.port);

    // From here on the session waits with poll(2), never in a read.
    stream.get_mut().socket_mut().finish_setup().map_err(|_| MimiError::Network)?;
    Ok(WebSocket::from_partially_read(stream, tail, Role::Client, Some(config())))
}

/// Reads the server's answer to the upgrade and checks it (RFC 6455 §4.2.2).
/// Returns the status line's code and any bytes read past the head.
fn read_response(stream: &mut WsStream, key: &str) -> Result<(u16, Vec<u8>), MimiError> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_len = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buffer.len() > MAX_RESPONSE_HEAD {
            log::error!("the upgrade response head exceeds {MAX_RESPONSE_HEAD} bytes");
            return Err(MimiError::UpgradeRefused);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                log::error!("the server closed the connection before answering the upgrade");
                return Err(MimiError::DroppedBeforeUpgrade);
            }
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            // A socket timeout surfaces as WouldBlock; the next read reports the
            // deadline if it has passed.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_failure("reading the upgrade response", &e)),
        }
    };

    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&buffer[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            log::error!("the server's answer to the upgrade is not HTTP");
            return Err(MimiError::UpgradeRefused);
        }
    }
    let status = response.code.unwrap_or(0);
    let header = |name: &str| {
        response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    };

    let refused = match status {
        101 => None,
        401 => Some(MimiError::TokenRejected),
        426 => Some(MimiError::ProtocolVersionRejected),
        _ => Some(MimiError::UpgradeRefused),
    };
    if let Some(error) = refused {
        log::error!("the server refused the upgrade with HTTP {status} (error {})", error.code());
        return Err(error);
    }

    let upgrade_ok = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"));
    let connection_ok = header("connection").is_some_and(|v| {
        v.split(|&b| b == b',').any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
    });
    if !upgrade_ok || !connection_ok {
        log::error!("the server answered 101 without Upgrade: websocket and Connection: Upgrade");
        return Err(MimiError::UpgradeRefused);
    }
    let expected = derive_accept_key(key.as_bytes());
    if header("sec-websocket-accept").map(<[u8]>::trim_ascii) != Some(expected.as_bytes()) {
        log::error!("the server's Sec-WebSocket-Accept is missing or wrong");
        return Err(MimiError::BadAcceptKey);
    }

    Ok((status, buffer.split_off(head_len)))
}

/// Maps an I/O failure before the upgrade finished to SPEC §5.
fn io_failure(what: &str, error: &io::Error) -> MimiError {
    let mapped = match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => MimiError::ConnectTimeout,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe => MimiError::DroppedBeforeUpgrade,
        _ => MimiError::Network,
    };
    log::error!("{what} failed: {error} (error {})", mapped.code());
    mapped
}
