//! Logging to syslog (ident `mimiio`), as the original library did. The level is
//! process-wide and set by the first `mimi_open`; nothing is ever printed to stdout.
//! `MIMIIO_LOG_STDERR=1` also copies each message to stderr (syslog's LOG_PERROR),
//! which is how tests read the log.

use std::ffi::CString;
use std::fmt;
use std::sync::OnceLock;

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

/// The threshold chosen by the first `mimi_open` of the process.
static THRESHOLD: OnceLock<i32> = OnceLock::new();

/// Sets the process-wide level; only the first call has an effect.
pub fn init(loglevel: i32) {
    THRESHOLD.get_or_init(|| {
        let mut options = libc::LOG_PID;
        if std::env::var_os("MIMIIO_LOG_STDERR").is_some_and(|v| v == "1") {
            options |= libc::LOG_PERROR;
        }
        // SAFETY: the ident is a 'static NUL-terminated string, as openlog keeps the pointer.
        unsafe { libc::openlog(c"mimiio".as_ptr(), options, libc::LOG_USER) };
        loglevel
    });
}

pub fn enabled(level: Level) -> bool {
    THRESHOLD.get().is_some_and(|&threshold| level as i32 <= threshold)
}

pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }

    // A message with an interior NUL (it cannot come from us) is cut there.
    let text = args.to_string().replace('\0', " ");
    let text = CString::new(text).unwrap_or_default();

    // SAFETY: a constant "%s" format with one NUL-terminated string argument.
    unsafe { libc::syslog(level.syslog_priority(), c"%s".as_ptr(), text.as_ptr()) };
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
