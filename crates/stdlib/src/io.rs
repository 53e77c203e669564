//! The input/output library (§6.8), present only when the host grants `file_system`.
//!
//! A file is a userdata holding a `LuaFile`: a Rust `std::fs::File` with its own read and
//! write buffers (so one handle can mix reads, writes and seeks like a C `FILE*`), or one of
//! the standard streams. `io.stdout`/`io.stderr` write through the host (`Host::write_stdout`,
//! `Host::write_stderr`), so their output interleaves with `print` exactly; `io.stdin` reads
//! the process's standard input. `io.popen` is not supported.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};

use lunette_vm::number::{format_g, parse_number, Number};
use lunette_vm::{
    Action, Callback, CallbackFn, Context, Error, Exec, Revive, Snapshotable, Table, UserData,
    Value,
};

use crate::base::set;
use crate::os::file_error;
use crate::util::{check_string, io_error_message, path_from_bytes};

const META_KEY: &str = "lunette.io.FILE*";
const INPUT_KEY: &str = "lunette.io.input";
const OUTPUT_KEY: &str = "lunette.io.output";
/// PUC's MAXARGLINE: most formats `lines` accepts.
const MAX_LINE_FORMATS: usize = 250;
/// PUC's L_MAXLENNUM: longest numeral `read("n")` accepts.
const MAX_NUMERAL: usize = 200;
const BUFFER_SIZE: usize = 8192;

/// This library's callbacks and continuations beyond its table's functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    p.callback(("io", "lines_iter"), "for iterator", lines_iter);
    p.callback(("io", "f_tostring"), "tostring", f_tostring);
    p.callback(("io", "f_gc"), "gc", f_gc);
    p.name("close");
}

/// Opens the `io` library and its file methods, only when the host grants the file system
/// ([`Grants::file_system`](lunette_vm::Grants::file_system)); otherwise there is no `io`.
pub fn open(ctx: Context<'_>) {
    ctx.register_permanents(permanents);
    if !ctx.host().grants().file_system {
        return;
    }
    let methods = ctx.new_table();
    let fns: &[(&str, &'static str, CallbackFn)] = &[
        ("close", "close", f_close),
        ("flush", "flush", f_flush),
        ("lines", "lines", f_lines),
        ("read", "read", f_read),
        ("seek", "seek", f_seek),
        ("setvbuf", "setvbuf", f_setvbuf),
        ("write", "write", f_write),
    ];
    crate::util::add_functions(ctx, methods, fns);
    let meta = ctx.new_table();
    set(ctx, meta, "__index", Value::Table(methods));
    set(ctx, meta, "__name", ctx.str("FILE*"));
    let metas: &[(&str, &'static str, CallbackFn)] = &[
        ("__tostring", "tostring", f_tostring),
        ("__gc", "gc", f_gc),
        ("__close", "close", f_gc),
    ];
    for (key, name, f) in metas {
        set(
            ctx,
            meta,
            key,
            Value::Callback(Callback::new(ctx, name, *f)),
        );
    }
    set(ctx, ctx.registry(), META_KEY, Value::Table(meta));

    let lib = ctx.new_table();
    let fns: &[(&str, &'static str, CallbackFn)] = &[
        ("close", "io.close", io_close),
        ("flush", "io.flush", io_flush),
        ("input", "io.input", io_input),
        ("lines", "io.lines", io_lines),
        ("open", "io.open", io_open),
        ("output", "io.output", io_output),
        ("popen", "io.popen", io_popen),
        ("read", "io.read", io_read),
        ("tmpfile", "io.tmpfile", io_tmpfile),
        ("type", "io.type", io_type),
        ("write", "io.write", io_write),
    ];
    crate::util::add_functions(ctx, lib, fns);
    let stdin = new_file(ctx, Stream::Stdin);
    let stdout = new_file(ctx, Stream::Stdout);
    let stderr = new_file(ctx, Stream::Stderr);
    set(ctx, lib, "stdin", stdin);
    set(ctx, lib, "stdout", stdout);
    set(ctx, lib, "stderr", stderr);
    set(ctx, ctx.registry(), INPUT_KEY, stdin);
    set(ctx, ctx.registry(), OUTPUT_KEY, stdout);
    crate::util::publish(ctx, "io", lib);
}

// ---------------------------------------------------------------------------------------
// Streams

#[derive(Clone, Copy, PartialEq, Eq)]
enum BufMode {
    No,
    Line,
    Full,
}

/// An open file with C-`FILE*`-like buffering: reads are buffered ahead, writes are
/// buffered until flushed; switching between them keeps the logical position.
struct FileHandle {
    file: File,
    readable: bool,
    writable: bool,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    mode: BufMode,
}

fn ebadf() -> std::io::Error {
    std::io::Error::from_raw_os_error(9)
}

impl FileHandle {
    fn new(file: File, readable: bool, writable: bool) -> Self {
        FileHandle {
            file,
            readable,
            writable,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            mode: BufMode::Full,
        }
    }

    fn flush_writes(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            let r = self.file.write_all(&self.wbuf);
            self.wbuf.clear();
            r?;
        }
        Ok(())
    }

    /// Drops read-ahead data, moving the OS position back to the logical one.
    fn drop_read_ahead(&mut self) -> std::io::Result<()> {
        let unread = self.rbuf.len() - self.rpos;
        self.rbuf.clear();
        self.rpos = 0;
        if unread > 0 {
            self.file.seek(SeekFrom::Current(-(unread as i64)))?;
        }
        Ok(())
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if !self.writable {
            return Err(ebadf());
        }
        if self.rpos < self.rbuf.len() {
            self.drop_read_ahead()?;
        } else {
            self.rbuf.clear();
            self.rpos = 0;
        }
        self.wbuf.extend_from_slice(bytes);
        let flush = match self.mode {
            BufMode::No => true,
            BufMode::Line => bytes.contains(&b'\n'),
            BufMode::Full => self.wbuf.len() >= BUFFER_SIZE,
        };
        if flush {
            self.flush_writes()?;
        }
        Ok(())
    }

    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.flush_writes()?;
        let unread = (self.rbuf.len() - self.rpos) as i64;
        self.rbuf.clear();
        self.rpos = 0;
        let to = match to {
            SeekFrom::Current(off) => SeekFrom::Current(off - unread),
            other => other,
        };
        self.file.seek(to)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_writes()?;
        self.file.flush()
    }
}

impl Drop for FileHandle {
    fn drop(&mut self) {
        let _ = self.flush_writes();
    }
}

impl Read for FileHandle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for FileHandle {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if !self.readable {
            return Err(ebadf());
        }
        self.flush_writes()?;
        if self.rpos >= self.rbuf.len() {
            self.rbuf.resize(BUFFER_SIZE, 0);
            self.rpos = 0;
            loop {
                match self.file.read(&mut self.rbuf) {
                    Ok(n) => {
                        self.rbuf.truncate(n);
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.rbuf.clear();
                        return Err(e);
                    }
                }
            }
        }
        Ok(&self.rbuf[self.rpos..])
    }

    fn consume(&mut self, n: usize) {
        self.rpos = (self.rpos + n).min(self.rbuf.len());
    }
}

enum Stream {
    Closed,
    File(FileHandle),
    Stdin,
    Stdout,
    Stderr,
}

/// The data of a Lua file handle.
pub(crate) struct LuaFile {
    stream: RefCell<Stream>,
}

/// A reader that always fails (reading an output stream).
struct BadReader;

impl Read for BadReader {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Err(ebadf())
    }
}

impl BufRead for BadReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Err(ebadf())
    }
    fn consume(&mut self, _n: usize) {}
}

impl LuaFile {
    fn is_closed(&self) -> bool {
        matches!(*self.stream.borrow(), Stream::Closed)
    }

    fn with_reader<R>(&self, f: impl FnOnce(&mut dyn BufRead) -> R) -> R {
        let mut s = self.stream.borrow_mut();
        match &mut *s {
            Stream::File(h) => f(h),
            Stream::Stdin => f(&mut std::io::stdin().lock()),
            _ => f(&mut BadReader),
        }
    }

    fn write(&self, ctx: Context<'_>, bytes: &[u8]) -> std::io::Result<()> {
        let mut s = self.stream.borrow_mut();
        match &mut *s {
            Stream::File(h) => h.write_bytes(bytes),
            Stream::Stdout => {
                ctx.host().write_stdout(bytes);
                Ok(())
            }
            Stream::Stderr => {
                ctx.host().write_stderr(bytes);
                Ok(())
            }
            Stream::Stdin | Stream::Closed => Err(ebadf()),
        }
    }
}

/// The standard streams (and closed files) are plain data in a snapshot; an open OS file is
/// not (the snapshot fails naming it).
impl Snapshotable for LuaFile {
    fn snapshot(&self) -> Result<Box<dyn Revive>, String> {
        let kind = match &*self.stream.borrow() {
            Stream::Closed => StreamKind::Closed,
            Stream::Stdin => StreamKind::Stdin,
            Stream::Stdout => StreamKind::Stdout,
            Stream::Stderr => StreamKind::Stderr,
            Stream::File(_) => return Err("an open file handle (io.open)".into()),
        };
        Ok(Box::new(kind))
    }
}

#[derive(Clone, Copy)]
enum StreamKind {
    Closed,
    Stdin,
    Stdout,
    Stderr,
}

impl Revive for StreamKind {
    fn revive(&self) -> Box<dyn std::any::Any> {
        let stream = match self {
            StreamKind::Closed => Stream::Closed,
            StreamKind::Stdin => Stream::Stdin,
            StreamKind::Stdout => Stream::Stdout,
            StreamKind::Stderr => Stream::Stderr,
        };
        Box::new(LuaFile {
            stream: RefCell::new(stream),
        })
    }
}

fn new_file<'gc>(ctx: Context<'gc>, stream: Stream) -> Value<'gc> {
    let u = UserData::new_with_snapshot(
        ctx,
        LuaFile {
            stream: RefCell::new(stream),
        },
    );
    let meta = ctx.registry().get(ctx.key(META_KEY)).as_table();
    // Refused only for frozen tables.
    let _ = ctx.set_metatable(Value::UserData(u), meta);
    Value::UserData(u)
}

/// A file handle argument (open or closed), like `luaL_checkudata(L, i, "FILE*")`.
fn check_file<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<&'gc LuaFile, Error<'gc>> {
    match exec.get(i) {
        Some(Value::UserData(u)) => u
            .downcast::<LuaFile>()
            .ok_or_else(|| Error::type_error(i + 1, "FILE*", Some(Value::UserData(u)))),
        other => Err(Error::type_error(i + 1, "FILE*", other)),
    }
}

/// An open file handle argument (`tofile`).
fn check_open_file<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<&'gc LuaFile, Error<'gc>> {
    let f = check_file(exec, i)?;
    if f.is_closed() {
        return Err(Error::runtime("attempt to use a closed file"));
    }
    Ok(f)
}

fn as_file(v: Value<'_>) -> Option<&LuaFile> {
    match v {
        Value::UserData(u) => u.downcast::<LuaFile>(),
        _ => None,
    }
}

/// The default input or output file (`getiofile`).
fn default_file<'gc>(
    ctx: Context<'gc>,
    key: &str,
    what: &str,
) -> Result<(Value<'gc>, &'gc LuaFile), Error<'gc>> {
    let v = ctx.registry().get(ctx.key(key));
    match as_file(v) {
        Some(f) if !f.is_closed() => Ok((v, f)),
        _ => Err(Error::runtime(format!("default {what} file is closed"))),
    }
}

// ---------------------------------------------------------------------------------------
// Reading

/// One read format (`g_read`'s arguments).
enum Format {
    Number,
    Line { keep_newline: bool },
    All,
    Count(usize),
}

fn parse_format<'gc>(v: Value<'gc>, arg: usize) -> Result<Format, Error<'gc>> {
    match v {
        Value::Integer(_) | Value::Float(_) => {
            let n = v
                .as_integer_strict()
                .ok_or_else(|| Error::bad_argument(arg, "number has no integer representation"))?;
            Ok(Format::Count(n as u64 as usize))
        }
        Value::String(s) => {
            let b = s.as_bytes();
            let b = b.strip_prefix(b"*").unwrap_or(b);
            match b.first() {
                Some(b'n') => Ok(Format::Number),
                Some(b'l') => Ok(Format::Line {
                    keep_newline: false,
                }),
                Some(b'L') => Ok(Format::Line { keep_newline: true }),
                Some(b'a') => Ok(Format::All),
                _ => Err(Error::bad_argument(arg, "invalid format")),
            }
        }
        other => Err(Error::type_error(arg, "string", Some(other))),
    }
}

fn peek(r: &mut dyn BufRead) -> std::io::Result<Option<u8>> {
    loop {
        match r.fill_buf() {
            Ok(b) => return Ok(b.first().copied()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn read_line(r: &mut dyn BufRead, keep_newline: bool) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut saw_newline = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        match buf.iter().position(|&c| c == b'\n') {
            Some(i) => {
                out.extend_from_slice(&buf[..i]);
                if keep_newline {
                    out.push(b'\n');
                }
                r.consume(i + 1);
                saw_newline = true;
                break;
            }
            None => {
                let n = buf.len();
                out.extend_from_slice(buf);
                r.consume(n);
            }
        }
    }
    Ok(if saw_newline || !out.is_empty() {
        Some(out)
    } else {
        None
    })
}

fn read_all(r: &mut dyn BufRead) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

fn read_count(r: &mut dyn BufRead, n: usize) -> std::io::Result<Option<Vec<u8>>> {
    if n == 0 {
        // test_eof
        return Ok(peek(r)?.map(|_| Vec::new()));
    }
    let mut out = Vec::new();
    while out.len() < n {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let k = buf.len().min(n - out.len());
        out.extend_from_slice(&buf[..k]);
        r.consume(k);
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}

/// PUC's `read_number`: reads the longest prefix that looks like a numeral (at most 200
/// characters), then converts it; fails (without unreading) if it is not a valid number.
fn read_number<'gc>(r: &mut dyn BufRead) -> std::io::Result<Option<Value<'gc>>> {
    struct Rn<'a> {
        r: &'a mut dyn BufRead,
        buf: Vec<u8>,
        overflow: bool,
    }
    impl Rn<'_> {
        fn test2(&mut self, set: &[u8]) -> std::io::Result<bool> {
            match peek(self.r)? {
                Some(c) if set.contains(&c) => self.next(c),
                _ => Ok(false),
            }
        }
        fn next(&mut self, c: u8) -> std::io::Result<bool> {
            if self.buf.len() >= MAX_NUMERAL {
                self.overflow = true;
                return Ok(false);
            }
            self.buf.push(c);
            self.r.consume(1);
            Ok(true)
        }
        fn digits(&mut self, hex: bool) -> std::io::Result<usize> {
            let mut count = 0;
            while let Some(c) = peek(self.r)? {
                let ok = if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                };
                if !ok || !self.next(c)? {
                    break;
                }
                count += 1;
            }
            Ok(count)
        }
    }
    while let Some(c) = peek(r)? {
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            r.consume(1);
        } else {
            break;
        }
    }
    let mut rn = Rn {
        r,
        buf: Vec::new(),
        overflow: false,
    };
    let mut count = 0;
    let mut hex = false;
    rn.test2(b"-+")?;
    if rn.test2(b"0")? {
        if rn.test2(b"xX")? {
            hex = true;
        } else {
            count = 1;
        }
    }
    count += rn.digits(hex)?;
    if rn.test2(b".")? {
        count += rn.digits(hex)?;
    }
    if count > 0 && rn.test2(if hex { b"pP" } else { b"eE" })? {
        rn.test2(b"-+")?;
        rn.digits(false)?;
    }
    if rn.overflow {
        return Ok(None);
    }
    Ok(parse_number(&rn.buf).map(|n| match n {
        Number::Int(i) => Value::Integer(i),
        Number::Float(f) => Value::Float(f),
    }))
}

/// `g_read`: reads `formats` (argument values; `first_arg` is the 1-based argument number of
/// the first one, for messages) and returns the results, PUC style: a failed format gives
/// nil and stops; an I/O error gives `nil, message, errno`.
fn g_read<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    file: &LuaFile,
    formats: &[Value<'gc>],
    first_arg: usize,
) -> Result<(), Error<'gc>> {
    let formats: Vec<Format> = if formats.is_empty() {
        vec![Format::Line {
            keep_newline: false,
        }]
    } else {
        formats
            .iter()
            .enumerate()
            .map(|(i, v)| parse_format(*v, first_arg + i))
            .collect::<Result<_, _>>()?
    };
    let mut results: Vec<Value<'gc>> = Vec::new();
    let mut bytes_read = 0usize;
    let outcome = file.with_reader(|r| -> std::io::Result<()> {
        for f in &formats {
            let v = match f {
                Format::Number => read_number(r)?,
                Format::Line { keep_newline } => read_line(r, *keep_newline)?.map(|b| {
                    bytes_read += b.len();
                    Value::String(ctx.new_string(&b))
                }),
                Format::All => {
                    let b = read_all(r)?;
                    bytes_read += b.len();
                    Some(Value::String(ctx.new_string(&b)))
                }
                Format::Count(n) => read_count(r, *n)?.map(|b| {
                    bytes_read += b.len();
                    Value::String(ctx.new_string(&b))
                }),
            };
            match v {
                Some(v) => results.push(v),
                None => {
                    results.push(Value::Nil);
                    break;
                }
            }
        }
        Ok(())
    });
    exec.charge(bytes_read / 32);
    match outcome {
        Ok(()) => exec.replace(&results),
        Err(e) => file_error(ctx, exec, &e, None),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Writing

/// `g_write`: writes the values from argument `first` on; returns the file or the error
/// triple.
fn g_write<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    file_value: Value<'gc>,
    file: &LuaFile,
    first: usize,
) -> Result<Action<'gc>, Error<'gc>> {
    let mut out = Vec::new();
    for i in first..exec.len() {
        match exec.arg(i) {
            Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Float(f) => out.extend_from_slice(format_g(f, 14, false).as_bytes()),
            Value::String(s) => out.extend_from_slice(s.as_bytes()),
            other => return Err(Error::type_error(i + 1, "string", Some(other))),
        }
    }
    exec.charge(out.len() / 32);
    match file.write(ctx, &out) {
        Ok(()) => exec.set_return(file_value),
        Err(e) => file_error(ctx, exec, &e, None),
    }
    Ok(Action::Return)
}

// ---------------------------------------------------------------------------------------
// Opening and closing

/// PUC's `l_checkmode`: `[rwa]%+?b*`.
fn valid_mode(mode: &[u8]) -> bool {
    let Some((&first, rest)) = mode.split_first() else {
        return false;
    };
    if !b"rwa".contains(&first) {
        return false;
    }
    let rest = rest.strip_prefix(b"+").unwrap_or(rest);
    rest.iter().all(|&c| c == b'b')
}

fn open_file(name: &[u8], mode: &[u8]) -> std::io::Result<FileHandle> {
    let plus = mode.get(1) == Some(&b'+');
    let mut o = std::fs::OpenOptions::new();
    let (readable, writable) = match mode[0] {
        b'r' => {
            o.read(true).write(plus);
            (true, plus)
        }
        b'w' => {
            o.write(true).create(true).truncate(true).read(plus);
            (plus, true)
        }
        _ => {
            o.append(true).create(true).read(plus);
            (plus, true)
        }
    };
    let file = o.open(path_from_bytes(name))?;
    Ok(FileHandle::new(file, readable, writable))
}

/// `opencheckfile`: opens or raises "cannot open file 'name' (reason)".
fn open_check<'gc>(ctx: Context<'gc>, name: &[u8], mode: &[u8]) -> Result<Value<'gc>, Error<'gc>> {
    match open_file(name, mode) {
        Ok(h) => Ok(new_file(ctx, Stream::File(h))),
        Err(e) => Err(Error::runtime(format!(
            "cannot open file '{}' ({})",
            String::from_utf8_lossy(name),
            io_error_message(&e)
        ))),
    }
}

fn io_open<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let name = check_string(ctx, exec, 0)?;
    let mode = match exec.get(1) {
        None | Some(Value::Nil) => b"r".to_vec(),
        _ => check_string(ctx, exec, 1)?.as_bytes().to_vec(),
    };
    if !valid_mode(&mode) {
        return Err(Error::bad_argument(2, "invalid mode"));
    }
    match open_file(name.as_bytes(), &mode) {
        Ok(h) => {
            let f = new_file(ctx, Stream::File(h));
            exec.set_return(f);
        }
        Err(e) => file_error(ctx, exec, &e, Some(name.as_bytes())),
    }
    Ok(Action::Return)
}

fn close_file<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    file: &LuaFile,
) -> Result<Action<'gc>, Error<'gc>> {
    let mut s = file.stream.borrow_mut();
    match &mut *s {
        Stream::Stdin | Stream::Stdout | Stream::Stderr => {
            exec.replace(&[Value::Nil, ctx.str("cannot close standard file")]);
        }
        Stream::Closed => return Err(Error::runtime("attempt to use a closed file")),
        Stream::File(h) => {
            let r = h.flush();
            *s = Stream::Closed;
            match r {
                Ok(()) => exec.set_return(Value::Boolean(true)),
                Err(e) => file_error(ctx, exec, &e, None),
            }
        }
    }
    Ok(Action::Return)
}

fn io_close<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    if exec.get(0).is_none() {
        let out = ctx.registry().get(ctx.key(OUTPUT_KEY));
        exec.replace(&[out]);
    }
    f_close(ctx, exec)
}

fn f_close<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = check_open_file(exec, 0)?;
    close_file(ctx, exec, f)
}

fn f_gc<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    if let Some(f) = as_file(exec.arg(0)) {
        let mut s = f.stream.borrow_mut();
        if let Stream::File(h) = &mut *s {
            let _ = h.flush();
            *s = Stream::Closed;
        }
    }
    exec.clear();
    Ok(Action::Return)
}

fn f_tostring<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = exec.arg(0);
    let f = check_file(exec, 0)?;
    let s = if f.is_closed() {
        "file (closed)".to_string()
    } else {
        format!("file (0x{:08x})", ctx.script_id(v).unwrap_or(0))
    };
    exec.set_return(ctx.str(&s));
    Ok(Action::Return)
}

fn io_type<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = crate::util::check_any(exec, 0)?;
    let r = match as_file(v) {
        None => Value::Nil,
        Some(f) if f.is_closed() => ctx.str("closed file"),
        Some(_) => ctx.str("file"),
    };
    exec.set_return(r);
    Ok(Action::Return)
}

fn io_popen<'gc>(_ctx: Context<'gc>, _exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    Err(Error::runtime("'popen' not supported"))
}

fn io_tmpfile<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    match crate::util::create_temp_file() {
        Ok((path, file)) => {
            // Deleted now; the open handle keeps it alive until closed (Unix semantics).
            let _ = std::fs::remove_file(&path);
            let f = new_file(ctx, Stream::File(FileHandle::new(file, true, true)));
            exec.set_return(f);
        }
        Err(e) => file_error(ctx, exec, &e, None),
    }
    Ok(Action::Return)
}

/// `g_iofile`: `io.input`/`io.output`.
fn io_file<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    key: &str,
    mode: &[u8],
) -> Result<Action<'gc>, Error<'gc>> {
    match exec.get(0) {
        None | Some(Value::Nil) => {}
        Some(v @ (Value::String(_) | Value::Integer(_) | Value::Float(_))) => {
            let name = match v {
                Value::String(s) => s.as_bytes().to_vec(),
                other => lunette_vm::display_plain(other).into_bytes(),
            };
            let f = open_check(ctx, &name, mode)?;
            set(ctx, ctx.registry(), key, f);
        }
        Some(v) => {
            check_open_file(exec, 0)?;
            set(ctx, ctx.registry(), key, v);
        }
    }
    let cur = ctx.registry().get(ctx.key(key));
    exec.set_return(cur);
    Ok(Action::Return)
}

fn io_input<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    io_file(ctx, exec, INPUT_KEY, b"r")
}

fn io_output<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    io_file(ctx, exec, OUTPUT_KEY, b"w")
}

// ---------------------------------------------------------------------------------------
// read / write / lines / seek / flush / setvbuf

fn io_read<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (_, f) = default_file(ctx, INPUT_KEY, "input")?;
    let formats = exec.values().to_vec();
    g_read(ctx, exec, f, &formats, 1)?;
    Ok(Action::Return)
}

fn f_read<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = check_open_file(exec, 0)?;
    let formats = exec.values()[1..].to_vec();
    g_read(ctx, exec, f, &formats, 2)?;
    Ok(Action::Return)
}

fn io_write<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (v, f) = default_file(ctx, OUTPUT_KEY, "output")?;
    g_write(ctx, exec, v, f, 0)
}

fn f_write<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = check_open_file(exec, 0)?;
    let v = exec.arg(0);
    g_write(ctx, exec, v, f, 1)
}

fn flush_file<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    f: &LuaFile,
) -> Result<Action<'gc>, Error<'gc>> {
    let r = match &mut *f.stream.borrow_mut() {
        Stream::File(h) => h.flush(),
        _ => Ok(()),
    };
    match r {
        Ok(()) => exec.set_return(Value::Boolean(true)),
        Err(e) => file_error(ctx, exec, &e, None),
    }
    Ok(Action::Return)
}

fn io_flush<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (_, f) = default_file(ctx, OUTPUT_KEY, "output")?;
    flush_file(ctx, exec, f)
}

fn f_flush<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = check_open_file(exec, 0)?;
    flush_file(ctx, exec, f)
}

fn f_seek<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = check_open_file(exec, 0)?;
    let whence = match exec.get(1) {
        None | Some(Value::Nil) => "cur".to_string(),
        _ => check_string(ctx, exec, 1)?.to_str_lossy().into_owned(),
    };
    let offset = crate::util::opt_integer(exec, 2, 0)?;
    let to = match whence.as_str() {
        "set" => {
            if offset < 0 {
                file_error(ctx, exec, &std::io::Error::from_raw_os_error(22), None);
                return Ok(Action::Return);
            }
            SeekFrom::Start(offset as u64)
        }
        "cur" => SeekFrom::Current(offset),
        "end" => SeekFrom::End(offset),
        other => return Err(Error::bad_argument(2, format!("invalid option '{other}'"))),
    };
    let r = match &mut *f.stream.borrow_mut() {
        Stream::File(h) => h.seek(to),
        _ => Err(std::io::Error::from_raw_os_error(29)),
    };
    match r {
        Ok(pos) => exec.set_return(Value::Integer(pos as i64)),
        Err(e) => file_error(ctx, exec, &e, None),
    }
    Ok(Action::Return)
}

fn f_setvbuf<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = check_open_file(exec, 0)?;
    let mode = check_string(ctx, exec, 1)?;
    let mode = match crate::util::option_name(mode.as_bytes()) {
        b"no" => BufMode::No,
        b"full" => BufMode::Full,
        b"line" => BufMode::Line,
        _ => return Err(crate::util::invalid_option(ctx, 2, mode)),
    };
    crate::util::opt_integer(exec, 2, 0)?;
    if let Stream::File(h) = &mut *f.stream.borrow_mut() {
        if mode != BufMode::Full {
            let _ = h.flush_writes();
        }
        h.mode = mode;
    }
    exec.set_return(Value::Boolean(true));
    Ok(Action::Return)
}

/// Builds the `lines` iterator: its state is `{file, close_at_eof, format...}`.
fn make_lines<'gc>(
    ctx: Context<'gc>,
    file: Value<'gc>,
    to_close: bool,
    formats: &[Value<'gc>],
) -> Result<Value<'gc>, Error<'gc>> {
    if formats.len() > MAX_LINE_FORMATS {
        return Err(Error::bad_argument(
            MAX_LINE_FORMATS + 2,
            "too many arguments",
        ));
    }
    let state = ctx.new_table_with_capacity(formats.len() + 2, 0);
    let _ = state.set(ctx, Value::Integer(1), file);
    let _ = state.set(ctx, Value::Integer(2), Value::Boolean(to_close));
    for (i, f) in formats.iter().enumerate() {
        let _ = state.set(ctx, Value::Integer(i as i64 + 3), *f);
    }
    Ok(Value::Callback(Callback::with_upvalue(
        ctx,
        "for iterator",
        lines_iter,
        Value::Table(state),
    )))
}

fn lines_iter<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(Error::runtime("lines: lost state"));
    };
    let file_value = state.get_int(1);
    let Some(f) = as_file(file_value) else {
        return Err(Error::runtime("file is already closed"));
    };
    if f.is_closed() {
        return Err(Error::runtime("file is already closed"));
    }
    let to_close = state.get_int(2).is_truthy();
    let formats = table_formats(state);
    g_read(ctx, exec, f, &formats, 2)?;
    if exec.arg(0).is_truthy() {
        return Ok(Action::Return);
    }
    if exec.len() > 1 {
        let msg = exec.arg(1);
        return Err(Error::runtime(lunette_vm::display_plain(msg)));
    }
    if to_close {
        if let Stream::File(h) = &mut *f.stream.borrow_mut() {
            let _ = h.flush();
        }
        *f.stream.borrow_mut() = Stream::Closed;
    }
    exec.clear();
    Ok(Action::Return)
}

fn table_formats<'gc>(state: Table<'gc>) -> Vec<Value<'gc>> {
    let mut out = Vec::new();
    let mut i = 3;
    loop {
        let v = state.get_int(i);
        if v.is_nil() {
            return out;
        }
        out.push(v);
        i += 1;
    }
}

fn f_lines<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    check_open_file(exec, 0)?;
    let file = exec.arg(0);
    let formats = exec.values()[1..].to_vec();
    let it = make_lines(ctx, file, false, &formats)?;
    exec.set_return(it);
    Ok(Action::Return)
}

fn io_lines<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let formats = exec.values().get(1..).unwrap_or(&[]).to_vec();
    match exec.get(0) {
        None | Some(Value::Nil) => {
            let file = ctx.registry().get(ctx.key(INPUT_KEY));
            match as_file(file) {
                Some(f) if !f.is_closed() => {}
                _ => return Err(Error::runtime("attempt to use a closed file")),
            }
            let it = make_lines(ctx, file, false, &formats)?;
            exec.set_return(it);
        }
        Some(_) => {
            let name = check_string(ctx, exec, 0)?;
            let file = open_check(ctx, name.as_bytes(), b"r")?;
            let it = make_lines(ctx, file, true, &formats)?;
            exec.replace(&[it, Value::Nil, Value::Nil, file]);
        }
    }
    Ok(Action::Return)
}
