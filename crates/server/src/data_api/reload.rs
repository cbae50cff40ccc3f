//! Hot reload: every `reload_interval_seconds` the app files' modification times and sizes
//! are compared with the last load; on a change the app is loaded and compiled again off the
//! request path (a blocking thread) and swapped in atomically. A change that does not load is
//! logged with its file and JSON path, and the last good rules stay in force.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::app::{fingerprint, load_snapshot, AppError};
use super::DataApi;

/// What a poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// No app file changed.
    Unchanged,
    /// The new rules are in force.
    Reloaded,
    /// The change does not load; the previous rules stay.
    Rejected(AppError),
}

impl DataApi {
    /// Polls the app files once and reloads when they changed (blocking: call it from a
    /// blocking thread or a test).
    pub fn reload_if_changed(&self) -> ReloadOutcome {
        let current = fingerprint(&self.dir);
        {
            let mut last = self
                .fingerprint
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *last == current {
                return ReloadOutcome::Unchanged;
            }
            // Recorded even when the load fails, so a bad file is reported once, not every
            // poll; the next edit triggers a new attempt.
            *last = current;
        }
        match load_snapshot(&self.dir, &self.settings) {
            Ok(snapshot) => {
                let mut slot = self
                    .snapshot
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *slot = Arc::new(snapshot);
                ReloadOutcome::Reloaded
            }
            Err(error) => ReloadOutcome::Rejected(error),
        }
    }

    /// Starts the background poll; it ends when [`Reloader::stop`] is called or the Data API
    /// is dropped.
    pub fn spawn_reloader(self: &Arc<Self>) -> Reloader {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let api = Arc::downgrade(self);
        let every = Duration::from_secs(self.settings.reload_interval_seconds);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = ticker.tick() => {}
                }
                if !poll(&api).await {
                    return;
                }
            }
        });
        Reloader {
            stop: Some(stop),
            task,
        }
    }
}

/// One poll; false when the Data API is gone.
async fn poll(api: &Weak<DataApi>) -> bool {
    let Some(api) = api.upgrade() else {
        return false;
    };
    let outcome = tokio::task::spawn_blocking(move || api.reload_if_changed()).await;
    match outcome {
        Ok(ReloadOutcome::Unchanged) => {}
        Ok(ReloadOutcome::Reloaded) => tracing::info!("data api rules reloaded"),
        Ok(ReloadOutcome::Rejected(error)) => {
            tracing::error!(%error, "rule change rejected; the previous rules stay in force");
        }
        Err(error) => tracing::error!(%error, "rule reload failed"),
    }
    true
}

/// The background reload task.
#[derive(Debug)]
pub struct Reloader {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Reloader {
    /// Stops polling and waits for the task to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
