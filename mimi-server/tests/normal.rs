//! The normal path: upgrade checks, PCM and FLAC sessions, progress, close.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use tungstenite::Message;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mimi-server-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn bad_content_types_get_400() {
    let server = Server::start(&[]);
    for ct in [
        None,
        Some("audio/x-wav;bit=16;rate=16000;channels=1"),
        Some("audio/x-pcm;bit=8;rate=16000;channels=1"),
        Some("audio/x-pcm;bit=16;rate=16000"),
        Some("audio/x-flac;bit=16;rate=16000;channels=9"),
    ] {
        let err = connect(server.port, ct, &[]).expect_err("upgrade must fail");
        assert_eq!(status_of(&err), 400, "{ct:?}");
    }
    let line = server.wait_log("end=http-400");
    assert!(line.contains("detail="), "{line}");
    // Spaces and any parameter order are fine.
    let ws = connect(server.port, Some("audio/x-flac; channels=2; bit=16; rate=8000"), &[]);
    assert!(ws.is_ok());
}

#[test]
fn pcm_session_reports_exact_audio() {
    let dir = temp_dir("pcm");
    let server = Server::start(&["--save-audio", dir.to_str().unwrap()]);
    let extra = [("X-Mimi-Process", "asr"), ("Authorization", "Bearer secret-value")];
    let mut ws = connect(server.port, Some(PCM_16K_MONO), &extra).unwrap();
    let mut pcm = to_bytes(&test_pcm(48000, 1, 7));
    pcm.push(0x11); // a trailing half sample is kept as received
    for chunk in pcm.chunks(8000) {
        ws.send(Message::binary(chunk.to_vec())).unwrap();
    }
    ws.send(recog_break()).unwrap();
    let (texts, code) = read_to_close(&mut ws);
    assert_eq!(code, Some(1000));
    let (last, progress) = texts.split_last().unwrap();
    assert_eq!(json_field(last, "status"), "recog-finished");
    assert!(progress.len() >= 3, "{texts:?}");
    for p in progress {
        assert_eq!(json_field(p, "status"), "recog-in-progress");
        assert_eq!(json_field(p, "type"), "asr#mimi-server");
    }
    assert_eq!(json_field(last, "samples"), "48000");
    assert_eq!(json_field(last, "bytes_received"), pcm.len().to_string());
    assert_eq!(json_field(last, "seconds"), "3.000");
    assert_eq!(json_field(last, "format"), "pcm");
    assert_eq!(json_field(last, "pcm_fnv1a64"), fnv1a64(&pcm));
    assert!(last.contains("\"time\":[0,3000]"), "{last}");
    let level: f64 = json_field(last, "level_dbfs").parse().unwrap();
    assert!((-30.0..-5.0).contains(&level), "{level}");

    let id = json_field(last, "session_id");
    let saved = fs::read(dir.join(format!("{id}.pcm"))).unwrap();
    assert_eq!(saved, pcm);
    let line = server.wait_log(&format!("session {id} "));
    assert!(line.contains("end=recog-finished"), "{line}");
    assert!(line.contains("format=pcm rate=16000 ch=1"), "{line}");
    // (tungstenite's client reorders its headers, so only the set is checked.)
    let names = line.split(" headers=").nth(1).unwrap().split(' ').next().unwrap();
    let mut names: Vec<&str> = names.split(',').collect();
    names.sort();
    assert_eq!(names, ["authorization", "x-mimi-process"], "{line}");
    assert!(!server.stderr().contains("secret-value"));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn flac_session_decodes_bit_exactly() {
    let dir = temp_dir("flac");
    let server = Server::start(&["--save-audio", dir.to_str().unwrap()]);
    let samples = test_pcm(16000 * 2 + 4321, 2, 3);
    let flac_bytes = encode_flac(&samples, 2, 16000, 16);
    let ct = "audio/x-flac;bit=16;rate=16000;channels=2";
    let mut ws = connect(server.port, Some(ct), &[]).unwrap();
    // Tiny pieces first (the stream header split mid-block), then larger ones.
    let (head, rest) = flac_bytes.split_at(120);
    for chunk in head.chunks(3).chain(rest.chunks(1000)) {
        ws.send(Message::binary(chunk.to_vec())).unwrap();
    }
    ws.send(recog_break()).unwrap();
    let (texts, code) = read_to_close(&mut ws);
    assert_eq!(code, Some(1000));
    let last = texts.last().unwrap();
    assert_eq!(texts.len(), 3, "two whole seconds, then the result: {texts:?}");
    assert_eq!(json_field(last, "format"), "flac");
    assert_eq!(json_field(last, "samples"), (16000 * 2 + 4321).to_string());
    assert_eq!(json_field(last, "bytes_received"), flac_bytes.len().to_string());
    let pcm = to_bytes(&samples);
    assert_eq!(json_field(last, "pcm_fnv1a64"), fnv1a64(&pcm));
    let id = json_field(last, "session_id");
    let saved = fs::read(dir.join(format!("{id}.pcm"))).unwrap();
    assert!(saved == pcm, "decoded PCM differs ({} vs {} bytes)", saved.len(), pcm.len());
    server.wait_log("format=flac rate=16000 ch=2");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn progress_follows_the_audio() {
    let server = Server::start(&[]);
    let mut ws =
        connect(server.port, Some("audio/x-pcm;bit=16;rate=8000;channels=1"), &[]).unwrap();
    // 1.5 s: one message right after the first second, none before.
    let pcm = to_bytes(&test_pcm(12000, 1, 1));
    ws.send(Message::binary(pcm[..15998].to_vec())).unwrap();
    ws.send(Message::binary(pcm[15998..16000].to_vec())).unwrap();
    let first = match ws.read().unwrap() {
        Message::Text(t) => t.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(json_field(&first, "status"), "recog-in-progress");
    assert_eq!(json_field(&first, "samples"), "8000");
    ws.send(Message::binary(pcm[16000..].to_vec())).unwrap();
    ws.send(Message::text("{\"command\":\"something-else\"}")).unwrap();
    ws.send(Message::text(" { \"command\" : \"recog-break\" } ")).unwrap();
    let (texts, code) = read_to_close(&mut ws);
    assert_eq!(code, Some(1000));
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(json_field(&texts[0], "samples"), "12000");
    let line = server.wait_log("end=recog-finished");
    assert!(line.contains("ignored_texts=1"), "{line}");
}

#[test]
fn silence_has_null_level() {
    let server = Server::start(&[]);
    let mut ws = connect(server.port, Some(PCM_16K_MONO), &[]).unwrap();
    ws.send(Message::binary(vec![0u8; 3200])).unwrap();
    ws.send(recog_break()).unwrap();
    let (texts, _) = read_to_close(&mut ws);
    assert_eq!(json_field(&texts[0], "level_dbfs"), "null");
}

#[test]
fn flac_not_matching_the_header_is_refused() {
    let server = Server::start(&[]);
    let samples = test_pcm(4000, 1, 5);
    // Stream says 8000 Hz, the header 16000 Hz.
    let mut ws =
        connect(server.port, Some(PCM_16K_MONO.replace("x-pcm", "x-flac").as_str()), &[]).unwrap();
    ws.send(Message::binary(encode_flac(&samples, 1, 8000, 16))).unwrap();
    let (_, code) = read_to_close(&mut ws);
    assert_eq!(code, Some(1003));
    server.wait_log("end=flac-format-mismatch");

    let mut ws =
        connect(server.port, Some("audio/x-flac;bit=16;rate=8000;channels=1"), &[]).unwrap();
    ws.send(Message::binary(b"this is not a FLAC stream at all, not even close".to_vec())).unwrap();
    ws.send(recog_break()).unwrap();
    let (texts, code) = read_to_close(&mut ws);
    assert_eq!(code, Some(1007));
    assert!(texts.is_empty());
    server.wait_log("end=flac-undecodable");

    // 24-bit FLAC is refused even when rate and channels match.
    let mut ws =
        connect(server.port, Some("audio/x-flac;bit=16;rate=8000;channels=1"), &[]).unwrap();
    ws.send(Message::binary(encode_flac(&samples, 1, 8000, 24))).unwrap();
    let (_, code) = read_to_close(&mut ws);
    assert_eq!(code, Some(1003));
}

#[test]
fn client_close_mid_stream_and_max_sessions() {
    let mut server = Server::start(&["--max-sessions", "2"]);
    let mut ws = connect(server.port, Some(PCM_16K_MONO), &[]).unwrap();
    ws.send(Message::binary(vec![1u8; 6400])).unwrap();
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    server.wait_log("end=client-close");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    drop(tcp);
    assert!(server.wait_exit().success());
}
