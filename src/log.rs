//! Logging to syslog with ident `mimiio`, as the original library did, without
//! taking over the host program's own syslog: instead of openlog(3), which would
//! change the ident of every syslog() call in the process, messages are written
//! straight to the local syslog socket `/dev/log` in the traditional format.
//! The level is process-wide and set by the first `mimi_open`; nothing is ever
//! printed to stdout. `MIMIIO_LOG_STDERR=1` also copies each message to stderr
//! (like syslog's LOG_PERROR), which is how tests read the log.

use std::fmt;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock};

/// Message priorities, numbered like the `MIMIIO_LOG_*` constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 3,
    Warning = 4,
    Info = 6,
    Debug = 7,
    Trace = 9,
}

impl Level {
    fn syslog_priority(self) -> libc::c_int {
        match self {
            Level::Error => libc::LOG_ERR,
            Level::Warning => libc::LOG_WARNING,
            Level::Info => libc::LOG_INFO,
            Level::Debug | Level::Trace => libc::LOG_DEBUG,
        }
    }
}

struct Settings {
    threshold: i32,
    copy_to_stderr: bool,
}

/// Chosen by the first `mimi_open` of the process.
static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// The connection to the syslog daemon, made on first use and again after a
/// failed send (the daemon may have restarted).
static SYSLOG: Mutex<Option<UnixDatagram>> = Mutex::new(None);

const SYSLOG_SOCKET: &str = "/dev/log";

/// Sets the process-wide level; only the first call has an effect.
pub fn init(loglevel: i32) {
    SETTINGS.get_or_init(|| Settings {
        threshold: loglevel,
        copy_to_stderr: std::env::var_os("MIMIIO_LOG_STDERR").is_some_and(|v| v == "1"),
    });
}

pub fn write(level: Level, args: fmt::Arguments<'_>) {
    let Some(settings) = SETTINGS.get() else {
        return;
    };
    if level as i32 > settings.threshold {
        return;
    }

    let pid = std::process::id();
    let text = args.to_string();
    if settings.copy_to_stderr {
        let _ = writeln!(std::io::stderr().lock(), "mimiio[{pid}]: {text}");
    }

    send_to_syslog(syslog_line(level, pid, &text).as_bytes());
}

/// One message in the traditional syslog format (RFC 3164), facility LOG_USER.
fn syslog_line(level: Level, pid: u32, text: &str) -> String {
    let priority = libc::LOG_USER | level.syslog_priority();
    format!("<{priority}>{} mimiio[{pid}]: {text}", timestamp())
}

fn send_to_syslog(line: &[u8]) {
    let mut socket = SYSLOG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for _attempt in 0..2 {
        if socket.is_none() {
            let connected = UnixDatagram::unbound().and_then(|s| {
                s.connect(SYSLOG_SOCKET)?;
                Ok(s)
            });
            // No syslog daemon: the message is dropped, as syslog(3) drops it.
            *socket = Some(match connected {
                Ok(s) => s,
                Err(_) => return,
            });
        }
        match socket.as_ref().map(|s| s.send(line)) {
            Some(Ok(_)) => return,
            _ => *socket = None,
        }
    }
}

/// The local time as syslog writes it: `Dec  3 17:05:09`.
fn timestamp() -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    // SAFETY: time(NULL) takes no pointer to write; localtime_r fills the zeroed
    // struct tm we own and returns NULL only on failure, which is checked.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "Jan  1 00:00:00".to_string();
        }
        tm
    };
    let month = MONTHS[tm.tm_mon.clamp(0, 11) as usize];
    format!("{month} {:>2} {:02}:{:02}:{:02}", tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}

/// `log::error!(...)` and friends: `format!` arguments, emitted at that level.
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) };
}
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warning, format_args!($($arg)*)) };
}
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*)) };
}
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Trace, format_args!($($arg)*)) };
}

pub(crate) use {debug, error, info, trace, warning};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_facility_user_priority_ident_and_pid() {
        let line = syslog_line(Level::Warning, 42, "connection lost");
        // LOG_USER (8) | LOG_WARNING (4) = 12.
        assert!(line.starts_with("<12>"), "{line}");
        assert!(line.ends_with(" mimiio[42]: connection lost"), "{line}");
        let trace = syslog_line(Level::Trace, 1, "x");
        assert!(trace.starts_with("<15>"), "{trace}");
    }

    #[test]
    fn timestamps_look_like_syslog_ones() {
        let stamp = timestamp();
        let months = "JanFebMarAprMayJunJulAugSepOctNovDec";
        assert_eq!(stamp.len(), 15, "{stamp}");
        assert!(months.contains(&stamp[..3]), "{stamp}");
        assert_eq!(&stamp[9..10], ":");
        assert_eq!(&stamp[12..13], ":");
    }
}
