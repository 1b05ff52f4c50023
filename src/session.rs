//! The session engine: one connection, its three threads and the state the C
//! accessors read. Safe Rust throughout; the C layer adapts callbacks to the
//! [`AudioSource`] and [`ResultSink`] traits.
//!
//! Threads per started session:
//! - sending: calls the audio source, encodes, queues frames for the I/O thread;
//! - I/O: owns the WebSocket (see `io_loop`);
//! - receiving: hands each complete message to the result sink.
//!
//! The user's callbacks never run on the I/O thread, so a blocked `txfunc` never
//! stops reading and a blocked `rxfunc` never stops sending; pings are answered
//! until 64 results wait for a stalled `rxfunc`, when reading pauses. (`mimi_close`
//! still waits for a running callback to return before it frees anything.)

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use tungstenite::WebSocket;

use crate::encoder::Encoder;
use crate::error::{MimiError, SessionEnd};
use crate::handshake::{self, WsStream};
use crate::io_loop::{IoLoop, Outgoing};
use crate::log;
use crate::options::{OpenOptions, Timeouts, CHUNK_SIZE};
use crate::wake::Wake;

/// What one call of the audio source produced (SPEC §3, `txfunc`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxChunk {
    pub len: usize,
    pub recog_break: bool,
    pub error: i32,
}

/// Supplies audio; called repeatedly on the sending thread.
pub trait AudioSource: Send {
    /// Fills the front of `buffer` (CHUNK_SIZE bytes) and says how much it wrote.
    fn fill(&mut self, buffer: &mut [u8]) -> TxChunk;
}

/// A complete message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Text(String),
    Binary(Vec<u8>),
}

/// Takes results; called on the receiving thread. Returns non-zero to end the
/// session with that number.
pub trait ResultSink: Send {
    fn deliver(&mut self, message: &Received) -> i32;
}

/// How long the sending thread rests after an empty, non-final chunk.
const EMPTY_CHUNK_PAUSE: Duration = Duration::from_millis(15);

/// Frames queued between the sending and I/O threads before the sender waits.
const OUTGOING_QUEUE: usize = 4;

/// Messages queued for `rxfunc` before the I/O thread stops reading the socket,
/// so a stalled `rxfunc` pushes back on the server instead of growing memory.
const INCOMING_QUEUE: usize = 64;

/// What the C accessors read, shared by the handle and the session's threads.
pub struct Shared {
    started: AtomicBool,
    sending: AtomicBool,
    receiving: AtomicBool,
    /// The first error that ended the session; 0 while there is none.
    error: AtomicI32,
    /// The session must end: close was called, a callback failed, or the line is gone.
    stop: AtomicBool,
    /// `mimi_close` was called: results still queued are dropped, not delivered.
    closing: AtomicBool,
    pub(crate) wake: Wake,
    /// Opened by `start` once it no longer touches the session: no callback runs
    /// before, so a callback that closes the session cannot free it under `start`.
    go: Latch,
    /// Held while `txfunc` runs, and by a close from inside `rxfunc`.
    tx_gate: Mutex<()>,
    /// Held while `rxfunc` runs, and by a close from inside `txfunc`.
    rx_gate: Mutex<()>,
    sender: OnceLock<Thread>,
    receiver: OnceLock<Thread>,
    io: OnceLock<Thread>,
}

impl Shared {
    fn new(wake: Wake) -> Shared {
        Shared {
            started: AtomicBool::new(false),
            sending: AtomicBool::new(false),
            receiving: AtomicBool::new(false),
            error: AtomicI32::new(0),
            stop: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            wake,
            go: Latch::default(),
            tx_gate: Mutex::new(()),
            rx_gate: Mutex::new(()),
            sender: OnceLock::new(),
            receiver: OnceLock::new(),
            io: OnceLock::new(),
        }
    }

    /// Records `end` unless an earlier error is already there; the first one wins,
    /// since later ones are its consequences.
    pub fn fail(&self, end: SessionEnd) {
        let code = end.code();
        if code != 0 {
            let _ = self.error.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.signal();
        if let Some(sender) = self.sender.get() {
            sender.unpark();
        }
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Which of this session's threads the caller is, if any.
    fn current_side(&self) -> Option<Side> {
        let me = std::thread::current().id();
        let is = |thread: &OnceLock<Thread>| thread.get().is_some_and(|t| t.id() == me);
        if is(&self.sender) {
            Some(Side::Send)
        } else if is(&self.receiver) {
            Some(Side::Receive)
        } else if is(&self.io) {
            Some(Side::Io)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Send,
    Receive,
    Io,
}

/// A one-way gate: threads wait until it is opened, once.
#[derive(Default)]
struct Latch {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Latch {
    fn open(&self) {
        *lock(&self.open) = true;
        self.opened.notify_all();
    }

    fn wait(&self) {
        let mut open = lock(&self.open);
        while !*open {
            open = self.opened.wait(open).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The stream states of SPEC §2, as `MIMIIO_STREAM_STATE` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    Wait = 0,
    Closed = 1,
    Both = 2,
    Send = 3,
    Recv = 4,
}

/// Parts that exist between `open` and `start`.
struct Unstarted {
    ws: WebSocket<WsStream>,
    encoder: Encoder,
    source: Option<Box<dyn AudioSource>>,
    sink: Option<Box<dyn ResultSink>>,
}

pub struct Session {
    shared: Arc<Shared>,
    timeouts: Timeouts,
    unstarted: Mutex<Option<Unstarted>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Session {
    /// Connects and upgrades; blocks until the connection is ready or has failed.
    pub fn open(
        opts: &OpenOptions,
        source: Option<Box<dyn AudioSource>>,
        sink: Option<Box<dyn ResultSink>>,
    ) -> Result<Box<Session>, MimiError> {
        let encoder = Encoder::new(&opts.audio)?;
        let ws = handshake::open(opts)?;
        let wake = Wake::new().map_err(|_| MimiError::Internal)?;

        let unstarted = Unstarted { ws, encoder, source, sink };
        Ok(Box::new(Session {
            shared: Arc::new(Shared::new(wake)),
            timeouts: opts.timeouts,
            unstarted: Mutex::new(Some(unstarted)),
            threads: Mutex::new(Vec::new()),
        }))
    }

    /// Starts the three threads. 901/902 when a callback is missing, 905 when
    /// already started or a thread cannot be created.
    pub fn start(&self) -> Result<(), MimiError> {
        let parts = {
            let mut unstarted = lock(&self.unstarted);
            let parts = unstarted.as_ref().ok_or(MimiError::StartFailed)?;
            if parts.source.is_none() {
                return Err(MimiError::NoTxFunc);
            }
            if parts.sink.is_none() {
                return Err(MimiError::NoRxFunc);
            }
            unstarted.take().expect("checked above")
        };
        let source = parts.source.expect("checked above");
        let sink = parts.sink.expect("checked above");
        let encoder = parts.encoder;

        // A local handle on the shared state: once the latch opens, a callback may
        // close the session and free `self` before this function has returned.
        let shared = Arc::clone(&self.shared);
        shared.sending.store(true, Ordering::SeqCst);
        shared.receiving.store(true, Ordering::SeqCst);
        shared.started.store(true, Ordering::SeqCst);

        let (outgoing_tx, outgoing_rx) = mpsc::sync_channel(OUTGOING_QUEUE);
        let (incoming_tx, incoming_rx) = mpsc::sync_channel(INCOMING_QUEUE);
        let io =
            IoLoop::new(parts.ws, outgoing_rx, incoming_tx, Arc::clone(&shared), self.timeouts);

        let spawned = {
            let mut threads = lock(&self.threads);
            let receiver = Arc::clone(&shared);
            let io_shared = Arc::clone(&shared);
            let sender = Arc::clone(&shared);
            spawn(&mut threads, &shared.receiver, "mimiio-recv", move || {
                receive_loop(sink, incoming_rx, &receiver)
            })
            .and_then(|()| {
                spawn(&mut threads, &shared.io, "mimiio-io", move || {
                    let _guard = SideGuard { shared: &io_shared, running: None };
                    io.run();
                    // The line is gone: the sender must not call txfunc again.
                    io_shared.request_stop();
                })
            })
            .and_then(|()| {
                spawn(&mut threads, &shared.sender, "mimiio-send", move || {
                    send_loop(source, encoder, outgoing_tx, &sender)
                })
            })
        };

        let result = if spawned.is_ok() {
            Ok(())
        } else {
            log::error!("cannot create the session's threads");
            shared.fail(MimiError::StartFailed.into());
            shared.sending.store(false, Ordering::SeqCst);
            shared.receiving.store(false, Ordering::SeqCst);
            shared.request_stop();
            Err(MimiError::StartFailed)
        };
        // Nothing below may touch `self`.
        shared.go.open();
        result
    }

    pub fn is_active(&self) -> bool {
        self.shared.sending.load(Ordering::SeqCst) || self.shared.receiving.load(Ordering::SeqCst)
    }

    pub fn stream_state(&self) -> StreamState {
        if !self.shared.started.load(Ordering::SeqCst) {
            return StreamState::Wait;
        }
        let sending = self.shared.sending.load(Ordering::SeqCst);
        let receiving = self.shared.receiving.load(Ordering::SeqCst);
        match (sending, receiving) {
            (true, true) => StreamState::Both,
            (true, false) => StreamState::Send,
            (false, true) => StreamState::Recv,
            (false, false) => StreamState::Closed,
        }
    }

    pub fn error(&self) -> i32 {
        self.shared.error.load(Ordering::SeqCst)
    }

    /// Ends the connection, waits for the session's threads and frees the session.
    ///
    /// From inside a callback (on the sending or receiving thread) it cannot wait
    /// for its own thread. It holds the other side's gate while it asks for the
    /// stop, so when it returns the other callback is not running and will not run
    /// again; a helper thread then waits for both threads and frees the session.
    /// The session stays boxed throughout, so nothing the threads use ever moves.
    pub fn close(self: Box<Self>) {
        let shared = Arc::clone(&self.shared);
        let other_gate = match shared.current_side() {
            Some(Side::Send) => Some(&shared.rx_gate),
            Some(Side::Receive) => Some(&shared.tx_gate),
            // The I/O thread runs no user code, so it never closes a session.
            Some(Side::Io) | None => None,
        };

        if let Some(gate) = other_gate {
            {
                let _other = lock(gate);
                shared.closing.store(true, Ordering::SeqCst);
                shared.request_stop();
            }
            let reaper = std::thread::Builder::new().name("mimiio-close".into());
            let _ = reaper.spawn(move || self.join_threads());
            return;
        }

        shared.closing.store(true, Ordering::SeqCst);
        shared.request_stop();
        if let Some(parts) = lock(&self.unstarted).take() {
            close_unstarted(parts.ws, Arc::clone(&shared), self.timeouts);
        }
        self.join_threads();
    }

    fn join_threads(&self) {
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            if thread.join().is_err() {
                // A panic inside the library: the session ends as an internal error.
                self.shared.fail(MimiError::Internal.into());
            }
        }
    }
}

/// Runs the closing handshake on a connection that never started streaming.
fn close_unstarted(ws: WebSocket<WsStream>, shared: Arc<Shared>, timeouts: Timeouts) {
    let (_, outgoing_rx) = mpsc::sync_channel(0);
    let (incoming_tx, _) = mpsc::sync_channel(0);
    IoLoop::new(ws, outgoing_rx, incoming_tx, shared, timeouts).run();
}

/// Ends one side of a session when its thread ends, however it ends: a panic in
/// the library becomes error 101 and stops the session instead of leaving
/// `mimi_is_active` true forever.
struct SideGuard<'a> {
    shared: &'a Shared,
    /// The side's running flag (`sending` or `receiving`), if it has one.
    running: Option<&'a AtomicBool>,
}

impl Drop for SideGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared.fail(MimiError::Internal.into());
            self.shared.request_stop();
        }
        if let Some(running) = self.running {
            running.store(false, Ordering::SeqCst);
        }
        self.shared.wake.signal();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; go on.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn spawn(
    threads: &mut Vec<JoinHandle<()>>,
    slot: &OnceLock<Thread>,
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    let handle = std::thread::Builder::new().name(name.into()).spawn(body)?;
    let _ = slot.set(handle.thread().clone());
    threads.push(handle);
    Ok(())
}

/// The sending thread: calls the source until recog-break, an error or a stop.
fn send_loop(
    mut source: Box<dyn AudioSource>,
    mut encoder: Encoder,
    outgoing: SyncSender<Outgoing>,
    shared: &Shared,
) {
    let _guard = SideGuard { shared, running: Some(&shared.sending) };
    shared.go.wait();
    let mut buffer = vec![0u8; CHUNK_SIZE];
    let mut frame = Vec::new();

    let result = loop {
        let chunk = {
            let _gate = lock(&shared.tx_gate);
            if shared.stop_requested() {
                break Ok(());
            }
            source.fill(&mut buffer)
        };
        if chunk.error != 0 {
            log::info!("txfunc ended the session with error {}", chunk.error);
            break Err(SessionEnd::Callback(chunk.error));
        }
        if chunk.len > CHUNK_SIZE {
            log::error!("txfunc set len {} above the chunk limit {CHUNK_SIZE}", chunk.len);
            break Err(MimiError::ChunkTooLarge.into());
        }
        if shared.stop_requested() {
            break Ok(());
        }

        let encoded = encoder.encode(&buffer[..chunk.len], &mut frame).and_then(|()| {
            if chunk.recog_break {
                encoder.finish(&mut frame)
            } else {
                Ok(())
            }
        });
        if let Err(e) = encoded {
            break Err(e.into());
        }

        if !frame.is_empty()
            && !queue(&outgoing, shared, Outgoing::Audio(std::mem::take(&mut frame)))
        {
            break Ok(());
        }
        if chunk.recog_break {
            // Sending is over for the caller now: cleared before the break is queued,
            // so the state cannot read SEND after the server has already answered.
            shared.sending.store(false, Ordering::SeqCst);
            queue(&outgoing, shared, Outgoing::RecogBreak);
            log::debug!("recog-break queued; sending is over");
            break Ok(());
        }
        if chunk.len == 0 {
            std::thread::park_timeout(EMPTY_CHUNK_PAUSE);
        }
    };

    if let Err(end) = result {
        shared.fail(end);
        shared.request_stop();
    }
    // Dropping the queue before the guard clears `sending` tells the I/O thread
    // that nothing more will come.
    drop(outgoing);
}

/// Queues one item for the I/O thread; false once the connection is gone.
fn queue(outgoing: &SyncSender<Outgoing>, shared: &Shared, item: Outgoing) -> bool {
    let sent = outgoing.send(item).is_ok();
    shared.wake.signal();
    sent
}

/// The receiving thread: delivers messages until the I/O thread is done.
fn receive_loop(mut sink: Box<dyn ResultSink>, incoming: Receiver<Received>, shared: &Shared) {
    let _guard = SideGuard { shared, running: Some(&shared.receiving) };
    shared.go.wait();
    let mut failed = false;
    for message in incoming {
        // The I/O thread may be holding back reads until the queue has room.
        shared.wake.signal();
        let _gate = lock(&shared.rx_gate);
        if failed || shared.closing.load(Ordering::SeqCst) {
            continue;
        }
        let error = sink.deliver(&message);
        if error != 0 {
            log::info!("rxfunc ended the session with error {error}");
            shared.fail(SessionEnd::Callback(error));
            shared.request_stop();
            failed = true;
        }
    }
}
