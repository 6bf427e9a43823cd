//! `$filter`: a recursive-descent parser for the OData subset Defender clients send, type-checked
//! against the entity's schema into an `Expr` that `eval` runs against wire entities.
//!
//! Grammar (keywords in any case; Kibana sends `AND`):
//! ```text
//! expr    := and ( 'or' and )*
//! and     := unary ( 'and' unary )*
//! unary   := 'not' unary | '(' expr ')' | call | compare
//! call    := ('startswith'|'endswith'|'contains') '(' field ',' literal ')'
//!          | field '/any(' var ':' var op literal ')'
//! compare := field op literal | literal op field | field 'in' '(' literal (',' literal)* ')'
//! op      := eq | ne | gt | ge | lt | le
//! literal := 'string' ('' escapes a quote) | number | datetime | true | false | null
//! ```
//! Lexing is in `lex`, evaluation in `eval`.

use std::cmp::Ordering;

use super::{
    lex::{lex, Tok},
    EntitySet, Kind,
};
use crate::model::Timestamp;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    fn flip(self) -> Self {
        match self {
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            other => other,
        }
    }

    fn kind_name(self) -> &'static str {
        match self {
            Self::Eq => "Equal",
            Self::Ne => "NotEqual",
            Self::Gt => "GreaterThan",
            Self::Ge => "GreaterThanOrEqual",
            Self::Lt => "LessThan",
            Self::Le => "LessThanOrEqual",
        }
    }

    /// Whether `ord` (value compared to literal) satisfies the operator.
    pub(super) fn holds(self, ord: Ordering) -> bool {
        match self {
            Self::Eq => ord == Ordering::Equal,
            Self::Ne => ord != Ordering::Equal,
            Self::Gt => ord == Ordering::Greater,
            Self::Ge => ord != Ordering::Less,
            Self::Lt => ord == Ordering::Less,
            Self::Le => ord != Ordering::Greater,
        }
    }
}

/// A typed literal, normalised for comparison with wire values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    /// Lower-cased for case-insensitive comparison.
    Str(String),
    /// In the wire format, so that string order is time order.
    Time(String),
}

/// String functions usable as a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    StartsWith,
    EndsWith,
    Contains,
}

/// A checked filter expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: &'static str,
        op: Op,
        value: Lit,
    },
    In {
        field: &'static str,
        values: Vec<Lit>,
    },
    Call {
        func: Func,
        field: &'static str,
        arg: String,
    },
    /// `tags/any(t: t op 'x')`, or `tags/any(t: startswith(t, 'x'))`.
    Any {
        field: &'static str,
        cond: AnyCond,
    },
}

/// The condition inside `any(...)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnyCond {
    Cmp(Op, Lit),
    Call(Func, String),
}

/// Parses and type-checks `input` against `set`.
pub(crate) fn parse(input: &str, set: &'static EntitySet) -> Result<Expr, String> {
    let toks = lex(input)?;
    if toks.is_empty() {
        return Err("the $filter expression is empty".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        set,
        depth: 0,
    };
    let e = p.expr()?;
    if p.pos < p.toks.len() {
        return Err(format!(
            "syntax error at token {}: unexpected '{}'",
            p.pos + 1,
            p.show(p.pos)
        ));
    }
    Ok(e)
}

/// Deepest nesting of `(` and `not` accepted: recursion is bounded so that no input can exhaust
/// the stack (the URI alone can carry hundreds of thousands of parentheses).
const MAX_DEPTH: usize = 256;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    set: &'static EntitySet,
    depth: usize,
}

impl Parser {
    fn show(&self, at: usize) -> String {
        match self.toks.get(at) {
            None => "end of input".into(),
            Some(Tok::Open) => "(".into(),
            Some(Tok::Close) => ")".into(),
            Some(Tok::Comma) => ",".into(),
            Some(Tok::Colon) => ":".into(),
            Some(Tok::Slash) => "/".into(),
            Some(Tok::Str(s)) => format!("'{s}'"),
            Some(Tok::Word(w) | Tok::Bare(w)) => w.clone(),
        }
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), String> {
        if self.toks.get(self.pos) == Some(&tok) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!(
                "expected {what} but found '{}'",
                self.show(self.pos)
            ))
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "the $filter expression nests deeper than {MAX_DEPTH} levels"
            ));
        }
        let e = self.unary_inner();
        self.depth -= 1;
        e
    }

    fn unary_inner(&mut self) -> Result<Expr, String> {
        if self.peek_keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.toks.get(self.pos) == Some(&Tok::Open) {
            self.pos += 1;
            let e = self.expr()?;
            self.expect(Tok::Close, "')'")?;
            return Ok(e);
        }
        if let Some(func) = self.func_name() {
            self.pos += 1;
            self.expect(Tok::Open, "'('")?;
            let field = self.field()?;
            self.check_kind(field, &[Kind::Str, Kind::Enum(&[])], "a string function")?;
            self.expect(Tok::Comma, "','")?;
            let arg = self.string_arg()?;
            self.expect(Tok::Close, "')'")?;
            return Ok(Expr::Call { func, field, arg });
        }
        self.compare()
    }

    fn func_name(&self) -> Option<Func> {
        let Some(Tok::Word(w)) = self.toks.get(self.pos) else {
            return None;
        };
        if self.toks.get(self.pos + 1) != Some(&Tok::Open) {
            return None;
        }
        match w.to_ascii_lowercase().as_str() {
            "startswith" => Some(Func::StartsWith),
            "endswith" => Some(Func::EndsWith),
            "contains" => Some(Func::Contains),
            _ => None,
        }
    }

    fn string_arg(&mut self) -> Result<String, String> {
        match self.toks.get(self.pos) {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(s.to_lowercase())
            }
            _ => Err(format!(
                "expected a string literal but found '{}'",
                self.show(self.pos)
            )),
        }
    }

    /// A property of the entity; unknown and non-filterable properties are errors.
    fn field(&mut self) -> Result<&'static str, String> {
        let Some(Tok::Word(name)) = self.toks.get(self.pos).cloned() else {
            return Err(format!(
                "expected a property name but found '{}'",
                self.show(self.pos)
            ));
        };
        self.pos += 1;
        let f = self.set.field(&name)?;
        if !f.filterable {
            return Err(format!(
                "The property '{}' of type '{}' cannot be used in the $filter query option.",
                f.name, self.set.type_name
            ));
        }
        Ok(f.name)
    }

    fn kind(&self, field: &str) -> Kind {
        self.set
            .fields
            .iter()
            .find(|f| f.name == field)
            .map_or(Kind::Str, |f| f.kind)
    }

    fn check_kind(&self, field: &str, ok: &[Kind], what: &str) -> Result<(), String> {
        let k = self.kind(field);
        if ok
            .iter()
            .any(|o| std::mem::discriminant(o) == std::mem::discriminant(&k))
        {
            Ok(())
        } else {
            Err(format!(
                "The property '{field}' of type '{}' cannot be used in {what}.",
                k.edm()
            ))
        }
    }

    fn op(&mut self) -> Result<Op, String> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => {
                let op = Op::parse(w)
                    .ok_or_else(|| format!("expected a comparison operator but found '{w}'"))?;
                self.pos += 1;
                Ok(op)
            }
            _ => Err(format!(
                "expected a comparison operator but found '{}'",
                self.show(self.pos)
            )),
        }
    }

    fn is_field_next(&self) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if !["true", "false", "null"].contains(&w.to_ascii_lowercase().as_str()))
    }

    fn compare(&mut self) -> Result<Expr, String> {
        if !self.is_field_next() {
            // literal op field
            let raw = self.raw_literal()?;
            let op = self.op()?;
            let field = self.field()?;
            let value = self.typed(field, raw, op)?;
            return Ok(Expr::Cmp {
                field,
                op: op.flip(),
                value,
            });
        }
        let field = self.field()?;
        if self.toks.get(self.pos) == Some(&Tok::Slash) {
            return self.any(field);
        }
        if self.peek_keyword("in") {
            self.pos += 1;
            self.expect(Tok::Open, "'(' after 'in'")?;
            let mut values = Vec::new();
            loop {
                let raw = self.raw_literal()?;
                values.push(self.typed(field, raw, Op::Eq)?);
                if self.toks.get(self.pos) == Some(&Tok::Comma) {
                    self.pos += 1;
                    continue;
                }
                self.expect(Tok::Close, "')' to close the 'in' list")?;
                break;
            }
            return Ok(Expr::In { field, values });
        }
        let op = self.op()?;
        let raw = self.raw_literal()?;
        let value = self.typed(field, raw, op)?;
        Ok(Expr::Cmp { field, op, value })
    }

    fn any(&mut self, field: &'static str) -> Result<Expr, String> {
        self.pos += 1;
        if !self.peek_keyword("any") {
            return Err(format!("expected 'any' after '{field}/'"));
        }
        if self.kind(field) != Kind::StrList {
            return Err(format!("'{field}' is not a collection; any() needs one"));
        }
        self.pos += 1;
        self.expect(Tok::Open, "'(' after any")?;
        let Some(Tok::Word(var)) = self.toks.get(self.pos).cloned() else {
            return Err("expected a lambda variable in any()".into());
        };
        self.pos += 1;
        self.expect(Tok::Colon, "':' after the lambda variable")?;
        let cond = if let Some(func) = self.func_name() {
            self.pos += 2;
            self.lambda_var(&var)?;
            self.expect(Tok::Comma, "','")?;
            let arg = self.string_arg()?;
            self.expect(Tok::Close, "')'")?;
            AnyCond::Call(func, arg)
        } else {
            self.lambda_var(&var)?;
            let op = self.op()?;
            match self.raw_literal()? {
                Tok::Str(s) => AnyCond::Cmp(op, Lit::Str(s.to_lowercase())),
                other => return Err(format!("{field} holds strings; found {other:?}")),
            }
        };
        self.expect(Tok::Close, "')' to close any()")?;
        Ok(Expr::Any { field, cond })
    }

    fn lambda_var(&mut self, var: &str) -> Result<(), String> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) if w == var => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(format!(
                "expected the lambda variable '{var}' but found '{}'",
                self.show(self.pos)
            )),
        }
    }

    fn raw_literal(&mut self) -> Result<Tok, String> {
        match self.toks.get(self.pos).cloned() {
            Some(t @ (Tok::Str(_) | Tok::Bare(_))) => {
                self.pos += 1;
                Ok(t)
            }
            Some(Tok::Word(w))
                if ["true", "false", "null"].contains(&w.to_ascii_lowercase().as_str()) =>
            {
                self.pos += 1;
                Ok(Tok::Word(w.to_ascii_lowercase()))
            }
            _ => Err(format!(
                "expected a literal but found '{}'",
                self.show(self.pos)
            )),
        }
    }

    /// The literal as the field's type, or a type-mismatch error worded as OData words it.
    fn typed(&self, field: &str, raw: Tok, op: Op) -> Result<Lit, String> {
        let kind = self.kind(field);
        let mismatch = |found: &str| {
            format!(
                "A binary operator with incompatible types was detected. Found operand types '{}' and '{found}' for operator kind '{}'.",
                kind.edm(),
                op.kind_name()
            )
        };
        if raw == Tok::Word("null".into()) {
            return Ok(Lit::Null);
        }
        match (kind, raw) {
            (Kind::Str, Tok::Str(s)) => Ok(Lit::Str(s.to_lowercase())),
            (Kind::Enum(values), Tok::Str(s)) => {
                if values.is_empty() || values.iter().any(|v| v.eq_ignore_ascii_case(&s)) {
                    Ok(Lit::Str(s.to_lowercase()))
                } else {
                    Err(format!(
                        "The string '{s}' is not a valid enumerated type constant for '{field}'."
                    ))
                }
            }
            (Kind::Int, Tok::Bare(b)) => {
                b.parse().map(Lit::Int).map_err(|_| mismatch("Edm.Double"))
            }
            (Kind::Int, Tok::Str(_)) => Err(mismatch("Edm.String")),
            (Kind::DateTime, Tok::Bare(b) | Tok::Str(b)) => parse_time(&b)
                .map(|t| Lit::Time(t.to_string()))
                .ok_or_else(|| format!("'{b}' is not a valid Edm.DateTimeOffset literal")),
            (Kind::Bool, Tok::Word(w)) => Ok(Lit::Bool(w == "true")),
            (Kind::Str | Kind::Enum(_), Tok::Bare(b)) => {
                // An unquoted GUID is a valid OData literal for string ids.
                if uuid::Uuid::try_parse(&b).is_ok() {
                    Ok(Lit::Str(b.to_lowercase()))
                } else {
                    Err(mismatch(if b.contains('T') {
                        "Edm.DateTimeOffset"
                    } else {
                        "Edm.Int32"
                    }))
                }
            }
            (_, Tok::Str(_)) => Err(mismatch("Edm.String")),
            (_, Tok::Word(_)) => Err(mismatch("Edm.Boolean")),
            (_, _) => Err(mismatch("Edm.Int32")),
        }
    }
}

/// `2024-01-01T00:00:00Z`, with any fraction or offset, or a bare date `2018-08-01` / `2018-08-01Z`.
fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(t) = Timestamp::parse(s) {
        return Some(t);
    }
    let date = s.strip_suffix('Z').unwrap_or(s);
    Timestamp::parse(&format!("{date}T00:00:00Z")).ok()
}
