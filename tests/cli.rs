//! The `lunette` command behaves like `lua`: scripts with arguments, -e, -v, stdin, the REPL,
//! and uncaught errors reported on stderr with a traceback and exit status 1.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn lunette(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lunette"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lunette runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn script(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lunette-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn runs_a_script_with_arguments() {
    let p = script(
        "args.lua",
        "print(...) print(#arg, arg[0] ~= nil, arg[1], arg[2])",
    );
    let out = lunette(&[p.to_str().unwrap(), "a", "b"], "");
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "a\tb\n2\ttrue\ta\tb\n");
}

#[test]
fn dash_e_and_version() {
    let out = lunette(&["-e", "print(1 + 1)"], "");
    assert_eq!(text(&out.stdout), "2\n");
    let out = lunette(&["-v"], "");
    assert!(
        text(&out.stdout).starts_with("lunette "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn dash_runs_stdin() {
    let out = lunette(&["-"], "print('from stdin')");
    assert_eq!(text(&out.stdout), "from stdin\n");
}

#[test]
fn uncaught_error_goes_to_stderr_with_traceback_and_status_1() {
    let p = script("err.lua", "local function f()\n  error('boom')\nend\nf()\n");
    let out = lunette(&[p.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("lunette: "), "{err}");
    assert!(err.contains("err.lua:2: boom"), "{err}");
    assert!(err.contains("stack traceback:"), "{err}");
    assert!(err.contains("in local 'f'"), "{err}");
}

#[test]
fn syntax_error_reports_and_fails() {
    let out = lunette(&["-e", "x = = 1"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "lunette: (command line):1: unexpected symbol near '='\n"
    );
}

#[test]
fn repl_prints_expression_values_and_continues_statements() {
    let out = lunette(&["-i"], "1 + 2\nx = 10\nfor i = 1, 2 do\nprint(i * x)\nend\n'a', nil, x\nerror('oops')\nprint('still alive')\n");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("3\n"), "{stdout}");
    assert!(stdout.contains("10\n20\n"), "{stdout}");
    assert!(stdout.contains("a\tnil\t10\n"), "{stdout}");
    assert!(stdout.contains("still alive\n"), "{stdout}");
    assert!(text(&out.stderr).contains("oops"), "{}", text(&out.stderr));
}

#[test]
fn missing_script_file_is_an_error() {
    let out = lunette(&["/nonexistent/x.lua"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot open /nonexistent/x.lua"));
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
    // Under the limit everything works; a bad size is refused.
    let ok = lunette(&["--memory", "8M", "-e", "print(#('x'):rep(1 << 20))"], "");
    assert_eq!(text(&ok.stdout), "1048576\n");
    let bad = lunette(&["--memory", "lots", "-e", "print(1)"], "");
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("'--memory' needs a size"));
}
