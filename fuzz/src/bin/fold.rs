//! AFL++ entry point of the `fold` target (see `callrec_fuzz::fold`).

fn main() {
    afl::fuzz(true, callrec_fuzz::fold::run);
}
