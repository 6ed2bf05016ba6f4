//! The run's "stop starting new work" flag. It sits at the bottom of the layers: the
//! runner raises it, the tracking protocol checks it between migrations, and errors say
//! why a target stopped.

use std::sync::Arc;

use tokio::sync::watch;

/// Why a run was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT or SIGTERM.
    Interrupted,
    /// Another target failed and `--fail-fast` was given.
    FailFast,
}

/// A shared "stop starting new work" flag. The first reason given wins.
#[derive(Debug, Clone)]
pub struct Stop {
    flag: Arc<watch::Sender<Option<StopReason>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop {
            flag: Arc::new(watch::Sender::new(None)),
        }
    }
}

impl Stop {
    pub fn request(&self, reason: StopReason) {
        self.flag.send_if_modified(|r| {
            let first = r.is_none();
            if first {
                *r = Some(reason);
            }
            first
        });
    }

    pub fn reason(&self) -> Option<StopReason> {
        *self.flag.borrow()
    }

    /// Resolves once a stop is requested.
    pub async fn requested(&self) -> StopReason {
        let mut rx = self.flag.subscribe();
        // Copied out, so no borrow of the channel is held across the await below.
        let reason = rx.wait_for(Option::is_some).await.ok().and_then(|r| *r);
        match reason {
            Some(reason) => reason,
            // The sender lives as long as `self`: never reached.
            None => std::future::pending().await,
        }
    }
}
