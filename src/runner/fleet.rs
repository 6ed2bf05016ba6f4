//! Many targets at once: bounded parallelism, canaries, `--fail-fast` and stopping on
//! Ctrl-C. Each target is one job; a failed job is remembered and the others go on (the
//! exit code is decided at the end). Jobs run concurrently on the calling task: the work
//! is waiting on the network, and one connection per host is shared by its targets.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;

use crate::error::Error;
use crate::settings::Schedule;
use crate::stop::{Stop, StopReason};

/// Why a target did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    CanaryFailed,
    Stopped(StopReason),
}

#[derive(Debug)]
pub enum TargetResult<T> {
    Done(T),
    Failed(Error),
    Skipped(Skipped),
}

/// One target's end.
#[derive(Debug)]
pub struct Finished<T> {
    pub took: Duration,
    pub result: TargetResult<T>,
}

/// Runs `job(i)` for targets `0..count` as the schedule says; the results come back in
/// target order.
pub async fn run<T, F, Fut>(
    count: usize,
    schedule: Schedule,
    stop: &Stop,
    job: F,
) -> Vec<Finished<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let canary = schedule.canary.min(count);
    let mut results = phase(0..canary, schedule, stop, &job).await;
    let canary_ok = results
        .iter()
        .all(|(_, f)| matches!(f.result, TargetResult::Done(_)));
    if canary_ok {
        results.extend(phase(canary..count, schedule, stop, &job).await);
    } else {
        results.extend((canary..count).map(|i| {
            (
                i,
                Finished {
                    took: Duration::ZERO,
                    result: TargetResult::Skipped(Skipped::CanaryFailed),
                },
            )
        }));
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, f)| f).collect()
}

async fn phase<T, F, Fut>(
    targets: std::ops::Range<usize>,
    schedule: Schedule,
    stop: &Stop,
    job: &F,
) -> Vec<(usize, Finished<T>)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    stream::iter(targets)
        .map(|i| async move {
            // Checked when the target's turn comes, not when it was queued.
            if let Some(reason) = stop.reason() {
                return (
                    i,
                    Finished {
                        took: Duration::ZERO,
                        result: TargetResult::Skipped(Skipped::Stopped(reason)),
                    },
                );
            }
            let started = Instant::now();
            let result = match job(i).await {
                Ok(value) => TargetResult::Done(value),
                Err(e) => {
                    if schedule.fail_fast && !matches!(e, Error::Stopped { .. }) {
                        stop.request(StopReason::FailFast);
                    }
                    TargetResult::Failed(e)
                }
            };
            (
                i,
                Finished {
                    took: started.elapsed(),
                    result,
                },
            )
        })
        .buffer_unordered(schedule.parallel.max(1))
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn schedule(parallel: usize, canary: usize, fail_fast: bool) -> Schedule {
        Schedule {
            parallel,
            canary,
            fail_fast,
        }
    }

    fn failed(i: usize) -> Error {
        Error::Config(format!("target {i} failed"))
    }

    fn kinds<T>(results: &[Finished<T>]) -> Vec<&'static str> {
        results
            .iter()
            .map(|f| match f.result {
                TargetResult::Done(_) => "done",
                TargetResult::Failed(_) => "failed",
                TargetResult::Skipped(Skipped::CanaryFailed) => "canary",
                TargetResult::Skipped(Skipped::Stopped(StopReason::FailFast)) => "fail-fast",
                TargetResult::Skipped(Skipped::Stopped(StopReason::Interrupted)) => "interrupted",
            })
            .collect()
    }

    #[tokio::test]
    async fn runs_at_most_parallel_at_once_and_keeps_order() {
        let running = Mutex::new((0usize, 0usize)); // (now, most)
        let results = run(10, schedule(3, 0, false), &Stop::default(), |i| {
            let running = &running;
            async move {
                {
                    let mut r = running.lock().unwrap();
                    r.0 += 1;
                    r.1 = r.1.max(r.0);
                }
                tokio::time::sleep(Duration::from_millis(5 * (10 - i as u64))).await;
                running.lock().unwrap().0 -= 1;
                Ok::<_, Error>(i)
            }
        })
        .await;
        assert_eq!(running.lock().unwrap().1, 3);
        let order: Vec<usize> = results
            .iter()
            .map(|f| match f.result {
                TargetResult::Done(i) => i,
                _ => usize::MAX,
            })
            .collect();
        assert_eq!(order, (0..10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn one_failure_does_not_stop_the_others() {
        let results = run(4, schedule(2, 0, false), &Stop::default(), |i| async move {
            if i == 1 { Err(failed(i)) } else { Ok(i) }
        })
        .await;
        assert_eq!(kinds(&results), ["done", "failed", "done", "done"]);
    }

    #[tokio::test]
    async fn fail_fast_starts_nothing_new() {
        let results = run(5, schedule(1, 0, true), &Stop::default(), |i| async move {
            if i == 1 { Err(failed(i)) } else { Ok(i) }
        })
        .await;
        assert_eq!(
            kinds(&results),
            ["done", "failed", "fail-fast", "fail-fast", "fail-fast"]
        );
    }

    #[tokio::test]
    async fn canaries_run_first_and_gate_the_rest() {
        let order = Mutex::new(Vec::new());
        let results = run(5, schedule(5, 2, false), &Stop::default(), |i| {
            let order = &order;
            async move {
                order.lock().unwrap().push(i);
                Ok::<_, Error>(i)
            }
        })
        .await;
        assert_eq!(kinds(&results), ["done"; 5]);
        let order = order.into_inner().unwrap();
        assert!(
            order[..2].contains(&0) && order[..2].contains(&1),
            "{order:?}"
        );

        let results = run(4, schedule(4, 2, false), &Stop::default(), |i| async move {
            if i == 1 { Err(failed(i)) } else { Ok(i) }
        })
        .await;
        assert_eq!(kinds(&results), ["done", "failed", "canary", "canary"]);
    }

    #[tokio::test]
    async fn a_stop_request_skips_the_targets_not_started() {
        let stop = Stop::default();
        let results = run(3, schedule(1, 0, false), &stop, |i| {
            let stop = &stop;
            async move {
                stop.request(StopReason::Interrupted);
                stop.request(StopReason::FailFast); // the first reason wins
                Ok::<_, Error>(i)
            }
        })
        .await;
        assert_eq!(kinds(&results), ["done", "interrupted", "interrupted"]);
        assert_eq!(stop.requested().await, StopReason::Interrupted);
    }
}
