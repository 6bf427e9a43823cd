//! OData query options on collections (spec §5.2, §7.3, §8.5): `$filter`, `$orderby`, `$top`,
//! `$skip`, `$count`, `$select`, and server-driven paging with `@odata.nextLink`.
//!
//! Rows are the entities as serialized on the wire (`serde_json::Value`), so filters and sorting
//! see exactly the values a client sees, and each entity set's schema says which properties exist,
//! their types, and which may be filtered.

mod ast;
mod eval;
pub(crate) mod filter;
mod lex;
mod schema;

pub(crate) use eval::matches;
pub(crate) use schema::{EntitySet, Kind, MACHINES, MACHINE_ACTIONS};

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::{ApiError, Code};

/// Most rows a page or `$top` may hold (spec: "Maximum page size is 10,000").
pub(crate) const MAX_TOP: usize = 10_000;

/// System query options this emulator implements.
const SUPPORTED: &[&str] = &["$filter", "$orderby", "$top", "$skip", "$count", "$select"];
/// Standard OData options the real service does not support on these sets.
const NOT_SUPPORTED: &[&str] = &[
    "$expand",
    "$search",
    "$apply",
    "$compute",
    "$format",
    "$levels",
    "$index",
    "$skiptoken",
    "$deltatoken",
    "$schemaversion",
];

/// Parsed query options of one collection request.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub filter: Option<filter::Expr>,
    pub orderby: Vec<(&'static str, bool)>,
    pub top: Option<usize>,
    pub skip: usize,
    pub count: bool,
    pub select: Option<Vec<&'static str>>,
}

fn odata_error(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(Code::ODataError, message)
}

/// Parses the raw query string of a request on `set`.
pub(crate) fn parse(raw: Option<&str>, set: &'static EntitySet) -> Result<Query, ApiError> {
    let mut q = Query::default();
    let Some(raw) = raw else {
        return Ok(q);
    };
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let k = key.to_ascii_lowercase();
        if !k.starts_with('$') {
            continue; // custom options without `$` are ignored, as OData does
        }
        check_option(&key, &k, &seen)?;
        seen.push(k.clone());
        set_option(&mut q, &k, &key, &value, set)?;
    }
    Ok(q)
}

/// Refuses option `key` (lower-cased: `k`) when this emulator does not implement it, or when it
/// was given before (in `seen`).
fn check_option(key: &str, k: &str, seen: &[String]) -> Result<(), ApiError> {
    if !SUPPORTED.contains(&k) {
        if NOT_SUPPORTED.contains(&k) {
            return Err(odata_error(format!("Query option '{key}' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.")));
        }
        return Err(ApiError::RawOData(format!(
            "The query specified in the URI is not valid. Custom query option '{key}' that starts with '$' is not supported."
        )));
    }
    if seen.iter().any(|s| s == k) {
        return Err(odata_error(format!("Query option '{key}' was specified more than once, but it must be specified at most once.")));
    }
    Ok(())
}

/// Parses the `value` of supported option `k` (as given: `key`) into `q`.
fn set_option(
    q: &mut Query,
    k: &str,
    key: &str,
    value: &str,
    set: &'static EntitySet,
) -> Result<(), ApiError> {
    match k {
        "$filter" => q.filter = Some(filter::parse(value, set).map_err(odata_error)?),
        "$orderby" => q.orderby = parse_orderby(value, set)?,
        "$top" => q.top = Some(parse_top(key, value)?),
        "$skip" => q.skip = parse_count(key, value)?,
        "$count" => q.count = parse_count_flag(value)?,
        "$select" => q.select = Some(parse_select(value, set)?),
        _ => {}
    }
    Ok(())
}

/// `$top`: a non-negative integer no larger than `MAX_TOP`.
fn parse_top(key: &str, value: &str) -> Result<usize, ApiError> {
    let top = parse_count(key, value)?;
    if top > MAX_TOP {
        return Err(odata_error(format!(
            "The limit of '{MAX_TOP}' for Top query has been exceeded. The value from the incoming request is '{top}'."
        )));
    }
    Ok(top)
}

/// `$count`: `true` or `false`, in any case.
fn parse_count_flag(value: &str) -> Result<bool, ApiError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(odata_error(format!(
            "'{value}' is not a valid count option."
        ))),
    }
}

fn parse_count(key: &str, value: &str) -> Result<usize, ApiError> {
    value.trim().parse::<usize>().map_err(|_| {
        odata_error(format!("Invalid value '{value}' for {key} query option found. The {key} query option requires a non-negative integer value."))
    })
}

fn parse_orderby(
    value: &str,
    set: &'static EntitySet,
) -> Result<Vec<(&'static str, bool)>, ApiError> {
    let mut keys = Vec::new();
    for item in value.split(',') {
        let mut words = item.split_whitespace();
        let name = words
            .next()
            .ok_or_else(|| odata_error("$orderby has an empty item"))?;
        let field = set.field(name).map_err(odata_error)?;
        if matches!(field.kind, Kind::Complex | Kind::StrList) {
            return Err(odata_error(format!("The $orderby expression must evaluate to a single value of primitive type; '{name}' does not.")));
        }
        let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(odata_error(format!(
                    "Syntax error in $orderby: '{other}' is not asc or desc."
                )))
            }
        };
        if let Some(extra) = words.next() {
            return Err(odata_error(format!(
                "Syntax error in $orderby at '{extra}'."
            )));
        }
        keys.push((field.name, desc));
    }
    Ok(keys)
}

fn parse_select(value: &str, set: &'static EntitySet) -> Result<Vec<&'static str>, ApiError> {
    value
        .split(',')
        .map(|name| set.field(name.trim()).map(|f| f.name).map_err(odata_error))
        .collect()
}

/// One page of a collection.
#[derive(Debug)]
pub(crate) struct Page {
    pub value: Vec<Value>,
    pub count: Option<usize>,
    /// `$skip` of the next page, when the server cut the page short.
    pub next_skip: Option<usize>,
}

/// Filters, sorts, counts and pages `rows`. Without `$top`, a page holds `page_size` rows and
/// says where the next starts; with `$top`, it holds at most `$top` and never a next link.
pub(crate) fn apply(q: &Query, rows: Vec<Value>, page_size: usize) -> Page {
    let mut rows: Vec<Value> = match &q.filter {
        Some(e) => rows.into_iter().filter(|r| matches(e, r)).collect(),
        None => rows,
    };
    if !q.orderby.is_empty() {
        rows.sort_by(|a, b| {
            q.orderby
                .iter()
                .map(|(k, desc)| {
                    let o = order(&a[*k], &b[*k]);
                    if *desc {
                        o.reverse()
                    } else {
                        o
                    }
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
    }
    let total = rows.len();
    let limit = q.top.unwrap_or(page_size.clamp(1, MAX_TOP));
    let value: Vec<Value> = rows
        .into_iter()
        .skip(q.skip)
        .take(limit)
        .map(|r| project(r, q.select.as_deref()))
        .collect();
    let end = q.skip.saturating_add(value.len());
    let next_skip = (q.top.is_none() && end < total).then_some(end);
    Page {
        value,
        count: q.count.then_some(total),
        next_skip,
    }
}

/// Sort order of two wire values of one property: nulls first, strings ignoring case.
fn order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::String(x), Value::String(y)) => x
            .to_lowercase()
            .cmp(&y.to_lowercase())
            .then_with(|| x.cmp(y)),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

fn project(row: Value, select: Option<&[&str]>) -> Value {
    match (select, row) {
        (Some(select), Value::Object(mut obj)) => {
            let mut out = Map::new();
            for name in select {
                if let Some(v) = obj.remove(*name) {
                    out.insert((*name).to_owned(), v);
                }
            }
            Value::Object(out)
        }
        (_, row) => row,
    }
}

/// The raw query with `$skip` replaced by `skip`: the query part of an `@odata.nextLink`.
pub(crate) fn next_link_query(raw: Option<&str>, skip: usize) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !k.eq_ignore_ascii_case("$skip") {
            ser.append_pair(&k, &v);
        }
    }
    ser.append_pair("$skip", &skip.to_string());
    ser.finish()
}

#[cfg(test)]
mod tests;
