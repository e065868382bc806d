//! Nothing typed at the REPL makes it panic: random sequences of commands, model text and fragments
//! (half-finished blocks, wrong arguments, unknown names) are fed to a session over a small model.

use mmi::repl::Session;
use proptest::prelude::*;

/// Pieces of input a user might type, right or wrong.
const PIECES: &[&str] = &[
    ":help",
    ":help plot",
    ":show",
    ":check",
    ":graph",
    ":graph --stage lowered",
    ":map",
    ":sample",
    ":sample 20 1",
    ":sample 0",
    ":summary",
    ":summary v",
    ":summary nothing",
    ":report",
    ":evidence laplace",
    ":evidence nonsense",
    ":compare",
    ":compare no_such.mmi laplace",
    ":simulate",
    ":simulate --use",
    ":simulate --params",
    ":modality",
    ":modality a off",
    ":modality b weight 0.3",
    ":modality b weight x",
    ":modality z on",
    ":combine",
    ":combine tempered { a: 0.5 }",
    ":combine minmax { b: 0.1 }",
    ":combine bogus",
    ":set",
    ":set draws 30",
    ":set warmup 30",
    ":set chains 1",
    ":set seed -1",
    ":set adapt_delta 0",
    ":eval v",
    ":eval v +",
    ":eval y_a",
    ":eval [v for i in 1:3]",
    ":eval sigma_b[2]",
    ":plot",
    ":plot trace",
    ":plot trace v",
    ":plot density nothing",
    ":plot field v",
    ":plot compare v",
    ":plot contributions",
    ":plot compare",
    ":plot trace v --slice 1=1",
    ":plot field v --slice x",
    ":remove v",
    ":remove power",
    ":remove combine",
    ":remove",
    ":load",
    ":data",
    ":save",
    ":quit",
    ":nonsense",
    ":",
    "v",
    "v * 2",
    "law power = v^3",
    "law power =",
    "law q = power + 1",
    "sigma_b ~ normal(0, 1)",
    "v ~ student_t(3, 0, 1)",
    "w: real",
    "data n_c: int",
    "latent u: real > 0",
    "modality c { y_a ~ normal(u, 1) }",
    "modality a { y_a ~ normal(v, 0.2) }",
    "fn f(x) = x^2",
    "law g = f(v)",
    "combine product",
    "(",
    ")",
    "}",
    "{",
    "[",
    "#",
    "~",
    "::",
    "data {",
    "latent {",
    "modality a {",
    "1e400",
    "v[",
    "\u{1F600}",
    "ode d(t; X; k) { dX/dt = -k * X }",
];

fn session() -> Session {
    // Commands glued together can name odd paths (`:save` followed by `:data` saves into `:data/`):
    // run in a scratch directory so nothing lands in the repository.
    static SCRATCH: std::sync::Once = std::sync::Once::new();
    SCRATCH.call_once(|| {
        let dir = std::env::temp_dir().join(format!("mmi-repl-robustness-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_current_dir(&dir).unwrap();
    });
    let mut s = Session::new(Box::new(std::io::sink()), false);
    s.load_model(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/repl/two_sensors.mmi"
    )));
    assert!(s.names().contains(&"v".to_string()), "the model loaded");
    // Keep the samples cheap.
    s.handle(":set draws 20");
    s.handle(":set warmup 20");
    s.handle(":set chains 1");
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_sessions_never_panic(picks in prop::collection::vec((0..PIECES.len(), 0..PIECES.len(), any::<bool>()), 1..10)) {
        let mut s = session();
        for (a, b, join) in picks {
            // Sometimes two pieces typed as one input (multi-line or glued together).
            let input = if join { format!("{}\n{}", PIECES[a], PIECES[b]) } else { PIECES[a].to_string() };
            s.handle(&input);
            if s.done() {
                break;
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[a-z_:\\[\\](){}~=+*/^<>,;#0-9. \n-]{0,40}") {
        let mut s = session();
        s.handle(&text);
    }
}
