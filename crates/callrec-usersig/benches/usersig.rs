//! UserSig verification: cold (base64url-ish decode, inflate, JSON, HMAC-SHA256) and through the
//! server's [`VerifyCache`] (SHA-256 of the inputs and a sharded map lookup).
//!
//! `cargo bench -p callrec-usersig`

use std::hint::black_box;
use std::time::Duration;

use callrec_usersig::{VerifyCache, generate, verify};
use criterion::{Criterion, criterion_group, criterion_main};

const SDKAPPID: u64 = 1_400_000_001;
const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const NOW: u64 = 1_700_000_000;

fn bench_verify(c: &mut Criterion) {
    let sig = generate(SDKAPPID, KEY, "administrator", 86_400 * 180, NOW);
    let mut g = c.benchmark_group("usersig");
    g.bench_function("verify_cold", |b| {
        b.iter(|| {
            verify(
                black_box(&sig),
                SDKAPPID,
                "administrator",
                KEY,
                black_box(NOW + 60),
            )
            .unwrap()
        });
    });
    let cache = VerifyCache::default();
    cache
        .verify_cached(&sig, SDKAPPID, "administrator", KEY, NOW + 60)
        .unwrap();
    g.bench_function("verify_cached_hit", |b| {
        b.iter(|| {
            cache
                .verify_cached(
                    black_box(&sig),
                    SDKAPPID,
                    "administrator",
                    KEY,
                    black_box(NOW + 60),
                )
                .unwrap()
        });
    });
    g.bench_function("generate", |b| {
        b.iter(|| generate(SDKAPPID, KEY, black_box("administrator"), 86_400, NOW));
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_verify
}
criterion_main!(benches);
