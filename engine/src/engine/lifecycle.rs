//! The IO side of network loss, the job inactivity timeout and notifications: the program's
//! callback ([`NotifyCallback`], BITS's `IBackgroundCopyCallback`), `SetNotifyInterface` and
//! `SetNotifyFlags`, and the driver's steps that stop transfers when the network goes, cancel
//! inactive jobs and deliver what `core::notify` says is owed.

use std::rc::Rc;

use crate::core::error::{ApiError, ErrorContext, JobError, TransferError};
use crate::core::hresult::Hresult;
use crate::core::job::JobId;
use crate::core::notify::{Delivery, Notification};
use crate::env::Env;

use super::{Engine, Inner};

/// What the program registers to hear of its jobs (`IBackgroundCopyCallback`). Called on the
/// engine's thread, with no engine state borrowed: a method may read the engine (`job`,
/// `jobs`) but must not block; to act (Complete a job), hand the work to a task.
///
/// `Ok(())` is S_OK, the notification acknowledged. An error from `job_transferred` or
/// `job_error` makes the engine call again later (`core::notify::NOTIFY_RETRY_INTERVAL`), as
/// long as the job is still in that state; a failed `job_modification` is not repeated.
pub trait NotifyCallback {
    fn job_transferred(&self, job: JobId) -> Result<(), Hresult>;
    fn job_error(&self, job: JobId, error: &JobError) -> Result<(), Hresult>;
    fn job_modification(&self, job: JobId) -> Result<(), Hresult>;
}

impl<E: Env> Engine<E> {
    /// `SetNotifyInterface`: the last caller wins; `None` unregisters. Not persisted: after a
    /// restart the program registers again and then hears of every JobTransferred and
    /// JobError still owed (what is owed follows from the jobs' states).
    pub fn set_notify_interface(&self, callback: Option<Rc<dyn NotifyCallback>>) {
        *self.inner.callback.borrow_mut() = callback;
        self.inner.wake.notify_one();
    }

    /// `SetNotifyFlags` (`core::notify::NotifyFlags`); an unknown bit is E_NOTIMPL.
    pub async fn set_notify_flags(&self, job: JobId, flags: u32) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().set_notify_flags(job, flags)?;
        self.inner.commit_api().await
    }

    /// `GetNotifyFlags`.
    pub fn notify_flags(&self, job: JobId) -> Result<u32, ApiError> {
        Ok(self.inner.queue.borrow().notify_flags(job)?.bits())
    }

    /// Follows the machine's network: when it is lost, stops every transfer (each keeps what
    /// it checkpointed) before the queue moves the jobs to TRANSIENT_ERROR.
    pub(super) async fn apply_network(&self) {
        let available = self.inner.env.network_available();
        if !available && !self.inner.queue.borrow().network_lost() {
            let running: Vec<_> =
                std::mem::take(&mut *self.inner.transfers.borrow_mut()).into_values().collect();
            for transfer in &running {
                transfer.stop.request();
            }
            for transfer in running {
                // A transfer that panicked has nothing left to clean up.
                let _ = transfer.task.await;
            }
        }
        let now = self.inner.now();
        self.inner.queue.borrow_mut().set_network_available(now, available);
    }

    /// Cancels, on the service's behalf, every job whose inactivity deadline has passed.
    pub(super) async fn cancel_inactive_jobs(&self) {
        loop {
            let now = self.inner.now();
            let Some(job) = self.inner.queue.borrow().poll_inactive(now) else { return };
            if self.stop_transfer(job).await.is_err() {
                return;
            }
            let cancelled = self.inner.queue.borrow_mut().cancel_inactive(job);
            if let Ok(temps) = cancelled {
                // Failures are the same as for Cancel; the driver has nobody to report
                // them to, and an orphaned temporary file harms no job.
                let _ = self.delete_temporaries(&temps).await;
            }
        }
    }
}

impl<E: Env> Inner<E> {
    /// Delivers every notification due now to the registered callback, recording each call
    /// and its answer. Without a callback nothing is delivered and modifications are dropped.
    pub(super) fn deliver_notifications(&self) {
        let Some(callback) = self.callback.borrow().clone() else {
            self.queue.borrow_mut().drop_modifications();
            return;
        };
        loop {
            let now = self.now();
            let Some(delivery) = self.queue.borrow_mut().poll_notification(now) else { return };
            let result = match self.call(&*callback, delivery) {
                Ok(()) => Hresult::S_OK,
                Err(code) => code,
            };
            self.queue.borrow_mut().handle_notification_result(now, delivery, result);
        }
    }

    fn call(&self, callback: &dyn NotifyCallback, delivery: Delivery) -> Result<(), Hresult> {
        let Delivery { job, notification } = delivery;
        match notification {
            Notification::JobTransferred => callback.job_transferred(job),
            Notification::JobModification => callback.job_modification(job),
            Notification::JobError => {
                let error = self.queue.borrow().job(job).and_then(|job| job.error.clone());
                let error = error.unwrap_or_else(|| JobError {
                    error: TransferError::new(
                        Hresult::GEN_FAILURE,
                        ErrorContext::GeneralQueueManager,
                        "the job is in ERROR without an error record",
                    ),
                    file: None,
                });
                callback.job_error(job, &error)
            }
        }
    }

    /// When the next owed notification is due, if a callback could take it.
    pub(super) fn notification_deadline(&self) -> Option<std::time::Duration> {
        self.callback.borrow().as_ref()?;
        self.queue.borrow().poll_notification_timeout()
    }
}
