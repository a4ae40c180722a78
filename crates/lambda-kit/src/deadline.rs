//! The invocation's deadline as a function can rely on it.
//!
//! Lambda gives every invocation a deadline in the future (`Lambda-Runtime-Deadline-Ms`, the
//! start plus the function's timeout). Local runtimes do not always: `cargo lambda watch` sends a
//! fixed `600000`, a moment in 1970. A deadline that has already passed when the invocation
//! starts cannot be Lambda's, so it is treated as no deadline at all, and each function decides
//! what that means (the producer runs unbounded, the compactor assumes Lambda's longest timeout).

use std::time::{Duration, SystemTime};

/// Lambda's longest function timeout (900 s).
pub const LONGEST_TIMEOUT: Duration = Duration::from_secs(900);

/// The time left until `deadline`, as of `now`, or `None` when the deadline is not in the future
/// (no real deadline was given).
pub fn time_left(deadline: SystemTime, now: SystemTime) -> Option<Duration> {
    deadline
        .duration_since(now)
        .ok()
        .filter(|left| !left.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_ahead_leaves_its_time_and_one_in_the_past_is_none() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ahead = now + Duration::from_secs(60);
        assert_eq!(time_left(ahead, now), Some(Duration::from_secs(60)));
        // what cargo lambda watch sends: 600000 ms after the epoch
        let local = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        assert_eq!(time_left(local, now), None);
        assert_eq!(time_left(now, now), None);
    }
}
