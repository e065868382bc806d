//! The abstract syntax tree of a .mmi file, exactly as written (names unresolved, shapes unknown).
//!
//! Every node carries its byte span. Expressions also carry an `ExprId`, unique in the program, so that
//! the checker can keep its findings (types, shapes, data/latent dependence) in side tables instead of
//! rewriting the tree.

use crate::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub items: Vec<Item>,
    /// One more than the largest `ExprId` in the program: the size of per-expression side tables.
    pub expr_count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Data(Block),
    Latent(Block),
    Law(Law),
    Fn(FnDef),
    Ode(OdeDef),
    Modality(Modality),
    Combine(Combine),
    /// A `~` statement outside a modality: a prior.
    Tilde(Tilde),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A `data { ... }` or `latent { ... }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub keyword: Span,
    pub decls: Vec<Decl>,
    /// Prior statements written inside a latent block.
    pub priors: Vec<Tilde>,
}

/// `name: type constraints ~ prior`
#[derive(Debug, Clone, PartialEq)]
pub struct Decl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub constraints: Vec<Constraint>,
    pub prior: Option<DistCall>,
    pub span: Span,
}

/// `vector[n]`, `field[nx, ny, spacing = [1, 2]]`, `real`, ...
#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintKind {
    Lower(Expr),
    Upper(Expr),
    Interval(Expr, Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub kind: ConstraintKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Law {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
    /// Declared `derived`: reported with the draws, used by nothing in the density.
    pub derived: bool,
}

impl Law {
    /// The keyword that declares it.
    pub fn keyword(&self) -> &'static str {
        if self.derived {
            "derived"
        } else {
            "law"
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FnDef {
    pub name: Ident,
    pub params: Vec<Ident>,
    pub body: Expr,
    pub span: Span,
}

/// `ode name(t; X, Y; a, b) { dX/dt = ...; dY/dt = ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct OdeDef {
    pub name: Ident,
    pub time: Ident,
    pub states: Vec<Ident>,
    pub params: Vec<Ident>,
    pub equations: Vec<OdeEquation>,
    pub span: Span,
}

/// `dX/dt = rhs`
#[derive(Debug, Clone, PartialEq)]
pub struct OdeEquation {
    pub state: Ident,
    pub time: Ident,
    pub rhs: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Modality {
    pub name: Ident,
    pub weight: Option<Expr>,
    pub stmts: Vec<ModalityStmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModalityStmt {
    Let(Let),
    Tilde(Tilde),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `combine rule` or `combine rule { modality: value, ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct Combine {
    pub rule: Ident,
    pub entries: Option<Vec<CombineEntry>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CombineEntry {
    pub modality: Ident,
    pub value: Expr,
}

/// `lhs ~ dist(args)`
#[derive(Debug, Clone, PartialEq)]
pub struct Tilde {
    pub lhs: Expr,
    pub dist: DistCall,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DistCall {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// A call argument, positional or `name = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(pub u32);

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub id: ExprId,
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    /// `*`: a matrix product when the left side is a matrix, elementwise otherwise.
    Mul,
    Div,
    ElemMul,
    ElemDiv,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::ElemMul => ".*",
            BinOp::ElemDiv => "./",
            BinOp::Pow => "^",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Real(f64),
    Name(String),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call {
        func: Ident,
        args: Vec<Arg>,
    },
    Index {
        base: Box<Expr>,
        indices: Vec<IndexItem>,
    },
    Transpose(Box<Expr>),
    /// `[a, b, c]`
    Array(Vec<Expr>),
    /// `[body for i in lo:hi, j in lo:hi]`
    Comprehension {
        body: Box<Expr>,
        generators: Vec<Generator>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum IndexItem {
    Single(Expr),
    /// `lo:hi` with either side optional (inclusive, 1-based).
    Slice {
        lo: Option<Expr>,
        hi: Option<Expr>,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Generator {
    pub var: Ident,
    pub lo: Expr,
    pub hi: Expr,
}

impl ExprKind {
    /// The direct sub-expressions, in source order.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            ExprKind::Int(_) | ExprKind::Real(_) | ExprKind::Name(_) => vec![],
            ExprKind::Neg(e) | ExprKind::Transpose(e) => vec![e],
            ExprKind::Binary(_, a, b) => vec![a, b],
            ExprKind::Call { args, .. } => args.iter().map(|a| &a.value).collect(),
            ExprKind::Index { base, indices } => {
                let mut out = vec![&**base];
                for ix in indices {
                    match ix {
                        IndexItem::Single(e) => out.push(e),
                        IndexItem::Slice { lo, hi, .. } => {
                            out.extend(lo.iter());
                            out.extend(hi.iter());
                        }
                    }
                }
                out
            }
            ExprKind::Array(items) => items.iter().collect(),
            ExprKind::Comprehension { body, generators } => {
                let mut out = vec![&**body];
                for g in generators {
                    out.push(&g.lo);
                    out.push(&g.hi);
                }
                out
            }
        }
    }
}

impl Expr {
    /// Calls `f` on this expression and every sub-expression.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        for c in self.kind.children() {
            c.walk(f);
        }
    }

    /// Names referenced anywhere inside (including comprehension variables and call names excluded).
    pub fn names(&self) -> Vec<(&str, Span)> {
        let mut out = vec![];
        self.walk(&mut |e| {
            if let ExprKind::Name(n) = &e.kind {
                out.push((n.as_str(), e.span));
            }
        });
        out
    }
}
