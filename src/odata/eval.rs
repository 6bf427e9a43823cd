//! Evaluating a checked `$filter` against a typed row, and ordering rows for `$orderby`. String
//! comparisons ignore case, like the SQL collation behind the real service, and allocate nothing:
//! the row's characters are lower-cased as they are compared (literals are lower-cased once, when
//! the filter is parsed).

use std::cmp::Ordering;

use super::{
    ast::{AnyCond, Expr, Func, Lit, Op},
    schema::Cell,
};

/// Whether `row` satisfies `e`.
pub(crate) fn matches<R>(e: &Expr<R>, row: &R) -> bool {
    match e {
        Expr::Or(a, b) => matches(a, row) || matches(b, row),
        Expr::And(a, b) => matches(a, row) && matches(b, row),
        Expr::Not(a) => !matches(a, row),
        Expr::Cmp { field, op, value } => {
            let v = (field.get)(row);
            match (v == Cell::Null, *value == Lit::Null) {
                (true, true) => matches!(op, Op::Eq | Op::Ge | Op::Le),
                // A value and null are only ever unequal.
                (true, false) | (false, true) => *op == Op::Ne,
                (false, false) => compare(v, value).is_some_and(|o| op.holds(o)),
            }
        }
        Expr::In { field, values } => {
            let v = (field.get)(row);
            values
                .iter()
                .any(|lit| compare(v, lit) == Some(Ordering::Equal))
        }
        Expr::Call { func, field, arg } => {
            with_str((field.get)(row), |s| call(*func, s, arg)).unwrap_or(false)
        }
        Expr::Any { field, cond } => match (field.get)(row) {
            Cell::List(items) => items.iter().any(|s| match cond {
                AnyCond::Cmp(op, Lit::Str(lit)) => op.holds(cmp_folded(s, lit)),
                AnyCond::Cmp(..) => false,
                AnyCond::Call(func, arg) => call(*func, s, arg),
            }),
            _ => false,
        },
    }
}

/// Runs `f` on the cell as a string (a GUID written into a stack buffer); `None` if it is none.
fn with_str<T>(cell: Cell<'_>, f: impl FnOnce(&str) -> T) -> Option<T> {
    match cell {
        Cell::Str(s) => Some(f(s)),
        Cell::Guid(g) => {
            let mut buf = uuid::Uuid::encode_buffer();
            Some(f(g.hyphenated().encode_lower(&mut buf)))
        }
        _ => None,
    }
}

/// `s`, lower-cased character by character.
fn folded(s: &str) -> impl DoubleEndedIterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// `s` (any case) against `lit` (lower case).
fn cmp_folded(s: &str, lit: &str) -> Ordering {
    if s.is_ascii() {
        s.bytes().map(|b| b.to_ascii_lowercase()).cmp(lit.bytes())
    } else {
        folded(s).cmp(lit.chars())
    }
}

fn call(func: Func, s: &str, arg: &str) -> bool {
    match func {
        Func::StartsWith => {
            let mut it = folded(s);
            arg.chars().all(|c| it.next() == Some(c))
        }
        Func::EndsWith => {
            let mut it = s.chars().rev().flat_map(|c| c.to_lowercase().rev());
            arg.chars().rev().all(|c| it.next() == Some(c))
        }
        Func::Contains if s.is_ascii() => {
            let (hay, needle) = (s.as_bytes(), arg.as_bytes());
            needle.is_empty()
                || hay
                    .windows(needle.len())
                    .any(|w| w.eq_ignore_ascii_case(needle))
        }
        // Rare: a non-ASCII value is lower-cased whole.
        Func::Contains => s.to_lowercase().contains(arg),
    }
}

/// Orders a non-null cell against a non-null literal; `None` when the types differ.
fn compare(v: Cell<'_>, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Cell::Str(_) | Cell::Guid(_), Lit::Str(l)) => with_str(v, |s| cmp_folded(s, l)),
        (Cell::Time(t), Lit::Time(l)) => Some(t.cmp(l)),
        (Cell::Int(n), Lit::Int(l)) => Some(n.cmp(l)),
        (Cell::Bool(b), Lit::Bool(l)) => Some(b.cmp(l)),
        _ => None,
    }
}

/// Sort order of two cells of one property: nulls first, strings ignoring case (then exactly).
pub(super) fn order(a: Cell<'_>, b: Cell<'_>) -> Ordering {
    match (a, b) {
        (Cell::Null, Cell::Null) => Ordering::Equal,
        (Cell::Null, _) => Ordering::Less,
        (_, Cell::Null) => Ordering::Greater,
        (Cell::Str(x), Cell::Str(y)) => folded(x).cmp(folded(y)).then_with(|| x.cmp(y)),
        (Cell::Guid(x), Cell::Guid(y)) => x.cmp(&y),
        (Cell::Int(x), Cell::Int(y)) => x.cmp(&y),
        (Cell::Time(x), Cell::Time(y)) => x.cmp(&y),
        (Cell::Bool(x), Cell::Bool(y)) => x.cmp(&y),
        _ => Ordering::Equal,
    }
}
