//! The field operators against closed forms and direct computations: interpolation reproduces linear
//! (and bilinear) functions exactly; the Laplacian of a quadratic is constant inside the grid and sums
//! to zero over it (no flux through the boundary); `grad` of a quadratic is exact inside and one-sided
//! at the ends; `convolve` equals a direct sum with the kernel flipped and zero padding; a weighted sum
//! along an axis is the depth integral with layer thicknesses. Every gradient agrees with finite
//! differences.

mod common;

use mmi::eval::CompiledModel;
use mmi::passes::Settings;

fn output(model: &CompiledModel, x: &[f64], name: &str) -> Vec<f64> {
    let mut ev = model.evaluator();
    let outs = ev.constrain(x).expect("the point evaluates");
    outs.into_iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no output `{name}`"))
        .values
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + b.abs())
}

/// Latent fields that equal given functions of their grid indices at the evaluation point.
const INTERP: &str = r#"
data { p: int > 0, xs: vector[p], ys: vector[p], zs: vector[p], y: vector[p] }
latent {
  L1: field[5] ~ normal(0, 1)
  L2: field[4, 6] ~ normal(0, 1)
  L3: field[3, 4, 5] ~ normal(0, 1)
}
law v1 = interp(L1, xs)
law v2 = interp(L2, xs, ys)
law v3 = interp(L3, xs, ys, zs)
law corner = interp(L2, 4, 6)
modality m { y ~ normal(v1 + v2 + v3 + corner, 1) }
"#;

#[test]
fn interpolation_reproduces_linear_functions() {
    // Points inside every grid, on nodes, on edges and at the far corner.
    let xs = [1.0, 2.5, 3.0, 1.25, 2.999, 3.0];
    let ys = [1.0, 3.7, 4.0, 1.5, 2.2, 4.0];
    let zs = [1.0, 4.5, 2.25, 3.0, 5.0, 5.0];
    let json = |v: &[f64]| format!("{v:?}");
    let data = format!(
        r#"{{"p": 6, "xs": {}, "ys": {}, "zs": {}, "y": [0, 0, 0, 0, 0, 0]}}"#,
        json(&xs),
        json(&ys),
        json(&zs)
    );
    let model = common::compile(INTERP, &data, &Settings::default());
    // Linear functions of the 1-based grid coordinates; for 2-D also the bilinear term, which
    // bilinear interpolation reproduces too.
    let f1 = |i: f64| 0.3 - 1.7 * i;
    let f2 = |i: f64, j: f64| 1.0 + 0.5 * i - 0.25 * j + 0.125 * i * j;
    let f3 = |i: f64, j: f64, k: f64| -2.0 + 0.1 * i + 0.7 * j - 0.3 * k;
    let mut x = vec![];
    x.extend((1..=5).map(|i| f1(i as f64)));
    for i in 1..=4 {
        for j in 1..=6 {
            x.push(f2(i as f64, j as f64));
        }
    }
    for i in 1..=3 {
        for j in 1..=4 {
            for k in 1..=5 {
                x.push(f3(i as f64, j as f64, k as f64));
            }
        }
    }
    let (v1, v2, v3) = (
        output(&model, &x, "v1"),
        output(&model, &x, "v2"),
        output(&model, &x, "v3"),
    );
    for m in 0..6 {
        assert!(close(v1[m], f1(xs[m])), "1-D point {m}: {}", v1[m]);
        assert!(close(v2[m], f2(xs[m], ys[m])), "2-D point {m}: {}", v2[m]);
        assert!(
            close(v3[m], f3(xs[m], ys[m], zs[m])),
            "3-D point {m}: {}",
            v3[m]
        );
    }
    assert!(close(output(&model, &x, "corner")[0], f2(4.0, 6.0)));
    let err = common::gradient_error(&model, &x);
    assert!(err < 1e-6, "gradient error {err:e}");
}

const STENCILS: &str = r#"
data { nx: int > 2, ny: int > 2, hx: real > 0, hy: real > 0, y: real[nx, ny] }
latent { T: field[nx, ny] ~ normal(0, 1) }
law lap = laplacian(T, spacing = [hx, hy])
law gx = grad(T, axis = 1, spacing = hx)
law gy = grad(T, spacing = hy)
law conv = convolve(T, [[1, 2, 0.5], [-1, 0.25, 3], [0, 1, -2]])
modality m { y ~ normal(lap + gx + gy + conv, 1) }
"#;

#[test]
fn laplacian_and_grad_of_a_quadratic() {
    let (nx, ny, hx, hy) = (6, 5, 0.5, 2.0);
    let data = format!(
        r#"{{"nx": {nx}, "ny": {ny}, "hx": {hx}, "hy": {hy},
             "y": {:?}}}"#,
        vec![vec![0.0; ny]; nx]
    );
    let model = common::compile(STENCILS, &data, &Settings::default());
    // T = a x^2 + b y^2 + c x y + d x at x = (i - 1) hx, y = (j - 1) hy: Laplacian 2a + 2b.
    let (a, b, c, d) = (1.5, -0.75, 0.4, 2.0);
    let pos = |i: usize, j: usize| (i as f64 * hx, j as f64 * hy);
    let f = |i: usize, j: usize| {
        let (x, y) = pos(i, j);
        a * x * x + b * y * y + c * x * y + d * x
    };
    let x: Vec<f64> = (0..nx)
        .flat_map(|i| (0..ny).map(move |j| f(i, j)))
        .collect();
    let lap = output(&model, &x, "lap");
    let gx = output(&model, &x, "gx");
    let gy = output(&model, &x, "gy");
    for i in 0..nx {
        for j in 0..ny {
            let at = i * ny + j;
            let (px, py) = pos(i, j);
            if i > 0 && i + 1 < nx && j > 0 && j + 1 < ny {
                assert!(
                    close(lap[at], 2.0 * a + 2.0 * b),
                    "lap[{i},{j}] = {}",
                    lap[at]
                );
            }
            // Central differences are exact for quadratics; one-sided ones are off by half a step
            // times the second derivative.
            let ex = 2.0 * a * px + c * py + d;
            let ex = match i {
                0 => ex + a * hx,
                _ if i == nx - 1 => ex - a * hx,
                _ => ex,
            };
            assert!(close(gx[at], ex), "gx[{i},{j}] = {}, exact {ex}", gx[at]);
            let ey = 2.0 * b * py + c * px;
            let ey = match j {
                0 => ey + b * hy,
                _ if j == ny - 1 => ey - b * hy,
                _ => ey,
            };
            assert!(close(gy[at], ey), "gy[{i},{j}] = {}, exact {ey}", gy[at]);
        }
    }
    // No flux leaves the grid: the Laplacian of any field sums to zero.
    let total: f64 = lap.iter().sum();
    assert!(total.abs() < 1e-9, "sum of the Laplacian {total}");
    let err = common::gradient_error(&model, &x);
    assert!(err < 1e-6, "gradient error {err:e}");
}

#[test]
fn convolution_equals_a_direct_sum_with_zero_padding() {
    let (nx, ny) = (4, 5);
    let data = format!(
        r#"{{"nx": {nx}, "ny": {ny}, "hx": 1, "hy": 1, "y": {:?}}}"#,
        vec![vec![0.0; ny]; nx]
    );
    let model = common::compile(STENCILS, &data, &Settings::default());
    let x: Vec<f64> = (0..nx * ny).map(|k| ((k * 7 % 11) as f64) - 4.5).collect();
    let kernel = [[1.0, 2.0, 0.5], [-1.0, 0.25, 3.0], [0.0, 1.0, -2.0]];
    let conv = output(&model, &x, "conv");
    for i in 0..nx as i64 {
        for j in 0..ny as i64 {
            // out[i, j] = sum_{a, b} kernel[a, b] x[i - a + 1, j - b + 1] (the kernel flipped).
            let mut s = 0.0;
            for ka in 0..3i64 {
                for kb in 0..3i64 {
                    let (si, sj) = (i - ka + 1, j - kb + 1);
                    if (0..nx as i64).contains(&si) && (0..ny as i64).contains(&sj) {
                        s += kernel[ka as usize][kb as usize] * x[(si * ny as i64 + sj) as usize];
                    }
                }
            }
            let got = conv[(i * ny as i64 + j) as usize];
            assert!(close(got, s), "conv[{i},{j}] = {got}, direct {s}");
        }
    }
}

/// The ocean model's steric height: an integral over depth with layer thicknesses is `sum(w * T,
/// axis = 3)`, the weights broadcast along the last axis.
const DEPTH_INTEGRAL: &str = r#"
data { nx: int > 0, nz: int > 0, dz: vector[nz], h: matrix[nx, 2] }
latent { T: field[nx, 2, nz] ~ normal(0, 1) }
law height = sum(dz * exp(T), axis = 3)
modality m { h ~ normal(height, 0.5) }
"#;

#[test]
fn a_weighted_sum_along_an_axis_integrates_over_depth() {
    let data = r#"{"nx": 2, "nz": 3, "dz": [10, 50, 200], "h": [[1, 2], [3, 4]]}"#;
    let model = common::compile(DEPTH_INTEGRAL, data, &Settings::default());
    let x: Vec<f64> = (0..12).map(|k| 0.1 * k as f64 - 0.4).collect();
    let height = output(&model, &x, "height");
    let dz = [10.0, 50.0, 200.0];
    for c in 0..4 {
        let exact: f64 = (0..3).map(|z| dz[z] * x[c * 3 + z].exp()).sum();
        assert!(
            close(height[c], exact),
            "column {c}: {} against {exact}",
            height[c]
        );
    }
    let err = common::gradient_error(&model, &x);
    assert!(err < 1e-6, "gradient error {err:e}");
}
