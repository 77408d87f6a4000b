//! AFL++ entry point of the `body` target (see `callrec_fuzz::body`).

fn main() {
    afl::fuzz(true, callrec_fuzz::body::run);
}
