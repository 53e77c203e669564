//! Argument checking helpers with PUC's messages.

use lunette_vm::{display_plain, Context, Error, Exec, LuaString, Table, Value};

pub(crate) fn check_table<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<Table<'gc>, Error<'gc>> {
    match exec.get(i) {
        Some(Value::Table(t)) => Ok(t),
        other => Err(Error::type_error(i + 1, "table", other)),
    }
}

pub(crate) fn check_any<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<Value<'gc>, Error<'gc>> {
    exec.get(i)
        .ok_or_else(|| Error::bad_argument(i + 1, "value expected"))
}

pub(crate) fn check_integer<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<i64, Error<'gc>> {
    let v = exec.get(i);
    match v {
        Some(Value::Integer(n)) => Ok(n),
        Some(v @ (Value::Float(_) | Value::String(_))) => match v.to_integer() {
            Some(n) => Ok(n),
            None if v.to_number().is_some() => Err(Error::bad_argument(
                i + 1,
                "number has no integer representation",
            )),
            None => Err(Error::type_error(i + 1, "number", Some(v))),
        },
        other => Err(Error::type_error(i + 1, "number", other)),
    }
}

pub(crate) fn opt_integer<'gc>(
    exec: &Exec<'gc, '_>,
    i: usize,
    default: i64,
) -> Result<i64, Error<'gc>> {
    match exec.get(i) {
        None | Some(Value::Nil) => Ok(default),
        _ => check_integer(exec, i),
    }
}

/// A string argument; numbers are converted like `luaL_checklstring`.
pub(crate) fn check_string<'gc>(
    ctx: Context<'gc>,
    exec: &Exec<'gc, '_>,
    i: usize,
) -> Result<LuaString<'gc>, Error<'gc>> {
    match exec.get(i) {
        Some(Value::String(s)) => Ok(s),
        Some(v @ (Value::Integer(_) | Value::Float(_))) => {
            Ok(ctx.new_string(display_plain(v).as_bytes()))
        }
        other => Err(Error::type_error(i + 1, "string", other)),
    }
}

pub(crate) fn opt_string<'gc>(
    ctx: Context<'gc>,
    exec: &Exec<'gc, '_>,
    i: usize,
) -> Result<Option<LuaString<'gc>>, Error<'gc>> {
    match exec.get(i) {
        None | Some(Value::Nil) => Ok(None),
        _ => check_string(ctx, exec, i).map(Some),
    }
}

/// An error raised by the VM on behalf of a builtin carries no position (PUC's
/// `luaG_runerror` inside a C function), unlike `luaL_error`-style messages.
pub(crate) fn without_position<'gc>(ctx: Context<'gc>, e: Error<'gc>) -> Error<'gc> {
    match e {
        Error::Runtime(msg) => Error::Value(ctx.str(&msg)),
        other => other,
    }
}
