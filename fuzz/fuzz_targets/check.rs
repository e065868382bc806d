//! Any bytes, read as text, either check or give diagnostics that render; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    let out = mmi::check_source(&source);
    for d in &out.diagnostics {
        let _ = d.render("fuzz.mmi", &source, false);
    }
});
