//! Simulated time that leaps over idle stretches.
//!
//! turmoil advances every host by one fixed tick per step and cannot change the tick during
//! a run (turmoil.md §5), so idle time costs as much as busy time: a 600 s retry delay is
//! 600,000 steps at a 1 ms tick, a 14-day NoProgressTimeout 1.2 billion. Simulated time here
//! is turmoil's elapsed time plus a **warp**: the idle time the step loop skipped
//! (`world.rs`). Every timer in the simulation, the engine's included (through its `Env`),
//! goes through this module rather than `tokio::time`, so that
//!
//! - the step loop knows the earliest deadline anyone waits for ([`Clock::next_deadline`]),
//!   and leaps only over whole ticks before it, in which nothing could have happened;
//! - after a leap every timer is woken to re-arm itself on turmoil's (tokio's) clock, so it
//!   fires at the same simulated instant it would have without the leap.
//!
//! A leap is also refused while anything stirred in the last step ([`note_activity`]: a
//! timer polled, a shaped stream read or written, a trace event): a task woken at the very
//! end of a step runs at the start of the next, and must do so at the same simulated time.
//!
//! Outside a run (unit tests of single components) no clock is installed: there is no warp,
//! and timers are plain tokio timers.
//!
//! The only module of the simulator that touches `tokio::time` (clippy.toml bans it
//! elsewhere): tokio's paused clock is turmoil's, and the timers here are armed on it.
#![allow(clippy::disallowed_methods)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The warp and the timers of one simulation.
#[derive(Debug, Default)]
pub struct Clock {
    warp: Cell<Duration>,
    /// Every pending timer by (deadline, id): when it was last armed on tokio's clock, and
    /// the waker of its task.
    timers: RefCell<BTreeMap<(Duration, u64), (u64, Waker)>>,
    next_id: Cell<u64>,
    /// Counts armings of timers on tokio's clock.
    armings: Cell<u64>,
    /// Counts what happened; equal before and after a step means the step was quiet.
    activity: Cell<u64>,
    /// Test only: pretend no timer is pending, so leaps jump past deadlines.
    #[cfg(test)]
    pub(crate) blind_to_timers: Cell<bool>,
}

impl Clock {
    /// Simulated time skipped so far.
    pub fn warp(&self) -> Duration {
        self.warp.get()
    }

    /// The earliest deadline any timer waits for.
    pub fn next_deadline(&self) -> Option<Duration> {
        #[cfg(test)]
        if self.blind_to_timers.get() {
            return None;
        }
        self.timers.borrow().keys().next().map(|(deadline, _)| *deadline)
    }

    pub fn activity(&self) -> u64 {
        self.activity.get()
    }

    /// Skips `span` of simulated time and wakes every timer to re-arm itself, in the order
    /// they were armed: tokio fires timers due in the same millisecond in the order they
    /// were set, and so they keep the order they would have had without the leap.
    pub fn leap(&self, span: Duration) {
        self.warp.set(self.warp.get() + span);
        let mut wakers: Vec<(u64, Waker)> = self.timers.borrow().values().cloned().collect();
        wakers.sort_by_key(|(armed, _)| *armed);
        for (_, waker) in wakers {
            waker.wake();
        }
    }
}

thread_local! {
    /// The clock of the simulation running on this thread. A simulation stays on one thread
    /// (turmoil's world is thread-local too), and the gate runs one per worker at a time.
    static CLOCK: RefCell<Option<Rc<Clock>>> = const { RefCell::new(None) };
}

/// Makes `clock` this thread's clock until the guard is dropped.
pub fn install(clock: Rc<Clock>) -> Installed {
    let previous = CLOCK.with(|cell| cell.replace(Some(clock)));
    Installed { previous }
}

/// Puts the previous clock (usually none) back.
pub struct Installed {
    previous: Option<Rc<Clock>>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CLOCK.with(|cell| *cell.borrow_mut() = previous);
    }
}

fn with_clock<T>(f: impl FnOnce(&Clock) -> T) -> Option<T> {
    CLOCK.with(|cell| cell.borrow().as_deref().map(f))
}

/// The warp of this thread's simulation (zero outside one).
pub fn warp() -> Duration {
    with_clock(Clock::warp).unwrap_or_default()
}

/// Simulated time of the running host: turmoil's elapsed time plus the warp.
pub fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default() + warp()
}

/// Records that something happened in this step, so the step loop does not leap after it.
pub fn note_activity() {
    with_clock(|clock| clock.activity.set(clock.activity.get() + 1));
}

/// A timer that fires at a simulated instant, leaps included.
#[derive(Debug)]
pub struct Sleep {
    deadline: Duration,
    id: u64,
    /// The deadline under which this timer is registered with the clock.
    registered: Option<Duration>,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The warp when `timer` was armed; a leap since means arming it again.
    armed_at_warp: Option<Duration>,
    /// When it was armed, in the clock's count of armings.
    armed: u64,
}

/// Resolves at simulated time `deadline`.
pub fn sleep_until(deadline: Duration) -> Sleep {
    let id = with_clock(|clock| {
        let id = clock.next_id.get();
        clock.next_id.set(id + 1);
        id
    });
    Sleep {
        deadline,
        id: id.unwrap_or_default(),
        registered: None,
        timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        armed_at_warp: None,
        armed: 0,
    }
}

/// Resolves after `wait` of simulated time.
pub fn sleep(wait: Duration) -> Sleep {
    sleep_until(now() + wait)
}

/// `work`'s output, or `None` if `limit` of simulated time passed first.
pub async fn timeout<T>(limit: Duration, work: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        biased;
        output = work => Some(output),
        () = sleep(limit) => None,
    }
}

impl Sleep {
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Fires at `deadline` instead.
    pub fn reset(&mut self, deadline: Duration) {
        self.unregister();
        self.deadline = deadline;
        self.armed_at_warp = None;
    }

    fn unregister(&mut self) {
        if let Some(deadline) = self.registered.take() {
            with_clock(|clock| clock.timers.borrow_mut().remove(&(deadline, self.id)));
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        note_activity();
        let now = now();
        if now >= self.deadline {
            self.unregister();
            return Poll::Ready(());
        }
        let warp = warp();
        if self.armed_at_warp != Some(warp) {
            // tokio's clock and simulated time move together between leaps.
            let at = tokio::time::Instant::now() + (self.deadline - now);
            self.timer.as_mut().reset(at);
            self.armed_at_warp = Some(warp);
            self.armed = with_clock(|clock| {
                clock.armings.set(clock.armings.get() + 1);
                clock.armings.get()
            })
            .unwrap_or_default();
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.unregister();
            return Poll::Ready(());
        }
        let (key, armed) = ((self.deadline, self.id), self.armed);
        self.registered = Some(self.deadline);
        with_clock(|clock| clock.timers.borrow_mut().insert(key, (armed, cx.waker().clone())));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// hyper's timer (servers' header-read timeout) on simulated time. hyper speaks
/// `std::time::Instant`: instants are mapped to simulated time through a pair of anchors
/// taken together, and only differences between instants ever matter.
#[derive(Clone, Debug)]
pub struct HyperTimer {
    /// tokio's (paused, simulated) clock when the timer was made...
    anchor: std::time::Instant,
    /// ...and simulated time then.
    anchor_simulated: Duration,
}

impl HyperTimer {
    /// Must be made inside a host, where tokio's clock is turmoil's.
    pub fn new() -> Self {
        Self { anchor: tokio::time::Instant::now().into_std(), anchor_simulated: now() }
    }
}

impl Default for HyperTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl hyper::rt::Sleep for Sleep {}

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(sleep(duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let simulated = self.anchor_simulated + deadline.saturating_duration_since(self.anchor);
        Box::pin(sleep_until(simulated))
    }

    fn now(&self) -> std::time::Instant {
        self.anchor + now().saturating_sub(self.anchor_simulated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A turmoil simulation with this thread's clock and one host that sleeps `wait`, then
    /// notes the simulated time it woke at.
    fn sleeper(
        wait: Duration,
    ) -> (turmoil::Sim<'static>, Rc<Clock>, Installed, Rc<Cell<Option<Duration>>>) {
        let clock = Rc::new(Clock::default());
        let installed = install(clock.clone());
        let mut sim = turmoil::Builder::new().build();
        let woke = Rc::new(Cell::new(None));
        let noted = woke.clone();
        sim.host("sleeper", move || {
            let noted = noted.clone();
            async move {
                sleep(wait).await;
                noted.set(Some(now()));
                std::future::pending::<()>().await;
                Ok(())
            }
        });
        (sim, clock, installed, woke)
    }

    #[test]
    fn a_timer_fires_at_its_simulated_deadline_across_a_leap() {
        let (mut sim, clock, _installed, woke) = sleeper(Duration::from_secs(600));
        sim.step().expect("the host runs");
        assert_eq!(clock.next_deadline(), Some(Duration::from_secs(600)));
        clock.leap(Duration::from_secs(599));
        while woke.get().is_none() {
            sim.step().expect("the host runs");
        }
        assert_eq!(woke.get(), Some(Duration::from_secs(600)));
        assert!(sim.elapsed() < Duration::from_secs(2), "{:?} stepped", sim.elapsed());
        assert_eq!(clock.next_deadline(), None, "a fired timer is forgotten");
    }

    #[test]
    fn a_timer_is_not_fired_early_by_a_leap_to_just_before_it() {
        let (mut sim, clock, _installed, woke) = sleeper(Duration::from_secs(10));
        sim.step().expect("the host runs");
        clock.leap(Duration::from_millis(9_990));
        for _ in 0..5 {
            sim.step().expect("the host runs");
        }
        assert_eq!(woke.get(), None, "woke at {:?}", woke.get());
        for _ in 0..10 {
            sim.step().expect("the host runs");
        }
        assert_eq!(woke.get(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn a_timeout_counts_simulated_time() {
        let clock = Rc::new(Clock::default());
        let _installed = install(clock.clone());
        let mut sim = turmoil::Builder::new().build();
        let result = Rc::new(Cell::new(None));
        let noted = result.clone();
        sim.host("waiter", move || {
            let noted = noted.clone();
            async move {
                let outcome = timeout(Duration::from_secs(30), std::future::pending::<()>()).await;
                noted.set(Some((outcome.is_none(), now())));
                std::future::pending::<()>().await;
                Ok(())
            }
        });
        sim.step().expect("the host runs");
        clock.leap(Duration::from_secs(29));
        while result.get().is_none() {
            sim.step().expect("the host runs");
        }
        assert_eq!(result.get(), Some((true, Duration::from_secs(30))));
    }

    #[test]
    fn hyper_instants_map_to_simulated_time_both_ways() {
        use hyper::rt::Timer as _;
        let clock = Rc::new(Clock::default());
        let _installed = install(clock.clone());
        let mut sim = turmoil::Builder::new().build();
        let seen = Rc::new(Cell::new(None));
        let noted = seen.clone();
        sim.host("hyper", move || {
            let noted = noted.clone();
            async move {
                let timer = HyperTimer::new();
                let deadline = timer.now() + Duration::from_secs(30);
                timer.sleep_until(deadline).await;
                noted.set(Some(now()));
                std::future::pending::<()>().await;
                Ok(())
            }
        });
        sim.step().expect("the host runs");
        assert_eq!(clock.next_deadline(), Some(Duration::from_secs(30)));
        clock.leap(Duration::from_secs(20));
        while seen.get().is_none() {
            sim.step().expect("the host runs");
        }
        assert_eq!(seen.get(), Some(Duration::from_secs(30)));
    }
}
