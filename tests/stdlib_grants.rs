//! The host-granted parts of the standard library (`io`, the OS functions of `os`,
//! `dofile`/`loadfile`, the file searcher of `require`, the full `debug` library), and their
//! absence in a sandbox. The `tests/lua` corpus runs without grants, so these run here.

use std::path::PathBuf;
use std::rc::Rc;

use lunette::vm::{Grants, Host};
use lunette::{CaptureHost, Lua};

/// A fresh directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("lunette-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn granted() -> CaptureHost {
    CaptureHost {
        grants: Grants::all(),
        ..CaptureHost::default()
    }
}

/// Runs `source` with `host`; returns stdout, panicking with the error if it failed.
fn run(host: &CaptureHost, source: &str) -> String {
    let mut lua = Lua::with_host(Rc::new(host.clone()));
    if let Err(e) = lua.execute(source.as_bytes(), "=test") {
        panic!(
            "script failed: {}\n{}\nstdout so far:\n{}",
            e.message,
            e.traceback,
            String::from_utf8_lossy(&host.take_stdout())
        );
    }
    String::from_utf8(host.take_stdout()).unwrap()
}

fn lua_quote(s: &str) -> String {
    format!("{s:?}")
}

#[test]
fn sandbox_has_no_granted_functions() {
    let host = CaptureHost::new();
    let out = run(
        &host,
        r##"
        print(io, dofile, loadfile)
        print(os.getenv, os.exit, os.remove, os.rename, os.tmpname, os.execute, os.setlocale)
        print(type(os.time), type(os.clock), type(os.date), type(os.difftime))
        print(type(debug.traceback), debug.getinfo, debug.getlocal, debug.sethook)
        print(package.searchpath, #package.searchers, package.cpath)
        print(type(require), type(warn), package.loaded.io)
        print(package.loadlib("x", "y"))
        "##,
    );
    assert_eq!(
        out,
        "nil\tnil\tnil\n\
         nil\tnil\tnil\tnil\tnil\tnil\tnil\n\
         function\tfunction\tfunction\tfunction\n\
         function\tnil\tnil\tnil\n\
         nil\t2\t\n\
         function\tfunction\tnil\n\
         nil\tdynamic libraries not enabled; check your Lua installation\tabsent\n"
    );
}

#[test]
fn sandbox_time_comes_from_the_host() {
    let host = CaptureHost::new();
    host.time.set(1_000_000_000);
    host.clock.set(2.5);
    let out = run(
        &host,
        "print(os.time(), os.clock(), os.date('!%F %T'), os.date('%c'))",
    );
    assert_eq!(
        out,
        "1000000000\t2.5\t2001-09-09 01:46:40\tSun Sep  9 01:46:40 2001\n"
    );
}

/// A host whose local time is UTC+1 (for `os.date` without `!` and `os.time{...}`).
#[derive(Clone, Default)]
struct OffsetHost(CaptureHost);

impl Host for OffsetHost {
    fn write_stdout(&self, bytes: &[u8]) {
        self.0.write_stdout(bytes)
    }
    fn write_stderr(&self, bytes: &[u8]) {
        self.0.write_stderr(bytes)
    }
    fn utc_offset(&self) -> i64 {
        3600
    }
}

#[test]
fn local_time_uses_the_host_offset() {
    let host = OffsetHost::default();
    let mut lua = Lua::with_host(Rc::new(host.clone()));
    lua.execute(
        br##"
        print(os.date("%H:%M %z %Z", 0), os.date("!%H:%M %z %Z", 0))
        print(os.time{year=1970, month=1, day=1, hour=1})
        local t = os.date("*t", 0)
        print(t.hour, t.day, os.time(t))
        "##,
        "=t",
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(host.0.take_stdout()).unwrap(),
        "01:00 +0100 +0100\t00:00 +0000 GMT\n0\n1\t1\t0\n"
    );
}

#[test]
fn io_files_read_write_seek() {
    let dir = TempDir::new("io");
    let host = granted();
    let src = format!(
        r##"
        local dir = {dir}
        local name = dir .. "/data.txt"
        local f = assert(io.open(name, "w"))
        assert(f:write("12 0x1F -3.5e2 .5 abc\n", "line2\n", 3, " ", 4.5, "\n\nline5") == f)
        print(io.type(f), tostring(f):match("^file %(0x%x+%)$") ~= nil)
        print(f:close(), io.type(f), tostring(f))
        print(pcall(f.write, f, "x"))
        print(pcall(f.read, f))
        print(pcall(f.close, f))

        f = assert(io.open(name, "rb"))
        print(f:read("n", "n", "n", "n", "n"))
        print(f:read("l"), f:read("L"), f:read("n", "n"))
        print(f:read("l", "l"), f:read(3), f:read(0), f:read(100))
        print(f:read("a"), f:read("l"), f:read(0), f:read("n"))
        print(f:seek("set", 3), f:read(4), f:seek("cur"), f:seek("end"), f:seek("cur", -2), f:read("a"))
        print(pcall(f.read, f, "x"))
        print(pcall(f.seek, f, "bad"))
        print(f:seek("set", -1))
        print(f:write("no"))
        f:close()

        local lines = {{}}
        for l in io.lines(name) do lines[#lines + 1] = "[" .. l .. "]" end
        print(table.concat(lines))
        lines = {{}}
        for a, b in io.lines(name, 2, "l") do lines[#lines + 1] = a .. "|" .. tostring(b) end
        print(table.concat(lines, ","))
        for l in io.lines(name, "L") do io.write(l) end
        print()
        f = io.open(name)
        for a in f:lines("n") do print("number", a) end
        print(io.type(f), f:read("l"))
        f:close()
        print(pcall(io.lines, dir .. "/missing"))
        local it = io.lines(name)
        local fh = select(4, io.lines(name))
        print(io.type(fh))

        -- read/write handles
        f = assert(io.open(name, "r+"))
        f:write("AB")
        print(f:read(3))
        f:seek("set", 0)
        print(f:read("l"))
        f:close()
        f = assert(io.open(name, "a+"))
        f:write("ZZ")
        f:seek("set", 0)
        print(#f:read("a"))
        f:close()
        f = assert(io.open(name, "w+"))
        f:setvbuf("no")
        f:write(1, " ", 2.5, " ", 1e100, " ", -0.0, " ", 2^63)
        f:seek("set")
        print(f:read("a"))
        print(f:setvbuf("full", 1024), f:setvbuf("line"), f:flush())
        f:close()

        -- numbers
        f = assert(io.open(name, "w"))
        f:write("0x10 1e2 -7 .e5 " .. string.rep("9", 300) .. " 8")
        f:close()
        f = io.open(name)
        print(f:read("n", "n", "n"))
        print(f:read("n"))
        print(f:read("n"))
        f:close()

        -- failures
        print(io.open(dir .. "/missing"))
        print(pcall(io.open, name, "rw"))
        print(pcall(io.open, name, "rb+"))
        print(io.open(dir, "r"):read("a"))
        print(pcall(io.popen, "ls"))
        print(pcall(io.input, dir .. "/missing"))

        -- tmpfile
        f = io.tmpfile()
        f:write("temporary")
        f:seek("set")
        print(f:read("a"))
        f:close()

        -- default files
        print(io.input() == io.stdin, io.output() == io.stdout)
        io.output(name)
        io.write("via default output")
        print(io.output() ~= io.stdout)
        io.close()
        print(pcall(io.write, "x"))
        io.output(io.stdout)
        io.input(name)
        print(io.read("a"))
        io.input():close()
        print(pcall(io.read))
        print(pcall(io.lines))
        io.input(io.stdin)
        print(io.stdout:close())
        print(io.stdin:write("x"))
        print(io.stdout:read())
        print(io.stdout:seek())
        print(io.type(io.stdin), io.type(42), pcall(io.type))

        -- to-be-closed handles and collection
        do
          local h <close> = assert(io.open(name))
          print(io.type(h))
          fh = h
        end
        print(io.type(fh))
        io.open(name, "w"):write("flushed by the collector")
        collectgarbage()
        collectgarbage()
        print(io.open(name):read("a"))
        "##,
        dir = lua_quote(&dir.path())
    );
    let out = run(&host, &src);
    let dir_s = dir.path();
    // Same as `lua5.4` prints for this script, except: PUC names methods called through
    // `pcall(f.read, f, ...)` '?', has `io.popen`, and can seek a redirected stdout.
    let expected = format!(
        "file\ttrue\n\
         true\tclosed file\tfile (closed)\n\
         false\tattempt to use a closed file\n\
         false\tattempt to use a closed file\n\
         false\tattempt to use a closed file\n\
         12\t31\t-350.0\t0.5\tnil\n\
         abc\tline2\n\
         \t3\t4.5\n\
         \tlin\t\te5\n\
         \tnil\tnil\tnil\n\
         3\t0x1F\t7\t40\t38\te5\n\
         false\tbad argument #2 to 'read' (invalid format)\n\
         false\tbad argument #2 to 'seek' (invalid option 'bad')\n\
         nil\tInvalid argument\t22\n\
         nil\tBad file descriptor\t9\n\
         [12 0x1F -3.5e2 .5 abc][line2][3 4.5][][line5]\n\
         12| 0x1F -3.5e2 .5 abc,li|ne2,3 |4.5,\n\
         l|ine5\n\
         12 0x1F -3.5e2 .5 abc\n\
         line2\n\
         3 4.5\n\
         \n\
         line5\n\
         number\t12\n\
         number\t31\n\
         number\t-350.0\n\
         number\t0.5\n\
         file\tabc\n\
         false\tcannot open file '{dir_s}/missing' (No such file or directory)\n\
         file\n\
         \x200x\n\
         AB 0x1F -3.5e2 .5 abc\n\
         42\n\
         1 2.5 1e+100 -0 9.2233720368548e+18\n\
         true\ttrue\ttrue\n\
         16\t100.0\t-7\n\
         nil\n\
         nil\n\
         nil\t{dir_s}/missing: No such file or directory\t2\n\
         false\tbad argument #2 to 'io.open' (invalid mode)\n\
         false\tbad argument #2 to 'io.open' (invalid mode)\n\
         nil\tIs a directory\t21\n\
         false\t'popen' not supported\n\
         false\tcannot open file '{dir_s}/missing' (No such file or directory)\n\
         temporary\n\
         true\ttrue\n\
         true\n\
         false\tdefault output file is closed\n\
         via default output\n\
         false\tdefault input file is closed\n\
         false\tattempt to use a closed file\n\
         nil\tcannot close standard file\n\
         nil\tBad file descriptor\t9\n\
         nil\tBad file descriptor\t9\n\
         nil\tIllegal seek\t29\n\
         file\tnil\tfalse\tbad argument #1 to 'io.type' (value expected)\n\
         file\n\
         closed file\n\
         flushed by the collector\n"
    );
    assert_eq!(out, expected);
}

#[test]
fn io_standard_streams_go_through_the_host() {
    let host = granted();
    let out = run(
        &host,
        r##"
        io.write("a", 1, " ", 2.0, "\n")
        print(io.stdout:write("b\n") == io.stdout)
        io.stderr:write("to stderr\n")
        warn("invisible")
        warn("@on")
        warn("visible ", "warning")
        warn("@off")
        warn("invisible again")
        "##,
    );
    assert_eq!(out, "a1 2\nb\ntrue\n");
    assert_eq!(
        String::from_utf8(host.take_stderr()).unwrap(),
        "to stderr\nLua warning: visible warning\n"
    );
}

#[test]
fn os_granted_functions() {
    let dir = TempDir::new("os");
    let host = granted();
    std::env::set_var("LUNETTE_TEST_VAR", "hello");
    let src = format!(
        r##"
        local dir = {dir}
        print(os.getenv("LUNETTE_TEST_VAR"), os.getenv("LUNETTE_SURELY_UNSET_VAR"))
        local t = os.tmpname()
        print(type(t), io.open(t) ~= nil)
        print(os.remove(t))
        print(select("#", os.remove(t)), select(3, os.remove(t)))
        local a, b = dir .. "/a", dir .. "/b"
        io.open(a, "w"):close()
        print(os.rename(a, b))
        print(io.open(a), io.open(b) ~= nil)
        print(os.rename(a, b))
        print(os.remove(dir .. "/missing"))
        print(os.setlocale(), os.setlocale("C"), os.setlocale(""), os.setlocale("fr_FR"))
        print(pcall(os.setlocale, "C", "bad"))
        print(os.execute())
        print(os.execute("exit 3"))
        print(os.execute("true"))
        print(type(os.exit))
        "##,
        dir = lua_quote(&dir.path())
    );
    let out = run(&host, &src);
    let d = dir.path();
    assert_eq!(
        out,
        format!(
            "hello\tnil\n\
             string\ttrue\n\
             true\n\
             3\t2\n\
             true\n\
             nil\ttrue\n\
             nil\tNo such file or directory\t2\n\
             nil\t{d}/missing: No such file or directory\t2\n\
             C\tC\tC\tnil\n\
             false\tbad argument #2 to 'os.setlocale' (invalid option 'bad')\n\
             true\n\
             nil\texit\t3\n\
             true\texit\t0\n\
             function\n"
        )
    );
}

#[test]
fn dofile_and_loadfile() {
    let dir = TempDir::new("dofile");
    let host = granted();
    let d = dir.path();
    std::fs::write(
        dir.0.join("chunk.lua"),
        "#!/usr/bin/env lua\nlocal a = ...\nreturn a, x, 3\n",
    )
    .unwrap();
    std::fs::write(dir.0.join("bad.lua"), "return +\n").unwrap();
    std::fs::write(dir.0.join("err.lua"), "\nerror('raised')\n").unwrap();
    let src = format!(
        r##"
        local dir = {dir}
        x = "global x"
        print(dofile(dir .. "/chunk.lua"))
        print(select("#", dofile(dir .. "/chunk.lua")))
        local f = loadfile(dir .. "/chunk.lua")
        print(f("arg"))
        f = loadfile(dir .. "/chunk.lua", "t", {{x = "env x"}})
        print(f(1))
        print(loadfile(dir .. "/chunk.lua", "b"))
        print(loadfile(dir .. "/bad.lua"))
        print(loadfile(dir .. "/missing.lua"))
        print(pcall(dofile, dir .. "/bad.lua"))
        print(pcall(dofile, dir .. "/err.lua"))
        print(pcall(dofile, dir .. "/missing.lua"))
        print(debug.getinfo(loadfile(dir .. "/chunk.lua"), "S").source:sub(-10))
        "##,
        dir = lua_quote(&d)
    );
    let out = run(&host, &src);
    assert_eq!(
        out,
        format!(
            "nil\tglobal x\t3\n\
             3\n\
             arg\tglobal x\t3\n\
             1\tenv x\t3\n\
             nil\tattempt to load a text chunk (mode is 'b')\n\
             nil\t{d}/bad.lua:1: unexpected symbol near '+'\n\
             nil\tcannot open {d}/missing.lua: No such file or directory\n\
             false\t{d}/bad.lua:1: unexpected symbol near '+'\n\
             false\t{d}/err.lua:2: raised\n\
             false\tcannot open {d}/missing.lua: No such file or directory\n\
             /chunk.lua\n"
        )
    );
}

#[test]
fn require_searches_package_path() {
    let dir = TempDir::new("require");
    let host = granted();
    let d = dir.path();
    std::fs::create_dir_all(dir.0.join("pkg")).unwrap();
    std::fs::write(
        dir.0.join("mod_a.lua"),
        "local name, file = ...\nreturn {name = name, file = file}\n",
    )
    .unwrap();
    std::fs::write(dir.0.join("pkg/init.lua"), "return 'pkg init'\n").unwrap();
    std::fs::write(dir.0.join("pkg/sub.lua"), "return 'pkg.sub'\n").unwrap();
    std::fs::write(dir.0.join("broken.lua"), "return +\n").unwrap();
    let src = format!(
        r##"
        local dir = {dir}
        print(#package.searchers, type(package.searchpath))
        package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua"
        local m, file = require("mod_a")
        print(m.name, m.file == dir .. "/mod_a.lua", file == m.file)
        print(require("pkg"), (require("pkg.sub")))
        print(package.searchpath("pkg.sub", package.path) == dir .. "/pkg/sub.lua")
        print(package.searchpath("a_b", "x/?.lua;y/?", "_", "-"))
        print(package.searchpath("nope", package.path) == nil)
        local ok, err = pcall(require, "nope")
        print(ok, err == "module 'nope' not found:\n\tno field package.preload['nope']\n\t"
          .. "no field package.sources['nope']\n\tno file '" .. dir .. "/nope.lua'\n\tno file '"
          .. dir .. "/nope/init.lua'")
        ok, err = pcall(require, "broken")
        print(ok, err == "error loading module 'broken' from file '" .. dir .. "/broken.lua':\n\t"
          .. dir .. "/broken.lua:1: unexpected symbol near '+'")
        package.path = 42
        print(pcall(require, "other"))
        "##,
        dir = lua_quote(&d)
    );
    let out = run(&host, &src);
    assert_eq!(
        out,
        "3\tfunction\n\
         mod_a\ttrue\ttrue\n\
         pkg init\tpkg.sub\n\
         true\n\
         nil\tno file 'x/a-b.lua'\n\tno file 'y/a-b'\n\
         true\n\
         false\ttrue\n\
         false\ttrue\n\
         false\t'package.path' must be a string\n"
    );
}

#[test]
fn debug_library_with_grant() {
    let host = granted();
    let out = run(
        &host,
        r##"
        local function f(a, b, ...)
          local x = 10
          local info = debug.getinfo(1, "nSlu")
          print(info.what, info.short_src, info.currentline, info.linedefined,
                info.lastlinedefined, info.nparams, info.isvararg, info.nups)
          local caller = debug.getinfo(2, "Sl")
          print(caller.what, caller.currentline)
          print(debug.getlocal(1, 1), debug.getlocal(1, 2), debug.getlocal(1, 3))
          print(debug.getlocal(1, -1), debug.getlocal(1, -2), debug.getlocal(1, -3))
          print(debug.setlocal(1, 3, 99), x)
          return x
        end
        f(1, 2, "va1", "va2")
        local function named() return debug.getinfo(1, "n") end
        local n = named()
        print(n.name, n.namewhat)
        print(debug.getinfo(print).what, debug.getinfo(print, "S").short_src)
        print(debug.getinfo(f, "f").func == f, debug.getinfo(100))
        print(pcall(debug.getinfo, 1, ">"))
        print(pcall(debug.getinfo, 1, "q"))
        print(pcall(debug.getlocal, 50, 1))
        print(debug.getlocal(f, 1), debug.getlocal(f, 2), debug.getlocal(f, 3))
        local lines = debug.getinfo(f, "L").activelines
        print(lines[3], lines[1])

        local up1, up2 = 5, 6
        local function g() return up1 + up2 end
        print(debug.getupvalue(g, 1), debug.getupvalue(g, 2), debug.getupvalue(g, 3))
        print(debug.setupvalue(g, 1, 50), up1, g())
        local function h() return up1 end
        print(debug.upvalueid(g, 1) == debug.upvalueid(h, 1),
              debug.upvalueid(g, 1) == debug.upvalueid(g, 2), debug.upvalueid(g, 5))
        print(pcall(debug.upvaluejoin, g, 1, h, 1))

        print(debug.gethook())
        local hook = function() end
        debug.sethook(hook, "lcrx", 3)
        local hf, mask, count = debug.gethook()
        print(hf == hook, mask, count)
        debug.sethook()
        print(debug.gethook())

        print(debug.getmetatable("x").__index == string, debug.getregistry()._LOADED == package.loaded)
        local t = debug.setmetatable({}, {__index = {k = "v"}})
        print(t.k, debug.getmetatable(t).__index.k)
        print(debug.getuservalue(io.stdout), debug.setuservalue(io.stdout, 5))

        local co = coroutine.create(function(a) local z = a * 2; coroutine.yield(z) end)
        coroutine.resume(co, 7)
        print(debug.getlocal(co, 1, 1), debug.getlocal(co, 1, 2))
        print(debug.getinfo(co, 1, "l").currentline, debug.getinfo(co, 0, "S").what)
        "##,
    );
    assert_eq!(
        out,
        "Lua\ttest\t4\t2\t13\t2\ttrue\t1\n\
         main\t14\n\
         a\tb\tx\t10\n\
         (vararg)\t(vararg)\tnil\n\
         x\t99\n\
         named\tlocal\n\
         C\t[C]\n\
         true\tnil\n\
         false\tbad argument #2 to 'debug.getinfo' (invalid option '>')\n\
         false\tbad argument #2 to 'debug.getinfo' (invalid option)\n\
         false\tbad argument #1 to 'debug.getlocal' (level out of range)\n\
         a\tb\tnil\n\
         true\tnil\n\
         up1\tup2\n\
         up1\t50\t56\n\
         true\tfalse\tnil\n\
         true\n\
         nil\n\
         true\tcrl\t3\n\
         nil\n\
         true\ttrue\n\
         v\tv\n\
         nil\tnil\n\
         a\tz\t14\n\
         49\tC\n"
    );
}

#[test]
fn debug_upvalue_functions_share_and_join_upvalues() {
    let host = granted();
    let out = run(
        &host,
        r#"
        local a, b = 1, 2
        local function fa() return a end
        local function fb() return b end
        print(fa(), fb(), debug.upvalueid(fa, 1) == debug.upvalueid(fb, 1))
        debug.upvaluejoin(fa, 1, fb, 1)
        print(fa(), fb(), debug.upvalueid(fa, 1) == debug.upvalueid(fb, 1))
        b = 20
        print(fa(), debug.getupvalue(fa, 1))
        print(pcall(debug.upvaluejoin, fa, 5, fb, 1))
        "#,
    );
    assert_eq!(
        out,
        "1\t2\tfalse\n2\t2\ttrue\n20\ta\t20\n\
         false\tbad argument #2 to 'debug.upvaluejoin' (invalid upvalue index)\n"
    );
}
