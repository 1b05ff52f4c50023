//! The C-visible types of `mimiio.h`. cbindgen turns these declarations into the
//! header; their layout is part of the ABI and is checked by `ctests/abi.c`.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

/// Opaque handle of one connection, returned by `mimi_open` and released by
/// `mimi_close`. Its fields are private to the library.
pub struct mimi_io_s {
    _private: [u8; 0],
}

/// The handle type C programs use: `typedef struct mimi_io_s MIMI_IO;`.
pub type MIMI_IO = mimi_io_s;

/// Size in bytes of each field of [`MIMIIO_HTTP_REQUEST_HEADER`].
pub const MIMIIO_HEADER_FIELD_SIZE: usize = 1024;

/// One extra HTTP header for the WebSocket upgrade request, e.g. key
/// `x-mimi-process`, value `asr`. Both fields are NUL-terminated strings inside
/// their 1024 bytes. `mimi_open` copies them and fails with 801 for a field with
/// no NUL in its 1024 bytes, an empty key or one with characters not allowed in
/// HTTP header names, a value with CR, LF or other control characters, or a key
/// the library owns: Host, Upgrade, Connection, Sec-WebSocket-*, Content-Length,
/// Transfer-Encoding, Authorization, X-Mimi-Content-Type.
#[repr(C)]
pub struct MIMIIO_HTTP_REQUEST_HEADER {
    /// Header name, e.g. `"x-mimi-process"`.
    pub key: [c_char; 1024],
    /// Header value, e.g. `"asr"`.
    pub value: [c_char; 1024],
}

/// What `mimi_stream_state` reports.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MIMIIO_STREAM_STATE {
    /// Opened, `mimi_start` not called yet.
    MIMIIO_STREAM_WAIT = 0,
    /// Both sending and receiving have finished (or the handle is NULL).
    MIMIIO_STREAM_CLOSED = 1,
    /// Sending and receiving are both running.
    MIMIIO_STREAM_BOTH = 2,
    /// Only sending is running.
    MIMIIO_STREAM_SEND = 3,
    /// Only receiving is running: the usual state after recog-break.
    MIMIIO_STREAM_RECV = 4,
}

/// The audio format `txfunc` supplies, chosen at `mimi_open`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MIMIIO_AUDIO_FORMAT {
    /// Signed 16-bit little-endian PCM, interleaved; sent as it is.
    MIMIIO_RAW_PCM = 0,
    /// PCM encoded by the library with libFLAC at compression level 0 (fastest).
    MIMIIO_FLAC_0 = 1,
    /// libFLAC compression level 1.
    MIMIIO_FLAC_1 = 2,
    /// libFLAC compression level 2.
    MIMIIO_FLAC_2 = 3,
    /// libFLAC compression level 3.
    MIMIIO_FLAC_3 = 4,
    /// libFLAC compression level 4.
    MIMIIO_FLAC_4 = 5,
    /// libFLAC compression level 5 (libFLAC's default balance of size and speed).
    MIMIIO_FLAC_5 = 6,
    /// libFLAC compression level 6.
    MIMIIO_FLAC_6 = 7,
    /// libFLAC compression level 7.
    MIMIIO_FLAC_7 = 8,
    /// PCM encoded by the library with libFLAC at compression level 8 (smallest).
    MIMIIO_FLAC_8 = 9,
    /// The caller supplies a FLAC stream itself; it is sent unchanged.
    MIMIIO_FLAC_PASS_THROUGH = 10,
}

/// Log levels for `mimi_open`'s `loglevel`: messages up to this syslog priority
/// are emitted (ident `mimiio`); the first `mimi_open` of the process sets it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MIMIIO_LOG_LEVEL {
    /// Failures only (LOG_ERR).
    MIMIIO_LOG_ERROR = 3,
    /// Also recoverable oddities (LOG_WARNING).
    MIMIIO_LOG_WARNING = 4,
    /// Also connection milestones (LOG_INFO).
    MIMIIO_LOG_INFO = 6,
    /// Also protocol steps (LOG_DEBUG).
    MIMIIO_LOG_DEBUG = 7,
    /// Also every message received (LOG_DEBUG priority).
    MIMIIO_LOG_TRACE = 9,
}

/// The audio callback, called from the library's sending thread. `buffer` holds
/// 262144 bytes owned by the library; write up to that many bytes of audio and set
/// `*len`. Set `*recog_break = true` to end the utterance (the audio of this call
/// is still sent; the callback is not called again). Set `*txfunc_error` to a
/// non-zero (by convention negative) number to end the session with that number.
/// Before each call the library sets `*len = 0`, `*recog_break = false` and
/// `*txfunc_error = 0`. `*len > 262144` ends the session with 903 (nothing of that
/// chunk is sent). `*len == 0` without a break sends nothing; the library calls
/// again after 15 ms. The callback may block; `mimi_close` waits for it to return.
pub type MIMIIO_TX_FUNC = Option<
    unsafe extern "C" fn(
        buffer: *mut c_char,
        len: *mut usize,
        recog_break: *mut bool,
        txfunc_error: *mut c_int,
        userdata_for_tx: *mut c_void,
    ),
>;

/// The result callback, called from the library's receiving thread once per
/// complete message from the server, in order (fragments reassembled; pings are
/// answered by the library and never passed on). Text messages are NUL-terminated
/// (`len` excludes the NUL); binary messages are passed as they are, without a NUL.
/// `result` is owned by the library and valid only during the call. Set
/// `*rxfunc_error` to a non-zero number to end the session with that number.
pub type MIMIIO_RX_FUNC = Option<
    unsafe extern "C" fn(
        result: *const c_char,
        len: usize,
        rxfunc_error: *mut c_int,
        userdata_for_rx: *mut c_void,
    ),
>;
