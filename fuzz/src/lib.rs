//! callrec's fuzz targets (docs/testing.md). Each module's `run` takes one input of bytes and
//! drives one piece of the code that hostile input reaches: it must not panic, and the
//! properties the module states must hold; a broken property panics, which AFL++ records as a
//! crash.
//!
//! The binaries in `src/bin/` hand these functions to AFL++ (`cargo afl`, feature `afl`);
//! `tests/corpus.rs` runs them without AFL over the committed corpora (`fuzz/corpus/<target>/`).

pub mod body;
pub mod cursor;
pub mod event;
pub mod fold;
pub mod query;
pub mod usersig;

mod bytes;

/// A target's function: one input, checked.
pub type Target = fn(&[u8]);

/// Every target: its name (binary, corpus folder) and its function.
pub const TARGETS: [(&str, Target); 6] = [
    ("usersig", usersig::run),
    ("query", query::run),
    ("body", body::run),
    ("event", event::run),
    ("fold", fold::run),
    ("cursor", cursor::run),
];
