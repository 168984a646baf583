//! The virtual network: per-message delay drawn from a latency distribution, loss,
//! duplication, explicit reordering, and partitions (design brief §5).
//!
//! Partitions are stored as a short list of *cuts* (two sides, one-way or both ways)
//! rather than per-pair link state, so the cost is O(nodes) per cut and nothing grows as
//! n². A message is checked against the cuts when it is sent *and* when it arrives, so a
//! partition also swallows messages already in flight.

use rand::Rng;

use crate::config::{Latency, NetworkConfig};
use crate::id::NodeId;
use crate::rng::{chance, SimRng};
use crate::units::Probability;

/// z-score of the 99th percentile of a standard normal distribution.
const Z99: f64 = 2.326_347_874_040_841;

/// A latency distribution ready to sample, its parameters precomputed.
#[derive(Clone, Debug)]
pub enum Sampler {
    Constant(u64),
    Uniform(u64, u64),
    Normal { mean: f64, sigma: f64 },
    LogNormal { mu: f64, sigma: f64 },
}

impl Sampler {
    pub fn new(l: &Latency) -> Self {
        match *l {
            Latency::Constant { value } => Sampler::Constant(value.0),
            Latency::Uniform { min, max } => Sampler::Uniform(min.0, max.0.max(min.0)),
            Latency::Normal { p50, p99 } => Sampler::Normal {
                mean: p50.0 as f64,
                sigma: (p99.0.saturating_sub(p50.0)) as f64 / Z99,
            },
            Latency::Lognormal { p50, p99 } => {
                let mu = libm::log(p50.0.max(1) as f64);
                let sigma = (libm::log(p99.0.max(p50.0).max(1) as f64) - mu) / Z99;
                Sampler::LogNormal { mu, sigma }
            }
        }
    }

    /// One draw, in nanoseconds. Floats pass only through libm (portable, correctly
    /// specified) and are truncated back to integers before any decision is taken.
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> u64 {
        match *self {
            Sampler::Constant(v) => v,
            Sampler::Uniform(a, b) => {
                if a == b {
                    a
                } else {
                    rng.gen_range(a..=b)
                }
            }
            Sampler::Normal { mean, sigma } => {
                let x = mean + sigma * standard_normal(rng);
                if x <= 0.0 {
                    0
                } else {
                    x as u64
                }
            }
            Sampler::LogNormal { mu, sigma } => {
                libm::exp(mu + sigma * standard_normal(rng)).min(1e18) as u64
            }
        }
    }
}

/// Box–Muller with libm, from two uniform draws.
fn standard_normal(rng: &mut SimRng) -> f64 {
    // (0, 1]: never ln(0).
    let u1 = (rng.gen_range(0u64..(1 << 53)) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = rng.gen_range(0u64..(1 << 53)) as f64 / (1u64 << 53) as f64;
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(std::f64::consts::TAU * u2)
}

/// A set of nodes as a bitset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSet {
    words: Vec<u64>,
}

impl NodeSet {
    pub fn from_ids(ids: impl IntoIterator<Item = NodeId>) -> Self {
        let mut s = NodeSet::default();
        for id in ids {
            s.insert(id);
        }
        s
    }
    pub fn insert(&mut self, id: NodeId) {
        let (w, b) = (id.index() / 64, id.index() % 64);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << b;
    }
    #[inline]
    pub fn contains(&self, id: NodeId) -> bool {
        let (w, b) = (id.index() / 64, id.index() % 64);
        self.words.get(w).is_some_and(|x| x & (1 << b) != 0)
    }
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.words.iter().enumerate().flat_map(|(w, word)| {
            (0..64)
                .filter(move |b| word & (1u64 << b) != 0)
                .map(move |b| NodeId((w * 64 + b) as u32))
        })
    }
}

/// One partition: messages from `a` to `b` are dropped, and from `b` to `a` unless
/// `one_way`.
#[derive(Clone, Debug)]
pub struct Cut {
    pub id: u64,
    pub a: NodeSet,
    pub b: NodeSet,
    pub one_way: bool,
}

impl Cut {
    #[inline]
    fn blocks(&self, from: NodeId, to: NodeId) -> bool {
        (self.a.contains(from) && self.b.contains(to))
            || (!self.one_way && self.b.contains(from) && self.a.contains(to))
    }
}

/// What the network decided for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Deliver after these delays (two when duplicated).
    Deliver {
        delay_ns: u64,
        duplicate_delay_ns: Option<u64>,
    },
    Lost,
    Partitioned,
}

/// The network's state: its configuration, active cuts and per-node slowness.
#[derive(Clone, Debug)]
pub struct Network {
    latency: Sampler,
    loss: Probability,
    duplicate: Probability,
    reorder: Probability,
    reorder_delay_ns: u64,
    cross_rack_ns: u64,
    cross_zone_ns: u64,
    cuts: Vec<Cut>,
    next_cut: u64,
    /// Per node: messages to and from it take this many times longer (1 = normal).
    pub(crate) slow_factor: Vec<u32>,
}

impl Network {
    pub fn new(cfg: &NetworkConfig, nodes: usize) -> Self {
        Network {
            latency: Sampler::new(&cfg.latency),
            loss: cfg.loss,
            duplicate: cfg.duplicate,
            reorder: cfg.reorder,
            reorder_delay_ns: cfg.reorder_delay.0,
            cross_rack_ns: cfg.cross_rack_delay.0,
            cross_zone_ns: cfg.cross_zone_delay.0,
            cuts: Vec::new(),
            next_cut: 1,
            slow_factor: vec![1; nodes],
        }
    }

    #[inline]
    pub fn blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.cuts.iter().any(|c| c.blocks(from, to))
    }

    pub fn add_cut(&mut self, a: NodeSet, b: NodeSet, one_way: bool) -> u64 {
        let id = self.next_cut;
        self.next_cut += 1;
        self.cuts.push(Cut { id, a, b, one_way });
        id
    }

    pub fn remove_cut(&mut self, id: u64) -> bool {
        let before = self.cuts.len();
        self.cuts.retain(|c| c.id != id);
        before != self.cuts.len()
    }

    pub fn heal_all(&mut self) -> usize {
        let n = self.cuts.len();
        self.cuts.clear();
        n
    }

    pub fn cuts(&self) -> &[Cut] {
        &self.cuts
    }

    /// Decides a message's fate. `rack`/`zone` place the endpoints.
    #[inline]
    pub fn route(
        &self,
        rng: &mut SimRng,
        from: NodeId,
        to: NodeId,
        same_rack: bool,
        same_zone: bool,
    ) -> Fate {
        if self.blocked(from, to) {
            return Fate::Partitioned;
        }
        if chance(rng, self.loss) {
            return Fate::Lost;
        }
        let delay = self.delay(rng, from, to, same_rack, same_zone);
        let duplicate_delay_ns = if chance(rng, self.duplicate) {
            Some(self.delay(rng, from, to, same_rack, same_zone))
        } else {
            None
        };
        Fate::Deliver {
            delay_ns: delay,
            duplicate_delay_ns,
        }
    }

    #[inline]
    fn delay(
        &self,
        rng: &mut SimRng,
        from: NodeId,
        to: NodeId,
        same_rack: bool,
        same_zone: bool,
    ) -> u64 {
        let mut d = self.latency.sample(rng);
        if !same_zone {
            d = d.saturating_add(self.cross_zone_ns);
        } else if !same_rack {
            d = d.saturating_add(self.cross_rack_ns);
        }
        if chance(rng, self.reorder) {
            d = d.saturating_add(self.reorder_delay_ns);
        }
        let slow = self.slow_factor[from.index()].max(self.slow_factor[to.index()]) as u64;
        d.saturating_mul(slow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::derive;
    use crate::units::{Duration, MS};

    fn ids(v: &[u32]) -> NodeSet {
        NodeSet::from_ids(v.iter().map(|&i| NodeId(i)))
    }

    #[test]
    fn two_way_cut_blocks_both_directions() {
        let mut n = Network::new(&NetworkConfig::default(), 4);
        n.add_cut(ids(&[0]), ids(&[1, 2, 3]), false);
        assert!(n.blocked(NodeId(0), NodeId(2)));
        assert!(n.blocked(NodeId(3), NodeId(0)));
        assert!(!n.blocked(NodeId(1), NodeId(2)));
    }

    #[test]
    fn one_way_cut_blocks_one_direction() {
        let mut n = Network::new(&NetworkConfig::default(), 3);
        let id = n.add_cut(ids(&[0]), ids(&[1]), true);
        assert!(n.blocked(NodeId(0), NodeId(1)));
        assert!(!n.blocked(NodeId(1), NodeId(0)));
        assert!(n.remove_cut(id));
        assert!(!n.blocked(NodeId(0), NodeId(1)));
    }

    #[test]
    fn bridge_is_two_cuts_around_a_middle_node() {
        // 0,1 | 2 (bridge) | 3,4
        let mut n = Network::new(&NetworkConfig::default(), 5);
        n.add_cut(ids(&[0, 1]), ids(&[3, 4]), false);
        assert!(n.blocked(NodeId(0), NodeId(4)));
        assert!(!n.blocked(NodeId(0), NodeId(2)));
        assert!(!n.blocked(NodeId(2), NodeId(4)));
    }

    #[test]
    fn lognormal_matches_its_percentiles() {
        let s = Sampler::new(&Latency::Lognormal {
            p50: Duration(2 * MS),
            p99: Duration(20 * MS),
        });
        let mut rng = derive(1, "lat");
        let mut v: Vec<u64> = (0..20_000).map(|_| s.sample(&mut rng)).collect();
        v.sort();
        let p50 = v[v.len() / 2] as f64 / MS as f64;
        let p99 = v[v.len() * 99 / 100] as f64 / MS as f64;
        assert!((1.8..2.2).contains(&p50), "p50 {p50}");
        assert!((16.0..25.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn normal_matches_its_percentiles() {
        let s = Sampler::new(&Latency::Normal {
            p50: Duration(10 * MS),
            p99: Duration(15 * MS),
        });
        let mut rng = derive(2, "lat");
        let mut v: Vec<u64> = (0..20_000).map(|_| s.sample(&mut rng)).collect();
        v.sort();
        let p50 = v[v.len() / 2] as f64 / MS as f64;
        let p99 = v[v.len() * 99 / 100] as f64 / MS as f64;
        assert!((9.8..10.2).contains(&p50), "p50 {p50}");
        assert!((14.5..15.5).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn loss_and_duplication_happen_at_their_rates() {
        let cfg = NetworkConfig {
            loss: Probability::one_in(10),
            duplicate: Probability::one_in(5),
            ..NetworkConfig::default()
        };
        let n = Network::new(&cfg, 2);
        let mut rng = derive(3, "net");
        let (mut lost, mut dup) = (0, 0);
        for _ in 0..10_000 {
            match n.route(&mut rng, NodeId(0), NodeId(1), true, true) {
                Fate::Lost => lost += 1,
                Fate::Deliver {
                    duplicate_delay_ns: Some(_),
                    ..
                } => dup += 1,
                _ => {}
            }
        }
        assert!((800..1200).contains(&lost), "{lost}");
        assert!((1500..2100).contains(&dup), "{dup}");
    }
}
