//! The `Value` type: a 16-byte `Copy` tagged union of every Lua type.

use std::fmt;

use gc_arena::{Collect, Gc};

use crate::function::{Callback, LuaClosure};
use crate::number;
use crate::string::LuaString;
use crate::table::Table;
use crate::thread::Thread;
use crate::userdata::UserData;

/// A Lua value inside the arena (lifetime `'gc`): plain data or a handle to a collected object.
/// Copying a `Value` copies the handle, never the object. To keep a value across
/// [`Lua::enter`](crate::Lua::enter) calls, stash it ([`Context::stash`](crate::Context::stash)).
#[derive(Copy, Clone, Collect, Default)]
#[collect(no_drop)]
pub enum Value<'gc> {
    /// `nil`, the default.
    #[default]
    Nil,
    /// `true` or `false`.
    Boolean(bool),
    /// A 64-bit integer (Lua 5.4's integer subtype; arithmetic wraps).
    Integer(i64),
    /// A double (Lua 5.4's float subtype). `1` and `1.0` are different values but equal keys.
    Float(f64),
    /// An immutable byte string.
    String(LuaString<'gc>),
    /// A table.
    Table(Table<'gc>),
    /// A Lua function (a closure over a compiled prototype).
    Function(LuaClosure<'gc>),
    /// A Rust function (a named callback, see [`Callback`]). Scripts see `function`.
    Callback(Callback<'gc>),
    /// A coroutine.
    Thread(Thread<'gc>),
    /// A Rust value owned by the VM (full userdata; light userdata does not exist here).
    UserData(UserData<'gc>),
}

/// The basic type of a value, as `type()` names it.
#[derive(Debug, Copy, Clone, PartialEq, Eq)]
pub enum ValueType {
    /// `"nil"`.
    Nil,
    /// `"boolean"`.
    Boolean,
    /// `"number"`: integers and floats.
    Number,
    /// `"string"`.
    String,
    /// `"table"`.
    Table,
    /// `"function"`: Lua functions and Rust callbacks.
    Function,
    /// `"thread"`.
    Thread,
    /// `"userdata"`.
    UserData,
}

impl ValueType {
    /// The name `type()` returns.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Nil => "nil",
            ValueType::Boolean => "boolean",
            ValueType::Number => "number",
            ValueType::String => "string",
            ValueType::Table => "table",
            ValueType::Function => "function",
            ValueType::Thread => "thread",
            ValueType::UserData => "userdata",
        }
    }
}

impl<'gc> Value<'gc> {
    /// The value's basic type.
    #[inline]
    pub fn value_type(self) -> ValueType {
        match self {
            Value::Nil => ValueType::Nil,
            Value::Boolean(_) => ValueType::Boolean,
            Value::Integer(_) | Value::Float(_) => ValueType::Number,
            Value::String(_) => ValueType::String,
            Value::Table(_) => ValueType::Table,
            Value::Function(_) | Value::Callback(_) => ValueType::Function,
            Value::Thread(_) => ValueType::Thread,
            Value::UserData(_) => ValueType::UserData,
        }
    }

    /// The name `type()` returns for this value (no `__name` lookup).
    pub fn type_name(self) -> &'static str {
        self.value_type().name()
    }

    /// Whether the value is `nil`.
    #[inline]
    pub fn is_nil(self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Lua truthiness: everything but `nil` and `false` is true.
    #[inline]
    pub fn is_truthy(self) -> bool {
        !matches!(self, Value::Nil | Value::Boolean(false))
    }

    /// `nil` or `false`: the opposite of [`is_truthy`](Self::is_truthy).
    #[inline]
    pub fn is_falsy(self) -> bool {
        matches!(self, Value::Nil | Value::Boolean(false))
    }

    /// Whether the value is callable without a metamethod (a Lua function or a callback).
    pub fn is_function(self) -> bool {
        matches!(self, Value::Function(_) | Value::Callback(_))
    }

    /// Raw equality (no `__eq`): numbers by mathematical value, strings by content, other
    /// objects by identity.
    pub fn raw_eq(self, other: Value<'gc>) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Boolean(a), Value::Boolean(b)) => a == b,
            (Value::Integer(a), Value::Integer(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Integer(a), Value::Float(b)) | (Value::Float(b), Value::Integer(a)) => {
                number::int_eq_float(a, b)
            }
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Table(a), Value::Table(b)) => Gc::ptr_eq(a.0, b.0),
            (Value::Function(a), Value::Function(b)) => Gc::ptr_eq(a.0, b.0),
            (Value::Callback(a), Value::Callback(b)) => Gc::ptr_eq(a.0, b.0),
            (Value::Thread(a), Value::Thread(b)) => Gc::ptr_eq(a.0, b.0),
            (Value::UserData(a), Value::UserData(b)) => Gc::ptr_eq(a.0, b.0),
            _ => false,
        }
    }

    /// Numeric value with string coercion (`"10"` → 10), as arithmetic uses it.
    pub fn to_number(self) -> Option<Value<'gc>> {
        match self {
            Value::Integer(_) | Value::Float(_) => Some(self),
            Value::String(s) => number::parse_number(s.as_bytes()).map(|n| match n {
                number::Number::Int(i) => Value::Integer(i),
                number::Number::Float(f) => Value::Float(f),
            }),
            _ => None,
        }
    }

    /// Float value with string coercion.
    pub fn to_float(self) -> Option<f64> {
        match self.to_number()? {
            Value::Integer(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// Integer value with string coercion; floats must have an exact integer value.
    pub fn to_integer(self) -> Option<i64> {
        match self.to_number()? {
            Value::Integer(i) => Some(i),
            Value::Float(f) => number::float_to_int(f),
            _ => None,
        }
    }

    /// Integer value without string coercion (for table keys, `for` loops...).
    pub fn as_integer_strict(self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(i),
            Value::Float(f) => number::float_to_int(f),
            _ => None,
        }
    }

    /// The string, if the value is one (no number-to-string coercion).
    pub fn as_string(self) -> Option<LuaString<'gc>> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The table, if the value is one.
    pub fn as_table(self) -> Option<Table<'gc>> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The address of the value's heap object (strings included), for identity sets that live
    /// only while the VM is not running (collections, snapshots). Never shown to scripts.
    pub(crate) fn gc_address(self) -> Option<usize> {
        fn a<T>(g: gc_arena::Gc<'_, T>) -> usize {
            gc_arena::Gc::as_ptr(g) as *const () as usize
        }
        match self {
            Value::String(s) => Some(a(s.0)),
            Value::Table(t) => Some(a(t.0)),
            Value::Function(f) => Some(a(f.0)),
            Value::Callback(c) => Some(a(c.0)),
            Value::Thread(t) => Some(a(t.0)),
            Value::UserData(u) => Some(a(u.0)),
            _ => None,
        }
    }

    /// The stable object id of a reference value (tables, functions, threads, userdata),
    /// assigned from the VM's counter at creation and kept by snapshots and restores (objects
    /// the host made carry a host id, with the top bit set, until a script looks at them).
    /// `None` for plain values and strings.
    pub fn object_id(self) -> Option<u64> {
        match self {
            Value::Table(t) => Some(t.id()),
            Value::Function(f) => Some(f.id()),
            Value::Callback(c) => Some(c.id()),
            Value::Thread(t) => Some(t.id()),
            Value::UserData(u) => Some(u.id()),
            _ => None,
        }
    }
}

impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.raw_eq(*other)
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "nil"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(n) => write!(f, "{}", number::format_float(*n)),
            Value::String(s) => write!(f, "{s:?}"),
            other => write!(
                f,
                "{}: 0x{:08x}",
                other.type_name(),
                other.object_id().unwrap_or(0)
            ),
        }
    }
}

/// `From` conversions into the variant holding each type.
macro_rules! value_from {
    ($($ty:ty => $variant:ident,)*) => {
        $(impl<'gc> From<$ty> for Value<'gc> {
            fn from(x: $ty) -> Self {
                Value::$variant(x)
            }
        })*
    };
}

value_from! {
    bool => Boolean,
    i64 => Integer,
    f64 => Float,
    LuaString<'gc> => String,
    Table<'gc> => Table,
    Callback<'gc> => Callback,
    LuaClosure<'gc> => Function,
    Thread<'gc> => Thread,
}

#[cfg(test)]
mod tests {
    #[test]
    fn value_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<super::Value<'static>>(), 16);
    }
}
