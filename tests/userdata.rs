//! Userdata types (`UserDataType`): fields, methods, metamethods, error messages, borrow
//! conflicts, and how typed payloads take part in `snap`/`rollback`, owned snapshots and
//! checksums (Rewindable payloads are journaled; opaque ones are refused by all three).

use std::rc::Rc;

use lunette::{
    CaptureHost, ChecksumHasher, Lua, LuaErrorKind, MetaEvent, Rewindable, UserDataRef,
    UserDataRegistry, UserDataType, Value,
};

#[derive(Clone, Copy, Debug, PartialEq)]
struct Vec2 {
    x: f64,
    y: f64,
}

impl UserDataType for Vec2 {
    const NAME: &'static str = "Vec2";
    fn register(r: &mut UserDataRegistry<Self>) {
        r.rewindable();
        r.field_get("x", |_, v| Ok(v.x));
        r.field_get("y", |_, v| Ok(v.y));
        r.field_set("x", |_, v, x: f64| {
            v.x = x;
            Ok(())
        });
        r.field_set("y", |_, v, y: f64| {
            v.y = y;
            Ok(())
        });
        r.field_get("kind", |_, _| Ok("vector"));
        r.method("len", |_, v, ()| Ok((v.x * v.x + v.y * v.y).sqrt()));
        r.method("unpack", |_, v, ()| Ok((v.x, v.y)));
        r.method_mut("scale", |_, v, k: f64| {
            v.x *= k;
            v.y *= k;
            Ok(())
        });
        // Borrows its argument while `self` is borrowed mutably: `a:add_to(a)` conflicts.
        r.method_mut("add_to", |_, v, other: UserDataRef<Vec2>| {
            let o = other.borrow()?;
            v.x += o.x;
            v.y += o.y;
            Ok(())
        });
        r.meta(MetaEvent::Add, |_, (a, b): (Vec2, Vec2)| {
            Ok(Vec2 {
                x: a.x + b.x,
                y: a.y + b.y,
            })
        });
        r.meta(MetaEvent::Sub, |_, (a, b): (Vec2, Vec2)| {
            Ok(Vec2 {
                x: a.x - b.x,
                y: a.y - b.y,
            })
        });
        r.meta(MetaEvent::Mul, |_, (a, k): (Vec2, f64)| {
            Ok(Vec2 {
                x: a.x * k,
                y: a.y * k,
            })
        });
        r.meta_method(MetaEvent::Unm, |_, v, ()| Ok(Vec2 { x: -v.x, y: -v.y }));
        r.meta(MetaEvent::Eq, |_, (a, b): (Vec2, Vec2)| Ok(a == b));
        r.meta(MetaEvent::Lt, |_, (a, b): (Vec2, Vec2)| {
            Ok(a.x * a.x + a.y * a.y < b.x * b.x + b.y * b.y)
        });
        r.meta(MetaEvent::Le, |_, (a, b): (Vec2, Vec2)| {
            Ok(a.x * a.x + a.y * a.y <= b.x * b.x + b.y * b.y)
        });
        r.meta_method(MetaEvent::ToString, |_, v, ()| {
            Ok(format!("Vec2({}, {})", v.x, v.y))
        });
        r.meta_method(MetaEvent::Len, |_, _, ()| Ok(2));
        r.meta_method(MetaEvent::Call, |_, v, k: f64| Ok(v.x * k + v.y));
        // Operands of any type: the raw calling convention.
        r.raw_meta(MetaEvent::Concat, |ctx, exec| {
            let show = |v: Value| match v {
                Value::UserData(u) => u
                    .borrow::<Vec2>()
                    .map(|v| format!("<{},{}>", v.x, v.y))
                    .unwrap_or_else(|_| "?".into()),
                other => lunette::vm::display_plain(other),
            };
            let text = exec
                .values()
                .iter()
                .take(2)
                .map(|v| show(*v))
                .collect::<String>();
            exec.set_results_from(ctx, text)?;
            Ok(lunette::Action::Return)
        });
        r.meta_method_mut(MetaEvent::Close, |_, v, ()| {
            v.x = 0.0;
            v.y = 0.0;
            Ok(())
        });
        // Fallback for names that are neither fields nor methods.
        r.meta_method(MetaEvent::Index, |_, _, key: String| {
            Ok(format!("no such member: {key}"))
        });
        r.function("new", |_, (x, y): (f64, f64)| Ok(Vec2 { x, y }));
        r.function("zero", |_, ()| Ok(Vec2 { x: 0.0, y: 0.0 }));
    }
}

impl Rewindable for Vec2 {
    fn checksum(&self, h: &mut ChecksumHasher) {
        h.write_f64(self.x);
        h.write_f64(self.y);
    }
}

/// Opaque: not `Rewindable` (holds host state that cannot be copied).
struct Socket {
    _conn: Rc<()>,
    sent: u32,
}

impl UserDataType for Socket {
    const NAME: &'static str = "Socket";
    fn register(r: &mut UserDataRegistry<Self>) {
        r.method_mut("send", |_, s, _msg: String| {
            s.sent += 1;
            Ok(s.sent)
        });
    }
}

/// Methods only: `__index` is the methods table itself (no dispatch function).
#[derive(Clone, Hash)]
struct Counter(i64);

impl UserDataType for Counter {
    const NAME: &'static str = "Counter";
    fn register(r: &mut UserDataRegistry<Self>) {
        r.rewindable();
        r.method_mut("inc", |_, c, by: Option<i64>| {
            c.0 += by.unwrap_or(1);
            Ok(c.0)
        });
        r.method("get", |_, c, ()| Ok(c.0));
    }
}

impl Rewindable for Counter {
    fn checksum(&self, h: &mut ChecksumHasher) {
        h.hash(self);
    }
}

fn vm() -> Lua {
    let mut lua = Lua::with_host(Rc::new(CaptureHost::new()));
    let statics = lua.userdata_statics::<Vec2>().unwrap();
    lua.set_global("Vec2", &statics).unwrap();
    lua
}

fn err(lua: &mut Lua, src: &str) -> String {
    lua.exec(src).unwrap_err().message
}

#[test]
fn fields_methods_and_metamethods_from_lua() {
    let mut lua = vm();
    let r: (f64, f64, f64, String) = lua
        .eval(
            "(function()
                local v = Vec2.new(3, 4)
                v.x = v.x + 1       -- 4
                v:scale(2)          -- 8, 8
                local w = v + Vec2.new(1, 2) - Vec2.zero()
                return w.x, w.y, v:len(), v.kind
            end)()",
        )
        .unwrap();
    assert_eq!(r.0, 9.0);
    assert_eq!(r.1, 10.0);
    assert!((r.2 - 128f64.sqrt()).abs() < 1e-12);
    assert_eq!(r.3, "vector");

    let checks: (String, bool, bool, bool, bool, i64, f64, String, f64, f64) = lua
        .eval(
            "(function()
                local a, b = Vec2.new(1, 2), Vec2.new(1, 2)
                local c = -a * 3
                return tostring(c), a == b, a ~= Vec2.new(2, 1), a < c, a <= b, #a, a(10),
                    a .. '!' .. b, c:unpack()
            end)()",
        )
        .unwrap();
    assert_eq!(checks.0, "Vec2(-3, -6)");
    assert!(checks.1 && checks.2 && checks.3 && checks.4);
    assert_eq!(checks.5, 2);
    assert_eq!(checks.6, 12.0);
    assert_eq!(checks.7, "<1,2>!<1,2>");
    assert_eq!((checks.8, checks.9), (-3.0, -6.0));

    // `__close` borrows mutably; the `__index` fallback answers unknown names.
    let r: (f64, String) = lua
        .eval(
            "(function()
                local v = Vec2.new(5, 5)
                do local c <close> = v end
                return v.x, v.whatever
            end)()",
        )
        .unwrap();
    assert_eq!(r, (0.0, "no such member: whatever".into()));

    // `__name` makes `type` stay 'userdata' and messages say Vec2.
    let t: (String, String) = lua
        .eval("type(Vec2.new(0, 0)), getmetatable(Vec2.new(0, 0)).__name")
        .unwrap();
    assert_eq!(t, ("userdata".into(), "Vec2".into()));
}

#[test]
fn one_metatable_per_type_and_values_convert_both_ways() {
    let mut lua = vm();
    let same: bool = lua
        .eval("getmetatable(Vec2.new(1, 1)) == getmetatable(Vec2.zero())")
        .unwrap();
    assert!(same);
    // Rust values become userdata; Clone types read back by value.
    let v = lua.create_userdata(Vec2 { x: 1.5, y: 2.5 }).unwrap();
    lua.set_global("v", &v).unwrap();
    let back: Vec2 = lua.eval("v * 2").unwrap();
    assert_eq!(back, Vec2 { x: 3.0, y: 5.0 });
    let same: bool = lua
        .eval("getmetatable(v) == getmetatable(Vec2.zero())")
        .unwrap();
    assert!(same);
    // A methods-only type uses its methods table as `__index`.
    let c = lua.create_userdata(Counter(1)).unwrap();
    lua.set_global("c", &c).unwrap();
    let n: (i64, i64, bool) = lua
        .eval("c:inc(), c:inc(10), getmetatable(c).__index.inc == c.inc")
        .unwrap();
    assert_eq!(n, (2, 12, true));
    // The host reads and writes payloads through `UserData::borrow` / `borrow_mut`.
    lua.enter(|ctx| {
        let Value::UserData(u) = ctx.fetch(&c).unwrap() else {
            panic!("not a userdata")
        };
        assert!(u.is::<Counter>() && !u.is::<Vec2>());
        u.borrow_mut::<Counter>(ctx).unwrap().0 = 100;
        assert_eq!(u.borrow::<Counter>().unwrap().0, 100);
        assert!(u.borrow::<Vec2>().is_err());
    });
    assert_eq!(lua.eval::<i64>("c:get()").unwrap(), 100);
}

#[test]
fn error_messages_name_the_type_like_puc() {
    let mut lua = vm();
    lua.exec("v = Vec2.new(1, 2); s = nil").unwrap();
    let sock = lua
        .create_userdata(Socket {
            _conn: Rc::new(()),
            sent: 0,
        })
        .unwrap();
    lua.set_global("sock", &sock).unwrap();
    // Standard VM messages use `__name` (PUC 5.4 says `FILE*` for io handles the same way).
    for (src, want) in [
        (
            "local h = sock; h.x = 1",
            "attempt to index a Socket value (local 'h')",
        ),
        (
            "local h = sock; return h + 1",
            "attempt to perform arithmetic on a Socket value (local 'h')",
        ),
        (
            "local h = sock; return #h",
            "attempt to get length of a Socket value (local 'h')",
        ),
        ("return sock < sock", "attempt to compare two Socket values"),
        (
            "local h = sock; return h()",
            "attempt to call a Socket value (local 'h')",
        ),
        (
            "return v.len({})",
            "bad argument #1 to 'len' (Vec2 expected, got table)",
        ),
        (
            "local t = {len = v.len}; return t:len()",
            "calling 'len' on bad self (Vec2 expected, got table)",
        ),
        (
            "return v.len(sock)",
            "bad argument #1 to 'len' (Vec2 expected, got Socket)",
        ),
        (
            "return v:scale('big')",
            "bad argument #1 to 'scale' (number expected, got string)",
        ),
        (
            "v.x = 'a'",
            "bad value for field 'x' of Vec2 (number expected, got string)",
        ),
        ("v.kind = 1", "Vec2 has no writable field 'kind'"),
        ("v.len = 1", "cannot assign to method 'len' of Vec2"),
        // Metamethods are named like PUC names them (`funcnamefromcode`).
        (
            "return v + 1",
            "bad argument #2 to 'add' (Vec2 expected, got number)",
        ),
        (
            "return v * v",
            "bad argument #2 to 'mul' (number expected, got Vec2)",
        ),
    ] {
        let m = err(&mut lua, src);
        assert!(m.ends_with(want), "{src}: got {m:?}, want ...{want:?}");
    }
}

#[test]
fn borrow_conflicts_are_lua_errors() {
    let mut lua = vm();
    let m = err(&mut lua, "local a = Vec2.new(1, 2); a:add_to(a)");
    assert!(
        m.ends_with("userdata 'Vec2' is already borrowed"),
        "got {m:?}"
    );
    // Catchable, and nothing was changed; a different object is fine.
    let r: (bool, f64, f64) = lua
        .eval(
            "(function()
                local a, b = Vec2.new(1, 2), Vec2.new(10, 20)
                local ok = pcall(a.add_to, a, a)
                a:add_to(b)
                return ok, a.x, a.y
            end)()",
        )
        .unwrap();
    assert_eq!(r, (false, 11.0, 22.0));
}

#[test]
fn mutable_payloads_roll_back_with_the_ring() {
    let mut lua = vm();
    lua.exec("v = Vec2.new(1, 2); c = nil").unwrap();
    let c = lua.create_userdata(Counter(0)).unwrap();
    lua.set_global("c", &c).unwrap();
    lua.snap().unwrap();
    let sum0 = lua.checksum().unwrap();
    // Every way of mutating: field setter, method_mut, `__close`, host borrow_mut.
    lua.exec("v.x = 100; v:scale(2); c:inc(5)").unwrap();
    let sum1 = lua.checksum().unwrap();
    assert_ne!(sum0, sum1, "the checksum covers the payloads");
    lua.snap().unwrap();
    lua.exec("v:scale(3); do local k <close> = v end; c:inc()")
        .unwrap();
    lua.enter(|ctx| {
        let Value::UserData(u) = ctx.fetch(&c).unwrap() else {
            panic!()
        };
        u.borrow_mut::<Counter>(ctx).unwrap().0 += 1000;
    });
    assert_eq!(lua.eval::<i64>("c:get()").unwrap(), 1006);

    lua.rollback(1).unwrap();
    assert_eq!(lua.eval::<(f64, f64)>("v.x, v.y").unwrap(), (200.0, 4.0));
    assert_eq!(lua.eval::<i64>("c:get()").unwrap(), 5);
    assert_eq!(lua.checksum().unwrap(), sum1);

    // Mutate again after the rollback: saved again in the (new) epoch.
    lua.exec("v:scale(0); c:inc(-5)").unwrap();
    lua.rollback(1).unwrap();
    assert_eq!(lua.eval::<(f64, f64)>("v.x, v.y").unwrap(), (200.0, 4.0));
    lua.rollback(2).unwrap();
    assert_eq!(lua.eval::<(f64, f64)>("v.x, v.y").unwrap(), (1.0, 2.0));
    assert_eq!(lua.eval::<i64>("c:get()").unwrap(), 0);
    assert_eq!(lua.checksum().unwrap(), sum0);

    // A userdata created after the snapshot simply disappears with the rollback; the type's
    // metatable, created before, stays the same object.
    lua.snap().unwrap();
    lua.exec("w = Vec2.new(7, 7); w.x = 8").unwrap();
    lua.rollback(1).unwrap();
    assert!(lua.eval::<bool>("w == nil").unwrap());
    assert_eq!(lua.checksum().unwrap(), sum0);
}

#[test]
fn owned_snapshots_restore_into_a_vm_that_registered_the_type() {
    let mut lua = vm();
    lua.exec("v = Vec2.new(3, 4); v:scale(2)").unwrap();
    let c = lua.create_userdata(Counter(41)).unwrap();
    lua.set_global("c", &c).unwrap();
    let snap = lua.snapshot().unwrap();
    let sum = lua.checksum().unwrap();
    assert_eq!(snap.checksum(), sum);

    // A fresh VM that registered the types: values, methods and metamethods work.
    let mut other = Lua::with_host(Rc::new(CaptureHost::new()));
    other.register_userdata_type::<Vec2>().unwrap();
    other.register_userdata_type::<Counter>().unwrap();
    let before = other.checksum().unwrap();
    other.register_userdata_type::<Vec2>().unwrap();
    assert_eq!(
        other.checksum().unwrap(),
        before,
        "registering changes no VM state"
    );
    other.restore(&snap).unwrap();
    assert_eq!(other.checksum().unwrap(), sum);
    let r: (f64, String, i64) = other.eval("v:len(), tostring(v + v), c:inc()").unwrap();
    assert_eq!(r, (10.0, "Vec2(12, 16)".into(), 42));
    // The restored payload is a copy: the source is unchanged.
    assert_eq!(lua.eval::<i64>("c:get()").unwrap(), 41);
    // ... and it is journaled in its new VM too.
    other.snap().unwrap();
    other.exec("v.y = -1").unwrap();
    other.rollback(1).unwrap();
    assert_eq!(other.eval::<f64>("v.y").unwrap(), 8.0);

    // A VM that did not register Vec2 refuses the restore, naming the type, and is unchanged.
    let mut bare = Lua::with_host(Rc::new(CaptureHost::new()));
    bare.register_userdata_type::<Counter>().unwrap();
    bare.exec("x = 1").unwrap();
    let e = bare.restore(&snap).unwrap_err().to_string();
    assert!(
        e.contains("'Vec2'") && e.contains("not registered"),
        "got {e:?}"
    );
    assert_eq!(bare.eval::<i64>("x").unwrap(), 1);
}

#[test]
fn opaque_userdata_is_refused_by_snap_snapshot_and_checksum() {
    let mut lua = vm();
    lua.snap().unwrap();
    let sock = lua
        .create_userdata(Socket {
            _conn: Rc::new(()),
            sent: 0,
        })
        .unwrap();
    lua.set_global("sock", &sock).unwrap();
    assert_eq!(lua.eval::<u32>("sock:send('hi')").unwrap(), 1);
    let errors = [
        lua.snap().unwrap_err().to_string(),
        lua.snapshot().err().unwrap().to_string(),
        lua.checksum().unwrap_err().to_string(),
    ];
    for e in &errors {
        assert!(e.contains("userdata 'Socket' is opaque"), "got {e:?}");
    }
    assert_eq!(errors[0], errors[1]);
    assert_eq!(errors[1], errors[2]);
    // Unreachable again (global cleared, host handle dropped): all three accept.
    lua.exec("sock = nil").unwrap();
    drop(sock);
    lua.snap().unwrap();
    lua.snapshot().unwrap();
    lua.checksum().unwrap();

    // The untyped `UserData::new` (opaque) is refused the same way by all three.
    lua.enter(|ctx| {
        let u = lunette::UserData::new(ctx, 5u8);
        ctx.globals()
            .set(ctx, ctx.str("raw"), Value::UserData(u))
            .unwrap();
    });
    let e1 = lua.snap().unwrap_err();
    let e2 = lua.checksum().unwrap_err();
    assert_eq!(e1, e2);
    assert!(e1.to_string().contains("u8"), "{e1}");
}

#[test]
fn registering_a_name_twice_for_another_type_is_an_error() {
    #[derive(Clone)]
    struct Fake;
    impl UserDataType for Fake {
        const NAME: &'static str = "Vec2";
        fn register(_: &mut UserDataRegistry<Self>) {}
    }
    let mut lua = vm();
    let e = lua.create_userdata(Fake).err().unwrap();
    assert_eq!(e.kind, LuaErrorKind::Host);
    assert!(e.message.contains("already registered"), "{e}");
}

/// A type with a `__gc` metamethod (counts finalized values in the host's app data).
#[derive(Clone)]
struct Token;

impl UserDataType for Token {
    const NAME: &'static str = "Token";
    fn register(r: &mut UserDataRegistry<Self>) {
        r.rewindable();
        r.meta_method(MetaEvent::Gc, |ctx, _, ()| {
            if let Some(n) = ctx.app_data::<std::cell::Cell<u32>>() {
                n.set(n.get() + 1);
            }
            Ok(())
        });
    }
}

impl Rewindable for Token {
    fn checksum(&self, _: &mut ChecksumHasher) {}
}

#[test]
fn gc_metamethods_run_as_finalizers() {
    let mut lua = vm();
    lua.set_app_data(std::cell::Cell::new(0u32));
    let t = lua.create_userdata(Token).unwrap();
    lua.set_global("t", &t).unwrap();
    drop(t);
    lua.exec("t = nil").unwrap();
    lua.gc_collect();
    lua.exec("local x = 1").unwrap(); // finalizers run at the start of the next step
    assert_eq!(lua.app_data::<std::cell::Cell<u32>>().unwrap().get(), 1);
}

/// Arguments by handle (`UserDataRef`) in free functions, mutated through a journaled borrow.
#[test]
fn userdata_ref_arguments_borrow_and_roll_back() {
    let mut lua = vm();
    let dot = lua.create_function(
        "dot",
        |_, (a, b): (UserDataRef<Vec2>, UserDataRef<Vec2>)| {
            let (a, b) = (a.borrow()?, b.borrow()?);
            Ok(a.x * b.x + a.y * b.y)
        },
    );
    lua.set_global("dot", &dot).unwrap();
    let reset = lua.create_function("reset", |ctx, v: UserDataRef<Vec2>| {
        *v.borrow_mut(ctx)? = Vec2 { x: 0.0, y: 0.0 };
        Ok(())
    });
    lua.set_global("reset", &reset).unwrap();
    lua.exec("v = Vec2.new(1, 2)").unwrap();
    assert_eq!(lua.eval::<f64>("dot(v, v)").unwrap(), 5.0);
    let m = err(&mut lua, "dot(v, {})");
    assert!(
        m.ends_with("bad argument #2 to 'dot' (Vec2 expected, got table)"),
        "{m}"
    );
    lua.snap().unwrap();
    lua.exec("reset(v)").unwrap();
    assert_eq!(lua.eval::<f64>("v.y").unwrap(), 0.0);
    lua.rollback(1).unwrap();
    assert_eq!(lua.eval::<f64>("v.y").unwrap(), 2.0);
}

/// Types that are not userdata types keep their own conversions (the blanket impls for
/// userdata types leave room for them).
#[derive(Clone, Debug, PartialEq)]
struct Rgb(u8, u8, u8);

impl<'gc> lunette::IntoLua<'gc> for Rgb {
    fn into_lua(self, ctx: lunette::Context<'gc>) -> Result<Value<'gc>, lunette::Error<'gc>> {
        Ok(ctx.str(&format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)))
    }
}

impl<'gc> lunette::FromLua<'gc> for Rgb {
    fn from_lua(ctx: lunette::Context<'gc>, v: Value<'gc>) -> Result<Self, lunette::Error<'gc>> {
        let s = <String as lunette::FromLua>::from_lua(ctx, v)?;
        let byte = |i: usize| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16);
        match (byte(1), byte(3), byte(5)) {
            (Ok(r), Ok(g), Ok(b)) => Ok(Rgb(r, g, b)),
            _ => Err(lunette::Error::bad_argument(0, "bad color")),
        }
    }
}

#[test]
fn own_conversions_coexist_with_userdata_types() {
    let mut lua = vm();
    let f = lua.create_function("brighter", |_, c: Rgb| {
        Ok(Rgb(c.0.saturating_add(16), c.1, c.2))
    });
    lua.set_global("brighter", &f).unwrap();
    assert_eq!(
        lua.eval::<Rgb>("brighter('#102030')").unwrap(),
        Rgb(0x20, 0x20, 0x30)
    );
}

/// A dictionary-like type: every name that is not a method goes to the `__index` /
/// `__newindex` fallbacks (mutable, journaled).
#[derive(Clone, Default)]
struct Bag(std::collections::BTreeMap<String, f64>);

impl UserDataType for Bag {
    const NAME: &'static str = "Bag";
    fn register(r: &mut UserDataRegistry<Self>) {
        r.rewindable();
        r.method("count", |_, b, ()| Ok(b.0.len()));
        r.meta_method(MetaEvent::Index, |_, b, key: String| {
            Ok(b.0.get(&key).copied())
        });
        r.meta_method_mut(
            MetaEvent::NewIndex,
            |_, b, (key, v): (String, Option<f64>)| {
                match v {
                    Some(v) => b.0.insert(key, v),
                    None => b.0.remove(&key),
                };
                Ok(())
            },
        );
    }
}

impl Rewindable for Bag {
    fn checksum(&self, h: &mut ChecksumHasher) {
        for (k, v) in &self.0 {
            h.write_bytes(k.as_bytes());
            h.write_f64(*v);
        }
    }
}

#[test]
fn index_and_newindex_fallbacks_roll_back() {
    let mut lua = vm();
    let bag = lua.create_userdata(Bag::default()).unwrap();
    lua.set_global("bag", &bag).unwrap();
    lua.exec("bag.gold = 10; bag.wood = 3").unwrap();
    let r: (f64, Option<f64>, usize) = lua.eval("bag.gold, bag.stone, bag:count()").unwrap();
    assert_eq!(r, (10.0, None, 2));
    lua.snap().unwrap();
    let sum = lua.checksum().unwrap();
    lua.exec("bag.gold = bag.gold - 7; bag.wood = nil; bag.iron = 1")
        .unwrap();
    assert_ne!(lua.checksum().unwrap(), sum);
    assert!(lua.snapshots_size_bytes() > 0);
    lua.rollback(1).unwrap();
    let r: (f64, f64, Option<f64>, usize) = lua
        .eval("bag.gold, bag.wood, bag.iron, bag:count()")
        .unwrap();
    assert_eq!(r, (10.0, 3.0, None, 2));
    assert_eq!(lua.checksum().unwrap(), sum);
    let m = err(&mut lua, "bag.x = 'lots'");
    assert!(
        m.ends_with("bad argument #3 to 'newindex' (number expected, got string)"),
        "{m}"
    );
}

#[test]
fn tostring_without_metamethod_uses_the_type_name() {
    let mut lua = vm();
    let sock = lua
        .create_userdata(Socket {
            _conn: Rc::new(()),
            sent: 0,
        })
        .unwrap();
    lua.set_global("sock", &sock).unwrap();
    // Like PUC (`FILE*: 0x...` for io handles without `__tostring`).
    let s: String = lua.eval("tostring(sock)").unwrap();
    assert!(s.starts_with("Socket: "), "{s}");
}

/// A method and a static function of the same name are two functions (methods, statics and
/// metamethods are registered in separate namespaces: `Meter:len`, `Meter.len`).
#[test]
fn methods_and_statics_of_the_same_name_are_distinct() {
    #[derive(Clone)]
    struct Meter(f64);
    impl UserDataType for Meter {
        const NAME: &'static str = "Meter";
        fn register(r: &mut UserDataRegistry<Self>) {
            r.method("len", |_, m, ()| Ok(m.0));
            r.function("len", |_, x: f64| Ok(x * 2.0));
            r.function("new", |_, x: f64| Ok(Meter(x)));
        }
    }
    let mut lua = Lua::with_host(Rc::new(CaptureHost::new()));
    let statics = lua.userdata_statics::<Meter>().unwrap();
    lua.set_global("Meter", &statics).unwrap();
    let (method, function): (f64, f64) = lua.eval("Meter.new(3):len(), Meter.len(4)").unwrap();
    assert_eq!((method, function), (3.0, 8.0));
}
