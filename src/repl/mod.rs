//! `mmi repl`: an interactive session over one model. Load a model and data, find the mode, switch a
//! modality off or reweight it, sample, evaluate expressions over the draws, plot, edit the model by
//! typing declarations, and save the result.
//!
//! - `session.rs`: the state (model source, data, compiled model, weights, settings, results);
//! - `commands.rs`: the `:` commands and their help;
//! - `edit.rs`: model text typed at the prompt, spliced into the model's source;
//! - `eval_expr.rs`: expressions evaluated at the mode and over the draws;
//! - `evidence.rs`: `:evidence` and `:compare`, the marginal likelihood and model comparison;
//! - `complete.rs`: the line editor's completion and multi-line input.
//!
//! With a terminal, input comes through rustyline (history kept across sessions); piped input is read
//! line by line and echoed after the prompt, so a script of inputs gives a transcript that reads like
//! a session. Nothing typed ends the session but `:quit` or the end of input: errors are shown as the
//! command line shows them.

pub mod commands;
pub mod complete;
pub mod edit;
pub mod eval_expr;
pub mod evidence;
pub mod session;

pub use session::Session;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub const PROMPT: &str = "mmi> ";
pub const CONTINUATION: &str = "...> ";

/// Where the history of interactive sessions is kept: `$MMI_HISTORY` (empty: nowhere), else
/// `$XDG_DATA_HOME/mmi/history`, else `~/.mmi_history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MMI_HISTORY") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("mmi").join("history"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".mmi_history"))
}

/// Runs a session on standard input and output; returns the exit code (0, or 2 when standard input
/// cannot be read).
pub fn run(model: Option<PathBuf>, data: Option<PathBuf>) -> u8 {
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut session = Session::new(Box::new(std::io::stdout()), color);
    session.progress = terminal && std::io::stderr().is_terminal();
    let (stop, busy) = session.stop_flags();
    // Ctrl-C while sampling stops the chains (they keep what they drew). At the prompt of an
    // interactive session the line editor reads it as a key; during other work (which cannot be
    // interrupted) a second Ctrl-C ends the session, so that one stray key does not lose it. A piped
    // session ends at once.
    let presses = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pressed = presses.clone();
    let _ = ctrlc::set_handler(move || {
        use std::sync::atomic::Ordering::SeqCst;
        if busy.load(SeqCst) {
            stop.store(true, SeqCst);
        } else if terminal && pressed.fetch_add(1, SeqCst) == 0 {
            eprintln!("(this step cannot be interrupted: Ctrl-C again ends the session)");
        } else {
            std::process::exit(130);
        }
    });
    if terminal {
        println!(
            "mmi {} -- `:help` lists the commands; Ctrl-D or `:quit` leaves",
            env!("CARGO_PKG_VERSION")
        );
    }
    if let Some(m) = &model {
        session.load_model(m);
    }
    if let Some(d) = &data {
        session.load_data(d);
    }
    if terminal {
        interactive(&mut session, &presses)
    } else {
        piped(&mut session, std::io::stdin().lock())
    }
}

/// Reads inputs from `input` line by line, echoing each after the prompt; lines are joined while
/// brackets are open (a blank line or a `:` command ends an unfinished input).
pub fn piped(session: &mut Session, input: impl BufRead) -> u8 {
    let mut pending = String::new();
    for line in input.lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot read standard input: {e}");
                return 2;
            }
        };
        // A command ends an unfinished input (it cannot continue model text), and so does a blank line.
        if !pending.is_empty() && line.trim_start().starts_with(':') {
            session.handle(&pending);
            pending.clear();
        }
        let prompt = if pending.is_empty() {
            PROMPT
        } else {
            CONTINUATION
        };
        session.echo(&format!("{prompt}{line}"));
        pending.push_str(&line);
        pending.push('\n');
        if complete::open_brackets(&pending) <= 0 || line.trim().is_empty() {
            session.handle(&pending);
            pending.clear();
            if session.done() {
                return 0;
            }
        }
    }
    if !pending.trim().is_empty() {
        session.handle(&pending);
    }
    0
}

fn interactive(session: &mut Session, presses: &std::sync::atomic::AtomicUsize) -> u8 {
    use rustyline::error::ReadlineError;
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List)
        .build();
    let names = Arc::new(Mutex::new(session.names()));
    let mut editor =
        match rustyline::Editor::<complete::Helper, rustyline::history::DefaultHistory>::with_config(
            config,
        ) {
            Ok(e) => e,
            Err(e) => {
                // No line editor (an odd terminal): read plainly.
                eprintln!("note: no line editing ({e})");
                return piped(session, std::io::stdin().lock());
            }
        };
    editor.set_helper(Some(complete::Helper::new(names.clone())));
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    loop {
        presses.store(0, std::sync::atomic::Ordering::SeqCst);
        match editor.readline(PROMPT) {
            Ok(input) => {
                if !input.trim().is_empty() {
                    let _ = editor.add_history_entry(input.as_str());
                }
                session.handle(&input);
                if let Ok(mut n) = names.lock() {
                    *n = session.names();
                }
                if session.done() {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                println!("(Ctrl-C: input cleared; Ctrl-D or `:quit` leaves)");
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(h);
    }
    let _ = std::io::stdout().flush();
    0
}

impl Session {
    /// Writes a line of the transcript (the prompt and what was typed).
    pub fn echo(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
    }
}
