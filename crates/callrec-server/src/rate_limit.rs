//! Per-app, per-API request rate limits (`[apps.rate_limits]`), built once at start-up.
//!
//! Guarantees: each (app, API) pair has its own token bucket allowing `n` requests per second
//! with a burst of `n`; 0 means unlimited; limiters are never shared between apps or APIs.

use std::collections::HashMap;
use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::{App, RateLimits};
use crate::pipeline::Api;

/// The limiters of every configured app.
#[derive(Debug, Default)]
pub struct RateLimiters {
    limiters: HashMap<(u64, Api), DefaultDirectRateLimiter>,
}

fn per_second(limits: &RateLimits, api: Api) -> u32 {
    match api {
        Api::GetRecordByCallId => limits.get_record_by_call_id,
        Api::GetRecordsByFilter => limits.get_records_by_filter,
        Api::ReportEvents => limits.report_events,
    }
}

impl RateLimiters {
    /// One limiter per app and API with a non-zero limit.
    pub fn new(apps: &[App]) -> Self {
        let mut limiters = HashMap::new();
        for app in apps {
            for api in Api::ALL {
                if let Some(n) = NonZeroU32::new(per_second(&app.rate_limits, api)) {
                    limiters.insert(
                        (app.sdkappid, api),
                        RateLimiter::direct(Quota::per_second(n)),
                    );
                }
            }
        }
        Self { limiters }
    }

    /// Takes one request from the bucket; false when the rate is exceeded.
    pub fn check(&self, sdkappid: u64, api: Api) -> bool {
        self.limiters
            .get(&(sdkappid, api))
            .is_none_or(|l| l.check().is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn app(limits: RateLimits) -> App {
        App {
            sdkappid: 1,
            secret_key: SecretString::from("k"),
            admins: vec![],
            group_call_package: true,
            rate_limits: limits,
        }
    }

    #[test]
    fn limiter_allows_burst_of_n_then_refuses() {
        let l = RateLimiters::new(&[app(RateLimits {
            get_record_by_call_id: 3,
            get_records_by_filter: 0,
            report_events: 1,
        })]);
        assert!((0..3).all(|_| l.check(1, Api::GetRecordByCallId)));
        assert!(!l.check(1, Api::GetRecordByCallId));
        assert!(l.check(1, Api::ReportEvents));
        assert!(!l.check(1, Api::ReportEvents), "APIs have separate buckets");
    }

    #[test]
    fn zero_means_unlimited() {
        let l = RateLimiters::new(&[app(RateLimits {
            get_record_by_call_id: 0,
            get_records_by_filter: 0,
            report_events: 0,
        })]);
        assert!((0..10_000).all(|_| l.check(1, Api::GetRecordsByFilter)));
    }
}
