//! The planner the stores produce callbacks with: a change becomes the v1 and v4 callbacks the
//! app's configurations list, each with a fresh id, its body and its query string.

use callrec_domain::{CallbackConfig, CallbackPlanner, Cause, Change, Generation, NewCallback};

use crate::v1::callbacks as v1;
use crate::v4::callbacks as v4;

/// `optplatform` / `OptPlatform` when the causing event named no platform.
pub const DEFAULT_PLATFORM: &str = "RESTAPI";

/// See the module docs.
#[derive(Debug)]
pub struct Planner {
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl Planner {
    /// A planner counting what it produces in `metrics`.
    pub fn new(metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        Self { metrics }
    }
}

/// A fresh callback id: `msg_` + 32 random lowercase hex digits.
pub fn new_id() -> String {
    use rand::Rng;
    let n: u128 = rand::rng().random();
    format!("msg_{n:032x}")
}

impl CallbackPlanner for Planner {
    fn plan(
        &self,
        sdkappid: u64,
        configs: &[CallbackConfig],
        change: &Change,
        cause: Cause<'_>,
    ) -> Vec<NewCallback> {
        // A time-out (stored by the job, or decided by the fold while storing a later report)
        // has no client.
        let cause = if change.event.is_system() {
            Cause {
                client_ip: None,
                platform: None,
            }
        } else {
            cause
        };
        let ip = cause.client_ip.map(|a| a.to_string()).unwrap_or_default();
        let platform = cause.platform.unwrap_or(DEFAULT_PLATFORM);
        let now = super::schedule::wall_ms();
        let call_id = &change.record.call_id;
        let mut out = Vec::new();
        for config in configs {
            let before = out.len();
            let wanted = |command: &str| config.commands.iter().any(|c| c == command);
            let mut add = |command: &str, body: String, query: String| {
                out.push(NewCallback {
                    id: new_id(),
                    generation: config.generation,
                    command: command.to_owned(),
                    call_id: call_id.clone(),
                    url: config.url.clone(),
                    query,
                    body,
                    created_ms: now,
                });
            };
            match config.generation {
                Generation::V1 => {
                    for cb in v1::callbacks_of(change) {
                        if wanted(cb.command) {
                            add(
                                cb.command,
                                v1::body(change, &cb),
                                v1::query(sdkappid, cb.command, &ip, platform),
                            );
                        }
                    }
                }
                Generation::V4 => {
                    let chat = change.chat_group_id.as_deref().unwrap_or("");
                    for (command, body) in v4::callbacks_of(change, chat) {
                        if wanted(command) {
                            add(command, body, v4::query(sdkappid, command, &ip, platform));
                        }
                    }
                }
            }
            self.metrics
                .count_callbacks_produced(config.generation, (out.len() - before) as u64);
        }
        out
    }
}
