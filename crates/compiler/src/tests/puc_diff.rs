//! Differential test against `luac5.4 -l` (skipped when luac5.4 is not installed):
//! compares, function by function, the sequence of opcodes, their `A` register and the
//! targets of jumps, after normalizing the known, intended differences.

use crate::opcode::Instruction::{self, *};
use crate::proto::Prototype;

#[derive(Debug, PartialEq)]
struct Norm {
    op: String,
    a: i64,
    /// Jump target (normalized index), for jumps and loops.
    target: Option<usize>,
}

/// One listed instruction: opcode name and numeric operands.
type Listed = (String, Vec<i64>);

fn luac_listing(src: &str) -> Option<Vec<Vec<Listed>>> {
    let dir = std::env::temp_dir().join(format!("lunette-puc-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let file = dir.join(format!("{:x}.lua", fxhash(src)));
    std::fs::write(&file, src).ok()?;
    let out = std::process::Command::new("luac5.4")
        .arg("-l")
        .arg("-o")
        .arg("/dev/null")
        .arg(&file)
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&file);
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut funcs: Vec<Vec<Listed>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("main <") || line.starts_with("function <") {
            funcs.push(Vec::new());
            continue;
        }
        let parts: Vec<&str> = line.split('\t').collect();
        if parts.len() >= 5 && parts[0].is_empty() && parts[2].starts_with('[') {
            let op = parts[3].trim().to_string();
            let args: Vec<i64> = parts[4]
                .split_whitespace()
                .map(|x| x.trim_end_matches('k').parse().unwrap_or(0))
                .collect();
            if let Some(f) = funcs.last_mut() {
                f.push((op, args));
            }
        }
    }
    Some(funcs)
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

fn normalize_puc(code: &[Listed]) -> Vec<Norm> {
    let dropped = |op: &str| {
        matches!(
            op,
            "VARARGPREP" | "MMBIN" | "MMBINI" | "MMBINK" | "EXTRAARG"
        )
    };
    let mut map = Vec::with_capacity(code.len() + 1);
    let mut n = 0;
    for (op, _) in code {
        map.push(n);
        if !dropped(op) {
            n += 1;
        }
    }
    map.push(n);
    let mut out = Vec::new();
    for (pc, (op, args)) in code.iter().enumerate() {
        if dropped(op) {
            continue;
        }
        let a = args.first().copied().unwrap_or(0);
        let tgt = |t: i64| map.get(t as usize).copied();
        let (op, a, target) = match op.as_str() {
            "JMP" => ("JMP".to_string(), 0, tgt(pc as i64 + 1 + a)),
            "FORPREP" => (op.clone(), a, tgt(pc as i64 + 2 + args[1])),
            "TFORPREP" => (op.clone(), a, tgt(pc as i64 + 1 + args[1])),
            "FORLOOP" | "TFORLOOP" => (op.clone(), a, tgt(pc as i64 + 1 - args[1])),
            "RETURN0" => ("RETURN".to_string(), 0, None),
            "RETURN1" => ("RETURN".to_string(), a, None),
            "RETURN" if args.get(1) == Some(&1) => ("RETURN".to_string(), 0, None),
            _ => (op.clone(), a, None),
        };
        out.push(Norm { op, a, target });
    }
    // 5.4.4 closes from above the loop's control variables after a `break` (see
    // `Parser::leave_block`); we close from the loop's base like 5.4.6.
    for i in 1..out.len() {
        if out[i].op == "CLOSE" && matches!(out[i - 1].op.as_str(), "FORLOOP" | "TFORLOOP") {
            out[i].a = -1;
        }
    }
    out
}

fn normalize_ours(code: &[Instruction]) -> Vec<Norm> {
    code.iter()
        .enumerate()
        .map(|(pc, i)| {
            let dbg = format!("{i:?}");
            let name = dbg.split([' ', '{']).next().unwrap_or("").to_string();
            let mut op = name.to_uppercase();
            let mut target = None;
            let mut a = dbg
                .split("a: ")
                .nth(1)
                .and_then(|s| s.split([',', ' ']).next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            match *i {
                Jmp { off } => target = Some((pc as i64 + 1 + off as i64) as usize),
                ForPrep { skip, .. } => target = Some(pc + 1 + skip as usize),
                TForPrep { skip, .. } => target = Some(pc + 1 + skip as usize),
                ForLoop { back, .. } | TForLoop { back, .. } => {
                    target = Some(pc + 1 - back as usize)
                }
                Return0 | Return { b: 1, .. } => {
                    op = "RETURN".into();
                    a = 0;
                }
                Return1 { .. } | Return { .. } => op = "RETURN".into(),
                SetTabUp { up, .. } => a = up as i64,
                _ => {}
            }
            op = match op.as_str() {
                "LOADFALSESKIP" => "LFALSESKIP".into(),
                "SELFK" => "SELF".into(),
                _ => op,
            };
            Norm { op, a, target }
        })
        .collect::<Vec<_>>()
        .into_iter()
        .scan(String::new(), |prev, mut n| {
            if n.op == "CLOSE" && matches!(prev.as_str(), "FORLOOP" | "TFORLOOP") {
                n.a = -1;
            }
            *prev = n.op.clone();
            Some(n)
        })
        .collect()
}

fn protos(p: &Prototype, out: &mut Vec<Vec<Instruction>>) {
    out.push(p.code.clone());
    for c in &p.prototypes {
        protos(c, out);
    }
}

/// Programs whose code should be identical to PUC's modulo the normalization above.
#[test]
fn same_code_as_puc() {
    if luac_listing("return").is_none() {
        eprintln!("luac5.4 not available: skipping");
        return;
    }
    let mut failures = Vec::new();
    let mut compared = 0;
    for src in super::corpus::PROGRAMS.iter().chain(EXTRA) {
        // constructs where we intentionally differ from PUC
        if [
            "- 1", "-1", "<<", "1 +", "2 *", "1 -", "1.5 ==", "== 1.5", "100000", "0.5", "1.5",
            "#!", "2^53", "- 1.5", "2.0", "0x10p",
        ]
        .iter()
        .any(|p| src.contains(p))
        {
            continue;
        }
        let Some(theirs) = luac_listing(src) else {
            continue;
        };
        let ours = crate::compile(src.as_bytes(), "=x").unwrap();
        let mut ours_list = Vec::new();
        protos(&ours, &mut ours_list);
        // luac lists functions depth-first in the same order
        if theirs.len() != ours_list.len() {
            failures.push(format!("{src}: function count differs"));
            continue;
        }
        failures.extend(first_difference(src, &theirs, &ours_list));
        compared += 1;
    }
    assert!(compared > 50);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The first function whose code differs between PUC's listing and ours (paired in the
/// order both list them), described with the instructions around the difference.
fn first_difference(
    src: &str,
    theirs: &[Vec<Listed>],
    ours: &[Vec<Instruction>],
) -> Option<String> {
    for (t, o) in theirs.iter().zip(ours) {
        let t = normalize_puc(t);
        let o = normalize_ours(o);
        if t != o {
            let pos = t
                .iter()
                .zip(&o)
                .position(|(x, y)| x != y)
                .unwrap_or(t.len().min(o.len()));
            return Some(format!(
                "{src}\n  first difference at {pos}:\n  puc:  {:?}\n  ours: {:?}",
                &t[pos.saturating_sub(2)..(pos + 3).min(t.len())],
                &o[pos.saturating_sub(2)..(pos + 3).min(o.len())]
            ));
        }
    }
    None
}

/// Random programs from the fuzz generator (without numerals), compared with PUC.
#[test]
fn generated_programs_same_code_as_puc() {
    use super::fuzz::{Gen, XorShift};
    if luac_listing("return").is_none() {
        return;
    }
    let mut rng = XorShift(99);
    let mut failures = Vec::new();
    let mut compared = 0;
    let scale: usize = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for _ in 0..1000 * scale {
        let mut g = Gen {
            rng: &mut rng,
            no_numbers: true,
            depth: 0,
            vars: vec!["a".into(), "b".into()],
            labels: 0,
        };
        let mut src = String::from("local a, b = ...\n");
        for _ in 0..1 + g.rng.below(6) {
            src.push_str(&g.stat());
            src.push('\n');
        }
        let Ok(ours) = crate::compile(src.as_bytes(), "=x") else {
            continue;
        };
        let Some(theirs) = luac_listing(&src) else {
            continue;
        };
        compared += 1;
        let mut ours_list = Vec::new();
        protos(&ours, &mut ours_list);
        failures.extend(first_difference(&src, &theirs, &ours_list));
    }
    assert!(compared > 300, "only {compared} programs compared");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
}

const EXTRA: &[&str] = &[
    "local a, b, c = f(); if a and b or c then g() elseif not a then h() else i() end",
    "local x = a and b or c and d or e",
    "local x = (a or b) and (c or d) or not e",
    "while a and not b do if c or d then break end end",
    "repeat local x = f() if x then goto skip end g() ::skip:: until x and y",
    "for i = a, b, c do if i == 3 then break end end",
    "local t = {a = 1, b = {c = 2, d = {3, 4, f()}}, [g()] = h(...)}",
    "local a, b = ...; a, b = b, a; return a, b",
    "local x = a == b and c ~= d or e < f and g <= h",
    "return a or b, c and d, not e",
    "local t = {}; for k, v in pairs(x) do t[k] = v and v.y or 0 end",
    "local function f(a, b) if a then return b end return a or b end",
    "local a = {}; a.b.c = a.d[e].f",
    "local a <const> = 'x'; local b = a .. 'y'",
    "local x; x = x == nil",
    "local x = y > 1 and y < 10",
    "local x = not (a < b)",
    "if a == nil or b ~= true or c == 'str' then end",
    "local a; local b = a or {}",
    "local s = a .. b .. (c or d) .. e",
    "for k, v in pairs(t) do local x; f(function() return x end); if k then break end end",
    "for i = 1, 3 do local x <close> = f(); if x then break end; g() end",
    "while true do local y; do local x; f(function() return x, y end); goto out end end ::out::",
    "local a = {}; for i = 1, 10 do a[i] = function() return i end; if i > 5 then break end end",
];
