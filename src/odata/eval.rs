//! Evaluating a checked `$filter` against an entity as serialized on the wire. String
//! comparisons ignore case, like the SQL collation behind the real service.

use std::cmp::Ordering;

use serde_json::Value;

use super::ast::{AnyCond, Expr, Func, Lit, Op};

/// Whether `row` (an entity as serialized) satisfies `e`.
pub(crate) fn matches(e: &Expr, row: &Value) -> bool {
    match e {
        Expr::Or(a, b) => matches(a, row) || matches(b, row),
        Expr::And(a, b) => matches(a, row) && matches(b, row),
        Expr::Not(a) => !matches(a, row),
        Expr::Cmp { field, op, value } => {
            let v = &row[*field];
            match (v.is_null(), *value == Lit::Null) {
                (true, true) => matches!(op, Op::Eq | Op::Ge | Op::Le),
                // A value and null are only ever unequal.
                (true, false) | (false, true) => *op == Op::Ne,
                (false, false) => compare(v, value).is_some_and(|o| op.holds(o)),
            }
        }
        Expr::In { field, values } => values
            .iter()
            .any(|v| compare(&row[*field], v) == Some(Ordering::Equal)),
        Expr::Call { func, field, arg } => {
            row[*field].as_str().is_some_and(|s| call(*func, s, arg))
        }
        Expr::Any { field, cond } => row[*field].as_array().is_some_and(|items| {
            items.iter().filter_map(Value::as_str).any(|s| match cond {
                AnyCond::Cmp(op, lit) => {
                    compare(&Value::String(s.to_owned()), lit).is_some_and(|o| op.holds(o))
                }
                AnyCond::Call(func, arg) => call(*func, s, arg),
            })
        }),
    }
}

fn call(func: Func, s: &str, arg: &str) -> bool {
    let s = s.to_lowercase();
    match func {
        Func::StartsWith => s.starts_with(arg),
        Func::EndsWith => s.ends_with(arg),
        Func::Contains => s.contains(arg),
    }
}

/// Orders a non-null wire value against a non-null literal; `None` when the types differ.
fn compare(v: &Value, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Value::String(s), Lit::Str(l)) => Some(s.to_lowercase().cmp(l)),
        (Value::String(s), Lit::Time(l)) => Some(s.as_str().cmp(l.as_str())),
        (Value::Number(n), Lit::Int(l)) => n.as_i64().map(|n| n.cmp(l)),
        (Value::Bool(b), Lit::Bool(l)) => Some(b.cmp(l)),
        _ => None,
    }
}
