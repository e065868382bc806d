//! Plots from fixed-seed runs: every kind writes a valid PNG (signature, dimensions) and a well-formed
//! SVG of non-trivial size; the numbers behind the field maps and the density comparison are checked
//! against direct computations and a closed-form posterior; `mmi plot` works from the command line.

mod common;

use mmi::plot::inputs::{
    compare_figure, field_figure, output_names, render, Draws, Inputs, Output, Request,
};
use mmi::plot::labels::Labels;
use mmi::plot::Figure;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn out_dir(name: &str) -> PathBuf {
    let d = root().join("target/plot-tests").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Fixture {
    source: String,
    model: mmi::eval::CompiledModel,
    draws: Draws,
}

/// Compiles a test model with its data and samples it: 2 chains, 200 + 200, seed 3.
fn run(name: &str) -> Fixture {
    let dir = root().join("tests/data/repl");
    let source = std::fs::read_to_string(dir.join(format!("{name}.mmi"))).unwrap();
    let json = std::fs::read_to_string(dir.join(format!("{name}.data.json"))).unwrap();
    let model = common::compile(&source, &json, &mmi::passes::Settings::default());
    let settings = mmi::infer::sample::SampleSettings {
        chains: 2,
        warmup: 200,
        draws: 200,
        seed: 3,
        ..Default::default()
    };
    let chains =
        mmi::infer::sample::sample(&model, &settings, &AtomicBool::new(false), &|_, _| {}).unwrap();
    let first = mmi::infer::sample::SAMPLER_COLUMNS.len();
    let draws = Draws {
        names: output_names(&model),
        chains: chains
            .iter()
            .map(|c| c.rows.iter().map(|r| r[first..].to_vec()).collect())
            .collect(),
    };
    Fixture {
        source,
        model,
        draws,
    }
}

fn labels(f: &Fixture) -> Labels {
    Labels::new(&f.source, &mmi::syntax::parse(&f.source).unwrap())
}

fn inputs<'a>(f: &'a Fixture, labels: &'a Labels, draws: bool) -> Inputs<'a> {
    Inputs {
        model: &f.model,
        labels,
        model_name: "test",
        draws: draws.then_some(&f.draws),
        mode: None,
        report: None,
        seed: 3,
    }
}

/// The width and height a PNG declares in its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// Checks that `svg` is well-formed XML (every element closed in order) and returns the root's
/// width and height attributes.
fn svg_size(svg: &str) -> (u32, u32) {
    let mut stack: Vec<String> = vec![];
    let mut rest = svg;
    let mut root: Option<String> = None;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("every tag is closed") + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "tags nest");
            continue;
        }
        let name = tag
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        if root.is_none() {
            root = Some(tag.to_string());
        }
        if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    let root = root.expect("an element");
    assert!(root.starts_with("svg"), "{root}");
    let attr = |a: &str| -> u32 {
        let at = root
            .find(&format!(" {a}=\""))
            .unwrap_or_else(|| panic!("{a} in {root}"))
            + a.len()
            + 3;
        root[at..].split('"').next().unwrap().parse().unwrap()
    };
    (attr("width"), attr("height"))
}

fn check_file(path: &Path, size: (u32, u32)) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() > 4000,
        "{} has only {} bytes",
        path.display(),
        bytes.len()
    );
    if path.extension().unwrap() == "png" {
        assert_eq!(png_size(&bytes), size, "{}", path.display());
    } else {
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(svg_size(&text), size, "{}", path.display());
        assert!(
            text.contains("<text"),
            "the SVG has text: {}",
            path.display()
        );
    }
}

fn draw(req: &str, inp: &Inputs) -> PathBuf {
    let words: Vec<&str> = req.split_whitespace().collect();
    let r = Request::parse(&words).unwrap();
    match render(&r, inp).unwrap() {
        Output::Written(p) => p,
        Output::Text(_) => panic!("{req} printed text"),
    }
}

#[test]
fn every_kind_writes_png_and_svg() {
    let f = run("two_sensors");
    let l = labels(&f);
    let inp = inputs(&f, &l, true);
    let dir = out_dir("kinds");
    for ext in ["png", "svg"] {
        for (kind, panels) in [("trace v sigma_b", 2u32), ("density v sigma_b power", 3)] {
            let path = dir.join(format!("{}.{ext}", kind.split(' ').next().unwrap()));
            draw(&format!("{kind} {}", path.display()), &inp);
            let width = if kind.starts_with("trace") { 1000 } else { 900 };
            check_file(&path, (width, 60 + mmi::plot::trace::PANEL_HEIGHT * panels));
        }
        let path = dir.join(format!("contributions.{ext}"));
        draw(&format!("contributions {}", path.display()), &inp);
        let fig = mmi::plot::inputs::contributions_figure(&inp).unwrap();
        assert_eq!(fig.panels.len(), 2, "alone and on top of the others");
        check_file(&path, fig.size());
        let path = dir.join(format!("compare.{ext}"));
        draw(&format!("compare v {}", path.display()), &inp);
        let fig = compare_figure(&Request::parse(&["compare", "v"]).unwrap(), &inp).unwrap();
        check_file(&path, fig.size());
    }
    let g = run("field");
    let l = labels(&g);
    let inp = inputs(&g, &l, true);
    for ext in ["png", "svg"] {
        let path = dir.join(format!("field.{ext}"));
        draw(&format!("field T {}", path.display()), &inp);
        check_file(&path, (1120, 520));
    }
}

#[test]
fn field_maps_are_the_draws_mean_and_sd_cell_by_cell() {
    let f = run("field3d");
    let l = labels(&f);
    let inp = inputs(&f, &l, true);
    let names = &f.draws.names;
    let all: Vec<&Vec<f64>> = f.draws.chains.iter().flatten().collect();
    let column = |name: &str| -> Vec<f64> {
        let j = names.iter().position(|n| n == name).unwrap();
        all.iter().map(|r| r[j]).collect()
    };
    // T is 5 x 4 x 3; a slice holds one axis fixed and maps the other two, first across.
    for (slice, (rows, cols)) in [("3=2", (5, 4)), ("1=4", (4, 3)), ("2=1", (5, 3))] {
        let req = Request::parse(&["field", "T", "--slice", slice]).unwrap();
        let fig = field_figure(&req, &inp).unwrap();
        assert_eq!((fig.rows, fig.cols), (rows, cols), "{slice}");
        let (axis, index): (usize, usize) = {
            let (a, i) = slice.split_once('=').unwrap();
            (a.parse().unwrap(), i.parse().unwrap())
        };
        for i in 0..rows {
            for j in 0..cols {
                let mut idx = vec![];
                let mut free = [i + 1, j + 1].into_iter();
                for a in 1..=3 {
                    idx.push(if a == axis {
                        index
                    } else {
                        free.next().unwrap()
                    });
                }
                let v = column(&format!("T[{},{},{}]", idx[0], idx[1], idx[2]));
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64)
                    .sqrt();
                let k = i * cols + j;
                assert!(
                    (fig.maps[0].values[k] - mean).abs() < 1e-12,
                    "{slice} ({i},{j})"
                );
                assert!(
                    (fig.maps[1].values[k] - sd).abs() < 1e-12,
                    "{slice} ({i},{j})"
                );
            }
        }
    }
    // Outside the field, and a 2-D slice of nothing, are errors, not panics.
    let bad = Request::parse(&["field", "T", "--slice", "3=4"]).unwrap();
    assert!(field_figure(&bad, &inp).err().unwrap().contains("outside"));
    let bad = Request::parse(&["field", "T", "--slice", "4=1"]).unwrap();
    assert!(field_figure(&bad, &inp).is_err());
}

#[test]
fn the_joint_curve_of_a_conjugate_model_is_its_closed_form_posterior() {
    // mu ~ normal(1, 2); y_i ~ normal(mu, 0.5): the posterior is normal with precision 1/4 + n/0.25.
    let y = [1.9, 2.4, 2.2, 1.6, 2.05];
    let source = "data { n: int > 0\n y: vector[n] }\nlatent { mu: real ~ normal(1, 2) }\nmodality m { y ~ normal(mu, 0.5) }\n";
    let json = format!("{{\"n\": 5, \"y\": {y:?}}}");
    let model = common::compile(source, &json, &mmi::passes::Settings::default());
    let labels = Labels::default();
    let inp = Inputs {
        model: &model,
        labels: &labels,
        model_name: "conjugate",
        draws: None,
        mode: None,
        report: None,
        seed: 5,
    };
    let fig = compare_figure(&Request::parse(&["compare", "mu"]).unwrap(), &inp).unwrap();
    let precision = 1.0 / 4.0 + y.len() as f64 / 0.25;
    let mean = (1.0 / 4.0 + y.iter().sum::<f64>() / 0.25) / precision;
    let sd = precision.powf(-0.5);
    let joint = fig.curves.iter().find(|c| c.label == "joint").unwrap();
    // 4000 Laplace draws: the mean within 5 standard errors, the sd within 5%.
    assert!(
        (joint.mean - mean).abs() < 5.0 * sd / 4000f64.sqrt(),
        "{} vs {mean}",
        joint.mean
    );
    assert!((joint.sd / sd - 1.0).abs() < 0.05, "{} vs {sd}", joint.sd);
    // The curve is a density: it integrates to about 1 over its grid (trapezoids).
    let integral: f64 = joint
        .x
        .windows(2)
        .zip(joint.density.windows(2))
        .map(|(x, d)| 0.5 * (x[1] - x[0]) * (d[0] + d[1]))
        .sum();
    assert!((integral - 1.0).abs() < 0.02, "{integral}");
    // And the prior is the prior: mean 1, sd 2.
    let prior = fig.curves.iter().find(|c| c.label == "prior").unwrap();
    assert!(
        (prior.mean - 1.0).abs() < 5.0 * 2.0 / 4000f64.sqrt()
            && (prior.sd / 2.0 - 1.0).abs() < 0.05
    );
}

#[test]
fn text_fallbacks_print_without_a_file() {
    let f = run("two_sensors");
    let l = labels(&f);
    let inp = inputs(&f, &l, true);
    for req in ["trace v", "density v", "compare v", "contributions"] {
        let words: Vec<&str> = req.split_whitespace().collect();
        match render(&Request::parse(&words).unwrap(), &inp).unwrap() {
            Output::Text(t) => assert!(t.lines().count() >= 3, "{req}: {t}"),
            Output::Written(_) => panic!("{req} wrote a file"),
        }
    }
    // Without draws, trace plots say what is missing.
    let inp = inputs(&f, &l, false);
    let err = render(&Request::parse(&["trace", "v"]).unwrap(), &inp)
        .err()
        .unwrap();
    assert!(err.contains("sample first"), "{err}");
}

#[test]
fn mmi_plot_from_the_command_line() {
    let dir = out_dir("cli");
    let draws = dir.join("draws");
    let mmi = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmi"))
            .args(args)
            .current_dir(root())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let model = "tests/data/repl/two_sensors.mmi";
    let (code, _, err) = mmi(&[
        "sample",
        model,
        "--chains",
        "2",
        "--warmup",
        "200",
        "--draws",
        "200",
        "--seed",
        "2",
        "--quiet",
        "--output",
        draws.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let png = dir.join("trace.png");
    let (code, _, err) = mmi(&[
        "plot",
        "trace",
        model,
        "v",
        "--draws",
        draws.to_str().unwrap(),
        "--output",
        png.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    check_file(&png, (1000, 60 + mmi::plot::trace::PANEL_HEIGHT));
    let (code, out, err) = mmi(&[
        "plot",
        "density",
        model,
        "sigma_b",
        "--draws",
        draws.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sigma_b (V) (400 draws)"), "{out}");
    // Field maps of the mode need no draws.
    let (code, out, err) = mmi(&["plot", "field", "tests/data/repl/field.mmi", "T"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("posterior mode"), "{out}");
    // Mistakes are messages with exit codes, not panics.
    let (code, _, err) = mmi(&["plot", "trace", model, "v"]);
    assert_eq!(code, 1);
    assert!(err.contains("sample first"), "{err}");
    let (code, _, err) = mmi(&["plot", "histogram", model]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown plot kind"), "{err}");
    let (code, _, err) = mmi(&[
        "plot",
        "trace",
        model,
        "--draws",
        draws.to_str().unwrap(),
        "--output",
        "x.jpg",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains(".png or .svg"), "{err}");
}
