//! Robustness: `compile` must never panic, whatever the input.

use super::checker::check_proto;
use super::corpus::PROGRAMS;

pub(crate) struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn try_compile(src: &[u8]) {
    if let Ok(p) = crate::compile(src, "=fuzz") {
        check_proto(&p, true);
    }
}

#[test]
fn random_bytes() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..iters(20_000) {
        let len = rng.below(64);
        let v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        try_compile(&v);
    }
}

const TOKENS: &[&str] = &[
    "local", "function", "end", "if", "then", "else", "elseif", "while", "do", "for", "in",
    "repeat", "until", "return", "break", "goto", "and", "or", "not", "nil", "true", "false", "x",
    "y", "t", "f", "_ENV", "self", "=", "==", "~=", "<", "<=", ">", ">=", "+", "-", "*", "/", "//",
    "%", "^", "#", "&", "|", "~", "<<", ">>", "..", "...", "(", ")", "{", "}", "[", "]", ";", ":",
    "::", ",", ".", "1", "0", "2.5", "0x10", "100000", "'s'", "\"s\"", "[[s]]", "<const>",
    "<close>", "\n", " ", "l", "::l::", "goto l", "1e10", "-1",
];

/// `FUZZ_ITERS` scales the number of iterations (for longer runs).
fn iters(n: usize) -> usize {
    n * std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

#[test]
fn token_soup() {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    for _ in 0..iters(30_000) {
        let n = 1 + rng.below(40);
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(TOKENS[rng.below(TOKENS.len())]);
            s.push(' ');
        }
        try_compile(s.as_bytes());
    }
}

#[test]
fn truncated_and_mutated_programs() {
    let mut rng = XorShift(42);
    for src in PROGRAMS {
        let b = src.as_bytes();
        for cut in 0..=b.len() {
            try_compile(&b[..cut]);
        }
        for _ in 0..50 {
            let mut v = b.to_vec();
            if v.is_empty() {
                break;
            }
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(v.len());
                match rng.below(3) {
                    0 => v[i] = rng.next() as u8,
                    1 => {
                        v.remove(i);
                        if v.is_empty() {
                            break;
                        }
                    }
                    _ => {
                        let j = rng.below(v.len());
                        let c = v[j];
                        v.insert(i, c);
                    }
                }
            }
            try_compile(&v);
        }
    }
}

/// Structured random programs: statements and expressions generated from a grammar, so
/// that most of them compile and the checker sees many shapes.
#[test]
fn generated_programs() {
    let mut rng = XorShift(7);
    for _ in 0..iters(3_000) {
        let mut g = Gen {
            rng: &mut rng,
            no_numbers: false,
            depth: 0,
            vars: vec!["a".into(), "b".into()],
            labels: 0,
        };
        let mut s = String::from("local a, b = ...\n");
        for _ in 0..1 + g.rng.below(6) {
            s.push_str(&g.stat());
            s.push('\n');
        }
        let p = crate::compile(s.as_bytes(), "=gen");
        match p {
            Ok(p) => check_proto(&p, true),
            Err(e) => {
                // only goto-related or limit errors are expected from the generator
                assert!(
                    [
                        "goto",
                        "label",
                        "too many",
                        "C stack",
                        "const variable",
                        "'...'"
                    ]
                    .iter()
                    .any(|m| e.message.contains(m)),
                    "{e}\n{s}"
                );
            }
        }
    }
}

pub(crate) struct Gen<'a> {
    pub rng: &'a mut XorShift,
    /// Don't generate numerals (their code intentionally differs from PUC's).
    pub no_numbers: bool,
    pub depth: u32,
    pub vars: Vec<String>,
    pub labels: u32,
}

impl Gen<'_> {
    fn var(&mut self) -> String {
        let i = self.rng.below(self.vars.len() + 2);
        if i < self.vars.len() {
            self.vars[i].clone()
        } else if i == self.vars.len() {
            "g".into()
        } else {
            "t.f".into()
        }
    }

    fn exp(&mut self) -> String {
        self.depth += 1;
        let r = if self.depth > 4 {
            self.rng.below(6)
        } else {
            self.rng.below(22)
        };
        let s = match r {
            0 => self.var(),
            1 | 2 if self.no_numbers => self.var(),
            1 => format!("{}", self.rng.below(300) as i64 - 100),
            2 => "1.5".into(),
            3 => "'str'".into(),
            4 => ["nil", "true", "false"][self.rng.below(3)].into(),
            5 => "...".into(),
            6..=11 => {
                let ops = [
                    "+", "-", "*", "/", "//", "%", "^", "..", "==", "~=", "<", "<=", ">", ">=",
                    "and", "or", "&", "|", "~", "<<", ">>",
                ];
                let op = ops[self.rng.below(ops.len())];
                format!("({} {op} {})", self.exp(), self.exp())
            }
            12 => format!("(not {})", self.exp()),
            13 => format!("(- {})", self.exp()),
            14 => format!("#{}", self.var()),
            15 => format!("f({}, {})", self.exp(), self.exp()),
            16 => format!(
                "{{{}, x = {}, [{}] = 1}}",
                self.exp(),
                self.exp(),
                self.exp()
            ),
            17 => format!("function(p) return p + {} end", self.exp()),
            18 => format!("{}[{}]", self.var(), self.exp()),
            19 => format!("{}:m({})", self.var(), self.exp()),
            20 => format!("{}.x.y", self.var()),
            _ => format!("({} and {} or {})", self.exp(), self.exp(), self.exp()),
        };
        self.depth -= 1;
        s
    }

    fn block(&mut self) -> String {
        let saved = self.vars.len();
        let mut s = String::new();
        for _ in 0..self.rng.below(4) {
            s.push_str(&self.stat());
            s.push('\n');
        }
        self.vars.truncate(saved);
        s
    }

    pub fn stat(&mut self) -> String {
        self.depth += 1;
        let r = if self.depth > 3 {
            self.rng.below(5)
        } else {
            self.rng.below(16)
        };
        let s = match r {
            0 => format!("{} = {}", self.var(), self.exp()),
            1 => {
                let name = format!("v{}", self.vars.len());
                let attr = ["", " <const>", " <close>"][self.rng.below(3)];
                let e = self.exp();
                self.vars.push(name.clone());
                format!("local {name}{attr} = {e}")
            }
            2 => format!("f({})", self.exp()),
            3 => format!("{}, {} = {}, {}", self.var(), self.var(), self.exp(), self.exp()),
            4 => format!("local function lf() return {} end", self.exp()),
            5 => format!("if {} then {} elseif {} then {} else {} end", self.exp(), self.block(), self.exp(), self.block(), self.block()),
            6 => format!("while {} do {} end", self.exp(), self.block()),
            7 => format!("repeat {} until {}", self.block(), self.exp()),
            8 if self.no_numbers => format!("f({})", self.exp()),
            8 => {
                self.vars.push("i".into());
                let b = self.block();
                self.vars.pop();
                format!("for i = {}, {} do {} end", self.exp(), self.exp(), b)
            }
            9 => {
                self.vars.push("k".into());
                self.vars.push("v".into());
                let b = self.block();
                self.vars.truncate(self.vars.len() - 2);
                format!("for k, v in {} do {} end", self.exp(), b)
            }
            10 => format!("do {} end", self.block()),
            11 => format!("while true do if {} then break end {} end", self.exp(), self.block()),
            12 => {
                self.labels += 1;
                let l = self.labels;
                format!("do goto l{l}; {} ::l{l}:: end", self.block())
            }
            13 => format!("do local c = {}; f(function() return c end); {} end", self.exp(), self.block()),
            14 if self.no_numbers => format!(
                "while g do local u = g; h = function() return u end; if {} then goto cont end ::cont:: end",
                self.exp()
            ),
            14 => format!("for i = 1, 2 do local u = i; g = function() return u end; if {} then goto cont end ::cont:: end", self.exp()),
            _ => format!("do return {} end", self.exp()),
        };
        self.depth -= 1;
        s
    }
}
