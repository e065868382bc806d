//! Shape rules of the sparse and field operators: `sparse(i, j, x, r, c)` (a sparse matrix assembled
//! from entries), `interp` (linear, bilinear, trilinear interpolation at data points), `grad` (finite
//! differences along an axis), `laplacian` (the grid Laplacian) and `convolve` (with a data kernel).
//!
//! Everything these operators need to know besides the field itself (the pattern of a sparse matrix,
//! the interpolation points, the kernel, the spacing) must be data: each becomes a fixed linear
//! operator when the model compiles. Checks that need the data's values (indices in range, points
//! inside the grid, odd kernel sizes) are made by lowering, with the same spans.

use super::decls::dep_word;
use super::exprs::elementwise_ty;
use super::types::{broadcast, show_shape};
use super::{Checker, Dep, Dim, Elem, Form, Info, Ty};
use crate::diagnostic::Diagnostic;
use crate::library::functions::{FnSpec, Rule};
use crate::syntax::ast::*;

impl<'p> Checker<'p> {
    /// The result type of a sparse or field operator call, or `None` after reporting why not.
    pub(super) fn operator(
        &mut self,
        e: &Expr,
        spec: &FnSpec,
        args: &[&Expr],
        infos: &[Info],
        axis: Option<usize>,
    ) -> Option<Ty> {
        let a0 = &infos[0];
        match spec.rule {
            Rule::Sparse => self.sparse_call(args, infos),
            Rule::Interp => self.interp_call(e, args, infos),
            Rule::Grad | Rule::Laplacian | Rule::Convolve => {
                if a0.ty.rank() == 0 {
                    self.error(
                        Diagnostic::error(
                            args[0].span,
                            format!("`{}` needs a vector, matrix or field", spec.name),
                        )
                        .with_label(format!("this is {}", a0.ty)),
                    );
                    return None;
                }
                if spec.rule == Rule::Laplacian && a0.ty.rank() > 3 {
                    self.error(
                        Diagnostic::error(
                            args[0].span,
                            "`laplacian` works on grids of 1 to 3 dimensions",
                        )
                        .with_label(format!("this is {}", a0.ty)),
                    );
                    return None;
                }
                if spec.rule == Rule::Grad {
                    self.check_axis(e, args[0], a0, axis.unwrap_or(a0.ty.rank()))?;
                }
                if spec.rule == Rule::Convolve {
                    let k = &infos[1];
                    self.data_only(args[1], k, "the kernel of `convolve`")?;
                    if k.ty.rank() != a0.ty.rank() {
                        self.error(
                            Diagnostic::error(
                                args[1].span,
                                "the kernel of `convolve` must have as many axes as the field",
                            )
                            .with_label(format!("this is {}", k.ty))
                            .with_secondary(args[0].span, format!("the field is {}", a0.ty)),
                        );
                        return None;
                    }
                }
                Some(elementwise_ty(Elem::Real, a0.ty.shape.clone(), &[&a0.ty]))
            }
            _ => unreachable!("only operator rules come here"),
        }
    }

    /// `spacing = h` of `grad` and `laplacian`: a data number, or (for `laplacian`) a data vector
    /// with one step per axis.
    pub(super) fn spacing_option(&mut self, spec: &FnSpec, v: &Expr) -> Option<()> {
        let info = self.expr(v)?;
        self.data_only(v, &info, "a grid spacing")?;
        let ok = info.ty.rank() == 0 || (spec.rule == Rule::Laplacian && info.ty.rank() == 1);
        if !ok {
            let want = if spec.rule == Rule::Laplacian {
                "one number, or a vector of one step per axis"
            } else {
                "one number (the step along the axis)"
            };
            self.error(
                Diagnostic::error(
                    v.span,
                    format!("the spacing of `{}` must be {want}", spec.name),
                )
                .with_label(format!("this is {}", info.ty)),
            );
            return None;
        }
        Some(())
    }

    /// Reports an argument that depends on latents where only data can stand.
    fn data_only(&mut self, arg: &Expr, info: &Info, what: &str) -> Option<()> {
        if info.dep == Dep::Data {
            return Some(());
        }
        self.error(
            Diagnostic::error(arg.span, format!("{what} must be known from data"))
                .with_label(dep_word(info.dep))
                .with_note("it fixes a linear operator when the model compiles"),
        );
        None
    }

    fn sparse_call(&mut self, args: &[&Expr], infos: &[Info]) -> Option<Ty> {
        for (k, what) in [(0, "row indices"), (1, "column indices")] {
            let info = &infos[k];
            if info.ty.elem != Elem::Int || info.ty.rank() != 1 {
                self.error(
                    Diagnostic::error(
                        args[k].span,
                        format!("the {what} of `sparse` must be an integer array"),
                    )
                    .with_label(format!("this is {}", info.ty))
                    .with_help("write `sparse(rows, cols, values, r, c)` with 1-based `int[m]` rows and cols"),
                );
                return None;
            }
            self.data_only(args[k], info, &format!("the {what} of `sparse`"))?;
        }
        let (i, j, x) = (&infos[0], &infos[1], &infos[2]);
        for (k, other) in [(1, j), (2, x)] {
            if other.ty.shape != i.ty.shape {
                self.error(
                    Diagnostic::error(
                        args[k].span,
                        "`sparse` needs one row index, column index and value per entry",
                    )
                    .with_label(format!("this has shape {}", show_shape(&other.ty.shape)))
                    .with_secondary(
                        args[0].span,
                        format!("the row indices have shape {}", show_shape(&i.ty.shape)),
                    ),
                );
                return None;
            }
        }
        let (r, c) = (self.dim_of(args[3])?, self.dim_of(args[4])?);
        Some(Ty {
            elem: Elem::Real,
            form: Form::Sparse,
            shape: vec![r, c],
        })
    }

    fn interp_call(&mut self, e: &Expr, args: &[&Expr], infos: &[Info]) -> Option<Ty> {
        let field = &infos[0];
        let rank = field.ty.rank();
        if !(1..=3).contains(&rank) {
            self.error(
                Diagnostic::error(
                    args[0].span,
                    "`interp` interpolates a grid of 1 to 3 dimensions",
                )
                .with_label(format!("this is {}", field.ty)),
            );
            return None;
        }
        let given = args.len() - 1;
        if given != rank {
            self.error(
                Diagnostic::error(
                    e.span,
                    format!(
                        "`interp` of a {rank}-dimensional grid needs {rank} coordinate{}, but {given} {} given",
                        if rank == 1 { "" } else { "s" },
                        if given == 1 { "was" } else { "were" }
                    ),
                )
                .with_label("one coordinate array per axis")
                .with_secondary(args[0].span, format!("this is {}", field.ty)),
            );
            return None;
        }
        let mut shape: Vec<Dim> = vec![];
        for k in 1..args.len() {
            let info = &infos[k];
            self.data_only(args[k], info, "an interpolation coordinate")?;
            match broadcast(&shape, &info.ty.shape) {
                Some(s) => shape = s,
                None => {
                    self.error(
                        Diagnostic::error(
                            args[k].span,
                            "the coordinates of `interp` do not match in shape",
                        )
                        .with_label(format!("this is {}", info.ty))
                        .with_secondary(
                            args[1].span,
                            format!("the others have shape {}", show_shape(&shape)),
                        ),
                    );
                    return None;
                }
            }
        }
        Some(Ty::of_shape(Elem::Real, shape))
    }
}
