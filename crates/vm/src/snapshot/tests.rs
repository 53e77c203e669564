//! The mechanisms that copy VM objects agree (see `object`): an image taken, rebuilt and
//! taken again, or taken before a snap and again after changing every object kind and
//! rolling back, describes the same state — layout, capacities, charges, ids and frames
//! included. A field one mechanism ignored would show up as a difference here (and one
//! that compiles at all has been named by every mechanism's exhaustive destructuring).

use super::image::{Obj, Val};
use super::Snapshot;
use crate::executor::Fuel;
use crate::function::{Action, Outcome, Then, UpValueState};
use crate::lua::Lua;
use crate::state::Context;
use crate::table::FLAG_FROZEN;
use crate::thread::Thread;
use crate::userdata::UserData;
use crate::value::Value;
use crate::{Error, Exec, Resumable, ResumableState, StashedExecutor, StateReader, StateWriter};

/// A resumable state for the tests: calls `f` again and again, counting the calls and
/// keeping what each returned.
#[derive(gc_arena::Collect, Clone)]
#[collect(no_drop)]
struct Tally<'gc> {
    f: Value<'gc>,
    n: i64,
    seen: Vec<Value<'gc>>,
}

impl<'gc> ResumableState<'gc> for Tally<'gc> {
    fn key(&self) -> crate::PermanentKey {
        ("test", "tally")
    }
    fn write(&self, w: &mut StateWriter<'gc, '_>) {
        let Tally { f, n, seen } = self;
        w.value(*f);
        w.int(*n);
        w.count(seen.len());
        for v in seen {
            w.value(*v);
        }
    }
    fn copy(&self) -> Box<dyn ResumableState<'gc> + 'gc> {
        Box::new(self.clone())
    }
    fn size_bytes(&self) -> usize {
        self.seen.len() * 16
    }
    fn resume(
        &mut self,
        _ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        this: Resumable<'gc>,
        _outcome: Outcome<'gc>,
    ) -> Result<Action<'gc>, Error<'gc>> {
        self.n += 1;
        self.seen.push(exec.arg(0));
        exec.replace(&[Value::Integer(self.n)]);
        Ok(Action::Call {
            function: self.f,
            then: Some(Then::resumable("test.tally", this)),
        })
    }
}

fn read_tally<'gc>(r: &mut StateReader<'gc, '_>) -> Option<Box<dyn ResumableState<'gc> + 'gc>> {
    let f = r.value()?;
    let n = r.int()?;
    let count = r.count(1)?;
    let mut seen = Vec::with_capacity(count);
    for _ in 0..count {
        seen.push(r.value()?);
    }
    Some(Box::new(Tally { f, n, seen }))
}

fn describe(lua: &Lua) -> String {
    lua.snapshot().expect("snapshot").0.describe()
}

fn resumed<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    match outcome {
        Outcome::Returned => exec.insert(0, Value::Boolean(true)),
        Outcome::Errored(e) => exec.replace(&[Value::Boolean(false), e]),
    }
    Ok(Action::Return)
}

fn protected<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    if let Outcome::Errored(e) = outcome {
        exec.replace(&[Value::Boolean(false), e]);
    }
    Ok(Action::Return)
}

/// A VM without the standard library, with the few functions the tests' Lua needs.
fn vm() -> Lua {
    let lua = Lua::core();
    lua.enter(|ctx| {
        let g = ctx.globals();
        let f = ctx.create_raw_function("setmetatable", |ctx, exec| {
            let mt = match exec.arg(1) {
                Value::Table(mt) => Some(mt),
                _ => None,
            };
            ctx.set_metatable(exec.arg(0), mt).unwrap();
            exec.truncate(1);
            Ok(Action::Return)
        });
        g.set(ctx, ctx.str("setmetatable"), Value::Callback(f))
            .unwrap();
        let f = ctx.create_raw_function("freeze", |ctx, exec| {
            if let Value::Table(t) = exec.arg(0) {
                t.freeze(ctx);
            }
            Ok(Action::Return)
        });
        g.set(ctx, ctx.str("freeze"), Value::Callback(f)).unwrap();
        let f = ctx.create_raw_function("userdata", |ctx, exec| {
            let n = exec.arg(0).to_integer().unwrap_or(0);
            exec.set_return(Value::UserData(UserData::new_snapshotable(ctx, n)));
            Ok(Action::Return)
        });
        g.set(ctx, ctx.str("userdata"), Value::Callback(f)).unwrap();
        let f = ctx.create_raw_function("cocreate", |ctx, exec| {
            let t = Thread::new(ctx, exec.arg(0));
            exec.set_return(Value::Thread(t));
            Ok(Action::Return)
        });
        g.set(ctx, ctx.str("cocreate"), Value::Callback(f)).unwrap();
        let f = ctx.create_raw_function("coresume", |_ctx, exec| {
            let Value::Thread(thread) = exec.remove(0) else {
                return Err(Error::runtime("thread expected"));
            };
            Ok(Action::Resume {
                thread,
                then: Then::new("test.resume", resumed, Value::Nil).catching(),
            })
        });
        g.set(ctx, ctx.str("coresume"), Value::Callback(f)).unwrap();
        let f = ctx.create_raw_function("yield", |_ctx, _exec| Ok(Action::Yield { then: None }));
        g.set(ctx, ctx.str("yield"), Value::Callback(f)).unwrap();
        let f = ctx.create_raw_function("pcall", |ctx, exec| {
            let function = exec.remove(0);
            Ok(Action::Call {
                function,
                then: Some(Then::new("test.pcall", protected, ctx.str("state")).catching()),
            })
        });
        g.set(ctx, ctx.str("pcall"), Value::Callback(f)).unwrap();
        // `tally(f)`: calls `f(0)`, then `f(n)` with each call's count, for ever, its
        // state in a resumable.
        let f = ctx.create_raw_function("tally", |ctx, exec| {
            let f = exec.arg(0);
            let state = Resumable::new(
                ctx,
                Box::new(Tally {
                    f,
                    n: 0,
                    seen: Vec::new(),
                }),
            );
            exec.replace(&[Value::Integer(0)]);
            Ok(Action::Call {
                function: f,
                then: Some(Then::resumable("test.tally", state)),
            })
        });
        g.set(ctx, ctx.str("tally"), Value::Callback(f)).unwrap();
        ctx.register_permanents(|p| {
            p.resumable(("test", "tally"), read_tally);
            p.name("test.tally");
        });
    });
    lua
}

/// Objects of every kind, each with its state away from the defaults: a table with a
/// tombstone, a metatable, finalizer and weak flags, a frozen table, open and closed
/// upvalues, a coroutine suspended inside a protected call, a userdata with a metatable,
/// a callback, a resumable state (`tally`) waiting in a suspended coroutine, and an
/// executor paused mid-step (returned: its handle keeps it alive).
fn populate(lua: &mut Lua) -> StashedExecutor {
    populate_with(lua, true)
}

fn populate_with(lua: &mut Lua, with_userdata: bool) -> StashedExecutor {
    let setup = br#"
        t = {1, 2, 3, x = 1, y = 2, z = 3}
        t.y = nil
        mt = {__index = t, __gc = function() end}
        setmetatable(t, mt)
        weak = setmetatable({}, {__mode = "k"})
        weak[t] = true
        frozen = freeze({1, 2})
        local up = 10
        function counter() up = up + 1 return up end
        co = cocreate(function(a)
            local b = a
            pcall(function() yield(b, up) end)
            return b
        end)
        coresume(co, 5)
        cb = setmetatable
        tallied = cocreate(function() tally(function(n) yield(n) return {n} end) end)
        coresume(tallied)
        coresume(tallied)
        "#;
    lua.execute(setup, "setup").expect("setup runs");
    if with_userdata {
        lua.execute(b"ud = userdata(7) setmetatable(ud, mt)", "userdata")
            .expect("userdata setup runs");
    }
    let f = lua
        .load(
            b"local n = 0 for i = 1, 1000 do n = n + i end return n",
            "loop",
        )
        .unwrap();
    let exec = lua.start(&f, ()).unwrap();
    assert!(matches!(
        lua.step(&exec, &mut Fuel::new(50)),
        crate::StepStatus::OutOfFuel
    ));
    exec
}

/// Changes every object `populate` made.
fn mutate(lua: &mut Lua, exec: &StashedExecutor) {
    lua.execute(
        br#"
        t.w = 4 t[4] = 4 t.x = nil
        for i = 5, 40 do t[i] = i end
        mt.__index = nil
        weak[{}] = 1
        counter()
        coresume(co)
        setmetatable(ud, nil)
        co2 = cocreate(counter)
        coresume(tallied)
        "#,
        "mutate",
    )
    .expect("mutation runs");
    lua.step(exec, &mut Fuel::new(70));
    lua.enter(|ctx| {
        let Value::Table(frozen) = ctx.globals().get(ctx.str("frozen")) else {
            panic!("frozen table");
        };
        frozen.borrow_mut(ctx).flags &= !FLAG_FROZEN;
        let Value::Function(counter) = ctx.globals().get(ctx.str("counter")) else {
            panic!("counter");
        };
        let uv = counter.upvalue(0).expect("counter has an upvalue");
        crate::function::set_upvalue(ctx, uv, UpValueState::Closed(Value::Integer(-1)));
    });
}

#[test]
fn capture_rebuild_capture_agree() {
    let mut lua = vm();
    let _exec = populate(&mut lua);
    let snapshot = lua.snapshot().unwrap();
    let before = snapshot.0.describe();
    assert!(before.contains("Resumable"), "populate makes every kind");
    lua.restore(&snapshot).unwrap();
    assert_eq!(before, describe(&lua));
}

#[test]
fn rollback_puts_every_kind_back() {
    let mut lua = vm();
    let exec = populate(&mut lua);
    let before = describe(&lua);
    lua.snap().unwrap();
    mutate(&mut lua, &exec);
    let changed = describe(&lua);
    assert_ne!(before, changed, "the mutation must change the image");
    lua.rollback(1).unwrap();
    assert_eq!(before, describe(&lua));
    // A second round: the rollback started a fresh epoch, every first write is saved again.
    mutate(&mut lua, &exec);
    assert_eq!(changed, describe(&lua));
    lua.rollback(1).unwrap();
    assert_eq!(before, describe(&lua));
}

#[test]
fn table_layout_survives_rollback() {
    let mut lua = vm();
    lua.execute(
        b"t = {} for i = 1, 20 do t['k' .. i] = i end for i = 1, 20, 3 do t['k' .. i] = nil end",
        "layout",
    )
    .unwrap();
    let layout = |lua: &Lua| {
        lua.enter(|ctx| {
            let Value::Table(t) = ctx.globals().get(ctx.str("t")) else {
                panic!("t");
            };
            let st = t.0.state.borrow();
            let keys: Vec<String> = st
                .entries
                .iter()
                .map(|(k, _)| format!("{:?}", k.as_string().map(|s| s.as_bytes().to_vec())))
                .collect();
            (keys, st.entries.capacity(), st.tombstones, st.charge.get())
        })
    };
    let before = layout(&lua);
    lua.snap().unwrap();
    lua.execute(b"for i = 21, 200 do t['k' .. i] = i end t.k2 = nil", "grow")
        .unwrap();
    assert_ne!(before, layout(&lua));
    lua.rollback(1).unwrap();
    assert_eq!(before, layout(&lua));
}

#[test]
fn big_arrays_are_saved_by_pages() {
    let mut lua = vm();
    lua.execute(b"a = {} for i = 1, 5000 do a[i] = i end b = {}", "setup")
        .unwrap();
    let at_start = describe(&lua);
    lua.snap().unwrap();
    let ring = |lua: &Lua| lua.snapshots_size_bytes();
    let empty = ring(&lua);
    // Two stores into far apart pages: two pages saved, not the 80 KB array.
    lua.execute(b"a[10] = 'x' a[4000] = 'y' a[11] = 'z'", "pages")
        .unwrap();
    let paged = ring(&lua) - empty;
    assert!(
        paged > 0 && paged < 4 * 1024,
        "two pages saved: {paged} bytes"
    );
    // Then a store that changes the layout: the whole state (pages 1 and 63 already
    // changed) is saved after the pages; rolling back must undo both.
    lua.execute(b"a[5001] = 'grown' a[12] = 'w' a[2000] = 'v'", "whole")
        .unwrap();
    assert!(ring(&lua) - empty > 5000 * 16, "the whole array saved");
    let after_epoch1 = describe(&lua);
    lua.snap().unwrap();
    // A sweep over every slot: after an eighth of the pages, the whole array.
    lua.execute(b"for i = 1, #a do a[i] = -i end", "sweep")
        .unwrap();
    let third = describe(&lua);
    lua.snap().unwrap();
    lua.execute(b"a[3] = 'p' a[4999] = 'q' b[1] = 1", "more")
        .unwrap();
    // (Images compared without printing them: they hold 5,000 slots.)
    let same = |lua: &Lua, image: &str| describe(lua) == image;
    lua.rollback(1).unwrap();
    assert!(same(&lua, &third), "back to after the sweep");
    lua.rollback(2).unwrap();
    assert!(
        same(&lua, &after_epoch1),
        "back to after the pages and growth"
    );
    lua.rollback(2).unwrap();
    assert!(same(&lua, &at_start), "back to the start");
    // Again from the fresh epoch the rollback started: pages are saved anew.
    lua.execute(b"a[1] = 'again' a[3000] = 'again'", "again")
        .unwrap();
    assert!(!same(&lua, &at_start));
    lua.rollback(1).unwrap();
    assert!(same(&lua, &at_start), "pages of a fresh epoch");
}

/// The capacity and the segment count of one part of a table's state.
type PartSizes = fn(&crate::table::TableState<'_>) -> (usize, usize);

/// Runs `setup`, snaps, runs `grow`, rolls back, runs `grow` again and restores an image of
/// the result: the part `part` measures has `before` (capacity, segments) after the setup
/// and `grown` after each growth, and the table's charge follows (the rollback gives back
/// the charge it had). Returns the VM the image was restored into.
fn segments_follow(
    name: &str,
    setup: &[u8],
    grow: &[u8],
    part: PartSizes,
    before: (usize, usize),
    grown: (usize, usize),
) -> Lua {
    let mut lua = vm();
    lua.execute(setup, "setup").unwrap();
    let sizes = |lua: &Lua| {
        lua.enter(|ctx| {
            let Value::Table(t) = ctx.globals().get(ctx.str(name)) else {
                panic!("{name}");
            };
            let st = t.0.state.borrow();
            (part(&st), st.charge.get())
        })
    };
    let at_setup = sizes(&lua);
    assert_eq!(at_setup.0, before);
    lua.snap().unwrap();
    lua.execute(grow, "grow").unwrap();
    let at_growth = sizes(&lua);
    assert_eq!(at_growth.0, grown);
    assert!(at_growth.1 > at_setup.1);
    lua.rollback(1).unwrap();
    assert_eq!(sizes(&lua), at_setup);
    // Grown again, then through an image.
    lua.execute(grow, "grow").unwrap();
    assert_eq!(sizes(&lua), at_growth);
    let image = lua.snapshot().unwrap();
    let mut other = vm();
    other.restore(&image).unwrap();
    assert_eq!(sizes(&other), at_growth);
    other
}

/// An array part past 4,096 slots has one segment per 4,096 slots of capacity past the
/// first (`table::segments`), counted in its charge: a rollback to before it grew gives back
/// the segment count and the charge it had, and an image rebuilds them.
#[test]
fn array_segments_follow_the_capacity_through_rollbacks_and_images() {
    segments_follow(
        "a",
        b"a = {} for i = 1, 5000 do a[i] = {} end",
        b"for i = 5001, 20000 do a[i] = {} end",
        |st| (st.array.capacity(), st.segments().len()),
        (8192, 1),
        (32768, 7),
    );
}

/// A hash part past 2,048 entries has one segment per 2,048 entries of capacity past the
/// first, counted in its charge, through rollbacks and images like the array's.
#[test]
fn entry_segments_follow_the_capacity_through_rollbacks_and_images() {
    let other = segments_follow(
        "h",
        b"h = {} for i = 1, 3000 do h['k' .. i] = {} end",
        b"for i = 3001, 20000 do h['k' .. i] = {} end",
        |st| (st.entries.capacity(), st.entry_segments().len()),
        (4096, 1),
        (32768, 15),
    );
    other.enter(|ctx| {
        let Value::Table(t) = ctx.globals().get(ctx.str("h")) else {
            panic!("h");
        };
        assert_eq!(t.raw_sizes(), (0, 20000));
        assert!(matches!(t.get(ctx.str("k19999")), Value::Table(_)));
    });
}

/// A rollback or an image taken while a big index grows in pieces (`table::IndexGrowth`)
/// gives back a table whose every key is found, and no other.
#[test]
fn a_growing_index_survives_rollbacks_and_images() {
    let mut lua = vm();
    // 57,344 keys fill an index of 65,536 buckets (hashbrown's 7/8; smaller indexes are
    // rebuilt whole): the next insertion starts a growth, which takes 14,336 insertions
    // (four positions each).
    lua.execute(b"h = {} for i = 1, 57345 do h[i + 0.5] = i end", "setup")
        .unwrap();
    let growing = |lua: &Lua| {
        lua.enter(|ctx| {
            let Value::Table(t) = ctx.globals().get(ctx.str("h")) else {
                panic!("h");
            };
            let st = t.0.state.borrow();
            st.aux.as_deref().is_some_and(|a| a.growth.is_some())
        })
    };
    let all_found = |lua: &Lua, n: i64| {
        lua.enter(|ctx| {
            let Value::Table(t) = ctx.globals().get(ctx.str("h")) else {
                panic!("h");
            };
            for i in 1..=n {
                assert_eq!(
                    t.get(Value::Float(i as f64 + 0.5)),
                    Value::Integer(i),
                    "{i}"
                );
            }
            assert_eq!(t.get(Value::Float(n as f64 + 1.5)), Value::Nil);
            assert_eq!(t.raw_sizes(), (0, n as usize));
        })
    };
    assert!(growing(&lua), "the growth is under way");
    lua.snap().unwrap();
    lua.execute(b"for i = 57346, 62000 do h[i + 0.5] = i end", "more")
        .unwrap();
    all_found(&lua, 62000);
    lua.rollback(1).unwrap();
    assert!(growing(&lua));
    all_found(&lua, 57345);
    // Again, then through an image (which rebuilds the index whole).
    lua.execute(b"for i = 57346, 60000 do h[i + 0.5] = i end", "more")
        .unwrap();
    assert!(growing(&lua));
    let image = lua.snapshot().unwrap();
    let mut other = vm();
    other.restore(&image).unwrap();
    all_found(&other, 60000);
    other
        .execute(b"for i = 60001, 140000 do h[i + 0.5] = i end", "more")
        .unwrap();
    all_found(&other, 140000);
}

/// Registers the test continuations in the permanents table (images as bytes need it).
fn register_test_permanents(lua: &Lua) {
    lua.enter(|ctx| {
        ctx.register_permanents(|p| {
            p.continuation(("test", "resumed"), "test.resume", resumed);
            p.continuation(("test", "protected"), "test.pcall", protected);
        })
    });
}

#[test]
fn bytes_round_trip_describes_alike() {
    let mut lua = vm();
    register_test_permanents(&lua);
    let _exec = populate_with(&mut lua, false);
    let snapshot = lua.snapshot().unwrap();
    let bytes = snapshot.to_bytes().unwrap();
    let reader = vm();
    register_test_permanents(&reader);
    let back = reader.snapshot_from_bytes(&bytes).unwrap();
    assert_eq!(snapshot.0.describe(), back.0.describe());
    assert_eq!(snapshot.checksum(), back.checksum());
    // Written again, the same bytes.
    assert!(back.to_bytes().unwrap() == bytes);
    // And it restores and runs on.
    let mut reader = reader;
    reader.restore(&back).unwrap();
    assert_eq!(reader.checksum().unwrap(), snapshot.checksum());
}

#[test]
fn bytes_refuse_what_has_no_name() {
    // Unregistered continuations: refused when written, naming them.
    let mut lua = vm();
    let _exec = populate_with(&mut lua, false);
    let err = lua.snapshot().unwrap().to_bytes().unwrap_err().to_string();
    assert!(
        err.contains("test.pcall") || err.contains("test.resume"),
        "{err}"
    );
    // Untyped userdata: refused naming its type.
    let mut lua = vm();
    register_test_permanents(&lua);
    let _exec = populate_with(&mut lua, true);
    let err = lua.snapshot().unwrap().to_bytes().unwrap_err().to_string();
    assert!(err.contains("userdata of type"), "{err}");
    // A reader without the writer's continuations: refused naming the key.
    let mut lua = vm();
    register_test_permanents(&lua);
    let _exec = populate_with(&mut lua, false);
    let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
    let err = vm().snapshot_from_bytes(&bytes).err().unwrap().to_string();
    assert!(err.contains("test."), "{err}");
}

#[test]
fn corrupt_bytes_are_errors_never_panics() {
    let mut lua = vm();
    register_test_permanents(&lua);
    let _exec = populate_with(&mut lua, false);
    let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
    let reader = vm();
    register_test_permanents(&reader);
    for n in 0..bytes.len() {
        assert!(
            reader.snapshot_from_bytes(&bytes[..n]).is_err(),
            "prefix {n}"
        );
    }
    let mut accepted = 0;
    for i in (0..bytes.len()).step_by(3) {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= x;
            let Ok(s) = reader.snapshot_from_bytes(&b) else {
                continue;
            };
            accepted += 1;
            let mut r = vm();
            register_test_permanents(&r);
            if r.restore(&s).is_ok() {
                for id in r.restored_executor_ids() {
                    let e = r.restored_executor(id).unwrap();
                    for _ in 0..20 {
                        if r.step(&e, &mut Fuel::new(100)).is_done() {
                            break;
                        }
                    }
                }
                let _ = r.checksum();
            }
        }
    }
    assert!(
        accepted > 0,
        "some single-byte changes are still valid images"
    );
}

#[test]
fn bytes_refuse_thread_charges_beyond_their_buffers() {
    // A crafted image used to be able to declare a thread charge up to 2^48: its VM then
    // reported that much memory in use and refused every allocation.
    let mut lua = vm();
    register_test_permanents(&lua);
    let _exec = populate_with(&mut lua, false);
    let reader = vm();
    register_test_permanents(&reader);
    let original = lua.snapshot().unwrap();
    let threads = (original.0.objects.iter())
        .filter(|o| matches!(o, Obj::Thread(_)))
        .count();
    assert!(threads >= 2);
    for which in 0..threads {
        for claim in [1usize << 20, 1 << 40, 1 << 48] {
            let Ok(mut img) = std::sync::Arc::try_unwrap(lua.snapshot().unwrap().0) else {
                unreachable!("a fresh snapshot's image has one owner")
            };
            let Some(Obj::Thread(t)) = (img.objects.iter_mut())
                .filter(|o| matches!(o, Obj::Thread(_)))
                .nth(which)
            else {
                unreachable!()
            };
            t.charged = claim;
            let crafted = Snapshot(std::sync::Arc::new(img)).to_bytes().unwrap();
            let err = reader.snapshot_from_bytes(&crafted).err().expect("refused");
            assert!(err.to_string().contains("thread charge"), "{err}");
        }
    }
    // The real charges read back, and the restored VM uses about what the original does.
    let back = reader
        .snapshot_from_bytes(&original.to_bytes().unwrap())
        .unwrap();
    let mut r = vm();
    register_test_permanents(&r);
    r.restore(&back).unwrap();
    assert!(r.memory_used() < 1 << 20, "{}", r.memory_used());
}

#[test]
fn bytes_refuse_malformed_table_keys() {
    // Hash parts as the decoder checks them: small ones (a set of hash bits, then the keys)
    // and big ones (a hash table), each key normalized and once, the tombstones counted.
    let mut lua = vm();
    lua.execute(
        b"small = {a = 1, b = 2, c = 3}
          big = {} for i = 1, 20 do big['key number ' .. i .. ' is long enough'] = i end",
        "=tables",
    )
    .unwrap();
    let reader = vm();
    type Edit = fn(&mut super::image::Image, usize);
    let edits: [(&str, Edit); 6] = [
        ("table key twice", |img, at| {
            img.slots[at + 2] = img.slots[at]
        }),
        ("table key twice", |img, at| {
            // Another string with the same contents.
            let Val::Str(i) = img.slots[at] else {
                unreachable!()
            };
            let copy = img.strings[i as usize].clone();
            img.strings.push(copy);
            img.slots[at + 2] = Val::Str(img.strings.len() as u32 - 1);
        }),
        ("NaN table key", |img, at| {
            img.slots[at] = Val::Float(f64::NAN)
        }),
        ("float table key", |img, at| img.slots[at] = Val::Float(2.0)),
        ("a value without a key", |img, at| img.slots[at] = Val::Nil),
        ("tombstone count", |img, at| img.slots[at + 1] = Val::Nil),
    ];
    for entries in [3, 20] {
        for (why, edit) in edits {
            let Ok(mut img) = std::sync::Arc::try_unwrap(lua.snapshot().unwrap().0) else {
                unreachable!()
            };
            let at = img
                .objects
                .iter()
                .find_map(|o| match o {
                    Obj::Table { entries: e, .. } if e.len as usize == entries => {
                        Some(e.start as usize)
                    }
                    _ => None,
                })
                .unwrap();
            // The last two keys (a repeat comes after the key it repeats).
            let at = at + 2 * entries - 4;
            edit(&mut img, at);
            let bytes = Snapshot(std::sync::Arc::new(img)).to_bytes().unwrap();
            let err = reader.snapshot_from_bytes(&bytes).err().expect(why);
            assert!(err.to_string().contains(why), "{entries} entries: {err}");
        }
    }
}

#[test]
fn bytes_refuse_calls_that_would_cut_their_callers_frame() {
    // A fuzzed image (cargo-fuzz `image`, 2026-12-04) put a discarded call's frame inside
    // its caller's registers, above a `Call` that reads `top`: its return cut the caller's
    // stack below `stack_end` and the call indexed past the stack. Metamethod and discarded
    // calls sit above their caller's registers, and the instruction a caller runs after a
    // discarded call must find its `top` within the stack the return leaves.
    use super::image::FrameImg;
    use crate::thread::Returns;
    use lunette_compiler::Instruction;
    let mut lua = vm();
    let f = lua
        .load(
            b"local function id(...) return ... end
              local t = setmetatable({}, {__index = function(t, k)
                  local s = 0 while true do s = s + 1 end end})
              local r = id(id(t.x)) return r",
            "meta",
        )
        .unwrap();
    let exec = lua.start(&f, ()).unwrap();
    assert!(!lua.step(&exec, &mut Fuel::new(200)).is_done());
    let reader = vm();
    type Edit = fn(&mut super::image::Image, usize, usize);
    let edits: [(&str, Edit); 2] = [
        ("inside its caller's registers", |img, at, _| {
            let Obj::Thread(t) = &mut img.objects[at] else {
                unreachable!()
            };
            let Some(FrameImg::Lua { frame, .. }) = t.frames.last_mut() else {
                unreachable!()
            };
            frame.func -= 1;
            frame.base -= 1;
            frame.stack_end -= 1;
        }),
        ("cannot run", |img, at, call_b0| {
            let Obj::Thread(t) = &mut img.objects[at] else {
                unreachable!()
            };
            let n = t.frames.len();
            let Some(FrameImg::Lua { frame, .. }) = t.frames.get_mut(n - 1) else {
                unreachable!()
            };
            frame.returns = Returns::Discard;
            let Some(FrameImg::Lua { frame, .. }) = t.frames.get_mut(n - 2) else {
                unreachable!()
            };
            // The caller's next instruction reads up to `top`, which is below its arguments.
            frame.pc = call_b0;
            frame.top = frame.base;
        }),
    ];
    for (why, edit) in edits {
        let Ok(img) = std::sync::Arc::try_unwrap(lua.snapshot().unwrap().0) else {
            unreachable!()
        };
        // The executor's thread: the chunk's frame, and the `__index` function above it.
        let at = (img.objects.iter())
            .position(|o| match o {
                Obj::Thread(t) => {
                    t.frames.len() == 2
                        && matches!(t.frames.last(), Some(FrameImg::Lua { frame, .. })
                            if frame.returns == Returns::Meta)
                }
                _ => false,
            })
            .expect("paused inside __index");
        let Obj::Thread(t) = &img.objects[at] else {
            unreachable!()
        };
        let Some(FrameImg::Lua { closure, .. }) = t.frames.first() else {
            unreachable!()
        };
        let Obj::Closure { proto, .. } = &img.objects[*closure as usize] else {
            unreachable!()
        };
        let Obj::Proto { proto, .. } = &img.objects[*proto as usize] else {
            unreachable!()
        };
        let call_b0 = (proto.code.iter())
            .position(|i| matches!(i, Instruction::Call { b: 0, .. }))
            .expect("id(id(...)) passes its results on");
        // The image as taken reads back.
        let taken = Snapshot(std::sync::Arc::new(img)).to_bytes().unwrap();
        assert!(reader.snapshot_from_bytes(&taken).is_ok());
        let Ok(mut img) = std::sync::Arc::try_unwrap(reader.snapshot_from_bytes(&taken).unwrap().0)
        else {
            unreachable!()
        };
        edit(&mut img, at, call_b0);
        let bytes = Snapshot(std::sync::Arc::new(img)).to_bytes().unwrap();
        let err = reader.snapshot_from_bytes(&bytes).err().expect(why);
        assert!(err.to_string().contains(why), "{err}");
    }
}
