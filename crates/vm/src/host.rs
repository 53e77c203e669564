//! The host capability interface: everything a script can observe or affect outside the VM
//! goes through it: output streams, clocks and the UTC offset, and the [`Grants`] that decide
//! whether the file system, the OS parts of `os`, the full `debug` library and forced full
//! collections exist at all. A VM holds one `Host`: [`StdHost`] (the process's streams and
//! clocks; what the CLI uses), [`CaptureHost`] (output in memory, fixed clocks, nothing granted
//! by default: tests and games) or the embedder's own; [`DenyGrants`] wraps any host and
//! grants nothing (what the sandbox installs). A deterministic host derives its clocks from
//! its simulation, never from the wall clock.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// What a VM may do outside itself. Only `write_stdout` and `write_stderr` must be written;
/// the defaults are deterministic (clocks at 0, UTC, nothing granted).
pub trait Host {
    /// Bytes written by `print` and `io.write` (when `io` is granted).
    fn write_stdout(&self, bytes: &[u8]);
    /// Bytes written to the error stream (`warn`, `io.stderr`).
    fn write_stderr(&self, bytes: &[u8]);
    /// `os.clock()`: seconds of processor time used. A deterministic host returns a value
    /// derived from its simulation (e.g. frame time).
    fn clock(&self) -> f64 {
        0.0
    }
    /// `os.time()` without arguments: seconds since the Unix epoch. A deterministic host
    /// returns its simulated time.
    fn time(&self) -> i64 {
        0
    }
    /// Offset of local time from UTC in seconds, for `os.date` without `!` and `os.time{...}`.
    /// Deterministic hosts keep the default (UTC).
    fn utc_offset(&self) -> i64 {
        0
    }
    /// What the host grants beyond the pure-computation libraries.
    fn grants(&self) -> Grants {
        Grants::default()
    }
}

/// Capabilities a host grants to scripts. The default grants nothing: no files, no process
/// or environment access (a sandbox).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    /// `io` library with real files, `dofile`/`loadfile`, the file searcher of `require`.
    pub file_system: bool,
    /// `os.getenv`, `os.exit`, `os.remove`, `os.rename`, `os.tmpname`, `os.execute`.
    pub operating_system: bool,
    /// The full `debug` library (otherwise only `debug.traceback`).
    pub debug: bool,
    /// `collectgarbage("collect")`/`("step")` run a full collection. Without this grant they
    /// do nothing (a full collection costs time proportional to the heap, so an untrusted
    /// script must not trigger them at will); the host collects at its own frame boundaries.
    pub full_collections: bool,
    /// Binary chunks: `load`, `loadfile` and `dofile` accept the chunks `string.dump` makes
    /// (decoded as untrusted input and checked by the bytecode verifier), and `string.dump`
    /// works. The one grant [`DenyGrants`] (the sandbox) passes on from the host it wraps:
    /// it is about trusting code, not about reaching outside the VM.
    pub binary_chunks: bool,
}

impl Grants {
    /// Everything, like the `lua` command.
    pub fn all() -> Self {
        Grants {
            file_system: true,
            operating_system: true,
            debug: true,
            full_collections: true,
            binary_chunks: true,
        }
    }
}

/// Writes to the process's standard streams, reads the real clocks, and grants everything
/// (what the `lunette` command uses).
#[derive(Debug, Clone, Copy)]
pub struct StdHost {
    started: std::time::Instant,
    grants: Grants,
}

impl Default for StdHost {
    fn default() -> Self {
        StdHost {
            started: std::time::Instant::now(),
            grants: Grants::all(),
        }
    }
}

impl StdHost {
    /// Real streams and clocks, everything granted (the `lua` command).
    pub fn new() -> Self {
        Self::default()
    }

    /// Real streams and clocks, nothing granted (`lunette --sandbox`).
    pub fn sandboxed() -> Self {
        StdHost {
            grants: Grants::default(),
            ..Self::default()
        }
    }
}

impl Host for StdHost {
    fn clock(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
    fn time(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
    fn grants(&self) -> Grants {
        self.grants
    }
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

/// Captures output in memory (tests, embedding hosts that show output in-game). Its clocks
/// are fixed (0) unless set, and it grants what `grants` says (nothing by default).
#[derive(Debug, Default, Clone)]
pub struct CaptureHost {
    /// Everything written to standard output, shared by the clones of this host (keep one
    /// clone, give the VM another).
    pub stdout: Rc<RefCell<Vec<u8>>>,
    /// Everything written to the error stream, shared likewise.
    pub stderr: Rc<RefCell<Vec<u8>>>,
    /// What `os.clock()` returns; set it as simulated time passes.
    pub clock: Rc<std::cell::Cell<f64>>,
    /// What `os.time()` returns.
    pub time: Rc<std::cell::Cell<i64>>,
    /// What the host grants (nothing by default).
    pub grants: Grants,
}

impl CaptureHost {
    /// Empty buffers, clocks at 0, nothing granted.
    pub fn new() -> Self {
        Self::default()
    }
    /// Takes the captured standard output, leaving the buffer empty.
    pub fn take_stdout(&self) -> Vec<u8> {
        std::mem::take(&mut self.stdout.borrow_mut())
    }
    /// Takes the captured error output, leaving the buffer empty.
    pub fn take_stderr(&self) -> Vec<u8> {
        std::mem::take(&mut self.stderr.borrow_mut())
    }
}

impl Host for CaptureHost {
    fn clock(&self) -> f64 {
        self.clock.get()
    }
    fn time(&self) -> i64 {
        self.time.get()
    }
    fn grants(&self) -> Grants {
        self.grants
    }
    fn write_stdout(&self, bytes: &[u8]) {
        self.stdout.borrow_mut().extend_from_slice(bytes);
    }
    fn write_stderr(&self, bytes: &[u8]) {
        self.stderr.borrow_mut().extend_from_slice(bytes);
    }
}

/// Forwards everything to another host but grants nothing (except `binary_chunks`, when the
/// wrapped host grants it): what `Lua::sandboxed` installs, so a sandbox stays a sandbox
/// whatever host it is given.
pub struct DenyGrants(pub Rc<dyn Host>);

impl Host for DenyGrants {
    fn write_stdout(&self, bytes: &[u8]) {
        self.0.write_stdout(bytes)
    }
    fn write_stderr(&self, bytes: &[u8]) {
        self.0.write_stderr(bytes)
    }
    fn clock(&self) -> f64 {
        self.0.clock()
    }
    fn time(&self) -> i64 {
        self.0.time()
    }
    fn utc_offset(&self) -> i64 {
        self.0.utc_offset()
    }
    fn grants(&self) -> Grants {
        Grants {
            binary_chunks: self.0.grants().binary_chunks,
            ..Grants::default()
        }
    }
}
