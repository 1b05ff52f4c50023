//! The `extern "C"` layer: the eight functions of `mimiio.h`. Each one only
//! converts (pointers, integers, C strings), calls the safe session engine and
//! catches panics, so no unwinding ever reaches C. cbindgen copies the doc
//! comments below into the header.

pub mod types;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{strerror, MimiError};
use crate::log;
use crate::options::{self, AudioSpec, OpenOptions, Timeouts, MAX_EXTRA_HEADERS};
use crate::session::{AudioSource, Received, ResultSink, Session, StreamState, TxChunk};
use types::{
    MIMIIO_HTTP_REQUEST_HEADER, MIMIIO_RX_FUNC, MIMIIO_STREAM_STATE, MIMIIO_TX_FUNC, MIMI_IO,
};

/// `MIMIIO_AUDIO_FORMAT` as it crosses the boundary: an int that may hold any value,
/// range-checked before use. cbindgen writes it as `MIMIIO_AUDIO_FORMAT`.
pub type MimiAudioFormatArg = c_int;

/// The longest host name read from C, NUL included; a longer one is not a host.
const MAX_HOST_BYTES: usize = 1024;

/// The longest access token read from C, NUL included.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Runs `body`, turning a panic into `fallback`.
fn guarded<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Reads a NUL-terminated string of at most `max` bytes (NUL included).
/// `None` when there is no NUL within `max` bytes.
///
/// # Safety
/// `ptr` must be readable up to its NUL or `max` bytes, whichever comes first.
unsafe fn bounded_str<'a>(ptr: *const c_char, max: usize) -> Option<&'a [u8]> {
    // SAFETY: the caller guarantees `max` readable bytes or a NUL before them;
    // strnlen stops at whichever comes first.
    let len = unsafe { libc::strnlen(ptr, max) };
    // SAFETY: `len` bytes at `ptr` were just read by strnlen.
    (len < max).then(|| unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// One header field: its bytes up to the NUL, or `None` if the 1024 bytes hold none.
fn header_field(field: &[c_char; 1024]) -> Option<&[u8]> {
    // SAFETY: c_char and u8 have the same size and alignment.
    let bytes: &[u8; 1024] = unsafe { &*(field as *const [c_char; 1024]).cast() };
    bytes.iter().position(|&b| b == 0).map(|end| &bytes[..end])
}

/// Builds the options of `mimi_open`, checking every argument before any traffic.
///
/// # Safety
/// The pointers are those `mimi_open` received, with its documented requirements.
#[allow(clippy::too_many_arguments)]
unsafe fn open_options(
    host: *const c_char,
    port: c_int,
    format: c_int,
    rate: c_int,
    channels: c_int,
    headers: *const MIMIIO_HTTP_REQUEST_HEADER,
    header_count: c_int,
    token: *const c_char,
) -> Result<OpenOptions, MimiError> {
    if host.is_null() {
        return Err(MimiError::Resolve);
    }
    // SAFETY: a non-NULL host is a C string per the API; the read is bounded.
    let host = unsafe { bounded_str(host, MAX_HOST_BYTES) }.ok_or(MimiError::Resolve)?;
    let host = std::str::from_utf8(host).map_err(|_| MimiError::Resolve)?;
    options::validate_host(host)?;
    let port = options::validate_port(port)?;
    let audio = AudioSpec::validate(format, rate, channels)?;

    let count = usize::try_from(header_count).map_err(|_| MimiError::UpgradeRefused)?;
    if count > MAX_EXTRA_HEADERS || (count > 0 && headers.is_null()) {
        return Err(MimiError::UpgradeRefused);
    }
    let raw_headers: &[MIMIIO_HTTP_REQUEST_HEADER] = if count == 0 {
        &[]
    } else {
        // SAFETY: the API requires `headers` to point to `count` elements; NULL and
        // absurd counts were refused above.
        unsafe { std::slice::from_raw_parts(headers, count) }
    };
    let mut extra = Vec::with_capacity(count);
    for header in raw_headers {
        let key = header_field(&header.key).ok_or(MimiError::UpgradeRefused)?;
        let value = header_field(&header.value).ok_or(MimiError::UpgradeRefused)?;
        extra.push(options::validate_header(key, value)?);
    }

    let access_token = if token.is_null() {
        None
    } else {
        // SAFETY: a non-NULL token is a C string per the API; the read is bounded.
        let token =
            unsafe { bounded_str(token, MAX_TOKEN_BYTES) }.ok_or(MimiError::UpgradeRefused)?;
        if !token.iter().all(|&b| b.is_ascii_graphic()) {
            return Err(MimiError::UpgradeRefused);
        }
        Some(String::from_utf8_lossy(token).into_owned())
    };

    Ok(OpenOptions {
        host: host.to_string(),
        port,
        audio,
        headers: extra,
        access_token,
        timeouts: Timeouts::from_env(),
    })
}

/// A raw pointer the C caller promised may be used from the library's threads.
struct UserData(*mut c_void);

// SAFETY: SPEC §2/§3 make the caller responsible for userdata being usable from the
// library's sending and receiving threads; the library never dereferences it.
unsafe impl Send for UserData {}

struct CAudioSource {
    txfunc: unsafe extern "C" fn(*mut c_char, *mut usize, *mut bool, *mut c_int, *mut c_void),
    userdata: UserData,
}

impl AudioSource for CAudioSource {
    fn fill(&mut self, buffer: &mut [u8]) -> TxChunk {
        let mut len: usize = 0;
        // A byte rather than a Rust bool, so that any value C stores stays defined.
        let mut recog_break: u8 = 0;
        let mut error: c_int = 0;
        // SAFETY: the buffer is CHUNK_SIZE writable bytes as documented; the other
        // pointers are to live locals; userdata is passed back untouched.
        unsafe {
            (self.txfunc)(
                buffer.as_mut_ptr().cast(),
                &mut len,
                (&mut recog_break as *mut u8).cast(),
                &mut error,
                self.userdata.0,
            )
        };
        TxChunk { len, recog_break: recog_break != 0, error }
    }
}

struct CResultSink {
    rxfunc: unsafe extern "C" fn(*const c_char, usize, *mut c_int, *mut c_void),
    userdata: UserData,
    /// Reused buffer for NUL-terminating text messages.
    text: Vec<u8>,
}

impl ResultSink for CResultSink {
    fn deliver(&mut self, message: &Received) -> i32 {
        let (ptr, len) = match message {
            Received::Text(text) => {
                self.text.clear();
                self.text.extend_from_slice(text.as_bytes());
                self.text.push(0);
                (self.text.as_ptr(), text.len())
            }
            Received::Binary(bytes) => (bytes.as_ptr(), bytes.len()),
        };
        let mut error: c_int = 0;
        // SAFETY: `ptr` holds `len` bytes (plus a NUL for text) alive for the call;
        // `error` is a live local; userdata is passed back untouched.
        unsafe { (self.rxfunc)(ptr.cast(), len, &mut error, self.userdata.0) };
        error
    }
}

/// The session behind a handle, or `None` for NULL.
///
/// # Safety
/// `mio` is NULL or a handle from `mimi_open` not yet closed.
unsafe fn session<'a>(mio: *mut MIMI_IO) -> Option<&'a Session> {
    // SAFETY: per the contract above, a non-NULL handle points to a live Session.
    unsafe { mio.cast::<Session>().as_ref() }
}

/// Opens a connection to a mimi server and returns its handle, or NULL.
///
/// Connects to `mimi_host:mimi_port` (TCP; with TLS when `access_token` is not
/// NULL) and performs the WebSocket upgrade, blocking until the connection is
/// ready or has failed (at most 30 s, or `MIMIIO_CONNECT_TIMEOUT_MS`). No audio is
/// sent until `mimi_start`.
///
/// - `on_tx_callback` / `on_rx_callback`: see `MIMIIO_TX_FUNC` / `MIMIIO_RX_FUNC`;
///   either may be NULL here, but `mimi_start` then fails (901 / 902).
/// - `userdata_for_tx` / `userdata_for_rx`: passed back to the callbacks unchanged;
///   they are called from the library's threads, so the data must allow that.
/// - `format`, `samplingrate`, `channels`: what `txfunc` supplies (16-bit samples,
///   1 to 8 channels, rate 1 to 655350 Hz); anything else is 501.
/// - `extra_request_headers`: `custom_request_headers_len` headers added to the
///   upgrade request in order, as given (at most 256); copied, the caller keeps
///   ownership. A negative count, more than 256, a NULL array with a positive
///   count, or an invalid header (see `MIMIIO_HTTP_REQUEST_HEADER`) is 801.
/// - `access_token`: NULL for `ws://`; otherwise `wss://` with
///   `Authorization: Bearer <token>`. Copied; only visible ASCII (else 801).
/// - `loglevel`: a `MIMIIO_LOG_*` value; the first `mimi_open` of the process sets
///   it for the whole process. Messages go to syslog (ident `mimiio`).
/// - `errorno`: receives 0 on success or the error number; may be NULL.
///
/// Errors: 501, 601-605, 701, 703, 704, 705, 799, 801, 803, 805, 806, 101.
/// Thread-safe: any number of connections may be opened from any threads.
///
/// # Safety
/// Non-NULL strings must be NUL-terminated; `extra_request_headers` must point to
/// `custom_request_headers_len` elements; `errorno`, if not NULL, to a writable int.
#[no_mangle]
pub unsafe extern "C" fn mimi_open(
    mimi_host: *const c_char,
    mimi_port: c_int,
    on_tx_callback: MIMIIO_TX_FUNC,
    on_rx_callback: MIMIIO_RX_FUNC,
    userdata_for_tx: *mut c_void,
    userdata_for_rx: *mut c_void,
    format: MimiAudioFormatArg,
    samplingrate: c_int,
    channels: c_int,
    extra_request_headers: *const MIMIIO_HTTP_REQUEST_HEADER,
    custom_request_headers_len: c_int,
    access_token: *const c_char,
    loglevel: c_int,
    errorno: *mut c_int,
) -> *mut MIMI_IO {
    let result = guarded(Err(MimiError::Internal), || {
        log::init(loglevel);
        // SAFETY: the pointers come straight from the caller, as documented above.
        let opts = unsafe {
            open_options(
                mimi_host,
                mimi_port,
                format,
                samplingrate,
                channels,
                extra_request_headers,
                custom_request_headers_len,
                access_token,
            )
        }?;
        let source = on_tx_callback.map(|txfunc| {
            Box::new(CAudioSource { txfunc, userdata: UserData(userdata_for_tx) })
                as Box<dyn AudioSource>
        });
        let sink = on_rx_callback.map(|rxfunc| {
            Box::new(CResultSink { rxfunc, userdata: UserData(userdata_for_rx), text: Vec::new() })
                as Box<dyn ResultSink>
        });
        Session::open(&opts, source, sink)
    });

    let (handle, code) = match result {
        Ok(session) => (Box::into_raw(session).cast::<MIMI_IO>(), 0),
        Err(e) => {
            log::error!("mimi_open failed: {e}");
            (std::ptr::null_mut(), e.code())
        }
    };
    if !errorno.is_null() {
        // SAFETY: a non-NULL errorno points to a writable int, as documented.
        unsafe { *errorno = code };
    }
    handle
}

/// Starts streaming: `txfunc` is then called from a sending thread and `rxfunc`
/// from a receiving thread, both different from the caller's.
///
/// Returns 0, or 901 (no txfunc), 902 (no rxfunc; 901 wins if both are missing),
/// 905 (NULL handle, already started, or threads could not be created). Call it
/// once, from any thread, but not concurrently with `mimi_close` on the handle.
///
/// # Safety
/// `mio` is NULL or a handle from `mimi_open` not yet closed.
#[no_mangle]
pub unsafe extern "C" fn mimi_start(mio: *mut MIMI_IO) -> c_int {
    guarded(MimiError::Internal.code(), || {
        // SAFETY: `mio` is NULL or a live handle, as the API requires.
        match unsafe { session(mio) } {
            None => MimiError::StartFailed.code(),
            Some(session) => session.start().map_or_else(|e| e.code(), |()| 0),
        }
    })
}

/// True from a successful `mimi_start` until both sending and receiving have
/// finished; false for NULL. When it turns false, `mimi_error` already holds the
/// final number. Callable from any thread.
///
/// # Safety
/// `mio` is NULL or a handle from `mimi_open` not yet closed.
#[no_mangle]
pub unsafe extern "C" fn mimi_is_active(mio: *mut MIMI_IO) -> bool {
    guarded(false, || {
        // SAFETY: `mio` is NULL or a live handle, as the API requires.
        unsafe { session(mio) }.is_some_and(Session::is_active)
    })
}

/// The stream state: WAIT before `mimi_start`, BOTH while sending and receiving,
/// SEND or RECV while only one side runs (RECV is normal after recog-break),
/// CLOSED when both have finished or for NULL. Callable from any thread.
///
/// # Safety
/// `mio` is NULL or a handle from `mimi_open` not yet closed.
#[no_mangle]
pub unsafe extern "C" fn mimi_stream_state(mio: *mut MIMI_IO) -> MIMIIO_STREAM_STATE {
    guarded(MIMIIO_STREAM_STATE::MIMIIO_STREAM_CLOSED, || {
        // SAFETY: `mio` is NULL or a live handle, as the API requires.
        let state = unsafe { session(mio) }.map_or(StreamState::Closed, Session::stream_state);
        match state {
            StreamState::Wait => MIMIIO_STREAM_STATE::MIMIIO_STREAM_WAIT,
            StreamState::Closed => MIMIIO_STREAM_STATE::MIMIIO_STREAM_CLOSED,
            StreamState::Both => MIMIIO_STREAM_STATE::MIMIIO_STREAM_BOTH,
            StreamState::Send => MIMIIO_STREAM_STATE::MIMIIO_STREAM_SEND,
            StreamState::Recv => MIMIIO_STREAM_STATE::MIMIIO_STREAM_RECV,
        }
    })
}

/// Ends the connection (with the WebSocket closing handshake while the server still
/// answers, bounded by 1 s or `MIMIIO_CLOSE_TIMEOUT_MS`), waits for the library's
/// threads and frees the handle. Afterwards no callback runs and the handle is
/// invalid. NULL does nothing. A callback still running is waited for.
///
/// Called from inside `txfunc` or `rxfunc`, it waits for the other callback to
/// return if it is running, stops the session and returns without waiting for the
/// session's threads: from then on no other callback runs, and the library frees
/// the session once its threads have ended.
///
/// # Safety
/// `mio` is NULL or a handle from `mimi_open` not yet closed; it is closed once,
/// and no other thread uses it during or after the call.
#[no_mangle]
pub unsafe extern "C" fn mimi_close(mio: *mut MIMI_IO) {
    if mio.is_null() {
        return;
    }
    // SAFETY: a non-NULL handle came from Box::into_raw in mimi_open and, per the
    // API, is closed once; ownership returns here.
    let session = unsafe { Box::from_raw(mio.cast::<Session>()) };
    guarded((), move || session.close());
}

/// The first error that ended the session, 0 while none (and after a normal end),
/// 101 for NULL. Negative numbers are those a callback set; numbers of 1000 and
/// above are the server's close status. While streaming the library itself can
/// end a session with 502, 790 (also a send blocked for 30 s,
/// `MIMIIO_SEND_TIMEOUT_MS`), 791, 799, 810, 811, 830 (no message from the server
/// for 30 s, `MIMIIO_RECV_TIMEOUT_MS`), 890, 903, 904, 906 or 907; a sending-side
/// error wins over the receiving-side error it causes. Callable from any thread.
///
/// # Safety
/// `mio` is NULL or a handle from `mimi_open` not yet closed.
#[no_mangle]
pub unsafe extern "C" fn mimi_error(mio: *mut MIMI_IO) -> c_int {
    guarded(MimiError::Internal.code(), || {
        // SAFETY: `mio` is NULL or a live handle, as the API requires.
        unsafe { session(mio) }.map_or(MimiError::Internal.code(), Session::error)
    })
}

/// A static English description of an error number (never NULL, never freed):
/// one per number of the error table, "user defined error." for negative
/// numbers, the RFC 6455 meaning for close statuses 1000-1015, and a generic
/// remote-host text for other numbers of 1000 and above. Callable from any thread.
#[no_mangle]
pub extern "C" fn mimi_strerror(errorno: c_int) -> *const c_char {
    strerror(errorno).as_ptr()
}

/// The library's version, e.g. "3.0.0": a static string, never freed. Callable
/// from any thread.
#[no_mangle]
pub extern "C" fn mimi_version() -> *const c_char {
    VERSION.as_ptr()
}

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the package version contains a NUL"),
    };
