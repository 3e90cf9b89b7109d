//! `[liveness]`: a run in two phases. Until `after` faults happen (the chaos phase); at
//! `after` the harness heals every fault still in force, and from then on every job must reach
//! its expected end within the bound `crate::liveness` computes. Faults therefore belong to
//! the chaos phase: validation refuses a fault at or after `after`, and a random fault's
//! window that ends after it.

use serde::{Deserialize, Serialize};

use super::units::Span;
use super::{DEADLINE_MAX, Located, Scenario, at};

#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    /// The chaos phase ends here: every fault is healed, and none may start later.
    pub after: Span,
}

impl Scenario {
    /// When the chaos phase ends, for a scenario with `[liveness]`.
    pub fn liveness_after(&self) -> Option<std::time::Duration> {
        self.liveness.as_ref().map(|liveness| liveness.get_ref().after.0)
    }

    /// Faults start before `after` (random ones: in a window that ends by `after`), which
    /// comes before the deadline. A link drop or power loss may last past `after`: healing
    /// cuts it short. The longest run the bound allows must
    /// fit the simulator's range.
    pub(super) fn validate_liveness(&self) -> Result<(), Located> {
        let Some(liveness) = &self.liveness else { return Ok(()) };
        let (span, after) = (liveness.span(), liveness.get_ref().after);
        if after >= self.deadline {
            return Err(at(
                span,
                format!("liveness.after: {after} is not before the deadline {}", self.deadline),
            ));
        }
        for fault in &self.faults {
            if fault.get_ref().at >= after {
                return Err(at(
                    fault.span(),
                    format!(
                        "faults.at: {} is not before liveness.after {after}, when the chaos phase ends",
                        fault.get_ref().at
                    ),
                ));
            }
        }
        for random in &self.random_faults {
            if random.get_ref().window.max > after {
                return Err(at(
                    random.span(),
                    format!(
                        "random_faults.window: {} ends after liveness.after {after}, when the chaos phase ends",
                        random.get_ref().window
                    ),
                ));
            }
        }
        let longest = crate::liveness::run_length_max(self);
        if longest > DEADLINE_MAX {
            return Err(at(
                span,
                format!(
                    "liveness.after: the run may last until {}, beyond the simulator's {}",
                    Span(longest),
                    Span(DEADLINE_MAX)
                ),
            ));
        }
        Ok(())
    }
}
