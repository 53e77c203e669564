//! The host capability interface: everything a script can observe or affect outside the VM
//! goes through it (output streams today; clock and files join with the stdlib).
//! A VM holds one `Host`; the default writes to the process's stdout/stderr.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

pub trait Host {
    /// Bytes written by `print` (and later `io.write`).
    fn write_stdout(&self, bytes: &[u8]);
    /// Bytes written to the error stream (`warn`, later `io.stderr`).
    fn write_stderr(&self, bytes: &[u8]);
}

/// Writes to the process's standard streams.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdHost;

impl Host for StdHost {
    fn write_stdout(&self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }
    fn write_stderr(&self, bytes: &[u8]) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(bytes);
        let _ = err.flush();
    }
}

/// Captures output in memory (tests, embedding hosts that show output in-game).
#[derive(Debug, Default, Clone)]
pub struct CaptureHost {
    pub stdout: Rc<RefCell<Vec<u8>>>,
    pub stderr: Rc<RefCell<Vec<u8>>>,
}

impl CaptureHost {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn take_stdout(&self) -> Vec<u8> {
        std::mem::take(&mut self.stdout.borrow_mut())
    }
    pub fn take_stderr(&self) -> Vec<u8> {
        std::mem::take(&mut self.stderr.borrow_mut())
    }
}

impl Host for CaptureHost {
    fn write_stdout(&self, bytes: &[u8]) {
        self.stdout.borrow_mut().extend_from_slice(bytes);
    }
    fn write_stderr(&self, bytes: &[u8]) {
        self.stderr.borrow_mut().extend_from_slice(bytes);
    }
}
