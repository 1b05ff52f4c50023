//! Turns what `txfunc` supplies into the bytes of binary frames: raw PCM and
//! pass-through FLAC go out unchanged, FLAC_0..8 are encoded here with libFLAC
//! (statically linked from `libflac-sys`) into one continuous stream per connection.

use std::ffi::c_void;
use std::ptr::NonNull;

use libflac_sys as flac;

use crate::error::MimiError;
use crate::log;
use crate::options::{AudioFormat, AudioSpec};

pub enum Encoder {
    /// Raw PCM and pass-through FLAC: bytes go out as they came.
    Verbatim,
    Flac(FlacEncoder),
}

impl Encoder {
    /// Builds the encoder for a validated spec; libFLAC refusing it is 501.
    pub fn new(audio: &AudioSpec) -> Result<Encoder, MimiError> {
        match audio.format {
            AudioFormat::RawPcm | AudioFormat::PassThrough => Ok(Encoder::Verbatim),
            AudioFormat::Flac(level) => Ok(Encoder::Flac(FlacEncoder::new(audio, level)?)),
        }
    }

    /// Appends to `out` what this chunk of input becomes on the wire.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), MimiError> {
        match self {
            Encoder::Verbatim => {
                out.extend_from_slice(input);
                Ok(())
            }
            Encoder::Flac(flac) => flac.encode(input, out),
        }
    }

    /// Ends the stream at recog-break, appending the encoder's tail to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MimiError> {
        match self {
            Encoder::Verbatim => Ok(()),
            Encoder::Flac(flac) => flac.finish(out),
        }
    }
}

/// A libFLAC stream encoder writing into a byte buffer.
pub struct FlacEncoder {
    encoder: NonNull<flac::FLAC__StreamEncoder>,
    /// Where libFLAC's write callback appends; boxed so its address stays put
    /// while `FlacEncoder` itself moves.
    output: Box<Output>,
    channels: usize,
    /// Bytes of an incomplete sample frame, kept for the next chunk.
    partial: Vec<u8>,
    /// Reused conversion buffer of 32-bit samples, as libFLAC wants them.
    samples: Vec<i32>,
}

// SAFETY: the libFLAC encoder has no thread affinity; it is only ever used by one
// thread at a time because `FlacEncoder` is owned, not shared.
unsafe impl Send for FlacEncoder {}

/// What the write callback writes into.
struct Output {
    bytes: Vec<u8>,
    /// Test hook (`MIMIIO_TEST_FAIL_ENCODER=1`): report a write failure for the
    /// first audio frame, so the real libFLAC error path (502) can be tested.
    fail_audio: bool,
}

unsafe extern "C" fn append_output(
    _encoder: *const flac::FLAC__StreamEncoder,
    buffer: *const flac::FLAC__byte,
    bytes: usize,
    samples: u32,
    _current_frame: u32,
    client_data: *mut c_void,
) -> flac::FLAC__StreamEncoderWriteStatus {
    // SAFETY: client_data is the boxed Output registered at init, alive while the
    // encoder lives.
    let output = unsafe { &mut *(client_data as *mut Output) };
    // Metadata writes carry no samples; audio frames do.
    if output.fail_audio && samples > 0 {
        return flac::FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR;
    }
    if bytes > 0 {
        // SAFETY: libFLAC hands us `bytes` readable bytes at `buffer`.
        output.bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(buffer, bytes) });
    }
    flac::FLAC__STREAM_ENCODER_WRITE_STATUS_OK
}

impl FlacEncoder {
    fn new(audio: &AudioSpec, level: u32) -> Result<FlacEncoder, MimiError> {
        // SAFETY: plain constructor; NULL (out of memory) is handled below.
        let raw = unsafe { flac::FLAC__stream_encoder_new() };
        let encoder = NonNull::new(raw).ok_or(MimiError::EncoderInit)?;
        let mut this = FlacEncoder {
            encoder,
            output: Box::new(Output {
                bytes: Vec::new(),
                fail_audio: std::env::var_os("MIMIIO_TEST_FAIL_ENCODER").is_some_and(|v| v == "1"),
            }),
            channels: audio.channels as usize,
            partial: Vec::new(),
            samples: Vec::new(),
        };

        let e = this.encoder.as_ptr();
        // SAFETY: `e` is a fresh encoder in the uninitialised state, where setters are
        // allowed; the client data pointer outlives the encoder (both are in `this`).
        let status = unsafe {
            let configured = flac::FLAC__stream_encoder_set_channels(e, audio.channels) != 0
                && flac::FLAC__stream_encoder_set_bits_per_sample(e, 16) != 0
                && flac::FLAC__stream_encoder_set_sample_rate(e, audio.rate) != 0
                && flac::FLAC__stream_encoder_set_compression_level(e, level) != 0;
            if !configured {
                return Err(MimiError::EncoderInit);
            }
            let client_data = &mut *this.output as *mut Output as *mut c_void;
            flac::FLAC__stream_encoder_init_stream(
                e,
                Some(append_output),
                None,
                None,
                None,
                client_data,
            )
        };
        if status != flac::FLAC__STREAM_ENCODER_INIT_STATUS_OK {
            log::error!("libFLAC refused the stream parameters (init status {status})");
            return Err(MimiError::EncoderInit);
        }
        Ok(this)
    }

    fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), MimiError> {
        let frame_bytes = 2 * self.channels;

        // Join a sample split across calls, then keep whatever is left incomplete.
        let mut bytes = std::mem::take(&mut self.partial);
        bytes.extend_from_slice(input);
        let whole = bytes.len() - bytes.len() % frame_bytes;
        self.partial = bytes.split_off(whole);

        self.samples.clear();
        self.samples
            .extend(bytes.chunks_exact(2).map(|s| i32::from(i16::from_le_bytes([s[0], s[1]]))));
        let frames = (self.samples.len() / self.channels) as u32;
        if frames > 0 {
            // SAFETY: the encoder is initialised and `samples` holds frames * channels
            // interleaved values.
            let ok = unsafe {
                flac::FLAC__stream_encoder_process_interleaved(
                    self.encoder.as_ptr(),
                    self.samples.as_ptr(),
                    frames,
                )
            };
            if ok == 0 {
                log::error!("libFLAC failed while encoding");
                return Err(MimiError::EncoderFailed);
            }
        }
        out.append(&mut self.output.bytes);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MimiError> {
        if !self.partial.is_empty() {
            log::warning!(
                "dropping {} bytes of an incomplete sample frame at recog-break",
                self.partial.len()
            );
            self.partial.clear();
        }

        // SAFETY: the encoder is initialised; finish flushes the last block through
        // the write callback and returns it to the uninitialised state.
        let ok = unsafe { flac::FLAC__stream_encoder_finish(self.encoder.as_ptr()) };
        out.append(&mut self.output.bytes);
        if ok == 0 {
            log::error!("libFLAC failed while finishing the stream");
            return Err(MimiError::EncoderFailed);
        }
        Ok(())
    }
}

impl Drop for FlacEncoder {
    fn drop(&mut self) {
        // SAFETY: the encoder came from FLAC__stream_encoder_new and is deleted once;
        // delete also finishes an encoder still initialised (its output is dropped).
        unsafe { flac::FLAC__stream_encoder_delete(self.encoder.as_ptr()) };
    }
}
