//! When a failed callback is tried again, and when it is given up (docs/callbacks.md).

use callrec_domain::AfterAttempt;

use crate::config::CallbacksSection;

/// Longest wait between two attempts.
pub const MAX_WAIT_SECS: u64 = 3600;

/// The wall clock, Unix ms. Callbacks are real-time: production, scheduling and attempts all use
/// it (never a test clock), so due times and HTTP time-outs agree.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What follows failed attempt number `k` (0 = the first attempt) of a callback whose schedule
/// began at `since_ms`, failing at `now_ms`: after attempt k the next waits
/// `retry_delays_secs[k]`; past the list the waits double from its last (at least 1 s), capped at
/// [`MAX_WAIT_SECS`], until the callback is `give_up_after_secs` old; with 0 it is given up once
/// the list is used up.
pub fn after_failure(c: &CallbacksSection, k: u32, since_ms: i64, now_ms: i64) -> AfterAttempt {
    let list = &c.retry_delays_secs;
    let k = k as usize;
    let wait_secs = if let Some(w) = list.get(k) {
        *w
    } else {
        if c.give_up_after_secs == 0 {
            return AfterAttempt::Failed;
        }
        let last = list.last().copied().unwrap_or(1).max(1);
        let doublings = u32::try_from(k + 1 - list.len()).unwrap_or(u32::MAX);
        last.saturating_mul(2u64.saturating_pow(doublings))
            .min(MAX_WAIT_SECS)
    };
    if c.give_up_after_secs > 0 {
        let deadline = since_ms.saturating_add(ms(c.give_up_after_secs));
        if now_ms >= deadline {
            return AfterAttempt::Failed;
        }
        return AfterAttempt::RetryAt(now_ms.saturating_add(ms(wait_secs)).min(deadline));
    }
    AfterAttempt::RetryAt(now_ms.saturating_add(ms(wait_secs)))
}

fn ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(list: &[u64], give_up: u64) -> CallbacksSection {
        CallbacksSection {
            retry_delays_secs: list.to_vec(),
            give_up_after_secs: give_up,
            ..CallbacksSection::default()
        }
    }

    #[test]
    fn the_list_then_doubling_waits_capped_at_an_hour_until_the_give_up_age() {
        let c = CallbacksSection::default();
        let t0 = 1_000_000;
        let waits: Vec<i64> = (0..16)
            .map(|k| match after_failure(&c, k, t0, t0) {
                AfterAttempt::RetryAt(t) => (t - t0) / 1000,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            waits,
            vec![
                0, 1, 1, 2, 3, 5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600
            ]
        );
        // A day old: given up.
        assert_eq!(
            after_failure(&c, 20, t0, t0 + 86_400_000),
            AfterAttempt::Failed
        );
        // Close to the deadline: the next attempt is at the deadline, not after it.
        assert_eq!(
            after_failure(&c, 20, t0, t0 + 86_399_000),
            AfterAttempt::RetryAt(t0 + 86_400_000)
        );
    }

    #[test]
    fn zero_gives_up_after_the_list_like_trtc() {
        let c = cfg(&[0, 1, 1, 2, 3, 5], 0);
        assert_eq!(
            after_failure(&c, 5, 0, 12_000),
            AfterAttempt::RetryAt(17_000)
        );
        assert_eq!(after_failure(&c, 6, 0, 17_000), AfterAttempt::Failed);
        let none = cfg(&[], 0);
        assert_eq!(after_failure(&none, 0, 0, 0), AfterAttempt::Failed);
        // An empty list with a give-up age doubles from one second.
        let empty = cfg(&[], 60);
        assert_eq!(after_failure(&empty, 0, 0, 0), AfterAttempt::RetryAt(2_000));
    }
}
