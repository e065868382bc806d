//! The `mmi` command line. The only place where errors become exit codes: 0 success (perhaps with
//! warnings), 1 errors in the model, 2 usage or input/output errors.

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mmi",
    version,
    about = "Multi-modal inversion: one hidden state from many kinds of data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check a model; print its errors and warnings.
    Check {
        /// The model file (.mmi).
        model: PathBuf,
        /// Also print the checked model: every declaration with its resolved type and shape.
        #[arg(long)]
        print: bool,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Compile a model with its data and print the graph it runs (one node per line).
    Graph {
        /// The model file (.mmi).
        model: PathBuf,
        /// The data file (Stan JSON); by default MODEL.data.json beside the model.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Which graph: as lowered from the model, or after the optimisation passes.
        #[arg(long, value_enum, default_value_t = Stage::Optimised)]
        stage: Stage,
        /// Keep the constant terms of every log density (normalised densities).
        #[arg(long)]
        keep_constants: bool,
    },
    /// Sample the posterior with NUTS and print its summary.
    Sample(SampleArgs),
    /// Find the posterior mode with L-BFGS (optionally with a Laplace approximation around it).
    Map(MapArgs),
    /// Simulate data from a model: latents from --params or drawn from the prior, then every
    /// modality's data drawn from its likelihood; writes a Stan JSON data file.
    Simulate(SimulateArgs),
    /// What each modality contributes and whether the modalities agree (Laplace fits: the prior,
    /// each modality alone, all together, all but one).
    Report(ReportArgs),
    /// The marginal likelihood (evidence) of a model: Laplace at the mode, or bridge sampling.
    Evidence(EvidenceArgs),
    /// Compare models by their evidence on the same data: Bayes factors and model probabilities,
    /// jointly and for each modality alone.
    Compare(CompareArgs),
    /// An interactive session: load, edit, fit, sample, evaluate and plot a model (`:help` inside).
    Repl {
        /// The model file (.mmi) to start with.
        model: Option<PathBuf>,
        /// The data file (Stan JSON); by default MODEL.data.json beside the model.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Plot a run: trace, density, field, contributions or compare, to PNG or SVG (text without
    /// --output).
    Plot(PlotArgs),
}

/// Options of `mmi plot`.
#[derive(clap::Args)]
struct PlotArgs {
    /// trace | density (posterior draws per chain), field (mean and sd maps of a 2-D field or a slice
    /// of a 3-D one), contributions (the per-modality report), compare (one latent under the prior,
    /// each modality alone and all together).
    kind: String,
    /// The model file (.mmi).
    model: PathBuf,
    /// The quantities: latents, laws or elements (`T`, `sig[2]`); by default the first latents.
    names: Vec<String>,
    /// The data file (Stan JSON); by default MODEL.data.json beside the model.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The chains `mmi sample --output DIR` wrote (needed by trace and density; field maps the mode
    /// without them; contributions and compare use Laplace fits without them).
    #[arg(long, value_name = "DIR")]
    draws: Option<PathBuf>,
    /// For a 3-D field: the axis held fixed and its index, both 1-based (default 3=1).
    #[arg(long, value_name = "AXIS=INDEX")]
    slice: Option<String>,
    /// The image to write (.png or .svg); without it, a text rendering is printed.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Random seed of the optimiser's starting points and of the Laplace draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// How the evidence is estimated.
#[derive(Clone, Copy, clap::ValueEnum)]
enum EvidenceMethod {
    /// Laplace at the mode: fast, exact for linear-Gaussian models, no error estimate.
    Laplace,
    /// Bridge sampling from NUTS draws, with its Monte Carlo error.
    Bridge,
}

/// Options of `mmi evidence`.
#[derive(clap::Args)]
struct EvidenceArgs {
    /// The model file (.mmi).
    model: PathBuf,
    /// The data file (Stan JSON); by default MODEL.data.json beside the model.
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = EvidenceMethod::Bridge)]
    method: EvidenceMethod,
    /// Random seed of the sampler (bridge) or the optimiser's start (laplace).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Options of `mmi compare`.
#[derive(clap::Args)]
struct CompareArgs {
    /// Two or more model files (.mmi), compared on the same data.
    #[arg(required = true, num_args = 2..)]
    models: Vec<PathBuf>,
    /// The data file all models are fitted to; by default each model's MODEL.data.json, which must
    /// then hold the same data.
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = EvidenceMethod::Bridge)]
    method: EvidenceMethod,
    /// Prior model probabilities, one per model (normalised); equal by default.
    #[arg(long, num_args = 1.., value_name = "P")]
    prior: Option<Vec<f64>>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the comparison as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Options of `mmi sample`.
#[derive(clap::Args)]
struct SampleArgs {
    /// The model file (.mmi).
    model: PathBuf,
    /// The data file (Stan JSON); by default MODEL.data.json beside the model.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Override the model's `combine` declaration, e.g. `--combine "tempered { ert: 0.5 }"`.
    #[arg(long, value_name = "RULE")]
    combine: Option<String>,
    /// Number of chains, run in parallel.
    #[arg(long, default_value_t = 4)]
    chains: usize,
    /// Warm-up iterations per chain (adaptation; not kept).
    #[arg(long, default_value_t = 1000)]
    warmup: usize,
    /// Kept draws per chain.
    #[arg(long, default_value_t = 1000)]
    draws: usize,
    /// Random seed (by default one is drawn and printed); the same seed gives the same draws.
    #[arg(long)]
    seed: Option<u64>,
    /// Write one CmdStan CSV per chain and summary.json into this directory.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Target acceptance statistic of step-size adaptation, in (0, 1).
    #[arg(long, default_value_t = 0.8)]
    adapt_delta: f64,
    /// Maximum tree depth (at most 2^depth - 1 leapfrog steps per draw).
    #[arg(long, default_value_t = 10)]
    max_depth: usize,
    /// The metric: `diag` (adapted diagonal, the default), `dense` (adapted dense, for correlated
    /// posteriors), `laplace` (the inverse Hessian at the mode, for badly conditioned nearly Gaussian
    /// posteriors; the chains start at draws of the Laplace approximation).
    #[arg(long, value_enum, default_value_t = MetricArg::Diag)]
    metric: MetricArg,
    /// Shorthand for --metric dense.
    #[arg(long)]
    dense: bool,
    /// After the summary, print the per-modality report (`mmi report`).
    #[arg(long)]
    report: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// Options of `mmi simulate`.
#[derive(clap::Args)]
struct SimulateArgs {
    /// The model file (.mmi).
    model: PathBuf,
    /// The input data file (Stan JSON; by default MODEL.data.json beside the model, if it exists):
    /// sizes and the non-simulated data are passed through; simulated variables may be left out.
    #[arg(long)]
    data: Option<PathBuf>,
    /// A truth file (the JSON form --truth-output writes) giving every latent by name; without it
    /// the latents are drawn from the prior.
    #[arg(long, value_name = "TRUTH.json")]
    params: Option<PathBuf>,
    /// Random seed (by default one is drawn and printed); the same seed gives the same files.
    #[arg(long)]
    seed: Option<u64>,
    /// Write the simulated data file here (by default to standard output).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Also write the latents and laws that generated the data here.
    #[arg(long, value_name = "FILE")]
    truth_output: Option<PathBuf>,
}

/// Options of `mmi report`.
#[derive(clap::Args)]
struct ReportArgs {
    /// The model file (.mmi).
    model: PathBuf,
    /// The data file (Stan JSON); by default MODEL.data.json beside the model.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Override the model's `combine` declaration, e.g. `--combine "tempered { ert: 0.5 }"`.
    #[arg(long, value_name = "RULE")]
    combine: Option<String>,
    /// Random seed of the optimiser's starting points and of the Laplace draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Report from the joint posterior draws in this directory (`mmi sample --output DIR`) instead of
    /// Laplace fits: reweighted single-modality and leave-one-out posteriors, predictive checks.
    #[arg(long, value_name = "DIR")]
    draws: Option<PathBuf>,
    /// With --draws: sample each combination of modalities that reweighting cannot reach (k-hat > 0.7)
    /// on its own (4 chains, 1000 warm-up, 1000 draws).
    #[arg(long, requires = "draws")]
    refit: bool,
}

/// Options of `mmi map`.
#[derive(clap::Args)]
struct MapArgs {
    /// The model file (.mmi).
    model: PathBuf,
    /// The data file (Stan JSON); by default MODEL.data.json beside the model.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Override the model's `combine` declaration, e.g. `--combine "tempered { ert: 0.5 }"`.
    #[arg(long, value_name = "RULE")]
    combine: Option<String>,
    /// Also draw N times from the Laplace approximation at the mode (in the unconstrained space, so
    /// the mode then includes the transforms' Jacobians) and summarise the draws.
    #[arg(long, value_name = "N")]
    laplace: Option<usize>,
    /// Include the Jacobians of the constraining transforms (the mode in the unconstrained space).
    #[arg(long)]
    jacobian: bool,
    /// Random seed of the initial point and of the Laplace draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Maximum L-BFGS iterations.
    #[arg(long, default_value_t = 2000)]
    iter: usize,
    /// How many past steps L-BFGS remembers; by default one per hundred coordinates, within [5, 100],
    /// and 5 from 200 000 coordinates up (where the memory's own work rivals a gradient's).
    #[arg(long, value_name = "N")]
    history: Option<usize>,
    /// Converged when an iteration changes the log density by less than this, relative to its
    /// magnitude (at least 1).
    #[arg(long, value_name = "TOL", value_parser = tolerance,
          default_value_t = mmi::infer::lbfgs::LbfgsSettings::default().tol_rel_obj)]
    tol_rel_obj: f64,
    /// Converged when the gradient's Euclidean norm is below this.
    #[arg(long, value_name = "TOL", value_parser = tolerance,
          default_value_t = mmi::infer::lbfgs::LbfgsSettings::default().tol_grad)]
    tol_grad: f64,
    /// Converged when an iteration moves the point by less than this, relative to its norm (at
    /// least 1).
    #[arg(long, value_name = "TOL", value_parser = tolerance,
          default_value_t = mmi::infer::lbfgs::LbfgsSettings::default().tol_rel_param)]
    tol_param: f64,
    /// Write map.csv (and laplace.csv) in CmdStan's format into this directory.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MetricArg {
    Diag,
    Dense,
    Laplace,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Stage {
    Lowered,
    Optimised,
}

fn main() -> ExitCode {
    // Output piped into `head` and closed early ends mmi quietly, as other command-line tools do,
    // instead of failing to print.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    // Deeply nested models recurse deeply; give the compiler a generous stack.
    let worker = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || run(cli))
        .expect("spawning the compiler thread");
    match worker.join() {
        Ok(code) => code,
        Err(_) => {
            eprintln!("internal error: mmi crashed. This is a bug in mmi; please report it with the model.");
            ExitCode::from(101)
        }
    }
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check {
            model,
            print,
            deny_warnings,
        } => check(&model, print, deny_warnings),
        Command::Graph {
            model,
            data,
            stage,
            keep_constants,
        } => graph(&model, data.as_deref(), stage, keep_constants),
        Command::Sample(args) => sample(args),
        Command::Map(args) => rayon::scope(|_| map(args)),
        Command::Simulate(args) => simulate(args),
        Command::Report(args) => report(args),
        Command::Evidence(args) => evidence(args),
        Command::Compare(args) => compare(args),
        Command::Repl { model, data } => ExitCode::from(mmi::repl::run(model, data)),
        Command::Plot(args) => plot(args),
    }
}

/// `mmi plot`: compiles the model, reads the draws if given, and draws the figure.
fn plot(args: PlotArgs) -> ExitCode {
    use mmi::plot::inputs::{render, Draws, Inputs, Kind, Output, Request};
    let mut words = vec![args.kind.clone()];
    words.extend(args.names.iter().cloned());
    if let Some(s) = &args.slice {
        words.extend(["--slice".to_string(), s.clone()]);
    }
    let words: Vec<&str> = words.iter().map(|w| w.as_str()).collect();
    let mut request = match Request::parse(&words) {
        Ok(r) if r.output.is_none() => r,
        Ok(_) => {
            eprintln!("error: give the image file with --output FILE");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(o) = &args.output {
        if let Err(e) = mmi::plot::Format::of(o) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    request.output = args.output.clone();
    let (source, checked, set) = match load(&args.model, args.data.as_deref(), None) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let name = args.model.display().to_string();
    let compiled = match mmi::compile(&checked, &set, &mmi::passes::Settings::default()) {
        Ok(c) => c,
        Err(diags) => {
            eprint!(
                "{}",
                mmi::diagnostic::render_all(&diags, &name, &source, use_color())
            );
            return ExitCode::from(1);
        }
    };
    let names = mmi::plot::inputs::output_names(&compiled);
    let draws = match &args.draws {
        Some(dir) => match mmi::report::csv::read_chains(dir, &names) {
            Ok(chains) => Some(Draws { names, chains }),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let mode = match (request.kind, &draws) {
        (Kind::Field, None) => match mmi::plot::inputs::mode_values(&compiled, args.seed) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("error: no mode to map: {e}");
                return ExitCode::from(1);
            }
        },
        _ => None,
    };
    let labels = mmi::plot::labels::Labels::new(&source, &checked.program);
    let stem = args
        .model
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model");
    let inputs = Inputs {
        model: &compiled,
        labels: &labels,
        model_name: stem,
        draws: draws.as_ref(),
        mode: mode.as_deref(),
        report: None,
        seed: args.seed,
    };
    match render(&request, &inputs) {
        Ok(Output::Written(p)) => {
            eprintln!("wrote {}", p.display());
            ExitCode::SUCCESS
        }
        Ok(Output::Text(t)) => {
            print!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// `mmi simulate`: checks the model, reads the input data and truth files, simulates
/// (`mmi::infer::simulate`) and writes the data (and truth) files.
fn simulate(args: SimulateArgs) -> ExitCode {
    use mmi::infer::simulate::SimError;
    let source = match read_text(&args.model) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let name = args.model.display().to_string();
    let render = |diags: &[mmi::Diagnostic]| {
        eprint!(
            "{}",
            mmi::diagnostic::render_all(diags, &name, &source, use_color())
        )
    };
    let out = mmi::check_source(&source);
    let Some(model) = out.model else {
        render(&out.diagnostics);
        return ExitCode::from(1);
    };
    let path = data_path(&args.model, args.data.as_deref());
    let json = if args.data.is_none() && !path.exists() {
        "{}".to_string()
    } else {
        match read_text(&path) {
            Ok(t) => t,
            Err(code) => return code,
        }
    };
    let params = match args.params.as_deref().map(read_text).transpose() {
        Ok(p) => p,
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or_else(|| {
        let seed = clock_seed();
        eprintln!("simulating {name} with seed {seed}");
        seed
    });
    let file = path.display().to_string();
    let sim = match mmi::infer::simulate::simulate(&model, &json, &file, params.as_deref(), seed) {
        Ok(s) => s,
        Err(SimError::Diagnostics(d)) => {
            render(&d);
            return ExitCode::from(1);
        }
        Err(SimError::Message(m)) => {
            eprintln!("error: {m}");
            return ExitCode::from(1);
        }
    };
    render(&sim.warnings);
    for n in &sim.notes {
        eprintln!("note: {n}");
    }
    let mut files = vec![];
    if let Some(t) = &args.truth_output {
        files.push((t, sim.truth_json()));
    }
    match &args.output {
        Some(o) => files.push((o, sim.data_json())),
        None => print!("{}", sim.data_json()),
    }
    for (p, text) in files {
        if let Err(e) = mmi::report::csv::write_atomic(p, &text) {
            eprintln!("error: cannot write {}: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// A convergence tolerance: a finite number, zero or more (zero switches that test off).
fn tolerance(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a tolerance (a number, zero or more)")),
    }
}

fn map(args: MapArgs) -> ExitCode {
    use mmi::infer::lbfgs::{maximise, LbfgsSettings, MapError};
    if args.laplace == Some(0) {
        eprintln!("error: --laplace needs at least 1 draw");
        return ExitCode::from(2);
    }
    let (name, compiled) =
        match load_and_compile(&args.model, args.data.as_deref(), args.combine.as_deref()) {
            Ok(x) => x,
            Err(code) => return code,
        };
    let jacobian = args.jacobian || args.laplace.is_some();
    let mut ev = compiled.evaluator();
    ev.set_jacobian(jacobian);
    let mut rng = mmi::infer::sample::chain_rng(args.seed, 0);
    let Some(x0) = mmi::infer::sample::initial_point(&mut ev, &mut rng, 2.0) else {
        eprintln!("error: no initial point with a finite log density and gradient after 100 tries");
        return ExitCode::from(1);
    };
    let settings = LbfgsSettings {
        max_iters: args.iter,
        history: args.history,
        tol_rel_obj: args.tol_rel_obj,
        tol_grad: args.tol_grad,
        tol_rel_param: args.tol_param,
    };
    let (result, converged) = match maximise(&mut ev, &x0, &settings) {
        Ok(r) => (r, true),
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                MapError::MaxIterations(best) | MapError::LineSearchFailed(best) => (*best, false),
                _ => return ExitCode::from(1),
            }
        }
    };
    let outputs = match ev.constrain(&result.x) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut names = vec![];
    let mut values = vec![];
    for o in &outputs {
        names.extend(mmi::eval::model::element_names(&o.name, &o.shape));
        values.extend(o.values.iter().copied());
    }
    let width = names.iter().map(|n| n.len()).max().unwrap_or(4).max(4);
    println!(
        "{} mode of {name} ({} iterations, {} evaluations){}",
        if jacobian {
            "unconstrained-space (Jacobian-adjusted)"
        } else {
            "posterior"
        },
        result.iterations,
        result.evaluations,
        if converged {
            ""
        } else {
            " -- NOT CONVERGED, best point so far"
        }
    );
    println!(
        "{:width$} {:>12}",
        "lp__",
        format!("{:.6}", result.log_density)
    );
    for (n, v) in names.iter().zip(&values) {
        println!("{n:width$} {v:>12.6}");
    }
    let mut laplace_rows: Vec<Vec<f64>> = vec![];
    if let Some(n) = args.laplace {
        match mmi::infer::laplace::laplace(&mut ev, &result.x) {
            Ok(lap) => {
                for x in lap.draws(n, args.seed) {
                    if let Ok(outs) = ev.constrain(&x) {
                        laplace_rows.push(outs.into_iter().flat_map(|o| o.values).collect());
                    }
                }
                println!("\nLaplace approximation ({} draws):", laplace_rows.len());
                println!(
                    "{:width$} {:>12} {:>12} {:>12} {:>12} {:>12}",
                    "", "mean", "sd", "5%", "50%", "95%"
                );
                for (j, n) in names.iter().enumerate() {
                    let col: Vec<f64> = laplace_rows.iter().map(|r| r[j]).collect();
                    let s = mmi::infer::diagnostics::summarize(&[col]);
                    println!(
                        "{n:width$} {:>12.5} {:>12.5} {:>12.5} {:>12.5} {:>12.5}",
                        s.mean, s.sd, s.q5, s.q50, s.q95
                    );
                }
            }
            Err(e) => {
                eprintln!("error: the Laplace approximation failed: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if let Some(dir) = &args.output {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: cannot create {}: {e}", dir.display());
            return ExitCode::from(2);
        }
        let header: Vec<String> = names
            .iter()
            .map(|n| mmi::report::csv::csv_name(n))
            .collect();
        let row: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
        let text = format!(
            "# model = {}\n# method = optimize\n#   optimize\n#     algorithm = lbfgs (Default)\n#     jacobian = {}\n#     iter = {}\n# random\n#   seed = {}\nlp__,{}\n{},{}\n",
            name, jacobian as u8, args.iter, args.seed, header.join(","), result.log_density, row.join(",")
        );
        if let Err(e) = mmi::report::csv::write_atomic(&dir.join("map.csv"), &text) {
            eprintln!("error: cannot write map.csv: {e}");
            return ExitCode::from(2);
        }
        if !laplace_rows.is_empty() {
            let mut text = format!(
                "# model = {name}\n# method = laplace\n{}\n",
                header.join(",")
            );
            for r in &laplace_rows {
                text.push_str(
                    &r.iter()
                        .map(|v| format!("{v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                text.push('\n');
            }
            if let Err(e) = mmi::report::csv::write_atomic(&dir.join("laplace.csv"), &text) {
                eprintln!("error: cannot write laplace.csv: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if converged {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Checks, loads and compiles a model with the default passes (and `combine` replaced when given),
/// printing every diagnostic; `Err` holds the exit code.
fn load_and_compile(
    model_path: &Path,
    data: Option<&Path>,
    combine: Option<&str>,
) -> Result<(String, mmi::eval::CompiledModel), ExitCode> {
    let (source, model, set) = load(model_path, data, combine)?;
    let name = model_path.display().to_string();
    let compiled =
        mmi::compile(&model, &set, &mmi::passes::Settings::default()).map_err(|diags| {
            eprint!(
                "{}",
                mmi::diagnostic::render_all(&diags, &name, &source, use_color())
            );
            ExitCode::from(1)
        })?;
    Ok((name, compiled))
}

fn sample(args: SampleArgs) -> ExitCode {
    if !(args.adapt_delta > 0.0 && args.adapt_delta < 1.0) {
        eprintln!(
            "error: --adapt-delta must be strictly between 0 and 1 (got {})",
            args.adapt_delta
        );
        return ExitCode::from(2);
    }
    if args.chains == 0 || args.max_depth == 0 || args.max_depth > 30 {
        eprintln!("error: --chains must be at least 1 and --max-depth between 1 and 30");
        return ExitCode::from(2);
    }
    let (name, compiled) =
        match load_and_compile(&args.model, args.data.as_deref(), args.combine.as_deref()) {
            Ok(x) => x,
            Err(code) => return code,
        };
    let seed = args.seed.unwrap_or_else(clock_seed);
    let settings = mmi::infer::sample::SampleSettings {
        chains: args.chains,
        warmup: args.warmup,
        draws: args.draws,
        seed,
        adapt_delta: args.adapt_delta,
        max_depth: args.max_depth,
        metric: match (args.dense, args.metric) {
            (true, _) | (_, MetricArg::Dense) => mmi::infer::sample::MetricKind::Dense,
            (_, MetricArg::Laplace) => mmi::infer::sample::MetricKind::Laplace,
            _ => mmi::infer::sample::MetricKind::Diag,
        },
        ..Default::default()
    };
    if let Some(dir) = &args.output {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: cannot create {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C while stopping ends the process the usual way.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    // One bar per chain on stderr; none when stderr is not a terminal or with --quiet.
    let bars = mmi::report::progress::chain_bars(
        &settings,
        !args.quiet && std::io::stderr().is_terminal(),
    );
    let progress = |chain: usize, it: usize| {
        if let Some(b) = bars.get(chain) {
            b.set_position(it as u64);
        }
    };
    eprintln!(
        "sampling {name}: {} chains, {} warm-up + {} draws each, seed {seed}",
        settings.chains, settings.warmup, settings.draws
    );
    let started = std::time::Instant::now();
    let chains = match mmi::infer::sample::sample(&compiled, &settings, &stop, &progress) {
        Ok(c) => c,
        Err(e) => {
            for b in &bars {
                b.abandon();
            }
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    for b in &bars {
        b.finish_and_clear();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let columns = mmi::infer::sample::column_names(&compiled);
    let summary = mmi::report::summary::summarise_run(&columns, &chains, &settings);
    print!("{}", summary.table());
    eprintln!("({elapsed:.2} s)");
    if let Some(dir) = &args.output {
        let data_file = data_path(&args.model, args.data.as_deref())
            .display()
            .to_string();
        let info = mmi::report::csv::RunInfo {
            model_name: args
                .model
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("model"),
            data_file: &data_file,
            metric: settings.metric.cmdstan_name(),
        };
        for (k, chain) in chains.iter().enumerate() {
            let text = mmi::report::csv::chain_csv(&columns, chain, k, &settings, &info);
            let path = dir.join(format!("chain_{}.csv", k + 1));
            if let Err(e) = mmi::report::csv::write_atomic(&path, &text) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
        let json =
            serde_json::to_string_pretty(&summary.json(&settings, elapsed)).unwrap_or_default();
        if let Err(e) = mmi::report::csv::write_atomic(&dir.join("summary.json"), &json) {
            eprintln!("error: cannot write summary.json: {e}");
            return ExitCode::from(2);
        }
        eprintln!(
            "wrote {} chain files and summary.json to {}",
            chains.len(),
            dir.display()
        );
    }
    if args.report {
        // From the draws just made; the latent columns follow the sampler's.
        let first = mmi::infer::sample::SAMPLER_COLUMNS.len();
        let count = compiled.latent_names().len();
        let draws: Vec<Vec<f64>> = chains
            .iter()
            .flat_map(|c| c.rows.iter().map(|r| r[first..first + count].to_vec()))
            .collect();
        match mmi::report::draws::draws_report(&compiled, &draws, seed, Some(&settings)) {
            Ok(r) => println!("\nper-modality report\n\n{}", r.table()),
            Err(e) => eprintln!("no per-modality report: {e}"),
        }
    }
    if summary.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads a text file, or says why not (exit code 2).
fn read_text(path: &Path) -> Result<String, ExitCode> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            eprintln!(
                "error: {} is not UTF-8 text (invalid byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            );
            ExitCode::from(2)
        }),
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            Err(ExitCode::from(2))
        }
    }
}

/// The data file for a model: the one given, or MODEL.data.json beside it.
fn data_path(model: &Path, data: Option<&Path>) -> PathBuf {
    match data {
        Some(d) => d.to_path_buf(),
        None => model.with_extension("data.json"),
    }
}

/// Checks and loads a model with its data, printing every diagnostic; `Err` holds the exit code.
fn load(
    model_path: &Path,
    data: Option<&Path>,
    combine: Option<&str>,
) -> Result<(String, mmi::CheckedModel, mmi::data::DataSet), ExitCode> {
    let mut source = read_text(model_path)?;
    if let Some(rule) = combine {
        source = mmi::syntax::edit::override_combine(&source, rule);
    }
    let name = model_path.display().to_string();
    let out = mmi::check_source(&source);
    let errors: Vec<_> = out
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        eprint!(
            "{}",
            mmi::diagnostic::render_all(&out.diagnostics, &name, &source, use_color())
        );
        eprintln!(
            "{name}: {} error{}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        return Err(ExitCode::from(1));
    }
    let model = out.model.expect("no errors means a model");
    let needs_data = !model.data.is_empty();
    let path = data_path(model_path, data);
    let json = if !needs_data && data.is_none() && !path.exists() {
        "{}".to_string()
    } else if data.is_none() && !path.exists() {
        eprintln!(
            "error: {name} declares data, but there is no {} (give the data file with --data FILE)",
            path.display()
        );
        return Err(ExitCode::from(2));
    } else {
        read_text(&path)?
    };
    match mmi::data::load(&model, &json, &path.display().to_string()) {
        Ok((set, warnings)) => {
            eprint!(
                "{}",
                mmi::diagnostic::render_all(&warnings, &name, &source, use_color())
            );
            Ok((source, model, set))
        }
        Err(diags) => {
            eprint!(
                "{}",
                mmi::diagnostic::render_all(&diags, &name, &source, use_color())
            );
            eprintln!("{}: the data do not fit the model", path.display());
            Err(ExitCode::from(1))
        }
    }
}

fn graph(model_path: &Path, data: Option<&Path>, stage: Stage, keep_constants: bool) -> ExitCode {
    let (source, model, set) = match load(model_path, data, None) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let name = model_path.display().to_string();
    let mut settings = match stage {
        Stage::Lowered => mmi::passes::Settings::none(),
        Stage::Optimised => mmi::passes::Settings::default(),
    };
    settings.keep_constants |= keep_constants;
    match mmi::compile(&model, &set, &settings) {
        Ok(compiled) => {
            print!("{}", mmi::ir::print::print(&compiled.graph));
            ExitCode::SUCCESS
        }
        Err(diags) => {
            eprint!(
                "{}",
                mmi::diagnostic::render_all(&diags, &name, &source, use_color())
            );
            ExitCode::from(1)
        }
    }
}

fn use_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn check(path: &Path, print: bool, deny_warnings: bool) -> ExitCode {
    let source = match read_text(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let name = path.display().to_string();
    let out = mmi::check_source(&source);
    eprint!(
        "{}",
        mmi::diagnostic::render_all(&out.diagnostics, &name, &source, use_color())
    );
    let errors = out.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = out.diagnostics.len() - errors;
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match out.model {
        Some(model) => {
            if print {
                print!("{}", mmi::check::dump::dump(&model));
            }
            println!(
                "{name}: ok ({}){}",
                model.summary(),
                if warnings > 0 {
                    format!(", {}", plural(warnings, "warning"))
                } else {
                    String::new()
                }
            );
            if deny_warnings && warnings > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        None => {
            eprintln!("{name}: {}", plural(errors, "error"));
            ExitCode::from(1)
        }
    }
}

fn report(args: ReportArgs) -> ExitCode {
    let (name, compiled) =
        match load_and_compile(&args.model, args.data.as_deref(), args.combine.as_deref()) {
            Ok(x) => x,
            Err(code) => return code,
        };
    if compiled.graph.modalities.is_empty() {
        eprintln!("error: {name} declares no modality: there is nothing to compare");
        return ExitCode::from(1);
    }
    let (table, json) = match &args.draws {
        Some(dir) => {
            let draws = match mmi::report::csv::read_draws(dir, &compiled.latent_names()) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let settings = mmi::infer::sample::SampleSettings {
                seed: args.seed,
                ..Default::default()
            };
            let refit = args.refit.then_some(&settings);
            match mmi::report::draws::draws_report(&compiled, &draws, args.seed, refit) {
                Ok(r) => (r.table(), r.json()),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        None => {
            let r = mmi::report::modalities::modality_report(&compiled, args.seed);
            (r.table(), r.json())
        }
    };
    println!("per-modality report of {name}\n");
    print!("{table}");
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        if let Err(e) = mmi::report::csv::write_atomic(path, &text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// Loads a model for its evidence: normalised densities, proper priors. `Err` holds the exit code.
fn load_normalised(
    model: &Path,
    data: Option<&Path>,
) -> Result<(String, mmi::eval::CompiledModel), ExitCode> {
    use mmi::infer::evidence::{compile_normalised, NotNormalised};
    let (source, checked, set) = load(model, data, None)?;
    let name = model.display().to_string();
    match compile_normalised(&checked, &set) {
        Ok(compiled) => Ok((name, compiled)),
        Err(NotNormalised::Compile(diags)) => {
            eprint!(
                "{}",
                mmi::diagnostic::render_all(&diags, &name, &source, use_color())
            );
            Err(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("error: {}", e.message(&name));
            Err(ExitCode::from(1))
        }
    }
}

impl From<EvidenceMethod> for mmi::infer::evidence::Method {
    fn from(m: EvidenceMethod) -> Self {
        match m {
            EvidenceMethod::Laplace => Self::Laplace,
            EvidenceMethod::Bridge => Self::Bridge,
        }
    }
}

fn evidence(args: EvidenceArgs) -> ExitCode {
    let (name, compiled) = match load_normalised(&args.model, args.data.as_deref()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let weights: Vec<f64> = compiled.graph.modalities.iter().map(|m| m.weight).collect();
    match mmi::infer::evidence::estimate(&compiled, &weights, args.method.into(), args.seed) {
        Ok(e) => {
            println!("log evidence of {name}: {}", e.describe());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: no evidence for {name}: {e}");
            ExitCode::from(1)
        }
    }
}

fn compare(args: CompareArgs) -> ExitCode {
    let n = args.models.len();
    let prior = match &args.prior {
        Some(p) if p.len() != n || p.iter().any(|x| !(x.is_finite() && *x > 0.0)) => {
            eprintln!("error: --prior needs {n} positive numbers, one per model");
            return ExitCode::from(2);
        }
        Some(p) => {
            let total: f64 = p.iter().sum();
            p.iter().map(|x| x / total).collect()
        }
        None => vec![1.0 / n as f64; n],
    };
    if args.data.is_none() {
        // Evidences are comparable only on the same data.
        let texts: Vec<Option<String>> = args
            .models
            .iter()
            .map(|m| std::fs::read_to_string(data_path(m, None)).ok())
            .collect();
        if let Some(k) = texts.iter().position(|t| t.is_none()) {
            eprintln!(
                "error: cannot read {} (give the data file all models are fitted to with --data FILE)",
                data_path(&args.models[k], None).display()
            );
            return ExitCode::from(2);
        }
        if texts.iter().any(|t| t != &texts[0]) {
            eprintln!(
                "error: the models' default data files differ (or are missing); evidences are \
                 comparable only on the same data: pass it with --data FILE"
            );
            return ExitCode::from(2);
        }
    }
    let mut results = vec![];
    for path in &args.models {
        let (name, compiled) = match load_normalised(path, args.data.as_deref()) {
            Ok(x) => x,
            Err(code) => return code,
        };
        let estimated = mmi::report::compare::ModelEvidence::estimate(
            &name,
            &compiled,
            args.method.into(),
            args.seed,
            |note| eprintln!("note: {note}"),
        );
        match estimated {
            Ok(e) => results.push(e),
            Err(e) => {
                eprintln!("error: no evidence for {name}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    print!("{}", mmi::report::compare::table(&results, &prior));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&mmi::report::compare::json(&results, &prior))
            .unwrap_or_default();
        if let Err(e) = mmi::report::csv::write_atomic(path, &text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// A seed from the clock, for runs given none (printed, so the run can be repeated).
fn clock_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (t % 1_000_000_000) as u64
}
