//! The built-in function table: names, arity and which shape rule applies. The rules themselves are
//! implemented by the checker (`check::calls`), one per `Rule` variant.

/// How a call's result shape follows from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Elementwise on one argument; `keeps_int` for functions that map integers to integers (abs).
    Map1 { keeps_int: bool },
    /// Elementwise on all arguments, broadcast together.
    MapN,
    /// `ifelse(cond, a, b)`: elementwise select.
    Select,
    /// To a scalar, or along `axis = k`.
    Reduce,
    /// One argument: a reduction; two: elementwise (min, max, log_sum_exp).
    ReduceOrMap,
    /// `dot(a, b)`: two equal shapes to a scalar.
    Dot,
    /// Same shape, along an axis (cumulative_sum).
    Scan,
    /// One shorter along an axis (diff).
    Diff,
    /// A vector to a vector of the same length (softmax).
    VectorMap,
    /// Any array to a vector of all its elements, row-major.
    Flatten,
    /// `to_matrix(x, r, c)`.
    ToMatrix,
    /// `rep(x, d1, ...)`: a scalar repeated to the given sizes.
    Rep,
    /// `linspace(a, b, n)`.
    Linspace,
    /// `size(x)`: the number of elements, an integer.
    Size,
    /// `diag_matrix(v)`.
    DiagMatrix,
    /// `diagonal(A)`.
    Diagonal,
    /// `solve(A, b)`: a linear solve, A dense or sparse.
    Solve,
    /// `sparse(rows, cols, values, r, c)`: a sparse matrix assembled from entries.
    Sparse,
    /// `interp(T, xs, ...)`: linear interpolation of a grid at data points, one coordinate per axis.
    Interp,
    /// `grad(x, axis = k)`: finite differences along an axis, same shape.
    Grad,
    /// `laplacian(x)`: the grid Laplacian with zero-flux boundaries, same shape.
    Laplacian,
    /// `convolve(x, kernel)`: convolution with a data kernel, same shape, zero padding.
    Convolve,
    /// `solve_ode(system, init, t0, times, params...)`.
    SolveOde,
}

#[derive(Debug, Clone, Copy)]
pub struct FnSpec {
    pub name: &'static str,
    pub min_args: usize,
    /// `usize::MAX` for variadic.
    pub max_args: usize,
    /// Named options accepted after the positional arguments.
    pub options: &'static [&'static str],
    pub rule: Rule,
}

const fn map1(name: &'static str) -> FnSpec {
    f(name, 1, 1, &[], Rule::Map1 { keeps_int: false })
}

const fn f(
    name: &'static str,
    min_args: usize,
    max_args: usize,
    options: &'static [&'static str],
    rule: Rule,
) -> FnSpec {
    FnSpec {
        name,
        min_args,
        max_args,
        options,
        rule,
    }
}

const AXIS: &[&str] = &["axis"];
const ODE_OPTIONS: &[&str] = &["rtol", "atol", "max_steps"];
const GRAD_OPTIONS: &[&str] = &["axis", "spacing"];
const SPACING: &[&str] = &["spacing"];

pub const FUNCTIONS: &[FnSpec] = &[
    map1("exp"),
    map1("log"),
    map1("log1p"),
    map1("expm1"),
    map1("log1m"),
    map1("sqrt"),
    map1("square"),
    map1("cbrt"),
    map1("sin"),
    map1("cos"),
    map1("tan"),
    map1("asin"),
    map1("acos"),
    map1("atan"),
    map1("sinh"),
    map1("cosh"),
    map1("tanh"),
    map1("logistic"),
    map1("inv_logit"),
    map1("logit"),
    map1("log1p_exp"),
    map1("log1m_exp"),
    map1("lgamma"),
    map1("digamma"),
    map1("erf"),
    map1("erfc"),
    map1("Phi"),
    map1("inv_Phi"),
    map1("step"),
    f("abs", 1, 1, &[], Rule::Map1 { keeps_int: true }),
    f("floor", 1, 1, &[], Rule::Map1 { keeps_int: true }),
    f("ceil", 1, 1, &[], Rule::Map1 { keeps_int: true }),
    f("pow", 2, 2, &[], Rule::MapN),
    f("atan2", 2, 2, &[], Rule::MapN),
    f("hypot", 2, 2, &[], Rule::MapN),
    f("fmin", 2, 2, &[], Rule::MapN),
    f("fmax", 2, 2, &[], Rule::MapN),
    f("lbeta", 2, 2, &[], Rule::MapN),
    f("ifelse", 3, 3, &[], Rule::Select),
    f("sum", 1, 1, AXIS, Rule::Reduce),
    f("mean", 1, 1, AXIS, Rule::Reduce),
    f("prod", 1, 1, AXIS, Rule::Reduce),
    f("sd", 1, 1, AXIS, Rule::Reduce),
    f("variance", 1, 1, AXIS, Rule::Reduce),
    f("norm", 1, 1, AXIS, Rule::Reduce),
    f("min", 1, 2, AXIS, Rule::ReduceOrMap),
    f("max", 1, 2, AXIS, Rule::ReduceOrMap),
    f("log_sum_exp", 1, 2, AXIS, Rule::ReduceOrMap),
    f("dot", 2, 2, &[], Rule::Dot),
    f("cumulative_sum", 1, 1, AXIS, Rule::Scan),
    f("diff", 1, 1, AXIS, Rule::Diff),
    f("softmax", 1, 1, &[], Rule::VectorMap),
    f("log_softmax", 1, 1, &[], Rule::VectorMap),
    f("to_vector", 1, 1, &[], Rule::Flatten),
    f("to_matrix", 3, 3, &[], Rule::ToMatrix),
    f("rep", 2, usize::MAX, &[], Rule::Rep),
    f("linspace", 3, 3, &[], Rule::Linspace),
    f("size", 1, 1, &[], Rule::Size),
    f("diag_matrix", 1, 1, &[], Rule::DiagMatrix),
    f("diagonal", 1, 1, &[], Rule::Diagonal),
    f("solve", 2, 2, &[], Rule::Solve),
    f("sparse", 5, 5, &[], Rule::Sparse),
    f("interp", 2, 4, &[], Rule::Interp),
    f("grad", 1, 1, GRAD_OPTIONS, Rule::Grad),
    f("laplacian", 1, 1, SPACING, Rule::Laplacian),
    f("convolve", 2, 2, &[], Rule::Convolve),
    f("solve_ode", 4, usize::MAX, ODE_OPTIONS, Rule::SolveOde),
    f(
        "solve_ode_stiff",
        4,
        usize::MAX,
        ODE_OPTIONS,
        Rule::SolveOde,
    ),
];

pub fn lookup(name: &str) -> Option<&'static FnSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|f| f.name)
}
