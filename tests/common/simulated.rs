//! Simulated inputs shared by tests and benchmarks (benches include this file by path): a fixed,
//! portable random stream, and the realistic multiome data set's truth.
#![allow(dead_code)]

/// Dimensions of the multiome cell state.
pub const K: usize = 2;

/// splitmix64: a fixed, portable stream for the realistic truth.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-300), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    pub fn normals(&mut self, n: usize, mean: f64, sd: f64) -> String {
        let v: Vec<String> = (0..n)
            .map(|_| format!("{:.4}", mean + sd * self.normal()))
            .collect();
        format!("[{}]", v.join(","))
    }
}

/// The given data, the truth and the true state (row-major) of n cells of three types (cell i has
/// type i mod 3), g genes and p peaks, drawn as the shipped truth was.
pub fn realistic_truth(n: usize, g: usize, p: usize) -> (String, String, Vec<f64>) {
    let mut rng = Rng(2024);
    let centres = [[-1.2, -0.7], [1.2, -0.7], [-1.2, 1.4]];
    let mut z = vec![];
    for i in 0..n {
        let c = centres[i % 3];
        for cj in c {
            let v: f64 = cj + 0.35 * rng.normal();
            z.push((v * 1e4).round() / 1e4);
        }
    }
    let rows: Vec<String> = z
        .chunks(K)
        .map(|r| format!("[{},{}]", r[0], r[1]))
        .collect();
    let w_rna = format!(
        "[{},{}]",
        rng.normals(g, 0.0, 1.0),
        rng.normals(g, 0.0, 0.15)
    );
    let w_atac = format!(
        "[{},{}]",
        rng.normals(p, 0.0, 0.15),
        rng.normals(p, 0.0, 1.2)
    );
    let truth = format!(
        r#"{{"z": [{}], "W_rna": {w_rna}, "W_atac": {w_atac}, "b": {}, "c": {}, "phi": 8}}"#,
        rows.join(","),
        rng.normals(g, 1.0, 0.8),
        rng.normals(p, -0.5, 0.8)
    );
    let given = format!(
        r#"{{"n": {n}, "g": {g}, "p": {p}, "k": 2, "log_lib": {}}}"#,
        rng.normals(n, 0.0, 0.3)
    );
    (given, truth, z)
}
