//! mimiio: a client library for the mimi WebSocket speech API, built as a drop-in
//! `libmimiio.so.3`. The C interface lives in [`capi`]; everything under it is
//! safe Rust that knows nothing of C.
//!
//! - [`options`]: what `mimi_open` is asked for, validated; timeouts.
//! - [`transport`], [`tls`], [`handshake`]: TCP connect, TLS and WebSocket upgrade.
//! - [`session`], [`io_loop`]: the running session and its threads.
//! - [`encoder`]: PCM pass-through and libFLAC encoding.
//! - [`error`]: the error table; [`log`]: syslog.

pub mod capi;
pub mod encoder;
pub mod error;
pub mod frame_tracker;
pub mod handshake;
pub mod io_loop;
pub mod log;
pub mod options;
pub mod session;
pub mod tls;
pub mod transport;
pub mod wake;
