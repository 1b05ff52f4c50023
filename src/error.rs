//! The error table of SPEC §5: one enum whose discriminants are the numbers C
//! programs branch on, and the text `mimi_strerror` gives for every number.

use std::ffi::CStr;

/// Every error number this library can produce by itself. Numbers that come from
/// elsewhere (callbacks' own negative numbers, the server's close status) are
/// carried by [`SessionEnd`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[repr(i32)]
#[error("{} ({})", self.text().to_string_lossy(), *self as i32)]
pub enum MimiError {
    Internal = 101,
    EncoderInit = 501,
    EncoderFailed = 502,
    TlsContext = 601,
    TlsCertificateUnusable = 602,
    TlsHostnameMismatch = 603,
    TlsPeerClosedHandshake = 604,
    TlsHandshakeFailed = 605,
    Resolve = 701,
    ConnectTimeout = 703,
    Unreachable = 704,
    DroppedBeforeUpgrade = 705,
    StreamNetwork = 790,
    ConnectionLost = 791,
    Network = 799,
    UpgradeRefused = 801,
    MalformedRequest = 802,
    ProtocolVersionRejected = 803,
    HandshakeReserved = 804,
    BadAcceptKey = 805,
    TokenRejected = 806,
    MessageTooLarge = 810,
    TruncatedFrame = 811,
    ReceiveTimeout = 830,
    Protocol = 890,
    NoTxFunc = 901,
    NoRxFunc = 902,
    ChunkTooLarge = 903,
    CloseWithoutStatus = 904,
    StartFailed = 905,
    EmptyTextMessage = 906,
    EmptyBinaryMessage = 907,
}

impl MimiError {
    /// Every variant, for tests that walk the whole table.
    pub const ALL: [MimiError; 32] = [
        Self::Internal,
        Self::EncoderInit,
        Self::EncoderFailed,
        Self::TlsContext,
        Self::TlsCertificateUnusable,
        Self::TlsHostnameMismatch,
        Self::TlsPeerClosedHandshake,
        Self::TlsHandshakeFailed,
        Self::Resolve,
        Self::ConnectTimeout,
        Self::Unreachable,
        Self::DroppedBeforeUpgrade,
        Self::StreamNetwork,
        Self::ConnectionLost,
        Self::Network,
        Self::UpgradeRefused,
        Self::MalformedRequest,
        Self::ProtocolVersionRejected,
        Self::HandshakeReserved,
        Self::BadAcceptKey,
        Self::TokenRejected,
        Self::MessageTooLarge,
        Self::TruncatedFrame,
        Self::ReceiveTimeout,
        Self::Protocol,
        Self::NoTxFunc,
        Self::NoRxFunc,
        Self::ChunkTooLarge,
        Self::CloseWithoutStatus,
        Self::StartFailed,
        Self::EmptyTextMessage,
        Self::EmptyBinaryMessage,
    ];

    /// The number C callers see.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The static English text `mimi_strerror` returns for this number.
    pub fn text(self) -> &'static CStr {
        match self {
            Self::Internal => c"internal error in the library (should not happen)",
            Self::EncoderInit => c"audio encoder could not start (format, rate or channels)",
            Self::EncoderFailed => c"audio encoder failed while streaming",
            Self::TlsContext => c"TLS client context could not be built (e.g. unreadable CA file)",
            Self::TlsCertificateUnusable => c"server certificate is malformed or unusable",
            Self::TlsHostnameMismatch => c"server certificate is valid but for another host name",
            Self::TlsPeerClosedHandshake => c"peer closed the connection in the TLS handshake",
            Self::TlsHandshakeFailed => {
                c"TLS handshake failed: server certificate validation error, or no TLS server"
            }
            Self::Resolve => c"host name could not be resolved",
            Self::ConnectTimeout => c"timed out while connecting to the server",
            Self::Unreachable => {
                c"server could not be reached (connection refused, no route, or invalid port)"
            }
            Self::DroppedBeforeUpgrade => {
                c"server dropped the connection before the upgrade (session limit? retry later)"
            }
            Self::StreamNetwork => c"network error while streaming",
            Self::ConnectionLost => c"connection was lost suddenly during communication",
            Self::Network => c"network error",
            Self::UpgradeRefused => {
                c"WebSocket not permitted by the server, or invalid request header"
            }
            Self::MalformedRequest => c"malformed WebSocket handshake request (reserved)",
            Self::ProtocolVersionRejected => c"server rejected the WebSocket protocol version",
            Self::HandshakeReserved => c"WebSocket handshake error (reserved)",
            Self::BadAcceptKey => c"server sent a missing or wrong Sec-WebSocket-Accept",
            Self::TokenRejected => {
                c"access token rejected by the server (it may have expired; refresh it and retry)"
            }
            Self::MessageTooLarge => c"message from the server exceeds the size limit of 16 MiB",
            Self::TruncatedFrame => c"WebSocket frame cut off by the end of the stream",
            Self::ReceiveTimeout => c"no response from the server within the receive timeout",
            Self::Protocol => {
                c"WebSocket protocol error (reserved bits, unknown opcode or masked frame)"
            }
            Self::NoTxFunc => c"programming error: no txfunc was given to mimi_open",
            Self::NoRxFunc => c"programming error: no rxfunc was given to mimi_open",
            Self::ChunkTooLarge => {
                c"programming error: txfunc set len above the 262144-byte chunk limit"
            }
            Self::CloseWithoutStatus => c"server closed the connection without a status code",
            Self::StartFailed => {
                c"stream could not be started (NULL handle, already started, or no threads)"
            }
            Self::EmptyTextMessage => c"server sent an empty text message",
            Self::EmptyBinaryMessage => c"server sent an empty binary message",
        }
    }

    /// The variant for a number, if the number is one of ours.
    pub fn from_code(code: i32) -> Option<MimiError> {
        Self::ALL.iter().copied().find(|e| e.code() == code)
    }
}

/// Why a session ended badly: one of our own errors, a number a callback set, or
/// the status of the server's close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Error(MimiError),
    /// `txfunc_error` or `rxfunc_error`, reported as the caller set it.
    Callback(i32),
    /// A close status other than 1000 (1000 is a normal end).
    ServerClose(u16),
}

impl SessionEnd {
    pub fn code(self) -> i32 {
        match self {
            SessionEnd::Error(e) => e.code(),
            SessionEnd::Callback(n) => n,
            SessionEnd::ServerClose(status) => i32::from(status),
        }
    }
}

impl From<MimiError> for SessionEnd {
    fn from(e: MimiError) -> Self {
        SessionEnd::Error(e)
    }
}

/// The text for any number: ours, a user's negative number, or a close status.
pub fn strerror(code: i32) -> &'static CStr {
    if code == 0 {
        return c"no error";
    }
    if code < 0 {
        return c"user defined error.";
    }
    if let Some(e) = MimiError::from_code(code) {
        return e.text();
    }
    match code {
        1000 => c"normal closure",
        1001 => c"remote host is going away",
        1002 => c"remote host reported a protocol error",
        1003 => c"remote host cannot accept this type of data",
        1004 => c"reserved close status 1004",
        1005 => c"no status code was present",
        1006 => c"connection closed abnormally",
        1007 => c"remote host received data inconsistent with the message type",
        1008 => c"remote host reported a policy violation",
        1009 => c"message too big for the remote host to process",
        1010 => c"remote host expected an extension the client did not negotiate",
        1011 => c"remote host hit an unexpected condition (internal server error)",
        1012 => c"remote host is restarting",
        1013 => c"remote host is overloaded; try again later",
        1014 => c"remote host acted as a gateway and received an invalid response",
        1015 => c"TLS handshake failure reported by the remote host",
        n if n > 1015 => c"error reported by the remote host; see the service's documentation",
        _ => c"unknown error number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_round_trips_and_has_its_own_text() {
        let mut texts = std::collections::HashSet::new();
        for e in MimiError::ALL {
            assert_eq!(MimiError::from_code(e.code()), Some(e));
            assert!(texts.insert(e.text()), "duplicate text for {}", e.code());
        }
    }

    #[test]
    fn numbers_outside_the_table_get_generic_texts() {
        assert_eq!(strerror(-5), c"user defined error.");
        assert_eq!(strerror(4001), strerror(4999));
        assert_eq!(
            strerror(1011),
            c"remote host hit an unexpected condition (internal server error)"
        );
        assert_eq!(strerror(102), c"unknown error number");
    }
}
