//! AFL++ entry point of the `event` target (see `callrec_fuzz::event`).

fn main() {
    afl::fuzz(true, callrec_fuzz::event::run);
}
