//! The operating system library (§6.9).
//!
//! `clock`, `time`, `date` and `difftime` are always present and go through the host
//! (`Host::clock`, `Host::time`, `Host::utc_offset`), so a deterministic host gets
//! deterministic results. Calendar arithmetic is done here (proleptic Gregorian calendar,
//! C locale), not by the C library: `os.date` behaves like glibc's `strftime` in the "C"
//! locale and `os.time{...}` normalizes its fields like `mktime`.
//!
//! `getenv`, `exit`, `remove`, `rename`, `tmpname`, `execute` and `setlocale` exist only when
//! the host grants `operating_system`. `os.exit` then ends the process with
//! `std::process::exit` (that grant is for the command-line runner; an embedding host that
//! grants it accepts that a script may end the process).

use lunette_vm::{
    Action, CallbackFn, Context, Error, Exec, LuaString, Outcome, Table, Then, Value,
};

use crate::base::set;
use crate::string::SavedOutput;
use crate::util::{check_string, opt_string};

const GRANTED: &[(&str, &str, CallbackFn)] = &[
    ("getenv", "os.getenv", getenv),
    ("exit", "os.exit", exit),
    ("remove", "os.remove", remove),
    ("rename", "os.rename", rename),
    ("tmpname", "os.tmpname", tmpname),
    ("execute", "os.execute", execute),
    ("setlocale", "os.setlocale", setlocale),
];

/// Opens the `os` library: `clock`, `time`, `date` and `difftime` (through the host's clocks);
/// the rest (`getenv`, `remove`, `exit`, ...) only when the host grants the operating system.
pub fn open(ctx: Context<'_>) {
    let lib = ctx.new_table();
    let mut fns: Vec<(&str, &'static str, CallbackFn)> = vec![
        ("clock", "os.clock", clock),
        ("time", "os.time", time),
        ("date", "os.date", date),
        ("difftime", "os.difftime", difftime),
    ];
    if ctx.host().grants().operating_system {
        fns.extend_from_slice(GRANTED);
    }
    crate::util::add_functions(ctx, lib, &fns);
    ctx.register_permanents(|p| p.continuation(("os", "date_resume"), "date", date_resume));
    crate::util::publish(ctx, "os", lib);
}

fn clock<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let c = _ctx.host().clock();
    exec.set_return(Value::Float(c));
    Ok(Action::Return)
}

// ---------------------------------------------------------------------------------------
// Calendar arithmetic

/// Days since 1970-01-01 of a proleptic Gregorian date (`month` 1..=12).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month 1..=12, day 1..=31)` of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// A broken-down time like C's `struct tm` (but with the real year and 1-based month).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tm {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub min: i64,
    pub sec: i64,
    /// 0 = Sunday.
    pub wday: i64,
    /// 0-based day of the year.
    pub yday: i64,
}

impl Tm {
    pub(crate) fn from_timestamp(t: i64) -> Tm {
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Tm {
            year,
            month,
            day,
            hour: secs / 3600,
            min: secs / 60 % 60,
            sec: secs % 60,
            wday: (days + 4).rem_euclid(7),
            yday: days - days_from_civil(year, 1, 1),
        }
    }

    /// ISO 8601 week-based year and week number (`%G`, `%V`).
    fn iso_week(&self) -> (i64, i64) {
        let wday_mon = (self.wday + 6) % 7; // 0 = Monday
        let week = (self.yday - wday_mon + 10) / 7;
        if week < 1 {
            let py = self.year - 1;
            let pdays = if is_leap(py) { 366 } else { 365 };
            let prev = Tm {
                year: py,
                yday: self.yday + pdays,
                ..*self
            };
            return (py, (prev.yday - wday_mon + 10) / 7);
        }
        let days_in_year = if is_leap(self.year) { 366 } else { 365 };
        if week == 53 && self.yday - wday_mon + 3 >= days_in_year {
            return (self.year + 1, 1);
        }
        (self.year, week)
    }
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Years representable in C's `int tm_year` (what glibc accepts).
fn year_fits(year: i64) -> bool {
    let y = year - 1900;
    y >= i32::MIN as i64 && y <= i32::MAX as i64
}

// ---------------------------------------------------------------------------------------
// os.date

/// PUC's `LUA_STRFTIMEOPTIONS` for C99: one-character conversions, then the `E` and `O`
/// modified ones.
const PLAIN_CONVERSIONS: &[u8] = b"aAbBcCdDeFgGhHIjmMnprRStTuUVwWxXyYzZ%";
const E_CONVERSIONS: &[u8] = b"cCxXyY";
const O_CONVERSIONS: &[u8] = b"deHImMSuUVwWy";

/// The conversions of `fmt` from byte `i` on, until byte `stop` is reached or passed (a
/// conversion is never split): the position reached, or the invalid conversion (the rest of
/// the whole format from it, as PUC's message shows it).
fn strftime(
    out: &mut Vec<u8>,
    fmt: &[u8],
    mut i: usize,
    stop: usize,
    tm: &Tm,
    utc: bool,
    offset: i64,
) -> Result<usize, String> {
    while i < fmt.len() && i < stop {
        let c = fmt[i];
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        let rest = &fmt[i + 1..];
        let (conv, len) = match rest.first() {
            Some(&m @ (b'E' | b'O')) => {
                let allowed = if m == b'E' {
                    E_CONVERSIONS
                } else {
                    O_CONVERSIONS
                };
                match rest.get(1) {
                    Some(c) if allowed.contains(c) => (*c, 2),
                    _ => return Err(String::from_utf8_lossy(rest).into_owned()),
                }
            }
            Some(c) if PLAIN_CONVERSIONS.contains(c) => (*c, 1),
            _ => return Err(String::from_utf8_lossy(rest).into_owned()),
        };
        format_conversion(out, conv, tm, utc, offset);
        i += 1 + len;
    }
    Ok(i)
}

fn push(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

fn format_conversion(out: &mut Vec<u8>, conv: u8, tm: &Tm, utc: bool, offset: i64) {
    let wd = WEEKDAYS[tm.wday as usize];
    let mn = MONTHS[(tm.month - 1) as usize];
    let hour12 = if tm.hour % 12 == 0 { 12 } else { tm.hour % 12 };
    let s = match conv {
        b'a' => wd[..3].to_string(),
        b'A' => wd.to_string(),
        b'b' | b'h' => mn[..3].to_string(),
        b'B' => mn.to_string(),
        b'c' => format!(
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            &wd[..3],
            &mn[..3],
            tm.day,
            tm.hour,
            tm.min,
            tm.sec,
            tm.year
        ),
        b'C' => tm.year.div_euclid(100).to_string(),
        b'd' => format!("{:02}", tm.day),
        b'D' | b'x' => format!(
            "{:02}/{:02}/{:02}",
            tm.month,
            tm.day,
            tm.year.rem_euclid(100)
        ),
        b'e' => format!("{:>2}", tm.day),
        b'F' => format!("{}-{:02}-{:02}", tm.year, tm.month, tm.day),
        b'g' => format!("{:02}", tm.iso_week().0.rem_euclid(100)),
        b'G' => tm.iso_week().0.to_string(),
        b'H' => format!("{:02}", tm.hour),
        b'I' => format!("{:02}", hour12),
        b'j' => format!("{:03}", tm.yday + 1),
        b'm' => format!("{:02}", tm.month),
        b'M' => format!("{:02}", tm.min),
        b'n' => "\n".into(),
        b'p' => (if tm.hour < 12 { "AM" } else { "PM" }).into(),
        b'r' => format!(
            "{:02}:{:02}:{:02} {}",
            hour12,
            tm.min,
            tm.sec,
            if tm.hour < 12 { "AM" } else { "PM" }
        ),
        b'R' => format!("{:02}:{:02}", tm.hour, tm.min),
        b'S' => format!("{:02}", tm.sec),
        b't' => "\t".into(),
        b'T' | b'X' => format!("{:02}:{:02}:{:02}", tm.hour, tm.min, tm.sec),
        b'u' => (if tm.wday == 0 { 7 } else { tm.wday }).to_string(),
        b'U' => format!("{:02}", (tm.yday + 7 - tm.wday) / 7),
        b'V' => format!("{:02}", tm.iso_week().1),
        b'w' => tm.wday.to_string(),
        b'W' => format!("{:02}", (tm.yday + 7 - (tm.wday + 6) % 7) / 7),
        b'y' => format!("{:02}", tm.year.rem_euclid(100)),
        b'Y' => tm.year.to_string(),
        b'z' => {
            let off = if utc { 0 } else { offset };
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs() / 60;
            format!("{sign}{:02}{:02}", a / 60, a % 60)
        }
        b'Z' => {
            if utc {
                "GMT".into()
            } else if offset == 0 {
                "UTC".into()
            } else {
                // The host gives an offset, not a zone name.
                let sign = if offset < 0 { '-' } else { '+' };
                let a = offset.unsigned_abs() / 60;
                format!("{sign}{:02}{:02}", a / 60, a % 60)
            }
        }
        _ => "%".into(),
    };
    push(out, &s);
}

/// `l_checktime`: an integer time argument.
fn check_time<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<i64, Error<'gc>> {
    crate::util::check_integer(exec, i)
}

fn date<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    // (The format string itself is read and kept while paused, never copied: a 2 MB format
    // was copied three times by the first step.)
    let fmt_string = match opt_string(ctx, exec, 0)? {
        Some(s) => s,
        None => ctx.new_string(b"%c"),
    };
    let t = match exec.get(1) {
        None | Some(Value::Nil) => ctx.host().time(),
        Some(_) => check_time(exec, 1)?,
    };
    let utc = fmt_string.as_bytes().starts_with(b"!");
    let start = usize::from(utc);
    let offset = if utc { 0 } else { ctx.host().utc_offset() };
    let local = t
        .checked_add(offset)
        .ok_or_else(|| Error::runtime("date result cannot be represented in this installation"))?;
    // Keep the day count in range for the calendar arithmetic, then check the year.
    if local.unsigned_abs() > (i64::MAX as u64) / 4 {
        return Err(Error::runtime(
            "date result cannot be represented in this installation",
        ));
    }
    let tm = Tm::from_timestamp(local);
    if !year_fits(tm.year) {
        return Err(Error::runtime(
            "date result cannot be represented in this installation",
        ));
    }
    if fmt_string.as_bytes()[start..].starts_with(b"*t") {
        let t = ctx.new_table_with_capacity(0, 9);
        set_all_fields(ctx, t, &tm);
        exec.set_return(Value::Table(t));
        return Ok(Action::Return);
    }
    let date = Date {
        fmt: fmt_string,
        pos: start,
        local,
        utc,
        offset,
        saved: SavedOutput::default(),
    };
    date_run(ctx, exec, fmt_string.as_bytes(), date)
}

/// Format bytes `os.date` converts per piece: a step boundary may come between two pieces
/// (a 200 KB format of "%Y"s is 75,000 units of fuel, a few ms).
const DATE_FORMAT_PER_PIECE: usize = 4096;

/// An `os.date` in progress: the format string (its first byte a `!` for UTC), the position
/// reached in it, the time and zone, and the output of the pieces before.
struct Date<'gc> {
    fmt: LuaString<'gc>,
    pos: usize,
    local: i64,
    utc: bool,
    offset: i64,
    saved: SavedOutput<'gc>,
}

/// Converts `fmt` from `d.pos` on, a piece at a time, pausing between pieces when out of
/// fuel. Each piece ends where the format passes `DATE_FORMAT_PER_PIECE` bytes after the
/// piece's start (never inside a conversion), whatever the step sizes, so the charges are
/// the same in every run.
fn date_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    fmt: &[u8],
    mut d: Date<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let tm = Tm::from_timestamp(d.local);
    let mut out = Vec::new();
    loop {
        let (before, start) = (out.len(), d.pos);
        let stop = d.pos.saturating_add(DATE_FORMAT_PER_PIECE);
        d.pos = strftime(&mut out, fmt, d.pos, stop, &tm, d.utc, d.offset).map_err(|conv| {
            Error::bad_argument(1, format!("invalid conversion specifier '%{conv}'"))
        })?;
        // By the bytes written and by the conversions read: a conversion costs its own work
        // whatever it writes ("%Y" repeated 100,000 times ran ~300 ns a unit charged by its
        // output alone; "%c", charged a unit per four format bytes, 260 ns a unit).
        exec.charge((out.len() - before) / 16 + conversions_cost(&fmt[start..d.pos]));
        if d.pos >= fmt.len() {
            return d.saved.finish(ctx, exec, &out, None);
        }
        if exec.out_of_fuel() {
            d.saved.save(ctx, &out);
            let fmt = Value::String(d.fmt);
            let [parts, count, bytes] = d.saved.state_values();
            let state = crate::string::state_table(
                ctx,
                &[
                    fmt,
                    Value::Integer(d.pos as i64),
                    Value::Integer(d.local),
                    Value::Boolean(d.utc),
                    Value::Integer(d.offset),
                    parts,
                    count,
                    bytes,
                ],
            );
            return Ok(Action::Pause {
                then: Then::new("date", date_resume, Value::Table(state)),
            });
        }
    }
}

/// Units of fuel the conversions in `piece` (a whole number of them) cost beyond their
/// output: each is one, and those that write a whole date or time more (measured per
/// conversion: `%c` ~520 ns; `%x`, `%X`, `%D`, `%F`, `%r`, `%R`, `%T` ~200 ns; `%Y`, `%d`,
/// `%H`... 70-100 ns), so that a unit stays under ~100 ns whatever the format repeats.
fn conversions_cost(piece: &[u8]) -> usize {
    let mut units = 0;
    let mut i = 0;
    while i < piece.len() {
        if piece[i] != b'%' {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        if matches!(piece.get(j), Some(b'E' | b'O')) {
            j += 1;
        }
        units += match piece.get(j) {
            Some(b'c') => 5,
            Some(b'x' | b'X' | b'D' | b'F' | b'r' | b'R' | b'T') => 2,
            _ => 1,
        };
        i = j + 1;
    }
    units
}

fn date_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let state = crate::string::SavedState::of(exec.upvalue, "date")?;
    let lost = || crate::string::lost_state("date");
    let fmt = state.string(1)?;
    let int = |k: i64| state.value(k).as_integer_strict().ok_or_else(lost);
    let d = Date {
        fmt,
        pos: state.index(2)?,
        local: int(3)?,
        utc: state.value(4).is_truthy(),
        offset: int(5)?,
        saved: SavedOutput::read(state.value(6), state.index(7)?, state.index(8)?, "date")?,
    };
    // (A state read from a snapshot's bytes is checked as `date` checked its arguments.)
    if d.local.unsigned_abs() > (i64::MAX as u64) / 4 {
        return Err(lost());
    }
    date_run(ctx, exec, fmt.as_bytes(), d)
}

fn set_all_fields<'gc>(ctx: Context<'gc>, t: Table<'gc>, tm: &Tm) {
    let fields = [
        ("year", tm.year),
        ("month", tm.month),
        ("day", tm.day),
        ("hour", tm.hour),
        ("min", tm.min),
        ("sec", tm.sec),
        ("yday", tm.yday + 1),
        ("wday", tm.wday + 1),
    ];
    for (k, v) in fields {
        set(ctx, t, k, Value::Integer(v));
    }
    set(ctx, t, "isdst", Value::Boolean(false));
}

// ---------------------------------------------------------------------------------------
// os.time

/// PUC's `getfield`: an integer field, with default `d` (`None`: required) and the `delta`
/// C's `struct tm` subtracts; the result must fit a C `int`.
fn get_field<'gc>(
    ctx: Context<'gc>,
    t: Table<'gc>,
    key: &str,
    d: Option<i64>,
    delta: i64,
) -> Result<i64, Error<'gc>> {
    let v = t.get(ctx.key(key));
    match v.to_integer() {
        Some(res) if matches!(v, Value::Integer(_) | Value::Float(_) | Value::String(_)) => {
            let ok = if res >= 0 {
                res - delta <= i32::MAX as i64
            } else {
                i32::MIN as i64 + delta <= res
            };
            if !ok {
                return Err(Error::runtime(format!("field '{key}' is out-of-bound")));
            }
            Ok(res - delta)
        }
        _ => {
            if !v.is_nil() {
                Err(Error::runtime(format!("field '{key}' is not an integer")))
            } else {
                d.ok_or_else(|| Error::runtime(format!("field '{key}' missing in date table")))
            }
        }
    }
}

fn time<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let t = match exec.get(0) {
        None | Some(Value::Nil) => ctx.host().time(),
        Some(Value::Table(tab)) => {
            let year = get_field(ctx, tab, "year", None, 1900)?;
            let mon = get_field(ctx, tab, "month", None, 1)?;
            let mday = get_field(ctx, tab, "day", None, 0)?;
            let hour = get_field(ctx, tab, "hour", Some(12), 0)?;
            let min = get_field(ctx, tab, "min", Some(0), 0)?;
            let sec = get_field(ctx, tab, "sec", Some(0), 0)?;
            // mktime: normalize month into the year, then add everything up as seconds.
            let year = 1900 + year + mon.div_euclid(12);
            let month = mon.rem_euclid(12) + 1;
            let days = days_from_civil(year, month, 1) + mday - 1;
            // `isdst = true` says the fields are daylight-saving time, one hour ahead of the
            // host's standard offset (what mktime does in a zone without DST rules).
            let dst = if tab.get(ctx.key("isdst")).is_truthy() {
                3600
            } else {
                0
            };
            let offset = ctx.host().utc_offset();
            let result = days * 86_400 + hour * 3600 + min * 60 + sec - offset - dst;
            let tm = Tm::from_timestamp(result + offset);
            if !year_fits(tm.year) || result == -1 {
                return Err(Error::runtime(
                    "time result cannot be represented in this installation",
                ));
            }
            // Like PUC 5.4, the table is updated with the normalized fields.
            set_all_fields(ctx, tab, &tm);
            result
        }
        other => return Err(Error::type_error(1, "table", other)),
    };
    exec.set_return(Value::Integer(t));
    Ok(Action::Return)
}

fn difftime<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let t1 = check_time(exec, 0)?;
    let t2 = check_time(exec, 1)?;
    exec.set_return(Value::Float(t1 as f64 - t2 as f64));
    Ok(Action::Return)
}

// ---------------------------------------------------------------------------------------
// Granted functions (operating_system)

/// `luaL_fileresult` for a failed operation: `nil, "name: message", errno`.
pub(crate) fn file_error<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    e: &std::io::Error,
    name: Option<&[u8]>,
) {
    let mut msg = Vec::new();
    if let Some(n) = name {
        msg.extend_from_slice(n);
        msg.extend_from_slice(b": ");
    }
    msg.extend_from_slice(crate::util::io_error_message(e).as_bytes());
    exec.replace(&[
        Value::Nil,
        Value::String(ctx.new_string(&msg)),
        Value::Integer(e.raw_os_error().unwrap_or(0) as i64),
    ]);
}

fn path_of(bytes: &[u8]) -> std::path::PathBuf {
    crate::util::path_from_bytes(bytes)
}

fn getenv<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let name = check_string(ctx, exec, 0)?;
    let v = std::env::var_os(name.to_str_lossy().as_ref())
        .map(|v| Value::String(ctx.new_string(v.to_string_lossy().as_bytes())))
        .unwrap_or(Value::Nil);
    exec.set_return(v);
    Ok(Action::Return)
}

fn exit<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let code = match exec.get(0) {
        None | Some(Value::Nil) | Some(Value::Boolean(true)) => 0,
        Some(Value::Boolean(false)) => 1,
        Some(_) => crate::util::check_integer(exec, 0)? as i32,
    };
    std::process::exit(code);
}

fn remove<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let name = check_string(ctx, exec, 0)?;
    let path = path_of(name.as_bytes());
    // C's remove() deletes files and empty directories.
    let r = match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir(&path),
        _ => std::fs::remove_file(&path),
    };
    match r {
        Ok(()) => exec.set_return(Value::Boolean(true)),
        Err(e) => file_error(ctx, exec, &e, Some(name.as_bytes())),
    }
    Ok(Action::Return)
}

fn rename<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let from = check_string(ctx, exec, 0)?;
    let to = check_string(ctx, exec, 1)?;
    match std::fs::rename(path_of(from.as_bytes()), path_of(to.as_bytes())) {
        Ok(()) => exec.set_return(Value::Boolean(true)),
        Err(e) => file_error(ctx, exec, &e, None),
    }
    Ok(Action::Return)
}

fn tmpname<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    match crate::util::create_temp_file() {
        Ok((path, _file)) => {
            exec.set_return(ctx.str(&path.to_string_lossy()));
            Ok(Action::Return)
        }
        Err(_) => Err(Error::runtime("unable to generate a unique filename")),
    }
}

fn execute<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let Some(cmd) = opt_string(ctx, exec, 0)? else {
        // Is a shell available?
        let ok = std::path::Path::new("/bin/sh").exists();
        exec.set_return(Value::Boolean(ok));
        return Ok(Action::Return);
    };
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd.to_str_lossy().as_ref())
        .status();
    match status {
        Ok(st) => {
            let (what, code) = match st.code() {
                Some(c) => ("exit", c as i64),
                None => ("signal", signal_of(&st)),
            };
            let ok = what == "exit" && code == 0;
            exec.replace(&[
                if ok { Value::Boolean(true) } else { Value::Nil },
                ctx.str(what),
                Value::Integer(code),
            ]);
        }
        Err(e) => file_error(ctx, exec, &e, None),
    }
    Ok(Action::Return)
}

#[cfg(unix)]
fn signal_of(st: &std::process::ExitStatus) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    st.signal().unwrap_or(0) as i64
}

#[cfg(not(unix))]
fn signal_of(_st: &std::process::ExitStatus) -> i64 {
    0
}

fn setlocale<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let locale = opt_string(ctx, exec, 0)?;
    // (The category is checked as it is given: one of megabytes is neither copied nor
    // converted.)
    const CATEGORIES: &[&str] = &["all", "collate", "ctype", "monetary", "numeric", "time"];
    if let Some(cat) = opt_string(ctx, exec, 1)? {
        let name = crate::util::option_name(cat.as_bytes());
        if !CATEGORIES.iter().any(|c| c.as_bytes() == name) {
            return Err(crate::util::invalid_option(ctx, 2, cat));
        }
    }
    // Only the "C" locale exists in lunette.
    let r = match locale {
        None => ctx.str("C"),
        Some(l) if matches!(l.as_bytes(), b"" | b"C" | b"POSIX") => ctx.str("C"),
        Some(_) => Value::Nil,
    };
    exec.set_return(r);
    Ok(Action::Return)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for d in [-1_000_000i64, -719_468, -1, 0, 1, 59, 10_957, 1_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn iso_weeks() {
        let week = |y, m, d| Tm::from_timestamp(days_from_civil(y, m, d) * 86_400).iso_week();
        assert_eq!(week(2021, 1, 1), (2020, 53));
        assert_eq!(week(2019, 12, 30), (2020, 1));
        assert_eq!(week(2024, 12, 30), (2025, 1));
        assert_eq!(week(2027, 1, 3), (2026, 53));
        assert_eq!(week(2015, 1, 1), (2015, 1));
    }
}
