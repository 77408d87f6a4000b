//! AFL++ entry point of the `usersig` target (see `callrec_fuzz::usersig`).

fn main() {
    afl::fuzz(true, callrec_fuzz::usersig::run);
}
