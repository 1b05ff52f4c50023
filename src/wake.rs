//! A descriptor that wakes the I/O thread out of poll(2): an eventfd that other
//! threads signal when they queue a frame, take a result, or ask for a stop.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub struct Wake {
    fd: OwnedFd,
}

impl Wake {
    pub fn new() -> io::Result<Wake> {
        // SAFETY: eventfd takes no pointers; a negative result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor owned by nobody else.
        Ok(Wake { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Makes the descriptor readable until [`Wake::clear`].
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64, as eventfd requires. A full counter
        // (EAGAIN) already means "readable", so the result needs no check.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    pub fn clear(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (nothing signalled) is fine.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

/// What the I/O thread waits for on its socket.
#[derive(Debug, Clone, Copy)]
pub struct Interest {
    pub read: bool,
    pub write: bool,
}

/// Waits until the socket is ready for what `interest` names, `wake` is signalled,
/// or `timeout` passes. The caller then simply tries its reads and writes, which
/// report errors and hang-ups themselves.
pub fn wait(socket: RawFd, interest: Interest, wake: &Wake, timeout: Duration) {
    let mut events = 0;
    if interest.read {
        events |= libc::POLLIN;
    }
    if interest.write {
        events |= libc::POLLOUT;
    }
    // With no interest the socket is left out: a hang-up would otherwise make
    // poll return at once, over and over, while reads are held back.
    let socket = if events == 0 { -1 } else { socket };
    let mut fds = [
        libc::pollfd { fd: socket, events, revents: 0 },
        libc::pollfd { fd: wake.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    // Round up so that a deadline 0.4 ms away does not turn into a busy loop.
    let millis = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;

    // SAFETY: `fds` is a live array of two pollfd structs, and 2 is its length.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, millis) };
    if n > 0 && fds[1].revents != 0 {
        wake.clear();
    }
}
