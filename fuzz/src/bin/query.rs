//! AFL++ entry point of the `query` target (see `callrec_fuzz::query`).

fn main() {
    afl::fuzz(true, callrec_fuzz::query::run);
}
