//! Racks and zones as a graph (petgraph): node → rack → zone. Placement is round-robin
//! (node i in rack i mod racks, rack r in zone r mod zones), which spreads replicas the way
//! a rack-aware placement would. The network adds cross-rack and cross-zone delay, and
//! selectors such as `rack(1)` and `zone(0)` resolve through the graph.

use petgraph::graph::{NodeIndex, UnGraph};

use crate::config::TopologyConfig;
use crate::id::NodeId;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Vertex {
    Node(NodeId),
    Rack(u32),
    Zone(u32),
}

#[derive(Clone, Debug)]
pub struct Topology {
    graph: UnGraph<Vertex, ()>,
    racks: Vec<NodeIndex>,
    zones: Vec<NodeIndex>,
    /// Per node: its rack and zone (cached from the graph for the hot path).
    rack_of: Vec<u32>,
    zone_of: Vec<u32>,
}

impl Topology {
    /// Node `i` goes to the rack the model asked for (`racks_asked[i]`, which must exist:
    /// the scenario binding checks it) or else to rack `i mod racks`.
    pub fn new(cfg: &TopologyConfig, racks_asked: &[Option<u32>]) -> Self {
        let nodes = racks_asked.len();
        let racks_n = cfg.racks.max(1);
        let zones_n = cfg.zones.max(1);
        let mut graph = UnGraph::new_undirected();
        let zones: Vec<_> = (0..zones_n)
            .map(|z| graph.add_node(Vertex::Zone(z)))
            .collect();
        let racks: Vec<_> = (0..racks_n)
            .map(|r| {
                let v = graph.add_node(Vertex::Rack(r));
                graph.add_edge(v, zones[(r % zones_n) as usize], ());
                v
            })
            .collect();
        let mut rack_of = Vec::with_capacity(nodes);
        let mut zone_of = Vec::with_capacity(nodes);
        for (i, asked) in racks_asked.iter().enumerate() {
            let r = asked.filter(|r| *r < racks_n).unwrap_or(i as u32 % racks_n);
            let v = graph.add_node(Vertex::Node(NodeId(i as u32)));
            graph.add_edge(v, racks[r as usize], ());
            rack_of.push(r);
            zone_of.push(r % zones_n);
        }
        Topology {
            graph,
            racks,
            zones,
            rack_of,
            zone_of,
        }
    }

    #[inline]
    pub fn same_rack(&self, a: NodeId, b: NodeId) -> bool {
        self.rack_of[a.index()] == self.rack_of[b.index()]
    }

    #[inline]
    pub fn same_zone(&self, a: NodeId, b: NodeId) -> bool {
        self.zone_of[a.index()] == self.zone_of[b.index()]
    }

    pub fn rack_of(&self, n: NodeId) -> u32 {
        self.rack_of[n.index()]
    }

    /// The nodes in a rack, walking the graph.
    pub fn nodes_in_rack(&self, rack: u32) -> Vec<NodeId> {
        let Some(&v) = self.racks.get(rack as usize) else {
            return Vec::new();
        };
        let mut out: Vec<NodeId> = self
            .graph
            .neighbors(v)
            .filter_map(|n| match self.graph[n] {
                Vertex::Node(id) => Some(id),
                _ => None,
            })
            .collect();
        out.sort();
        out
    }

    /// The nodes in a zone: its racks' nodes.
    pub fn nodes_in_zone(&self, zone: u32) -> Vec<NodeId> {
        let Some(&z) = self.zones.get(zone as usize) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for r in self.graph.neighbors(z) {
            if let Vertex::Rack(rack) = self.graph[r] {
                out.extend(self.nodes_in_rack(rack));
            }
        }
        out.sort();
        out
    }

    pub fn racks(&self) -> u32 {
        self.racks.len() as u32
    }
    pub fn zones(&self) -> u32 {
        self.zones.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_placement() {
        let t = Topology::new(&TopologyConfig { racks: 3, zones: 2 }, &[None; 7]);
        assert_eq!(t.nodes_in_rack(0), vec![NodeId(0), NodeId(3), NodeId(6)]);
        assert_eq!(t.nodes_in_rack(1), vec![NodeId(1), NodeId(4)]);
        // racks 0 and 2 are in zone 0
        assert_eq!(
            t.nodes_in_zone(0),
            vec![NodeId(0), NodeId(2), NodeId(3), NodeId(5), NodeId(6)]
        );
        assert!(t.same_zone(NodeId(0), NodeId(2)));
        assert!(!t.same_rack(NodeId(0), NodeId(2)));
        assert!(t.nodes_in_rack(9).is_empty());
    }

    #[test]
    fn a_node_goes_to_the_rack_the_model_asked_for() {
        let t = Topology::new(
            &TopologyConfig { racks: 3, zones: 1 },
            &[None, Some(2), None, Some(0), None],
        );
        let racks: Vec<u32> = (0..5).map(|i| t.rack_of(NodeId(i))).collect();
        // Nodes without a wish keep their round-robin rack (index mod racks).
        assert_eq!(racks, vec![0, 2, 2, 0, 1]);
        assert_eq!(t.nodes_in_rack(2), vec![NodeId(1), NodeId(2)]);
    }
}
