//! Knows, at any moment, whether the bytes read so far end on a WebSocket frame
//! boundary. tungstenite reports a connection that ends mid-frame exactly like one
//! that ends between frames; SPEC §5 tells them apart (811 against 791), so the
//! stream under tungstenite is wrapped in [`Tracked`], which follows frame headers.
//!
//! It also keeps the status of the first close frame as it went by: tungstenite
//! replaces statuses it does not accept from a peer (1005, 1014, 2999, 5000 …)
//! with 1002, while SPEC §5 passes the server's status through.

use std::io::{self, Read, Write};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    /// Still in the HTTP response of the upgrade; counts matched bytes of CRLFCRLF.
    HttpHead { matched: usize },
    /// Inside a frame header; `have` bytes of it seen so far.
    FrameHeader { bytes: [u8; 14], have: usize },
    /// Inside a frame's payload; for a close frame, its status bytes as they pass.
    Payload { remaining: u64, status: Option<StatusBytes> },
}

/// The first two payload bytes of a close frame: its status, big-endian.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StatusBytes {
    bytes: [u8; 2],
    have: usize,
}

const OPCODE_CLOSE: u8 = 0x8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameTracker {
    position: Position,
    close_status: Option<u16>,
}

impl Default for FrameTracker {
    fn default() -> Self {
        FrameTracker { position: Position::HttpHead { matched: 0 }, close_status: None }
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
                        let is_close = bytes[0] & 0x0f == OPCODE_CLOSE;
                        let status = (is_close && remaining >= 2 && self.close_status.is_none())
                            .then(StatusBytes::default);
                        self.position = Position::Payload { remaining, status };
                    }
                }
                Position::Payload { remaining, status } => {
                    let step = (*remaining).min(data.len() as u64) as usize;
                    if let Some(st) = status {
                        let take = (2 - st.have).min(step);
                        st.bytes[st.have..st.have + take].copy_from_slice(&data[..take]);
                        st.have += take;
                        if st.have == 2 {
                            self.close_status = Some(u16::from_be_bytes(st.bytes));
                            *status = None;
                        }
                    }
                    *remaining -= step as u64;
                    data = &data[step..];
                }
            }
            if matches!(self.position, Position::Payload { remaining: 0, .. }) {
                self.position = Position::FrameHeader { bytes: [0; 14], have: 0 };
            }
        }
    }

    /// The status of the first close frame that carried one, as sent.
    pub fn close_status(&self) -> Option<u16> {
        self.close_status
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

    pub fn close_status(&self) -> Option<u16> {
        self.tracker.close_status()
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
    fn the_first_close_status_is_kept_even_when_split_across_reads() {
        let mut t = after_upgrade();
        t.observe(&[0x81, 0x01, b'x', 0x88, 0x04, 0x03]);
        assert_eq!(t.close_status(), None);
        t.observe(&[0xee, b'o', b'k']);
        assert_eq!(t.close_status(), Some(1006));
        t.observe(&[0x88, 0x02, 0x03, 0xe8]);
        assert_eq!(t.close_status(), Some(1006));
        assert!(!t.mid_frame());
    }

    #[test]
    fn a_close_frame_without_status_records_none() {
        let mut t = after_upgrade();
        t.observe(&[0x88, 0x00]);
        assert_eq!(t.close_status(), None);
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
