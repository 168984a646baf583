//! Faults, compiled from the scenario's `[[faults]]` and drawn by the `[nemesis]` (design
//! brief §5). A fault names its targets with a [`Selector`], resolved when it fires, and
//! may carry a duration after which it is undone.

use crate::config::{DiskFault, FaultKind, FaultSpec, PartitionShape};
use crate::select::{Selector, SelectorError};
use crate::units::parse_duration;

/// A scripted fault, ready to schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedFault {
    pub at_ns: u64,
    pub kind: FaultKind,
    pub target: Option<Selector>,
    pub duration_ns: Option<u64>,
    pub shape: PartitionShape,
    pub to: Option<Selector>,
    pub disk: Option<DiskFault>,
    pub offset_ns: i64,
    pub drift_ppm: i64,
    pub factor: u32,
}

/// Why a `[[faults]]` entry cannot run; `field` names the key to point at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultError {
    pub field: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

fn err(field: &'static str, message: impl Into<String>, hint: Option<&str>) -> FaultError {
    FaultError {
        field,
        message: message.into(),
        hint: hint.map(str::to_string),
    }
}

fn selector(field: &'static str, text: &str) -> Result<Selector, FaultError> {
    Selector::parse(text).map_err(|e: SelectorError| err(field, e.to_string(), None))
}

/// Parses a signed duration: "2s", "-500ms".
pub fn parse_signed_duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let d = parse_duration(body).map_err(|e| e.to_string())?;
    let v = i64::try_from(d.0).map_err(|_| format!("`{text}` is too large"))?;
    Ok(if neg { -v } else { v })
}

impl PlannedFault {
    pub fn compile(spec: &FaultSpec) -> Result<PlannedFault, FaultError> {
        let target = spec
            .target
            .as_deref()
            .map(|t| selector("target", t))
            .transpose()?;
        let to = spec.to.as_deref().map(|t| selector("to", t)).transpose()?;
        let offset_ns = spec
            .offset
            .as_deref()
            .map(parse_signed_duration)
            .transpose()
            .map_err(|m| {
                err(
                    "offset",
                    m,
                    Some("write a signed duration such as \"-2s\" or \"500ms\""),
                )
            })?
            .unwrap_or(0);
        let needs_target = !matches!(spec.kind, FaultKind::Heal);
        if needs_target && target.is_none() && spec.kind != FaultKind::Partition {
            return Err(err(
                "kind",
                format!("a `{}` fault needs a `target`", spec.kind.name()),
                Some("add e.g. target = \"random(replica)\""),
            ));
        }
        match spec.kind {
            FaultKind::Disk if spec.disk.is_none() => {
                return Err(err(
                    "kind",
                    "a `disk` fault needs `disk = ...`",
                    Some(
                        "one of \"lose-unsynced\", \"torn-write\", \"corrupt\", \"full\", \"slow\"",
                    ),
                ))
            }
            FaultKind::ClockJump if spec.offset.is_none() => {
                return Err(err(
                    "kind",
                    "a `clock-jump` needs an `offset`",
                    Some("e.g. offset = \"-2s\""),
                ))
            }
            FaultKind::ClockDrift if spec.drift_ppm.is_none() => {
                return Err(err(
                    "kind",
                    "a `clock-drift` needs `drift_ppm`",
                    Some("e.g. drift_ppm = 50000 (5% fast)"),
                ))
            }
            FaultKind::Pause if spec.duration.is_none() => {
                return Err(err(
                    "kind",
                    "a `pause` needs a `duration`",
                    Some("e.g. duration = \"5s\""),
                ))
            }
            _ => {}
        }
        if let Some(d) = spec.drift_ppm {
            if d <= -1_000_000 || d > 1_000_000 {
                return Err(err(
                    "drift_ppm",
                    format!("drift_ppm {d} is out of range"),
                    Some("a clock cannot stop or run backwards: use -999999..=1000000"),
                ));
            }
        }
        if spec.factor == Some(0) {
            return Err(err(
                "factor",
                "factor 0 would make time stand still",
                Some("use 2 or more"),
            ));
        }
        if spec.shape == Some(PartitionShape::OneWay) && target.is_none() {
            return Err(err(
                "shape",
                "a one-way partition needs a `target` (the sending side)",
                None,
            ));
        }
        if spec.shape.is_some() && spec.kind != FaultKind::Partition {
            return Err(err(
                "shape",
                format!(
                    "`shape` only applies to partitions, not `{}`",
                    spec.kind.name()
                ),
                None,
            ));
        }
        Ok(PlannedFault {
            at_ns: spec.at.0,
            kind: spec.kind,
            target,
            duration_ns: spec.duration.map(|d| d.0),
            shape: spec.shape.unwrap_or_default(),
            to,
            disk: spec.disk,
            offset_ns,
            drift_ppm: spec.drift_ppm.unwrap_or(0),
            factor: spec.factor.unwrap_or(10),
        })
    }

    /// The selectors this fault uses, for validation against the model.
    pub fn selectors(&self) -> impl Iterator<Item = (&'static str, &Selector)> {
        self.target
            .iter()
            .map(|s| ("target", s))
            .chain(self.to.iter().map(|s| ("to", s)))
    }
}
