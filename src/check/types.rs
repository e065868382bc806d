//! Types and shapes as the checker sees them. Sizes are symbolic: a polynomial in the data integers
//! (`n`, `n + 1`, `nx*ny`), so `vector[n] + vector[m]` is rejected unless `n` and `m` are one name, and
//! every later phase can evaluate the same sizes once the data are loaded.

use std::collections::BTreeMap;
use std::fmt;

/// One size. Two sizes are equal when their canonical polynomials are; an `Opaque` size (one the checker
/// cannot express, such as a slice bound computed from data values) equals only itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// Monomials (sorted variable names) with nonzero integer coefficients, in canonical order.
    Poly(Vec<(Vec<String>, i64)>),
    /// A size known only at run time; the number is unique per expression, the text is for messages.
    Opaque(u32, String),
}

impl Dim {
    pub fn constant(c: i64) -> Dim {
        Dim::from_terms(vec![(vec![], c)])
    }

    pub fn var(name: &str) -> Dim {
        Dim::from_terms(vec![(vec![name.to_string()], 1)])
    }

    fn from_terms(terms: Vec<(Vec<String>, i64)>) -> Dim {
        let mut map: BTreeMap<Vec<String>, i64> = BTreeMap::new();
        for (mut vars, c) in terms {
            vars.sort();
            let e = map.entry(vars).or_insert(0);
            *e = e.saturating_add(c);
        }
        let mut terms: Vec<_> = map.into_iter().filter(|(_, c)| *c != 0).collect();
        // Highest degree first, constants last: `n*m + n - 1`.
        terms.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Dim::Poly(terms)
    }

    fn terms(&self) -> Option<&[(Vec<String>, i64)]> {
        match self {
            Dim::Poly(t) => Some(t),
            Dim::Opaque(..) => None,
        }
    }

    pub fn add(&self, other: &Dim) -> Option<Dim> {
        let mut t = self.terms()?.to_vec();
        t.extend(other.terms()?.iter().cloned());
        Some(Dim::from_terms(t))
    }

    pub fn neg(&self) -> Option<Dim> {
        let t = self.terms()?;
        Some(Dim::from_terms(
            t.iter()
                .map(|(v, c)| (v.clone(), c.saturating_neg()))
                .collect(),
        ))
    }

    pub fn sub(&self, other: &Dim) -> Option<Dim> {
        self.add(&other.neg()?)
    }

    pub fn mul(&self, other: &Dim) -> Option<Dim> {
        let mut out = vec![];
        for (va, ca) in self.terms()? {
            for (vb, cb) in other.terms()? {
                let mut v = va.clone();
                v.extend(vb.iter().cloned());
                out.push((v, ca.saturating_mul(*cb)));
            }
        }
        Some(Dim::from_terms(out))
    }

    /// The value when the size does not depend on data.
    pub fn as_constant(&self) -> Option<i64> {
        match self.terms()? {
            [] => Some(0),
            [(v, c)] if v.is_empty() => Some(*c),
            _ => None,
        }
    }

    /// The product of several sizes (the length of a flattened array).
    pub fn product(dims: &[Dim]) -> Option<Dim> {
        dims.iter().try_fold(Dim::constant(1), |acc, d| acc.mul(d))
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms = match self {
            Dim::Opaque(_, text) => return write!(f, "{text}"),
            Dim::Poly(t) => t,
        };
        if terms.is_empty() {
            return write!(f, "0");
        }
        for (i, (vars, c)) in terms.iter().enumerate() {
            let mag = c.unsigned_abs();
            if i == 0 {
                if *c < 0 {
                    write!(f, "-")?;
                }
            } else {
                write!(f, " {} ", if *c < 0 { "-" } else { "+" })?;
            }
            if vars.is_empty() {
                write!(f, "{mag}")?;
            } else {
                if mag != 1 {
                    write!(f, "{mag}*")?;
                }
                write!(f, "{}", vars.join("*"))?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Elem {
    Int,
    Real,
}

/// How a value was declared; decides what `*` means and how the type is printed. Shapes alone decide
/// everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    Scalar,
    Vector,
    Matrix,
    /// `int[...]` or `real[...]`.
    Array,
    /// A real array on a regular grid.
    Field,
    Sparse,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ty {
    pub elem: Elem,
    pub form: Form,
    pub shape: Vec<Dim>,
}

impl Ty {
    pub fn scalar(elem: Elem) -> Ty {
        Ty {
            elem,
            form: Form::Scalar,
            shape: vec![],
        }
    }

    pub fn real() -> Ty {
        Ty::scalar(Elem::Real)
    }

    pub fn int() -> Ty {
        Ty::scalar(Elem::Int)
    }

    pub fn vector(n: Dim) -> Ty {
        Ty {
            elem: Elem::Real,
            form: Form::Vector,
            shape: vec![n],
        }
    }

    pub fn matrix(r: Dim, c: Dim) -> Ty {
        Ty {
            elem: Elem::Real,
            form: Form::Matrix,
            shape: vec![r, c],
        }
    }

    /// A value of the given element type and shape, in the plainest form for its rank.
    pub fn of_shape(elem: Elem, shape: Vec<Dim>) -> Ty {
        let form = match (elem, shape.len()) {
            (_, 0) => Form::Scalar,
            (Elem::Real, 1) => Form::Vector,
            (Elem::Real, 2) => Form::Matrix,
            _ => Form::Array,
        };
        Ty { elem, form, shape }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn is_scalar(&self) -> bool {
        self.shape.is_empty()
    }

    pub fn is_int_scalar(&self) -> bool {
        self.is_scalar() && self.elem == Elem::Int
    }

    /// Whether `*` with this on the left is a matrix product.
    pub fn is_matrix_like(&self) -> bool {
        matches!(self.form, Form::Matrix | Form::Sparse)
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let elem = match self.elem {
            Elem::Int => "int",
            Elem::Real => "real",
        };
        let dims = self
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match self.form {
            Form::Scalar => write!(f, "{elem}"),
            Form::Vector => write!(f, "vector[{dims}]"),
            Form::Matrix => write!(f, "matrix[{dims}]"),
            Form::Array => write!(f, "{elem}[{dims}]"),
            Form::Field => write!(f, "field[{dims}]"),
            Form::Sparse => write!(f, "sparse_matrix[{dims}]"),
        }
    }
}

/// Whether a value can change with the latents. Data and literals are `Data`: computable once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dep {
    Data,
    Latent,
}

/// What the checker knows about one expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Info {
    pub ty: Ty,
    pub dep: Dep,
}

/// Broadcasts two shapes, aligned on their trailing axes; `None` when an aligned pair differs.
pub fn broadcast(a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let offset = long.len() - short.len();
    for (i, d) in short.iter().enumerate() {
        if &long[offset + i] != d {
            return None;
        }
    }
    Some(long.to_vec())
}

/// Shows a shape as `[n, m]` for messages.
pub fn show_shape(shape: &[Dim]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_canonical_polynomials() {
        let (n, m) = (Dim::var("n"), Dim::var("m"));
        let one = Dim::constant(1);
        // (n + 1) - 1 == n, and n*m == m*n.
        assert_eq!(n.add(&one).unwrap().sub(&one).unwrap(), n);
        assert_eq!(n.mul(&m).unwrap(), m.mul(&n).unwrap());
        assert_ne!(n, m);
        // (n + 1)(n - 1) == n*n - 1
        let lhs = n.add(&one).unwrap().mul(&n.sub(&one).unwrap()).unwrap();
        let rhs = n.mul(&n).unwrap().sub(&one).unwrap();
        assert_eq!(lhs, rhs);
        assert_eq!(lhs.to_string(), "n*n - 1");
        assert_eq!(Dim::constant(3).as_constant(), Some(3));
        assert_eq!(n.sub(&n).unwrap().as_constant(), Some(0));
        assert_eq!(
            Dim::product(&[n.clone(), m.clone()]).unwrap().to_string(),
            "m*n"
        );
        assert_eq!(n.add(&Dim::constant(2)).unwrap().to_string(), "n + 2");
    }

    #[test]
    fn opaque_sizes_equal_only_themselves() {
        let a = Dim::Opaque(1, "len(a)".into());
        let b = Dim::Opaque(2, "len(a)".into());
        assert_ne!(a, b);
        assert_eq!(a.add(&Dim::constant(1)), None);
    }

    #[test]
    fn broadcasting_aligns_trailing_axes() {
        let (n, m, k) = (Dim::var("n"), Dim::var("m"), Dim::var("k"));
        let field = vec![n.clone(), m.clone(), k.clone()];
        assert_eq!(
            broadcast(&field, std::slice::from_ref(&k)),
            Some(field.clone())
        );
        assert_eq!(broadcast(&[], &field), Some(field.clone()));
        assert_eq!(broadcast(&field, std::slice::from_ref(&m)), None);
        assert_eq!(broadcast(&[m.clone(), k.clone()], &field), Some(field));
    }
}
