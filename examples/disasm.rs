//! Prints the bytecode listing of a Lua file: `cargo run --example disasm -- file.lua`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: disasm FILE");
    let src = std::fs::read(&path).expect("cannot read file");
    match lunette::compiler::compile(&src, &format!("@{path}")) {
        Ok(p) => print!("{}", lunette::compiler::disassemble(&p)),
        Err(e) => eprintln!("{e}"),
    }
}
