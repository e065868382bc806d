//! From a compiled model and what was computed with it (draws, a mode, a per-modality report) to the
//! figures: which quantities a request names, per-chain draws, field means and sds, contribution
//! bars, Laplace densities. Shared by `mmi plot` and the REPL's `:plot`.

use super::compare::{CompareFigure, Curve};
use super::contributions::{Contributions, Panel};
use super::field::{FieldFigure, Map};
use super::kde::{grid, weighted_quantile};
use super::labels::{base_name, Labels};
use super::trace::Series;
use crate::eval::model::element_names;
use crate::eval::CompiledModel;
use crate::infer::laplace::laplace;
use crate::infer::lbfgs::{maximise, LbfgsSettings};
use crate::infer::sample::{chain_rng, initial_point};
use crate::report::draws::{DrawsReport, KHAT_MAX};
use crate::report::modalities::{FitResult, ModalityReport};
use std::path::PathBuf;

/// The plot kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Trace,
    Density,
    Field,
    Contributions,
    Compare,
}

impl Kind {
    pub const ALL: [(&'static str, Kind, &'static str); 5] = [
        (
            "trace",
            Kind::Trace,
            "draws against iteration, one line per chain",
        ),
        (
            "density",
            Kind::Density,
            "marginal posterior densities, one curve per chain",
        ),
        (
            "field",
            Kind::Field,
            "posterior mean and sd maps of a 2-D field (or a slice of a 3-D one)",
        ),
        (
            "contributions",
            Kind::Contributions,
            "the per-modality report as bar charts",
        ),
        (
            "compare",
            Kind::Compare,
            "one latent under the prior, each modality alone, and all together",
        ),
    ];

    pub fn parse(word: &str) -> Option<Kind> {
        Kind::ALL
            .iter()
            .find(|(n, _, _)| *n == word)
            .map(|(_, k, _)| *k)
    }
}

/// What to plot: `KIND [NAME...] [--slice AXIS=INDEX] [FILE.png|FILE.svg]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub kind: Kind,
    pub names: Vec<String>,
    /// For 3-D fields: the axis held fixed and its index (both 1-based).
    pub slice: Option<(usize, usize)>,
    pub output: Option<PathBuf>,
}

impl Request {
    /// Parses the words after `:plot` (the REPL) or `mmi plot` (less the model and options).
    pub fn parse(words: &[&str]) -> Result<Request, String> {
        let Some(first) = words.first() else {
            return Err(format!("which plot? one of {}", kind_names()));
        };
        let kind = Kind::parse(first)
            .ok_or_else(|| format!("unknown plot kind `{first}`: one of {}", kind_names()))?;
        let mut req = Request {
            kind,
            names: vec![],
            slice: None,
            output: None,
        };
        let mut rest = words[1..].iter();
        while let Some(w) = rest.next() {
            if *w == "--slice" {
                let spec = rest
                    .next()
                    .ok_or("--slice needs AXIS=INDEX, e.g. --slice 3=1 (both 1-based)")?;
                req.slice = Some(parse_slice(spec)?);
            } else if let Some(spec) = w.strip_prefix("--slice=") {
                req.slice = Some(parse_slice(spec)?);
            } else if w.ends_with(".png") || w.ends_with(".svg") {
                req.output = Some(PathBuf::from(w));
            } else if w.starts_with('-') {
                return Err(format!("unknown option `{w}` (only --slice AXIS=INDEX)"));
            } else {
                req.names.push(w.to_string());
            }
        }
        Ok(req)
    }
}

fn kind_names() -> String {
    Kind::ALL
        .iter()
        .map(|(n, _, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_slice(spec: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--slice `{spec}`: write AXIS=INDEX, e.g. 3=1 (both 1-based)");
    let (a, i) = spec.split_once('=').ok_or_else(bad)?;
    let a: usize = a.trim().parse().map_err(|_| bad())?;
    let i: usize = i.trim().parse().map_err(|_| bad())?;
    if a == 0 || i == 0 {
        return Err(bad());
    }
    Ok((a, i))
}

/// Draws per chain of every latent and law element.
#[derive(Debug, Clone)]
pub struct Draws {
    /// Element names (`mu`, `T[2,3]`), latents then laws.
    pub names: Vec<String>,
    /// `chains[c][draw][column]`.
    pub chains: Vec<Vec<Vec<f64>>>,
}

impl Draws {
    fn column(&self, j: usize) -> Vec<Vec<f64>> {
        self.chains
            .iter()
            .map(|c| c.iter().map(|r| r[j]).collect())
            .collect()
    }
}

/// A per-modality report of either kind.
#[derive(Debug, Clone)]
pub enum AnyReport {
    Laplace(ModalityReport),
    Draws(DrawsReport),
}

/// Everything a plot may draw from.
pub struct Inputs<'a> {
    pub model: &'a CompiledModel,
    pub labels: &'a Labels,
    pub model_name: &'a str,
    pub draws: Option<&'a Draws>,
    /// Every latent and law element at the mode, in the order of `Draws::names`.
    pub mode: Option<&'a [f64]>,
    pub report: Option<&'a AnyReport>,
    pub seed: u64,
}

/// A drawn figure, or its text form.
pub enum Output {
    /// The file was written.
    Written(PathBuf),
    Text(String),
}

/// The names of every latent and law element, in draw-column order.
pub fn output_names(model: &CompiledModel) -> Vec<String> {
    let mut names = model.latent_names();
    for (name, node) in &model.graph.laws {
        names.extend(element_names(name, &model.graph.node(*node).shape));
    }
    names
}

/// The shape of a latent or law.
fn shape_of(model: &CompiledModel, name: &str) -> Option<Vec<usize>> {
    let g = &model.graph;
    g.latents
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.shape.clone())
        .or_else(|| {
            g.laws
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, node)| g.node(*node).shape.clone())
        })
}

/// Column indices of the requested names: an element name, or a whole latent or law; at most `max`.
fn select(
    names: &[String],
    wanted: &[String],
    default_latents: usize,
    max: usize,
) -> Result<(Vec<usize>, bool), String> {
    let mut cols = vec![];
    if wanted.is_empty() {
        cols.extend(0..default_latents.min(names.len()));
    }
    for w in wanted {
        let found: Vec<usize> = (0..names.len())
            .filter(|&j| names[j] == *w || (base_name(&names[j]) == w && !w.contains('[')))
            .collect();
        if found.is_empty() {
            let bases: Vec<&str> = names.iter().map(|n| base_name(n)).collect();
            let hint = crate::diagnostic::did_you_mean(w, bases)
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(format!("no latent or law `{w}` in the model{hint}"));
        }
        cols.extend(found);
    }
    let cut = cols.len() > max;
    cols.truncate(max);
    Ok((cols, cut))
}

/// Most panels of one trace or density figure.
pub const MAX_PANELS: usize = 8;

pub fn render(req: &Request, inp: &Inputs) -> Result<Output, String> {
    match req.kind {
        Kind::Trace | Kind::Density => {
            let draws = inp
                .draws
                .ok_or("no posterior draws to plot: sample first")?;
            let (cols, cut) = select(
                &draws.names,
                &req.names,
                inp.model.latent_names().len(),
                MAX_PANELS,
            )?;
            let series: Vec<Series> = cols
                .iter()
                .map(|&j| Series {
                    name: draws.names[j].clone(),
                    axis: inp.labels.axis(&draws.names[j]),
                    chains: draws.column(j),
                })
                .collect();
            let what = if req.kind == Kind::Trace {
                "trace"
            } else {
                "posterior density"
            };
            let mut title = format!("{what} of {}", inp.model_name);
            if cut {
                title.push_str(&format!(" (first {MAX_PANELS} quantities)"));
            }
            match (&req.output, req.kind) {
                (Some(p), Kind::Trace) => {
                    super::save(&super::trace::TraceFigure { title, series }, p)
                        .map(|_| Output::Written(p.clone()))
                }
                (Some(p), _) => super::save(&super::density::DensityFigure { title, series }, p)
                    .map(|_| Output::Written(p.clone())),
                (None, Kind::Trace) => Ok(Output::Text(super::text::traces(&series))),
                (None, _) => Ok(Output::Text(super::text::histograms(&series))),
            }
        }
        Kind::Field => {
            let fig = field_figure(req, inp)?;
            match &req.output {
                Some(p) => super::save(&fig, p).map(|_| Output::Written(p.clone())),
                None => Ok(Output::Text(super::text::field(&fig))),
            }
        }
        Kind::Contributions => {
            let fig = contributions_figure(inp)?;
            match &req.output {
                Some(p) => super::save(&fig, p).map(|_| Output::Written(p.clone())),
                None => Ok(Output::Text(super::text::contributions(&fig))),
            }
        }
        Kind::Compare => {
            let fig = compare_figure(req, inp)?;
            match &req.output {
                Some(p) => super::save(&fig, p).map(|_| Output::Written(p.clone())),
                None => Ok(Output::Text(super::text::compare(&fig))),
            }
        }
    }
}

/// The contribution bars: of the session's report if there is one, else from Laplace fits (both
/// panels; exact for linear-Gaussian models), or from the draws where the joint posterior has no
/// proper mode.
pub fn contributions_figure(inp: &Inputs) -> Result<Contributions, String> {
    let computed;
    let report = match inp.report {
        Some(r) => r,
        None => {
            let laplace = Inputs {
                draws: None,
                ..*inp
            };
            computed = match compute_report(&laplace)? {
                AnyReport::Laplace(r)
                    if matches!(r.joint, FitResult::Undetermined(_)) && inp.draws.is_some() =>
                {
                    compute_report(inp)?
                }
                r => r,
            };
            &computed
        }
    };
    contributions(report, inp.model_name)
}

/// The per-modality report from the draws when there are some, else from Laplace fits.
pub fn compute_report(inp: &Inputs) -> Result<AnyReport, String> {
    if inp.model.graph.modalities.is_empty() {
        return Err("the model declares no modality: there are no contributions to show".into());
    }
    match inp.draws {
        Some(d) => {
            let k = inp.model.latent_names().len();
            let rows: Vec<Vec<f64>> = d.chains.iter().flatten().map(|r| r[..k].to_vec()).collect();
            crate::report::draws::draws_report(inp.model, &rows, inp.seed, None)
                .map(AnyReport::Draws)
        }
        None => Ok(AnyReport::Laplace(
            crate::report::modalities::modality_report(inp.model, inp.seed),
        )),
    }
}

/// The contribution bars of a report.
pub fn contributions(report: &AnyReport, model_name: &str) -> Result<Contributions, String> {
    match report {
        AnyReport::Laplace(r) => {
            let sd = |f: &FitResult| match f {
                FitResult::Fit(f) => Some(f.sd.clone()),
                FitResult::Undetermined(_) => None,
            };
            let prior = sd(&r.prior);
            let joint = sd(&r.joint);
            let alone: Vec<Vec<Option<f64>>> = r
                .rows
                .iter()
                .map(|row| {
                    r.single
                        .iter()
                        .map(|s| Some(row.reduction(sd(s).as_ref()?, prior.as_ref()?)))
                        .collect()
                })
                .collect();
            let on_top: Vec<Vec<Option<f64>>> = r
                .rows
                .iter()
                .map(|row| {
                    r.leave_out
                        .iter()
                        .map(|lo| Some(row.reduction(joint.as_ref()?, sd(lo).as_ref()?)))
                        .collect()
                })
                .collect();
            let why = |f: &FitResult, what: String| match f {
                FitResult::Undetermined(why) => Some(format!("{what}: not determined ({why})")),
                FitResult::Fit(_) => None,
            };
            let mut alone_notes: Vec<String> = why(&r.prior, "the prior alone".into())
                .into_iter()
                .collect();
            // The report's self-check: bars from a Gaussian that does not describe the posterior.
            if let Some(k) = r.laplace_khat.filter(|k| k.is_nan() || *k > KHAT_MAX) {
                alone_notes.insert(
                    0,
                    format!(
                        "the Laplace approximation does not describe this posterior (k-hat \
                         {k:.2} > {KHAT_MAX}): the bars may be far off; sample for the draws' report"
                    ),
                );
            }
            alone_notes.extend(
                r.modalities
                    .iter()
                    .zip(&r.single)
                    .filter_map(|(m, f)| why(f, format!("{m} alone"))),
            );
            let mut top_notes: Vec<String> =
                why(&r.joint, "all modalities".into()).into_iter().collect();
            top_notes.extend(
                r.modalities
                    .iter()
                    .zip(&r.leave_out)
                    .filter_map(|(m, f)| why(f, format!("all but {m}"))),
            );
            let mut panels = vec![Panel {
                title: "share of the prior variance each modality removes alone".into(),
                values: alone,
                notes: alone_notes,
            }];
            if r.modalities.len() > 1 {
                panels.push(Panel {
                    title:
                        "share of the remaining variance each modality removes on top of the others"
                            .into(),
                    values: on_top,
                    notes: top_notes,
                });
            }
            Ok(Contributions {
                title: format!("what each modality contributes to {model_name} (Laplace fits)"),
                rows: r.rows.iter().map(|r| r.label.clone()).collect(),
                modalities: r.modalities.clone(),
                panels,
            })
        }
        AnyReport::Draws(r) => {
            if r.modalities.len() < 2 {
                return Err("from draws, contributions compare each modality with the others: the model has only one".into());
            }
            let reliable = |lo: &crate::report::draws::Reweighted| {
                lo.refit || lo.khat <= crate::report::draws::KHAT_MAX
            };
            let values = r
                .rows
                .iter()
                .map(|row| {
                    r.leave_out
                        .iter()
                        .map(|lo| reliable(lo).then(|| row.reduction(&r.joint_sd, &lo.sd)))
                        .collect()
                })
                .collect();
            Ok(Contributions {
                title: format!(
                    "what each modality contributes to {model_name} ({} posterior draws, PSIS)",
                    r.draws
                ),
                rows: r.rows.iter().map(|r| r.label.clone()).collect(),
                modalities: r.modalities.clone(),
                panels: vec![Panel {
                    title: "share of the remaining variance each modality removes on top of the others".into(),
                    values,
                    notes: r
                        .modalities
                        .iter()
                        .zip(&r.leave_out)
                        .filter(|(_, lo)| !reliable(lo))
                        .map(|(m, lo)| format!(
                            "no bars for {m}: leaving it out moves the posterior too far for reweighted draws (k-hat {:.2} > {})",
                            lo.khat,
                            crate::report::draws::KHAT_MAX
                        ))
                        .collect(),
                }],
            })
        }
    }
}

/// Mean and sd maps of a 2-D field or a slice of a 3-D one (or the map of the mode, without draws).
pub fn field_figure(req: &Request, inp: &Inputs) -> Result<FieldFigure, String> {
    let [name] = req.names.as_slice() else {
        return Err("name one field: `field NAME [--slice AXIS=INDEX]`".into());
    };
    let shape = shape_of(inp.model, name)
        .ok_or_else(|| format!("no latent or law `{name}` in the model"))?;
    if !(2..=3).contains(&shape.len()) {
        return Err(format!(
            "`{name}` has {} axes: field plots draw 2-D quantities and slices of 3-D ones",
            shape.len()
        ));
    }
    let names = output_names(inp.model);
    let first = names
        .iter()
        .position(|n| base_name(n) == name)
        .ok_or_else(|| format!("`{name}` is not among the outputs"))?;
    let total: usize = shape.iter().product();
    // Which flat elements the map shows, row-major over the two remaining axes.
    let (rows, cols, cells, axes, sliced) = if shape.len() == 2 {
        if req.slice.is_some() {
            return Err(format!("`{name}` is 2-D: it needs no --slice"));
        }
        (
            shape[0],
            shape[1],
            (0..total).collect::<Vec<_>>(),
            (1, 2),
            String::new(),
        )
    } else {
        let (axis, index) = req.slice.unwrap_or((3, 1));
        if axis > 3 || index > shape[axis - 1] {
            return Err(format!(
                "--slice {axis}={index} is outside `{name}`, whose shape is {shape:?} (axis and index are 1-based)"
            ));
        }
        let keep: Vec<usize> = (0..3).filter(|&a| a != axis - 1).collect();
        let (r, c) = (shape[keep[0]], shape[keep[1]]);
        let mut cells = Vec::with_capacity(r * c);
        for i in 0..r {
            for j in 0..c {
                let mut idx = [0usize; 3];
                idx[keep[0]] = i;
                idx[keep[1]] = j;
                idx[axis - 1] = index - 1;
                cells.push((idx[0] * shape[1] + idx[1]) * shape[2] + idx[2]);
            }
        }
        (
            r,
            c,
            cells,
            (keep[0] + 1, keep[1] + 1),
            format!(", slice {index} of axis {axis}"),
        )
    };
    let unit = inp
        .labels
        .get(name)
        .and_then(|l| l.unit.clone())
        .map(|u| format!(" ({u})"))
        .unwrap_or_default();
    let maps = match (inp.draws, inp.mode) {
        (Some(d), _) => {
            let (mut mean, mut sd) = (vec![], vec![]);
            for &c in &cells {
                let v: Vec<f64> = d.chains.iter().flatten().map(|r| r[first + c]).collect();
                let m = v.iter().sum::<f64>() / v.len() as f64;
                let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>()
                    / (v.len() as f64 - 1.0).max(1.0);
                mean.push(m);
                sd.push(var.sqrt());
            }
            vec![
                Map {
                    title: "posterior mean".into(),
                    value_label: format!("mean of {name}{unit}"),
                    values: mean,
                },
                Map {
                    title: "posterior sd".into(),
                    value_label: format!("sd of {name}{unit}"),
                    values: sd,
                },
            ]
        }
        (None, Some(mode)) => vec![Map {
            title: "posterior mode".into(),
            value_label: format!("{name}{unit}"),
            values: cells.iter().map(|&c| mode[first + c]).collect(),
        }],
        (None, None) => return Err("nothing to map yet: find the mode or sample first".into()),
    };
    Ok(FieldFigure {
        title: format!("{}{sliced}", inp.labels.title(name)),
        rows,
        cols,
        x_label: format!("index along axis {}", axes.0),
        y_label: format!("index along axis {}", axes.1),
        maps,
    })
}

/// Draws of every latent and law element from the Laplace approximation of the posterior with these
/// modality weights (at the mode of the Jacobian-adjusted density in the unconstrained space).
pub fn laplace_draws(
    model: &CompiledModel,
    weights: &[f64],
    seed: u64,
    n: usize,
) -> Result<Vec<Vec<f64>>, String> {
    let mut ev = model.evaluator();
    for (k, w) in weights.iter().enumerate() {
        ev.set_modality_weight(k, *w);
    }
    let mut rng = chain_rng(seed, 0);
    let x0 = initial_point(&mut ev, &mut rng, 2.0).ok_or("no finite starting point")?;
    let mode = maximise(&mut ev, &x0, &LbfgsSettings::default())
        .map_err(|e| e.to_string())?
        .x;
    let lap = laplace(&mut ev, &mode)?;
    Ok(lap
        .draws(n, seed)
        .iter()
        .filter_map(|x| ev.constrain(x).ok())
        .map(|outs| outs.into_iter().flat_map(|o| o.values).collect())
        .collect())
}

/// Laplace draws per density curve.
const COMPARE_DRAWS: usize = 4000;

/// One quantity under the prior, each modality alone and all together.
pub fn compare_figure(req: &Request, inp: &Inputs) -> Result<CompareFigure, String> {
    let [name] = req.names.as_slice() else {
        return Err("name one latent or law element: `compare NAME`".into());
    };
    let names = output_names(inp.model);
    let j = match names.iter().position(|n| n == name) {
        Some(j) => j,
        None => {
            let elems: Vec<&String> = names.iter().filter(|n| base_name(n) == name).collect();
            match elems.len() {
                0 => {
                    return Err(select(&names, std::slice::from_ref(name), 0, 1)
                        .err()
                        .unwrap_or_default())
                }
                _ => {
                    return Err(format!(
                        "`{name}` has {} elements: name one, e.g. `{}`",
                        elems.len(),
                        elems[0]
                    ))
                }
            }
        }
    };
    let g = &inp.model.graph;
    let base: Vec<f64> = g.modalities.iter().map(|m| m.weight).collect();
    let only = |k: Option<usize>| -> Vec<f64> {
        (0..base.len())
            .map(|i| if Some(i) == k { base[i] } else { 0.0 })
            .collect()
    };
    let mut samples: Vec<(String, bool, Result<Vec<f64>, String>)> = vec![];
    let column = |rows: Result<Vec<Vec<f64>>, String>| {
        rows.map(|r| r.iter().map(|r| r[j]).collect::<Vec<f64>>())
    };
    samples.push((
        "prior".into(),
        true,
        column(laplace_draws(
            inp.model,
            &only(None),
            inp.seed,
            COMPARE_DRAWS,
        )),
    ));
    for (k, m) in g.modalities.iter().enumerate() {
        samples.push((
            format!("{} alone", m.name),
            false,
            column(laplace_draws(
                inp.model,
                &only(Some(k)),
                inp.seed,
                COMPARE_DRAWS,
            )),
        ));
    }
    let mut notes = vec![];
    match inp.draws {
        Some(d) => {
            let v: Vec<f64> = d.chains.iter().flatten().map(|r| r[j]).collect();
            samples.push(("joint (NUTS draws)".into(), false, Ok(v)));
            notes.push("prior and single-modality curves: Laplace approximations; joint: the posterior draws".to_string());
        }
        None => {
            samples.push((
                "joint".into(),
                false,
                column(laplace_draws(inp.model, &base, inp.seed, COMPARE_DRAWS)),
            ));
            notes.push("every curve is a Laplace approximation (sample first for the joint posterior's draws)".to_string());
        }
    }
    // The range: where the posterior curves live, with room; the prior is drawn within it.
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for (_, prior, s) in &samples {
        if let (false, Ok(v)) = (prior, s) {
            if v.is_empty() {
                continue;
            }
            let ones = vec![1.0; v.len()];
            lo = lo.min(weighted_quantile(v, &ones, 0.002));
            hi = hi.max(weighted_quantile(v, &ones, 0.998));
        }
    }
    if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
        if let Some((_, _, Ok(v))) = samples.first() {
            let ones = vec![1.0; v.len()];
            lo = weighted_quantile(v, &ones, 0.002);
            hi = weighted_quantile(v, &ones, 0.998);
        }
    }
    if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
        return Err(format!("no fit determines `{name}`"));
    }
    let pad = 0.25 * (hi - lo);
    let common = grid(lo - pad, hi + pad, 300);
    let mut curves = vec![];
    for (label, dashed, s) in samples {
        match s {
            Ok(v) if !v.is_empty() => {
                // The common grid, refined over the curve's own range: a sharp curve is resolved even
                // beside a wide one.
                let ones = vec![1.0; v.len()];
                let (a, b) = (
                    weighted_quantile(&v, &ones, 0.001),
                    weighted_quantile(&v, &ones, 0.999),
                );
                let h = super::kde::silverman(&v, None);
                let mut x: Vec<f64> = common.clone();
                let step = common[1] - common[0];
                if b - a + 6.0 * h < 40.0 * step {
                    x.extend(
                        grid(a - 3.0 * h, b + 3.0 * h, 200)
                            .into_iter()
                            .filter(|p| *p >= common[0] && *p <= common[common.len() - 1]),
                    );
                    x.sort_by(f64::total_cmp);
                }
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                    / (v.len() as f64 - 1.0).max(1.0))
                .sqrt();
                curves.push(Curve {
                    label,
                    density: super::kde::kde_with_bandwidth(&v, None, h, &x),
                    x,
                    dashed,
                    mean,
                    sd,
                })
            }
            Ok(_) => notes.push(format!("{label}: no draws")),
            Err(why) => notes.push(format!("{label}: not determined ({why})")),
        }
    }
    Ok(CompareFigure {
        title: format!(
            "{}: prior, each modality alone, joint",
            inp.labels.title(name)
        ),
        axis: inp.labels.axis(name),
        curves,
        notes,
    })
}

/// Every latent and law element at the posterior mode (L-BFGS without the Jacobians, as `mmi map`).
pub fn mode_values(model: &CompiledModel, seed: u64) -> Result<Vec<f64>, String> {
    let mut ev = model.evaluator();
    ev.set_jacobian(false);
    let mut rng = chain_rng(seed, 0);
    let x0 = initial_point(&mut ev, &mut rng, 2.0).ok_or("no finite starting point")?;
    let x = match maximise(&mut ev, &x0, &LbfgsSettings::default()) {
        Ok(r) => r.x,
        Err(e) => return Err(e.to_string()),
    };
    let outs = ev.constrain(&x).map_err(|e| e.to_string())?;
    Ok(outs.into_iter().flat_map(|o| o.values).collect())
}
