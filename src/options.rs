//! What `mimi_open` is asked for, checked before any network traffic, and the
//! timeouts (with their environment overrides).

use std::time::Duration;

use crate::error::MimiError;

/// Size of the buffer handed to `txfunc`, and the largest `len` it may set.
pub const CHUNK_SIZE: usize = 262_144;

/// Largest message accepted from the server (SPEC §5, 810).
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// More extra headers than this is taken as a corrupt count, not a request.
pub const MAX_EXTRA_HEADERS: usize = 256;

/// The audio format, converted from the C enum only after a range check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    RawPcm,
    /// FLAC encoded by the library at this compression level (0..=8).
    Flac(u32),
    PassThrough,
}

impl AudioFormat {
    /// `MIMIIO_AUDIO_FORMAT` as an integer: RAW_PCM = 0, FLAC_n = n + 1, PASS_THROUGH = 10.
    pub fn from_c(value: i32) -> Option<AudioFormat> {
        match value {
            0 => Some(AudioFormat::RawPcm),
            1..=9 => Some(AudioFormat::Flac(value as u32 - 1)),
            10 => Some(AudioFormat::PassThrough),
            _ => None,
        }
    }

    /// The `X-Mimi-Content-Type` header value for this format.
    pub fn content_type(self, rate: u32, channels: u32) -> String {
        let kind = match self {
            AudioFormat::RawPcm => "audio/x-pcm",
            AudioFormat::Flac(_) | AudioFormat::PassThrough => "audio/x-flac",
        };
        format!("{kind};bit=16;rate={rate};channels={channels}")
    }
}

/// The audio parameters after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpec {
    pub format: AudioFormat,
    pub rate: u32,
    pub channels: u32,
}

impl AudioSpec {
    /// FLAC streams carry 1 to 8 channels and at most 655350 Hz in the streamable
    /// subset; the same limits apply to raw PCM so a mimi server can describe it.
    pub fn validate(format: i32, rate: i32, channels: i32) -> Result<AudioSpec, MimiError> {
        let format = AudioFormat::from_c(format).ok_or(MimiError::EncoderInit)?;
        if !(1..=655_350).contains(&rate) || !(1..=8).contains(&channels) {
            return Err(MimiError::EncoderInit);
        }
        Ok(AudioSpec { format, rate: rate as u32, channels: channels as u32 })
    }

    /// Bytes of one sample frame (all channels) of 16-bit PCM.
    pub fn frame_bytes(&self) -> usize {
        2 * self.channels as usize
    }
}

/// Header names a user header may not use: the handshake's own, the ones that
/// would change how the request is framed, and the ones this library sets.
fn is_reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "host"
            | "upgrade"
            | "connection"
            | "content-length"
            | "transfer-encoding"
            | "x-mimi-content-type"
            | "authorization"
    ) || name.starts_with("sec-websocket-")
}

/// An HTTP token character (RFC 9110 `tchar`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// One user header, checked: its name, and its value as the bytes to send.
pub type ExtraHeader = (String, Vec<u8>);

/// Checks one user header. The value's bytes are kept as they are (UTF-8 or
/// Latin-1 alike), only trimmed of surrounding spaces and tabs.
pub fn validate_header(key: &[u8], value: &[u8]) -> Result<ExtraHeader, MimiError> {
    let key_ok = !key.is_empty() && key.iter().all(|&b| is_token_byte(b));
    // Visible ASCII, space, tab and obs-text are allowed; CR, LF, NUL and other
    // control characters are not.
    let value_ok = value.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f));
    if !key_ok || !value_ok {
        return Err(MimiError::UpgradeRefused);
    }

    // Token bytes are ASCII, so this cannot fail.
    let key = String::from_utf8(key.to_vec()).map_err(|_| MimiError::UpgradeRefused)?;
    if is_reserved_header(&key) {
        return Err(MimiError::UpgradeRefused);
    }
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_blank(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !is_blank(b)).map_or(start, |i| i + 1);
    Ok((key, value[start..end].to_vec()))
}

/// Timeouts of SPEC §4, each overridable in milliseconds through the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Resolve, connect, TLS and upgrade together (`MIMIIO_CONNECT_TIMEOUT_MS`).
    pub connect: Duration,
    /// A send that makes no progress (`MIMIIO_SEND_TIMEOUT_MS`).
    pub send: Duration,
    /// Silence from the server while streaming, 830 (`MIMIIO_RECV_TIMEOUT_MS`).
    pub receive: Duration,
    /// How long a closing handshake may wait for the peer (`MIMIIO_CLOSE_TIMEOUT_MS`).
    pub close: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            send: Duration::from_secs(30),
            receive: Duration::from_secs(30),
            close: Duration::from_secs(1),
        }
    }
}

impl Timeouts {
    /// The defaults, with any valid override from the environment applied.
    pub fn from_env() -> Timeouts {
        let defaults = Timeouts::default();
        let read = |name: &str, default: Duration| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|&ms| ms > 0)
                .map_or(default, Duration::from_millis)
        };
        Timeouts {
            connect: read("MIMIIO_CONNECT_TIMEOUT_MS", defaults.connect),
            send: read("MIMIIO_SEND_TIMEOUT_MS", defaults.send),
            receive: read("MIMIIO_RECV_TIMEOUT_MS", defaults.receive),
            close: read("MIMIIO_CLOSE_TIMEOUT_MS", defaults.close),
        }
    }
}

/// Everything `mimi_open` needs, as safe Rust values.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub host: String,
    pub port: u16,
    pub audio: AudioSpec,
    pub headers: Vec<ExtraHeader>,
    /// A token means TLS (`wss://`) and `Authorization: Bearer`.
    pub access_token: Option<String>,
    pub timeouts: Timeouts,
}

/// Port numbers arrive as C ints; anything outside 1..=65535 cannot be reached.
pub fn validate_port(port: i32) -> Result<u16, MimiError> {
    u16::try_from(port).ok().filter(|&p| p != 0).ok_or(MimiError::Unreachable)
}

/// An empty host cannot be resolved; neither can one with characters no host
/// name or address literal contains. A colon means an IPv6 literal (with or
/// without brackets), which must then parse as one: nothing else is looked up.
pub fn validate_host(host: &str) -> Result<(), MimiError> {
    let ok = !host.is_empty()
        && host.len() <= 253 + 2
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b));
    let ipv6_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => inner.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.contains(['[', ']'])
                && (!host.contains(':') || host.parse::<std::net::Ipv6Addr>().is_ok())
        }
    };
    if ok && ipv6_ok {
        Ok(())
    } else {
        Err(MimiError::Resolve)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_map_like_the_c_enum() {
        assert_eq!(AudioFormat::from_c(0), Some(AudioFormat::RawPcm));
        assert_eq!(AudioFormat::from_c(1), Some(AudioFormat::Flac(0)));
        assert_eq!(AudioFormat::from_c(9), Some(AudioFormat::Flac(8)));
        assert_eq!(AudioFormat::from_c(10), Some(AudioFormat::PassThrough));
        assert_eq!(AudioFormat::from_c(11), None);
        assert_eq!(AudioFormat::from_c(-1), None);
    }

    #[test]
    fn audio_spec_rejects_rates_and_channels_out_of_range() {
        assert_eq!(AudioSpec::validate(0, 0, 1), Err(MimiError::EncoderInit));
        assert_eq!(AudioSpec::validate(0, 16000, 0), Err(MimiError::EncoderInit));
        assert_eq!(AudioSpec::validate(6, 16000, 9), Err(MimiError::EncoderInit));
        assert_eq!(AudioSpec::validate(99, 16000, 1), Err(MimiError::EncoderInit));
        assert!(AudioSpec::validate(6, 16000, 8).is_ok());
    }

    #[test]
    fn content_type_names_rate_and_channels() {
        let flac = AudioFormat::Flac(5).content_type(16000, 1);
        assert_eq!(flac, "audio/x-flac;bit=16;rate=16000;channels=1");
        let pcm = AudioFormat::RawPcm.content_type(8000, 2);
        assert_eq!(pcm, "audio/x-pcm;bit=16;rate=8000;channels=2");
    }

    #[test]
    fn headers_with_line_breaks_or_handshake_names_are_refused() {
        assert!(validate_header(b"x-mimi-process", b"asr").is_ok());
        assert_eq!(validate_header(b"x-a", b"a\r\nb: c"), Err(MimiError::UpgradeRefused));
        assert_eq!(validate_header(b"x a", b"v"), Err(MimiError::UpgradeRefused));
        assert_eq!(validate_header(b"", b"v"), Err(MimiError::UpgradeRefused));
        assert_eq!(validate_header(b"Host", b"evil"), Err(MimiError::UpgradeRefused));
        let key = b"Sec-WebSocket-Key";
        assert_eq!(validate_header(key, b"x"), Err(MimiError::UpgradeRefused));
    }

    #[test]
    fn hosts_with_colons_must_be_ipv6_literals() {
        assert_eq!(validate_host("::1"), Ok(()));
        assert_eq!(validate_host("[::1]"), Ok(()));
        assert_eq!(validate_host("a:b"), Err(MimiError::Resolve));
        assert_eq!(validate_host("[a]"), Err(MimiError::Resolve));
        assert_eq!(validate_host("host]"), Err(MimiError::Resolve));
        assert_eq!(validate_host("example.com"), Ok(()));
        assert_eq!(validate_host(""), Err(MimiError::Resolve));
    }

    #[test]
    fn ports_outside_the_tcp_range_are_unreachable() {
        assert_eq!(validate_port(0), Err(MimiError::Unreachable));
        assert_eq!(validate_port(70000), Err(MimiError::Unreachable));
        assert_eq!(validate_port(-1), Err(MimiError::Unreachable));
        assert_eq!(validate_port(65535), Ok(65535));
    }
}
