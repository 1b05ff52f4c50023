//! The session engine through its safe Rust API, against a small WebSocket server
//! run in the test on a loopback port.

#![allow(clippy::result_large_err)] // the type of tungstenite's handshake callback

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mimiio::options::{AudioSpec, OpenOptions, Timeouts};
use mimiio::session::{AudioSource, Received, ResultSink, Session, StreamState, TxChunk};
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

/// What the in-test server saw of one session.
#[derive(Default, Debug)]
struct Seen {
    content_type: String,
    extra: Option<String>,
    audio: Vec<u8>,
    texts: Vec<String>,
}

/// Serves one session: records audio until recog-break, answers, closes with 1000.
fn serve_one() -> (u16, thread::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut seen = Seen::default();
        let mut headers = None;
        let mut ws = tungstenite::accept_hdr(tcp, |req: &Request, resp: Response| {
            headers = Some(req.headers().clone());
            Ok(resp)
        })
        .unwrap();
        let headers = headers.unwrap();
        seen.content_type = headers["x-mimi-content-type"].to_str().unwrap().to_string();
        seen.extra = headers.get("x-mimi-process").map(|v| v.to_str().unwrap().to_string());

        ws.send(Message::text(r#"{"status":"recog-in-progress"}"#)).unwrap();
        loop {
            match ws.read().unwrap() {
                Message::Binary(b) => seen.audio.extend_from_slice(&b),
                Message::Text(t) => {
                    seen.texts.push(t.to_string());
                    break;
                }
                _ => {}
            }
        }
        ws.send(Message::text(r#"{"status":"recog-finished"}"#)).unwrap();
        let normal = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        ws.close(Some(normal)).unwrap();
        while ws.read().is_ok() {}
        seen
    });
    (port, handle)
}

/// Serves `data` in chunks of `chunk` bytes, then recog-break.
struct ChunkedSource {
    data: Vec<u8>,
    offset: usize,
    chunk: usize,
}

impl AudioSource for ChunkedSource {
    fn fill(&mut self, buffer: &mut [u8]) -> TxChunk {
        let n = self.chunk.min(self.data.len() - self.offset);
        buffer[..n].copy_from_slice(&self.data[self.offset..self.offset + n]);
        self.offset += n;
        TxChunk { len: n, recog_break: self.offset == self.data.len(), error: 0 }
    }
}

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Received>>>);

impl ResultSink for Collect {
    fn deliver(&mut self, message: &Received) -> i32 {
        self.0.lock().unwrap().push(message.clone());
        0
    }
}

fn options(port: u16, format: i32) -> OpenOptions {
    OpenOptions {
        host: "127.0.0.1".into(),
        port,
        audio: AudioSpec::validate(format, 16000, 1).unwrap(),
        headers: vec![("x-mimi-process".into(), b"asr".to_vec())],
        access_token: None,
        timeouts: Timeouts::default(),
    }
}

fn wait_inactive(session: &Session) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while session.is_active() {
        assert!(Instant::now() < deadline, "session still active after 10 s");
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn raw_pcm_reaches_the_server_unchanged_and_results_come_back_in_order() {
    let (port, server) = serve_one();
    let audio: Vec<u8> = (0..32000u32).map(|i| (i * 7 % 251) as u8).collect();
    let source = ChunkedSource { data: audio.clone(), offset: 0, chunk: 3200 };
    let results = Collect::default();

    let session =
        Session::open(&options(port, 0), Some(Box::new(source)), Some(Box::new(results.clone())))
            .unwrap();
    assert_eq!(session.stream_state(), StreamState::Wait);
    session.start().unwrap();
    wait_inactive(&session);

    assert_eq!(session.error(), 0);
    assert_eq!(session.stream_state(), StreamState::Closed);
    session.close();

    let seen = server.join().unwrap();
    assert_eq!(seen.content_type, "audio/x-pcm;bit=16;rate=16000;channels=1");
    assert_eq!(seen.extra.as_deref(), Some("asr"));
    assert_eq!(seen.audio, audio);
    assert_eq!(seen.texts, vec![r#"{"command":"recog-break"}"#.to_string()]);
    let got = results.0.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            Received::Text(r#"{"status":"recog-in-progress"}"#.into()),
            Received::Text(r#"{"status":"recog-finished"}"#.into()),
        ]
    );
}

#[test]
fn starting_twice_is_905_and_missing_callbacks_are_901_then_902() {
    let (port, _server) = serve_one();
    let session = Session::open(&options(port, 0), None, None).unwrap();
    assert_eq!(session.start(), Err(mimiio::error::MimiError::NoTxFunc));
    session.close();

    let (port, _server) = serve_one();
    let source = ChunkedSource { data: vec![0; 3200], offset: 0, chunk: 3200 };
    let session = Session::open(&options(port, 0), Some(Box::new(source)), None).unwrap();
    assert_eq!(session.start(), Err(mimiio::error::MimiError::NoRxFunc));
    session.close();

    let (port, server) = serve_one();
    let source = ChunkedSource { data: vec![0; 3200], offset: 0, chunk: 3200 };
    let sink = Collect::default();
    let session =
        Session::open(&options(port, 0), Some(Box::new(source)), Some(Box::new(sink))).unwrap();
    assert_eq!(session.start(), Ok(()));
    assert_eq!(session.start(), Err(mimiio::error::MimiError::StartFailed));
    wait_inactive(&session);
    assert_eq!(session.error(), 0);
    session.close();
    assert_eq!(server.join().unwrap().audio, vec![0; 3200]);
}

/// A sink that is slow, so results pile up behind it.
#[derive(Clone, Default)]
struct SlowCollect(Arc<Mutex<Vec<Received>>>);

impl ResultSink for SlowCollect {
    fn deliver(&mut self, message: &Received) -> i32 {
        thread::sleep(Duration::from_millis(2));
        self.0.lock().unwrap().push(message.clone());
        0
    }
}

/// An idle source: no audio, no break.
struct Idle;

impl AudioSource for Idle {
    fn fill(&mut self, _: &mut [u8]) -> TxChunk {
        TxChunk::default()
    }
}

#[test]
fn a_slow_rxfunc_gets_every_message_in_order_when_the_queue_fills() {
    const COUNT: usize = 300;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        for i in 0..COUNT {
            ws.send(Message::text(format!("{i}"))).unwrap();
        }
        let normal = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        ws.close(Some(normal)).unwrap();
        while ws.read().is_ok() {}
    });

    let results = SlowCollect::default();
    let session =
        Session::open(&options(port, 0), Some(Box::new(Idle)), Some(Box::new(results.clone())))
            .unwrap();
    session.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while results.0.lock().unwrap().len() < COUNT {
        assert!(Instant::now() < deadline, "results stopped arriving");
        thread::sleep(Duration::from_millis(5));
    }
    wait_inactive(&session);
    assert_eq!(session.error(), 0);
    session.close();
    server.join().unwrap();

    let expected: Vec<Received> = (0..COUNT).map(|i| Received::Text(i.to_string())).collect();
    assert_eq!(*results.0.lock().unwrap(), expected);
}

#[test]
fn closing_mid_stream_sends_status_1000() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        loop {
            match ws.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(e) => panic!("no close frame: {e}"),
            }
        }
    });

    let results = Collect::default();
    let session =
        Session::open(&options(port, 0), Some(Box::new(Idle)), Some(Box::new(results))).unwrap();
    session.start().unwrap();
    thread::sleep(Duration::from_millis(50));
    session.close();

    assert_eq!(server.join().unwrap(), Some(1000));
}

/// Serves one session that answers the first audio frame with a raw close frame
/// carrying `status`, written byte by byte past tungstenite.
fn serve_raw_close(status: u16) -> (u16, thread::JoinHandle<()>) {
    use std::io::Write;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        while !matches!(ws.read(), Ok(Message::Binary(_)) | Err(_)) {}
        let [hi, lo] = status.to_be_bytes();
        let _ = ws.get_mut().write_all(&[0x88, 0x02, hi, lo]);
        // Hold the line until the client has gone.
        while ws.read().is_ok() {}
    });
    (port, handle)
}

fn error_after_raw_close(status: u16) -> i32 {
    let (port, server) = serve_raw_close(status);
    let source = ChunkedSource { data: vec![0; 320_000], offset: 0, chunk: 3200 };
    let session = Session::open(
        &options(port, 0),
        Some(Box::new(source)),
        Some(Box::new(Collect::default())),
    )
    .unwrap();
    session.start().unwrap();
    wait_inactive(&session);
    let error = session.error();
    session.close();
    server.join().unwrap();
    error
}

#[test]
fn close_statuses_are_passed_through_as_the_server_sent_them() {
    // 1014 and 5000 are statuses tungstenite itself would rewrite to 1002.
    assert_eq!(error_after_raw_close(1011), 1011);
    assert_eq!(error_after_raw_close(1014), 1014);
    assert_eq!(error_after_raw_close(4999), 4999);
    assert_eq!(error_after_raw_close(5000), 5000);
    assert_eq!(error_after_raw_close(1000), 0);
}

#[test]
fn a_close_status_below_1000_is_a_protocol_error() {
    assert_eq!(error_after_raw_close(999), 890);
}
