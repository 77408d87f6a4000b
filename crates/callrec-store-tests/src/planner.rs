//! A planner for the conformance suite: one callback per configuration and change, whose command
//! says what the change was, so checks can read production from the outbox without any payload
//! format. (The server's real planner maps changes to TRTC's v1 and v4 callbacks.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use callrec_domain::{CallbackConfig, CallbackPlanner, Cause, Change, NewCallback};

/// See the module docs. A configuration's commands select by event type code (`start`,
/// `accept`, …); `*` selects every change.
#[derive(Debug, Default)]
pub struct TestPlanner {
    next: AtomicU64,
}

/// The suite's planner, for [`Harness::create`](crate::Harness::create) implementations.
pub fn planner() -> Arc<dyn CallbackPlanner> {
    Arc::new(TestPlanner::default())
}

/// The command the test planner gives a change: `<type>:<user>`, plus `:end` if it ended the
/// call.
pub fn command_of(kind: &str, user: &str, ends: bool) -> String {
    format!("{kind}:{user}{}", if ends { ":end" } else { "" })
}

impl CallbackPlanner for TestPlanner {
    fn plan(
        &self,
        _sdkappid: u64,
        configs: &[CallbackConfig],
        change: &Change,
        cause: Cause<'_>,
    ) -> Vec<NewCallback> {
        let kind = change.event.kind.as_str();
        configs
            .iter()
            .filter(|c| c.commands.iter().any(|w| w == "*" || w == kind))
            .map(|c| {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                NewCallback {
                    id: format!("msg_{}_{n}", std::process::id()),
                    generation: c.generation,
                    command: command_of(kind, &change.event.user_id, change.ends_call),
                    call_id: change.record.call_id.clone(),
                    url: c.url.clone(),
                    query: format!(
                        "clientip={}",
                        cause.client_ip.map(|a| a.to_string()).unwrap_or_default()
                    ),
                    body: format!("{{\"time\":{}}}", change.event.time_ms),
                    created_ms: now_ms(),
                }
            })
            .collect()
    }
}

/// The wall clock, Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
