//! What the server knows about the audio of one session: the declared format,
//! running statistics over the decoded PCM, and the input pipeline (raw PCM or
//! the FLAC decoder thread).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::flac_decode::{DecodeError, FlacDecoder};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Pcm,
    Flac,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcm => "pcm",
            Codec::Flac => "flac",
        }
    }
}

/// The format announced in `X-Mimi-Content-Type` (always 16-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioFormat {
    pub codec: Codec,
    pub rate: u32,
    pub channels: u32,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Running totals over the decoded s16le PCM. Kept incrementally so that a
/// progress message never needs to look at old audio again.
#[derive(Debug)]
pub struct AudioStats {
    pcm_bytes: u64,
    fnv: u64,
    sum_squares: u128,
    sample_values: u64,
    /// Low byte of a sample split across two PCM messages.
    carry: Option<u8>,
    /// The decoded PCM itself, kept only when it will be saved.
    pcm: Option<Vec<u8>>,
}

impl AudioStats {
    pub fn new(keep_pcm: bool) -> Self {
        AudioStats {
            pcm_bytes: 0,
            fnv: FNV_OFFSET,
            sum_squares: 0,
            sample_values: 0,
            carry: None,
            pcm: keep_pcm.then(Vec::new),
        }
    }

    /// Adds decoded s16le bytes (any length; a split sample is completed by the
    /// next call).
    pub fn add_pcm(&mut self, bytes: &[u8]) {
        self.pcm_bytes += bytes.len() as u64;
        let mut hash = self.fnv;
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
        self.fnv = hash;
        if let Some(pcm) = self.pcm.as_mut() {
            pcm.extend_from_slice(bytes);
        }
        let mut rest = bytes;
        if let Some(low) = self.carry.take() {
            match rest.split_first() {
                Some((&high, tail)) => {
                    self.add_sample(i16::from_le_bytes([low, high]));
                    rest = tail;
                }
                None => {
                    self.carry = Some(low);
                    return;
                }
            }
        }
        let mut pairs = rest.chunks_exact(2);
        for pair in &mut pairs {
            self.add_sample(i16::from_le_bytes([pair[0], pair[1]]));
        }
        if let [low] = pairs.remainder() {
            self.carry = Some(*low);
        }
    }

    fn add_sample(&mut self, s: i16) {
        let v = i64::from(s);
        self.sum_squares += (v * v) as u128;
        self.sample_values += 1;
    }

    pub fn pcm_bytes(&self) -> u64 {
        self.pcm_bytes
    }

    pub fn fnv1a64(&self) -> u64 {
        self.fnv
    }

    /// RMS level of every decoded sample value, in dB relative to full scale.
    /// `None` when there is no audio or it is all digital silence (-inf dB).
    pub fn level_dbfs(&self) -> Option<f64> {
        if self.sample_values == 0 || self.sum_squares == 0 {
            return None;
        }
        let mean_square = self.sum_squares as f64 / self.sample_values as f64;
        let full_scale = 32768.0f64 * 32768.0;
        Some(10.0 * (mean_square / full_scale).log10())
    }

    pub fn take_pcm(&mut self) -> Vec<u8> {
        self.pcm.take().unwrap_or_default()
    }
}

/// A consistent copy of the numbers reported to the client and the log.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub format: AudioFormat,
    pub bytes_received: u64,
    /// Sample frames (one sample per channel).
    pub samples: u64,
    pub level_dbfs: Option<f64>,
    pub fnv1a64: u64,
}

impl Snapshot {
    pub fn seconds(&self) -> f64 {
        self.samples as f64 / f64::from(self.format.rate)
    }

    pub fn millis(&self) -> u64 {
        (u128::from(self.samples) * 1000 / u128::from(self.format.rate)) as u64
    }
}

enum Pipeline {
    Pcm,
    Flac(FlacDecoder),
}

/// Takes the binary messages of a session and turns them into decoded PCM.
pub struct AudioInput {
    format: AudioFormat,
    bytes_received: u64,
    stats: Arc<Mutex<AudioStats>>,
    pipeline: Pipeline,
    finished: Option<Result<(), DecodeError>>,
}

impl AudioInput {
    pub fn new(format: AudioFormat, keep_pcm: bool) -> Result<Self, DecodeError> {
        let stats = Arc::new(Mutex::new(AudioStats::new(keep_pcm)));
        let pipeline = match format.codec {
            Codec::Pcm => Pipeline::Pcm,
            Codec::Flac => Pipeline::Flac(FlacDecoder::start(format, Arc::clone(&stats))?),
        };
        Ok(AudioInput { format, bytes_received: 0, stats, pipeline, finished: None })
    }

    /// Feeds one binary message. For FLAC this returns once the decoder has
    /// used up the bytes, so the statistics are current afterwards.
    pub fn push(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        self.bytes_received += data.len() as u64;
        if data.is_empty() {
            return Ok(());
        }
        match &mut self.pipeline {
            Pipeline::Pcm => {
                lock(&self.stats).add_pcm(data);
                Ok(())
            }
            Pipeline::Flac(decoder) => decoder.push(data.to_vec()),
        }
    }

    /// Ends the input and waits for the decoder to drain. Safe to call twice.
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        if let Some(result) = &self.finished {
            return result.clone();
        }
        let result = match &mut self.pipeline {
            Pipeline::Pcm => Ok(()),
            Pipeline::Flac(decoder) => decoder.finish(),
        };
        self.finished = Some(result.clone());
        result
    }

    pub fn snapshot(&self) -> Snapshot {
        let stats = lock(&self.stats);
        let frame_bytes = 2 * u64::from(self.format.channels);
        Snapshot {
            format: self.format,
            bytes_received: self.bytes_received,
            samples: stats.pcm_bytes() / frame_bytes,
            level_dbfs: stats.level_dbfs(),
            fnv1a64: stats.fnv1a64(),
        }
    }

    pub fn take_pcm(&self) -> Vec<u8> {
        lock(&self.stats).take_pcm()
    }
}

/// Locks the statistics even if a thread panicked while holding them: the
/// numbers stay usable for the log line.
pub fn lock(stats: &Mutex<AudioStats>) -> MutexGuard<'_, AudioStats> {
    stats.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes `DIR/<id>.pcm` under a temporary name first, so that the file is
/// complete the moment it appears.
pub fn save_pcm(dir: &Path, id: &str, pcm: &[u8]) -> io::Result<PathBuf> {
    let part = dir.join(format!(".{id}.pcm.part"));
    let path = dir.join(format!("{id}.pcm"));
    let mut file = fs::File::create(&part)?;
    file.write_all(pcm)?;
    file.flush()?;
    drop(file);
    fs::rename(&part, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_of_empty_and_known_input() {
        let mut s = AudioStats::new(false);
        assert_eq!(s.fnv1a64(), 0xcbf29ce484222325);
        s.add_pcm(b"a");
        assert_eq!(s.fnv1a64(), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn split_samples_count_once() {
        let mut whole = AudioStats::new(false);
        whole.add_pcm(&[0x00, 0x40, 0x00, 0xc0]);
        let mut split = AudioStats::new(false);
        split.add_pcm(&[0x00]);
        split.add_pcm(&[0x40, 0x00]);
        split.add_pcm(&[0xc0]);
        assert_eq!(whole.level_dbfs(), split.level_dbfs());
        assert_eq!(whole.fnv1a64(), split.fnv1a64());
        let level = whole.level_dbfs().unwrap();
        assert!((level - (-6.0206)).abs() < 1e-3, "{level}");
    }

    #[test]
    fn silence_has_no_level() {
        let mut s = AudioStats::new(false);
        assert_eq!(s.level_dbfs(), None);
        s.add_pcm(&[0; 8]);
        assert_eq!(s.level_dbfs(), None);
    }
}
