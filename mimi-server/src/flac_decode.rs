//! Incremental FLAC decoding with libFLAC's stream decoder.
//!
//! libFLAC pulls its input through a read callback, so the decoder runs on its
//! own thread and its read callback blocks on a channel of byte chunks. Each
//! time the callback runs out of bytes it reports `Hungry` before blocking:
//! that tells the session thread that everything sent so far has been decoded,
//! which keeps progress messages in step with the audio.

use std::ffi::c_void;
use std::fmt;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use libflac_sys as flac;

use crate::audio::{lock, AudioFormat, AudioStats};

/// Why a FLAC stream was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Valid FLAC, but not what `X-Mimi-Content-Type` announced (or not 16-bit).
    Format(String),
    /// libFLAC could not decode the bytes.
    Undecodable(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Format(m) => write!(f, "FLAC format mismatch: {m}"),
            DecodeError::Undecodable(m) => write!(f, "FLAC decoding failed: {m}"),
        }
    }
}

enum Event {
    /// The decoder used up its input and waits for more.
    Hungry,
    /// The decoder thread has ended.
    Done(Result<(), DecodeError>),
}

/// Handle held by the session thread.
pub struct FlacDecoder {
    input: Option<Sender<Vec<u8>>>,
    events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
    outcome: Option<Result<(), DecodeError>>,
}

impl FlacDecoder {
    pub fn start(
        expected: AudioFormat,
        stats: Arc<Mutex<AudioStats>>,
    ) -> Result<Self, DecodeError> {
        let (input_tx, input_rx) = mpsc::channel();
        let (event_tx, event_rx) = mpsc::channel();
        let state = DecoderState {
            input: input_rx,
            chunk: Vec::new(),
            pos: 0,
            events: event_tx.clone(),
            expected,
            stats,
            failure: None,
            scratch: Vec::new(),
        };
        let thread = thread::Builder::new()
            .name("flac-decoder".into())
            .spawn(move || {
                let result = run_decoder(state);
                let _ = event_tx.send(Event::Done(result));
            })
            .map_err(|e| DecodeError::Undecodable(format!("cannot start decoder thread: {e}")))?;
        let mut decoder = FlacDecoder {
            input: Some(input_tx),
            events: event_rx,
            thread: Some(thread),
            outcome: None,
        };
        // The first read request arrives before any audio; it also proves init worked.
        decoder.wait_hungry()?;
        Ok(decoder)
    }

    /// Hands one chunk to the decoder and waits until it has decoded all it can.
    pub fn push(&mut self, chunk: Vec<u8>) -> Result<(), DecodeError> {
        if let Some(outcome) = &self.outcome {
            return outcome.clone().and(Err(DecodeError::Undecodable("audio after end".into())));
        }
        let sent = self.input.as_ref().map(|tx| tx.send(chunk).is_ok()).unwrap_or(false);
        if !sent {
            // The thread is gone; its Done event says why.
            return self.wait_done();
        }
        self.wait_hungry()
    }

    /// Closes the input (end of stream) and waits for the decoder to finish.
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        self.input = None;
        let result = self.wait_done();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        result
    }

    fn wait_hungry(&mut self) -> Result<(), DecodeError> {
        match self.events.recv() {
            Ok(Event::Hungry) => Ok(()),
            Ok(Event::Done(result)) => self.record(result),
            Err(_) => self.record(Err(vanished())),
        }
    }

    fn wait_done(&mut self) -> Result<(), DecodeError> {
        if let Some(outcome) = &self.outcome {
            return outcome.clone();
        }
        loop {
            match self.events.recv() {
                Ok(Event::Hungry) => continue,
                Ok(Event::Done(result)) => return self.record(result),
                Err(_) => return self.record(Err(vanished())),
            }
        }
    }

    fn record(&mut self, result: Result<(), DecodeError>) -> Result<(), DecodeError> {
        // A decoder that ends before its input was closed has failed.
        let result = match result {
            Ok(()) if self.input.is_some() => Err(vanished()),
            other => other,
        };
        self.outcome = Some(result.clone());
        result
    }
}

impl Drop for FlacDecoder {
    fn drop(&mut self) {
        self.input = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn vanished() -> DecodeError {
    DecodeError::Undecodable("decoder stopped unexpectedly".into())
}

/// Everything the libFLAC callbacks need; owned by the decoder thread.
struct DecoderState {
    input: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    events: Sender<Event>,
    expected: AudioFormat,
    stats: Arc<Mutex<AudioStats>>,
    failure: Option<DecodeError>,
    scratch: Vec<u8>,
}

impl DecoderState {
    fn fail(&mut self, error: DecodeError) {
        if self.failure.is_none() {
            self.failure = Some(error);
        }
    }

    fn check(&mut self, what: &str, rate: u32, channels: u32, bits: u32) -> bool {
        let want = self.expected;
        if rate == want.rate && channels == want.channels && bits == 16 {
            return true;
        }
        self.fail(DecodeError::Format(format!(
            "{what} says {rate} Hz, {channels} ch, {bits} bit; header announced {} Hz, {} ch, \
             16 bit",
            want.rate, want.channels
        )));
        false
    }
}

fn run_decoder(mut state: DecoderState) -> Result<(), DecodeError> {
    // SAFETY: the decoder is created, used and deleted on this thread only, and
    // `state` stays in place on this stack frame until after `delete`.
    unsafe {
        let decoder = flac::FLAC__stream_decoder_new();
        if decoder.is_null() {
            return Err(DecodeError::Undecodable("cannot allocate libFLAC decoder".into()));
        }
        let client = &mut state as *mut DecoderState as *mut c_void;
        let init = flac::FLAC__stream_decoder_init_stream(
            decoder,
            Some(read_cb),
            None,
            None,
            None,
            None,
            Some(write_cb),
            Some(metadata_cb),
            Some(error_cb),
            client,
        );
        if init != flac::FLAC__STREAM_DECODER_INIT_STATUS_OK {
            flac::FLAC__stream_decoder_delete(decoder);
            return Err(DecodeError::Undecodable(format!("libFLAC init status {init}")));
        }
        let ok = flac::FLAC__stream_decoder_process_until_end_of_stream(decoder);
        let end_state = flac::FLAC__stream_decoder_get_state(decoder);
        flac::FLAC__stream_decoder_finish(decoder);
        flac::FLAC__stream_decoder_delete(decoder);
        if let Some(failure) = state.failure.take() {
            return Err(failure);
        }
        if ok == 0 || end_state != flac::FLAC__STREAM_DECODER_END_OF_STREAM {
            return Err(DecodeError::Undecodable(format!("libFLAC decoder state {end_state}")));
        }
        Ok(())
    }
}

unsafe extern "C" fn read_cb(
    _decoder: *const flac::FLAC__StreamDecoder,
    buffer: *mut flac::FLAC__byte,
    bytes: *mut usize,
    client: *mut c_void,
) -> flac::FLAC__StreamDecoderReadStatus {
    let state = &mut *(client as *mut DecoderState);
    if state.failure.is_some() {
        *bytes = 0;
        return flac::FLAC__STREAM_DECODER_READ_STATUS_ABORT;
    }
    while state.pos >= state.chunk.len() {
        let _ = state.events.send(Event::Hungry);
        match state.input.recv() {
            Ok(chunk) => {
                state.chunk = chunk;
                state.pos = 0;
            }
            Err(_) => {
                *bytes = 0;
                return flac::FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM;
            }
        }
    }
    let n = (*bytes).min(state.chunk.len() - state.pos);
    std::ptr::copy_nonoverlapping(state.chunk.as_ptr().add(state.pos), buffer, n);
    state.pos += n;
    *bytes = n;
    flac::FLAC__STREAM_DECODER_READ_STATUS_CONTINUE
}

unsafe extern "C" fn write_cb(
    _decoder: *const flac::FLAC__StreamDecoder,
    frame: *const flac::FLAC__Frame,
    buffer: *const *const flac::FLAC__int32,
    client: *mut c_void,
) -> flac::FLAC__StreamDecoderWriteStatus {
    let state = &mut *(client as *mut DecoderState);
    if state.failure.is_some() {
        return flac::FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    }
    let header = &(*frame).header;
    if !state.check("frame header", header.sample_rate, header.channels, header.bits_per_sample) {
        return flac::FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    }
    let channels = header.channels as usize;
    let blocksize = header.blocksize as usize;
    let planes: Vec<&[i32]> =
        (0..channels).map(|c| std::slice::from_raw_parts(*buffer.add(c), blocksize)).collect();
    let mut out = std::mem::take(&mut state.scratch);
    out.clear();
    out.reserve(blocksize * channels * 2);
    for i in 0..blocksize {
        for plane in &planes {
            // 16-bit streams only (checked above), so the value fits.
            out.extend_from_slice(&(plane[i] as i16).to_le_bytes());
        }
    }
    lock(&state.stats).add_pcm(&out);
    state.scratch = out;
    flac::FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE
}

unsafe extern "C" fn metadata_cb(
    _decoder: *const flac::FLAC__StreamDecoder,
    metadata: *const flac::FLAC__StreamMetadata,
    client: *mut c_void,
) {
    let state = &mut *(client as *mut DecoderState);
    if (*metadata).type_ == flac::FLAC__METADATA_TYPE_STREAMINFO {
        let info = (*metadata).data.stream_info;
        state.check("STREAMINFO", info.sample_rate, info.channels, info.bits_per_sample);
    }
}

unsafe extern "C" fn error_cb(
    _decoder: *const flac::FLAC__StreamDecoder,
    status: flac::FLAC__StreamDecoderErrorStatus,
    client: *mut c_void,
) {
    let state = &mut *(client as *mut DecoderState);
    // libFLAC would skip ahead and resynchronise; a test server should refuse instead.
    let what = match status {
        0 => "lost sync".to_string(),
        1 => "bad frame header".to_string(),
        2 => "frame CRC mismatch".to_string(),
        3 => "unparseable stream".to_string(),
        other => format!("error status {other}"),
    };
    state.fail(DecodeError::Undecodable(what));
}
