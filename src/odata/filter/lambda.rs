//! The lambda in a `$filter`: `any()` over a string collection (`machineTags`), with a
//! comparison or a string function on its variable.

use super::{AnyCond, Expr, Field, Kind, Lit, Parser, Tok};

impl<R> Parser<R> {
    /// `field/any(v: v op 'x')` or `field/any(v: func(v, 'x'))` on a string collection, from the
    /// `/` on.
    pub(super) fn any(&mut self, field: &'static Field<R>) -> Result<Expr<R>, String> {
        self.pos += 1;
        let name = field.name;
        if !self.peek_keyword("any") {
            return Err(format!("expected 'any' after '{name}/'"));
        }
        if field.kind != Kind::StrList {
            return Err(format!("'{name}' is not a collection; any() needs one"));
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
                other => return Err(format!("{name} holds strings; found {other:?}")),
            }
        };
        self.expect(Tok::Close, "')' to close any()")?;
        Ok(Expr::Any { field, cond })
    }

    /// The lambda variable `var`, where the condition must name it.
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
}
