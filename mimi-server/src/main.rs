//! mimi-server: a local stand-in for the mimi WebSocket speech API, for tests
//! and demos of client libraries. It does not recognise speech; it reports
//! what audio it received. See `usage()` for the command line.

mod audio;
mod conn;
mod faults;
mod flac_decode;
mod report;
mod session;
mod tls;
mod upgrade;

use std::io::Write;
use std::net::{TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::process::exit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use openssl::ssl::SslAcceptor;

use crate::faults::Fault;

/// Settings shared by every connection of a run.
pub struct Config {
    pub save_audio: Option<PathBuf>,
    pub fault: Option<Fault>,
    pub tls: Option<SslAcceptor>,
    pub token: Option<String>,
    /// Upper bound for how long a fault mode keeps a connection open.
    pub hold: Duration,
}

struct Options {
    host: String,
    port: u16,
    save_audio: Option<PathBuf>,
    max_sessions: Option<u64>,
    fault: Option<Fault>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    token: Option<String>,
}

/// Environment variable: seconds a fault mode (never-answer, silent,
/// stop-reading) keeps a connection at most. Default 300.
const HOLD_ENV: &str = "MIMI_SERVER_HOLD_SECS";

fn usage() -> String {
    format!(
        "usage: mimi-server [--host ADDR] [--port N] [--save-audio DIR] [--max-sessions N]\n\
         \x20                  [--fault MODE] [--tls-cert FILE --tls-key FILE] [--token TOKEN]\n\
         \n\
         --host ADDR        address to listen on (default 127.0.0.1)\n\
         --port N           port (default 8101; 0 picks a free one)\n\
         --save-audio DIR   write each session's decoded PCM to DIR/<session_id>.pcm\n\
         --max-sessions N   exit after N connections have ended\n\
         --fault MODE       misbehave on purpose; MODE is one of:\n\
         \x20                  {}\n\
         --tls-cert FILE    PEM certificate (chain); with --tls-key the port is TLS-only\n\
         --tls-key FILE     PEM private key\n\
         --token TOKEN      require 'Authorization: Bearer TOKEN' (else HTTP 401)\n\
         \n\
         The first line on stdout is 'listening on HOST:PORT'. One line per session goes\n\
         to stderr. {HOLD_ENV} bounds how long fault modes hold connections (default 300 s).\n",
        faults::NAMES.join(", ")
    )
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        host: "127.0.0.1".into(),
        port: 8101,
        save_audio: None,
        max_sessions: None,
        fault: None,
        tls_cert: None,
        tls_key: None,
        token: None,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "-h" || arg == "--help" {
            print!("{}", usage());
            exit(0);
        }
        // Both "--opt value" and "--opt=value".
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg, None),
        };
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i).cloned().ok_or_else(|| format!("{name} needs a value"))?
            }
        };
        match name {
            "--host" => opts.host = value,
            "--port" => opts.port = value.parse().map_err(|_| format!("bad port '{value}'"))?,
            "--save-audio" => opts.save_audio = Some(PathBuf::from(value)),
            "--max-sessions" => {
                let n: u64 = value.parse().map_err(|_| format!("bad --max-sessions '{value}'"))?;
                if n == 0 {
                    return Err("--max-sessions must be at least 1".into());
                }
                opts.max_sessions = Some(n);
            }
            "--fault" => {
                let fault =
                    Fault::parse(&value).ok_or_else(|| format!("unknown fault '{value}'"))?;
                opts.fault = Some(fault);
            }
            "--tls-cert" => opts.tls_cert = Some(PathBuf::from(value)),
            "--tls-key" => opts.tls_key = Some(PathBuf::from(value)),
            "--token" => {
                if value.is_empty() || value.bytes().any(|b| b.is_ascii_whitespace()) {
                    return Err("--token must be non-empty and without spaces".into());
                }
                opts.token = Some(value);
            }
            _ => return Err(format!("unknown option '{name}'")),
        }
        i += 1;
    }
    if opts.tls_cert.is_some() != opts.tls_key.is_some() {
        return Err("--tls-cert and --tls-key go together".into());
    }
    Ok(opts)
}

fn fail(message: &str) -> ! {
    eprintln!("mimi-server: {message}");
    exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = parse_args(&args).unwrap_or_else(|e| fail(&format!("{e}\n{}", usage())));

    if let Some(dir) = &opts.save_audio {
        if let Err(e) = std::fs::create_dir_all(dir) {
            fail(&format!("cannot create {}: {e}", dir.display()));
        }
    }
    let tls = match (&opts.tls_cert, &opts.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key).unwrap_or_else(|e| fail(&e))),
        _ => None,
    };
    let hold_secs = match std::env::var(HOLD_ENV) {
        Ok(v) => v.parse::<u64>().unwrap_or_else(|_| fail(&format!("bad {HOLD_ENV} '{v}'"))),
        Err(_) => 300,
    };
    let config = Arc::new(Config {
        save_audio: opts.save_audio.clone(),
        fault: opts.fault,
        tls,
        token: opts.token.clone(),
        hold: Duration::from_secs(hold_secs),
    });

    let addr = (opts.host.as_str(), opts.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| fail(&format!("cannot resolve host '{}'", opts.host)));
    let listener =
        TcpListener::bind(addr).unwrap_or_else(|e| fail(&format!("cannot listen on {addr}: {e}")));
    let local = listener.local_addr().unwrap_or(addr);
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {local}");
        let _ = out.flush();
    }

    serve(listener, config, opts.max_sessions);
}

/// Accepts forever (or until `max_sessions` connections have ended), one
/// thread per connection.
fn serve(listener: TcpListener, config: Arc<Config>, max_sessions: Option<u64>) {
    let pid = std::process::id();
    let ended = Arc::new(AtomicU64::new(0));
    let mut counter = 0u64;
    for incoming in listener.incoming() {
        let tcp = match incoming {
            Ok(tcp) => tcp,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                eprintln!("mimi-server: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        counter += 1;
        let id = format!("{pid:x}-{counter}");
        let config = Arc::clone(&config);
        let ended = Arc::clone(&ended);
        let spawned = thread::Builder::new().name(format!("session-{counter}")).spawn(move || {
            let log = session::run(tcp, &config, &id);
            eprintln!("{}", log.line());
            let done = ended.fetch_add(1, Ordering::SeqCst) + 1;
            if max_sessions.is_some_and(|max| done >= max) {
                let _ = std::io::stderr().flush();
                exit(0);
            }
        });
        if let Err(e) = spawned {
            eprintln!("mimi-server: cannot start a session thread: {e}");
        }
    }
}
