//! Pacing a transfer's reads: the job's cap, the policy's background limit and, for
//! background jobs, the delay-based controller of `core::ledbat`, fed by a probe task that
//! times HEAD requests on a second connection. Reading slower than the link lets the receive
//! window close, which is what slows the sender.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use http::Method;
use tokio::task::JoinHandle;

use crate::client::{Ask, Client};
use crate::core::event::Event;
use crate::core::http::RemoteUrl;
use crate::core::job::{JobAccess, JobId};
use crate::core::ledbat::{DelayController, PROBE_BYTES};
use crate::core::throttle::{Limit, TokenBucket, reading_rate};
use crate::engine::{Inner, StopSignal};
use crate::env::Env;

/// While the policy allows nothing, the pacer looks again this often (the driver stops the
/// transfer at the window's edge anyway).
const BLOCKED_RECHECK: Duration = Duration::from_secs(1);
/// A paced read waits at most this long before the rates are read again.
pub(crate) const PACE_RECHECK: Duration = Duration::from_millis(100);
/// After a failed probe, the next waits at least this long: a server that cannot answer a
/// HEAD must not be hammered.
const PROBE_FAILURE_BACKOFF: Duration = Duration::from_secs(5);

pub(crate) struct Pacer {
    job: JobId,
    /// Shared with the probe task: probes are background traffic too, and spend the same
    /// budget as the body bytes.
    bucket: Rc<RefCell<TokenBucket>>,
    controller: Option<Rc<RefCell<DelayController>>>,
    probe: Option<JoinHandle<()>>,
    /// The limit last published in a `RateSet` event (none is published while unlimited).
    published: Limit,
}

impl Drop for Pacer {
    fn drop(&mut self) {
        if let Some(probe) = self.probe.take() {
            probe.abort();
        }
    }
}

impl Pacer {
    /// A pacer for one file's transfer; background jobs get a controller and a probe task.
    pub(crate) fn new<E: Env>(
        inner: &Rc<Inner<E>>,
        (job, file): (JobId, usize),
        url: &RemoteUrl,
        access: &JobAccess,
    ) -> Self {
        let now = inner.now();
        let (_, background) = inner.rate_limit(job);
        let mut pacer = Self {
            job,
            bucket: Rc::new(RefCell::new(TokenBucket::new(now))),
            controller: None,
            probe: None,
            published: Limit::Unlimited,
        };
        let greedy = inner.config.defects.contains(crate::core::defect::Defect::BackgroundGreedy);
        if background && inner.config.background_controller && !greedy {
            let controller = Rc::new(RefCell::new(DelayController::new(now)));
            let task = probe_loop(
                inner.clone(),
                (job, file),
                url.clone(),
                access.clone(),
                controller.clone(),
                pacer.bucket.clone(),
            );
            pacer.probe = Some(tokio::task::spawn_local(task));
            pacer.controller = Some(controller);
        }
        pacer
    }

    /// A round trip measured on the data connection (request to response head).
    pub(crate) fn on_round_trip<E: Env>(&mut self, inner: &Inner<E>, round_trip: Duration) {
        if let Some(controller) = &self.controller {
            controller.borrow_mut().on_rtt(inner.now(), round_trip);
        }
    }

    /// Accounts `bytes` just read and says how long to wait before reading more, at the
    /// rates in force now. Callers wait at most [`PACE_RECHECK`] at a time and then ask
    /// [`Pacer::wait`] again, so a rate that rises (a slowdown ends, a window closes) takes
    /// effect at once instead of after a debt run up at the lower rate.
    pub(crate) async fn after_read<E: Env>(&mut self, inner: &Inner<E>, bytes: u64) -> Duration {
        if let Some(controller) = &self.controller {
            controller.borrow_mut().on_bytes(bytes);
        }
        self.charge(inner, bytes).await
    }

    /// How much longer to wait, at the rates in force now.
    pub(crate) async fn wait<E: Env>(&mut self, inner: &Inner<E>) -> Duration {
        self.charge(inner, 0).await
    }

    async fn charge<E: Env>(&mut self, inner: &Inner<E>, bytes: u64) -> Duration {
        let now = inner.now();
        let (limit, _) = inner.rate_limit(self.job);
        if self.published != limit {
            self.published = limit;
            inner.publish(Event::RateSet { job: self.job, rate_bps: limit.rate_bps() }).await;
        }
        let controlled = self.controller.as_ref().map(|controller| {
            let mut controller = controller.borrow_mut();
            controller.set_ceiling(limit.rate_bps());
            controller.rate_bps(now)
        });
        let rate = reading_rate(limit, controlled);
        let mut bucket = self.bucket.borrow_mut();
        if bucket.rate_bps() != rate {
            bucket.set_rate(now, rate);
        }
        bucket.take(now, bytes).unwrap_or(BLOCKED_RECHECK)
    }
}

/// Times a HEAD of the same URL on its own connection (through the job's proxy, with its
/// credentials, like the transfer), as often as the controller asks.
async fn probe_loop<E: Env>(
    inner: Rc<Inner<E>>,
    (job, file): (JobId, usize),
    url: RemoteUrl,
    access: JobAccess,
    controller: Rc<RefCell<DelayController>>,
    bucket: Rc<RefCell<TokenBucket>>,
) {
    // Nobody stops a probe: its task is aborted when the transfer ends.
    let never = Rc::new(StopSignal::default());
    let mut client = Client::new(inner.clone(), never, (job, file), access, url, true);
    // The first probe goes out at once, while the link still shows its base delay.
    let mut last_probe = Duration::ZERO;
    loop {
        let next = controller.borrow().next_probe(last_probe);
        inner.env.sleep(next.saturating_sub(inner.now())).await;
        // The probe's bytes come out of the transfer's budget, so body and probes together
        // keep to the limit; the body waits for the debt. The probe itself does not wait:
        // at the controller's floor that would starve the very samples that let it grow.
        let _debt = bucket.borrow_mut().take(inner.now(), PROBE_BYTES);
        last_probe = inner.now();
        let limit = inner.config.receive_timeout;
        let probed =
            crate::env::timeout(&inner.env, limit, client.send(Method::HEAD, &Ask::default()))
                .await;
        if probed.is_none() {
            // Cut short by the timeout above: the connection is in an unknown state.
            client.forget_connection();
        }
        match (probed, client.last_round_trip()) {
            (Some(Ok(_)), Some(rtt)) => {
                let now = inner.now();
                let mut controller = controller.borrow_mut();
                controller.on_bytes(PROBE_BYTES);
                controller.on_rtt(now, rtt);
            }
            _ => last_probe += PROBE_FAILURE_BACKOFF,
        }
    }
}
