//! The graph IR: an arena of vector-level nodes addressed by `NodeId`.
//!
//! Invariant: a node only uses nodes that come before it, so the forward pass runs in arena order and the
//! reverse sweep runs backwards (`validate` checks this). Shapes are concrete (data are loaded before
//! lowering); values are flat and row-major. Spans live beside the nodes (`Graph::spans`), never inside,
//! so printed graphs do not change when a comment moves.

use crate::eval::dists::Family;
use crate::eval::fields::FieldSpec;
use crate::eval::ops::{Binary, Reduce, Unary};
use crate::eval::sparse::Pattern;
use crate::span::Span;

/// A handle to a node of one graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Index into `Graph::consts` (values) or `Graph::maps` (gather and scatter index maps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConstId(pub u32);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapId(pub u32);
/// Index into `Graph::patterns` (the nonzero patterns of sparse matrices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PatternId(pub u32);
/// Index into `Graph::fields` (a field prior's grid, kind and planned transforms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldId(pub u32);

/// How a latent's unconstrained coordinates become its constrained value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// y = lo + exp(x)
    Lower,
    /// y = hi - exp(x)
    Upper,
    /// y = lo + (hi - lo) logistic(x)
    Interval,
    /// y = softmax([x, 0]) (additive log-ratio); k - 1 free coordinates.
    Simplex,
    /// y1 = x1, yk = y(k-1) + exp(xk)
    Ordered,
    /// y1 = exp(x1), yk = y(k-1) + exp(xk)
    PositiveOrdered,
}

/// The most terms an [`Op::Affine`] node adds (so the evaluator views them without allocating).
pub const MAX_AFFINE_TERMS: usize = 8;

/// How one term of an [`Op::Affine`] node spreads over the node's [rows, cols] value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spread {
    /// One value added to every element (a scalar).
    All,
    /// A vector of length rows, one value per row: out[i, j] += v[i].
    PerRow,
    /// A vector of length cols, one value per column: out[i, j] += v[j].
    PerColumn,
    /// A [rows, cols] matrix added elementwise.
    Full,
}

impl Spread {
    pub fn name(self) -> &'static str {
        match self {
            Spread::All => "all",
            Spread::PerRow => "per_row",
            Spread::PerColumn => "per_column",
            Spread::Full => "full",
        }
    }
}

impl Transform {
    pub fn name(self) -> &'static str {
        match self {
            Transform::Lower => "lower",
            Transform::Upper => "upper",
            Transform::Interval => "interval",
            Transform::Simplex => "simplex",
            Transform::Ordered => "ordered",
            Transform::PositiveOrdered => "positive_ordered",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    /// Data from the data file, by declaration name.
    Data(String, ConstId),
    /// A literal or a folded data-only value.
    Const(ConstId),
    /// A slice of the unconstrained parameter vector starting at `offset` (the node's length long).
    Param {
        offset: usize,
    },
    /// A latent's constrained value; inputs: unconstrained coordinates, then the bounds the kind needs.
    Constrain(Transform, Vec<NodeId>),
    /// The log absolute Jacobian determinant of the same transform (a scalar).
    LogJacobian(Transform, Vec<NodeId>),
    Unary(Unary, NodeId),
    /// Elementwise; each input has one element (broadcast) or the node's length.
    Binary(Binary, NodeId, NodeId),
    /// Elementwise select: condition, then, else.
    Select(NodeId, NodeId, NodeId),
    /// Reduction over the middle axis of the input viewed as [outer, len, inner].
    Reduce(Reduce, NodeId, [usize; 3]),
    /// Cumulative sum over the middle axis of [outer, len, inner].
    CumSum(NodeId, [usize; 3]),
    Softmax(NodeId),
    LogSoftmax(NodeId),
    /// Dense matrix (rows x cols) times vector.
    MatVec(NodeId, NodeId),
    /// Dense matrix times matrix.
    MatMul(NodeId, NodeId),
    /// A [rows, cols] matrix: the optional product a b ([rows, k] times [k, cols]) plus terms
    /// broadcast by their `Spread`. Made by `passes::affine` from sums of a product and broadcast
    /// vectors (a linear predictor with offsets), so that no broadcast copy or partial sum is stored.
    Affine {
        product: Option<(NodeId, NodeId)>,
        terms: Vec<(Spread, NodeId)>,
    },
    Dot(NodeId, NodeId),
    /// out[i] = in[map[i]]: indexing, slicing, transposes, broadcasts and reshapes.
    Gather(NodeId, MapId),
    /// The inputs' elements one after another (array literals).
    Concat(Vec<NodeId>),
    /// out[k] = sum of in[i] over the i with map[i] = k: a sparse matrix's values assembled from
    /// (row, column, value) entries, duplicates summed.
    ScatterAdd(NodeId, MapId),
    /// A sparse matrix (its values, in the pattern's order) times a dense vector or row-major matrix.
    SpMul(PatternId, NodeId, NodeId),
    /// `solve(A, b)` for a dense square A and a vector or matrix b: LU with partial pivoting.
    Solve(NodeId, NodeId),
    /// `solve(A, b)` for a sparse A (its values, in the pattern's order): sparse LU.
    SparseSolve(PatternId, NodeId, NodeId),
    /// A square matrix with the input on its diagonal.
    DiagMatrix(NodeId),
    /// Summed log density of a vectorised `~`: the variate, then the parameters in registry order.
    /// `dims` is the event size of multivariate families; `normalised` keeps constant terms.
    Lpdf {
        family: Family,
        args: Vec<NodeId>,
        dims: usize,
        normalised: bool,
    },
    /// The sum of scalar inputs.
    AddScalars(Vec<NodeId>),
    /// `combine minmax` without a closed form: the worst-case correction of a modality's likelihood
    /// (`eval::worst_case`). Inputs: the budget eps, then each statement's arguments, variate first.
    WorstCase {
        families: Vec<Family>,
        args: Vec<NodeId>,
    },
    /// Log density of a field prior (`eval::fields`): Matérn/GMRF arguments are the field, mean,
    /// range (one or one per axis) and sd; random walks take the field and sd. `normalised` keeps
    /// the constant -r/2 log(2 pi) (and the log-determinant when the hyperparameters are data).
    FieldPrior {
        field: FieldId,
        args: Vec<NodeId>,
        normalised: bool,
    },
    /// A whitened field: mean + Q^(-1/2) z from white coordinates z, mean, range and sd.
    FieldWhiten {
        field: FieldId,
        args: Vec<NodeId>,
    },
    /// The solution of an ODE system at the output times (times x states): `solve` indexes
    /// `Graph::solves`; `args` are the initial state (a vector), the initial time, the output times
    /// (data) and the system's parameters (scalars), in order.
    SolveOde {
        solve: u32,
        args: Vec<NodeId>,
    },
}

impl Op {
    /// The nodes this one reads.
    pub fn inputs(&self) -> Vec<NodeId> {
        match self {
            Op::Data(..) | Op::Const(_) | Op::Param { .. } => vec![],
            Op::Constrain(_, v) | Op::LogJacobian(_, v) | Op::Concat(v) | Op::AddScalars(v) => {
                v.clone()
            }
            Op::Affine { product, terms } => product
                .iter()
                .flat_map(|&(a, b)| [a, b])
                .chain(terms.iter().map(|&(_, t)| t))
                .collect(),
            Op::Lpdf { args, .. }
            | Op::WorstCase { args, .. }
            | Op::FieldPrior { args, .. }
            | Op::FieldWhiten { args, .. }
            | Op::SolveOde { args, .. } => args.clone(),
            Op::Unary(_, a)
            | Op::Reduce(_, a, _)
            | Op::CumSum(a, _)
            | Op::Softmax(a)
            | Op::LogSoftmax(a)
            | Op::Gather(a, _)
            | Op::ScatterAdd(a, _)
            | Op::DiagMatrix(a) => vec![*a],
            Op::Binary(_, a, b)
            | Op::MatVec(a, b)
            | Op::MatMul(a, b)
            | Op::Dot(a, b)
            | Op::SpMul(_, a, b)
            | Op::Solve(a, b)
            | Op::SparseSolve(_, a, b) => vec![*a, *b],
            Op::Select(c, a, b) => vec![*c, *a, *b],
        }
    }

    /// The same operation reading `f(input)` instead of each input.
    pub fn map_inputs(&self, f: &mut impl FnMut(NodeId) -> NodeId) -> Op {
        let v = |v: &Vec<NodeId>, f: &mut dyn FnMut(NodeId) -> NodeId| {
            v.iter().map(|&n| f(n)).collect::<Vec<_>>()
        };
        match self {
            Op::Data(..) | Op::Const(_) | Op::Param { .. } => self.clone(),
            Op::Constrain(t, xs) => Op::Constrain(*t, v(xs, f)),
            Op::LogJacobian(t, xs) => Op::LogJacobian(*t, v(xs, f)),
            Op::Concat(xs) => Op::Concat(v(xs, f)),
            Op::AddScalars(xs) => Op::AddScalars(v(xs, f)),
            Op::Affine { product, terms } => {
                let product = product.map(|(a, b)| {
                    let a = f(a);
                    (a, f(b))
                });
                Op::Affine {
                    product,
                    terms: terms.iter().map(|&(s, t)| (s, f(t))).collect(),
                }
            }
            Op::Lpdf {
                family,
                args,
                dims,
                normalised,
            } => Op::Lpdf {
                family: *family,
                args: v(args, f),
                dims: *dims,
                normalised: *normalised,
            },
            Op::WorstCase { families, args } => Op::WorstCase {
                families: families.clone(),
                args: v(args, f),
            },
            Op::FieldPrior {
                field,
                args,
                normalised,
            } => Op::FieldPrior {
                field: *field,
                args: v(args, f),
                normalised: *normalised,
            },
            Op::FieldWhiten { field, args } => Op::FieldWhiten {
                field: *field,
                args: v(args, f),
            },
            Op::SolveOde { solve, args } => Op::SolveOde {
                solve: *solve,
                args: v(args, f),
            },
            Op::Unary(u, a) => Op::Unary(*u, f(*a)),
            Op::Reduce(r, a, s) => Op::Reduce(*r, f(*a), *s),
            Op::CumSum(a, s) => Op::CumSum(f(*a), *s),
            Op::Softmax(a) => Op::Softmax(f(*a)),
            Op::LogSoftmax(a) => Op::LogSoftmax(f(*a)),
            Op::Gather(a, m) => Op::Gather(f(*a), *m),
            Op::ScatterAdd(a, m) => Op::ScatterAdd(f(*a), *m),
            Op::SpMul(p, a, x) => {
                let a = f(*a);
                Op::SpMul(*p, a, f(*x))
            }
            Op::Solve(a, b) => {
                let a = f(*a);
                Op::Solve(a, f(*b))
            }
            Op::SparseSolve(p, a, b) => {
                let a = f(*a);
                Op::SparseSolve(*p, a, f(*b))
            }
            Op::DiagMatrix(a) => Op::DiagMatrix(f(*a)),
            Op::Binary(b, x, y) => {
                let x = f(*x);
                Op::Binary(*b, x, f(*y))
            }
            Op::MatVec(a, b) => {
                let a = f(*a);
                Op::MatVec(a, f(*b))
            }
            Op::MatMul(a, b) => {
                let a = f(*a);
                Op::MatMul(a, f(*b))
            }
            Op::Dot(a, b) => {
                let a = f(*a);
                Op::Dot(a, f(*b))
            }
            Op::Select(c, a, b) => {
                let c = f(*c);
                let a = f(*a);
                Op::Select(c, a, f(*b))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    /// Concrete shape; empty for a scalar.
    pub shape: Vec<usize>,
    /// Whether the value changes with the parameters (otherwise it is computable once, from data).
    pub param: bool,
}

impl Node {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a term of the log density is, for reports and for weighting modalities at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum TermKind {
    Prior,
    Jacobian,
    /// A likelihood statement of the modality with this index in `Graph::modalities`.
    Likelihood(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub node: NodeId,
    pub kind: TermKind,
}

/// A latent: where its coordinates sit in the unconstrained vector and which node holds its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Latent {
    pub name: String,
    pub shape: Vec<usize>,
    /// Offset and length in the unconstrained vector.
    pub offset: usize,
    pub free: usize,
    pub value: NodeId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Modality {
    pub name: String,
    /// The weight from `weight w` or `combine tempered` (1 by default).
    pub weight: f64,
}

/// An `ode` system compiled for the solvers: its right-hand side is a graph of its own whose
/// parameter vector is z = (t, states, parameters) (`Param` nodes at offsets 0, 1..=n, n+1..) and whose
/// one law is the rate vector (d state / dt, one entry per state). Data the right-hand side reads are
/// folded into it as constants.
#[derive(Debug, Clone, PartialEq)]
pub struct OdeSystem {
    pub name: String,
    pub time: String,
    pub states: Vec<String>,
    pub params: Vec<String>,
    pub rhs: Graph,
}

/// One `solve_ode` / `solve_ode_stiff` call: which system, which solver, which tolerances.
#[derive(Debug, Clone, PartialEq)]
pub struct OdeSolve {
    /// Index into `Graph::odes`.
    pub system: usize,
    pub method: crate::ode::Method,
    pub tol: crate::ode::Tolerances,
}

/// A compiled model's graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// The source span each node came from, beside the nodes.
    pub spans: Vec<Span>,
    pub consts: Vec<Vec<f64>>,
    pub maps: Vec<Vec<u32>>,
    /// Nonzero patterns of sparse matrices, fixed at compile time.
    pub patterns: Vec<Pattern>,
    /// Field priors' grids and transforms, addressed by `FieldId`.
    pub fields: Vec<FieldSpec>,
    /// Terms of the log density; the target is their (weighted) sum.
    pub terms: Vec<Term>,
    pub latents: Vec<Latent>,
    /// Named deterministic outputs: laws.
    pub laws: Vec<(String, NodeId)>,
    pub modalities: Vec<Modality>,
    /// Length of the unconstrained parameter vector.
    pub dim: usize,
    /// ODE systems the solves use, and the solves (`Op::SolveOde` nodes index these).
    pub odes: Vec<OdeSystem>,
    pub solves: Vec<OdeSolve>,
}

impl Graph {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Appends a node; `param` is derived from the inputs (and is true for parameter slices).
    pub fn push(&mut self, op: Op, shape: Vec<usize>, span: Span) -> NodeId {
        let param =
            matches!(op, Op::Param { .. }) || op.inputs().iter().any(|i| self.node(*i).param);
        self.nodes.push(Node { op, shape, param });
        self.spans.push(span);
        NodeId(self.nodes.len() as u32 - 1)
    }

    pub fn add_const(&mut self, values: Vec<f64>, shape: Vec<usize>, span: Span) -> NodeId {
        self.consts.push(values);
        let id = ConstId(self.consts.len() as u32 - 1);
        self.push(Op::Const(id), shape, span)
    }

    pub fn add_map(&mut self, map: Vec<u32>) -> MapId {
        self.maps.push(map);
        MapId(self.maps.len() as u32 - 1)
    }

    pub fn add_pattern(&mut self, p: Pattern) -> PatternId {
        self.patterns.push(p);
        PatternId(self.patterns.len() as u32 - 1)
    }

    pub fn pattern(&self, id: PatternId) -> &Pattern {
        &self.patterns[id.0 as usize]
    }

    pub fn add_field(&mut self, spec: FieldSpec) -> FieldId {
        self.fields.push(spec);
        FieldId(self.fields.len() as u32 - 1)
    }

    pub fn field(&self, id: FieldId) -> &FieldSpec {
        &self.fields[id.0 as usize]
    }

    /// Every node an output depends on: terms, laws and latents.
    pub fn roots(&self) -> Vec<NodeId> {
        let mut r: Vec<NodeId> = self.terms.iter().map(|t| t.node).collect();
        r.extend(self.laws.iter().map(|(_, n)| *n));
        r.extend(self.latents.iter().map(|l| l.value));
        r
    }
}
