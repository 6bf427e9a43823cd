//! OData query options on collections (spec §5.2, §7.3, §8.5): `$filter`, `$orderby`, `$top`,
//! `$skip`, `$count`, `$select`, and server-driven paging with `@odata.nextLink`.
//!
//! Rows are the stored, typed entities: each entity set's schema says which properties exist,
//! their types, which may be filtered and how to read each from a row, so a query filters, sorts
//! and pages references to rows and only the page is ever serialized. A filter is bounded in
//! length and nodes; `Query::cost` lets callers move a heavy evaluation off the async workers.

mod alert_schema;
mod ast;
mod eval;
pub(crate) mod filter;
mod indicators;
mod investigations;
mod lex;
mod schema;

pub(crate) use alert_schema::ALERTS;
pub(crate) use eval::matches;
pub(crate) use indicators::INDICATORS;
pub(crate) use investigations::INVESTIGATIONS;
pub(crate) use schema::{EntitySet, Field, Kind, MACHINES, MACHINE_ACTIONS};

use std::{borrow::Borrow, cmp::Ordering};

use serde::{ser::SerializeMap, Serialize, Serializer};

use crate::error::{ApiError, Code};

/// Most rows a page or `$top` may hold (spec: "Maximum page size is 10,000").
pub(crate) const MAX_TOP: usize = 10_000;

/// Longest query string accepted on a collection (emulator decision: 16 KiB, room for an `in`
/// list of a few hundred ids; anything longer is refused before it is parsed).
pub(crate) const MAX_QUERY_BYTES: usize = 16 * 1024;

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

/// Parsed query options of one collection request on rows of type `R`.
#[derive(Debug)]
pub(crate) struct Query<R: 'static> {
    pub filter: Option<filter::Expr<R>>,
    pub orderby: Vec<(&'static Field<R>, bool)>,
    pub top: Option<usize>,
    pub skip: usize,
    pub count: bool,
    pub select: Option<Vec<&'static str>>,
}

impl<R> Default for Query<R> {
    fn default() -> Self {
        Self {
            filter: None,
            orderby: Vec::new(),
            top: None,
            skip: 0,
            count: false,
            select: None,
        }
    }
}

impl<R> Query<R> {
    /// A rough cost of running this query over `rows` rows: comparisons to make (at least one a
    /// row), more when sorting. Callers run a query that costs much off the async workers.
    pub(crate) fn cost(&self, rows: usize) -> usize {
        let per_row = 1 + self.filter.as_ref().map_or(0, filter::Expr::nodes);
        let sort = if self.orderby.is_empty() { 1 } else { 4 };
        rows.saturating_mul(per_row).saturating_mul(sort)
    }
}

fn odata_error(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(Code::ODataError, message)
}

/// Parses the raw query string of a request on `set`.
pub(crate) fn parse<R>(
    raw: Option<&str>,
    set: &'static EntitySet<R>,
) -> Result<Query<R>, ApiError> {
    let mut q = Query::default();
    let Some(raw) = raw else {
        return Ok(q);
    };
    if raw.len() > MAX_QUERY_BYTES {
        return Err(odata_error(format!(
            "The query string is {} bytes long; this service accepts at most {MAX_QUERY_BYTES}.",
            raw.len()
        )));
    }
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
fn set_option<R>(
    q: &mut Query<R>,
    k: &str,
    key: &str,
    value: &str,
    set: &'static EntitySet<R>,
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

fn parse_orderby<R>(
    value: &str,
    set: &'static EntitySet<R>,
) -> Result<Vec<(&'static Field<R>, bool)>, ApiError> {
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
        keys.push((field, desc));
    }
    Ok(keys)
}

fn parse_select<R>(value: &str, set: &'static EntitySet<R>) -> Result<Vec<&'static str>, ApiError> {
    value
        .split(',')
        .map(|name| set.field(name.trim()).map(|f| f.name).map_err(odata_error))
        .collect()
}

/// One page of a collection: the rows to return, in order.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub rows: Vec<T>,
    pub count: Option<usize>,
    /// `$skip` of the next page, when the server cut the page short.
    pub next_skip: Option<usize>,
}

impl<T> Page<T> {
    /// The same page with each row mapped (references to stored rows into owned ones).
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            count: self.count,
            next_skip: self.next_skip,
        }
    }
}

/// Filters, sorts, counts and pages `rows` (references, in the collection's natural order).
/// Without `$top`, a page holds `page_size` rows and says where the next starts; with `$top`, it
/// holds at most `$top` and never a next link. Without `$orderby` and `$count`, the scan stops as
/// soon as the page (and whether another row follows it) is known.
pub(crate) fn select<'r, R, T: Borrow<R> + 'r>(
    q: &Query<R>,
    rows: impl Iterator<Item = &'r T>,
    page_size: usize,
) -> Page<&'r T> {
    let limit = q.top.unwrap_or(page_size.clamp(1, MAX_TOP));
    let mut matching = rows.filter(|r| q.filter.as_ref().is_none_or(|e| matches(e, (*r).borrow())));
    if q.orderby.is_empty() && !q.count {
        let page: Vec<&T> = matching.by_ref().skip(q.skip).take(limit).collect();
        let more = q.top.is_none() && page.len() == limit && matching.next().is_some();
        let next_skip = more.then(|| q.skip.saturating_add(limit));
        return Page {
            rows: page,
            count: None,
            next_skip,
        };
    }
    let mut all: Vec<&T> = matching.collect();
    if !q.orderby.is_empty() {
        all.sort_by(|a, b| {
            let (a, b) = ((*a).borrow(), (*b).borrow());
            q.orderby
                .iter()
                .map(|(field, desc)| {
                    let o = eval::order((field.get)(a), (field.get)(b));
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
    let total = all.len();
    let rows: Vec<&T> = all.into_iter().skip(q.skip).take(limit).collect();
    let end = q.skip.saturating_add(rows.len());
    let next_skip = (q.top.is_none() && end < total).then_some(end);
    Page {
        rows,
        count: q.count.then_some(total),
        next_skip,
    }
}

/// A row serialized with only the `$select`ed properties (all of them without `$select`).
#[derive(Debug)]
pub(crate) struct Projected<'a, T> {
    pub row: &'a T,
    pub select: Option<&'a [&'static str]>,
}

impl<T: Serialize> Serialize for Projected<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(select) = self.select else {
            return self.row.serialize(s);
        };
        // Only page rows get here: the row is written to a map, and the selected keys kept.
        let value = serde_json::to_value(self.row).map_err(serde::ser::Error::custom)?;
        let mut map = s.serialize_map(Some(select.len()))?;
        for name in select {
            if let Some(v) = value.get(*name) {
                map.serialize_entry(name, v)?;
            }
        }
        map.end()
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
