//! The command line, read the way PUC's `lua` reads it: options first (in order), then the
//! script name and its arguments. `lunette`'s own options (`--fuel`, `--memory`,
//! `--sandbox`) are long options, which `lua` would refuse, so no `lua` command line
//! changes meaning.

use std::ffi::OsString;

/// The bytes of a command-line argument (exact on Unix; other platforms go through UTF-8).
pub fn arg_bytes(a: &OsString) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        a.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        a.to_string_lossy().into_owned().into_bytes()
    }
}

/// Something the options ask to run, in command-line order (before the script).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `-e stat`: run the statement (chunk name `=(command line)`).
    Exec(Vec<u8>),
    /// `-l mod` / `-l g=mod`: `g = require(mod)`.
    Library(Vec<u8>),
    /// `-W`: warnings on.
    Warnings,
}

/// What the command line asks for.
#[derive(Debug, Default)]
pub struct Options {
    /// `-i`: a REPL after the script.
    pub interactive: bool,
    /// `-v` (or `-i`): print the version first.
    pub version: bool,
    /// Some `-e` was given (then, without a script, no REPL and no stdin script).
    pub has_exec: bool,
    /// `-E`: ignore `LUA_INIT*` and `LUA_PATH*`.
    pub ignore_env: bool,
    /// `--sandbox`: the sandbox profile.
    pub sandbox: bool,
    /// `--fuel N`: fuel for each chunk.
    pub fuel: Option<i64>,
    /// `--memory SIZE`: the VM's memory limit.
    pub memory: Option<usize>,
    /// The `-e`/`-l`/`-W` options, in order.
    pub items: Vec<Item>,
    /// Index in `argv` of the script name (the base of the `arg` table); `None`: no script.
    pub script: Option<usize>,
    /// The script is standard input (`-` as the script name, not after `--`).
    pub script_is_stdin: bool,
}

/// A command line `lua` would refuse (the caller prints it and the usage text).
#[derive(Debug, PartialEq, Eq)]
pub enum BadOption {
    /// `-e` or `-l` (or a lunette option taking a value) without its argument.
    NeedsArgument(String),
    /// An option that does not exist (or one with extra characters, like `-ix`).
    Unrecognized(String),
    /// A lunette option whose value does not parse: the whole message.
    BadValue(String),
}

impl std::fmt::Display for BadOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadOption::NeedsArgument(o) => write!(f, "'{o}' needs argument"),
            BadOption::Unrecognized(o) => write!(f, "unrecognized option '{o}'"),
            BadOption::BadValue(m) => f.write_str(m),
        }
    }
}

/// `123`, `64k`, `16M`, `1G` (binary multiples) as a positive byte count.
pub fn parse_bytes(s: &str) -> Option<usize> {
    let (digits, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1usize << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
}

/// Reads `argv` (`argv[0]` is the program). Options stop at the first argument that does
/// not start with `-` (the script), at `-` (the script is stdin) or after `--`.
pub fn parse(argv: &[OsString]) -> Result<Options, BadOption> {
    let mut o = Options::default();
    let mut i = 1;
    while i < argv.len() {
        let a = arg_bytes(&argv[i]);
        let text = String::from_utf8_lossy(&a).into_owned();
        if a.first() != Some(&b'-') {
            o.script = Some(i);
            return Ok(o);
        }
        // lunette's long options.
        match a.as_slice() {
            b"--sandbox" => {
                o.sandbox = true;
                i += 1;
                continue;
            }
            b"--fuel" | b"--memory" => {
                let Some(v) = argv.get(i + 1) else {
                    return Err(BadOption::NeedsArgument(text));
                };
                let v = v.to_string_lossy();
                if a == b"--fuel" {
                    match v.parse::<i64>().ok().filter(|n| *n > 0) {
                        Some(n) => o.fuel = Some(n),
                        None => {
                            return Err(BadOption::BadValue(
                                "'--fuel' needs a positive number".into(),
                            ))
                        }
                    }
                } else {
                    match parse_bytes(&v) {
                        Some(n) => o.memory = Some(n),
                        None => {
                            return Err(BadOption::BadValue(
                                "'--memory' needs a size in bytes (e.g. 16M)".into(),
                            ))
                        }
                    }
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        let rest = &a[2.min(a.len())..];
        match a.get(1) {
            None => {
                // `-`: the script is stdin.
                o.script = Some(i);
                o.script_is_stdin = true;
                return Ok(o);
            }
            Some(b'-') => {
                if !rest.is_empty() {
                    return Err(BadOption::Unrecognized(text));
                }
                if i + 1 < argv.len() {
                    o.script = Some(i + 1);
                }
                return Ok(o);
            }
            Some(b'E') if rest.is_empty() => o.ignore_env = true,
            Some(b'W') if rest.is_empty() => o.items.push(Item::Warnings),
            Some(b'i') if rest.is_empty() => {
                o.interactive = true;
                o.version = true;
            }
            Some(b'v') if rest.is_empty() => o.version = true,
            Some(&c @ (b'e' | b'l')) => {
                let value = if rest.is_empty() {
                    i += 1;
                    match argv.get(i).map(arg_bytes) {
                        Some(v) if v.first() != Some(&b'-') => v,
                        _ => return Err(BadOption::NeedsArgument(text)),
                    }
                } else {
                    rest.to_vec()
                };
                if c == b'e' {
                    o.has_exec = true;
                    o.items.push(Item::Exec(value));
                } else {
                    o.items.push(Item::Library(value));
                }
            }
            Some(_) => return Err(BadOption::Unrecognized(text)),
        }
        i += 1;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, BadOption> {
        let argv: Vec<OsString> = std::iter::once("lunette")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        parse(&argv)
    }

    #[test]
    fn options_stop_at_the_script() {
        let o = p(&["-e", "x=1", "-lmod", "s.lua", "-v"]).unwrap();
        assert_eq!(o.script, Some(4));
        assert!(!o.version);
        assert_eq!(
            o.items,
            vec![Item::Exec(b"x=1".to_vec()), Item::Library(b"mod".to_vec())]
        );
    }

    #[test]
    fn dashes() {
        let o = p(&["-"]).unwrap();
        assert_eq!((o.script, o.script_is_stdin), (Some(1), true));
        let o = p(&["--", "-"]).unwrap();
        assert_eq!((o.script, o.script_is_stdin), (Some(2), false));
        let o = p(&["-e", "x", "--"]).unwrap();
        assert_eq!(o.script, None);
    }

    #[test]
    fn bad_options_like_lua() {
        assert_eq!(
            p(&["-e"]).unwrap_err(),
            BadOption::NeedsArgument("-e".into())
        );
        assert_eq!(
            p(&["-l", "-v"]).unwrap_err(),
            BadOption::NeedsArgument("-l".into())
        );
        assert_eq!(
            p(&["-ix"]).unwrap_err(),
            BadOption::Unrecognized("-ix".into())
        );
        assert_eq!(
            p(&["--x"]).unwrap_err(),
            BadOption::Unrecognized("--x".into())
        );
        assert_eq!(
            p(&["-x"]).unwrap_err(),
            BadOption::Unrecognized("-x".into())
        );
        assert_eq!(
            p(&["--fuel"]).unwrap_err(),
            BadOption::NeedsArgument("--fuel".into())
        );
        assert!(matches!(
            p(&["--fuel", "-3"]).unwrap_err(),
            BadOption::BadValue(_)
        ));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("16M"), Some(16 << 20));
        assert_eq!(parse_bytes("0"), None);
        assert_eq!(parse_bytes("99999999999G"), None);
        assert_eq!(parse_bytes(""), None);
    }
}
