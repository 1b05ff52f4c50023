//! Opening a connection: TCP (and later TLS) within the connect deadline, then the
//! WebSocket upgrade, with every way the upgrade can fail mapped to its number.

use std::io;
use std::time::Instant;

use tungstenite::client::IntoClientRequest;
use tungstenite::error::ProtocolError;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::WebSocket;

use crate::error::MimiError;
use crate::frame_tracker::Tracked;
use crate::log;
use crate::options::{OpenOptions, MAX_MESSAGE_SIZE};
use crate::tls;
use crate::transport::{self, Socket, Transport};

/// The stream a session's WebSocket runs on.
pub type WsStream = Tracked<Transport>;

/// WebSocket settings: the 16 MiB message limit of 810, and a read buffer smaller
/// than tungstenite's 128 KiB default, since results are small and sessions many.
fn config() -> WebSocketConfig {
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_MESSAGE_SIZE);
    config.max_frame_size = Some(MAX_MESSAGE_SIZE);
    config.read_buffer_size = 16 * 1024;
    config
}

fn build_request(opts: &OpenOptions) -> Result<tungstenite::handshake::client::Request, MimiError> {
    let scheme = if opts.access_token.is_some() { "wss" } else { "ws" };
    let host = if opts.host.contains(':') && !opts.host.starts_with('[') {
        format!("[{}]", opts.host)
    } else {
        opts.host.clone()
    };
    let url = format!("{scheme}://{host}:{}/", opts.port);
    let mut request = url.as_str().into_client_request().map_err(|e| {
        log::error!("cannot build a request for {url}: {e}");
        MimiError::Resolve
    })?;

    // tungstenite writes the handshake's own headers first, then removes them from
    // the map, which moves later entries around. Built in this order (ours, then
    // theirs last) the removals touch only the tail, and the user's headers go out
    // in the order given (values of a repeated name are sent together).
    let handshake_headers = std::mem::take(request.headers_mut());
    let headers = request.headers_mut();
    let content_type = opts.audio.format.content_type(opts.audio.rate, opts.audio.channels);
    let content_type = HeaderValue::from_str(&content_type).map_err(|_| MimiError::Internal)?;
    headers.insert("x-mimi-content-type", content_type);
    if let Some(token) = &opts.access_token {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| MimiError::UpgradeRefused)?;
        value.set_sensitive(true);
        headers.insert("authorization", value);
    }
    for (key, value) in &opts.headers {
        let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| MimiError::UpgradeRefused)?;
        let value = HeaderValue::from_bytes(value).map_err(|_| MimiError::UpgradeRefused)?;
        headers.append(name, value);
    }
    for (name, value) in &handshake_headers {
        headers.append(name, value.clone());
    }
    Ok(request)
}

/// Connects and upgrades; blocks until done or `opts.timeouts.connect` has passed.
pub fn open(opts: &OpenOptions) -> Result<WebSocket<WsStream>, MimiError> {
    let request = build_request(opts)?;
    let deadline = Instant::now() + opts.timeouts.connect;
    let socket = Socket::new(transport::connect(&opts.host, opts.port, deadline)?, deadline);

    // The TLS handshake is ours, before tungstenite sees the stream (tungstenite's
    // own TLS wrapping panics on a timeout, #450).
    let transport = match &opts.access_token {
        Some(_) => Transport::Tls(Box::new(tls::handshake(&opts.host, socket)?)),
        None => Transport::Plain(socket),
    };

    let mut attempt =
        tungstenite::client::client_with_config(request, Tracked::new(transport), Some(config()));
    loop {
        match attempt {
            Ok((mut ws, response)) => {
                log::info!("WebSocket open to {}:{} ({})", opts.host, opts.port, response.status());
                // From here on the session waits with poll(2), never in a read.
                let socket = ws.get_mut().get_mut().socket_mut();
                socket.finish_setup().map_err(|_| MimiError::Network)?;
                return Ok(ws);
            }
            // A socket timeout surfaces as WouldBlock; the next read reports the
            // deadline if it has passed.
            Err(HandshakeError::Interrupted(mid)) => attempt = mid.handshake(),
            Err(HandshakeError::Failure(e)) => return Err(classify(e)),
        }
    }
}

/// Maps a failed upgrade to SPEC §5.
fn classify(error: tungstenite::Error) -> MimiError {
    use tungstenite::Error;

    let mapped = match &error {
        Error::Http(response) => match response.status().as_u16() {
            401 => MimiError::TokenRejected,
            426 => MimiError::ProtocolVersionRejected,
            _ => MimiError::UpgradeRefused,
        },
        Error::Protocol(ProtocolError::SecWebSocketAcceptKeyMismatch) => MimiError::BadAcceptKey,
        Error::Protocol(ProtocolError::HandshakeIncomplete) => MimiError::DroppedBeforeUpgrade,
        Error::Protocol(_) | Error::HttpFormat(_) | Error::Capacity(_) | Error::Utf8(_) => {
            MimiError::UpgradeRefused
        }
        Error::Io(e) => match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => MimiError::ConnectTimeout,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe => MimiError::DroppedBeforeUpgrade,
            _ => MimiError::Network,
        },
        Error::ConnectionClosed | Error::AlreadyClosed => MimiError::DroppedBeforeUpgrade,
        _ => MimiError::Network,
    };
    log::error!("WebSocket upgrade failed: {error} (error {})", mapped.code());
    mapped
}
