//! Literals in a `$filter`: reading one token as a literal, and typing it as the property it is
//! compared with (strings, enum constants, integers, date-times, booleans, null, bare GUIDs).

use super::{Field, Kind, Lit, Op, Parser, Tok};
use crate::model::Timestamp;

impl<R> Parser<R> {
    /// The next token as a literal: a string, a bare literal, or `true`/`false`/`null` (any case,
    /// lower-cased).
    pub(super) fn raw_literal(&mut self) -> Result<Tok, String> {
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
    pub(super) fn typed(&self, field: &Field<R>, raw: Tok, op: Op) -> Result<Lit, String> {
        let kind = field.kind;
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
            (Kind::Enum(values), Tok::Str(s)) => enum_literal(values, field.name, &s),
            (Kind::Int, Tok::Bare(b)) => {
                b.parse().map(Lit::Int).map_err(|_| mismatch("Edm.Double"))
            }
            (Kind::Int, Tok::Str(_)) => Err(mismatch("Edm.String")),
            (Kind::DateTime, Tok::Bare(b) | Tok::Str(b)) => time_literal(&b),
            (Kind::Bool, Tok::Word(w)) => Ok(Lit::Bool(w == "true")),
            (Kind::Str | Kind::Enum(_), Tok::Bare(b)) => guid_literal(&b).ok_or_else(|| {
                mismatch(if b.contains('T') {
                    "Edm.DateTimeOffset"
                } else {
                    "Edm.Int32"
                })
            }),
            (_, Tok::Str(_)) => Err(mismatch("Edm.String")),
            (_, Tok::Word(_)) => Err(mismatch("Edm.Boolean")),
            (_, _) => Err(mismatch("Edm.Int32")),
        }
    }
}

/// A string compared with an enum property: one of its `values` in any case (empty: any string).
fn enum_literal(values: &[&str], field: &str, s: &str) -> Result<Lit, String> {
    if values.is_empty() || values.iter().any(|v| v.eq_ignore_ascii_case(s)) {
        Ok(Lit::Str(s.to_lowercase()))
    } else {
        Err(format!(
            "The string '{s}' is not a valid enumerated type constant for '{field}'."
        ))
    }
}

/// A date-time literal, quoted or not, in the wire format.
fn time_literal(b: &str) -> Result<Lit, String> {
    parse_time(b)
        .map(|t| {
            let ns = t.0.nanosecond();
            Lit::Time(t.0.replace_nanosecond(ns - ns % 100).unwrap_or(t.0))
        })
        .ok_or_else(|| format!("'{b}' is not a valid Edm.DateTimeOffset literal"))
}

/// An unquoted GUID is a valid OData literal for string ids; any other bare literal is not one.
fn guid_literal(b: &str) -> Option<Lit> {
    uuid::Uuid::try_parse(b)
        .is_ok()
        .then(|| Lit::Str(b.to_lowercase()))
}

/// `2024-01-01T00:00:00Z`, with any fraction or offset, or a bare date `2018-08-01` / `2018-08-01Z`.
fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(t) = Timestamp::parse(s) {
        return Some(t);
    }
    let date = s.strip_suffix('Z').unwrap_or(s);
    Timestamp::parse(&format!("{date}T00:00:00Z")).ok()
}
