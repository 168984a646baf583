//! Seed ranges: "1..200" (inclusive at both ends), "1..=200", or one seed "7".

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// An inclusive range of seeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub first: u64,
    pub last: u64,
}

impl SeedRange {
    pub fn new(first: u64, last: u64) -> Self {
        SeedRange { first, last }
    }

    /// Every seed, in order.
    pub fn iter(&self) -> std::ops::RangeInclusive<u64> {
        self.first..=self.last
    }

    /// How many seeds (saturating at u64::MAX for the whole range; 0 if first > last).
    pub fn len(&self) -> u64 {
        if self.first > self.last {
            0
        } else {
            (self.last - self.first).saturating_add(1)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, seed: u64) -> bool {
        self.first <= seed && seed <= self.last
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}..{}", self.first, self.last)
        }
    }
}

/// Why a seed range was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedRangeError(pub String);

impl fmt::Display for SeedRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SeedRangeError {}

impl FromStr for SeedRange {
    type Err = SeedRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        let bad = || {
            SeedRangeError(format!(
                "`{text}` is not a seed range; write \"1..200\" (both ends included), \"1..=200\" or one seed \"7\""
            ))
        };
        let num = |t: &str| -> Result<u64, SeedRangeError> {
            let t = t.trim().replace('_', "");
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse()
                .map_err(|_| SeedRangeError(format!("`{text}`: seeds go up to {}", u64::MAX)))
        };
        let (first, last) = match s.split_once("..") {
            Some((a, b)) => (num(a)?, num(b.strip_prefix('=').unwrap_or(b))?),
            None => {
                let n = num(s)?;
                (n, n)
            }
        };
        if first > last {
            return Err(SeedRangeError(format!(
                "`{text}` is empty: the first seed {first} is above the last {last}"
            )));
        }
        Ok(SeedRange { first, last })
    }
}

impl<'de> Deserialize<'de> for SeedRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SeedRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a seed range such as \"1..200\", or one seed")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SeedRange, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SeedRange, E> {
                u64::try_from(v)
                    .map(|n| SeedRange::new(n, n))
                    .map_err(|_| E::custom(format!("seed {v} is negative; seeds are 0 or more")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SeedRange, E> {
                Ok(SeedRange::new(v, v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let r: SeedRange = "1..200".parse().unwrap();
        assert_eq!(r, SeedRange::new(1, 200));
        assert_eq!(r.len(), 200);
        assert_eq!(r.iter().count(), 200);
        assert_eq!(r.to_string(), "1..200");
        assert_eq!("1..=200".parse::<SeedRange>().unwrap(), r);
        assert_eq!(
            " 3 .. 4 ".parse::<SeedRange>().unwrap(),
            SeedRange::new(3, 4)
        );
        let one: SeedRange = "7".parse().unwrap();
        assert_eq!((one.first, one.last, one.len()), (7, 7, 1));
        assert_eq!(one.to_string(), "7");
        assert_eq!(SeedRange::new(0, u64::MAX).len(), u64::MAX);
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            "..",
            "1..",
            "..5",
            "a..b",
            "1...5",
            "-1..5",
            "1..2..3",
            "1.5",
            "99999999999999999999",
        ] {
            assert!(bad.parse::<SeedRange>().is_err(), "{bad}");
        }
        let e = "9..3".parse::<SeedRange>().unwrap_err();
        assert!(e.0.contains("above the last"), "{e}");
    }
}
