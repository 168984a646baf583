//! Each node's own clock: virtual time plus a skew (jumps) and a drift (parts per million),
//! the two ways real clocks go wrong that leases and timeouts care about.
//!
//! Timers are durations measured on the node's *monotonic* reading (virtual time plus
//! drift, without jumps), so drift stretches or shrinks them, and when the drift changes
//! the engine moves pending timers to match; a jump moves `now()` but not a timer (timers
//! behave like a monotonic clock; `now()` like a wall clock).

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    offset_ns: i64,
    drift_ppm: i64,
    /// Drift accumulated up to `drift_base_ns` of virtual time.
    drift_acc_ns: i64,
    drift_base_ns: u64,
}

const PPM: i128 = 1_000_000;

impl Clock {
    /// The node's reading at virtual time `now_ns` (never below zero).
    #[inline]
    pub fn local(&self, now_ns: u64) -> u64 {
        (self.mono(now_ns) + self.offset_ns as i128).max(0) as u64
    }

    /// The monotonic reading at virtual time `now_ns`: drift included, jumps not.
    #[inline]
    pub fn mono(&self, now_ns: u64) -> i128 {
        if self.drift_ppm == 0 {
            // The common case, without 128-bit division on the hot path.
            return now_ns as i128 + self.drift_acc_ns as i128;
        }
        now_ns as i128
            + self.drift_acc_ns as i128
            + (now_ns.saturating_sub(self.drift_base_ns) as i128) * self.drift_ppm as i128 / PPM
    }

    /// The virtual time at which the monotonic reading reaches `deadline`, at the
    /// current drift (now, if it already has).
    #[inline]
    pub fn real_at(&self, now_ns: u64, deadline: i128) -> u64 {
        let left = (deadline - self.mono(now_ns)).max(0);
        let real = if self.drift_ppm == 0 {
            left
        } else {
            left * PPM / (PPM + self.drift_ppm as i128)
        };
        now_ns.saturating_add(real.min(u64::MAX as i128) as u64)
    }

    pub fn jump(&mut self, by_ns: i64) {
        self.offset_ns = self.offset_ns.saturating_add(by_ns);
    }

    /// Changes the drift from now on; what drifted so far is kept.
    pub fn set_drift(&mut self, now_ns: u64, drift_ppm: i64) {
        let drifted = self.mono(now_ns) - now_ns as i128;
        self.drift_acc_ns = drifted.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        self.drift_base_ns = now_ns;
        self.drift_ppm = drift_ppm.clamp(-999_999, 1_000_000);
    }

    /// The drift in parts per million (0 for a clock that keeps time).
    pub fn drift_ppm(&self) -> i64 {
        self.drift_ppm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{MS, SEC};

    #[test]
    fn jump_moves_now_not_timers() {
        let mut c = Clock::default();
        c.jump(2 * SEC as i64);
        assert_eq!(c.local(SEC), 3 * SEC);
        assert_eq!(
            c.real_at(SEC, c.mono(SEC) + 100 * MS as i128),
            SEC + 100 * MS
        );
    }

    #[test]
    fn a_deadline_moves_when_the_drift_changes() {
        let mut c = Clock::default();
        c.set_drift(0, -500_000); // half speed
        let deadline = c.mono(0) + 100 * MS as i128;
        assert_eq!(c.real_at(0, deadline), 200 * MS);
        // After 100ms of virtual time, 50ms of the timer are left; at normal speed they
        // take 50ms, not the 100ms the old drift would have needed.
        c.set_drift(100 * MS, 0);
        assert_eq!(c.real_at(100 * MS, deadline), 150 * MS);
    }

    #[test]
    fn drift_accumulates_and_stretches_timers() {
        let mut c = Clock::default();
        c.set_drift(0, 100_000); // 10% fast
        assert_eq!(c.local(10 * SEC), 11 * SEC);
        // a 110ms timer on a clock 10% fast takes 100ms of real time
        assert_eq!(c.real_at(0, c.mono(0) + 110 * MS as i128), 100 * MS);
        c.set_drift(10 * SEC, 0);
        assert_eq!(c.local(20 * SEC), 21 * SEC);
    }
}
