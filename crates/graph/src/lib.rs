//! The dependency graph of a stack's resources, built on petgraph.
//!
//! Edges point from a dependency to its dependent, so a topological walk is the order
//! of creation and its reverse the order of deletion. Building validates the whole
//! graph and reports every problem at once (duplicate URNs, dangling references,
//! cycles), so a user fixes their program in one pass.
//!
//! Architecture invariant: the graph knows URNs and edges, nothing about providers,
//! state or AWS.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use stackup_model::{ResourceGoal, Urn};

/// One problem found while building a graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphProblem {
    DuplicateUrn(Urn),
    DanglingReference { from: Urn, to: Urn },
    Cycle(Vec<Urn>),
}

impl fmt::Display for GraphProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphProblem::DuplicateUrn(u) => write!(f, "resource {u} is declared more than once"),
            GraphProblem::DanglingReference { from, to } => {
                write!(f, "{from} refers to {to}, which the program does not declare")
            }
            GraphProblem::Cycle(urns) => {
                let names: Vec<&str> = urns.iter().map(Urn::as_str).collect();
                write!(f, "dependency cycle: {} -> {}", names.join(" -> "), names[0])
            }
        }
    }
}

/// Every problem of a graph that could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub struct GraphErrors(pub Vec<GraphProblem>);

impl fmt::Display for GraphErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the program's resource graph has {} problem(s):", self.0.len())?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// A validated, acyclic dependency graph.
#[derive(Debug, Clone, Default)]
pub struct DependencyGraph {
    graph: DiGraph<Urn, ()>,
    index: HashMap<Urn, NodeIndex>,
}

impl DependencyGraph {
    /// Builds the graph of a program's goals.
    pub fn from_goals(goals: &[ResourceGoal]) -> Result<DependencyGraph, GraphErrors> {
        DependencyGraph::build(goals.iter().map(|g| (g.urn.clone(), g.dependencies())))
    }

    /// Builds a graph from `(node, dependencies)` pairs, reporting every problem.
    pub fn build(nodes: impl IntoIterator<Item = (Urn, Vec<Urn>)>) -> Result<DependencyGraph, GraphErrors> {
        let nodes: Vec<(Urn, Vec<Urn>)> = nodes.into_iter().collect();
        let mut problems = Vec::new();
        let mut g = DependencyGraph::default();
        let mut reported_dupes = BTreeSet::new();
        for (urn, _) in &nodes {
            if g.index.contains_key(urn) {
                if reported_dupes.insert(urn.clone()) {
                    problems.push(GraphProblem::DuplicateUrn(urn.clone()));
                }
                continue;
            }
            let ix = g.graph.add_node(urn.clone());
            g.index.insert(urn.clone(), ix);
        }
        // Edges added so far: petgraph's `contains_edge` scans the source's edges, which
        // made a node with thousands of dependents (a VPC) quadratic to build.
        let mut edges: HashSet<(NodeIndex, NodeIndex)> = HashSet::new();
        for (urn, deps) in &nodes {
            let to = g.index[urn];
            for dep in deps {
                match g.index.get(dep) {
                    Some(&from) => {
                        if edges.insert((from, to)) {
                            g.graph.add_edge(from, to, ());
                        }
                    }
                    None => problems.push(GraphProblem::DanglingReference {
                        from: urn.clone(),
                        to: dep.clone(),
                    }),
                }
            }
        }
        for scc in tarjan_scc(&g.graph) {
            let self_loop = scc.len() == 1 && g.graph.contains_edge(scc[0], scc[0]);
            if scc.len() > 1 || self_loop {
                let mut urns: Vec<Urn> = scc.iter().map(|ix| g.graph[*ix].clone()).collect();
                urns.sort();
                problems.push(GraphProblem::Cycle(urns));
            }
        }
        if problems.is_empty() {
            Ok(g)
        } else {
            Err(GraphErrors(problems))
        }
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn contains(&self, urn: &Urn) -> bool {
        self.index.contains_key(urn)
    }

    /// Nodes in an order where every dependency comes before its dependents.
    pub fn topological(&self) -> Vec<Urn> {
        // The graph was validated acyclic when it was built.
        toposort(&self.graph, None)
            .map(|order| order.into_iter().map(|ix| self.graph[ix].clone()).collect())
            .unwrap_or_default()
    }

    /// Nodes in an order where every dependent comes before its dependencies: the order
    /// of deletion.
    pub fn reverse_topological(&self) -> Vec<Urn> {
        let mut order = self.topological();
        order.reverse();
        order
    }

    /// The direct dependencies of a node.
    pub fn dependencies(&self, urn: &Urn) -> Vec<Urn> {
        self.neighbours(urn, Direction::Incoming)
    }

    /// The direct dependents of a node.
    pub fn dependents(&self, urn: &Urn) -> Vec<Urn> {
        self.neighbours(urn, Direction::Outgoing)
    }

    /// Every node that depends on `urn`, directly or not.
    pub fn transitive_dependents(&self, urn: &Urn) -> Vec<Urn> {
        let Some(&start) = self.index.get(urn) else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        let mut stack = vec![start];
        while let Some(ix) = stack.pop() {
            for n in self.graph.neighbors_directed(ix, Direction::Outgoing) {
                if seen.insert(self.graph[n].clone()) {
                    stack.push(n);
                }
            }
        }
        seen.into_iter().collect()
    }

    fn neighbours(&self, urn: &Urn, dir: Direction) -> Vec<Urn> {
        let Some(&ix) = self.index.get(urn) else {
            return Vec::new();
        };
        let mut out: Vec<Urn> = self
            .graph
            .neighbors_directed(ix, dir)
            .map(|n| self.graph[n].clone())
            .collect();
        out.sort();
        out
    }
}
