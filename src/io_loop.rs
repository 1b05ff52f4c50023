//! The I/O thread: the only owner of the WebSocket. It waits with poll(2) on the
//! socket and a wake-up descriptor, writes the frames the sending thread queues,
//! reads what the server sends and queues it for the receiving thread, and runs
//! the closing handshake. No lock is held around socket I/O, and a blocked write
//! never stops reads (nor the other way round).

use std::io;
use std::os::fd::RawFd;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::error::ProtocolError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message, WebSocket};

use crate::error::{MimiError, SessionEnd};
use crate::handshake::WsStream;
use crate::log;
use crate::options::Timeouts;
use crate::session::{Received, Shared};
use crate::transport;
use crate::wake::{self, Interest};

/// What the sending thread queues for the wire.
pub enum Outgoing {
    Audio(Vec<u8>),
    RecogBreak,
}

const RECOG_BREAK: &str = r#"{"command":"recog-break"}"#;

/// Messages read in one pass before timers and writes get their turn again, so a
/// flooding server cannot hold off the close deadline or the sending side.
const MESSAGES_PER_PASS: usize = 32;

/// Bounds for how often a stalled send looks for acknowledged bytes.
const PROGRESS_SAMPLE_MIN: Duration = Duration::from_millis(10);
const PROGRESS_SAMPLE_MAX: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Streaming,
    /// Writing failed (the peer reset or shut the connection). What the peer sent
    /// before that may still be readable (results, a close frame), so reading goes
    /// on until it ends or the deadline passes; then `error` stands.
    Draining {
        deadline: Instant,
        error: MimiError,
    },
    /// We sent a close frame and wait for the peer's, until the deadline.
    Closing {
        deadline: Instant,
    },
    Done,
}

pub struct IoLoop {
    ws: WebSocket<WsStream>,
    outgoing: Receiver<Outgoing>,
    incoming: SyncSender<Received>,
    /// A message the receiving thread had no room for yet; reading waits for it.
    backlog: Option<Received>,
    shared: Arc<Shared>,
    timeouts: Timeouts,
    phase: Phase,
    last_heard: Instant,
    /// Since when buffered output has been waiting with no byte acknowledged by
    /// the peer.
    write_stalled_since: Option<Instant>,
    acked_before: u64,
    socket: RawFd,
}

impl IoLoop {
    pub fn new(
        ws: WebSocket<WsStream>,
        outgoing: Receiver<Outgoing>,
        incoming: SyncSender<Received>,
        shared: Arc<Shared>,
        timeouts: Timeouts,
    ) -> IoLoop {
        let socket = ws.get_ref().get_ref().raw_fd();
        IoLoop {
            ws,
            outgoing,
            incoming,
            backlog: None,
            shared,
            timeouts,
            phase: Phase::Streaming,
            last_heard: Instant::now(),
            write_stalled_since: None,
            acked_before: 0,
            socket,
        }
    }

    /// Runs until the connection is over, then drops it.
    pub fn run(mut self) {
        while self.phase != Phase::Done {
            // Audio already handed over goes out before any close frame, so a stop
            // (903, a callback's error, mimi_close) does not lose what preceded it
            // (unless the socket itself is stalled).
            if self.phase == Phase::Streaming && self.write_stalled_since.is_none() {
                self.queue_outgoing();
            }
            if self.phase == Phase::Streaming && self.shared.stop_requested() {
                self.start_closing();
            }
            let was_stalled = self.write_stalled_since.is_some();
            self.flush();
            // The sending thread may be waiting on a full queue that only the next
            // round empties: no wake-up will come from it, so do not wait.
            let unstalled = was_stalled && self.write_stalled_since.is_none();
            self.pass_backlog();
            let more_to_read = self.read_available();
            self.check_timers();
            if self.phase == Phase::Done {
                break;
            }

            let interest = Interest {
                read: self.backlog.is_none(),
                write: self.write_stalled_since.is_some(),
            };
            let timeout =
                if more_to_read || unstalled { Duration::ZERO } else { self.next_timer() };
            wake::wait(self.socket, interest, &self.shared.wake, timeout);
        }
        log::debug!("connection closed");
    }

    /// Moves queued frames into tungstenite's buffer until it would block.
    fn queue_outgoing(&mut self) {
        loop {
            let message = match self.outgoing.try_recv() {
                Ok(Outgoing::Audio(bytes)) => Message::Binary(bytes.into()),
                Ok(Outgoing::RecogBreak) => {
                    log::debug!("sending recog-break");
                    Message::text(RECOG_BREAK)
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            };
            match self.ws.write(message) {
                Ok(()) => {}
                // The frame is buffered; the rest waits until the socket drains.
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.note_write_blocked();
                    return;
                }
                Err(e) => return self.fail_write(e),
            }
        }
    }

    fn flush(&mut self) {
        if matches!(self.phase, Phase::Done | Phase::Draining { .. }) {
            return;
        }
        match self.ws.flush() {
            Ok(()) => self.write_stalled_since = None,
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.note_write_blocked()
            }
            Err(e) => self.fail_write(e),
        }
    }

    /// The socket refused more bytes: the send timeout starts unless it runs already.
    fn note_write_blocked(&mut self) {
        if self.write_stalled_since.is_none() {
            self.acked_before = transport::bytes_acked(self.socket).unwrap_or(0);
            self.write_stalled_since = Some(Instant::now());
        }
    }

    /// While stalled, the send timeout restarts whenever the peer acknowledged more
    /// bytes: a slow link is not a stuck one.
    fn sample_send_progress(&mut self, now: Instant) {
        if self.write_stalled_since.is_none() {
            return;
        }
        let acked = transport::bytes_acked(self.socket).unwrap_or(0);
        if acked > self.acked_before {
            self.acked_before = acked;
            self.write_stalled_since = Some(now);
        }
    }

    /// Hands the held-back message over if the receiving thread has room now.
    fn pass_backlog(&mut self) {
        if let Some(message) = self.backlog.take() {
            self.deliver(message);
            if self.backlog.is_none() {
                // Reads were held back by us, not by a silent server.
                self.last_heard = Instant::now();
            }
        }
    }

    fn deliver(&mut self, message: Received) {
        match self.incoming.try_send(message) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(message)) => self.backlog = Some(message),
        }
    }

    /// Reads the messages available now, up to a pass's worth; true if it stopped
    /// at that limit. TLS and tungstenite buffer data poll(2) cannot see, so a pass
    /// goes on until the socket would block, not just for one message.
    fn read_available(&mut self) -> bool {
        for _ in 0..MESSAGES_PER_PASS {
            if self.phase == Phase::Done || self.backlog.is_some() {
                return false;
            }
            match self.ws.read() {
                Ok(message) => {
                    self.last_heard = Instant::now();
                    self.on_message(message);
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                    self.phase = Phase::Done;
                }
                Err(e) => self.fail_stream(e),
            }
        }
        true
    }

    fn on_message(&mut self, message: Message) {
        match message {
            Message::Text(text) if text.is_empty() => self.fail_now(MimiError::EmptyTextMessage),
            Message::Binary(bytes) if bytes.is_empty() => {
                self.fail_now(MimiError::EmptyBinaryMessage)
            }
            Message::Text(text) => {
                log::trace!("received a text message of {} bytes", text.len());
                self.deliver(Received::Text(text.to_string()));
            }
            Message::Binary(bytes) => {
                log::trace!("received a binary message of {} bytes", bytes.len());
                self.deliver(Received::Binary(bytes.to_vec()));
            }
            // tungstenite queues the pong itself; the next flush sends it.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            Message::Close(frame) => self.on_close(frame),
        }
    }

    fn on_close(&mut self, frame: Option<CloseFrame>) {
        if let Phase::Closing { .. } = self.phase {
            // The peer answered our close: the handshake is complete.
            self.phase = Phase::Done;
            return;
        }

        // The status as the server sent it: tungstenite turns statuses it does not
        // accept into 1002, but SPEC §5 passes the server's number through.
        let status =
            frame.as_ref().map(|f| self.ws.get_ref().close_status().unwrap_or(f.code.into()));
        match status {
            None => {
                log::warning!("server closed without a status");
                self.shared.fail(MimiError::CloseWithoutStatus.into());
            }
            Some(1000) => log::info!("server closed the session normally"),
            // Below 1000 no status is defined, and the number would read as one of
            // this library's own: a protocol error.
            Some(status) if status < 1000 => {
                log::warning!("server closed with the undefined status {status}");
                self.shared.fail(MimiError::Protocol.into());
            }
            Some(status) => {
                let reason = frame.as_ref().map_or("", |f| f.reason.as_str());
                log::warning!("server closed with status {status}: {reason}");
                self.shared.fail(SessionEnd::ServerClose(status));
            }
        }

        // tungstenite has queued our reply; send it if the socket takes it now.
        let _ = self.ws.flush();
        self.phase = Phase::Done;
    }

    /// Starts the closing handshake: status 1000 for a local stop, whatever the cause.
    fn start_closing(&mut self) {
        let deadline = Instant::now() + self.timeouts.close;
        let normal = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        match self.ws.close(Some(normal)) {
            Ok(()) => self.phase = Phase::Closing { deadline },
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.phase = Phase::Closing { deadline };
            }
            Err(_) => self.phase = Phase::Done,
        }
    }

    fn check_timers(&mut self) {
        let now = Instant::now();
        self.sample_send_progress(now);
        match self.phase {
            Phase::Streaming
                if self.backlog.is_none() && now >= self.last_heard + self.timeouts.receive =>
            {
                log::error!("no message from the server for {:?}", self.timeouts.receive);
                self.shared.fail(MimiError::ReceiveTimeout.into());
                self.start_closing();
            }
            Phase::Closing { deadline } if now >= deadline => {
                log::debug!("the peer did not complete the closing handshake in time");
                self.phase = Phase::Done;
            }
            Phase::Draining { deadline, error } if now >= deadline => {
                self.shared.fail(error.into());
                self.phase = Phase::Done;
            }
            _ => {}
        }

        if let Some(since) = self.write_stalled_since {
            if now >= since + self.timeouts.send && self.phase == Phase::Streaming {
                log::error!("sending has made no progress for {:?}", self.timeouts.send);
                self.fail_now(MimiError::StreamNetwork);
            }
        }
    }

    /// How long poll(2) may wait before a timer is due.
    fn next_timer(&self) -> Duration {
        let now = Instant::now();
        let mut due = match self.phase {
            Phase::Closing { deadline } | Phase::Draining { deadline, .. } => deadline,
            // Held-back reads: the receiving thread wakes us when it takes a message.
            _ if self.backlog.is_some() => now + self.timeouts.receive,
            _ => self.last_heard + self.timeouts.receive,
        };
        if let Some(since) = self.write_stalled_since {
            // Wake a few times per timeout to see whether the peer takes anything.
            let sample = (self.timeouts.send / 8).clamp(PROGRESS_SAMPLE_MIN, PROGRESS_SAMPLE_MAX);
            due = due.min(since + self.timeouts.send).min(now + sample);
        }
        due.saturating_duration_since(now)
    }

    /// A failure that leaves nothing to say to the peer: record it and drop the line.
    fn fail_now(&mut self, error: MimiError) {
        if matches!(self.phase, Phase::Streaming | Phase::Draining { .. }) {
            self.shared.fail(error.into());
        }
        self.phase = Phase::Done;
    }

    /// Reading failed: while streaming (or draining) that is the session's error.
    fn fail_stream(&mut self, error: WsError) {
        if !matches!(self.phase, Phase::Streaming | Phase::Draining { .. }) {
            // Whatever goes wrong while closing only ends the wait for the peer.
            self.phase = Phase::Done;
            return;
        }
        let mapped = classify(&error, self.ws.get_ref().mid_frame());
        log::error!("connection failed: {error} (error {})", mapped.code());
        self.fail_now(mapped);
    }

    /// Writing failed. The peer may have sent results and a close frame before it
    /// went away; those are still read before the write error counts.
    fn fail_write(&mut self, error: WsError) {
        if self.phase != Phase::Streaming {
            self.phase = Phase::Done;
            return;
        }
        let mapped = classify(&error, false);
        log::warning!("sending failed: {error}; reading what the server sent before");
        self.write_stalled_since = None;
        self.phase =
            Phase::Draining { deadline: Instant::now() + self.timeouts.close, error: mapped };
    }
}

/// Maps a failure of an open connection to SPEC §5.
fn classify(error: &WsError, mid_frame: bool) -> MimiError {
    match error {
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) if mid_frame => {
            MimiError::TruncatedFrame
        }
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => MimiError::ConnectionLost,
        WsError::Protocol(_) | WsError::Utf8(_) => MimiError::Protocol,
        WsError::Capacity(_) => MimiError::MessageTooLarge,
        WsError::Io(e) => match e.kind() {
            io::ErrorKind::UnexpectedEof if mid_frame => MimiError::TruncatedFrame,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => MimiError::ConnectionLost,
            _ => MimiError::StreamNetwork,
        },
        _ => MimiError::Network,
    }
}
