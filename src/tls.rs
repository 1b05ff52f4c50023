//! TLS for `wss://`: OpenSSL through the `openssl` crate (the library native-tls
//! uses on Linux), because failures are classified by OpenSSL's own verify and
//! reason codes, which native-tls shows only inside its message text.
//!
//! Verification is strict: the system trust store (with OpenSSL's
//! `SSL_CERT_FILE` / `SSL_CERT_DIR`), plus an optional CA bundle from
//! `MIMIIO_CA_FILE` or the build-time default `MIMIIO_DEFAULT_CA_FILE`; SNI and
//! host name (or IP address) checks always on.

use std::io;

use openssl::ssl::SslStream;
use openssl::ssl::{ErrorCode, HandshakeError, MidHandshakeSslStream, SslConnector, SslMethod};
use openssl::x509::X509VerifyResult;

use crate::error::MimiError;
use crate::log;
use crate::transport::Socket;

/// OpenSSL 3's `SSL_R_UNEXPECTED_EOF_WHILE_READING` in `ERR_LIB_SSL`: the peer
/// closed the connection in the middle of the handshake.
const SSL_R_UNEXPECTED_EOF_WHILE_READING: i32 = 294;
const ERR_LIB_SSL: i32 = 20;

/// X509_V_ERR_* codes (stable numbers of OpenSSL's public headers).
mod verify {
    pub const UNABLE_TO_DECRYPT_CERT_SIGNATURE: i32 = 4;
    pub const UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: i32 = 6;
    pub const CERT_SIGNATURE_FAILURE: i32 = 7;
    pub const ERROR_IN_CERT_NOT_BEFORE_FIELD: i32 = 13;
    pub const ERROR_IN_CERT_NOT_AFTER_FIELD: i32 = 14;
    pub const INVALID_PURPOSE: i32 = 26;
    pub const HOSTNAME_MISMATCH: i32 = 62;
    pub const EMAIL_MISMATCH: i32 = 63;
    pub const IP_ADDRESS_MISMATCH: i32 = 64;
}

/// The CA bundle to add to the system's, if any: `MIMIIO_CA_FILE` at run time,
/// else the path chosen when the library was built.
fn extra_ca_file() -> Option<String> {
    std::env::var("MIMIIO_CA_FILE").ok().filter(|p| !p.is_empty()).or_else(|| {
        option_env!("MIMIIO_DEFAULT_CA_FILE").filter(|p| !p.is_empty()).map(String::from)
    })
}

/// Builds the client context; anything wrong here is 601.
fn connector() -> Result<SslConnector, MimiError> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| {
        log::error!("cannot create a TLS context: {e}");
        MimiError::TlsContext
    })?;
    if let Some(path) = extra_ca_file() {
        builder.set_ca_file(&path).map_err(|e| {
            log::error!("cannot load the CA file {path}: {e}");
            MimiError::TlsContext
        })?;
    }
    Ok(builder.build())
}

/// Runs the TLS handshake; the socket enforces the connect deadline itself.
pub fn handshake(host: &str, socket: Socket) -> Result<SslStream<Socket>, MimiError> {
    let config = connector()?.configure().map_err(|_| MimiError::TlsContext)?;
    // Brackets belong to URLs, not to certificate IP checks.
    let name = host.trim_start_matches('[').trim_end_matches(']');

    let mut attempt = config.connect(name, socket);
    loop {
        match attempt {
            Ok(stream) => {
                log::debug!("TLS established ({})", stream.ssl().version_str());
                return Ok(stream);
            }
            // A socket timeout surfaces as WouldBlock; the next read reports the
            // deadline if it has passed.
            Err(HandshakeError::WouldBlock(mid)) => attempt = mid.handshake(),
            Err(HandshakeError::SetupFailure(e)) => {
                log::error!("cannot set up TLS: {e}");
                return Err(MimiError::TlsContext);
            }
            Err(HandshakeError::Failure(mid)) => return Err(classify(&mid)),
        }
    }
}

/// Maps a failed handshake to 602-605 by OpenSSL's codes, never by message text.
fn classify(mid: &MidHandshakeSslStream<Socket>) -> MimiError {
    let verify_result = mid.ssl().verify_result();
    let timed_out = mid
        .error()
        .io_error()
        .is_some_and(|e| matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock));
    let mapped = if timed_out {
        MimiError::ConnectTimeout
    } else if verify_result != X509VerifyResult::OK {
        match verify_result.as_raw() {
            verify::HOSTNAME_MISMATCH | verify::IP_ADDRESS_MISMATCH | verify::EMAIL_MISMATCH => {
                MimiError::TlsHostnameMismatch
            }
            verify::UNABLE_TO_DECRYPT_CERT_SIGNATURE
            | verify::UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY
            | verify::CERT_SIGNATURE_FAILURE
            | verify::ERROR_IN_CERT_NOT_BEFORE_FIELD
            | verify::ERROR_IN_CERT_NOT_AFTER_FIELD
            | verify::INVALID_PURPOSE => MimiError::TlsCertificateUnusable,
            // Expired, not yet valid, self-signed, unknown issuer and the rest of the
            // chain failures: 605, as the original reports them.
            _ => MimiError::TlsHandshakeFailed,
        }
    } else if peer_closed(mid.error()) {
        MimiError::TlsPeerClosedHandshake
    } else {
        MimiError::TlsHandshakeFailed
    };
    log::error!(
        "TLS handshake failed: {} (verify result {}: {}; error {})",
        mid.error(),
        verify_result.as_raw(),
        verify_result.error_string(),
        mapped.code()
    );
    mapped
}

/// The peer ended the connection mid-handshake: EOF or reset.
fn peer_closed(error: &openssl::ssl::Error) -> bool {
    if let Some(io_error) = error.io_error() {
        return matches!(
            io_error.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::BrokenPipe
        );
    }
    match error.code() {
        // OpenSSL 1.1 reports an EOF as a syscall error with no errno.
        ErrorCode::SYSCALL => error.ssl_error().is_none(),
        ErrorCode::ZERO_RETURN => true,
        _ => error.ssl_error().is_some_and(|stack| {
            stack.errors().iter().any(|e| {
                e.library_code() == ERR_LIB_SSL
                    && e.reason_code() == SSL_R_UNEXPECTED_EOF_WHILE_READING
            })
        }),
    }
}
