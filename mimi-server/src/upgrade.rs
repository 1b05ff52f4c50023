//! Deciding how to answer the WebSocket upgrade request: access token,
//! `X-Mimi-Content-Type`, and the fault modes that tamper with the answer.

use tungstenite::handshake::derive_accept_key;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::{self, HeaderValue};

use crate::audio::{AudioFormat, Codec};
use crate::faults::Fault;
use crate::Config;

/// What the upgrade callback found out, kept for the session and its log line.
#[derive(Debug, Default)]
pub struct Verdict {
    pub format: Option<AudioFormat>,
    pub header_names: Vec<String>,
    /// Why the upgrade was refused (never contains a header value of the token).
    pub refusal: Option<String>,
}

/// Headers every WebSocket client sends; the rest are the client's own.
const HANDSHAKE_HEADERS: &[&str] =
    &["host", "upgrade", "connection", "x-mimi-content-type", "content-length"];

/// Names (lower case, in request order) of the request headers that are not
/// part of the handshake itself.
pub fn extra_header_names(req: &Request) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in req.headers().keys() {
        let name = name.as_str();
        if HANDSHAKE_HEADERS.contains(&name) || name.starts_with("sec-websocket-") {
            continue;
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// Parses `audio/x-pcm;bit=16;rate=R;channels=C` or the same with `audio/x-flac`.
/// Parameters may come in any order, with spaces around them.
pub fn parse_content_type(value: &str) -> Result<AudioFormat, String> {
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim();
    let codec = if media.eq_ignore_ascii_case("audio/x-pcm") {
        Codec::Pcm
    } else if media.eq_ignore_ascii_case("audio/x-flac") {
        Codec::Flac
    } else {
        return Err(format!("unsupported media type '{media}'"));
    };
    let (mut bit, mut rate, mut channels) = (None, None, None);
    for part in parts {
        let (key, val) = part.split_once('=').ok_or_else(|| format!("malformed '{part}'"))?;
        let key = key.trim().to_ascii_lowercase();
        let slot = match key.as_str() {
            "bit" => &mut bit,
            "rate" => &mut rate,
            "channels" => &mut channels,
            _ => return Err(format!("unknown parameter '{key}'")),
        };
        if slot.is_some() {
            return Err(format!("parameter '{key}' given twice"));
        }
        *slot = Some(parse_number(val.trim()).ok_or_else(|| format!("bad value for '{key}'"))?);
    }
    match bit {
        Some(16) => {}
        Some(b) => return Err(format!("bit={b} is not supported (only 16)")),
        None => return Err("missing 'bit'".into()),
    }
    let rate = rate.ok_or("missing 'rate'")?;
    if !(1..=655_350).contains(&rate) {
        return Err(format!("rate={rate} out of range 1..=655350"));
    }
    let channels = channels.ok_or("missing 'channels'")?;
    if !(1..=8).contains(&channels) {
        return Err(format!("channels={channels} out of range 1..=8"));
    }
    Ok(AudioFormat { codec, rate, channels })
}

fn parse_number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// True when the request carries `Authorization: Bearer <token>`.
pub fn token_matches(req: &Request, token: &str) -> bool {
    let Some(value) = req.headers().get("authorization") else {
        return false;
    };
    let value = value.as_bytes();
    if value.len() < 7 || !value[..6].eq_ignore_ascii_case(b"bearer") || value[6] != b' ' {
        return false;
    }
    let given = value[7..].trim_ascii();
    // Compare without an early exit so timing does not hint at the token.
    let want = token.as_bytes();
    let mut diff = given.len() ^ want.len();
    for (i, &w) in want.iter().enumerate() {
        diff |= usize::from(w ^ given.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// A non-101 answer with a short text body; the connection closes after it.
pub fn error_response(status: u16, body: &str) -> ErrorResponse {
    let body = format!("{body}\n");
    let mut builder = http::Response::builder()
        .status(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Content-Length", body.len().to_string())
        .header("Connection", "close");
    match status {
        401 => builder = builder.header("WWW-Authenticate", "Bearer"),
        426 => builder = builder.header("Sec-WebSocket-Version", "13"),
        _ => {}
    }
    match builder.body(Some(body.clone())) {
        Ok(resp) => resp,
        Err(_) => {
            let mut resp = http::Response::new(Some(body));
            *resp.status_mut() = http::StatusCode::BAD_REQUEST;
            resp
        }
    }
}

/// The upgrade callback: refuse, tamper (fault modes) or accept.
/// (The large error type is tungstenite's callback contract.)
#[allow(clippy::result_large_err)]
pub fn decide(
    req: &Request,
    mut resp: Response,
    config: &Config,
    verdict: &mut Verdict,
) -> Result<Response, ErrorResponse> {
    verdict.header_names = extra_header_names(req);
    match config.fault {
        Some(Fault::Http(status)) => {
            verdict.refusal = Some(format!("fault mode http-{status}"));
            return Err(error_response(status, &fault_body(status)));
        }
        Some(Fault::BadUpgrade) => {
            resp.headers_mut().remove("upgrade");
            resp.headers_mut().remove("connection");
            return Ok(resp);
        }
        Some(Fault::BadAccept) => {
            let wrong = derive_accept_key(b"this is not the key the client sent");
            if let Ok(value) = HeaderValue::from_str(&wrong) {
                resp.headers_mut().insert("sec-websocket-accept", value);
            }
            return Ok(resp);
        }
        _ => {}
    }
    if let Some(token) = &config.token {
        if !token_matches(req, token) {
            let why = if req.headers().contains_key("authorization") {
                "wrong access token"
            } else {
                "missing access token"
            };
            verdict.refusal = Some(why.to_string());
            return Err(error_response(401, &format!("401 Unauthorized: {why}")));
        }
    }
    let parsed = match req.headers().get("x-mimi-content-type") {
        None => Err("missing X-Mimi-Content-Type header".to_string()),
        Some(value) => match value.to_str() {
            Ok(text) => parse_content_type(text)
                .map_err(|why| format!("bad X-Mimi-Content-Type '{text}': {why}")),
            Err(_) => Err("X-Mimi-Content-Type is not ASCII".to_string()),
        },
    };
    match parsed {
        Ok(format) => {
            verdict.format = Some(format);
            Ok(resp)
        }
        Err(why) => {
            let body = format!("400 Bad Request: {why}");
            verdict.refusal = Some(why);
            Err(error_response(400, &body))
        }
    }
}

fn fault_body(status: u16) -> String {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        426 => "Upgrade Required",
        500 => "Internal Server Error",
        _ => "Error",
    };
    format!("{status} {reason} (mimi-server fault mode http-{status})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let f = parse_content_type("audio/x-pcm;bit=16;rate=16000;channels=1").unwrap();
        assert_eq!(f, AudioFormat { codec: Codec::Pcm, rate: 16000, channels: 1 });
        let f = parse_content_type("audio/x-flac; channels=2; rate=44100; bit=16").unwrap();
        assert_eq!(f, AudioFormat { codec: Codec::Flac, rate: 44100, channels: 2 });
        for bad in [
            "",
            "audio/x-wav;bit=16;rate=16000;channels=1",
            "audio/x-pcm;bit=8;rate=16000;channels=1",
            "audio/x-pcm;bit=16;rate=0;channels=1",
            "audio/x-pcm;bit=16;rate=655351;channels=1",
            "audio/x-pcm;bit=16;rate=16000;channels=9",
            "audio/x-pcm;bit=16;rate=16000",
            "audio/x-pcm;bit=16;rate=16000;channels=1;channels=1",
            "audio/x-pcm;bit=16;rate=-5;channels=1",
            "audio/x-pcm;bit=16;rate=16000;channels=1;foo=bar",
            "audio/x-pcm;bit=16;rate=16000;channels",
        ] {
            assert!(parse_content_type(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens() {
        let mut req = Request::new(());
        assert!(!token_matches(&req, "abc"));
        req.headers_mut().insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert!(token_matches(&req, "abc"));
        assert!(!token_matches(&req, "abcd"));
        assert!(!token_matches(&req, "ab"));
        req.headers_mut().insert("authorization", HeaderValue::from_static("bearer abc"));
        assert!(token_matches(&req, "abc"));
        req.headers_mut().insert("authorization", HeaderValue::from_static("Basic abc"));
        assert!(!token_matches(&req, "abc"));
    }
}
