//! AFL++ entry point of the `cursor` target (see `callrec_fuzz::cursor`).

fn main() {
    afl::fuzz(true, callrec_fuzz::cursor::run);
}
