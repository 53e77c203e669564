//! The `lunette` command behaves like PUC's `lua` (5.4): options, `arg`, `LUA_INIT`, the
//! messages and exit statuses, the REPL on piped stdin (prompts written to stdout, as `lua`
//! without readline does) and Ctrl-C. Expected outputs are `lua`'s with `lunette` as the
//! program name (and lunette's version banner); where lunette differs on purpose the test
//! says so.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const VERSION: &str = concat!(
    "lunette ",
    env!("CARGO_PKG_VERSION"),
    " (Lua 5.4 compatible)\n"
);

const USAGE: &str = "usage: lunette [options] [script [args]]
Available options are:
  -e stat   execute string 'stat'
  -i        enter interactive mode after executing 'script'
  -l mod    require library 'mod' into global 'mod'
  -l g=mod  require library 'mod' into global 'g'
  -v        show version information
  -E        ignore environment variables
  -W        turn warnings on
  --        stop handling options
  -         stop handling options and execute stdin
  --fuel N       stop any chunk after N units of work
  --memory SIZE  limit the VM's memory (e.g. 16M)
  --sandbox      run with the sandbox profile (no io, os, files)
";

/// The binary, with none of the variables `lua` reads from the caller's environment.
fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lunette"));
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for v in [
        "LUA_INIT",
        "LUA_INIT_5_4",
        "LUA_PATH",
        "LUA_PATH_5_4",
        "LUA_CPATH",
        "LUA_CPATH_5_4",
    ] {
        c.env_remove(v);
    }
    c
}

fn run(mut c: Command, stdin: &str) -> Output {
    let mut child = c.spawn().expect("lunette runs");
    let mut input = child.stdin.take().unwrap();
    // A program that exits early may not read everything: ignore a broken pipe.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

fn lunette(args: &[&str], stdin: &str) -> Output {
    run(command(args), stdin)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `(status, stdout, stderr)`.
fn outcome(o: &Output) -> (Option<i32>, String, String) {
    (o.status.code(), text(&o.stdout), text(&o.stderr))
}

/// A fresh directory for one test's files.
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lunette-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn runs_a_script_with_arguments() {
    let d = dir("args");
    file(
        &d,
        "args.lua",
        "print(...) print(#arg, arg[0], arg[1], arg[2], arg[-1], arg[-2], arg[-3] ~= nil)",
    );
    let mut c = command(&["-e", "x=1", "args.lua", "a", "b"]);
    c.current_dir(&d);
    let out = run(c, "");
    assert_eq!(
        outcome(&out),
        (
            Some(0),
            "a\tb\n2\targs.lua\ta\tb\tx=1\t-e\ttrue\n".into(),
            String::new()
        )
    );
}

#[test]
fn arg_without_a_script_has_the_interpreter_at_zero() {
    // lua5.4 -e "print(arg[0] == arg[-0], #arg, arg[1], arg[2], arg[-1])"
    let out = lunette(&["-e", "print(#arg, arg[1], arg[2], arg[-1], arg[3])"], "");
    assert_eq!(
        text(&out.stdout),
        "2\t-e\tprint(#arg, arg[1], arg[2], arg[-1], arg[3])\tnil\tnil\n"
    );
    let out = lunette(&["-e", "print(arg[0] == arg[-1], arg[1])"], "");
    assert_eq!(text(&out.stdout), "false\t-e\n");
    let out = lunette(
        &[
            "-e",
            "print(arg[0]:find('lunette') ~= nil, #arg, arg[3])",
            "--",
        ],
        "",
    );
    assert_eq!(text(&out.stdout), "true\t3\t--\n");
}

#[test]
fn double_dash_ends_options_and_dash_is_stdin() {
    let out = lunette(&["-", "a", "b"], "print(...) print(arg[0], arg[-1] ~= nil)");
    assert_eq!(
        outcome(&out),
        (Some(0), "a\tb\n-\ttrue\n".into(), "".into())
    );
    // After `--`, `-` is a file name.
    let d = dir("dashfile");
    file(&d, "-", "print('the file named -', ...)");
    let mut c = command(&["--", "-", "x"]);
    c.current_dir(&d);
    let out = run(c, "print('not this')");
    assert_eq!(text(&out.stdout), "the file named -\tx\n");
    // `-e` then a non-option: that is the script.
    let out = lunette(&["-e", "print(1)", "nosuch.lua", "a"], "");
    assert_eq!(
        outcome(&out),
        (
            Some(1),
            "1\n".into(),
            "lunette: cannot open nosuch.lua: No such file or directory\n".into()
        )
    );
}

#[test]
fn dash_e_and_version() {
    let out = lunette(&["-e", "print(1 + 1)"], "");
    assert_eq!(outcome(&out), (Some(0), "2\n".into(), "".into()));
    // Concatenated argument.
    let out = lunette(&["-eprint(3)"], "");
    assert_eq!(text(&out.stdout), "3\n");
    // -v prints the banner; with -v (or -e) and no script, stdin is not run.
    let out = lunette(&["-v"], "print('no')");
    assert_eq!(outcome(&out), (Some(0), VERSION.into(), "".into()));
    let out = lunette(&["-v", "-e", "print(1)"], "");
    assert_eq!(text(&out.stdout), format!("{VERSION}1\n"));
}

#[test]
fn the_collector_starts_in_generational_mode_like_lua() {
    // lua5.4 -e 'print(collectgarbage("incremental"))'
    let out = lunette(&["-e", "print(collectgarbage('incremental'))"], "");
    assert_eq!(text(&out.stdout), "generational\n");
}

#[test]
fn stdin_is_the_script_when_nothing_else_runs() {
    // Not a terminal: `lunette` alone runs stdin as a file (chunk name `stdin`).
    let out = lunette(&[], "#!/usr/bin/lunette\nprint('from stdin')\nerror('x')");
    assert_eq!(
        outcome(&out),
        (
            Some(1),
            "from stdin\n".into(),
            "lunette: stdin:3: x\nstack traceback:\n\t[C]: in function 'error'\n\tstdin:3: in main chunk\n\t[C]: in ?\n"
                .into()
        )
    );
    let out = lunette(&["-"], "print('from stdin')");
    assert_eq!(text(&out.stdout), "from stdin\n");
}

#[test]
fn bad_options_print_usage_like_lua() {
    for (args, first) in [
        (&["-x"][..], "lunette: unrecognized option '-x'\n"),
        (&["--x"][..], "lunette: unrecognized option '--x'\n"),
        (&["-ix"][..], "lunette: unrecognized option '-ix'\n"),
        (&["-vE"][..], "lunette: unrecognized option '-vE'\n"),
        (&["-e"][..], "lunette: '-e' needs argument\n"),
        (&["-l"][..], "lunette: '-l' needs argument\n"),
        (&["-e", "-v"][..], "lunette: '-e' needs argument\n"),
        (&["-v", "-l", "-"][..], "lunette: '-l' needs argument\n"),
    ] {
        let out = lunette(args, "");
        assert_eq!(
            outcome(&out),
            (Some(1), String::new(), format!("{first}{USAGE}")),
            "{args:?}"
        );
    }
}

#[test]
fn lunette_options_need_their_values() {
    let out = lunette(&["--fuel"], "");
    assert_eq!(
        outcome(&out),
        (
            Some(1),
            "".into(),
            format!("lunette: '--fuel' needs argument\n{USAGE}")
        )
    );
    let out = lunette(&["--fuel", "-2", "-e", "print(1)"], "");
    assert_eq!(
        text(&out.stderr),
        format!("lunette: '--fuel' needs a positive number\n{USAGE}")
    );
    let bad = lunette(&["--memory", "lots", "-e", "print(1)"], "");
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).starts_with("lunette: '--memory' needs a size in bytes"));
}

#[test]
fn uncaught_errors_go_to_stderr_with_traceback_and_status_1() {
    let d = dir("err");
    let p = file(
        &d,
        "err.lua",
        "local function f()\n  error('boom')\nend\nf()\n",
    );
    let out = lunette(&[p.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("lunette: "), "{err}");
    assert!(err.contains("err.lua:2: boom\nstack traceback:\n"), "{err}");
    assert!(err.contains("in local 'f'"), "{err}");
    assert!(
        err.ends_with("err.lua:4: in main chunk\n\t[C]: in ?\n"),
        "{err}"
    );
    // Error objects: not strings, and with a __tostring (shown alone, like lua's handler).
    let out = lunette(&["-e", "error({})"], "");
    assert!(text(&out.stderr)
        .starts_with("lunette: (error object is a table value)\nstack traceback:\n"));
    let out = lunette(
        &[
            "-e",
            "error(setmetatable({}, {__tostring = function() return 'custom' end}))",
        ],
        "",
    );
    assert_eq!(
        outcome(&out),
        (Some(1), "".into(), "lunette: custom\n".into())
    );
    let out = lunette(&["-e", "os.exit(3)"], "");
    assert_eq!(out.status.code(), Some(3));
}

/// An uncaught error's traceback names functions like `lua` 5.4.8 (#11): a global held by
/// the loaded modules by its global name (also a Rust function: a `coroutine.wrap`
/// function), whatever the code that called it; the wrap function that re-raised is listed.
#[test]
fn uncaught_error_tracebacks_name_functions_like_lua() {
    let d = dir("err_names");
    let p = file(
        &d,
        "names.lua",
        "function gf() error('in gf') end\nlocal alias = gf\nalias()\n",
    );
    let out = lunette(&[p.to_str().unwrap()], "");
    // lua 5.4.8 prints the same lines (with "lua:"), after the script's path.
    let err = text(&out.stderr);
    assert!(
        err.contains("names.lua:1: in gf\nstack traceback:\n\t[C]: in function 'error'\n\t"),
        "{err}"
    );
    assert!(err.contains("names.lua:1: in function 'gf'\n\t"), "{err}");
    assert!(
        err.ends_with("names.lua:3: in main chunk\n\t[C]: in ?\n"),
        "{err}"
    );
    let p = file(
        &d,
        "wrap.lua",
        "gen = coroutine.wrap(function() error('boom') end)\nlocal t = {g = gen}\nt.g()\n",
    );
    let out = lunette(&[p.to_str().unwrap()], "");
    let err = text(&out.stderr);
    assert!(
        err.contains("wrap.lua:1: boom\nstack traceback:\n\t[C]: in function 'gen'\n\t"),
        "{err}"
    );
    assert!(
        err.ends_with("wrap.lua:3: in main chunk\n\t[C]: in ?\n"),
        "{err}"
    );
}

#[test]
fn syntax_error_reports_and_fails() {
    let out = lunette(&["-e", "x = = 1"], "");
    assert_eq!(
        outcome(&out),
        (
            Some(1),
            "".into(),
            "lunette: (command line):1: unexpected symbol near '='\n".into()
        )
    );
}

#[test]
fn missing_or_unreadable_script() {
    let out = lunette(&["/nonexistent/x.lua"], "");
    assert_eq!(
        outcome(&out),
        (
            Some(1),
            "".into(),
            "lunette: cannot open /nonexistent/x.lua: No such file or directory\n".into()
        )
    );
    let d = dir("unreadable");
    let mut c = command(&["."]);
    c.current_dir(&d);
    let out = run(c, "");
    assert_eq!(
        text(&out.stderr),
        "lunette: cannot read .: Is a directory\n"
    );
    // A failing script stops everything after it (no REPL with -i).
    let out = lunette(&["-i", "/nonexistent/x.lua"], "print('repl')");
    assert_eq!(
        outcome(&out),
        (
            Some(1),
            VERSION.into(),
            "lunette: cannot open /nonexistent/x.lua: No such file or directory\n".into()
        )
    );
    // 'arg' must still be a table when the script starts.
    let d = dir("argtable");
    file(&d, "s.lua", "print(...)");
    let mut c = command(&["-e", "arg = nil", "s.lua"]);
    c.current_dir(&d);
    let out = run(c, "");
    assert_eq!(
        outcome(&out),
        (Some(1), "".into(), "lunette: 'arg' is not a table\n".into())
    );
    let mut c = command(&["-e", "arg = {'q', 'r'}", "s.lua", "z"]);
    c.current_dir(&d);
    assert_eq!(text(&run(c, "").stdout), "q\tr\n");
}

#[test]
fn options_run_in_order_with_libraries_and_warnings() {
    let d = dir("libs");
    file(&d, "mod.lua", "print('loading', ...) return {v = 7}");
    file(&d, "lib-2.lua", "return {name = 'lib two'}");
    let mut c = command(&[
        "-e",
        "x = 1",
        "-l",
        "mod",
        "-lg=mod",
        "-l",
        "lib-2",
        "-e",
        "print(x, mod.v, g == mod, lib.name, package.loaded['lib-2'] == lib)",
        "-W",
        "-e",
        "warn('now ', 'on')",
    ]);
    c.current_dir(&d);
    let out = run(c, "");
    assert_eq!(
        outcome(&out),
        (
            Some(0),
            "loading\tmod\t./mod.lua\n1\t7\ttrue\tlib two\ttrue\n".into(),
            "Lua warning: now on\n".into()
        )
    );
    // Warnings are off without -W.
    let out = lunette(&["-e", "warn('quiet')"], "");
    assert_eq!(outcome(&out), (Some(0), "".into(), "".into()));
    // A module that is not there.
    let mut c = command(&["-l", "nomod", "-e", "print('not reached')"]);
    c.current_dir(&d);
    let out = run(c, "");
    let (status, stdout, stderr) = outcome(&out);
    assert_eq!((status, stdout.as_str()), (Some(1), ""));
    assert!(
        stderr.starts_with(
            "lunette: module 'nomod' not found:\n\tno field package.preload['nomod']\n"
        ),
        "{stderr}"
    );
}

#[test]
fn lua_init_runs_first_unless_dash_capital_e() {
    let d = dir("init");
    file(&d, "init.lua", "print('init file', arg[0] ~= nil)");
    let mut c = command(&["-e", "print('then', y)"]);
    c.env("LUA_INIT", "y = 5 print('init')");
    assert_eq!(text(&run(c, "").stdout), "init\nthen\t5\n");
    // LUA_INIT_5_4 wins; its chunk is named after it.
    let mut c = command(&["-e", "print('no')"]);
    c.env("LUA_INIT", "print('plain')");
    c.env("LUA_INIT_5_4", "x =");
    assert_eq!(
        outcome(&run(c, "")),
        (
            Some(1),
            "".into(),
            "lunette: LUA_INIT_5_4:1: unexpected symbol near <eof>\n".into()
        )
    );
    // `@file` runs the file.
    let mut c = command(&["-e", "print('then')"]);
    c.current_dir(&d);
    c.env("LUA_INIT", "@init.lua");
    assert_eq!(text(&run(c, "").stdout), "init file\ttrue\nthen\n");
    let mut c = command(&["-e", "print('then')"]);
    c.env("LUA_INIT", "@/nonexistent/init.lua");
    assert_eq!(
        text(&run(c, "").stderr),
        "lunette: cannot open /nonexistent/init.lua: No such file or directory\n"
    );
    // -E: no LUA_INIT, and package.path ignores LUA_PATH (os.getenv still sees it).
    let mut c = command(&[
        "-E",
        "-e",
        "print(package.path:find('/x/') == nil, os.getenv('LUA_PATH'))",
    ]);
    c.env("LUA_INIT", "print('init')");
    c.env("LUA_PATH", "/x/?.lua");
    assert_eq!(text(&run(c, "").stdout), "true\t/x/?.lua\n");
    let mut c = command(&["-e", "print(package.path)"]);
    c.env("LUA_PATH", "/x/?.lua");
    assert_eq!(text(&run(c, "").stdout), "/x/?.lua\n");
}

#[test]
fn repl_on_piped_stdin_prints_prompts_like_lua_without_readline() {
    // echo 'print(1)' | lua -i
    let out = lunette(&["-i"], "print(1)\n");
    assert_eq!(
        outcome(&out),
        (Some(0), format!("{VERSION}> 1\n> \n"), "".into())
    );
}

#[test]
fn repl_expressions_statements_and_errors() {
    let input = "1 + 2\n\
                 x = 10\n\
                 for i = 1, 2 do\n\
                 print(i * x)\n\
                 end\n\
                 =x, nil\n\
                 'a', nil, x\n\
                 error('oops')\n\
                 local t = setmetatable({}, {__tostring = function() error('bad') end}) return t\n\
                 x = = 1\n\
                 print('still alive')\n";
    let out = lunette(&["-i"], input);
    assert_eq!(
        text(&out.stdout),
        format!(
            "{VERSION}> 3\n> > >> >> 10\n20\n> 10\tnil\n> a\tnil\t10\n> > > > still alive\n> \n"
        )
    );
    let stderr = text(&out.stderr);
    // No program name in front of errors in the REPL.
    assert!(
        stderr.starts_with("stdin:1: oops\nstack traceback:\n"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(
            "\tstdin:1: in main chunk\n\t[C]: in ?\n\
             error calling 'print' (stdin:1: bad)\n\
             stdin:1: unexpected symbol near '='\n"
        ),
        "{stderr}"
    );
}

#[test]
fn repl_prompts_from_globals_and_print_failures() {
    let input = "_PROMPT = 'lua> '\n\
                 _PROMPT2 = setmetatable({}, {__tostring = function() return '..> ' end})\n\
                 if true then\n\
                 end\n\
                 print = nil\n\
                 1\n";
    let out = lunette(&["-i"], input);
    assert_eq!(
        outcome(&out),
        (
            Some(0),
            format!("{VERSION}> lua> lua> ..> lua> lua> lua> \n"),
            "error calling 'print' (attempt to call a nil value)\n".into()
        )
    );
    // A prompt whose __tostring fails ends the REPL with that error, bare.
    let input = "_PROMPT = setmetatable({}, {__tostring = function() error('pe') end})\nprint(1)\n";
    let out = lunette(&["-i"], input);
    assert_eq!(
        outcome(&out),
        (Some(1), format!("{VERSION}> "), "stdin:1: pe\n".into())
    );
}

#[test]
fn repl_input_ending_inside_a_statement() {
    // lua 5.4.8 reports what its stack holds then: not the syntax error but the
    // continuation prompt (nil by default: "(error message not a string)").
    let out = lunette(&["-i"], "for\n");
    assert_eq!(
        outcome(&out),
        (
            Some(0),
            format!("{VERSION}> >> > \n"),
            "(error message not a string)\n".into()
        )
    );
    let out = lunette(&["-i"], "_PROMPT2 = '... '\nx = 1 +\n");
    assert_eq!(text(&out.stderr), "... \n");
}

#[test]
fn repl_reads_the_following_lines_for_io_read() {
    let out = lunette(&["-i"], "print(io.read())\nhello\nprint(2)\n");
    assert_eq!(text(&out.stdout), format!("{VERSION}> hello\n> 2\n> \n"));
}

#[test]
fn fuel_running_out_says_where_it_stopped() {
    let d = dir("fuel");
    let p = file(
        &d,
        "spin.lua",
        "local function spin()\n  local x = 0\n  while true do x = x + 1 end\nend\nspin()\n",
    );
    let out = lunette(&["--fuel", "1000", p.to_str().unwrap()], "");
    let (status, stdout, stderr) = outcome(&out);
    assert_eq!((status, stdout.as_str()), (Some(1), ""));
    assert!(
        stderr.starts_with("lunette: ") && stderr.contains("spin.lua:"),
        "{stderr}"
    );
    assert!(
        stderr.contains(": fuel exhausted (1000 units)\nstack traceback:\n\t"),
        "{stderr}"
    );
    assert!(stderr.contains("in local 'spin'\n"), "{stderr}");
    assert!(
        stderr.ends_with("spin.lua:5: in main chunk\n\t[C]: in ?\n"),
        "{stderr}"
    );
    // Each chunk has the whole budget.
    let out = lunette(
        &[
            "--fuel",
            "100000",
            "-e",
            "for i = 1, 1000 do end",
            "-e",
            "for i = 1, 1000 do end print('ok')",
        ],
        "",
    );
    assert_eq!(text(&out.stdout), "ok\n");
}

/// A loop stopped at its back edge reports a line of the loop (the body's last), not the
/// line before the loop (#11).
#[test]
fn fuel_running_out_in_a_loop_reports_the_loop() {
    let d = dir("fuel_loop");
    let p = file(
        &d,
        "loop.lua",
        "local i = 0\nwhile true do\n  i = i + 1\n  local j = i * 2\nend\n",
    );
    // Three units an iteration: budgets that end inside the body or on the back edge's
    // `Jmp` itself stop at the `Jmp`. (A budget whose last unit the `Jmp` takes ends the
    // step after the jump, as for any instruction: that stop reports the line before.)
    for fuel in ["1001", "1002"] {
        let out = lunette(&["--fuel", fuel, p.to_str().unwrap()], "");
        let (_, _, stderr) = outcome(&out);
        assert!(
            stderr.contains("loop.lua:3: fuel exhausted")
                || stderr.contains("loop.lua:4: fuel exhausted"),
            "{fuel}: {stderr}"
        );
    }
}

#[test]
fn memory_flag_limits_the_vm() {
    let out = lunette(
        &[
            "--memory",
            "8M",
            "-e",
            "print(pcall(string.rep, 'x', 1 << 24)) local t = {} for i = 1, 1e8 do t[i] = i end",
        ],
        "",
    );
    assert_eq!(text(&out.stdout), "false\tnot enough memory\n");
    assert!(text(&out.stderr).starts_with("lunette: not enough memory"));
    assert_eq!(out.status.code(), Some(1));
    // Under the limit everything works.
    let ok = lunette(&["--memory", "8M", "-e", "print(#('x'):rep(1 << 20))"], "");
    assert_eq!(text(&ok.stdout), "1048576\n");
}

/// Starts `lunette args` (stdin piped, with `stdin` written), waits until its stdout has
/// shown `ready`, sends SIGINT and returns its output. A `--fuel` budget in `args` keeps
/// a test from hanging if the signal were ignored.
#[cfg(unix)]
fn interrupted(args: &[&str], stdin: &str, ready: &str) -> Output {
    let mut child = command(args).spawn().expect("lunette runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !text(&seen).contains(ready) {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "lunette ended before {ready:?}: {}", text(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    stdout.read_to_end(&mut seen).unwrap();
    let mut out = child.wait_with_output().unwrap();
    out.stdout = seen;
    out
}

#[cfg(unix)]
#[test]
fn ctrl_c_interrupts_a_script_with_a_traceback() {
    let d = dir("sigint");
    let p = file(
        &d,
        "loop.lua",
        "local function f()\n  local x = 0\n  while true do x = x + 1 end\nend\nprint('start')\nf()\n",
    );
    let out = interrupted(
        &["--fuel", "1000000000", p.to_str().unwrap()],
        "",
        "start\n",
    );
    let (status, stdout, stderr) = outcome(&out);
    assert_eq!((status, stdout.as_str()), (Some(1), "start\n"));
    // lua: "lua: loop.lua:6: interrupted!" (the position of the interrupted function's
    // caller) and the traceback.
    let path = p.to_str().unwrap();
    assert!(
        stderr.starts_with(&format!(
            "lunette: {path}:6: interrupted!\nstack traceback:\n\t{path}:"
        )),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(&format!(
            ": in local 'f'\n\t{path}:6: in main chunk\n\t[C]: in ?\n"
        )),
        "{stderr}"
    );
}

/// Like `lua`'s hook, the interrupt is an error raised where the script runs: `pcall`
/// catches it (PUC 5.4.8: `false\tinterrupted!`, no position: the caller is `pcall`) and
/// `__close` handlers run.
#[cfg(unix)]
#[test]
fn ctrl_c_is_an_error_pcall_can_catch() {
    let d = dir("sigint-pcall");
    let p = file(
        &d,
        "catch.lua",
        "print('start')
         local ok, e = pcall(function()
           local c <close> = setmetatable({}, {__close = function() print('closed') end})
           while true do end
         end)
         print(ok, e)
",
    );
    let out = interrupted(
        &["--fuel", "1000000000", p.to_str().unwrap()],
        "",
        "start\n",
    );
    assert_eq!(
        outcome(&out),
        (
            Some(0),
            "start\nclosed\nfalse\tinterrupted!\n".to_string(),
            String::new()
        )
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_in_the_repl_stops_the_chunk_and_the_session_goes_on() {
    // The chunk prints before it loops, so the signal finds it running.
    let out = interrupted(
        &["--fuel", "1000000000", "-i"],
        "print('go') while true do end\nprint('after')\n",
        "go\n",
    );
    assert_eq!(
        outcome(&out),
        (
            Some(0),
            format!("{VERSION}> go\n> after\n> \n"),
            "interrupted!\nstack traceback:\n\tstdin:1: in main chunk\n\t[C]: in ?\n".into()
        )
    );
}
