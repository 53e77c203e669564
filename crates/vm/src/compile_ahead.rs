//! Compiling big chunks ahead, on a helper thread, while the script pays for them.
//!
//! `load` charges one unit of fuel per source byte before it compiles, in slices that end at
//! step boundaries (the stdlib's `load_pay`), and the compiler itself cannot pause: without
//! help, the step that finally compiles a 2 MB chunk takes its whole compile time (~40 ns a
//! byte: 80 ms), however small the host's fuel budget. So when a script starts paying for a
//! big chunk, the compilation starts on a helper thread ([`Context::compile_ahead`]), and
//! when the last slice is paid the result is taken ([`Context::load_compiled`]).
//!
//! Paying a slice takes no time of its own, so a host that runs steps back to back (no frame
//! time between them) would otherwise reach the last slice long before the helper finishes,
//! and that step would wait for the whole compilation. So each slice first waits until the
//! helper has got as far as the fuel already paid ([`Context::compile_ahead_wait`]; the
//! compiler reports its position every KiB, scaled to the first four fifths of the source's
//! length, and the verification of its output the last fifth: a 1.8 MB chunk's verification,
//! 6 ms, was all waited for by the last step): the compilation's wall time is spread over
//! the steps that pay for it, about a byte's compile time per unit of fuel, and the last
//! step waits only for what the last reports leave (closing the chunk's functions).
//!
//! Invariants (why nothing a script observes changes):
//! - The compiler is a pure function of `(source bytes, chunk name, memory budget)`. A job
//!   is used only for exactly those inputs: the same source and name strings (the identity
//!   of their shared bytes, which never change) and an equal budget. Otherwise the chunk is
//!   compiled in place, with the same result.
//! - The budget is fixed by the caller at a point of the script's history (when `load` was
//!   called), not when the helper happens to run.
//! - Jobs live outside the VM's state: snapshots, rollbacks and restores neither see nor
//!   carry them. A job whose `load` was rolled back or never resumes is dropped when the
//!   table of jobs needs its place (its thread finishes on its own; its result is discarded).
//! - Fuel is charged by the caller exactly as without jobs; only wall time moves (waiting
//!   changes when a step returns, never what it did).
//! - At most [`MAX_JOBS`] jobs exist at once, each holding at most its budget in compiler
//!   memory, like a compilation in place.

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use lunette_compiler::CompileError;

use crate::function::LuaClosure;
use crate::gc_unsafe::unchecked::VerifiedProto;
use crate::state::Context;
use crate::string::LuaString;
use crate::table::Table;
use crate::value::Value;

/// Chunks whose source and name are shorter than this together compile in place: a
/// thread's start (~30 us) costs more than it saves. Small enough that a chunk compiled in
/// place takes at most ~3 ms even at the compiler's slowest (deeply nested closures, ~800 ns
/// a source byte: `lunette_compiler::UPVALUE_WORK`).
pub const MIN_AHEAD_BYTES: usize = 4 * 1024;

/// Most compilations running (or finished and unclaimed) at once.
const MAX_JOBS: usize = 2;

/// A compilation's outcome: verified with the compilation (on the helper thread too), and
/// the compiler's work beyond reading the source (`lunette_compiler::CompileProgress::
/// extra_work`, a pure function of the inputs, which `load` pays for too).
type Compiled = (Result<VerifiedProto, CompileError>, usize);

/// Compiles these inputs here and now ([`Compiled`]).
fn compile_in_place(source: &[u8], name: &Arc<[u8]>, budget: usize) -> Compiled {
    let progress = lunette_compiler::CompileProgress::default();
    let outcome = VerifiedProto::compile_named(source, name, budget, Some(&progress));
    (outcome, progress.extra_work.load(Ordering::Relaxed))
}

/// The longest one slice of `load` (2,048 units of fuel) waits for the helper to catch up
/// with what was paid ([`Context::compile_ahead_wait`]): about 120 ns a unit, so a step of
/// 10,000 units of `load` waits about 1.2 ms at most (slices of 4,096 waiting 500 µs each
/// made steps of 12,288 units and up to 1.9 ms).
const MAX_WAIT: std::time::Duration = std::time::Duration::from_micros(250);

/// One nap of that wait, cut to the deadline: a sleep ends up to the kernel's timer slack
/// (50 µs) late, so naps of 50 µs made a 500 µs wait last up to 600.
const NAP: std::time::Duration = std::time::Duration::from_micros(20);

/// What a call of [`Context::load_compiled_piece`] did.
pub enum LoadPiece<'gc> {
    /// The chunk is instantiated (or failed to compile).
    Loaded(Result<LuaClosure<'gc>, CompileError>),
    /// A piece of its instantiation was made: call again (after a step boundary).
    Pending,
}

/// One compilation started ahead: its inputs (the bytes of the source and name strings),
/// its thread and how far it has got, in source bytes (see the module docs; [`FINISHED`]
/// once it returned).
struct Job {
    source: Arc<[u8]>,
    name: Arc<[u8]>,
    budget: usize,
    progress: Arc<lunette_compiler::CompileProgress>,
    thread: JoinHandle<Compiled>,
}

/// A job's progress once its compilation returned (whatever it read).
const FINISHED: usize = usize::MAX;

impl Job {
    fn is_for(&self, source: &Arc<[u8]>, name: &Arc<[u8]>, budget: usize) -> bool {
        Arc::ptr_eq(&self.source, source) && Arc::ptr_eq(&self.name, name) && self.budget == budget
    }
}

/// A compilation whose chunk is being instantiated in pieces
/// ([`Context::load_compiled_piece`]): its inputs and outcome, kept until the last piece.
struct KeptOutcome {
    source: Arc<[u8]>,
    name: Arc<[u8]>,
    budget: usize,
    outcome: Compiled,
}

/// The VM's compilations started ahead and the outcomes being instantiated (outside
/// snapshots; see the module docs).
pub(crate) struct CompileJobs {
    enabled: Cell<bool>,
    jobs: RefCell<Vec<Job>>,
    compiled: RefCell<Vec<KeptOutcome>>,
}

impl Default for CompileJobs {
    fn default() -> Self {
        CompileJobs {
            enabled: Cell::new(true),
            jobs: RefCell::new(Vec::new()),
            compiled: RefCell::new(Vec::new()),
        }
    }
}

impl CompileJobs {
    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.set(enabled);
        if !enabled {
            self.jobs.borrow_mut().clear();
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.get()
    }

    fn start(&self, source: Arc<[u8]>, name: Arc<[u8]>, budget: usize) {
        // (A big name costs like a big source: the compiler reads and copies it.)
        let size = source.len().saturating_add(name.len());
        if !self.enabled.get() || size < MIN_AHEAD_BYTES || source.first() == Some(&0x1b) {
            return;
        }
        let mut jobs = self.jobs.borrow_mut();
        if jobs.iter().any(|j| j.is_for(&source, &name, budget)) {
            return;
        }
        if jobs.len() >= MAX_JOBS {
            // Make room: a finished job first (its `load` was abandoned or rolled back),
            // else leave this chunk to compile in place.
            match jobs.iter().position(|j| j.thread.is_finished()) {
                Some(i) => drop(jobs.remove(i)),
                None => return,
            }
        }
        let (input, input_name) = (source.clone(), name.clone());
        let progress = Arc::new(lunette_compiler::CompileProgress::default());
        let reported = progress.clone();
        let spawned = std::thread::Builder::new()
            .name("lunette-compile".into())
            .spawn(move || {
                // Marks the job finished however the compilation ends (a compiler panic
                // included: a waiting `load` must not wait forever; `take` then compiles in
                // place, where the bug is reported).
                struct Finished(Arc<lunette_compiler::CompileProgress>);
                impl Drop for Finished {
                    fn drop(&mut self) {
                        self.0.reached.store(FINISHED, Ordering::Release);
                    }
                }
                let finished = Finished(reported);
                crate::gc_unsafe::lower_thread_priority(crate::memory::HELPER_NICE);
                let outcome =
                    VerifiedProto::compile_named(&input, &input_name, budget, Some(&finished.0));
                (outcome, finished.0.extra_work.load(Ordering::Relaxed))
            });
        // Without threads (some targets), the chunk simply compiles in place.
        if let Ok(thread) = spawned {
            jobs.push(Job {
                source,
                name,
                budget,
                progress,
                thread,
            });
        }
    }

    /// Waits until the job for these inputs (if any) has got as far as `read` bytes (see the
    /// module docs) or finished.
    fn wait(&self, source: &Arc<[u8]>, name: &Arc<[u8]>, budget: usize, read: usize) {
        let progress = {
            let jobs = self.jobs.borrow();
            match jobs.iter().find(|j| j.is_for(source, name, budget)) {
                Some(job) => job.progress.clone(),
                None => return,
            }
        };
        // The wait is short (about a slice's compile time: a fraction of a millisecond): it
        // sleeps in short naps rather than spin a core, and never yields (`yield_now` lets a
        // helper on the same core run to the scheduler's next tick: 4 ms waits). It gives up
        // after `MAX_WAIT`: the compiler's pace is uneven (a big vector growing copies tens
        // of MiB within one 1 KiB report: a 14 ms wait in load_goto_storm.lua), and the
        // steps after a stall wait while it catches up (only the last one waits for all).
        let deadline = std::time::Instant::now() + MAX_WAIT;
        while progress.reached.load(Ordering::Acquire) < read {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            std::thread::sleep(NAP.min(deadline - now));
        }
    }

    /// The outcome of compiling these inputs: kept from an earlier piece, taken from a job,
    /// or compiled in place; kept for the next piece until [`CompileJobs::forget`].
    fn outcome(&self, source: &Arc<[u8]>, name: &Arc<[u8]>, budget: usize) -> Compiled {
        let is_for = |c: &KeptOutcome| {
            Arc::ptr_eq(&c.source, source) && Arc::ptr_eq(&c.name, name) && c.budget == budget
        };
        if let Some(c) = self.compiled.borrow().iter().find(|c| is_for(c)) {
            return c.outcome.clone();
        }
        let outcome = match self.take(source, name, budget) {
            Some(done) => done,
            None => compile_in_place(source, name, budget),
        };
        let mut compiled = self.compiled.borrow_mut();
        // At most a few are in progress; an abandoned one (its `load` rolled back) goes first.
        if compiled.len() >= MAX_JOBS {
            compiled.remove(0);
        }
        compiled.push(KeptOutcome {
            source: source.clone(),
            name: name.clone(),
            budget,
            outcome: outcome.clone(),
        });
        outcome
    }

    /// The compiler's extra work for these inputs ([`Compiled`]), or `None` once the job
    /// compiling them has reported progress `at_least` without having finished (so that
    /// much is owed at least: progress never passes the source's length plus the extra
    /// work). Waits for the job as long as it takes to know either; without a job, the
    /// outcome is settled here (taken or compiled in place) and kept for the pieces.
    fn extra_work(
        &self,
        source: &Arc<[u8]>,
        name: &Arc<[u8]>,
        budget: usize,
        at_least: usize,
    ) -> Option<usize> {
        let job = self
            .jobs
            .borrow()
            .iter()
            .find(|j| j.is_for(source, name, budget))
            .map(|j| j.progress.clone());
        if let Some(progress) = job {
            // (Short: a slice's worth of the compiler's work, or what follows its last
            // report; see `wait`.)
            loop {
                match progress.reached.load(Ordering::Acquire) {
                    FINISHED => break,
                    r if r >= at_least => return None,
                    _ => std::thread::sleep(NAP),
                }
            }
        }
        Some(self.outcome(source, name, budget).1)
    }

    /// Drops the kept outcome for these inputs.
    fn forget(&self, source: &Arc<[u8]>, name: &Arc<[u8]>, budget: usize) {
        self.compiled.borrow_mut().retain(|c| {
            !(Arc::ptr_eq(&c.source, source) && Arc::ptr_eq(&c.name, name) && c.budget == budget)
        });
    }

    fn take(&self, source: &Arc<[u8]>, name: &Arc<[u8]>, budget: usize) -> Option<Compiled> {
        let job = {
            let mut jobs = self.jobs.borrow_mut();
            let i = jobs.iter().position(|j| j.is_for(source, name, budget))?;
            jobs.remove(i)
        };
        // A compiler panic is a bug; compiling in place then reports it where it happens.
        job.thread.join().ok()
    }
}

impl<'gc> Context<'gc> {
    /// Starts compiling the text chunk `source` on a helper thread, when it is big enough
    /// and background compilation is on (see the module docs);
    /// [`Context::load_compiled_piece`] with the same arguments takes the result. Nothing a script can observe depends on
    /// whether this ran.
    pub fn compile_ahead(self, source: LuaString<'gc>, chunk_name: LuaString<'gc>, budget: usize) {
        self.state()
            .compile_jobs
            .start(source.shared_bytes(), chunk_name.shared_bytes(), budget);
    }

    /// Waits until the compilation [`Context::compile_ahead`] started for these inputs, if
    /// any, has got as far as `read` bytes of `source` (or finished). `load` calls it as it
    /// pays for each slice of the source, so the compile's wall time spreads over the steps
    /// that pay for it (see the module docs). Nothing a script can observe depends on it.
    pub fn compile_ahead_wait(
        self,
        source: LuaString<'gc>,
        chunk_name: LuaString<'gc>,
        budget: usize,
        read: usize,
    ) {
        self.state().compile_jobs.wait(
            &source.shared_bytes(),
            &chunk_name.shared_bytes(),
            budget,
            read.min(source.len()),
        );
    }

    /// The fuel `load` owes for compiling the text chunk `source` beyond a unit a byte: the
    /// compiler's extra work (`lunette_compiler::CompileProgress::extra_work`: an upvalue
    /// made through nested functions is work its source's bytes do not account for), a pure
    /// function of the inputs. `None` instead when the compilation started ahead has
    /// reported progress `at_least` without having finished: at least that much is owed in
    /// all (`load` pays on). Else the outcome is settled (taken from the job when it
    /// finishes, or compiled here) and kept for [`Context::load_compiled_piece`].
    pub fn compile_extra_work(
        self,
        source: LuaString<'gc>,
        chunk_name: LuaString<'gc>,
        budget: usize,
        at_least: usize,
    ) -> Option<usize> {
        self.state().compile_jobs.extra_work(
            &source.shared_bytes(),
            &chunk_name.shared_bytes(),
            budget,
            at_least,
        )
    }

    /// Compiles the text chunk `source` with at most `budget` bytes of compiler memory (or
    /// takes the result of [`Context::compile_ahead`] for exactly these inputs) and
    /// instantiates it with `_ENV` = `env` (default: the globals), like [`Context::load`]:
    /// at once when the source is shorter than `instantiation::AT_ONCE_BYTES`, else in
    /// pieces of bounded work (a chunk of 400,000 constants took 10 ms to make in one step),
    /// one a call: piece number `done` (the pieces made before, counted by the caller as VM
    /// state) for the `load` whose state table is `owner` (what the pieces made is kept
    /// outside snapshots, under that table's identity, and made again if missing; see
    /// `instantiation`). Each call but the last answers [`LoadPiece::Pending`]: call again,
    /// with `done + 1`, after a step boundary.
    pub fn load_compiled_piece(
        self,
        source: LuaString<'gc>,
        chunk_name: LuaString<'gc>,
        budget: usize,
        env: Option<Value<'gc>>,
        owner: Table<'gc>,
        done: usize,
    ) -> LoadPiece<'gc> {
        let jobs = &self.state().compile_jobs;
        let (bytes, name) = (source.shared_bytes(), chunk_name.shared_bytes());
        let proto = match jobs.outcome(&bytes, &name, budget).0 {
            Ok(proto) if bytes.len() >= crate::instantiation::AT_ONCE_BYTES => proto,
            outcome => {
                jobs.forget(&bytes, &name, budget);
                return LoadPiece::Loaded(outcome.map(|p| self.load_verified(&p, env)));
            }
        };
        match self.instantiate_piece(owner, &proto, env, done) {
            Some(closure) => {
                jobs.forget(&bytes, &name, budget);
                LoadPiece::Loaded(Ok(closure))
            }
            None => LoadPiece::Pending,
        }
    }

    /// Decodes the binary chunk `bytes` (`lunette_compiler::undump_with_limit`: untrusted
    /// input, at most `budget` bytes of decoded prototypes, verified as it is decoded) and
    /// instantiates it with `_ENV` = `env` (default: the globals), like
    /// [`Context::load_prototype`] without verifying twice.
    pub fn load_binary(
        self,
        bytes: &[u8],
        chunk_name: &str,
        budget: usize,
        env: Option<Value<'gc>>,
    ) -> Result<LuaClosure<'gc>, lunette_compiler::UndumpError> {
        let proto = VerifiedProto::undump_with_limit(bytes, chunk_name, budget)?;
        Ok(self.load_verified(&proto, env))
    }
}
