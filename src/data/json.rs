//! Reading the JSON text and classifying its leaves.
//!
//! serde_json does the parsing. It rejects a number too large for an `f64` (`1e400`) as a syntax
//! error, which would hide which variable holds it; so such a number is replaced, in place and with the
//! same byte length, by a marker string and the text is parsed again. The marker is later reported as
//! "too large" against the variable that holds it, and every other syntax error keeps its true
//! line and column.

use serde_json::{Number, Value};

/// Starts the marker string that stands for a number too large for an `f64`. DEL may stand raw in a
/// JSON string, takes one byte, and is never typed by hand.
const MARKER: char = '\u{7f}';

/// At most this many too-large numbers are recovered (their markers must fit in five bytes, the length
/// of the shortest such number, `1e309`); past that the syntax error is reported as it is.
const MAX_RECOVERED: usize = 100;

/// A parsed data file.
pub(super) struct Parsed {
    pub value: Value,
    /// The text of each number too large for an `f64`, by marker index.
    pub too_large: Vec<String>,
}

/// A syntax error with its position in the data file (1-based line; column as serde_json counts it).
pub(super) struct SyntaxError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

pub(super) fn parse(text: &str) -> Result<Parsed, SyntaxError> {
    let mut current = text.to_string();
    let mut too_large = vec![];
    loop {
        let e = match serde_json::from_str::<Value>(&current) {
            Ok(value) => return Ok(Parsed { value, too_large }),
            Err(e) => e,
        };
        let (line, column) = (e.line(), e.column());
        let full = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        if message == "number out of range" && too_large.len() < MAX_RECOVERED {
            if let Some(range) = number_at(&current, line, column) {
                let marker = format!("\"{MARKER}{}\"", too_large.len());
                if marker.len() <= range.len() {
                    too_large.push(current[range.clone()].to_string());
                    let padded = format!("{marker:<width$}", width = range.len());
                    current.replace_range(range, &padded);
                    continue;
                }
            }
        }
        return Err(SyntaxError {
            message,
            line,
            column,
        });
    }
}

/// The byte range of the number token at serde_json's error position (which points at its last byte).
fn number_at(text: &str, line: usize, column: usize) -> Option<std::ops::Range<usize>> {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let bytes = text.as_bytes();
    let is_num = |b: u8| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E');
    let mut at = line_start + column.checked_sub(1)?;
    if at >= bytes.len() || !is_num(bytes[at]) {
        at = at.checked_sub(1)?;
        if !is_num(*bytes.get(at)?) {
            return None;
        }
    }
    let mut start = at;
    while start > 0 && is_num(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = at + 1;
    while end < bytes.len() && is_num(bytes[end]) {
        end += 1;
    }
    let first = bytes[start];
    (first == b'-' || first.is_ascii_digit()).then_some(start..end)
}

/// One non-array JSON value, as the loader sees it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Leaf {
    /// A number that is an integer in `i64` (written `3`, or `3.0`).
    Int(i64),
    /// Any other number an `f64` holds; the text is as written (for messages).
    Real(f64, String),
    /// `"NaN"`, `"Inf"`, `"-Infinity"`, ...: the value and its spelling.
    NonFinite(f64, String),
    /// A number too large for an `f64`, as written.
    TooLarge(String),
    /// Anything else, described for a message ("the string \"abc\"", "true", "null", "an object").
    Other(String, OtherKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OtherKind {
    String,
    Bool,
    Null,
    Object,
    Array,
}

impl Leaf {
    pub fn of(v: &Value, too_large: &[String]) -> Leaf {
        match v {
            Value::Number(n) => number(n),
            Value::String(s) => {
                if let Some(k) = s.strip_prefix(MARKER) {
                    if let Some(text) = k.parse::<usize>().ok().and_then(|k| too_large.get(k)) {
                        return Leaf::TooLarge(text.clone());
                    }
                }
                match s.as_str() {
                    "NaN" => Leaf::NonFinite(f64::NAN, s.clone()),
                    "Inf" | "Infinity" => Leaf::NonFinite(f64::INFINITY, s.clone()),
                    "-Inf" | "-Infinity" => Leaf::NonFinite(f64::NEG_INFINITY, s.clone()),
                    _ => Leaf::Other(describe(v), OtherKind::String),
                }
            }
            Value::Bool(_) => Leaf::Other(describe(v), OtherKind::Bool),
            Value::Null => Leaf::Other(describe(v), OtherKind::Null),
            Value::Object(_) => Leaf::Other(describe(v), OtherKind::Object),
            Value::Array(_) => Leaf::Other(describe(v), OtherKind::Array),
        }
    }
}

fn number(n: &Number) -> Leaf {
    if let Some(i) = n.as_i64() {
        return Leaf::Int(i);
    }
    // Without serde_json's arbitrary precision, every number is an i64, a u64 or an f64.
    let f = n.as_f64().unwrap_or(f64::NAN);
    // An integral real that fits (`3.0`) counts as an integer: generated files often write them so.
    // The range test is exact: -2^63 is representable and 2^63 is the first value past i64::MAX.
    let limit = -(i64::MIN as f64);
    if n.is_f64() && f.fract() == 0.0 && (-limit..limit).contains(&f) {
        return Leaf::Int(f as i64);
    }
    let text = if n.is_u64() {
        n.to_string()
    } else {
        show_num(f)
    };
    Leaf::Real(f, text)
}

/// A number for a message: integers without a fraction, tiny and huge reals in exponent form.
pub(super) fn show_num(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e15).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// A short description of a JSON value for messages.
pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let short: String = s.chars().take(24).collect();
            let dots = if short.len() < s.len() { "..." } else { "" };
            format!("the string {:?}", format!("{short}{dots}"))
        }
        Value::Array(a) if a.is_empty() => "an empty list".into(),
        Value::Array(a) => format!("a list of {} entries", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_numbers_are_recovered_in_place() {
        let text = "{\"a\": [1, 1e400, 2],\n \"b\": -1e999}";
        let p = parse(text).ok().unwrap();
        assert_eq!(p.too_large, vec!["1e400".to_string(), "-1e999".to_string()]);
        let a = p.value["a"].as_array().unwrap();
        assert_eq!(
            Leaf::of(&a[1], &p.too_large),
            Leaf::TooLarge("1e400".into())
        );
        assert_eq!(Leaf::of(&a[2], &p.too_large), Leaf::Int(2));
        let b = &p.value["b"];
        assert_eq!(Leaf::of(b, &p.too_large), Leaf::TooLarge("-1e999".into()));
    }

    #[test]
    fn later_syntax_errors_keep_their_position() {
        let Err(e) = parse("{\"a\": [1e400, 2,, 3]}") else {
            panic!("should fail")
        };
        assert_eq!((e.line, e.column), (1, 17));
        assert_eq!(e.message, "expected value");
    }

    #[test]
    fn leaves() {
        let v: Value = serde_json::from_str(
            "[2.0, 2.5, 18446744073709551615, \"-Inf\", \"x\", true, null, 99999999999999999999]",
        )
        .unwrap();
        let a = v.as_array().unwrap();
        let l: Vec<Leaf> = a.iter().map(|x| Leaf::of(x, &[])).collect();
        assert_eq!(l[0], Leaf::Int(2));
        assert_eq!(l[1], Leaf::Real(2.5, "2.5".into()));
        assert!(matches!(l[2], Leaf::Real(f, _) if f == 18446744073709551615.0));
        assert!(matches!(l[3], Leaf::NonFinite(f, _) if f == f64::NEG_INFINITY));
        assert_eq!(
            l[4],
            Leaf::Other("the string \"x\"".into(), OtherKind::String)
        );
        assert_eq!(l[5], Leaf::Other("true".into(), OtherKind::Bool));
        assert_eq!(l[6], Leaf::Other("null".into(), OtherKind::Null));
        assert!(matches!(l[7], Leaf::Real(f, _) if f == 1e20));
    }
}
