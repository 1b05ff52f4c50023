//! One connection from accept to the end: optional TLS, the upgrade, then the
//! audio stream with progress messages, recog-break, the final result and the
//! closing handshake. Fault modes branch off at the points where they act.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::error::ProtocolError;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Bytes, Error as WsError, HandshakeError, Message, WebSocket};

use crate::audio::{self, AudioInput};
use crate::conn::{is_timeout, Conn};
use crate::faults::{self, Fault, PING_PAYLOAD};
use crate::flac_decode::DecodeError;
use crate::report::{self, SessionLog, STATUS_FINISHED, STATUS_IN_PROGRESS};
use crate::upgrade::{self, Verdict};
use crate::{tls, Config};

/// Time a client gets for the TLS handshake and the upgrade request.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(30);
/// A session with no message from the client for this long is ended.
const IDLE_LIMIT: Duration = Duration::from_secs(600);
/// Longest a blocked write to the client may take.
const WRITE_LIMIT: Duration = Duration::from_secs(30);
/// How long to wait for the client's answer to our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Serves one connection; returns the facts for its log line.
#[allow(clippy::result_large_err)] // the upgrade callback's type is fixed by tungstenite
pub fn run(tcp: TcpStream, config: &Config, id: &str) -> SessionLog {
    let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let mut log = SessionLog::new(id, &peer);
    log.fault = config.fault.map(Fault::name);
    let _ = tcp.set_nodelay(true);

    if let Some(fault) = config.fault.filter(|f| f.before_tls()) {
        let end = faults::before_tls(fault, tcp, config.hold);
        log.finish(&end.end, Some(end.detail));
        return log;
    }
    let _ = tcp.set_read_timeout(Some(HANDSHAKE_LIMIT));
    let _ = tcp.set_write_timeout(Some(WRITE_LIMIT));
    let conn = match &config.tls {
        Some(acceptor) => match tls::accept(acceptor, tcp) {
            Ok(conn) => conn,
            Err(e) => {
                log.finish("tls-handshake-failed", Some(e));
                return log;
            }
        },
        None => Conn::Plain(tcp),
    };
    if let Some(fault) = config.fault.filter(|f| f.before_upgrade()) {
        let end = faults::before_upgrade(fault, conn, config.hold);
        log.finish(&end.end, Some(end.detail));
        return log;
    }

    let mut verdict = Verdict::default();
    // The error type holds the callback (and so the borrow of `verdict`):
    // reduce it to plain values right away.
    let accepted = tungstenite::accept_hdr(conn, |req: &Request, resp: Response| {
        upgrade::decide(req, resp, config, &mut verdict)
    })
    .map_err(|e| match e {
        HandshakeError::Failure(WsError::Http(resp)) => {
            (format!("http-{}", resp.status().as_u16()), None)
        }
        HandshakeError::Failure(e) => ("handshake-failed".to_string(), Some(e.to_string())),
        HandshakeError::Interrupted(_) => ("handshake-timeout".to_string(), None),
    });
    log.headers = std::mem::take(&mut verdict.header_names);
    let mut ws = match accepted {
        Ok(ws) => ws,
        Err((word, detail)) => {
            log.finish(&word, detail.or(verdict.refusal));
            return log;
        }
    };
    log.format = verdict.format;
    if let Some(fault) = config.fault.filter(|f| f.after_upgrade()) {
        let end = faults::after_upgrade(fault, &mut ws, config.hold);
        log.finish(&end.end, Some(end.detail));
        return log;
    }
    let Some(format) = verdict.format else {
        log.finish("internal-error", Some("upgrade accepted without a format".into()));
        return log;
    };
    let input = match AudioInput::new(format, config.save_audio.is_some()) {
        Ok(input) => input,
        Err(e) => {
            let _ = ws.close(Some(close_frame(1011, "cannot start the decoder")));
            let _ = wait_end(&mut ws, CLOSE_WAIT, |_| {});
            log.finish("internal-error", Some(e.to_string()));
            return log;
        }
    };
    let mut stream =
        Stream { ws, id, config, input, reported: 0, pings: 0, pongs: 0, saved: false };
    let (end, detail) = stream.serve(&mut log);
    // Whatever way the session ended, the decoded audio is still saved.
    let _ = stream.input.finish();
    let saved = stream.save();
    log.set_audio(&stream.input.snapshot());
    if config.fault == Some(Fault::PingBetween) {
        log.pings = Some((stream.pings, stream.pongs));
    }
    let detail = match (detail, saved) {
        (Some(d), Err(e)) => Some(format!("{d}; {e}")),
        (None, Err(e)) => Some(e),
        (d, Ok(())) => d,
    };
    log.finish(&end, detail);
    log
}

/// How waiting for the client to finish a WebSocket connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEnd {
    /// The closing handshake completed (either side started it).
    Closed,
    /// End of stream or reset without a closing handshake.
    Dropped,
    Timeout,
    Error(String),
}

/// Reads (answering pings and close frames, ignoring data) until the
/// connection ends or `limit` passes. `on_pong` sees every pong payload.
pub fn wait_end(
    ws: &mut WebSocket<Conn>,
    limit: Duration,
    mut on_pong: impl FnMut(&[u8]),
) -> WsEnd {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return WsEnd::Timeout;
        }
        ws.get_ref().set_read_timeout(Some(left));
        match ws.read() {
            Ok(Message::Pong(payload)) => on_pong(&payload),
            Ok(_) => {}
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return WsEnd::Closed,
            Err(WsError::Io(e)) if is_timeout(&e) => {}
            Err(
                WsError::Io(_) | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            ) => return WsEnd::Dropped,
            Err(e) => return WsEnd::Error(e.to_string()),
        }
    }
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame { code: CloseCode::from(code), reason: reason.to_string().into() }
}

/// True for `{"command":"recog-break"}`, whitespace allowed between tokens.
pub fn is_recog_break(text: &str) -> bool {
    fn token<'a>(s: &'a str, t: &str) -> Option<&'a str> {
        s.trim_start().strip_prefix(t)
    }
    let rest = token(text, "{")
        .and_then(|s| token(s, "\"command\""))
        .and_then(|s| token(s, ":"))
        .and_then(|s| token(s, "\"recog-break\""))
        .and_then(|s| token(s, "}"));
    rest.is_some_and(|s| s.trim().is_empty())
}

/// The streaming part of a session, after a successful upgrade.
struct Stream<'a> {
    ws: WebSocket<Conn>,
    id: &'a str,
    config: &'a Config,
    input: AudioInput,
    /// Whole seconds of audio already announced with recog-in-progress.
    reported: u64,
    pings: u64,
    pongs: u64,
    saved: bool,
}

type End = (String, Option<String>);

fn end(word: &str, detail: Option<String>) -> End {
    (word.to_string(), detail)
}

impl Stream<'_> {
    fn serve(&mut self, log: &mut SessionLog) -> End {
        let mut binary_seen = false;
        loop {
            self.ws.get_ref().set_read_timeout(Some(IDLE_LIMIT));
            let message = match self.ws.read() {
                Ok(message) => message,
                Err(e) => return self.read_failed(e),
            };
            match message {
                Message::Binary(data) => {
                    if let Err(e) = self.input.push(&data) {
                        return self.refuse(e);
                    }
                    let first = !binary_seen;
                    binary_seen = true;
                    if let Some(fault) =
                        self.config.fault.filter(|f| first && f.after_first_binary())
                    {
                        let done =
                            faults::after_first_binary(fault, &mut self.ws, self.config.hold);
                        return (done.end, Some(done.detail));
                    }
                    if let Err(e) = self.send_due_progress() {
                        return end("send-failed", Some(e));
                    }
                }
                Message::Text(text) => {
                    if is_recog_break(text.as_str()) {
                        return self.finish_utterance();
                    }
                    // Not part of the protocol; counted in the log line, otherwise ignored.
                    log.ignored_texts += 1;
                }
                Message::Pong(payload) => self.count_pong(&payload),
                Message::Ping(_) | Message::Frame(_) => {}
                Message::Close(_) => {
                    // tungstenite queued the reply; reading on sends it.
                    let pongs = &mut self.pongs;
                    let done = wait_end(&mut self.ws, CLOSE_WAIT, |p| count(pongs, p));
                    let detail = (done != WsEnd::Closed).then(|| done.describe());
                    return end("client-close", detail);
                }
            }
        }
    }

    fn read_failed(&mut self, e: WsError) -> End {
        let (code, reason) = match &e {
            WsError::ConnectionClosed | WsError::AlreadyClosed => return end("client-close", None),
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                return end("client-drop", None)
            }
            WsError::Io(io) if is_timeout(io) => return end("idle-timeout", None),
            WsError::Io(io) => return end("client-drop", Some(io.to_string())),
            WsError::Capacity(_) => (1009, "message too big"),
            WsError::Utf8(_) => (1007, "invalid UTF-8 in a text message"),
            WsError::Protocol(_) => (1002, "protocol error"),
            _ => return end("error", Some(e.to_string())),
        };
        let _ = self.ws.close(Some(close_frame(code, reason)));
        let _ = wait_end(&mut self.ws, CLOSE_WAIT, |_| {});
        end("protocol-error", Some(e.to_string()))
    }

    /// Closes the connection over audio the server cannot accept.
    fn refuse(&mut self, error: DecodeError) -> End {
        let (code, word, reason) = match &error {
            DecodeError::Format(_) => {
                (1003, "flac-format-mismatch", "FLAC stream does not match X-Mimi-Content-Type")
            }
            DecodeError::Undecodable(_) => {
                (1007, "flac-undecodable", "cannot decode the FLAC stream")
            }
        };
        let _ = self.ws.close(Some(close_frame(code, reason)));
        let _ = wait_end(&mut self.ws, CLOSE_WAIT, |_| {});
        end(word, Some(error.to_string()))
    }

    /// recog-break: drain the decoder, report, save, send the final result and close.
    fn finish_utterance(&mut self) -> End {
        if let Err(e) = self.input.finish() {
            return self.refuse(e);
        }
        if let Err(e) = self.send_due_progress() {
            return end("send-failed", Some(e));
        }
        // The file must be complete before the client can see recog-finished.
        let saved = self.save().err();
        let snap = self.input.snapshot();
        if let Err(e) = self.send_result(STATUS_FINISHED, &snap) {
            return end("send-failed", Some(e));
        }
        let _ = self.ws.close(Some(close_frame(1000, "")));
        let pongs = &mut self.pongs;
        let done = wait_end(&mut self.ws, CLOSE_WAIT, |p| count(pongs, p));
        let detail = match (done != WsEnd::Closed).then(|| done.describe()) {
            Some(d) => Some(format!("close reply: {d}")),
            None => saved,
        };
        end("recog-finished", detail)
    }

    fn send_due_progress(&mut self) -> Result<(), String> {
        let snap = self.input.snapshot();
        let rate = u64::from(snap.format.rate);
        while snap.samples >= (self.reported + 1) * rate {
            self.reported += 1;
            self.send_result(STATUS_IN_PROGRESS, &snap)?;
        }
        Ok(())
    }

    fn send_result(&mut self, status: &str, snap: &audio::Snapshot) -> Result<(), String> {
        if self.config.fault == Some(Fault::PingBetween) {
            self.ws
                .send(Message::Ping(Bytes::from_static(PING_PAYLOAD)))
                .map_err(|e| format!("ping: {e}"))?;
            self.pings += 1;
        }
        let text = report::result_message(self.id, status, snap);
        self.ws.send(Message::text(text)).map_err(|e| format!("{status}: {e}"))
    }

    fn count_pong(&mut self, payload: &[u8]) {
        count(&mut self.pongs, payload);
    }

    /// Writes the decoded PCM once, if `--save-audio` asked for it.
    fn save(&mut self) -> Result<(), String> {
        let Some(dir) = &self.config.save_audio else {
            return Ok(());
        };
        if self.saved {
            return Ok(());
        }
        self.saved = true;
        let pcm = self.input.take_pcm();
        audio::save_pcm(dir, self.id, &pcm)
            .map(|_| ())
            .map_err(|e| format!("saving audio failed: {e}"))
    }
}

/// Counts only pongs that echo our own ping payload.
fn count(pongs: &mut u64, payload: &[u8]) {
    if payload == PING_PAYLOAD {
        *pongs += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::is_recog_break;

    #[test]
    fn recog_break_forms() {
        assert!(is_recog_break("{\"command\":\"recog-break\"}"));
        assert!(is_recog_break(" { \"command\" :\n\"recog-break\" }\n"));
        assert!(!is_recog_break("{\"command\":\"recog-brake\"}"));
        assert!(!is_recog_break("{\"command\":\"recog-break\"} x"));
        assert!(!is_recog_break(""));
    }
}
