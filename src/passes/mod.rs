//! Optimisation passes, each a function graph → graph, switched on and off from one settings struct so
//! a dump can show the graph before and after any of them.

mod affine;
mod cse;
mod dce;
mod drop_constants;
mod fold;
mod gathers;
mod merge_solves;

use crate::ir::graph::Graph;

/// Which passes run. Every field defaults to on, except `keep_constants`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Compute data-only subgraphs once at compile time and replace them by constants.
    pub fold_constants: bool,
    /// Cancel transposes of transposes, compose gathers and move them through elementwise nodes.
    pub simplify_gathers: bool,
    /// Fuse sums of a matrix product and broadcast vectors into one affine node.
    pub fuse_affine: bool,
    /// Merge nodes that compute the same thing from the same inputs.
    pub cse: bool,
    /// Drop terms of `~` log densities that do not depend on the latents (as Stan does).
    pub drop_constant_terms: bool,
    /// Keep every density normalised even when dropping would be allowed (for marginal likelihoods);
    /// overrides `drop_constant_terms`.
    pub keep_constants: bool,
    /// Integrate an ODE system once for solves that differ only in their output times.
    pub merge_solves: bool,
    /// Remove nodes no output needs and renumber the rest.
    pub dead_code: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            fold_constants: true,
            simplify_gathers: true,
            fuse_affine: true,
            cse: true,
            drop_constant_terms: true,
            keep_constants: false,
            merge_solves: true,
            dead_code: true,
        }
    }
}

impl Settings {
    /// No pass at all: the graph exactly as lowered.
    pub fn none() -> Settings {
        Settings {
            fold_constants: false,
            simplify_gathers: false,
            fuse_affine: false,
            cse: false,
            drop_constant_terms: false,
            keep_constants: true,
            merge_solves: false,
            dead_code: false,
        }
    }
}

/// Runs the enabled passes in their fixed order.
pub fn optimise(mut g: Graph, s: &Settings) -> Graph {
    // Before folding, so that gathers moved onto data are folded with them.
    if s.simplify_gathers {
        g = gathers::simplify_gathers(g);
    }
    // Before folding too: a broadcast data vector is read where it is, not folded into a full matrix.
    if s.fuse_affine {
        g = affine::fuse_affine(g);
    }
    if s.fold_constants {
        g = fold::fold_constants(g);
    }
    if s.cse {
        g = cse::eliminate_common_subexpressions(g);
    }
    if s.merge_solves {
        g = merge_solves::merge_solves(g);
    }
    if s.drop_constant_terms && !s.keep_constants {
        g = drop_constants::drop_constant_terms(g);
    }
    if s.dead_code {
        g = dce::remove_dead_nodes(g);
    }
    g
}
