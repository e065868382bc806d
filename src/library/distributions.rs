//! The distribution registry: names, parameters (in order, with the names usable as named arguments),
//! and the support of the variate.

/// Where the left side of `~` must live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Real,
    /// (0, inf): a latent must be declared `> 0` (or with a nonnegative lower bound).
    Positive,
    /// (0, 1)
    Unit,
    /// An integer in (lo, hi) given by the arguments (used only for printing).
    Int,
    NonNegInt,
    Binary,
    Simplex,
    /// A latent `field` on a grid.
    Field,
}

/// How a field's grid ends along one axis (the `boundary` option of `field[...]`): it decides the
/// boundary condition of the Laplacian in `gmrf`/`matern` priors and whether random walks wrap around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Boundary {
    /// Reflecting (zero-flux) ends; random walks simply stop at the edge. The default.
    Neumann,
    /// The axis wraps around (a torus), as longitude does.
    Periodic,
}

impl Boundary {
    pub const NAMES: &'static [&'static str] = &["neumann", "periodic"];

    pub fn from_name(name: &str) -> Option<Boundary> {
        match name {
            "neumann" => Some(Boundary::Neumann),
            "periodic" => Some(Boundary::Periodic),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Boundary::Neumann => "neumann",
            Boundary::Periodic => "periodic",
        }
    }
}

/// The values of a field prior's `param` option: how the sampler sees the field.
pub const PARAMETERISATIONS: &[&str] = &["centred", "whitened"];

/// How one parameter's shape must relate to the left side's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Broadcasts against the left side (a scalar, or the left side's trailing axes).
    Elementwise,
    /// A single real number.
    Scalar,
    /// A scalar, or a vector with one entry per axis of the field on the left.
    PerAxis,
    /// A vector as long as the left side's last axis.
    Vector,
    /// A square matrix, as many rows as the left side's last axis (a Cholesky factor).
    SquareMatrix,
    /// A name from this list (an option such as `param = whitened`), not an expression.
    Choice(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    /// Optional parameters have a default (shown here for the docs).
    pub default: Option<&'static str>,
    /// The integer-valued parameters (`trials` of a binomial).
    pub int: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Independent elements: the left side may have any shape.
    Univariate,
    /// One draw is the left side's last axis (a vector); earlier axes are independent draws.
    Multivariate,
    /// A joint prior over a whole field.
    FieldPrior,
}

#[derive(Debug, Clone, Copy)]
pub struct DistSpec {
    pub name: &'static str,
    pub params: &'static [ParamSpec],
    pub support: Support,
    pub class: Class,
    /// A likelihood on integer data (the left side must be integers).
    pub discrete: bool,
}

impl DistSpec {
    pub fn required(&self) -> usize {
        self.params.iter().filter(|p| p.default.is_none()).count()
    }

    /// `normal(mu, sigma)`, for messages.
    pub fn signature(&self) -> String {
        let ps: Vec<String> = self
            .params
            .iter()
            .map(|p| match p.default {
                Some(d) => format!("{} = {d}", p.name),
                None => p.name.to_string(),
            })
            .collect();
        format!("{}({})", self.name, ps.join(", "))
    }
}

const fn p(name: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Elementwise,
        default: None,
        int: false,
    }
}

const fn with(name: &'static str, kind: ParamKind, default: Option<&'static str>) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        default,
        int: false,
    }
}

const fn uni(name: &'static str, params: &'static [ParamSpec], support: Support) -> DistSpec {
    DistSpec {
        name,
        params,
        support,
        class: Class::Univariate,
        discrete: false,
    }
}

const fn disc(name: &'static str, params: &'static [ParamSpec], support: Support) -> DistSpec {
    DistSpec {
        name,
        params,
        support,
        class: Class::Univariate,
        discrete: true,
    }
}

const fn field(name: &'static str, params: &'static [ParamSpec]) -> DistSpec {
    DistSpec {
        name,
        params,
        support: Support::Field,
        class: Class::FieldPrior,
        discrete: false,
    }
}

use ParamKind::*;
use Support::*;

/// Every distribution the language knows.
pub const DISTRIBUTIONS: &[DistSpec] = &[
    uni("normal", &[p("mu"), p("sigma")], Real),
    uni("student_t", &[p("nu"), p("mu"), p("sigma")], Real),
    uni("cauchy", &[p("mu"), p("sigma")], Real),
    uni("laplace", &[p("mu"), p("scale")], Real),
    uni("huber", &[p("mu"), p("sigma"), p("delta")], Real),
    uni("lognormal", &[p("mu"), p("sigma")], Positive),
    uni("gamma", &[p("alpha"), p("beta")], Positive),
    uni("inv_gamma", &[p("alpha"), p("beta")], Positive),
    uni("exponential", &[p("rate")], Positive),
    uni("beta", &[p("a"), p("b")], Unit),
    uni("half_normal", &[p("sigma")], Positive),
    uni("half_cauchy", &[p("sigma")], Positive),
    uni("uniform", &[p("lo"), p("hi")], Real),
    disc("poisson_log", &[p("eta")], NonNegInt),
    disc("bernoulli_logit", &[p("eta")], Binary),
    disc(
        "binomial_logit",
        &[
            ParamSpec {
                name: "trials",
                kind: Elementwise,
                default: None,
                int: true,
            },
            p("eta"),
        ],
        NonNegInt,
    ),
    disc("neg_binomial_2_log", &[p("eta"), p("phi")], NonNegInt),
    DistSpec {
        name: "dirichlet",
        params: &[with("alpha", Vector, None)],
        support: Simplex,
        class: Class::Multivariate,
        discrete: false,
    },
    DistSpec {
        name: "multi_normal_cholesky",
        params: &[with("mu", Vector, None), with("L", SquareMatrix, None)],
        support: Real,
        class: Class::Multivariate,
        discrete: false,
    },
    field(
        "gmrf",
        &[
            with("range", PerAxis, None),
            with("sd", Scalar, None),
            with("mean", Elementwise, Some("0")),
            with("param", Choice(PARAMETERISATIONS), Some("centred")),
        ],
    ),
    field(
        "matern",
        &[
            with("nu", Scalar, None),
            with("range", PerAxis, None),
            with("sd", Scalar, None),
            with("mean", Elementwise, Some("0")),
            with("param", Choice(PARAMETERISATIONS), Some("centred")),
        ],
    ),
    field("rw1", &[with("sd", Scalar, None)]),
    field("rw2", &[with("sd", Scalar, None)]),
];

pub fn lookup(name: &str) -> Option<&'static DistSpec> {
    DISTRIBUTIONS.iter().find(|d| d.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    DISTRIBUTIONS.iter().map(|d| d.name)
}
