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
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Stage {
    Lowered,
    Optimised,
}

fn main() -> ExitCode {
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
) -> Result<(String, mmi::CheckedModel, mmi::data::DataSet), ExitCode> {
    let source = read_text(model_path)?;
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
    let (source, model, set) = match load(model_path, data) {
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
            let modalities = model
                .program
                .items
                .iter()
                .filter(|i| matches!(i, mmi::syntax::ast::Item::Modality(_)))
                .count();
            println!(
                "{name}: ok ({}, {}, {}, {}){}",
                plural(model.data.len(), "data item"),
                plural(model.latents.len(), "latent"),
                plural(model.laws.len(), "law"),
                plural(modalities, "modality").replace("modalitys", "modalities"),
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
