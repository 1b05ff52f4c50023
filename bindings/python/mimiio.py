"""Python bindings of libmimiio (the mimi WebSocket speech API client) through ctypes.

No compiled extension: this module loads ``libmimiio.so.3`` at import time and
wraps its whole C interface. The library is looked for in this order:

1. the path in the environment variable ``MIMIIO_LIBRARY``;
2. ``ctypes.util.find_library("mimiio")`` (the linker cache, ``LD_LIBRARY_PATH``);
3. the plain name ``libmimiio.so.3`` (the dynamic loader's search, including
   ``LD_LIBRARY_PATH``).

The Pythonic interface is :class:`Session`::

    import mimiio

    def audio(max_len):                 # called on the library's sending thread
        data = pcm.read(3200)
        return data, len(data) < 3200   # (bytes, recog_break)

    with mimiio.Session("127.0.0.1", 8101, audio, print, rate=16000) as s:
        s.start()
        s.wait()                        # raises mimiio.MimiError(number) on failure

The plain C functions are available as :func:`mimi_open` ... :func:`mimi_version`
(``ctypes`` function objects with their argument types set) for code that wants
the C calling pattern unchanged.
"""

import ctypes
import ctypes.util
import enum
import os
import threading
import time

__all__ = [
    "AudioFormat",
    "CallbackError",
    "HttpRequestHeader",
    "LIBRARY",
    "LogLevel",
    "MimiError",
    "RX_FUNC",
    "Session",
    "StreamState",
    "TX_BUFFER_SIZE",
    "TX_FUNC",
    "USER_ERROR",
    "chunked",
    "strerror",
    "version",
]

#: Bytes the library lends ``txfunc`` per call: a callback may return at most this many.
TX_BUFFER_SIZE = 262144

#: The number a session ends with when a Python callback raises an exception other
#: than :class:`CallbackError` (negative: a user-defined error, as the C API asks).
USER_ERROR = -1


class StreamState(enum.IntEnum):
    """What :meth:`Session.state` (``mimi_stream_state``) reports."""

    WAIT = 0
    CLOSED = 1
    BOTH = 2
    SEND = 3
    RECV = 4


class AudioFormat(enum.IntEnum):
    """What the sending callback supplies (``MIMIIO_AUDIO_FORMAT``)."""

    RAW_PCM = 0
    FLAC_0 = 1
    FLAC_1 = 2
    FLAC_2 = 3
    FLAC_3 = 4
    FLAC_4 = 5
    FLAC_5 = 6
    FLAC_6 = 7
    FLAC_7 = 8
    FLAC_8 = 9
    FLAC_PASS_THROUGH = 10


class LogLevel(enum.IntEnum):
    """``MIMIIO_LOG_*``: syslog priorities; the first open of the process sets it."""

    ERROR = 3
    WARNING = 4
    INFO = 6
    DEBUG = 7
    TRACE = 9


class HttpRequestHeader(ctypes.Structure):
    """``MIMIIO_HTTP_REQUEST_HEADER``: two NUL-terminated fields of 1024 bytes."""

    _fields_ = [("key", ctypes.c_char * 1024), ("value", ctypes.c_char * 1024)]


#: ``void (*)(char *buffer, size_t *len, bool *recog_break, int *txfunc_error, void *ud)``
TX_FUNC = ctypes.CFUNCTYPE(
    None,
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_size_t),
    ctypes.POINTER(ctypes.c_bool),
    ctypes.POINTER(ctypes.c_int),
    ctypes.c_void_p,
)

#: ``void (*)(const char *result, size_t len, int *rxfunc_error, void *ud)``
RX_FUNC = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int), ctypes.c_void_p
)


def _load_library():
    """Loads libmimiio; returns (CDLL, the name or path it was loaded by)."""
    candidates = []
    explicit = os.environ.get("MIMIIO_LIBRARY")
    if explicit:
        candidates.append(explicit)
    else:
        found = ctypes.util.find_library("mimiio")
        if found:
            candidates.append(found)
        candidates.append("libmimiio.so.3")

    errors = []
    for name in candidates:
        try:
            return ctypes.CDLL(name), name
        except OSError as exc:
            errors.append(f"{name}: {exc}")
    raise ImportError(
        "cannot load libmimiio (set MIMIIO_LIBRARY to the library's path): " + "; ".join(errors)
    )


_lib, LIBRARY = _load_library()


def _function(name, restype, argtypes):
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = argtypes
    return function


# The C API, one ctypes function per symbol. MIMI_IO* travels as c_void_p.
mimi_open = _function(
    "mimi_open",
    ctypes.c_void_p,
    [
        ctypes.c_char_p,  # mimi_host
        ctypes.c_int,  # mimi_port
        TX_FUNC,
        RX_FUNC,
        ctypes.c_void_p,  # userdata_for_tx
        ctypes.c_void_p,  # userdata_for_rx
        ctypes.c_int,  # format
        ctypes.c_int,  # samplingrate
        ctypes.c_int,  # channels
        ctypes.POINTER(HttpRequestHeader),
        ctypes.c_int,  # custom_request_headers_len
        ctypes.c_char_p,  # access_token
        ctypes.c_int,  # loglevel
        ctypes.POINTER(ctypes.c_int),  # errorno
    ],
)
mimi_start = _function("mimi_start", ctypes.c_int, [ctypes.c_void_p])
mimi_is_active = _function("mimi_is_active", ctypes.c_bool, [ctypes.c_void_p])
mimi_stream_state = _function("mimi_stream_state", ctypes.c_int, [ctypes.c_void_p])
mimi_close = _function("mimi_close", None, [ctypes.c_void_p])
mimi_error = _function("mimi_error", ctypes.c_int, [ctypes.c_void_p])
mimi_strerror = _function("mimi_strerror", ctypes.c_char_p, [ctypes.c_int])
mimi_version = _function("mimi_version", ctypes.c_char_p, [])


def version():
    """The library's version string, e.g. ``"3.0.0"`` (``mimi_version``)."""
    return mimi_version().decode("ascii")


def strerror(number):
    """The library's English text for an error number (``mimi_strerror``)."""
    return mimi_strerror(number).decode("utf-8", "replace")


class MimiError(Exception):
    """A libmimiio error: ``errno`` is the number, ``strerror`` the library's text."""

    def __init__(self, number, context=None):
        self.errno = number
        self.strerror = strerror(number)
        self.context = context
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}{self.strerror} ({number})")


class CallbackError(Exception):
    """Raise from a callback to end the session with ``number`` as its error.

    Use a negative number (user-defined errors, by the C API's convention).
    """

    def __init__(self, number):
        if number == 0:
            raise ValueError("a callback error number must not be 0")
        self.errno = number
        super().__init__(f"callback error {number}")


def _c_string(text, what):
    if text is None:
        return None
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL character")
    return data


def _headers_array(headers):
    """A ctypes array of MIMIIO_HTTP_REQUEST_HEADER from (key, value) pairs or a dict.

    Each field is copied as it is, up to its 1024 bytes; the library itself
    rejects what is invalid (801), a field too long for its NUL included.
    """
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    array = (HttpRequestHeader * max(len(pairs), 1))()
    for item, (key, value) in zip(array, pairs):
        for field, text in (("key", key), ("value", value)):
            data = _c_string(text, "a header")[:1024]
            ctypes.memmove(
                ctypes.addressof(item) + getattr(HttpRequestHeader, field).offset, data, len(data)
            )
    return array, len(pairs)


# Callback objects of sessions closed from inside their own callback: the
# callback that called close is still running on a library thread, so its
# trampoline must outlive the call. They are few and tiny; they are kept.
_retired_callbacks = []


class Session:
    """One connection to a mimi server: ``mimi_open`` on construction.

    ``tx(max_len)`` is called on the library's sending thread and returns the
    next audio as ``bytes`` (at most ``max_len`` = 262144 bytes; more is the
    library's error 903), or a tuple ``(bytes, recog_break)``; ``recog_break``
    true ends the utterance and ``tx`` is not called again. Returning ``b""``
    means "nothing yet" (called again shortly).

    ``rx(message)`` is called on the library's receiving thread with each server
    message as ``bytes`` (UTF-8 JSON text from a mimi server).

    Either callback may raise :class:`CallbackError` to end the session with a
    chosen number; any other exception ends it with :data:`USER_ERROR` and is
    kept in :attr:`callback_exception` (and chained to the :class:`MimiError`
    that :meth:`wait` raises).

    Raises :class:`MimiError` when the connection fails (for example 704 when
    nothing listens on the port, 806 for a rejected token). A non-``None``
    ``token`` makes the connection ``wss://``.
    """

    def __init__(
        self,
        host,
        port,
        tx,
        rx,
        *,
        format=AudioFormat.FLAC_0,
        rate=16000,
        channels=1,
        headers=(),
        token=None,
        loglevel=LogLevel.ERROR,
    ):
        self._handle = None
        self._lock = threading.Lock()
        self._callback_threads = set()
        self.callback_exception = None

        # The CFUNCTYPE objects are kept on the session: the library calls them
        # until mimi_close has returned.
        self._tx = tx
        self._rx = rx
        self._tx_c = TX_FUNC(self._on_tx) if tx is not None else TX_FUNC()
        self._rx_c = RX_FUNC(self._on_rx) if rx is not None else RX_FUNC()

        header_array, header_count = _headers_array(headers)
        errorno = ctypes.c_int(0)
        handle = mimi_open(
            _c_string(host, "host"),
            int(port),
            self._tx_c,
            self._rx_c,
            None,
            None,
            int(format),
            int(rate),
            int(channels),
            header_array,
            header_count,
            _c_string(token, "token"),
            int(loglevel),
            ctypes.byref(errorno),
        )
        if not handle:
            raise MimiError(errorno.value, "mimi_open")
        self._handle = handle

    # ---- callbacks (library threads) ----

    def _fail_from_callback(self, exc):
        if isinstance(exc, CallbackError):
            return exc.errno
        if self.callback_exception is None:
            self.callback_exception = exc
        return USER_ERROR

    def _on_tx(self, buffer, len_p, break_p, error_p, _userdata):
        self._callback_threads.add(threading.get_ident())
        try:
            produced = self._tx(TX_BUFFER_SIZE)
            data, recog_break = produced if isinstance(produced, tuple) else (produced, False)
            data = bytes(data) if data is not None else b""
            if len(data) <= TX_BUFFER_SIZE:
                ctypes.memmove(buffer, data, len(data))
            # A longer chunk is not copied; its length alone makes the library
            # report 903 (and send nothing of it), as for a C caller.
            len_p[0] = len(data)
            break_p[0] = bool(recog_break)
        except BaseException as exc:  # noqa: BLE001 - must not unwind into C
            error_p[0] = self._fail_from_callback(exc)

    def _on_rx(self, result, length, error_p, _userdata):
        self._callback_threads.add(threading.get_ident())
        try:
            self._rx(ctypes.string_at(result, length) if length else b"")
        except BaseException as exc:  # noqa: BLE001 - must not unwind into C
            error_p[0] = self._fail_from_callback(exc)

    # ---- the C functions, on this handle ----

    def _live_handle(self):
        if self._handle is None:
            raise ValueError("the session is closed")
        return self._handle

    def start(self):
        """Starts streaming (``mimi_start``); raises MimiError (901, 902, 905)."""
        number = mimi_start(self._live_handle())
        if number != 0:
            raise MimiError(number, "mimi_start")

    @property
    def active(self):
        """True until both sending and receiving have finished (``mimi_is_active``)."""
        return bool(mimi_is_active(self._live_handle()))

    @property
    def state(self):
        """The :class:`StreamState` (``mimi_stream_state``)."""
        return StreamState(mimi_stream_state(self._live_handle()))

    @property
    def error(self):
        """The number that ended the session, 0 if none (``mimi_error``)."""
        return mimi_error(self._live_handle())

    def wait(self, timeout=None, poll=0.01):
        """Waits until the session is no longer active.

        Raises :class:`MimiError` when it ended with an error (chained to the
        callback's exception, if one caused it), ``TimeoutError`` when it is
        still active after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.active:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"session still active after {timeout} s")
            time.sleep(poll)
        number = self.error
        if number != 0:
            raise MimiError(number, "session") from self.callback_exception

    def close(self):
        """Ends the connection and frees it (``mimi_close``); idempotent.

        Callable from inside a callback, like ``mimi_close``.
        """
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is None:
            return
        mimi_close(handle)
        if threading.get_ident() in self._callback_threads:
            _retired_callbacks.append((self._tx_c, self._rx_c))

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            self.close()


def chunked(data, size):
    """A ``tx`` callable that sends ``data`` in pieces of ``size`` bytes, then
    ends the utterance (recog_break with the last piece)."""
    if not 0 < size <= TX_BUFFER_SIZE:
        raise ValueError(f"size must be within 1..{TX_BUFFER_SIZE}")
    position = 0
    lock = threading.Lock()

    def tx(_max_len):
        nonlocal position
        with lock:
            piece = data[position : position + size]
            position += len(piece)
            return piece, position >= len(data)

    return tx
