//! Source text → AST, with pest doing the recognising (grammar/mmi.pest) and this file building the tree.
//!
//! Syntax errors become `Diagnostic`s that speak of "a name" or "an expression" rather than grammar rule
//! names. Nesting is bounded before and during parsing, so no input can exhaust the stack.

use super::ast::*;
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/mmi.pest"]
struct MmiGrammar;

/// Deepest bracket nesting accepted; far beyond what models need, well within the parser's stack.
const MAX_BRACKET_DEPTH: usize = 64;
/// Deepest expression tree accepted (long operator chains nest too).
const MAX_EXPR_DEPTH: u32 = 256;

/// Parses a whole .mmi file.
pub fn parse(source: &str) -> Result<Program, Diagnostic> {
    check_nesting(source)?;
    pest::set_error_detail(true);
    let mut pairs =
        MmiGrammar::parse(Rule::program, source).map_err(|e| syntax_error(e, source))?;
    let program = pairs.next().expect("pest returns the program rule");
    let mut builder = Builder {
        next_id: 0,
        depth: Vec::new(),
    };
    let mut items = Vec::new();
    for pair in program.into_inner() {
        if pair.as_rule() == Rule::EOI {
            break;
        }
        items.push(builder.item(pair)?);
    }
    Ok(Program {
        items,
        expr_count: builder.next_id,
    })
}

/// Rejects absurdly deep bracket nesting before pest recurses into it.
fn check_nesting(source: &str) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    let mut in_comment = false;
    for (i, c) in source.char_indices() {
        match c {
            '#' => in_comment = true,
            '\n' => in_comment = false,
            '(' | '[' | '{' if !in_comment => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Err(Diagnostic::error(
                        Span::new(i, i + 1),
                        format!("brackets nested more than {MAX_BRACKET_DEPTH} deep"),
                    )
                    .with_label("too deep")
                    .with_help("split the expression with `let` or `law` definitions"));
                }
            }
            ')' | ']' | '}' if !in_comment => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Turns pest's failure into a message about the farthest point the parser reached: what it found
/// there, what would have been accepted, and a hint for the common slips.
fn syntax_error(e: pest::error::Error<Rule>, source: &str) -> Diagnostic {
    let fallback = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut at = fallback;
    let mut wanted = vec![];
    if let Some(attempts) = e.parse_attempts() {
        // pest's token type is not nameable from outside; its text form is the literal itself.
        let mut detailed: Vec<String> = vec![];
        for t in attempts.expected_tokens() {
            let token = t.to_string();
            // Continuations of a word or number (`_`, `.`, digits, an exponent's sign) say nothing useful.
            let inside_word = token.is_empty()
                || token.contains("..")
                || token == "BUILTIN_RULE"
                || matches!(token.as_str(), "_" | "." | " " | "\t" | "\r" | "\n" | "#");
            if !inside_word {
                detailed.push(format!("`{token}`"));
            }
        }
        for stack in attempts.call_stacks() {
            let deepest = format!("{:?}", stack.deepest);
            if let Some(r) = stack.parent.filter(|_| deepest.starts_with("Rule")) {
                detailed.extend(describe(r).map(str::to_string));
            }
        }
        let pos = attempts.max_position.min(source.len());
        if !detailed.is_empty() && pos >= fallback {
            at = pos;
            wanted = detailed;
        }
    }
    if wanted.is_empty() {
        if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
            wanted.extend(
                positives
                    .iter()
                    .filter_map(|r| describe(*r))
                    .map(str::to_string),
            );
        }
    }
    let exponent = source[..at].trim_end().ends_with(['e', 'E'])
        && source[..at]
            .trim_end()
            .trim_end_matches(['e', 'E'])
            .ends_with(|c: char| c.is_ascii_digit());
    if exponent {
        wanted.retain(|w| w != "`+`" && w != "`-`");
    }
    // Many operators would be accepted: say so once. Tokens that merely begin an expression are
    // covered by "an expression".
    if wanted.iter().any(|w| w == "`(`") && wanted.iter().any(|w| w == "`[`") {
        wanted.push("an expression".to_string());
    }
    let n = wanted.len();
    wanted.retain(|w| !OPERATORS.contains(&w.as_str()));
    if wanted.len() < n {
        wanted.push("an operator".to_string());
    }
    if wanted.iter().any(|w| w == "an expression") {
        wanted.retain(|w| {
            !matches!(
                w.as_str(),
                "`(`" | "`[`" | "`-`" | "a number" | "a name" | "an operator"
            )
        });
    }
    wanted.sort();
    wanted.dedup();
    let found = token_at(source, at);
    let expected = match wanted.len() {
        0 if exponent => "the exponent needs digits".to_string(),
        0 => "this does not fit here".to_string(),
        1 => format!("expected {}", wanted[0]),
        _ => {
            let last = wanted.pop().unwrap_or_default();
            format!("expected {} or {}", wanted.join(", "), last)
        }
    };
    let message = match &found {
        Some(t) => format!("unexpected `{t}`: {expected}"),
        None => format!("unexpected end of file: {expected}"),
    };
    let end = at + found.as_ref().map_or(0, |t| t.len());
    let mut d = Diagnostic::error(Span::new(at, end), message).with_label("here");
    let before = source[..at].trim_end();
    let prev = before.chars().last();
    let after = source[end.min(source.len())..].trim_start();
    let keyword = found.as_deref().filter(|t| KEYWORDS.contains(t));
    let offers_operator = expected.contains("an operator") || expected.contains("`,`");
    if exponent {
        d = d.with_help("a number's exponent needs digits, as in `1e-3` or `2.5E6`");
    } else if found
        .as_deref()
        .is_some_and(|t| ["<", ">", "<=", ">=", "==", "!="].contains(&t))
    {
        d = d.with_help("comparisons do not chain: write `(a < b) * (b < c)` for both");
    } else if found.as_deref() == Some("=") && matches!(prev, Some('>' | '<')) {
        d = d.with_help("bounds are written `> 0` or `< 1`: the boundary itself has probability zero, so there is no `>=`");
    } else if let Some(k) = keyword.filter(|_| after.starts_with([':', '=', '(', '~'])) {
        d = d.with_help(format!("`{k}` is a keyword and cannot be used as a name"));
    } else if let Some(k) = keyword {
        if let Some(open) = unclosed_block(before) {
            d = d
                .with_secondary(Span::new(open, open + 1), "this block is never closed")
                .with_help(format!("a `}}` may be missing before `{k}`"));
        }
    } else if found.is_none() {
        if let Some((open, c)) = open_brackets(before).last() {
            let what = if *c == '{' { "block" } else { "bracket" };
            d = d.with_secondary(
                Span::new(*open, open + 1),
                format!("this {what} is never closed"),
            );
        }
    } else if offers_operator
        && found
            .as_deref()
            .is_some_and(|t| t.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        && prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ')' || c == ']')
    {
        d = d.with_help(
            "two values stand side by side: a `,` or an operator may be missing between them",
        );
    }
    d
}

const OPERATORS: &[&str] = &[
    "`+`", "`-`", "`*`", "`/`", "`.*`", "`./`", "`^`", "`==`", "`!=`", "`<`", "`<=`", "`>`",
    "`>=`", "`'`",
];

const KEYWORDS: &[&str] = &[
    "data", "latent", "law", "derived", "fn", "ode", "modality", "combine", "let", "for", "in",
];

/// The word, number or symbol starting at `at`, if any.
fn token_at(source: &str, at: usize) -> Option<String> {
    let rest = source.get(at..)?;
    let mut chars = rest.chars();
    let first = chars.next()?;
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let text: String = if word(first) {
        rest.chars().take_while(|c| word(*c)).collect()
    } else if "=<>!.".contains(first) && rest[first.len_utf8()..].starts_with(['=', '*', '/']) {
        rest.chars().take(2).collect()
    } else {
        first.to_string()
    };
    Some(text.chars().take(40).collect())
}

/// Brackets still open at the end of `text` (comments skipped): offset and kind, outermost first.
fn open_brackets(text: &str) -> Vec<(usize, char)> {
    let mut stack = vec![];
    let mut in_comment = false;
    for (i, c) in text.char_indices() {
        match c {
            '#' => in_comment = true,
            '\n' => in_comment = false,
            _ if in_comment => {}
            '(' | '[' | '{' => stack.push((i, c)),
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.last().is_some_and(|(_, o)| *o == want) {
                    stack.pop();
                }
            }
            _ => {}
        }
    }
    stack
}

/// The innermost `{` still open at the end of `text`: the likely culprit when a block keyword appears
/// where a block's contents were expected.
fn unclosed_block(text: &str) -> Option<usize> {
    open_brackets(text)
        .iter()
        .rev()
        .find(|(_, c)| *c == '{')
        .map(|(i, _)| *i)
}

/// What a grammar rule looks like to a user; `None` for rules that never help in a message.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::data_block | Rule::kw_data => "`data`",
        Rule::latent_block | Rule::kw_latent => "`latent`",
        Rule::law_decl | Rule::kw_law => "`law`",
        Rule::derived_decl | Rule::kw_derived => "`derived`",
        Rule::fn_decl | Rule::kw_fn => "`fn`",
        Rule::ode_decl | Rule::kw_ode => "`ode`",
        Rule::modality_decl | Rule::kw_modality => "`modality`",
        Rule::combine_decl | Rule::kw_combine => "`combine`",
        Rule::kw_let | Rule::let_stmt => "`let`",
        Rule::kw_for => "`for`",
        Rule::kw_in | Rule::interval => "`in`",
        Rule::kw_weight | Rule::weight => "`weight`",
        Rule::decl => "a declaration `name: type`",
        Rule::ty => "a type",
        Rule::constraint => "a constraint",
        Rule::lower_bound => "`>`",
        Rule::upper_bound => "`<`",
        Rule::tilde_stmt => "a `~` statement",
        Rule::dist_call => "a distribution",
        Rule::ode_eq | Rule::ode_lhs => "an equation `dX/dt = ...`",
        Rule::combine_body => "`{`",
        Rule::combine_entry => "`modality: value`",
        Rule::ident | Rule::param_list => "a name",
        Rule::named_arg => "an argument",
        Rule::expr
        | Rule::comparison
        | Rule::additive
        | Rule::multiplicative
        | Rule::unary
        | Rule::power
        | Rule::postfix
        | Rule::bound
        | Rule::slice_lo
        | Rule::slice_hi
        | Rule::call
        | Rule::array_lit
        | Rule::comprehension => "an expression",
        Rule::number => "a number",
        Rule::cmp_op | Rule::add_op | Rule::mul_op => "an operator",
        Rule::neg => "`-`",
        Rule::index => "`[`",
        Rule::slice => "`:`",
        Rule::transpose => "`'`",
        Rule::generator => "`name in lo:hi`",
        _ => return None,
    })
}

/// The pair's span without the whitespace and comments pest's implicit skipping leaves at its end.
fn span_of(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    let mut text = s.as_str();
    loop {
        let trimmed = text.trim_end();
        let last_line = trimmed.rfind('\n').map_or(0, |i| i + 1);
        let cut = match trimmed[last_line..].find('#') {
            Some(hash) => trimmed[..last_line + hash].trim_end(),
            None => trimmed,
        };
        if cut.len() == text.len() {
            break;
        }
        text = cut;
    }
    Span::new(s.start(), s.start() + text.len())
}

struct Builder {
    next_id: u32,
    /// Depth of each expression built so far, by id; bounds recursion in every later phase.
    depth: Vec<u32>,
}

type R<T> = Result<T, Diagnostic>;

impl Builder {
    fn item(&mut self, pair: Pair<Rule>) -> R<Item> {
        Ok(match pair.as_rule() {
            Rule::data_block => Item::Data(self.block(pair)?),
            Rule::latent_block => Item::Latent(self.block(pair)?),
            Rule::law_decl | Rule::derived_decl => {
                let derived = pair.as_rule() == Rule::derived_decl;
                let span = span_of(&pair);
                let mut it = pair.into_inner();
                it.next(); // keyword
                let name = ident(it.next().unwrap());
                let value = self.expr(it.next().unwrap())?;
                Item::Law(Law {
                    name,
                    value,
                    span,
                    derived,
                })
            }
            Rule::fn_decl => {
                let span = span_of(&pair);
                let mut it = pair.into_inner();
                it.next();
                let name = ident(it.next().unwrap());
                let mut params = vec![];
                let mut body = None;
                for p in it {
                    match p.as_rule() {
                        Rule::param_list => params = p.into_inner().map(ident).collect(),
                        _ => body = Some(self.expr(p)?),
                    }
                }
                Item::Fn(FnDef {
                    name,
                    params,
                    body: body.unwrap(),
                    span,
                })
            }
            Rule::ode_decl => Item::Ode(self.ode(pair)?),
            Rule::modality_decl => Item::Modality(self.modality(pair)?),
            Rule::combine_decl => {
                let span = span_of(&pair);
                let mut it = pair.into_inner();
                it.next();
                let rule = ident(it.next().unwrap());
                let entries = match it.next() {
                    None => None,
                    Some(body) => {
                        let mut entries = vec![];
                        for e in body.into_inner() {
                            let mut ei = e.into_inner();
                            let modality = ident(ei.next().unwrap());
                            let value = self.expr(ei.next().unwrap())?;
                            entries.push(CombineEntry { modality, value });
                        }
                        Some(entries)
                    }
                };
                Item::Combine(Combine {
                    rule,
                    entries,
                    span,
                })
            }
            Rule::tilde_stmt => Item::Tilde(self.tilde(pair)?),
            r => unreachable!("unexpected top-level rule {r:?}"),
        })
    }

    fn block(&mut self, pair: Pair<Rule>) -> R<Block> {
        let mut it = pair.into_inner();
        let keyword = span_of(&it.next().unwrap());
        let mut decls = vec![];
        let mut priors = vec![];
        for p in it {
            match p.as_rule() {
                Rule::decl => decls.push(self.decl(p)?),
                Rule::tilde_stmt => priors.push(self.tilde(p)?),
                r => unreachable!("unexpected block rule {r:?}"),
            }
        }
        Ok(Block {
            keyword,
            decls,
            priors,
        })
    }

    fn decl(&mut self, pair: Pair<Rule>) -> R<Decl> {
        let span = span_of(&pair);
        let mut it = pair.into_inner();
        let name = ident(it.next().unwrap());
        let ty_pair = it.next().unwrap();
        let ty_span = span_of(&ty_pair);
        let mut ti = ty_pair.into_inner();
        let ty_name = ident(ti.next().unwrap());
        let args = ti.map(|a| self.arg(a)).collect::<R<Vec<_>>>()?;
        let ty = TypeExpr {
            name: ty_name,
            args,
            span: ty_span,
        };
        let mut constraints = vec![];
        let mut prior = None;
        for p in it {
            match p.as_rule() {
                Rule::constraint => {
                    let span = span_of(&p);
                    let inner = p.into_inner().next().unwrap();
                    let rule = inner.as_rule();
                    let mut bounds = inner
                        .into_inner()
                        .filter(|b| b.as_rule() == Rule::bound)
                        .map(|b| self.expr(b))
                        .collect::<R<Vec<_>>>()?
                        .into_iter();
                    let kind = match rule {
                        Rule::lower_bound => ConstraintKind::Lower(bounds.next().unwrap()),
                        Rule::upper_bound => ConstraintKind::Upper(bounds.next().unwrap()),
                        _ => {
                            let lo = bounds.next().unwrap();
                            ConstraintKind::Interval(lo, bounds.next().unwrap())
                        }
                    };
                    constraints.push(Constraint { kind, span });
                }
                Rule::dist_call => prior = Some(self.dist_call(p)?),
                r => unreachable!("unexpected decl rule {r:?}"),
            }
        }
        Ok(Decl {
            name,
            ty,
            constraints,
            prior,
            span,
        })
    }

    fn ode(&mut self, pair: Pair<Rule>) -> R<OdeDef> {
        let span = span_of(&pair);
        let mut it = pair.into_inner();
        it.next();
        let name = ident(it.next().unwrap());
        let time = ident(it.next().unwrap());
        let states = it.next().unwrap().into_inner().map(ident).collect();
        let mut params = vec![];
        let mut equations = vec![];
        for p in it {
            match p.as_rule() {
                Rule::param_list => params = p.into_inner().map(ident).collect(),
                Rule::ode_eq => {
                    let span = span_of(&p);
                    let mut ei = p.into_inner();
                    let mut lhs = ei.next().unwrap().into_inner();
                    let state = ident(lhs.next().unwrap());
                    let time = ident(lhs.next().unwrap());
                    let rhs = self.expr(ei.next().unwrap())?;
                    equations.push(OdeEquation {
                        state,
                        time,
                        rhs,
                        span,
                    });
                }
                r => unreachable!("unexpected ode rule {r:?}"),
            }
        }
        Ok(OdeDef {
            name,
            time,
            states,
            params,
            equations,
            span,
        })
    }

    fn modality(&mut self, pair: Pair<Rule>) -> R<Modality> {
        let span = span_of(&pair);
        let mut it = pair.into_inner();
        it.next();
        let name = ident(it.next().unwrap());
        let mut weight = None;
        let mut stmts = vec![];
        for p in it {
            match p.as_rule() {
                Rule::weight => {
                    let w = p.into_inner().nth(1).unwrap();
                    weight = Some(self.expr(w)?);
                }
                Rule::let_stmt => {
                    let span = span_of(&p);
                    let mut li = p.into_inner();
                    li.next();
                    let name = ident(li.next().unwrap());
                    let value = self.expr(li.next().unwrap())?;
                    stmts.push(ModalityStmt::Let(Let { name, value, span }));
                }
                Rule::tilde_stmt => stmts.push(ModalityStmt::Tilde(self.tilde(p)?)),
                r => unreachable!("unexpected modality rule {r:?}"),
            }
        }
        Ok(Modality {
            name,
            weight,
            stmts,
            span,
        })
    }

    fn tilde(&mut self, pair: Pair<Rule>) -> R<Tilde> {
        let span = span_of(&pair);
        let mut it = pair.into_inner();
        let lhs = self.expr(it.next().unwrap())?;
        let dist = self.dist_call(it.next().unwrap())?;
        Ok(Tilde { lhs, dist, span })
    }

    fn dist_call(&mut self, pair: Pair<Rule>) -> R<DistCall> {
        let span = span_of(&pair);
        let mut it = pair.into_inner();
        let name = ident(it.next().unwrap());
        let args = it.map(|a| self.arg(a)).collect::<R<Vec<_>>>()?;
        Ok(DistCall { name, args, span })
    }

    fn arg(&mut self, pair: Pair<Rule>) -> R<Arg> {
        if pair.as_rule() == Rule::named_arg {
            let mut it = pair.into_inner();
            let name = ident(it.next().unwrap());
            let value = self.expr(it.next().unwrap())?;
            Ok(Arg {
                name: Some(name),
                value,
            })
        } else {
            Ok(Arg {
                name: None,
                value: self.expr(pair)?,
            })
        }
    }

    // ---- expressions -----------------------------------------------------------------------------

    fn mk(&mut self, kind: ExprKind, span: Span) -> R<Expr> {
        let depth = 1 + kind
            .children()
            .iter()
            .map(|c| self.depth[c.id.0 as usize])
            .max()
            .unwrap_or(0);
        if depth > MAX_EXPR_DEPTH {
            return Err(Diagnostic::error(
                span,
                format!("expression nested more than {MAX_EXPR_DEPTH} levels deep"),
            )
            .with_label("too deep")
            .with_help("split the expression with `let` or `law` definitions"));
        }
        let id = ExprId(self.next_id);
        self.next_id += 1;
        self.depth.push(depth);
        Ok(Expr { id, kind, span })
    }

    /// Builds an expression from any expression-level rule.
    fn expr(&mut self, pair: Pair<Rule>) -> R<Expr> {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::expr | Rule::bound | Rule::slice_lo | Rule::slice_hi => {
                self.expr(pair.into_inner().next().unwrap())
            }
            Rule::comparison | Rule::additive | Rule::multiplicative => {
                let mut it = pair.into_inner();
                let mut acc = self.expr(it.next().unwrap())?;
                while let Some(op) = it.next() {
                    let op = match op.as_str() {
                        "+" => BinOp::Add,
                        "-" => BinOp::Sub,
                        "*" => BinOp::Mul,
                        "/" => BinOp::Div,
                        ".*" => BinOp::ElemMul,
                        "./" => BinOp::ElemDiv,
                        "==" => BinOp::Eq,
                        "!=" => BinOp::Ne,
                        "<" => BinOp::Lt,
                        "<=" => BinOp::Le,
                        ">" => BinOp::Gt,
                        ">=" => BinOp::Ge,
                        o => unreachable!("unknown operator {o}"),
                    };
                    let rhs = self.expr(it.next().unwrap())?;
                    let s = acc.span.to(rhs.span);
                    acc = self.mk(ExprKind::Binary(op, Box::new(acc), Box::new(rhs)), s)?;
                }
                Ok(acc)
            }
            Rule::unary => {
                let mut negs = vec![];
                let mut inner = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::neg => negs.push(span_of(&p)),
                        _ => inner = Some(self.expr(p)?),
                    }
                }
                let mut e = inner.unwrap();
                for s in negs.into_iter().rev() {
                    let s = s.to(e.span);
                    // A negated literal is a literal, so `-1` prints and folds as one.
                    e = match e.kind {
                        ExprKind::Int(v) if v > 0 => Expr {
                            kind: ExprKind::Int(-v),
                            span: s,
                            ..e
                        },
                        ExprKind::Real(v) => Expr {
                            kind: ExprKind::Real(-v),
                            span: s,
                            ..e
                        },
                        _ => self.mk(ExprKind::Neg(Box::new(e)), s)?,
                    };
                }
                Ok(e)
            }
            Rule::power => {
                let mut it = pair.into_inner();
                let base = self.expr(it.next().unwrap())?;
                match it.next() {
                    None => Ok(base),
                    Some(exp) => {
                        let exp = self.expr(exp)?;
                        let s = base.span.to(exp.span);
                        self.mk(
                            ExprKind::Binary(BinOp::Pow, Box::new(base), Box::new(exp)),
                            s,
                        )
                    }
                }
            }
            Rule::postfix => {
                let mut it = pair.into_inner();
                let mut acc = self.expr(it.next().unwrap())?;
                for p in it {
                    let s = acc.span.to(span_of(&p));
                    match p.as_rule() {
                        Rule::transpose => {
                            acc = self.mk(ExprKind::Transpose(Box::new(acc)), s)?;
                        }
                        _ => {
                            let mut indices = vec![];
                            for item in p.into_inner() {
                                indices.push(self.index_item(item)?);
                            }
                            acc = self.mk(
                                ExprKind::Index {
                                    base: Box::new(acc),
                                    indices,
                                },
                                s,
                            )?;
                        }
                    }
                }
                Ok(acc)
            }
            Rule::number => {
                let text = pair.as_str();
                let is_int = text.bytes().all(|b| b.is_ascii_digit());
                let kind = if is_int {
                    match text.parse::<i64>() {
                        Ok(v) => ExprKind::Int(v),
                        Err(_) => {
                            return Err(Diagnostic::error(span, "integer literal too large")
                                .with_label("does not fit in 64 bits")
                                .with_help("write it as a real number, e.g. `1e20`"))
                        }
                    }
                } else {
                    match text.parse::<f64>() {
                        Ok(v) if v.is_finite() => ExprKind::Real(v),
                        _ => {
                            return Err(Diagnostic::error(span, "number out of range")
                                .with_label("not a finite 64-bit real"))
                        }
                    }
                };
                self.mk(kind, span)
            }
            Rule::ident => {
                let name = pair.as_str().to_string();
                self.mk(ExprKind::Name(name), span)
            }
            Rule::call => {
                let mut it = pair.into_inner();
                let func = ident(it.next().unwrap());
                let args = it.map(|a| self.arg(a)).collect::<R<Vec<_>>>()?;
                self.mk(ExprKind::Call { func, args }, span)
            }
            Rule::array_lit => {
                let items = pair
                    .into_inner()
                    .map(|p| self.expr(p))
                    .collect::<R<Vec<_>>>()?;
                self.mk(ExprKind::Array(items), span)
            }
            Rule::comprehension => {
                let mut it = pair.into_inner();
                let body = self.expr(it.next().unwrap())?;
                let mut generators = vec![];
                for g in it {
                    if g.as_rule() != Rule::generator {
                        continue; // the `for` keyword
                    }
                    let mut gi = g.into_inner();
                    let var = ident(gi.next().unwrap());
                    gi.next(); // `in`
                    let lo = self.expr(gi.next().unwrap())?;
                    let hi = self.expr(gi.next().unwrap())?;
                    generators.push(Generator { var, lo, hi });
                }
                self.mk(
                    ExprKind::Comprehension {
                        body: Box::new(body),
                        generators,
                    },
                    span,
                )
            }
            r => unreachable!("unexpected expression rule {r:?}"),
        }
    }

    fn index_item(&mut self, pair: Pair<Rule>) -> R<IndexItem> {
        if pair.as_rule() != Rule::slice {
            return Ok(IndexItem::Single(self.expr(pair)?));
        }
        let span = span_of(&pair);
        let mut lo = None;
        let mut hi = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::slice_lo => lo = Some(self.expr(p)?),
                _ => hi = Some(self.expr(p)?),
            }
        }
        Ok(IndexItem::Slice { lo, hi, span })
    }
}

fn ident(pair: Pair<Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span_of(&pair),
    }
}
