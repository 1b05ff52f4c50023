//! Latency and cost of the session engine (issue figures, not a timed test).
//! Run with `cargo bench --bench session_bench`. Each figure is printed with what
//! it measures. The server runs in this process on a loopback port; its own CPU
//! time is measured on its thread and subtracted where client cost is reported.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mimiio::options::{AudioSpec, OpenOptions, Timeouts};
use mimiio::session::{AudioSource, Received, ResultSink, Session, TxChunk};
use openssl::ssl::{SslAcceptor, SslMethod};
use tungstenite::Message;

/// CPU time (user + system) of this process, or of the calling thread.
fn cpu_time(who: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into a live local.
    unsafe { libc::clock_gettime(who, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[derive(Clone, Copy)]
enum Behaviour {
    /// Reads and answers close frames, never sends anything.
    Silent,
    /// Sends `count` messages `gap` apart, recording when each was sent.
    Ticker { count: usize, gap: Duration },
    /// Reads everything until recog-break, then closes normally.
    Sink,
}

struct Server {
    port: u16,
    sent_at: Arc<Mutex<Vec<Instant>>>,
    cpu: Arc<Mutex<Duration>>,
    thread: thread::JoinHandle<()>,
}

fn serve<S: Read + Write>(
    mut ws: tungstenite::WebSocket<S>,
    behaviour: Behaviour,
    sent_at: &Mutex<Vec<Instant>>,
) {
    match behaviour {
        Behaviour::Silent | Behaviour::Sink => loop {
            match ws.read() {
                Ok(Message::Text(t)) if t.contains("recog-break") => {
                    let _ = ws.close(Some(tungstenite::protocol::CloseFrame {
                        code: tungstenite::protocol::frame::coding::CloseCode::Normal,
                        reason: "".into(),
                    }));
                }
                Ok(_) => {}
                Err(_) => return,
            }
        },
        Behaviour::Ticker { count, gap } => {
            for i in 0..count {
                thread::sleep(gap);
                sent_at.lock().unwrap().push(Instant::now());
                if ws.send(Message::text(format!("{{\"tick\":{i}}}"))).is_err() {
                    return;
                }
            }
            while ws.read().is_ok() {}
        }
    }
}

/// One connection, plain or TLS, served on its own thread.
fn start_server(behaviour: Behaviour, tls: Option<SslAcceptor>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent_at = Arc::new(Mutex::new(Vec::new()));
    let cpu = Arc::new(Mutex::new(Duration::ZERO));
    let (sent, cpu_out) = (Arc::clone(&sent_at), Arc::clone(&cpu));
    let thread = thread::spawn(move || {
        let start = cpu_time(libc::CLOCK_THREAD_CPUTIME_ID);
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_nodelay(true).unwrap();
        match tls {
            Some(acceptor) => {
                let stream = acceptor.accept(tcp).unwrap();
                serve(tungstenite::accept(stream).unwrap(), behaviour, &sent);
            }
            None => serve(tungstenite::accept(tcp).unwrap(), behaviour, &sent),
        }
        *cpu_out.lock().unwrap() = cpu_time(libc::CLOCK_THREAD_CPUTIME_ID) - start;
    });
    Server { port, sent_at, cpu, thread }
}

/// A self-signed certificate for "localhost", trusted through MIMIIO_CA_FILE.
fn tls_acceptor() -> SslAcceptor {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509NameBuilder, X509};

    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .build(&cert.x509v3_context(None, None))
        .unwrap();
    cert.append_extension(san).unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = cert.build();

    let path = std::env::temp_dir().join(format!("mimiio-bench-ca-{}.pem", std::process::id()));
    std::fs::write(&path, cert.to_pem().unwrap()).unwrap();
    std::env::set_var("MIMIIO_CA_FILE", &path);

    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    acceptor.set_private_key(&key).unwrap();
    acceptor.set_certificate(&cert).unwrap();
    acceptor.build()
}

/// Audio source: `chunks` chunks of `bytes` bytes; with `pace`, every other call
/// is empty so the engine's own pause sets the rhythm; `None` chunks means idle.
struct Source {
    chunks: Option<usize>,
    bytes: usize,
    pace: bool,
    calls: usize,
}

impl AudioSource for Source {
    fn fill(&mut self, buffer: &mut [u8]) -> TxChunk {
        self.calls += 1;
        let Some(left) = self.chunks.as_mut() else {
            return TxChunk::default();
        };
        if self.pace && self.calls % 2 == 0 {
            return TxChunk::default();
        }
        for (i, b) in buffer[..self.bytes].iter_mut().enumerate() {
            *b = (i * 31 % 253) as u8;
        }
        *left = left.saturating_sub(1);
        TxChunk { len: self.bytes, recog_break: *left == 0, error: 0 }
    }
}

#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<Instant>>>);

impl ResultSink for Arrivals {
    fn deliver(&mut self, _: &Received) -> i32 {
        self.0.lock().unwrap().push(Instant::now());
        0
    }
}

fn open(port: u16, format: i32, tls: bool, source: Source, sink: Arrivals) -> Box<Session> {
    let opts = OpenOptions {
        host: if tls { "localhost" } else { "127.0.0.1" }.into(),
        port,
        audio: AudioSpec::validate(format, 16000, 1).unwrap(),
        headers: Vec::new(),
        access_token: tls.then(|| "bench-token".to_string()),
        timeouts: Timeouts::default(),
    };
    Session::open(&opts, Some(Box::new(source)), Some(Box::new(sink))).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn close_latency() {
    let mut times = Vec::new();
    for _ in 0..20 {
        let server = start_server(Behaviour::Silent, None);
        let source = Source { chunks: Some(usize::MAX), bytes: 3200, pace: true, calls: 0 };
        let session = open(server.port, 0, false, source, Arrivals::default());
        session.start().unwrap();
        thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        session.close();
        times.push(t.elapsed());
        server.thread.join().unwrap();
    }
    times.sort();
    println!(
        "mimi_close while streaming, silent server (20 runs): median {:?}, max {:?}",
        percentile(&times, 0.5),
        times[times.len() - 1]
    );
}

fn idle_cpu() {
    let server = start_server(Behaviour::Silent, None);
    let source = Source { chunks: None, bytes: 0, pace: false, calls: 0 };
    let session = open(server.port, 0, false, source, Arrivals::default());
    session.start().unwrap();
    let (cpu0, wall0) = (cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID), Instant::now());
    thread::sleep(Duration::from_secs(5));
    let cpu = cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    let wall = wall0.elapsed();
    session.close();
    server.thread.join().unwrap();
    println!(
        "idle session (txfunc len 0, silent server) over {:?}: {:?} CPU = {:.3}% of a core",
        wall,
        cpu,
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    );
}

fn receive_latency() {
    let server =
        start_server(Behaviour::Ticker { count: 200, gap: Duration::from_millis(10) }, None);
    let arrivals = Arrivals::default();
    let source = Source { chunks: None, bytes: 0, pace: false, calls: 0 };
    let session = open(server.port, 0, false, source, arrivals.clone());
    session.start().unwrap();
    while arrivals.0.lock().unwrap().len() < 200 {
        thread::sleep(Duration::from_millis(10));
    }
    session.close();
    server.thread.join().unwrap();

    let sent = server.sent_at.lock().unwrap();
    let got = arrivals.0.lock().unwrap();
    let mut delays: Vec<Duration> = sent.iter().zip(got.iter()).map(|(s, r)| *r - *s).collect();
    delays.sort();
    println!(
        "server message -> rxfunc (200 messages): p50 {:?}, p99 {:?}, max {:?}",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays[delays.len() - 1]
    );
}

fn streaming_cost(format: i32, tls: bool, acceptor: Option<SslAcceptor>) {
    const SECONDS: usize = 600;
    let server = start_server(Behaviour::Sink, acceptor);
    // 0.1 s of 16 kHz mono PCM per call, as fast as the engine takes it.
    let source = Source { chunks: Some(SECONDS * 10), bytes: 3200, pace: false, calls: 0 };
    let cpu0 = cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID);
    let wall0 = Instant::now();
    let session = open(server.port, format, tls, source, Arrivals::default());
    session.start().unwrap();
    while session.is_active() {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(session.error(), 0);
    session.close();
    server.thread.join().unwrap();
    let total = cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    let client = total.saturating_sub(*server.cpu.lock().unwrap());
    println!(
        "{} {:<9} {SECONDS} s of audio in {:?}: client CPU {:?} = {:.1} us per second of audio",
        if tls { "wss" } else { "ws " },
        if format == 0 { "RAW_PCM" } else { "FLAC_5" },
        wall0.elapsed(),
        client,
        client.as_secs_f64() * 1e6 / SECONDS as f64
    );
}

fn main() {
    // `cargo bench` passes --bench; nothing else is accepted.
    println!("mimiio session engine benchmark (loopback, in-process server)");
    close_latency();
    idle_cpu();
    receive_latency();
    let acceptor = tls_acceptor();
    for format in [0, 6] {
        streaming_cost(format, false, None);
        streaming_cost(format, true, Some(acceptor.clone()));
    }
}
