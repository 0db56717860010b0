//! The overview's delivery-path map (pure): where images are built (each
//! pipeline's build region), where replication rules copy them (regions,
//! or registries outside the topology by URL, followed rule after rule),
//! and the environments of every region reached. Drawn as inline SVG in
//! three columns (no script, no external asset), followed by the same
//! paths as a list for screen readers and narrow screens. Each region's
//! box says whether it answers and each rule's arrow how its copies stand
//! ([`mark`]), words only — no age — so the live stream resends the map
//! only when one of them changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ferry_core::topology::Topology;

use crate::html::Esc;

/// A box of the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 0: build regions, 1: replica regions, 2: environments.
    pub column: usize,
    pub label: String,
    pub note: String,
    /// `up`, `unreachable`; empty when not known.
    pub state: String,
}

/// An arrow between two boxes (indices into [`Map::nodes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// The replication rule, empty for a region's environment.
    pub label: String,
    /// How the rule's copies stand (`in sync`, `2 pending`…); empty when
    /// not known here.
    pub state: String,
}

/// The map's boxes and arrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Map {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Map {
    fn node(&mut self, column: usize, label: &str, note: String) -> usize {
        if let Some(i) = self
            .nodes
            .iter()
            .position(|n| n.label == label && n.column == column)
        {
            return i;
        }
        self.nodes.push(Node {
            column,
            label: label.to_string(),
            note,
            state: String::new(),
        });
        self.nodes.len() - 1
    }
}

/// The map of `topology`, showing the pipelines `pipelines` (the viewer's)
/// and the environments `envs` accepts.
pub fn build(topology: &Topology, pipelines: &[&str], envs: impl Fn(&str) -> bool) -> Map {
    let mut builds: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in &topology.pipelines {
        if pipelines.contains(&p.metadata.name.as_str()) {
            builds
                .entry(p.spec.build_region.as_str())
                .or_default()
                .push(&p.metadata.name);
        }
    }
    let mut map = Map::default();
    let mut queue: Vec<(usize, String)> = builds
        .iter()
        .map(|(region, names)| {
            let i = map.node(0, region, format!("builds {}", names.join(", ")));
            (i, region.to_string())
        })
        .collect();
    let mut reached: Vec<(usize, String)> = queue.clone();
    // Follow the rules from each region reached (a chain uk → us → ap).
    while let Some((from, region)) = queue.pop() {
        for r in &topology.replication_rules {
            if r.spec.source.region.as_deref() != Some(region.as_str()) {
                continue;
            }
            let (target, note) = match (&r.spec.target.region, &r.spec.target.url) {
                (Some(t), _) => (t.clone(), "region".to_string()),
                (None, Some(u)) => (u.clone(), "registry outside the topology".to_string()),
                (None, None) => continue,
            };
            let known = reached
                .iter()
                .find(|(_, name)| *name == target)
                .map(|x| x.0);
            let to = known.unwrap_or_else(|| map.node(1, &target, note));
            map.edges.push(Edge {
                from,
                to,
                label: r.metadata.name.clone(),
                state: String::new(),
            });
            if known.is_none() {
                reached.push((to, target.clone()));
                queue.push((to, target));
            }
        }
    }
    for (region_node, region) in &reached {
        for e in &topology.environments {
            if e.spec.region == *region && envs(&e.metadata.name) {
                let to = map.node(2, &e.metadata.name, format!("namespace {}", e.namespace()));
                map.edges.push(Edge {
                    from: *region_node,
                    to,
                    label: String::new(),
                    state: String::new(),
                });
            }
        }
    }
    map
}

/// Marks the build and replica boxes with `region(label)` and the rules'
/// arrows with `rule(name)` (`None` leaves one unmarked: a registry outside
/// the topology, a rule this region does not run or the viewer may not see).
pub fn mark(
    map: &mut Map,
    region: impl Fn(&str) -> Option<&'static str>,
    rule: impl Fn(&str) -> Option<String>,
) {
    for n in map.nodes.iter_mut().filter(|n| n.column < 2) {
        n.state = region(&n.label).unwrap_or_default().to_string();
    }
    for e in map.edges.iter_mut().filter(|e| !e.label.is_empty()) {
        e.state = rule(&e.label).unwrap_or_default();
    }
}

/// ` (state)`, or nothing for an empty state.
fn paren(state: &str) -> String {
    if state.is_empty() {
        String::new()
    } else {
        format!(" ({})", Esc(state))
    }
}

const COL_X: [usize; 3] = [10, 290, 570];
const BOX_W: usize = 200;
const BOX_H: usize = 44;
const ROW_H: usize = 60;

fn position(map: &Map, i: usize) -> (usize, usize) {
    let n = &map.nodes[i];
    let row = map.nodes[..i]
        .iter()
        .filter(|m| m.column == n.column)
        .count();
    (COL_X[n.column], 34 + row * ROW_H)
}

/// The map's section: SVG, then the paths as a list.
pub fn render(map: &Map) -> String {
    let mut out = String::from("<section id=\"delivery-map\"><h2>Delivery paths</h2>");
    if map.nodes.is_empty() {
        out.push_str("<p>No pipeline you can see builds images yet: nothing to map.</p></section>");
        return out;
    }
    let rows = (0..3)
        .map(|c| map.nodes.iter().filter(|n| n.column == c).count())
        .max()
        .unwrap_or(1);
    let height = 34 + rows * ROW_H;
    let _ = write!(
        out,
        "<svg class=\"map\" viewBox=\"0 0 780 {height}\" role=\"img\" aria-labelledby=\"map-title\">\
         <title id=\"map-title\">Build regions, replica regions and environments</title>\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" class=\"map-arrow\"/></marker></defs>"
    );
    for (c, title) in ["Build", "Replicas", "Environments"].iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"18\" class=\"map-head\">{title}</text>",
            COL_X[c]
        );
    }
    for e in &map.edges {
        let (fx, fy) = position(map, e.from);
        let (tx, ty) = position(map, e.to);
        let (x1, y1, x2, y2) = (fx + BOX_W, fy + BOX_H / 2, tx, ty + BOX_H / 2);
        let _ = write!(
            out,
            "<path class=\"map-edge\" d=\"M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}\" marker-end=\"url(#arrow)\"/>",
            x1 + 40,
            x2.saturating_sub(40)
        );
        if !e.label.is_empty() {
            let _ = write!(
                out,
                "<text class=\"map-label\" x=\"{}\" y=\"{}\">{}{}</text>",
                (x1 + x2) / 2 - 30,
                (y1 + y2) / 2 - 4,
                Esc(&e.label),
                paren(&e.state)
            );
        }
    }
    for (i, n) in map.nodes.iter().enumerate() {
        let (x, y) = position(map, i);
        let _ = write!(
            out,
            "<g class=\"map-node map-c{}\"><rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"5\"/>\
             <text x=\"{}\" y=\"{}\" class=\"map-name\">{}</text><text x=\"{}\" y=\"{}\" class=\"map-note\">{}{}</text></g>",
            n.column,
            x + 8,
            y + 18,
            Esc(&n.label),
            x + 8,
            y + 35,
            Esc(&n.note),
            paren(&n.state)
        );
    }
    out.push_str("</svg><ul class=\"map-paths\">");
    for e in &map.edges {
        let (from, to) = (&map.nodes[e.from], &map.nodes[e.to]);
        let how = if e.label.is_empty() {
            "deploys to environment".to_string()
        } else {
            format!("replicates by rule {}{} to", Esc(&e.label), paren(&e.state))
        };
        let _ = write!(
            out,
            "<li>{}{} {how} {}{}</li>",
            Esc(&from.label),
            paren(&from.state),
            Esc(&to.label),
            paren(&to.state)
        );
    }
    out.push_str("</ul></section>");
    out
}

#[cfg(test)]
#[path = "delivery_map_tests.rs"]
pub(crate) mod tests;
