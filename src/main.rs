//! The `mmi` command line. The only place where errors become exit codes: 0 success (perhaps with
//! warnings), 1 errors in the model, 2 usage or input/output errors.

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
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
    }
}

fn use_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn check(path: &PathBuf, print: bool, deny_warnings: bool) -> ExitCode {
    let source = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "error: {} is not UTF-8 text (invalid byte at offset {})",
                    path.display(),
                    e.utf8_error().valid_up_to()
                );
                return ExitCode::from(2);
            }
        },
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
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
