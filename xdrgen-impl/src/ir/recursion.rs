//! Recursive types.
//!
//! Types form a graph through their fields. A type in a cycle is marked
//! `recursive`; an optional (`*`) field whose type lies on the same cycle as
//! its container is marked `boxed`, since a generated `Option<T>` would
//! otherwise have infinite size. Variable arrays are heap-allocated anyway.
//! A cycle made only of scalar and fixed-array fields can never be encoded
//! and is an error.

use std::collections::{HashMap, HashSet};

use crate::diag::Diagnostic;
use crate::ir::model::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// Scalar or fixed array: the value is stored inline.
    Inline,
    /// `*`: inline unless boxed.
    Optional,
    /// `<N>`: always behind a pointer.
    Heap,
}

/// Marks recursive types and boxed fields; reports infinite types.
pub(crate) fn analyse(types: &mut [TypeDef], diags: &mut Vec<Diagnostic>) {
    let index: HashMap<String, usize> = types
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    let edges: Vec<Vec<(usize, Edge)>> = types
        .iter()
        .map(|t| {
            t.references()
                .into_iter()
                .map(|(r, _)| r)
                .filter_map(|r| {
                    let BaseType::Named { name, .. } = &r.base else {
                        return None;
                    };
                    let edge = match r.shape {
                        Shape::Scalar | Shape::Fixed(_) => Edge::Inline,
                        Shape::Optional => Edge::Optional,
                        Shape::Variable(_) => Edge::Heap,
                    };
                    index.get(name.as_str()).map(|&i| (i, edge))
                })
                .collect()
        })
        .collect();

    let all = components(&edges, |_| true);
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    for &c in &all {
        *sizes.entry(c).or_default() += 1;
    }
    for (i, t) in types.iter_mut().enumerate() {
        let c = all[i];
        t.recursive = sizes[&c] > 1 || edges[i].iter().any(|&(j, _)| all[j] == c);
    }
    for i in 0..types.len() {
        let owner = all[i];
        for f in fields_mut(&mut types[i]) {
            if let (Shape::Optional, BaseType::Named { name, .. }) = (&f.ty.shape, &f.ty.base) {
                if index.get(name.as_str()).is_some_and(|&j| all[j] == owner) {
                    f.boxed = true;
                }
            }
        }
        if let TypeKind::Alias(TypeRef {
            base: BaseType::Named { name, .. },
            shape: Shape::Optional,
        }) = &types[i].kind
        {
            // An optional alias on a cycle is boxed in its own definition;
            // record that on the type itself.
            if index.get(name.as_str()).is_some_and(|&j| all[j] == owner) {
                types[i].recursive = true;
            }
        }
    }

    let inline = components(&edges, |e| e == Edge::Inline);
    let mut reported = HashSet::new();
    for (i, t) in types.iter().enumerate() {
        let c = inline[i];
        let cyclic = edges[i]
            .iter()
            .any(|&(j, e)| e == Edge::Inline && inline[j] == c);
        if cyclic && reported.insert(c) {
            diags.push(
                Diagnostic::error(
                    t.span,
                    format!("type `{}` contains itself without indirection", t.name),
                )
                .with_label("infinitely large")
                .with_note(
                    "make the recursive field optional (`*`) or a variable-length array (`<>`)",
                ),
            );
        }
    }
}

fn fields_mut(t: &mut TypeDef) -> Vec<&mut Field> {
    match &mut t.kind {
        TypeKind::Alias(_) | TypeKind::Enum(_) => Vec::new(),
        TypeKind::Struct(s) => s.fields.iter_mut().collect(),
        TypeKind::Union(u) => u
            .arms
            .iter_mut()
            .filter_map(|a| a.field.as_mut())
            .chain(u.default.iter_mut().filter_map(|d| d.field.as_mut()))
            .collect(),
    }
}

/// Strongly connected components (Tarjan's algorithm, iterative so deep
/// graphs cannot overflow the stack) of the graph restricted to edges that
/// `keep` accepts. Returns a component id per node.
fn components(edges: &[Vec<(usize, Edge)>], keep: impl Fn(Edge) -> bool) -> Vec<usize> {
    const UNVISITED: usize = usize::MAX;
    let n = edges.len();
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut comp = vec![UNVISITED; n];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut next_comp = 0;
    for root in 0..n {
        if index[root] != UNVISITED {
            continue;
        }
        // (node, position in its edge list)
        let mut work = vec![(root, 0usize)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if let Some(&(w, e)) = edges[v].get(*pos) {
                *pos += 1;
                if !keep(e) {
                    continue;
                }
                if index[w] == UNVISITED {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp[w] = next_comp;
                    if w == v {
                        break;
                    }
                }
                next_comp += 1;
            }
        }
    }
    comp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_find_cycles_and_singletons() {
        // 0 -> 1 -> 2 -> 0, 3 -> 3, 4 alone
        let e = |to| (to, Edge::Inline);
        let edges = vec![vec![e(1)], vec![e(2)], vec![e(0)], vec![e(3)], vec![]];
        let c = components(&edges, |_| true);
        assert_eq!(c[0], c[1]);
        assert_eq!(c[1], c[2]);
        assert_ne!(c[0], c[3]);
        assert_ne!(c[3], c[4]);
    }

    #[test]
    fn components_handle_long_chains_without_recursion() {
        let n = 200_000;
        let edges: Vec<_> = (0..n).map(|i| vec![((i + 1) % n, Edge::Inline)]).collect();
        let c = components(&edges, |_| true);
        assert!(c.iter().all(|&x| x == c[0]));
    }
}
