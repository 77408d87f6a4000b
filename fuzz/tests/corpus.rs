//! Runs every fuzz target, without AFL, over its committed corpus (`fuzz/corpus/<target>/`) and
//! over a few hundred deterministic mutations of each file: a finding that was fixed stays
//! fixed, and `cargo test --workspace` exercises the targets' own checks.

use std::path::Path;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Bit flips, byte changes, insertions, deletions and truncations, from a fixed seed.
fn mutations(seed: &[u8], n: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ seed.len() as u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let mut m = seed.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = if m.is_empty() {
                    0
                } else {
                    (next() % m.len() as u64) as usize
                };
                match next() % 5 {
                    0 if !m.is_empty() => m[at] ^= 1 << (next() % 8),
                    1 if !m.is_empty() => m[at] = next() as u8,
                    2 => m.insert(at, next() as u8),
                    3 if !m.is_empty() => {
                        m.remove(at);
                    }
                    _ => m.truncate(at),
                }
            }
            m
        })
        .collect()
}

#[test]
fn every_target_passes_its_corpus_and_mutations_of_it() {
    for (name, run) in callrec_fuzz::TARGETS {
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "{name}: empty corpus");
        for seed in &seeds {
            run(seed);
            for m in mutations(seed, 300) {
                run(&m);
            }
        }
    }
}

/// The records cursors of the corpus are ones the server gave (so mutating them tests the
/// refusals, which a fuzzer could not reach from made-up text), and so are its UserSigs.
#[test]
fn the_corpus_holds_real_cursors_and_authentic_usersigs() {
    use callrec_fuzz::cursor::{APP, KEY, filter};
    let real: Vec<_> = corpus("cursor")
        .into_iter()
        .filter(|c| c.first() == Some(&0))
        .filter_map(|c| {
            let text = String::from_utf8(c[1..].to_vec()).unwrap();
            callrec_server::records::cursor::decode_with_key(KEY, APP, &filter(), &text).ok()
        })
        .collect();
    assert_eq!(real.len(), 2, "{real:?}");

    let authentic = corpus("usersig")
        .into_iter()
        .filter(|s| {
            let sig = std::str::from_utf8(s).unwrap();
            callrec_usersig::decode(sig).is_ok_and(|t| {
                callrec_usersig::verify(
                    sig,
                    t.sdkappid,
                    &t.identifier,
                    callrec_fuzz::usersig::KEY,
                    t.time,
                )
                .is_ok()
            })
        })
        .count();
    assert!(authentic >= 3, "{authentic}");
}
