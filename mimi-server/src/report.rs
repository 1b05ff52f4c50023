//! The JSON result messages sent to the client and the one log line per session.

use std::fmt::Write as _;

use crate::audio::{AudioFormat, Snapshot};

pub const STATUS_IN_PROGRESS: &str = "recog-in-progress";
pub const STATUS_FINISHED: &str = "recog-finished";

/// Writes `s` as a JSON string literal (with quotes).
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn level_text(level: Option<f64>) -> String {
    match level {
        Some(db) => format!("{db:.1}"),
        None => "-inf".to_string(),
    }
}

/// The human-readable `result` text: the server does not recognise words, it
/// says what it received.
pub fn result_text(snap: &Snapshot) -> String {
    format!(
        "received {:.2} s of audio: {} Hz, {} ch, {} bytes, level {} dBFS",
        snap.seconds(),
        snap.format.rate,
        snap.format.channels,
        snap.bytes_received,
        level_text(snap.level_dbfs)
    )
}

/// One result message. Silence (or no audio) has `"level_dbfs":null`.
pub fn result_message(session_id: &str, status: &str, snap: &Snapshot) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("{\"type\":\"asr#mimi-server\",\"session_id\":");
    json_string(&mut out, session_id);
    out.push_str(",\"status\":");
    json_string(&mut out, status);
    out.push_str(",\"response\":[{\"result\":");
    json_string(&mut out, &result_text(snap));
    let _ = write!(out, ",\"pronunciation\":\"\",\"time\":[0,{}]}}]", snap.millis());
    let level = match snap.level_dbfs {
        Some(db) => format!("{db:.1}"),
        None => "null".to_string(),
    };
    let _ = write!(
        out,
        ",\"audio\":{{\"format\":\"{}\",\"rate\":{},\"channels\":{},\"bytes_received\":{},\
         \"samples\":{},\"seconds\":{:.3},\"level_dbfs\":{},\"pcm_fnv1a64\":\"{:016x}\"}}}}",
        snap.format.codec.name(),
        snap.format.rate,
        snap.format.channels,
        snap.bytes_received,
        snap.samples,
        snap.seconds(),
        level,
        snap.fnv1a64
    );
    out
}

/// Facts gathered during a session, printed as one line on stderr at its end.
/// Header values never go in here: only names (the token must not leak).
#[derive(Debug, Default)]
pub struct SessionLog {
    pub id: String,
    pub peer: String,
    pub format: Option<AudioFormat>,
    pub bytes_in: u64,
    pub samples: u64,
    pub headers: Vec<String>,
    pub end: String,
    pub fault: Option<String>,
    pub pings: Option<(u64, u64)>,
    pub ignored_texts: u64,
    pub detail: Option<String>,
}

impl SessionLog {
    pub fn new(id: &str, peer: &str) -> Self {
        SessionLog { id: id.to_string(), peer: peer.to_string(), ..Default::default() }
    }

    pub fn set_audio(&mut self, snap: &Snapshot) {
        self.bytes_in = snap.bytes_received;
        self.samples = snap.samples;
    }

    pub fn finish(&mut self, end: &str, detail: Option<String>) {
        self.end = end.to_string();
        if detail.is_some() {
            self.detail = detail;
        }
    }

    pub fn line(&self) -> String {
        let mut out = format!("session {} peer={}", self.id, self.peer);
        match self.format {
            Some(f) => {
                let seconds = self.samples as f64 / f64::from(f.rate);
                let _ = write!(
                    out,
                    " format={} rate={} ch={} bytes_in={} samples={} seconds={seconds:.3}",
                    f.codec.name(),
                    f.rate,
                    f.channels,
                    self.bytes_in,
                    self.samples
                );
            }
            None => out.push_str(" format=- rate=- ch=- bytes_in=0 samples=0 seconds=0.000"),
        }
        if self.headers.is_empty() {
            out.push_str(" headers=-");
        } else {
            let _ = write!(out, " headers={}", self.headers.join(","));
        }
        let _ = write!(out, " end={}", if self.end.is_empty() { "unknown" } else { &self.end });
        if let Some(fault) = &self.fault {
            let _ = write!(out, " fault={fault}");
        }
        if let Some((pings, pongs)) = self.pings {
            let _ = write!(out, " pings={pings} pongs={pongs}");
        }
        if self.ignored_texts > 0 {
            let _ = write!(out, " ignored_texts={}", self.ignored_texts);
        }
        if let Some(detail) = &self.detail {
            out.push_str(" detail=");
            json_string(&mut out, &clip(detail, 200));
        }
        out
    }
}

fn clip(s: &str, max_chars: usize) -> String {
    let mut clipped: String = s.chars().take(max_chars).collect();
    if clipped.len() < s.len() {
        clipped.push_str("...");
    }
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Codec;

    fn snap(level: Option<f64>) -> Snapshot {
        Snapshot {
            format: AudioFormat { codec: Codec::Pcm, rate: 16000, channels: 1 },
            bytes_received: 32000,
            samples: 16000,
            level_dbfs: level,
            fnv1a64: 0x0123_4567_89ab_cdef,
        }
    }

    #[test]
    fn message_shape() {
        let m = result_message("1f-2", STATUS_IN_PROGRESS, &snap(Some(-23.44)));
        assert_eq!(
            m,
            concat!(
                "{\"type\":\"asr#mimi-server\",\"session_id\":\"1f-2\",",
                "\"status\":\"recog-in-progress\",\"response\":[{\"result\":",
                "\"received 1.00 s of audio: 16000 Hz, 1 ch, 32000 bytes, level -23.4 dBFS\",",
                "\"pronunciation\":\"\",\"time\":[0,1000]}],\"audio\":{\"format\":\"pcm\",",
                "\"rate\":16000,\"channels\":1,\"bytes_received\":32000,\"samples\":16000,",
                "\"seconds\":1.000,\"level_dbfs\":-23.4,\"pcm_fnv1a64\":\"0123456789abcdef\"}}"
            )
        );
        let silent = result_message("x", STATUS_FINISHED, &snap(None));
        assert!(silent.contains("\"level_dbfs\":null"), "{silent}");
        assert!(silent.contains("level -inf dBFS"), "{silent}");
    }

    #[test]
    fn escapes() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
