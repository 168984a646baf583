//! Units of the scenario language: durations with units ("250ms", "10s", "7d") and
//! probabilities ("1/1000" or 0.001).
//!
//! Both become integers at load time so that no run ever decides anything on a float:
//! a duration is a count of nanoseconds, a probability a count of parts per billion
//! (design brief §4, "no floats in decisions").

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// Nanoseconds per unit.
pub const NS: u64 = 1;
pub const US: u64 = 1_000;
pub const MS: u64 = 1_000_000;
pub const SEC: u64 = 1_000_000_000;
pub const MIN: u64 = 60 * SEC;
pub const HOUR: u64 = 60 * MIN;
pub const DAY: u64 = 24 * HOUR;

/// A span of virtual time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub u64);

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub fn as_ns(self) -> u64 {
        self.0
    }
    pub fn from_ms(ms: u64) -> Self {
        Duration(ms * MS)
    }
    pub fn from_secs(s: u64) -> Self {
        Duration(s * SEC)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_ns(self.0))
    }
}

/// Renders nanoseconds readably: whole days, hours or minutes when exact ("7d", "2h",
/// "5m"), else seconds, milliseconds or microseconds with up to three decimals ("90s",
/// "1.500s", "250ms", "17us").
pub fn format_ns(ns: u64) -> String {
    for (size, name) in [(DAY, "d"), (HOUR, "h"), (MIN, "m")] {
        if ns >= size && ns.is_multiple_of(size) {
            return format!("{}{name}", ns / size);
        }
    }
    for (size, name) in [(SEC, "s"), (MS, "ms"), (US, "us")] {
        if ns >= size {
            let whole = ns / size;
            let frac = (ns % size) * 1000 / size;
            return if frac == 0 {
                format!("{whole}{name}")
            } else {
                format!("{whole}.{frac:03}{name}")
            };
        }
    }
    format!("{ns}ns")
}

/// A duration as a person would write it in a scenario, exactly (no rounding), for
/// messages that quote a setting back: "90s", "1500ms", "10m", "7d".
pub fn format_exact(d: Duration) -> String {
    let ns = d.0;
    if ns == 0 {
        return "0s".into();
    }
    // Seconds read best up to ten minutes ("90s", not "1.5m").
    if ns < 10 * MIN && ns.is_multiple_of(SEC) {
        return format!("{}s", ns / SEC);
    }
    // The largest unit that divides it exactly; nanoseconds always do.
    let units = [
        (DAY, "d"),
        (HOUR, "h"),
        (MIN, "m"),
        (SEC, "s"),
        (MS, "ms"),
        (US, "us"),
        (NS, "ns"),
    ];
    let (size, name) = units
        .into_iter()
        .find(|(size, _)| ns.is_multiple_of(*size))
        .unwrap_or((NS, "ns"));
    format!("{}{name}", ns / size)
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` has no unit; write it as e.g. \"250ms\", \"10s\", \"7d\" (units: ns, us, ms, s, m, h, d)")]
    NoUnit(String),
    #[error("`{0}` has an unknown unit `{1}`; units are ns, us, ms, s, m, h, d")]
    BadUnit(String, String),
    #[error("`{0}` is not a duration; write a number and a unit, e.g. \"250ms\", \"1.5s\"")]
    BadNumber(String),
    #[error("`{0}` is negative: a duration here counts forward from zero")]
    Negative(String),
    #[error("`{0}` is too large: durations must stay below about 584 years")]
    Overflow(String),
}

/// Parses "250ms", "1.5s", "7d", "0". Decimal fractions are exact (no float).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative(text.to_string()));
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .ok_or_else(|| DurationError::NoUnit(text.to_string()))?;
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    let scale = match unit {
        "ns" => NS,
        "us" | "µs" => US,
        "ms" => MS,
        "s" => SEC,
        "m" | "min" => MIN,
        "h" => HOUR,
        "d" => DAY,
        _ => return Err(DurationError::BadUnit(text.to_string(), unit.to_string())),
    };
    let num = num.replace('_', "");
    let (whole, frac) = match num.split_once('.') {
        Some((w, f)) => (w, f),
        None => (num.as_str(), ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return Err(DurationError::BadNumber(text.to_string()));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| DurationError::BadNumber(text.to_string()))?
    };
    let mut ns = whole
        .checked_mul(scale)
        .ok_or_else(|| DurationError::Overflow(text.to_string()))?;
    // Fraction digits: each one tenth of the previous; digits below 1ns are dropped.
    let mut place = scale;
    for c in frac.chars() {
        let d = c
            .to_digit(10)
            .ok_or_else(|| DurationError::BadNumber(text.to_string()))? as u64;
        place /= 10;
        ns = ns
            .checked_add(d * place)
            .ok_or_else(|| DurationError::Overflow(text.to_string()))?;
    }
    Ok(Duration(ns))
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, such as \"250ms\" or \"10s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!(
                        "{v} has no unit; write it as a string with a unit, e.g. \"{v}ms\""
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A probability in parts per billion (0 ..= 1_000_000_000).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Probability(pub u32);

impl Probability {
    pub const ZERO: Probability = Probability(0);
    pub const ONE: Probability = Probability(PPB);
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// 1/den, rounded to the nearest part per billion.
    pub fn one_in(den: u64) -> Self {
        Probability(((PPB as u64 + den / 2) / den.max(1)) as u32)
    }
}

/// Parts per billion in a certainty.
pub const PPB: u32 = 1_000_000_000;

impl fmt::Display for Probability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0 as f64 / PPB as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbabilityError {
    #[error("`{0}` is not a probability; write a fraction \"1/1000\" or a number from 0 to 1")]
    Malformed(String),
    #[error("{0} is outside 0..=1; a probability is a fraction such as \"1/100\" or 0.01")]
    OutOfRange(String),
}

/// Parses "1/1000", "0.001", "0", "1".
pub fn parse_probability(text: &str) -> Result<Probability, ProbabilityError> {
    let s = text.trim();
    if let Some((n, d)) = s.split_once('/') {
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| ProbabilityError::Malformed(text.into()))?;
        let d: u64 = d
            .trim()
            .parse()
            .map_err(|_| ProbabilityError::Malformed(text.into()))?;
        if d == 0 {
            return Err(ProbabilityError::Malformed(text.into()));
        }
        if n > d {
            return Err(ProbabilityError::OutOfRange(text.into()));
        }
        // u128: n * 10^9 overflows u64 for fractions with large terms.
        let ppb = (n as u128 * PPB as u128 + d as u128 / 2) / d as u128;
        return Ok(Probability(ppb as u32));
    }
    let x: f64 = s
        .parse()
        .map_err(|_| ProbabilityError::Malformed(text.into()))?;
    from_f64(x).ok_or_else(|| ProbabilityError::OutOfRange(text.into()))
}

fn from_f64(x: f64) -> Option<Probability> {
    if !(0.0..=1.0).contains(&x) {
        return None;
    }
    // Correctly rounded parse + one multiplication: the same on every IEEE-754 machine.
    Some(Probability((x * PPB as f64).round() as u32))
}

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Probability;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a probability: a fraction such as \"1/1000\" or a number from 0 to 1")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Probability, E> {
                parse_probability(v).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Probability, E> {
                from_f64(v).ok_or_else(|| E::custom(ProbabilityError::OutOfRange(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Probability, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration(250 * MS));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration(1_500 * MS));
        assert_eq!(parse_duration("7d").unwrap(), Duration(7 * DAY));
        assert_eq!(parse_duration("10us").unwrap(), Duration(10 * US));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1_000ms").unwrap(), Duration(SEC));
    }

    #[test]
    fn durations_refuse_nonsense() {
        assert!(matches!(
            parse_duration("10"),
            Err(DurationError::NoUnit(_))
        ));
        assert!(matches!(
            parse_duration("10 sec"),
            Err(DurationError::BadUnit(..))
        ));
        assert!(matches!(
            parse_duration("ms"),
            Err(DurationError::BadNumber(_))
        ));
        assert!(matches!(
            parse_duration("-1s"),
            Err(DurationError::Negative(_))
        ));
        assert!(matches!(
            parse_duration("99999999999d"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn probabilities_parse_as_fraction_or_number() {
        assert_eq!(parse_probability("1/1000").unwrap(), Probability(1_000_000));
        assert_eq!(parse_probability("0.001").unwrap(), Probability(1_000_000));
        assert_eq!(parse_probability("1").unwrap(), Probability::ONE);
        assert!(parse_probability("2").is_err());
        assert!(parse_probability("3/2").is_err());
        assert!(parse_probability("1/0").is_err());
        assert_eq!(
            parse_probability("20000000000/20000000000").unwrap(),
            Probability::ONE
        );
    }

    #[test]
    fn format_is_readable() {
        assert_eq!(format_ns(1_500 * MS), "1.500s");
        assert_eq!(format_ns(250 * MS), "250ms");
        assert_eq!(format_ns(12), "12ns");
        assert_eq!(format_ns(90 * SEC), "90s");
        assert_eq!(format_ns(2 * HOUR), "2h");
        assert_eq!(format_ns(7 * DAY), "7d");
        assert_eq!(format_exact(Duration(90 * SEC)), "90s");
        assert_eq!(format_exact(Duration(60 * SEC)), "60s");
        assert_eq!(format_exact(Duration(10 * MIN)), "10m");
        assert_eq!(format_exact(Duration(1_500 * MS)), "1500ms");
        assert_eq!(format_exact(Duration(7 * DAY)), "7d");
        assert_eq!(format_exact(Duration(0)), "0s");
        assert_eq!(format_exact(Duration(3)), "3ns");
    }
}
