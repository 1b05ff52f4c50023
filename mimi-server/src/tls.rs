//! TLS for the listener (`--tls-cert`, `--tls-key`), with OpenSSL.

use std::net::TcpStream;
use std::path::Path;

use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};

use crate::conn::Conn;

/// Builds the acceptor once at start-up, so that a bad certificate or key
/// stops the server before it listens.
pub fn acceptor(cert: &Path, key: &Path) -> Result<SslAcceptor, String> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(|e| format!("cannot create TLS context: {e}"))?;
    builder
        .set_certificate_chain_file(cert)
        .map_err(|e| format!("cannot load certificate {}: {e}", cert.display()))?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| format!("cannot load private key {}: {e}", key.display()))?;
    builder.check_private_key().map_err(|e| format!("key does not match certificate: {e}"))?;
    Ok(builder.build())
}

/// Runs the server side of the TLS handshake. On failure the TCP connection is
/// simply dropped, as OpenSSL servers do with a bad ClientHello.
pub fn accept(acceptor: &SslAcceptor, tcp: TcpStream) -> Result<Conn, String> {
    match acceptor.accept(tcp) {
        Ok(stream) => Ok(Conn::Tls(Box::new(stream))),
        Err(e) => Err(e.to_string()),
    }
}
