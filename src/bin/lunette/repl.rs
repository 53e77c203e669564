//! The read-eval-print loop, like `lua`'s: a line is tried first as an expression
//! (`return <line>;`) and then as a statement, asking for more lines (prompt `>> `) while the
//! syntax error ends in `<eof>`; `=expr` is `return expr`; results are printed with the
//! global `print`; errors are reported without the program name. Prompts come from the
//! globals `_PROMPT` / `_PROMPT2` (through `tostring`) when set.
//!
//! On a terminal, lines are read with `rustyline` (line editing, history for the session);
//! Ctrl-C at a prompt drops the line being typed, Ctrl-D ends the session. Otherwise lines
//! are read plainly from stdin and the prompt is written to stdout first, as PUC's `lua`
//! built without readline does.

use std::io::{BufRead, IsTerminal, Write};

use lunette::{StashedValue, Value};

use crate::runner::{Failure, Runner};

/// One read: a line (without its newline), the end of input, or Ctrl-C at the prompt.
enum Read {
    Line(Vec<u8>),
    End,
    Cancelled,
}

/// Where lines come from.
enum Input {
    /// A terminal: line editing and history.
    Editor(Box<rustyline::DefaultEditor>),
    /// Anything else: the prompt goes to stdout, the line comes from stdin (locked for
    /// each read only, so `io.read` in a chunk reads the following lines, through the same
    /// buffer).
    Plain,
}

impl Input {
    fn new() -> Input {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            if let Ok(editor) = rustyline::DefaultEditor::new() {
                return Input::Editor(Box::new(editor));
            }
        }
        Input::Plain
    }

    fn read(&mut self, prompt: &[u8]) -> Read {
        match self {
            Input::Editor(editor) => match editor.readline(&String::from_utf8_lossy(prompt)) {
                Ok(line) => Read::Line(line.into_bytes()),
                Err(rustyline::error::ReadlineError::Interrupted) => Read::Cancelled,
                Err(_) => Read::End,
            },
            Input::Plain => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(prompt);
                let _ = out.flush();
                drop(out);
                let mut line = Vec::new();
                match std::io::stdin().lock().read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => Read::End,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        Read::Line(line)
                    }
                }
            }
        }
    }

    fn remember(&mut self, line: &[u8]) {
        if let Input::Editor(editor) = self {
            let _ = editor.add_history_entry(String::from_utf8_lossy(line).as_ref());
        }
    }
}

/// The prompt: `tostring(_PROMPT)` (or `_PROMPT2` for continuation lines) when that global
/// is not nil, else `> ` / `>> `. `tostring` failing ends the REPL with that error, as in
/// `lua`.
fn prompt(r: &mut Runner, first: bool) -> Result<Vec<u8>, Failure> {
    let name = if first { "_PROMPT" } else { "_PROMPT2" };
    let found = r.lua.enter(|ctx| match ctx.globals().get(ctx.str(name)) {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(s.as_bytes().to_vec())),
        v => Err((
            ctx.stash(v),
            ctx.stash(ctx.globals().get(ctx.str("tostring"))),
        )),
    });
    match found {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Ok(if first {
            b"> ".to_vec()
        } else {
            b">> ".to_vec()
        }),
        Err((v, tostring)) => {
            let results = r.call(&tostring, &[v])?;
            Ok(r.lua
                .enter(|ctx| match results.first().map(|s| ctx.fetch(s)) {
                    Some(Ok(Value::String(s))) => s.as_bytes().to_vec(),
                    Some(Ok(v)) => lunette::vm::display_plain(v).into_bytes(),
                    _ => Vec::new(),
                }))
        }
    }
}

/// What one input line turned into.
enum Loaded {
    Chunk(StashedValue),
    Error(Failure),
    /// Ctrl-C while continuation lines were asked for: the statement is dropped.
    Dropped,
    /// The input ended at the first prompt.
    End,
}

/// Reads a line (and continuation lines) and compiles it, like `lua.c`'s `loadline`.
fn load_line(r: &mut Runner, input: &mut Input) -> Result<Loaded, Failure> {
    let p = prompt(r, true)?;
    let mut line = match input.read(&p) {
        Read::Line(l) => l,
        Read::End => return Ok(Loaded::End),
        Read::Cancelled => return Ok(Loaded::Dropped),
    };
    if let Some(rest) = line.strip_prefix(b"=") {
        line = [b"return ".as_slice(), rest].concat();
    }
    // First as an expression whose values are printed.
    let expression = [b"return ".as_slice(), &line, b";"].concat();
    if let Ok(f) = r.lua.load(&expression, "=stdin") {
        if !line.is_empty() {
            input.remember(&line);
        }
        return Ok(Loaded::Chunk(f));
    }
    // Then as a statement, with more lines while it is incomplete.
    loop {
        match r.lua.load(&line, "=stdin") {
            Ok(f) => {
                input.remember(&line);
                return Ok(Loaded::Chunk(f));
            }
            Err(e) if e.kind == lunette::LuaErrorKind::Syntax && e.message.ends_with("<eof>") => {
                let p = prompt(r, false)?;
                match input.read(&p) {
                    Read::Line(more) => {
                        line.push(b'\n');
                        line.extend_from_slice(&more);
                    }
                    Read::End => {
                        // The input ended inside a statement. `lua` then reports what
                        // is left on its stack instead of the syntax error: the
                        // continuation prompt it fetched (`(error message not a string)`
                        // when that is the default one). Same here.
                        input.remember(&line);
                        let shown =
                            r.lua
                                .enter(|ctx| match ctx.globals().get(ctx.str("_PROMPT2")) {
                                    Value::Nil => "(error message not a string)".to_string(),
                                    _ => String::from_utf8_lossy(&p).into_owned(),
                                });
                        return Ok(Loaded::Error(Failure::plain(shown)));
                    }
                    Read::Cancelled => return Ok(Loaded::Dropped),
                }
            }
            Err(e) => {
                input.remember(&line);
                return Ok(Loaded::Error(e.into()));
            }
        }
    }
}

/// Prints a chunk's results with the global `print`, like `lua.c`'s `l_print`.
fn print_results(r: &mut Runner, results: &[StashedValue]) {
    if results.is_empty() {
        return;
    }
    let print = r
        .lua
        .enter(|ctx| ctx.stash(ctx.globals().get(ctx.str("print"))));
    if let Err(f) = r.call(&print, results) {
        errln!("error calling 'print' ({})", f.message);
    }
}

/// Runs the REPL until the input ends. `Err` only for an error `lua` does not catch there
/// (a failing `__tostring` of `_PROMPT`): the REPL ends and `lua` prints the bare message
/// (no program name, no traceback) and exits with status 1.
pub fn run(r: &mut Runner) -> Result<(), String> {
    r.survive_idle_interrupts();
    let mut input = Input::new();
    loop {
        let loaded = load_line(r, &mut input).map_err(|f| f.message)?;
        match loaded {
            Loaded::End => break,
            Loaded::Dropped => {}
            Loaded::Error(f) => errln!("{f}"),
            Loaded::Chunk(f) => match r.call(&f, &[]) {
                Ok(results) => print_results(r, &results),
                Err(f) => errln!("{f}"),
            },
        }
    }
    outln!();
    Ok(())
}
