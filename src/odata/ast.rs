//! The checked `$filter` tree: comparison operators, typed literals, string functions and the
//! expressions `filter` builds and `eval` runs.

use std::cmp::Ordering;

use time::OffsetDateTime;

use super::schema::Field;

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
    /// The operator a keyword names (any case).
    pub(super) fn parse(word: &str) -> Option<Self> {
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

    /// The operator with its operands swapped (`5 lt x` is `x gt 5`).
    pub(super) fn flip(self) -> Self {
        match self {
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            other => other,
        }
    }

    /// The operator's name in OData error messages.
    pub(super) fn kind_name(self) -> &'static str {
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
    /// Truncated to the wire's 100 ns, as row values are.
    Time(OffsetDateTime),
}

/// String functions usable as a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    StartsWith,
    EndsWith,
    Contains,
}

/// A checked filter expression over rows of type `R`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr<R: 'static> {
    Or(Box<Expr<R>>, Box<Expr<R>>),
    And(Box<Expr<R>>, Box<Expr<R>>),
    Not(Box<Expr<R>>),
    Cmp {
        field: &'static Field<R>,
        op: Op,
        value: Lit,
    },
    In {
        field: &'static Field<R>,
        values: Vec<Lit>,
    },
    Call {
        func: Func,
        field: &'static Field<R>,
        arg: String,
    },
    /// `tags/any(t: t op 'x')`, or `tags/any(t: startswith(t, 'x'))`.
    Any {
        field: &'static Field<R>,
        cond: AnyCond,
    },
}

impl<R> Expr<R> {
    /// The string `field eq '...'` requires of every matching row, when the filter is that
    /// comparison or an `and` of it with anything (lower case, as literals are kept).
    pub(crate) fn required_eq(&self, field: &str) -> Option<&str> {
        match self {
            Expr::Cmp {
                field: f,
                op: Op::Eq,
                value: Lit::Str(s),
            } if f.name == field => Some(s),
            Expr::And(a, b) => a.required_eq(field).or_else(|| b.required_eq(field)),
            _ => None,
        }
    }

    /// How many nodes the tree has: operators, comparisons and each value of an `in` list.
    pub(crate) fn nodes(&self) -> usize {
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => 1 + a.nodes() + b.nodes(),
            Expr::Not(a) => 1 + a.nodes(),
            Expr::In { values, .. } => 1 + values.len(),
            Expr::Cmp { .. } | Expr::Call { .. } | Expr::Any { .. } => 1,
        }
    }
}

/// The condition inside `any(...)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnyCond {
    Cmp(Op, Lit),
    Call(Func, String),
}
