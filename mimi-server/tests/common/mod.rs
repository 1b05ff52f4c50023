//! Helpers shared by the integration tests: start the built server, connect
//! to it as a WebSocket client, make test audio and FLAC.
#![allow(dead_code)]

use std::ffi::c_void;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use libflac_sys as flac;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{HandshakeError, Message, WebSocket};

pub const PCM_16K_MONO: &str = "audio/x-pcm;bit=16;rate=16000;channels=1";

/// A running mimi-server; killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_env(args, &[])
    }

    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mimi-server"));
        cmd.args(["--port", "0"]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mimi-server");
        let mut first = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut first).expect("read first stdout line");
        assert!(first.starts_with("listening on "), "first line: {first:?}");
        let port = first.trim_end().rsplit(':').next().unwrap().parse().expect("port number");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Server { child, port, lines, _stdout: out }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    pub fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits for a stderr line containing `needle` and returns it.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "no log line with {needle:?}:\n{}", self.stderr());
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit by itself (`--max-sessions`).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Shown by the test harness only when the test fails.
        println!("--- mimi-server stderr ---\n{}", self.stderr());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub type Ws = WebSocket<TcpStream>;

/// Opens a WebSocket with `X-Mimi-Content-Type` (if given) and extra headers.
pub fn connect(
    port: u16,
    content_type: Option<&str>,
    extra: &[(&str, &str)],
) -> Result<Ws, tungstenite::Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("tcp connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("ws://127.0.0.1:{port}/").into_client_request().unwrap();
    if let Some(ct) = content_type {
        req.headers_mut().insert("X-Mimi-Content-Type", HeaderValue::from_str(ct).unwrap());
    }
    for (k, v) in extra {
        let name: tungstenite::http::HeaderName = k.parse().unwrap();
        req.headers_mut().append(name, HeaderValue::from_str(v).unwrap());
    }
    match tungstenite::client(req, tcp) {
        Ok((ws, _resp)) => Ok(ws),
        Err(HandshakeError::Failure(e)) => Err(e),
        Err(HandshakeError::Interrupted(_)) => panic!("handshake interrupted"),
    }
}

pub fn status_of(err: &tungstenite::Error) -> u16 {
    match err {
        tungstenite::Error::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP answer, got {other:?}"),
    }
}

pub fn recog_break() -> Message {
    Message::text("{\"command\":\"recog-break\"}")
}

/// Deterministic test signal: a tone plus noise, interleaved.
pub fn test_pcm(frames: usize, channels: usize, seed: u32) -> Vec<i16> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut out = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        for c in 0..channels {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let noise = ((state >> 16) as i32 & 0x7ff) - 0x400;
            let phase = i as f64 * (0.03 + 0.01 * c as f64);
            let tone = (phase.sin() * 8000.0) as i32;
            out.push((tone + noise) as i16);
        }
    }
    out
}

pub fn to_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

pub fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Value of `"key":` in a flat JSON text, without quotes (tests only).
pub fn json_field(json: &str, key: &str) -> String {
    let pat = format!("\"{key}\":");
    let start = json.find(&pat).unwrap_or_else(|| panic!("{key} missing in {json}")) + pat.len();
    let rest = &json[start..];
    let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
    rest[..end].trim_matches('"').to_string()
}

/// Reads until the server's close frame; returns texts and the close code.
pub fn read_to_close(ws: &mut Ws) -> (Vec<String>, Option<u16>) {
    let mut texts = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => texts.push(t.to_string()),
            Ok(Message::Close(frame)) => {
                let code = frame.map(|f| u16::from(f.code));
                // Finish the handshake: tungstenite sends our reply on the next read.
                while ws.read().is_ok() {}
                return (texts, code);
            }
            Ok(_) => {}
            Err(e) => panic!("read failed before close: {e}; texts so far: {texts:?}"),
        }
    }
}

unsafe extern "C" fn collect(
    _enc: *const flac::FLAC__StreamEncoder,
    buffer: *const flac::FLAC__byte,
    bytes: usize,
    _samples: u32,
    _frame: u32,
    client: *mut c_void,
) -> flac::FLAC__StreamEncoderWriteStatus {
    let out = &mut *(client as *mut Vec<u8>);
    out.extend_from_slice(std::slice::from_raw_parts(buffer, bytes));
    flac::FLAC__STREAM_ENCODER_WRITE_STATUS_OK
}

/// Encodes interleaved 16-bit PCM as one FLAC stream with libFLAC.
pub fn encode_flac(samples: &[i16], channels: u32, rate: u32, bits: u32) -> Vec<u8> {
    let mut out: Box<Vec<u8>> = Box::default();
    unsafe {
        let enc = flac::FLAC__stream_encoder_new();
        assert!(!enc.is_null());
        flac::FLAC__stream_encoder_set_channels(enc, channels);
        flac::FLAC__stream_encoder_set_bits_per_sample(enc, bits);
        flac::FLAC__stream_encoder_set_sample_rate(enc, rate);
        flac::FLAC__stream_encoder_set_compression_level(enc, 5);
        let status = flac::FLAC__stream_encoder_init_stream(
            enc,
            Some(collect),
            None,
            None,
            None,
            &mut *out as *mut Vec<u8> as *mut c_void,
        );
        assert_eq!(status, flac::FLAC__STREAM_ENCODER_INIT_STATUS_OK);
        let wide: Vec<i32> = samples.iter().map(|&s| i32::from(s)).collect();
        let frames = (wide.len() / channels as usize) as u32;
        assert_ne!(flac::FLAC__stream_encoder_process_interleaved(enc, wide.as_ptr(), frames), 0);
        assert_ne!(flac::FLAC__stream_encoder_finish(enc), 0);
        flac::FLAC__stream_encoder_delete(enc);
    }
    *out
}
