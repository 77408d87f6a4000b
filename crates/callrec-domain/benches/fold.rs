//! The fold (docs/api.md): a typical single call (5 events: start, accept, both hang-ups, a late
//! offline) and a 9-person group call (40 events: start with 4 callees, invites, joins, accepts,
//! a reject, a busy, a no-answer, hang-ups and offlines), both out of order.
//!
//! `cargo bench -p callrec-domain`

use std::hint::black_box;
use std::time::Duration;

use callrec_domain::{CallType, Event, EventType, MediaType, Timeouts, fold, fold_timed};
use criterion::{Criterion, criterion_group, criterion_main};

const T0: i64 = 1_700_000_000_000;
const APP: u64 = 1_400_000_001;

fn ev(kind: EventType, user: &str, dt_ms: i64) -> Event {
    let mut e = Event::new(
        "2ae7d549-c441-4a9b-87c0-61810fe19582",
        kind,
        user,
        T0 + dt_ms,
    );
    e.event_id = Some(format!("{}-{user}-{dt_ms}", kind.as_str()));
    e
}

fn start(callees: &[&str], call_type: CallType) -> Event {
    let mut e = ev(EventType::Start, "alice", 0);
    e.callees = callees.iter().map(|s| (*s).to_owned()).collect();
    e.media_type = Some(MediaType::Video);
    e.call_type = Some(call_type);
    e.room_id = Some("123456".into());
    e
}

/// start, accept, the callee's and the caller's hang-ups, and a late offline (5 events),
/// reported out of order.
pub fn single_call() -> Vec<Event> {
    vec![
        ev(EventType::Accept, "bob", 4_200),
        start(&["bob"], CallType::Single),
        ev(EventType::Hangup, "bob", 95_000),
        ev(EventType::Hangup, "alice", 95_100),
        ev(EventType::Offline, "alice", 120_000),
    ]
}

/// A 9-person group call: alice calls 4, invites 4 more later; accepts, joins, a reject, a busy,
/// re-invites, leaves and comes back; everyone hangs up. 40 events, shuffled deterministically.
pub fn group_call() -> Vec<Event> {
    let mut v = vec![start(&["u1", "u2", "u3", "u4"], CallType::Group)];
    v.push(ev(EventType::Accept, "u1", 3_000));
    v.push(ev(EventType::Accept, "u2", 4_000));
    v.push(ev(EventType::Reject, "u3", 5_000));
    v.push(ev(EventType::Busy, "u4", 5_500));
    let mut inv = ev(EventType::Invite, "u1", 10_000);
    inv.invitees = vec!["u5".into(), "u6".into(), "u7".into(), "u8".into()];
    v.push(inv);
    v.push(ev(EventType::Accept, "u5", 12_000));
    v.push(ev(EventType::Accept, "u6", 12_500));
    v.push(ev(EventType::NoAnswer, "u7", 40_000));
    v.push(ev(EventType::Accept, "u8", 13_000));
    let mut reinv = ev(EventType::Invite, "alice", 45_000);
    reinv.invitees = vec!["u3".into(), "u7".into()];
    v.push(reinv);
    v.push(ev(EventType::Accept, "u3", 47_000));
    v.push(ev(EventType::Join, "u7", 48_000));
    // Leaves and rejoins.
    for (i, u) in ["u1", "u2", "u5", "u6", "u8"].iter().enumerate() {
        let base = 60_000 + i as i64 * 5_000;
        v.push(ev(EventType::Hangup, u, base));
        v.push(ev(EventType::Join, u, base + 2_000));
    }
    // Network blips.
    for (i, u) in ["u3", "u7"].iter().enumerate() {
        let base = 100_000 + i as i64 * 3_000;
        v.push(ev(EventType::Offline, u, base));
        v.push(ev(EventType::Join, u, base + 1_500));
    }
    // Everyone leaves, caller last.
    for (i, u) in ["u1", "u2", "u3", "u5", "u6", "u7", "u8"]
        .iter()
        .enumerate()
    {
        v.push(ev(EventType::Hangup, u, 300_000 + i as i64 * 1_000));
    }
    v.push(ev(EventType::Hangup, "alice", 310_000));
    // Late stragglers after the end change nothing but are still folded.
    v.push(ev(EventType::Offline, "u4", 320_000));
    v.push(ev(EventType::Offline, "alice", 321_000));
    v.push(ev(EventType::Hangup, "u4", 322_000));
    v.push(ev(EventType::Offline, "u1", 323_000));
    v.push(ev(EventType::Offline, "u2", 324_000));
    // A deterministic shuffle: events arrive out of order.
    let n = v.len();
    for i in 0..n {
        v.swap(i, (i * 7 + 3) % n);
    }
    v
}

fn bench_fold(c: &mut Criterion) {
    let single = single_call();
    let group = group_call();
    let timeouts = Timeouts {
        ring_ms: 60_000,
        idle_ms: 43_200_000,
    };
    // Sanity: the benchmarked inputs fold to ended calls.
    assert!(fold(APP, &single).unwrap().is_ended());
    assert!(fold(APP, &group).unwrap().is_ended());
    let mut g = c.benchmark_group("fold");
    g.bench_function(format!("single_{}_events", single.len()), |b| {
        b.iter(|| fold(APP, black_box(&single)));
    });
    g.bench_function(format!("group_9_users_{}_events", group.len()), |b| {
        b.iter(|| fold(APP, black_box(&group)));
    });
    g.bench_function("group_fold_and_next_due", |b| {
        b.iter(|| fold(APP, black_box(&group)).map(|s| s.next_due_ms(timeouts)));
    });
    // What the stores do on every refold: time-outs decided by event time.
    g.bench_function("single_fold_timed_and_next_due", |b| {
        b.iter(|| {
            fold_timed(APP, black_box(&single), Some(timeouts)).map(|s| s.next_due_ms(timeouts))
        });
    });
    g.bench_function("group_fold_timed_and_next_due", |b| {
        b.iter(|| {
            fold_timed(APP, black_box(&group), Some(timeouts)).map(|s| s.next_due_ms(timeouts))
        });
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
    targets = bench_fold
}
criterion_main!(benches);
