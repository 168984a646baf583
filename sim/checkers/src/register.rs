//! Sequential specification of a single read/write/compare-and-set register, the object the
//! dsim key-value models expose per key.
//!
//! The linearizability checker ([`crate::linearizability`]) follows Wing & Gong (1993), "Testing
//! and verifying concurrent objects", with the memoisation of Lowe (2017), "Testing for
//! linearizability", in the shape popularised by Porcupine (anishathalye/porcupine): the checker
//! knows nothing about registers and asks a [`SeqSpec`] whether an operation with an observed
//! output is legal in a state. This module is that spec for a register: the state is the current
//! value, `None` before the first write.

use crate::linearizability::SeqSpec;

/// What a client asked the register to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterInput {
    /// Read the current value.
    Read,
    /// Overwrite the value.
    Write(i64),
    /// Set the value to `to` if it currently equals `from`. Fails on the initial (unset) value.
    Cas { from: i64, to: i64 },
}

/// What the register answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOutput {
    /// The value read; `None` when nothing has been written yet.
    Read(Option<i64>),
    /// A write was acknowledged.
    Written,
    /// Whether a compare-and-set took effect.
    Cas(bool),
}

/// A register whose initial value is `None` (never written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Register;

impl SeqSpec for Register {
    type State = Option<i64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> Self::State {
        None
    }

    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State> {
        match input {
            RegisterInput::Read => match output {
                None => Some(*state),
                Some(RegisterOutput::Read(v)) if v == state => Some(*state),
                Some(_) => None,
            },
            RegisterInput::Write(v) => match output {
                None | Some(RegisterOutput::Written) => Some(Some(*v)),
                Some(_) => None,
            },
            RegisterInput::Cas { from, to } => {
                let succeeds = *state == Some(*from);
                match output {
                    None => Some(if succeeds { Some(*to) } else { *state }),
                    Some(RegisterOutput::Cas(true)) if succeeds => Some(Some(*to)),
                    Some(RegisterOutput::Cas(false)) if !succeeds => Some(*state),
                    Some(_) => None,
                }
            }
        }
    }

    fn read_only(&self, input: &Self::Input) -> bool {
        matches!(input, RegisterInput::Read)
    }

    fn overwrites(&self, input: &Self::Input) -> bool {
        matches!(input, RegisterInput::Write(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegisterInput as I;
    use RegisterOutput as O;

    #[test]
    fn read_must_match_state() {
        let r = Register;
        assert_eq!(r.step(&None, &I::Read, Some(&O::Read(None))), Some(None));
        assert_eq!(r.step(&None, &I::Read, Some(&O::Read(Some(1)))), None);
        assert_eq!(
            r.step(&Some(1), &I::Read, Some(&O::Read(Some(1)))),
            Some(Some(1))
        );
        assert_eq!(r.step(&Some(1), &I::Read, Some(&O::Read(Some(2)))), None);
        assert_eq!(r.step(&Some(1), &I::Read, None), Some(Some(1)));
        assert_eq!(r.step(&Some(1), &I::Read, Some(&O::Written)), None);
    }

    #[test]
    fn write_sets_value() {
        let r = Register;
        assert_eq!(
            r.step(&None, &I::Write(4), Some(&O::Written)),
            Some(Some(4))
        );
        assert_eq!(r.step(&Some(1), &I::Write(4), None), Some(Some(4)));
        assert_eq!(r.step(&Some(1), &I::Write(4), Some(&O::Cas(true))), None);
    }

    #[test]
    fn cas_semantics() {
        let r = Register;
        let cas = I::Cas { from: 1, to: 2 };
        assert_eq!(r.step(&Some(1), &cas, Some(&O::Cas(true))), Some(Some(2)));
        assert_eq!(r.step(&Some(1), &cas, Some(&O::Cas(false))), None);
        assert_eq!(r.step(&Some(3), &cas, Some(&O::Cas(false))), Some(Some(3)));
        assert_eq!(r.step(&Some(3), &cas, Some(&O::Cas(true))), None);
        // A CAS on the initial (unset) value fails.
        assert_eq!(r.step(&None, &cas, Some(&O::Cas(true))), None);
        assert_eq!(r.step(&None, &cas, Some(&O::Cas(false))), Some(None));
        // Unknown output: whichever the spec says.
        assert_eq!(r.step(&Some(1), &cas, None), Some(Some(2)));
        assert_eq!(r.step(&None, &cas, None), Some(None));
    }
}
