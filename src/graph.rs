//! The resource graph: every resource the spec declares (including derived ones — a role per
//! function, an invoke permission per rule target, a queue policy per rule dead-letter queue) and
//! the edges "needs to exist first". Nodes come out in a dependency order.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;
use crate::resources::ResourceId;
use crate::spec::Spec;

#[derive(Debug, Clone)]
pub struct Graph {
    /// Every node, dependencies before dependents (ties broken by kind and name, so the order is stable).
    pub order: Vec<ResourceId>,
    /// Direct dependencies of each node.
    pub deps: BTreeMap<ResourceId, Vec<ResourceId>>,
}

/// Every resource the spec declares, derived ones included (each kind says what its entries
/// contribute: [`crate::kinds::KindSpec::resources`]).
pub fn declared(spec: &Spec) -> Vec<ResourceId> {
    spec.resources()
}

impl Graph {
    pub fn build(spec: &Spec) -> Result<Graph, Error> {
        let nodes = declared(spec);
        let known: BTreeSet<&ResourceId> = nodes.iter().collect();
        let mut deps = BTreeMap::new();
        for id in &nodes {
            let mut d = id.kind.provider().dependencies(spec, &id.name);
            d.retain(|dep| dep != id);
            d.sort();
            d.dedup();
            if let Some(missing) = d.iter().find(|dep| !known.contains(dep)) {
                // The validator rejects dangling references; reaching this is a bug, not bad input.
                return Err(Error::Other(format!(
                    "internal error: {id} depends on undeclared {missing}"
                )));
            }
            deps.insert(id.clone(), d);
        }
        let order = topological_order(&deps)?;
        Ok(Graph { order, deps })
    }

    /// Nodes that depend on `id` directly.
    pub fn dependents<'a>(&'a self, id: &'a ResourceId) -> impl Iterator<Item = &'a ResourceId> {
        self.deps
            .iter()
            .filter(move |(_, d)| d.contains(id))
            .map(|(n, _)| n)
    }
}

/// Kahn's algorithm; a cycle is reported with the nodes on it.
fn topological_order(
    deps: &BTreeMap<ResourceId, Vec<ResourceId>>,
) -> Result<Vec<ResourceId>, Error> {
    let mut remaining: BTreeMap<&ResourceId, usize> =
        deps.iter().map(|(id, d)| (id, d.len())).collect();
    let mut order = Vec::with_capacity(deps.len());
    loop {
        let ready: Vec<&ResourceId> = remaining
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| *id)
            .collect();
        if ready.is_empty() {
            break;
        }
        for id in ready {
            remaining.remove(id);
            order.push(id.clone());
            for (other, d) in deps {
                if d.contains(id) {
                    if let Some(n) = remaining.get_mut(other) {
                        *n -= 1;
                    }
                }
            }
        }
    }
    if !remaining.is_empty() {
        let cycle: Vec<String> = remaining.keys().map(|id| id.to_string()).collect();
        return Err(Error::Other(format!(
            "dependency cycle between: {}",
            cycle.join(", ")
        )));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Kind;

    fn id(kind: Kind, name: &str) -> ResourceId {
        ResourceId::new(kind, name)
    }

    #[test]
    fn orders_dependencies_first_and_is_stable() {
        let mut deps = BTreeMap::new();
        deps.insert(
            id(Kind::Function, "f"),
            vec![id(Kind::Role, "f"), id(Kind::Queue, "q")],
        );
        deps.insert(id(Kind::Role, "f"), vec![id(Kind::Queue, "q")]);
        deps.insert(id(Kind::Queue, "q"), vec![id(Kind::Queue, "dlq")]);
        deps.insert(id(Kind::Queue, "dlq"), vec![]);
        deps.insert(id(Kind::Bus, "b"), vec![]);
        let order = topological_order(&deps).unwrap();
        let pos = |i: &ResourceId| order.iter().position(|x| x == i).unwrap();
        assert!(pos(&id(Kind::Queue, "dlq")) < pos(&id(Kind::Queue, "q")));
        assert!(pos(&id(Kind::Queue, "q")) < pos(&id(Kind::Role, "f")));
        assert!(pos(&id(Kind::Role, "f")) < pos(&id(Kind::Function, "f")));
        assert_eq!(order, topological_order(&deps).unwrap());
    }

    #[test]
    fn reports_cycles() {
        let mut deps = BTreeMap::new();
        deps.insert(id(Kind::Queue, "a"), vec![id(Kind::Queue, "b")]);
        deps.insert(id(Kind::Queue, "b"), vec![id(Kind::Queue, "a")]);
        deps.insert(id(Kind::Bus, "c"), vec![]);
        let err = topological_order(&deps).unwrap_err().to_string();
        assert!(err.contains("queue.a") && err.contains("queue.b"), "{err}");
        assert!(!err.contains("bus.c"), "{err}");
    }
}
