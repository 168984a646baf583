//! Each node's own clock: virtual time plus a skew (jumps) and a drift (parts per million),
//! the two ways real clocks go wrong that leases and timeouts care about.
//!
//! Timers are relative durations measured on the node's clock, so drift stretches or
//! shrinks them, while a jump moves `now()` but not a pending timer (timers behave like a
//! monotonic clock; `now()` like a wall clock).

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
        if self.offset_ns == 0 && self.drift_ppm == 0 && self.drift_acc_ns == 0 {
            return now_ns;
        }
        let drift = self.drift_acc_ns as i128
            + (now_ns.saturating_sub(self.drift_base_ns) as i128) * self.drift_ppm as i128 / PPM;
        (now_ns as i128 + self.offset_ns as i128 + drift).max(0) as u64
    }

    /// Virtual time that passes while this clock advances `local_ns`.
    #[inline]
    pub fn real_delay(&self, local_ns: u64) -> u64 {
        if self.drift_ppm == 0 {
            return local_ns;
        }
        (local_ns as i128 * PPM / (PPM + self.drift_ppm as i128)).max(0) as u64
    }

    pub fn jump(&mut self, by_ns: i64) {
        self.offset_ns = self.offset_ns.saturating_add(by_ns);
    }

    pub fn set_drift(&mut self, now_ns: u64, drift_ppm: i64) {
        self.drift_acc_ns = self.drift_acc_ns.saturating_add(
            ((now_ns.saturating_sub(self.drift_base_ns) as i128) * self.drift_ppm as i128 / PPM)
                as i64,
        );
        self.drift_base_ns = now_ns;
        self.drift_ppm = drift_ppm.clamp(-999_999, 1_000_000);
    }

    pub fn skew_ns(&self, now_ns: u64) -> i64 {
        self.local(now_ns) as i64 - now_ns as i64
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
        assert_eq!(c.real_delay(100 * MS), 100 * MS);
    }

    #[test]
    fn drift_accumulates_and_stretches_timers() {
        let mut c = Clock::default();
        c.set_drift(0, 100_000); // 10% fast
        assert_eq!(c.local(10 * SEC), 11 * SEC);
        // a 110ms timer on a clock 10% fast takes 100ms of real time
        assert_eq!(c.real_delay(110 * MS), 100 * MS);
        c.set_drift(10 * SEC, 0);
        assert_eq!(c.local(20 * SEC), 21 * SEC);
    }
}
