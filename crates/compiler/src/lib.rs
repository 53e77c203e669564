//! lunette-compiler: Lua 5.4 source text → [`Prototype`] trees.
//!
//! This crate knows nothing of the garbage collector; its output is plain immutable data.

#![forbid(unsafe_code)]

pub mod opcode;
pub mod proto;

pub use opcode::Instruction;
pub use proto::{Constant, LocalVar, Prototype, UpvalueDesc};
