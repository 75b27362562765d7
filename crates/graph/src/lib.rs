//! The dependency graph of a stack's resources, built on petgraph.
//!
//! Edges point from a dependency to its dependent, so a topological walk is the order
//! of creation and its reverse the order of deletion. Building validates the whole
//! graph and reports every problem at once (duplicate URNs, dangling references,
//! cycles), so a user fixes their program in one pass.
//!
//! Architecture invariant: the graph knows URNs and edges, nothing about providers,
//! state or AWS.

use std::collections::BTreeSet;

// foldhash: the hash maps of planning are keyed by URNs (whose hash is kept) and
// indices; SipHash's DoS resistance buys nothing for a program's own names.
use foldhash::{HashMap, HashSet, HashSetExt};
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

#[cfg(test)]
mod tests {
    use super::*;
    use stackup_model::{Properties, Reference, TypeToken, Value};

    fn urn(name: &str) -> Urn {
        Urn::new("dev", &TypeToken::from_static("aws:ec2:Vpc"), name)
    }

    /// `(node, dependencies)` pairs from names.
    fn nodes(spec: &[(&str, &[&str])]) -> Vec<(Urn, Vec<Urn>)> {
        spec.iter()
            .map(|(n, deps)| (urn(n), deps.iter().map(|d| urn(d)).collect()))
            .collect()
    }

    fn graph(spec: &[(&str, &[&str])]) -> DependencyGraph {
        DependencyGraph::build(nodes(spec)).expect("a valid graph")
    }

    fn problems(spec: &[(&str, &[&str])]) -> Vec<GraphProblem> {
        DependencyGraph::build(nodes(spec)).expect_err("an invalid graph").0
    }

    fn names(urns: &[Urn]) -> Vec<&str> {
        urns.iter().map(Urn::name).collect()
    }

    fn position(order: &[Urn], name: &str) -> usize {
        order
            .iter()
            .position(|u| u.name() == name)
            .unwrap_or_else(|| panic!("{name} is missing from {order:?}"))
    }

    fn goal(name: &str, inputs: &[(&str, Value)], depends_on: &[&str]) -> ResourceGoal {
        let ty = TypeToken::from_static("aws:ec2:Vpc");
        ResourceGoal {
            urn: urn(name),
            ty,
            inputs: inputs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            depends_on: depends_on.iter().map(|d| urn(d)).collect(),
        }
    }

    fn reference(name: &str, output: &str) -> Value {
        Value::Ref(Box::new(Reference {
            urn: urn(name),
            output: output.to_string(),
        }))
    }

    #[test]
    fn an_empty_program_builds_an_empty_graph() {
        let g = DependencyGraph::build(Vec::new()).expect("empty is valid");
        assert!(g.is_empty());
        assert_eq!(g.len(), 0);
        assert!(g.topological().is_empty());
        assert!(g.reverse_topological().is_empty());
    }

    #[test]
    fn every_declared_resource_is_a_node_of_the_graph() {
        let g = graph(&[("vpc", &[]), ("subnet", &["vpc"]), ("bucket", &[])]);
        assert_eq!(g.len(), 3);
        assert!(!g.is_empty());
        assert!(g.contains(&urn("vpc")) && g.contains(&urn("subnet")) && g.contains(&urn("bucket")));
        assert!(!g.contains(&urn("nat")), "an undeclared resource is not in the graph");
    }

    #[test]
    fn the_topological_order_puts_every_dependency_before_its_dependents() {
        // Declared dependents-first, so an order that merely kept declaration order fails.
        let g = graph(&[
            ("instance", &["subnet", "sg"]),
            ("route", &["table", "igw"]),
            ("subnet", &["vpc"]),
            ("sg", &["vpc"]),
            ("table", &["vpc"]),
            ("igw", &["vpc"]),
            ("vpc", &[]),
        ]);
        let order = g.topological();
        assert_eq!(order.len(), 7, "every node exactly once: {order:?}");
        for (dependent, deps) in [
            ("instance", &["subnet", "sg"][..]),
            ("route", &["table", "igw"]),
            ("subnet", &["vpc"]),
            ("sg", &["vpc"]),
            ("table", &["vpc"]),
            ("igw", &["vpc"]),
        ] {
            for dep in deps {
                assert!(
                    position(&order, dep) < position(&order, dependent),
                    "{dep} must come before {dependent}: {:?}",
                    names(&order)
                );
            }
        }
    }

    #[test]
    fn the_reverse_topological_order_is_the_order_of_deletion() {
        let g = graph(&[("subnet", &["vpc"]), ("vpc", &[]), ("instance", &["subnet"])]);
        let mut forward = g.topological();
        let backward = g.reverse_topological();
        assert_eq!(names(&backward), ["instance", "subnet", "vpc"]);
        forward.reverse();
        assert_eq!(forward, backward);
    }

    #[test]
    fn direct_dependencies_and_dependents_are_listed_sorted() {
        let g = graph(&[
            ("vpc", &[]),
            ("subnet-b", &["vpc"]),
            ("subnet-a", &["vpc"]),
            ("instance", &["subnet-b", "subnet-a"]),
        ]);
        assert_eq!(names(&g.dependencies(&urn("instance"))), ["subnet-a", "subnet-b"]);
        assert_eq!(names(&g.dependents(&urn("vpc"))), ["subnet-a", "subnet-b"]);
        assert!(g.dependencies(&urn("vpc")).is_empty(), "the root depends on nothing");
        assert!(g.dependents(&urn("instance")).is_empty(), "the leaf has no dependents");
        assert!(
            !g.dependents(&urn("vpc")).contains(&urn("instance")),
            "dependents are direct only"
        );
    }

    #[test]
    fn an_undeclared_resource_has_no_neighbours() {
        let g = graph(&[("vpc", &[]), ("subnet", &["vpc"])]);
        assert!(g.dependencies(&urn("ghost")).is_empty());
        assert!(g.dependents(&urn("ghost")).is_empty());
        assert!(g.transitive_dependents(&urn("ghost")).is_empty());
    }

    #[test]
    fn a_dependency_named_twice_makes_a_single_edge() {
        let g = graph(&[("vpc", &[]), ("subnet", &["vpc", "vpc"])]);
        assert_eq!(names(&g.dependents(&urn("vpc"))), ["subnet"]);
        assert_eq!(names(&g.dependencies(&urn("subnet"))), ["vpc"]);
    }

    #[test]
    fn transitive_dependents_reach_every_resource_downstream_once() {
        // A diamond under the VPC, plus an unrelated bucket.
        let g = graph(&[
            ("vpc", &[]),
            ("subnet", &["vpc"]),
            ("sg", &["vpc"]),
            ("instance", &["subnet", "sg"]),
            ("alarm", &["instance"]),
            ("bucket", &[]),
        ]);
        assert_eq!(
            names(&g.transitive_dependents(&urn("vpc"))),
            ["alarm", "instance", "sg", "subnet"],
            "sorted, deduplicated, without the start node or unrelated resources"
        );
        assert_eq!(names(&g.transitive_dependents(&urn("subnet"))), ["alarm", "instance"]);
        assert!(g.transitive_dependents(&urn("alarm")).is_empty());
        assert!(g.transitive_dependents(&urn("bucket")).is_empty());
    }

    #[test]
    fn a_resource_declared_twice_is_reported_once() {
        let found = problems(&[("vpc", &[]), ("vpc", &[]), ("vpc", &[]), ("subnet", &["vpc"])]);
        assert_eq!(found, [GraphProblem::DuplicateUrn(urn("vpc"))]);
    }

    #[test]
    fn a_reference_to_an_undeclared_resource_is_reported_with_both_ends() {
        let found = problems(&[("vpc", &[]), ("subnet", &["vpc", "missing"])]);
        assert_eq!(
            found,
            [GraphProblem::DanglingReference {
                from: urn("subnet"),
                to: urn("missing"),
            }]
        );
    }

    #[test]
    fn a_cycle_is_reported_with_every_resource_in_it() {
        let found = problems(&[
            ("c", &["b"]),
            ("a", &["c"]),
            ("b", &["a"]),
            ("outside", &["a"]),
            ("root", &[]),
        ]);
        assert_eq!(
            found,
            [GraphProblem::Cycle(vec![urn("a"), urn("b"), urn("c")])],
            "the cycle's members, sorted, and nothing outside it"
        );
    }

    #[test]
    fn a_resource_that_depends_on_itself_is_a_cycle() {
        let found = problems(&[("vpc", &["vpc"]), ("subnet", &["vpc"])]);
        assert_eq!(found, [GraphProblem::Cycle(vec![urn("vpc")])]);
    }

    #[test]
    fn separate_cycles_are_reported_separately() {
        let mut found = problems(&[("a", &["b"]), ("b", &["a"]), ("x", &["y"]), ("y", &["x"])]);
        found.sort_by_key(|p| p.to_string());
        assert_eq!(
            found,
            [
                GraphProblem::Cycle(vec![urn("a"), urn("b")]),
                GraphProblem::Cycle(vec![urn("x"), urn("y")]),
            ]
        );
    }

    #[test]
    fn every_kind_of_problem_is_reported_in_one_pass() {
        let found = problems(&[
            ("vpc", &[]),
            ("vpc", &[]),
            ("subnet", &["nowhere"]),
            ("a", &["b"]),
            ("b", &["a"]),
        ]);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.contains(&GraphProblem::DuplicateUrn(urn("vpc"))));
        assert!(found.contains(&GraphProblem::DanglingReference {
            from: urn("subnet"),
            to: urn("nowhere"),
        }));
        assert!(found.contains(&GraphProblem::Cycle(vec![urn("a"), urn("b")])));
    }

    #[test]
    fn a_cycle_prints_as_a_closed_loop() {
        let text = GraphProblem::Cycle(vec![urn("a"), urn("b")]).to_string();
        assert_eq!(
            text,
            "dependency cycle: dev::aws:ec2:Vpc::a -> dev::aws:ec2:Vpc::b -> dev::aws:ec2:Vpc::a"
        );
    }

    #[test]
    fn each_problem_names_the_resources_involved() {
        let dup = GraphProblem::DuplicateUrn(urn("vpc")).to_string();
        assert_eq!(dup, "resource dev::aws:ec2:Vpc::vpc is declared more than once");
        let dangling = GraphProblem::DanglingReference {
            from: urn("subnet"),
            to: urn("gone"),
        }
        .to_string();
        assert_eq!(
            dangling,
            "dev::aws:ec2:Vpc::subnet refers to dev::aws:ec2:Vpc::gone, which the program does not declare"
        );
    }

    #[test]
    fn the_error_lists_its_problem_count_and_one_line_per_problem() {
        let errors =
            DependencyGraph::build(nodes(&[("vpc", &[]), ("vpc", &[]), ("subnet", &["gone"])])).expect_err("invalid");
        let text = errors.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "the program's resource graph has 2 problem(s):");
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].starts_with("  - ") && lines[1].contains("declared more than once"));
        assert!(lines[2].starts_with("  - ") && lines[2].contains("does not declare"));
    }

    #[test]
    fn goals_depend_on_what_their_inputs_reference_and_their_explicit_depends_on() {
        let mut tags = Properties::new();
        tags.insert("Zone".into(), reference("zone", "name"));
        let goals = [
            goal("vpc", &[("cidr", Value::from("10.0.0.0/16"))], &[]),
            goal("zone", &[], &[]),
            goal("igw", &[], &[]),
            goal(
                "subnet",
                &[
                    ("vpc_id", reference("vpc", "id")),
                    // A reference nested in a map counts too.
                    ("tags", Value::Map(tags)),
                ],
                &["igw"],
            ),
        ];
        let g = DependencyGraph::from_goals(&goals).expect("valid");
        assert_eq!(g.len(), 4);
        assert_eq!(names(&g.dependencies(&urn("subnet"))), ["igw", "vpc", "zone"]);
        let order = g.topological();
        for dep in ["vpc", "zone", "igw"] {
            assert!(
                position(&order, dep) < position(&order, "subnet"),
                "{:?}",
                names(&order)
            );
        }
    }

    #[test]
    fn goals_referencing_an_undeclared_resource_are_refused() {
        let goals = [goal("subnet", &[("vpc_id", reference("vpc", "id"))], &[])];
        let errors = DependencyGraph::from_goals(&goals).expect_err("dangling");
        assert_eq!(
            errors.0,
            [GraphProblem::DanglingReference {
                from: urn("subnet"),
                to: urn("vpc"),
            }]
        );
    }
}
