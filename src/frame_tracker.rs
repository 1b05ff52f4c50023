//! Knows, at any moment, whether the bytes read so far end on a WebSocket frame
//! boundary. tungstenite reports a connection that ends mid-frame exactly like one
//! that ends between frames; SPEC §5 tells them apart (811 against 791), so the
//! stream under tungstenite is wrapped in [`Tracked`], which follows frame headers.

use std::io::{self, Read, Write};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    /// Still in the HTTP response of the upgrade; counts matched bytes of CRLFCRLF.
    HttpHead { matched: usize },
    /// Inside a frame header; `have` bytes of it seen so far.
    FrameHeader { bytes: [u8; 14], have: usize },
    /// Inside a frame's payload.
    Payload { remaining: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameTracker {
    position: Position,
}

impl Default for FrameTracker {
    fn default() -> Self {
        FrameTracker { position: Position::HttpHead { matched: 0 } }
    }
}

/// Header length once its first two bytes are known.
fn header_len(first_two: [u8; 2]) -> usize {
    let extended = match first_two[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if first_two[1] & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

fn payload_len(header: &[u8]) -> u64 {
    match header[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        127 => u64::from_be_bytes(header[2..10].try_into().expect("8 bytes")),
        n => u64::from(n),
    }
}

impl FrameTracker {
    /// Follows `data`, the next bytes read from the connection.
    pub fn observe(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.position {
                Position::HttpHead { matched } => {
                    let byte = data[0];
                    data = &data[1..];
                    *matched = match (*matched, byte) {
                        (0 | 2, b'\r') => *matched + 1,
                        (1 | 3, b'\n') => *matched + 1,
                        (_, b'\r') => 1,
                        _ => 0,
                    };
                    if *matched == 4 {
                        self.position = Position::FrameHeader { bytes: [0; 14], have: 0 };
                    }
                }
                Position::FrameHeader { bytes, have } => {
                    bytes[*have] = data[0];
                    *have += 1;
                    data = &data[1..];
                    if *have >= 2 && *have == header_len([bytes[0], bytes[1]]) {
                        let remaining = payload_len(&bytes[..*have]);
                        self.position = Position::Payload { remaining };
                    }
                }
                Position::Payload { remaining } => {
                    let step = (*remaining).min(data.len() as u64);
                    *remaining -= step;
                    data = &data[step as usize..];
                }
            }
            if self.position == (Position::Payload { remaining: 0 }) {
                self.position = Position::FrameHeader { bytes: [0; 14], have: 0 };
            }
        }
    }

    /// True when the stream stopped inside a frame (header or payload).
    pub fn mid_frame(&self) -> bool {
        match &self.position {
            Position::FrameHeader { have, .. } => *have > 0,
            Position::Payload { .. } => true,
            Position::HttpHead { .. } => false,
        }
    }
}

/// A stream that reports what it reads to a [`FrameTracker`].
pub struct Tracked<S> {
    inner: S,
    tracker: FrameTracker,
}

impl<S> Tracked<S> {
    pub fn new(inner: S) -> Self {
        Tracked { inner, tracker: FrameTracker::default() }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    pub fn mid_frame(&self) -> bool {
        self.tracker.mid_frame()
    }
}

impl<S: Read> Read for Tracked<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tracker.observe(&buf[..n]);
        Ok(n)
    }
}

impl<S: Write> Write for Tracked<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after_upgrade() -> FrameTracker {
        let mut t = FrameTracker::default();
        t.observe(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
        t
    }

    #[test]
    fn whole_frames_end_on_a_boundary() {
        let mut t = after_upgrade();
        t.observe(&[0x81, 0x03, b'a', b'b', b'c', 0x82, 0x00]);
        assert!(!t.mid_frame());
    }

    #[test]
    fn a_frame_cut_in_its_payload_is_mid_frame() {
        let mut t = after_upgrade();
        t.observe(&[0x81, 0x7e, 0x03, 0xe8]);
        assert!(t.mid_frame());
        t.observe(&[b'x'; 999]);
        assert!(t.mid_frame());
        t.observe(b"y");
        assert!(!t.mid_frame());
    }

    #[test]
    fn a_frame_cut_in_its_header_is_mid_frame() {
        let mut t = after_upgrade();
        t.observe(&[0x82]);
        assert!(t.mid_frame());
    }

    #[test]
    fn the_http_head_is_not_a_frame() {
        let mut t = FrameTracker::default();
        t.observe(b"HTTP/1.1 101 OK\r\n");
        assert!(!t.mid_frame());
        t.observe(b"\r\n\x89\x04pi");
        assert!(t.mid_frame());
    }
}
