//! The checked `$filter` tree: comparison operators, typed literals, string functions and the
//! expressions `filter` builds and `eval` runs.

use std::cmp::Ordering;

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
