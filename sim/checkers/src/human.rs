//! Small helpers that turn virtual-time nanoseconds into short human text ("1.204s", "250ms")
//! for explanations. Pure integer arithmetic, so the output is byte-for-byte deterministic.
//!
//! It serves the reports of the linearizability checker (Wing & Gong 1993's search with Lowe
//! 2017's memo, after Porcupine, anishathalye/porcupine) and of the anomaly finder: a failing
//! history is only useful to a person if the times in it read easily.

/// Formats a duration or instant given in nanoseconds of virtual time.
///
/// * `>= 1s`  → seconds with three decimals: `1.204s`, `12.000s`
/// * `>= 1ms` → milliseconds, decimals only when needed: `250ms`, `2.5ms`
/// * `>= 1µs` → microseconds, decimals only when needed: `17us`, `1.25us`
/// * otherwise nanoseconds: `800ns`
pub(crate) fn ns(ns: u64) -> String {
    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    if ns >= S {
        format!("{}.{:03}s", ns / S, (ns % S) / MS)
    } else if ns >= MS {
        with_fraction(ns / MS, ns % MS, 6, "ms")
    } else if ns >= US {
        with_fraction(ns / US, ns % US, 3, "us")
    } else {
        format!("{ns}ns")
    }
}

/// `whole.frac` with `digits` fractional digits, trailing zeros trimmed (and the dot when the
/// fraction is zero).
fn with_fraction(whole: u64, frac: u64, digits: usize, unit: &str) -> String {
    if frac == 0 {
        return format!("{whole}{unit}");
    }
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}{unit}", f.trim_end_matches('0'))
}

/// Formats an optional return time: `None` is an operation that never returned.
pub(crate) fn opt_ns(t: Option<u64>) -> String {
    match t {
        Some(t) => ns(t),
        None => "never".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_each_unit() {
        assert_eq!(ns(1_204_000_000), "1.204s");
        assert_eq!(ns(1_100_000_000), "1.100s");
        assert_eq!(ns(1_000_000_000), "1.000s");
        assert_eq!(ns(250_000_000), "250ms");
        assert_eq!(ns(2_500_000), "2.5ms");
        assert_eq!(ns(1_000_001), "1.000001ms");
        assert_eq!(ns(17_000), "17us");
        assert_eq!(ns(1_250), "1.25us");
        assert_eq!(ns(800), "800ns");
        assert_eq!(ns(0), "0ns");
        assert_eq!(opt_ns(None), "never");
        assert_eq!(opt_ns(Some(3_000)), "3us");
    }
}
