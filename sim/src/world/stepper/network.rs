//! The `network-loss` fault: the engine's machine loses every link at once and its engine is
//! told (as an adapter's disconnect event tells BITS), until the network returns or the heal
//! at the end of a `[liveness]` chaos phase gives it back.

use std::time::Duration;

use super::Stepper;
use crate::scenario::ENGINE_HOST;
use crate::trace::SimEvent;

impl Stepper<'_> {
    /// Drops every link of the engine's host (counted like `link-drop`s, so a link-drop that
    /// overlaps keeps its link down) and switches the engine's network off.
    pub(super) fn lose_network(&mut self, now: Duration) {
        self.faults.network_losses += 1;
        if self.faults.network_losses > 1 {
            return;
        }
        for peer in self.engine_peers() {
            self.drop_link(ENGINE_HOST, &peer);
        }
        self.network.set_available(false);
        self.recorder.record_at(now, ENGINE_HOST, SimEvent::NetworkLost);
    }

    /// Undoes one loss; the last one gives the links and the engine's network back.
    pub(super) fn return_network(&mut self, now: Duration) {
        if self.faults.network_losses == 0 {
            return;
        }
        self.faults.network_losses -= 1;
        if self.faults.network_losses > 0 {
            return;
        }
        for peer in self.engine_peers() {
            self.repair_link(ENGINE_HOST, &peer);
        }
        self.network.set_available(true);
        self.recorder.record_at(now, ENGINE_HOST, SimEvent::NetworkReturned);
    }

    /// At the heal, after every link was repaired: switches the engine's network back on if
    /// a loss still held it off. Says whether it did.
    pub(super) fn heal_network(&mut self) -> bool {
        let lost = std::mem::take(&mut self.faults.network_losses) > 0;
        if lost {
            self.network.set_available(true);
        }
        lost
    }

    /// Every host the engine's host can reach.
    fn engine_peers(&self) -> Vec<String> {
        self.scenario.hosts().filter(|host| *host != ENGINE_HOST).map(str::to_owned).collect()
    }
}
