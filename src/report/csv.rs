//! CmdStan-compatible CSV output: a comment header with the run's settings, the column names (sampler
//! columns, then every latent and law element as `name.i.j`), the adaptation results as comments, one
//! row per draw. Written to a temporary file and renamed, so a reader never sees half a file.

use crate::infer::sample::{Chain, SampleSettings};
use std::io::Write;
use std::path::Path;

/// Stan's CSV spelling of an element name: `T[2,3]` becomes `T.2.3`.
pub fn csv_name(name: &str) -> String {
    name.replace(['[', ','], ".").replace(']', "")
}

/// Everything the header says about the run besides the settings.
pub struct RunInfo<'a> {
    pub model_name: &'a str,
    pub data_file: &'a str,
    pub metric: &'a str,
}

/// The text of one chain's CSV file.
pub fn chain_csv(
    columns: &[String],
    chain: &Chain,
    index: usize,
    s: &SampleSettings,
    info: &RunInfo,
) -> String {
    let mut out = String::new();
    let header = [
        "# stan_version_major = 2".to_string(),
        "# stan_version_minor = 36".to_string(),
        "# stan_version_patch = 0".to_string(),
        format!("# model = {}", info.model_name),
        "# written by mmi".to_string(),
        "# method = sample (Default)".to_string(),
        "#   sample".to_string(),
        format!("#     num_samples = {}", s.draws),
        format!("#     num_warmup = {}", s.warmup),
        "#     save_warmup = 0 (Default)".to_string(),
        "#     thin = 1 (Default)".to_string(),
        "#     adapt".to_string(),
        "#       engaged = 1 (Default)".to_string(),
        format!("#       delta = {}", s.adapt_delta),
        "#       gamma = 0.05 (Default)".to_string(),
        "#       kappa = 0.75 (Default)".to_string(),
        "#       t0 = 10 (Default)".to_string(),
        "#       init_buffer = 75 (Default)".to_string(),
        "#       term_buffer = 50 (Default)".to_string(),
        "#       window = 25 (Default)".to_string(),
        "#     algorithm = hmc (Default)".to_string(),
        "#       hmc".to_string(),
        "#         engine = nuts (Default)".to_string(),
        "#           nuts".to_string(),
        format!("#             max_depth = {}", s.max_depth),
        format!("#         metric = {}", info.metric),
        "#         stepsize = 1 (Default)".to_string(),
        "#         stepsize_jitter = 0 (Default)".to_string(),
        format!("#     num_chains = {}", s.chains),
        format!("# id = {}", index + 1),
        "# data".to_string(),
        format!("#   file = {}", info.data_file),
        format!("# init = {} (Default)", s.init_radius),
        "# random".to_string(),
        format!("#   seed = {}", s.seed),
        "# output".to_string(),
        "#   refresh = 100 (Default)".to_string(),
    ];
    for line in header {
        out.push_str(&line);
        out.push('\n');
    }
    let names: Vec<String> = columns.iter().map(|c| csv_name(c)).collect();
    out.push_str(&names.join(","));
    out.push('\n');
    out.push_str("# Adaptation terminated\n");
    out.push_str(&format!("# Step size = {}\n", fmt(chain.step_size)));
    out.push_str(&format!(
        "# {} inverse mass matrix:\n",
        if info.metric.starts_with("dense") {
            "Diagonal of the"
        } else {
            "Diagonal elements of"
        }
    ));
    let diag: Vec<String> = chain.inv_metric.iter().map(|v| fmt(*v)).collect();
    out.push_str(&format!("# {}\n", diag.join(", ")));
    for row in &chain.rows {
        let cells: Vec<String> = row.iter().map(|v| fmt(*v)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    if chain.interrupted {
        out.push_str("# Interrupted: the run was stopped before all draws were made.\n");
    }
    out
}

/// A number as CmdStan writes it: shortest round-trip decimal, `inf`/`-inf`/`nan` spelled as Stan does.
fn fmt(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v == f64::INFINITY {
        "inf".into()
    } else if v == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{v}")
    }
}

/// Writes `text` to `path` atomically: into a temporary file beside it, then renamed, so a reader
/// never sees half a file. A target that exists and is not a regular file (a symbolic link, a device
/// such as /dev/null or /dev/stdout, a pipe) is written in place instead: renaming over it would
/// replace the link or the device with a plain file.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)?;
        return f.write_all(text.as_bytes());
    }
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The latent columns of every `chain_*.csv` in `dir` (as `mmi sample --output` writes them, or
/// CmdStan's `output_*.csv`), one row per draw, in the order of `names` (element names like `T[2,3]`).
pub fn read_draws(dir: &Path, names: &[String]) -> Result<Vec<Vec<f64>>, String> {
    Ok(read_chains(dir, names)?.into_iter().flatten().collect())
}

/// As `read_draws`, with the draws kept per chain (one file per chain, in file-name order).
pub fn read_chains(dir: &Path, names: &[String]) -> Result<Vec<Vec<Vec<f64>>>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("chain_") || n.starts_with("output"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "{} holds no chain_*.csv files (write them with `mmi sample --output {}`)",
            dir.display(),
            dir.display()
        ));
    }
    let wanted: Vec<String> = names.iter().map(|n| csv_name(n)).collect();
    let mut chains = vec![];
    for file in &files {
        let mut rows = vec![];
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(format!("{}: no header line", file.display()));
        };
        let columns: Vec<&str> = header.split(',').map(|c| c.trim()).collect();
        let index: Vec<usize> = wanted
            .iter()
            .map(|w| {
                columns.iter().position(|c| c == w).ok_or_else(|| {
                    format!(
                        "{}: no column `{w}` (were these draws made from another model?)",
                        file.display()
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        for (i, line) in lines {
            let cells: Vec<&str> = line.split(',').collect();
            let row: Result<Vec<f64>, String> = index
                .iter()
                .map(|&j| {
                    cells
                        .get(j)
                        .and_then(|c| c.trim().parse::<f64>().ok())
                        .ok_or_else(|| {
                            format!(
                                "{}:{}: not a number in column {}",
                                file.display(),
                                i + 1,
                                j + 1
                            )
                        })
                })
                .collect();
            rows.push(row?);
        }
        chains.push(rows);
    }
    Ok(chains)
}

#[cfg(test)]
mod tests {
    use super::write_atomic;

    /// A plain target is replaced whole; a symbolic link is followed and kept (the rename would have
    /// put a regular file in its place).
    #[cfg(unix)]
    #[test]
    fn write_atomic_keeps_links_and_replaces_files() {
        let dir = std::env::temp_dir().join(format!("mmi-write-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("target.json");
        write_atomic(&target, "first, and longer").unwrap();
        write_atomic(&target, "second").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "second");
        let link = dir.join("link.json");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, "through the link").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "through the link"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
