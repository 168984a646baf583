//! Test helpers shared by the integration tests: a tiny deterministic PRNG, op builders, and a
//! generator of register histories that are linearizable by construction (every op is given a
//! linearization point inside its interval and outputs are computed by replaying the ops on a
//! real register in that order).
#![allow(dead_code)]

use dsim_checkers::anomaly::{RegOpKind, RegisterOp};
use dsim_checkers::linearizability::Operation;
use dsim_checkers::register::{RegisterInput, RegisterOutput};

pub type Op = Operation<RegisterInput, RegisterOutput>;

/// splitmix64: small, deterministic, good enough for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn write(id: u64, client: u32, call: u64, ret: Option<u64>, v: i64) -> Op {
    Operation {
        id,
        client,
        call_ns: call,
        return_ns: ret,
        input: RegisterInput::Write(v),
        output: ret.map(|_| RegisterOutput::Written),
    }
}

pub fn read(id: u64, client: u32, call: u64, ret: u64, v: Option<i64>) -> Op {
    Operation {
        id,
        client,
        call_ns: call,
        return_ns: Some(ret),
        input: RegisterInput::Read,
        output: Some(RegisterOutput::Read(v)),
    }
}

pub fn cas(id: u64, client: u32, call: u64, ret: u64, from: i64, to: i64, ok: bool) -> Op {
    Operation {
        id,
        client,
        call_ns: call,
        return_ns: Some(ret),
        input: RegisterInput::Cas { from, to },
        output: Some(RegisterOutput::Cas(ok)),
    }
}

pub struct GenConfig {
    pub ops: usize,
    pub clients: u32,
    /// Percent of ops that are writes / CAS; the rest are reads.
    pub write_pct: u64,
    pub cas_pct: u64,
    /// Percent of ops that time out (return unknown, may or may not take effect).
    pub timeout_pct: u64,
    /// Maximum op duration and maximum think time between a client's ops, in ns.
    pub max_duration: u64,
    pub max_gap: u64,
}

/// A register history that is linearizable by construction. Written values are distinct
/// (write and CAS `to` values are the op's id + 1). Ops are returned in id order, which is
/// the order in which they were generated (client by client, round-robin).
pub fn linearizable_history(seed: u64, cfg: &GenConfig) -> Vec<Op> {
    let mut rng = Rng(seed);
    let mut cursor = vec![0u64; cfg.clients as usize];
    // (op, linearization point if it takes effect)
    let mut ops: Vec<(Op, Option<u64>)> = Vec::with_capacity(cfg.ops);
    let mut written: Vec<i64> = Vec::new();
    for id in 0..cfg.ops as u64 {
        let client = (id % cfg.clients as u64) as u32;
        let c = client as usize;
        let call = cursor[c] + 1 + rng.below(cfg.max_gap.max(1));
        let dur = 1 + rng.below(cfg.max_duration.max(1));
        let ret = call + dur;
        cursor[c] = ret;
        let dice = rng.below(100);
        let input = if dice < cfg.write_pct {
            let v = id as i64 + 1;
            written.push(v);
            RegisterInput::Write(v)
        } else if dice < cfg.write_pct + cfg.cas_pct && !written.is_empty() {
            // Usually compare against a recent value so that some CAS succeed.
            let back = rng.below(3.min(written.len() as u64)) as usize;
            let from = written[written.len() - 1 - back];
            let to = id as i64 + 1;
            written.push(to);
            RegisterInput::Cas { from, to }
        } else {
            RegisterInput::Read
        };
        let timed_out = rng.below(100) < cfg.timeout_pct;
        let lin = if timed_out {
            // May take effect any time after the call, or never.
            if rng.below(2) == 0 {
                Some(call + rng.below(3 * dur + 1))
            } else {
                None
            }
        } else {
            Some(call + rng.below(dur + 1))
        };
        let op = Operation {
            id,
            client,
            call_ns: call,
            return_ns: if timed_out { None } else { Some(ret) },
            input,
            output: None,
        };
        ops.push((op, lin));
    }
    // Replay in linearization order on a real register to get the outputs.
    let mut order: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].1.is_some()).collect();
    order.sort_by_key(|&i| (ops[i].1, i));
    let mut state: Option<i64> = None;
    for i in order {
        let op = &mut ops[i].0;
        let out = match op.input {
            RegisterInput::Read => RegisterOutput::Read(state),
            RegisterInput::Write(v) => {
                state = Some(v);
                RegisterOutput::Written
            }
            RegisterInput::Cas { from, to } => {
                let ok = state == Some(from);
                if ok {
                    state = Some(to);
                }
                RegisterOutput::Cas(ok)
            }
        };
        if op.return_ns.is_some() {
            op.output = Some(out);
        }
    }
    ops.into_iter().map(|(op, _)| op).collect()
}

/// The anomaly module's view of a read/write history: writes (acknowledged iff they returned)
/// and completed reads. Panics on CAS, which that module does not model.
pub fn to_register_ops(ops: &[Op]) -> Vec<RegisterOp> {
    ops.iter()
        .filter_map(|op| {
            let kind = match (&op.input, &op.output) {
                (RegisterInput::Write(v), _) => RegOpKind::Write {
                    value: *v,
                    ok: op.return_ns.is_some(),
                },
                (RegisterInput::Read, Some(RegisterOutput::Read(v))) => {
                    RegOpKind::Read { value: *v }
                }
                (RegisterInput::Read, _) => return None,
                (RegisterInput::Cas { .. }, _) => panic!("no CAS in anomaly histories"),
            };
            Some(RegisterOp {
                id: op.id,
                client: op.client,
                call_ns: op.call_ns,
                return_ns: op.return_ns,
                kind,
            })
        })
        .collect()
}
