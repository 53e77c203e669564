//! Conversions between Rust and Lua values: [`IntoLua`] / [`FromLua`] for one value,
//! [`IntoLuaMulti`] / [`FromLuaMulti`] for argument and result lists (tuples, [`Variadic`]).
//!
//! The rules follow the C API's checks, so a host function's errors read like a standard
//! library function's:
//! - integers accept integers, floats with an exact integer value and numeric strings
//!   (`luaL_checkinteger`): `bad argument #1 to 'f' (number has no integer representation)`;
//!   a value outside the Rust type's range is `(integer out of range)`;
//! - floats accept numbers and numeric strings; `String` and [`Bytes`] accept strings and
//!   numbers (converted like `tostring`);
//! - `bool` is Lua truthiness (only `nil` and `false` are false);
//! - `Option<T>` is `None` for `nil` or a missing value;
//! - `Vec<T>` is a sequence table (`1..#t`, raw), maps are tables read with `next`;
//! - a wrong type is `bad argument #n to 'f' (<expected> expected, got <type>)` with the
//!   type named like `luaL_typeerror` (a metatable's `__name` counts, a missing argument is
//!   `no value`).
//!
//! Into Lua, maps are written in sorted key order so that the table's iteration order (part
//! of what a script sees, and of snapshots and checksums) never depends on a Rust hash
//! map's random state.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

use crate::error::Error;
use crate::function::{Callback, LuaClosure};
use crate::handle::StashedValue;
use crate::state::Context;
use crate::string::LuaString;
use crate::table::Table;
use crate::thread::Thread;
use crate::userdata::UserData;
use crate::value::Value;

/// A Rust value that can become one Lua value. Maps are written in sorted key order, so a
/// table's iteration order (which scripts, snapshots and checksums see) never depends on a
/// Rust hash map's random state.
pub trait IntoLua<'gc> {
    /// Makes the Lua value (allocating strings or tables in the VM as needed).
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>>;
}

/// A Rust value that can be read from one Lua value.
///
/// The rules follow the C API's checks, so a host function's errors read like a standard
/// library function's: integers accept integers, floats with an exact integer value and
/// numeric strings (`number has no integer representation`, `integer out of range`); floats
/// accept numbers and numeric strings; `String` and [`Bytes`] accept strings and numbers;
/// `bool` is Lua truthiness; `Option<T>` is `None` for nil or a missing value; `Vec<T>` reads
/// a sequence (`1..#t`, raw) and maps read a table with `next`; a wrong type is
/// `bad argument #n to 'f' (<expected> expected, got <type>)`, the type named like
/// `luaL_typeerror` (`__name` counts, a missing argument is `no value`).
pub trait FromLua<'gc>: Sized {
    /// Reads `value`. A type mismatch is an [`Error::TypeError`] (or
    /// [`Error::BadArgument`]) with `arg` 0: the argument-list conversion fills in the
    /// position.
    fn from_lua(ctx: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>>;

    /// Reads an argument that may be missing (`None`: fewer values than arguments). By
    /// default a missing value reads as `nil`, and a type error says `no value`.
    fn from_lua_arg(ctx: Context<'gc>, value: Option<Value<'gc>>) -> Result<Self, Error<'gc>> {
        match value {
            Some(v) => Self::from_lua(ctx, v),
            None => Self::from_lua(ctx, Value::Nil).map_err(|e| match e {
                Error::TypeError { arg, expected, .. } => Error::TypeError {
                    arg,
                    expected,
                    got: None,
                },
                other => other,
            }),
        }
    }
}

/// A Rust value that becomes a list of Lua values (results of a host function, arguments of
/// a call): a single [`IntoLua`] value, `()`, a tuple, or a [`Variadic`].
pub trait IntoLuaMulti<'gc> {
    /// Appends the values to `out`.
    fn push_into(self, ctx: Context<'gc>, out: &mut Vec<Value<'gc>>) -> Result<(), Error<'gc>>;

    /// The values as a new vector.
    fn into_lua_multi(self, ctx: Context<'gc>) -> Result<Vec<Value<'gc>>, Error<'gc>>
    where
        Self: Sized,
    {
        let mut out = Vec::new();
        self.push_into(ctx, &mut out)?;
        Ok(out)
    }
}

/// A Rust value read from a list of Lua values (arguments of a host function, results of a
/// call): a single [`FromLua`] value (the first), `()`, a tuple (positional; the last element
/// may be a [`Variadic`] taking the rest), or a [`Variadic`].
pub trait FromLuaMulti<'gc>: Sized {
    /// Reads `values`; errors name positions from `first_arg` (1 for a whole argument list).
    fn from_lua_multi(
        ctx: Context<'gc>,
        values: &[Value<'gc>],
        first_arg: usize,
    ) -> Result<Self, Error<'gc>>;
}

/// Any number of values of one type: the rest of an argument list, or several results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variadic<T>(pub Vec<T>);

impl<T> std::ops::Deref for Variadic<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Variadic<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T> FromIterator<T> for Variadic<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Variadic(iter.into_iter().collect())
    }
}

/// A Lua string as raw bytes (Lua strings need not be UTF-8; `String` refuses what is not).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub Vec<u8>);

/// A Lua function value: a Lua closure or a Rust callback.
#[derive(Copy, Clone)]
pub enum Function<'gc> {
    /// A function compiled from Lua source.
    Lua(LuaClosure<'gc>),
    /// A Rust callback (a standard library function, a host function...).
    Rust(Callback<'gc>),
}

impl<'gc> From<Function<'gc>> for Value<'gc> {
    fn from(f: Function<'gc>) -> Value<'gc> {
        match f {
            Function::Lua(c) => Value::Function(c),
            Function::Rust(c) => Value::Callback(c),
        }
    }
}

/// Sets the position of a conversion error raised by a single-value conversion (arg 0).
fn at_position<'gc>(e: Error<'gc>, arg: usize) -> Error<'gc> {
    match e {
        Error::TypeError {
            arg: 0,
            expected,
            got,
        } => Error::TypeError { arg, expected, got },
        Error::BadArgument { arg: 0, message } => Error::BadArgument { arg, message },
        other => other,
    }
}

fn type_error<'gc>(expected: &str, got: Value<'gc>) -> Error<'gc> {
    Error::type_error(0, expected, Some(got))
}

// ---- single values into Lua ----

impl<'gc> IntoLua<'gc> for Value<'gc> {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(self)
    }
}

impl<'gc> IntoLua<'gc> for bool {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::Boolean(self))
    }
}

macro_rules! int_into_lua {
    ($($t:ty),*) => {$(
        impl<'gc> IntoLua<'gc> for $t {
            fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
                match i64::try_from(self) {
                    Ok(i) => Ok(Value::Integer(i)),
                    Err(_) => Err(Error::runtime(format!(
                        "integer {} does not fit in a Lua integer",
                        self
                    ))),
                }
            }
        }
    )*};
}
int_into_lua!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, i128, u128);

impl<'gc> IntoLua<'gc> for f64 {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::Float(self))
    }
}

impl<'gc> IntoLua<'gc> for f32 {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::Float(self as f64))
    }
}

impl<'gc> IntoLua<'gc> for &str {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::String(ctx.new_string(self.as_bytes())))
    }
}

impl<'gc> IntoLua<'gc> for String {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::String(ctx.new_string(self.as_bytes())))
    }
}

impl<'gc> IntoLua<'gc> for &String {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::String(ctx.new_string(self.as_bytes())))
    }
}

impl<'gc> IntoLua<'gc> for &[u8] {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::String(ctx.new_string(self)))
    }
}

impl<'gc> IntoLua<'gc> for Bytes {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::String(ctx.new_string(&self.0)))
    }
}

impl<'gc> IntoLua<'gc> for LuaString<'gc> {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::String(self))
    }
}

impl<'gc> IntoLua<'gc> for Table<'gc> {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::Table(self))
    }
}

impl<'gc> IntoLua<'gc> for Function<'gc> {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(self.into())
    }
}

impl<'gc> IntoLua<'gc> for LuaClosure<'gc> {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::Function(self))
    }
}

impl<'gc> IntoLua<'gc> for Callback<'gc> {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::Callback(self))
    }
}

impl<'gc> IntoLua<'gc> for Thread<'gc> {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::Thread(self))
    }
}

impl<'gc> IntoLua<'gc> for UserData<'gc> {
    fn into_lua(self, _: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Ok(Value::UserData(self))
    }
}

/// A handle's value (a stale handle is an error).
impl<'gc> IntoLua<'gc> for &StashedValue {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        ctx.fetch(self)
            .map_err(|e| Error::runtime(format!("{e} (a host handle passed to Lua)")))
    }
}

impl<'gc> IntoLua<'gc> for StashedValue {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        (&self).into_lua(ctx)
    }
}

impl<'gc, T: IntoLua<'gc>> IntoLua<'gc> for Option<T> {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        match self {
            Some(v) => v.into_lua(ctx),
            None => Ok(Value::Nil),
        }
    }
}

/// Reserves `entries` slots of a new table against the memory limit (16 bytes a value, 40
/// an entry) before building it.
fn reserve_table<'gc>(
    ctx: Context<'gc>,
    array: usize,
    hash: usize,
) -> Result<Table<'gc>, Error<'gc>> {
    let bytes = array
        .saturating_mul(16)
        .saturating_add(hash.saturating_mul(40));
    ctx.reserve_memory(bytes)?;
    Ok(ctx.new_table_with_capacity(array, hash))
}

/// A raw store into a table the host is building, an invalid key (nil, NaN) reported as
/// `what: reason`.
pub(crate) fn table_set<'gc>(
    ctx: Context<'gc>,
    t: Table<'gc>,
    k: Value<'gc>,
    v: Value<'gc>,
    what: &str,
) -> Result<(), Error<'gc>> {
    t.set(ctx, k, v)
        .map_err(|e| Error::runtime(format!("{what}: {e}")))
}

/// A sequence table `{v1, v2, ...}`.
impl<'gc, T: IntoLua<'gc>> IntoLua<'gc> for Vec<T> {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        note_copy(ctx, 0, self.len())?;
        let t = reserve_table(ctx, self.len(), 0)?;
        for (i, v) in self.into_iter().enumerate() {
            let v = v.into_lua(ctx)?;
            table_set(
                ctx,
                t,
                Value::Integer(i as i64 + 1),
                v,
                "cannot store a converted value",
            )?;
        }
        Ok(Value::Table(t))
    }
}

impl<'gc, T: IntoLua<'gc>, const N: usize> IntoLua<'gc> for [T; N] {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        Vec::from(self).into_lua(ctx)
    }
}

/// A table with the map's entries inserted in key order.
impl<'gc, K: IntoLua<'gc>, V: IntoLua<'gc>> IntoLua<'gc> for BTreeMap<K, V> {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        note_copy(ctx, 0, self.len())?;
        let t = reserve_table(ctx, 0, self.len())?;
        for (k, v) in self {
            let k = k.into_lua(ctx)?;
            let v = v.into_lua(ctx)?;
            table_set(ctx, t, k, v, "cannot store a converted value")?;
        }
        Ok(Value::Table(t))
    }
}

/// A table with the map's entries inserted in key order (never the hash map's own order,
/// which changes from run to run: a table's iteration order is visible to scripts).
impl<'gc, K, V, S> IntoLua<'gc> for HashMap<K, V, S>
where
    K: IntoLua<'gc> + Ord,
    V: IntoLua<'gc>,
{
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        let mut entries: Vec<(K, V)> = self.into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        note_copy(ctx, 0, entries.len())?;
        let t = reserve_table(ctx, 0, entries.len())?;
        for (k, v) in entries {
            let k = k.into_lua(ctx)?;
            let v = v.into_lua(ctx)?;
            table_set(ctx, t, k, v, "cannot store a converted value")?;
        }
        Ok(Value::Table(t))
    }
}

// ---- single values from Lua ----

impl<'gc> FromLua<'gc> for Value<'gc> {
    fn from_lua(_: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        Ok(value)
    }
}

/// Lua truthiness: only `nil` and `false` are false.
impl<'gc> FromLua<'gc> for bool {
    fn from_lua(_: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        Ok(value.is_truthy())
    }
}

/// `luaL_checkinteger`'s rule: an integer, a float with an exact integer value, or a
/// string that converts to one.
fn to_i64<'gc>(value: Value<'gc>) -> Result<i64, Error<'gc>> {
    match value.to_integer() {
        Some(i) => Ok(i),
        None if value.to_number().is_some() => Err(Error::bad_argument(
            0,
            "number has no integer representation",
        )),
        None => Err(type_error("number", value)),
    }
}

macro_rules! int_from_lua {
    ($($t:ty),*) => {$(
        impl<'gc> FromLua<'gc> for $t {
            fn from_lua(_: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
                let i = to_i64(value)?;
                <$t>::try_from(i).map_err(|_| Error::bad_argument(0, "integer out of range"))
            }
        }
    )*};
}
int_from_lua!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, i128, u128);

impl<'gc> FromLua<'gc> for f64 {
    fn from_lua(_: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        value.to_float().ok_or_else(|| type_error("number", value))
    }
}

impl<'gc> FromLua<'gc> for f32 {
    fn from_lua(ctx: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        f64::from_lua(ctx, value).map(|f| f as f32)
    }
}

/// Notes what a conversion copies to the host side (see `host_fn::Tally`): held against the
/// memory limit while a host function's arguments are converted, charged as fuel after.
fn note_copy<'gc>(ctx: Context<'gc>, bytes: usize, items: usize) -> Result<(), Error<'gc>> {
    ctx.state().functions.tally.note(ctx, bytes, items)
}

/// A string, or a number converted like `tostring` (`luaL_checklstring`). A number's text is
/// made as a lookup string (`Context::key`): converting changes no count a script sees.
fn string_value<'gc>(ctx: Context<'gc>, value: Value<'gc>) -> Result<LuaString<'gc>, Error<'gc>> {
    match value {
        Value::String(s) => Ok(s),
        Value::Integer(_) | Value::Float(_) => match ctx.key(&crate::lua::display_plain(value)) {
            Value::String(s) => Ok(s),
            _ => Err(type_error("string", value)),
        },
        _ => Err(type_error("string", value)),
    }
}

/// The bytes of a string (or a number's text), copied to the host.
fn copy_bytes<'gc>(ctx: Context<'gc>, value: Value<'gc>) -> Result<Vec<u8>, Error<'gc>> {
    match value {
        Value::String(s) => {
            note_copy(ctx, s.len(), 1)?;
            Ok(s.as_bytes().to_vec())
        }
        Value::Integer(_) | Value::Float(_) => Ok(crate::lua::display_plain(value).into_bytes()),
        _ => Err(type_error("string", value)),
    }
}

impl<'gc> FromLua<'gc> for LuaString<'gc> {
    fn from_lua(ctx: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        string_value(ctx, value)
    }
}

/// A string (or number) whose bytes are UTF-8; other bytes are an error (use [`Bytes`]).
impl<'gc> FromLua<'gc> for String {
    fn from_lua(ctx: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        String::from_utf8(copy_bytes(ctx, value)?)
            .map_err(|_| Error::bad_argument(0, "string is not valid UTF-8"))
    }
}

impl<'gc> FromLua<'gc> for Bytes {
    fn from_lua(ctx: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        Ok(Bytes(copy_bytes(ctx, value)?))
    }
}

impl<'gc> FromLua<'gc> for Table<'gc> {
    fn from_lua(_: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        match value {
            Value::Table(t) => Ok(t),
            _ => Err(type_error("table", value)),
        }
    }
}

impl<'gc> FromLua<'gc> for Function<'gc> {
    fn from_lua(_: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        match value {
            Value::Function(c) => Ok(Function::Lua(c)),
            Value::Callback(c) => Ok(Function::Rust(c)),
            _ => Err(type_error("function", value)),
        }
    }
}

impl<'gc> FromLua<'gc> for Thread<'gc> {
    fn from_lua(_: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        match value {
            Value::Thread(t) => Ok(t),
            _ => Err(type_error("thread", value)),
        }
    }
}

impl<'gc> FromLua<'gc> for UserData<'gc> {
    fn from_lua(_: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        match value {
            Value::UserData(u) => Ok(u),
            _ => Err(type_error("userdata", value)),
        }
    }
}

/// A handle keeping the value alive between `Lua::enter` calls.
impl<'gc> FromLua<'gc> for StashedValue {
    fn from_lua(ctx: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        Ok(ctx.stash(value))
    }
}

impl<'gc, T: FromLua<'gc>> FromLua<'gc> for Option<T> {
    fn from_lua(ctx: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        match value {
            Value::Nil => Ok(None),
            v => T::from_lua(ctx, v).map(Some),
        }
    }

    fn from_lua_arg(ctx: Context<'gc>, value: Option<Value<'gc>>) -> Result<Self, Error<'gc>> {
        Self::from_lua(ctx, value.unwrap_or(Value::Nil))
    }
}

/// An element of a table being converted: its errors say where it was.
fn element<'gc, T: FromLua<'gc>>(
    ctx: Context<'gc>,
    value: Value<'gc>,
    what: impl FnOnce() -> String,
) -> Result<T, Error<'gc>> {
    T::from_lua(ctx, value).map_err(|e| match e {
        Error::TypeError { expected, got, .. } => Error::bad_argument(
            0,
            format!(
                "{} expected at {}, got {}",
                expected,
                what(),
                got.map(|v| ctx.object_type_name(v))
                    .unwrap_or_else(|| "no value".into())
            ),
        ),
        Error::BadArgument { message, .. } => {
            Error::bad_argument(0, format!("{} at {}", message, what()))
        }
        other => other,
    })
}

/// Elements `1..#t` of a table (raw reads; `#t` is the raw border).
impl<'gc, T: FromLua<'gc>> FromLua<'gc> for Vec<T> {
    fn from_lua(ctx: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        let Value::Table(t) = value else {
            return Err(type_error("table", value));
        };
        let n = t.length().max(0);
        let count = usize::try_from(n).unwrap_or(usize::MAX);
        note_copy(ctx, count.saturating_mul(std::mem::size_of::<T>()), count)?;
        let mut out = Vec::with_capacity(count);
        for i in 1..=n {
            out.push(element(ctx, t.get_int(i), || format!("index {i}"))?);
        }
        Ok(out)
    }
}

/// Every entry of a table (raw, in the table's iteration order).
fn entries<'gc, K: FromLua<'gc>, V: FromLua<'gc>>(
    ctx: Context<'gc>,
    value: Value<'gc>,
    mut put: impl FnMut(K, V),
) -> Result<(), Error<'gc>> {
    let Value::Table(t) = value else {
        return Err(type_error("table", value));
    };
    let mut key = Value::Nil;
    while let Some((k, v)) = t
        .next(key)
        .map_err(|_| Error::runtime("table changed while converting it"))?
    {
        note_copy(ctx, std::mem::size_of::<(K, V)>(), 1)?;
        let name = || format!("key {}", crate::lua::display_plain(k));
        let rk = element(ctx, k, || "a key".to_string())?;
        let rv = element(ctx, v, name)?;
        put(rk, rv);
        key = k;
    }
    Ok(())
}

impl<'gc, K: FromLua<'gc> + Ord, V: FromLua<'gc>> FromLua<'gc> for BTreeMap<K, V> {
    fn from_lua(ctx: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        let mut map = BTreeMap::new();
        entries(ctx, value, |k, v| {
            map.insert(k, v);
        })?;
        Ok(map)
    }
}

impl<'gc, K, V, S> FromLua<'gc> for HashMap<K, V, S>
where
    K: FromLua<'gc> + Eq + Hash,
    V: FromLua<'gc>,
    S: BuildHasher + Default,
{
    fn from_lua(ctx: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        let mut map = HashMap::default();
        entries(ctx, value, |k, v| {
            map.insert(k, v);
        })?;
        Ok(map)
    }
}

// ---- lists of values ----

impl<'gc, T: IntoLua<'gc>> IntoLuaMulti<'gc> for T {
    fn push_into(self, ctx: Context<'gc>, out: &mut Vec<Value<'gc>>) -> Result<(), Error<'gc>> {
        out.push(self.into_lua(ctx)?);
        Ok(())
    }
}

impl<'gc> IntoLuaMulti<'gc> for () {
    fn push_into(self, _: Context<'gc>, _: &mut Vec<Value<'gc>>) -> Result<(), Error<'gc>> {
        Ok(())
    }
}

impl<'gc, T: IntoLua<'gc>> IntoLuaMulti<'gc> for Variadic<T> {
    fn push_into(self, ctx: Context<'gc>, out: &mut Vec<Value<'gc>>) -> Result<(), Error<'gc>> {
        out.reserve(self.0.len());
        for v in self.0 {
            out.push(v.into_lua(ctx)?);
        }
        Ok(())
    }
}

/// Several results or arguments from a Rust result: `Ok(values)` as they are, `Err(e)` as
/// `nil, e` (the Lua convention for expected failures, like `io.open`).
impl<'gc, T: IntoLuaMulti<'gc>, E: IntoLua<'gc>> IntoLuaMulti<'gc> for Result<T, E> {
    fn push_into(self, ctx: Context<'gc>, out: &mut Vec<Value<'gc>>) -> Result<(), Error<'gc>> {
        match self {
            Ok(v) => v.push_into(ctx, out),
            Err(e) => {
                out.push(Value::Nil);
                out.push(e.into_lua(ctx)?);
                Ok(())
            }
        }
    }
}

impl<'gc, T: FromLua<'gc>> FromLuaMulti<'gc> for T {
    fn from_lua_multi(
        ctx: Context<'gc>,
        values: &[Value<'gc>],
        first_arg: usize,
    ) -> Result<Self, Error<'gc>> {
        T::from_lua_arg(ctx, values.first().copied()).map_err(|e| at_position(e, first_arg))
    }
}

impl<'gc> FromLuaMulti<'gc> for () {
    fn from_lua_multi(_: Context<'gc>, _: &[Value<'gc>], _: usize) -> Result<Self, Error<'gc>> {
        Ok(())
    }
}

impl<'gc, T: FromLua<'gc>> FromLuaMulti<'gc> for Variadic<T> {
    fn from_lua_multi(
        ctx: Context<'gc>,
        values: &[Value<'gc>],
        first_arg: usize,
    ) -> Result<Self, Error<'gc>> {
        note_copy(
            ctx,
            values.len().saturating_mul(std::mem::size_of::<T>()),
            values.len(),
        )?;
        values
            .iter()
            .enumerate()
            .map(|(i, v)| T::from_lua(ctx, *v).map_err(|e| at_position(e, first_arg + i)))
            .collect::<Result<Vec<T>, _>>()
            .map(Variadic)
    }
}

macro_rules! tuple_impls {
    ($($name:ident)+ ; $last:ident) => {
        impl<'gc, $($name: IntoLua<'gc>,)+ $last: IntoLuaMulti<'gc>> IntoLuaMulti<'gc>
            for ($($name,)+ $last,)
        {
            #[allow(non_snake_case)]
            fn push_into(
                self,
                ctx: Context<'gc>,
                out: &mut Vec<Value<'gc>>,
            ) -> Result<(), Error<'gc>> {
                let ($($name,)+ $last,) = self;
                $(out.push($name.into_lua(ctx)?);)+
                $last.push_into(ctx, out)
            }
        }

        impl<'gc, $($name: FromLua<'gc>,)+ $last: FromLuaMulti<'gc>> FromLuaMulti<'gc>
            for ($($name,)+ $last,)
        {
            #[allow(non_snake_case, unused_assignments)]
            fn from_lua_multi(
                ctx: Context<'gc>,
                values: &[Value<'gc>],
                first_arg: usize,
            ) -> Result<Self, Error<'gc>> {
                let mut i = 0usize;
                $(
                    let $name = $name::from_lua_arg(ctx, values.get(i).copied())
                        .map_err(|e| at_position(e, first_arg + i))?;
                    i += 1;
                )+
                let $last = $last::from_lua_multi(ctx, values.get(i..).unwrap_or(&[]), first_arg + i)?;
                Ok(($($name,)+ $last,))
            }
        }
    };
}

impl<'gc, A: IntoLuaMulti<'gc>> IntoLuaMulti<'gc> for (A,) {
    fn push_into(self, ctx: Context<'gc>, out: &mut Vec<Value<'gc>>) -> Result<(), Error<'gc>> {
        self.0.push_into(ctx, out)
    }
}

impl<'gc, A: FromLuaMulti<'gc>> FromLuaMulti<'gc> for (A,) {
    fn from_lua_multi(
        ctx: Context<'gc>,
        values: &[Value<'gc>],
        first_arg: usize,
    ) -> Result<Self, Error<'gc>> {
        A::from_lua_multi(ctx, values, first_arg).map(|a| (a,))
    }
}

tuple_impls!(A ; B);
tuple_impls!(A B ; C);
tuple_impls!(A B C ; D);
tuple_impls!(A B C D ; E);
tuple_impls!(A B C D E ; F);
tuple_impls!(A B C D E F ; G);
tuple_impls!(A B C D E F G ; H);
tuple_impls!(A B C D E F G H ; I);
tuple_impls!(A B C D E F G H I ; J);
tuple_impls!(A B C D E F G H I J ; K);
tuple_impls!(A B C D E F G H I J K ; L);
