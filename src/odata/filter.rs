//! `$filter`: a recursive-descent parser for the OData subset Defender clients send, type-checked
//! against the entity's schema into an `Expr` that `eval` runs against typed rows. The tree is
//! bounded: at most `MAX_NODES` nodes and `MAX_DEPTH` levels, so no filter can cost more than a
//! known number of comparisons per row.
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
//! Lexing is in `lex`, the tree in `ast`, `any()` in `lambda`, literal typing in `literal`,
//! evaluation in `eval`.

mod lambda;
mod literal;

pub(crate) use super::ast::{AnyCond, Expr, Func, Lit, Op};
use super::{
    lex::{lex, Tok},
    schema::Field,
    EntitySet, Kind,
};

/// Most nodes (operators, comparisons, function calls, `in` values) a `$filter` may have.
pub(crate) const MAX_NODES: usize = 500;

/// Parses and type-checks `input` against `set`.
pub(crate) fn parse<R>(input: &str, set: &'static EntitySet<R>) -> Result<Expr<R>, String> {
    let toks = lex(input)?;
    if toks.is_empty() {
        return Err("the $filter expression is empty".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        set,
        depth: 0,
        nodes: 0,
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

struct Parser<R: 'static> {
    toks: Vec<Tok>,
    pos: usize,
    set: &'static EntitySet<R>,
    depth: usize,
    /// Nodes built so far (checked against `MAX_NODES` as each is made).
    nodes: usize,
}

impl<R> Parser<R> {
    /// Counts `n` more nodes; an error once the filter has more than `MAX_NODES`.
    fn node(&mut self, n: usize) -> Result<(), String> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(format!("The node count limit of '{MAX_NODES}' has been exceeded. To increase the limit, set the 'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings."));
        }
        Ok(())
    }

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

    fn expr(&mut self) -> Result<Expr<R>, String> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            self.node(1)?;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr<R>, String> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            self.node(1)?;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr<R>, String> {
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

    fn unary_inner(&mut self) -> Result<Expr<R>, String> {
        if self.peek_keyword("not") {
            self.pos += 1;
            self.node(1)?;
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
            self.node(1)?;
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
    fn field(&mut self) -> Result<&'static Field<R>, String> {
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
        Ok(f)
    }

    fn check_kind(&self, field: &Field<R>, ok: &[Kind], what: &str) -> Result<(), String> {
        let k = field.kind;
        if ok
            .iter()
            .any(|o| std::mem::discriminant(o) == std::mem::discriminant(&k))
        {
            Ok(())
        } else {
            Err(format!(
                "The property '{}' of type '{}' cannot be used in {what}.",
                field.name,
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

    fn compare(&mut self) -> Result<Expr<R>, String> {
        self.node(1)?;
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
                self.node(1)?;
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
}
