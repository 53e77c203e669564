//! Issue #10 items 4 and 5: the tasklet scheduler (`lunette::tasklets`) and host requests
//! that survive snapshots; failed tasklets reported with the traceback of their coroutine.

use std::rc::Rc;

use lunette::{CaptureHost, Lua, TaskletConfig, TaskletFailure};

fn vm(config: TaskletConfig) -> (Lua, CaptureHost) {
    let host = CaptureHost::new();
    let mut lua = Lua::with_host(Rc::new(host.clone()));
    lua.open_tasklets(config);
    (lua, host)
}

fn out(host: &CaptureHost) -> String {
    String::from_utf8(host.take_stdout()).expect("utf-8 output")
}

/// Defines the globals of `source` (functions the tasklets run).
fn define(lua: &mut Lua, source: &str, name: &str) {
    lua.execute(source.as_bytes(), name).expect("chunk runs");
}

/// Spawns global function `f` as a tasklet of `group` with integer arguments.
fn spawn(lua: &mut Lua, group: &str, f: &str, args: &[i64]) -> i64 {
    let (f, args) = lua.enter(|ctx| {
        let f = ctx.stash(ctx.globals().get(ctx.key(f)));
        let args = args
            .iter()
            .map(|a| ctx.stash(lunette::Value::Integer(*a)))
            .collect::<Vec<_>>();
        (f, args)
    });
    lua.spawn_tasklet(group, f_name(group), &f, &args)
        .expect("spawns")
}

fn f_name(group: &str) -> &str {
    group
}

fn run_frames(lua: &mut Lua, n: usize) -> Vec<TaskletFailure> {
    let mut failures = Vec::new();
    for _ in 0..n {
        failures.extend(lua.run_frame().failures);
    }
    failures
}

const WAITERS: &str = r#"
function waiter(n)
  for i = 1, 3 do
    print(tasklet.frame(), tasklet.id(), i)
    tasklet.wait(n)
  end
  print(tasklet.frame(), tasklet.id(), "done")
end
"#;

#[test]
fn wait_orders_tasklets_across_frames() {
    let (mut lua, host) = vm(TaskletConfig::default());
    define(&mut lua, WAITERS, "=w");
    spawn(&mut lua, "mod", "waiter", &[1]);
    spawn(&mut lua, "mod", "waiter", &[2]);
    assert!(run_frames(&mut lua, 8).is_empty());
    assert_eq!(
        out(&host),
        "1\t1\t1\n1\t2\t1\n2\t1\t2\n3\t2\t2\n3\t1\t3\n4\t1\tdone\n5\t2\t3\n7\t2\tdone\n"
    );
    assert_eq!(lua.tasklet_count("mod"), 0);
}
