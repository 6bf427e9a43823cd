//! Unit tests of the OData parser and evaluator, on hand-made typed rows.

use std::sync::Arc;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{filter, next_link_query, parse, select, EntitySet, MACHINES, MACHINE_ACTIONS};
use crate::{
    error::ApiError,
    model::{Machine, MachineAction, Timestamp},
};

/// A machine from the properties a test cares about (the required ones filled in).
fn machine(v: Value) -> Machine {
    let mut base = json!({"computerDnsName": "x", "firstSeen": "2024-01-01T00:00:00Z",
        "lastSeen": "2024-01-01T00:00:00Z", "osPlatform": "Windows11"});
    for (k, val) in v.as_object().unwrap() {
        base[k] = val.clone();
    }
    serde_json::from_value(base).unwrap()
}

/// An action from its wire properties; its label (the `id` given, GUID or not) is kept in
/// `requestorComment`, which no test filters on.
fn action(v: Value) -> MachineAction {
    let label = v["id"].as_str().unwrap().to_owned();
    let time = |k: &str| Timestamp::parse(v[k].as_str().unwrap_or("2024-01-01T00:00:00Z")).unwrap();
    MachineAction {
        id: Uuid::try_parse(&label).unwrap_or_else(|_| Uuid::new_v4()),
        action_type: serde_json::from_value(v["type"].clone())
            .unwrap_or(crate::model::ActionType::Isolate),
        status: serde_json::from_value(v["status"].clone()).unwrap(),
        scope: None,
        machine: Arc::new(machine(
            json!({"id": v["machineId"].as_str().unwrap_or("m0")}),
        )),
        requestor: v["requestor"].as_str().unwrap_or("App").into(),
        requestor_comment: label.into(),
        creation_date_time_utc: time("creationDateTimeUtc"),
        last_update_date_time_utc: time("lastUpdateDateTimeUtc"),
        cancellation: None,
        related_file_info: None,
    }
}

fn actions() -> Vec<MachineAction> {
    [
        json!({"id": "a1", "type": "Isolate", "status": "Succeeded", "machineId": "m1", "requestor": "App",
               "creationDateTimeUtc": "2024-01-01T00:00:00.0000000Z", "lastUpdateDateTimeUtc": "2024-01-01T00:01:00.0000000Z"}),
        json!({"id": "a2", "type": "Unisolate", "status": "Succeeded", "machineId": "m1", "requestor": "alice@contoso.com",
               "creationDateTimeUtc": "2024-01-02T00:00:00.0000000Z", "lastUpdateDateTimeUtc": "2024-01-02T00:01:00.0000000Z"}),
        json!({"id": "a3", "type": "Isolate", "status": "Pending", "machineId": "m2", "requestor": "App",
               "creationDateTimeUtc": "2024-01-03T00:00:00.0000000Z", "lastUpdateDateTimeUtc": "2024-01-03T00:00:00.0000000Z"}),
    ]
    .into_iter()
    .map(action)
    .collect()
}

fn machines() -> Vec<Machine> {
    [
        json!({"id": "m1", "computerDnsName": "fin-01.contoso.com", "rbacGroupId": 140, "rbacGroupName": "Finance", "healthStatus": "Active",
               "lastSeen": "2024-06-01T00:00:00.0000000Z", "machineTags": ["VIP", "Laptop"], "aadDeviceId": null, "riskScore": "High"}),
        json!({"id": "m2", "computerDnsName": "dc01.corp", "rbacGroupId": 150, "rbacGroupName": "Servers", "healthStatus": "Inactive",
               "lastSeen": "2024-01-01T00:00:00.0000000Z", "machineTags": [], "aadDeviceId": "x", "riskScore": "Low"}),
    ]
    .into_iter()
    .map(machine)
    .collect()
}

/// A row's name in assertions.
trait Label {
    fn label(&self) -> String;
}

impl Label for Machine {
    fn label(&self) -> String {
        self.id.to_string()
    }
}

impl Label for MachineAction {
    fn label(&self) -> String {
        self.requestor_comment.to_string()
    }
}

fn ids<R: Label>(filter_text: &str, rows: Vec<R>, set: &'static EntitySet<R>) -> Vec<String> {
    let q = parse(Some(&format!("$filter={}", urlencode(filter_text))), set).unwrap();
    select(&q, rows.iter(), 10_000)
        .rows
        .iter()
        .map(|r| r.label())
        .collect()
}

fn labels<R: Label>(
    query: &str,
    rows: &[R],
    set: &'static EntitySet<R>,
    page: usize,
) -> (Vec<String>, Option<usize>, Option<usize>) {
    let q = parse(Some(query), set).unwrap();
    let p = select(&q, rows.iter(), page);
    (
        p.rows.iter().map(|r| r.label()).collect(),
        p.count,
        p.next_skip,
    )
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn odata_err<R: std::fmt::Debug>(query: &str, set: &'static EntitySet<R>) -> String {
    match parse(Some(query), set).unwrap_err() {
        ApiError::BadRequest { message, .. } => message,
        other => panic!("{other:?}"),
    }
}

#[test]
fn comparison_operators_on_strings_dates_and_numbers() {
    let a = || actions();
    assert_eq!(
        ids("status eq 'Succeeded'", a(), &MACHINE_ACTIONS),
        ["a1", "a2"]
    );
    assert_eq!(ids("status ne 'Succeeded'", a(), &MACHINE_ACTIONS), ["a3"]);
    assert_eq!(
        ids(
            "creationDateTimeUtc gt 2024-01-01T00:00:00Z",
            a(),
            &MACHINE_ACTIONS
        ),
        ["a2", "a3"]
    );
    assert_eq!(
        ids(
            "creationDateTimeUtc ge 2024-01-02T00:00:00Z",
            a(),
            &MACHINE_ACTIONS
        ),
        ["a2", "a3"]
    );
    assert_eq!(
        ids("creationDateTimeUtc lt 2024-01-02", a(), &MACHINE_ACTIONS),
        ["a1"]
    );
    assert_eq!(
        ids(
            "creationDateTimeUtc le 2024-01-02T00:00:00.0000000Z",
            a(),
            &MACHINE_ACTIONS
        ),
        ["a1", "a2"]
    );
    let m = || machines();
    assert_eq!(ids("rbacGroupId eq 140", m(), &MACHINES), ["m1"]);
    assert_eq!(ids("rbacGroupId gt 140", m(), &MACHINES), ["m2"]);
    assert_eq!(ids("lastSeen gt 2024-03-01Z", m(), &MACHINES), ["m1"]);
}

#[test]
fn boolean_logic_parentheses_in_and_upper_case_keywords() {
    let a = || actions();
    let kibana = "status eq 'Succeeded' AND type in ('Isolate','Unisolate') AND machineId eq 'm1'";
    assert_eq!(ids(kibana, a(), &MACHINE_ACTIONS), ["a1", "a2"]);
    assert_eq!(
        ids(
            "type eq 'Isolate' OR requestor eq 'alice@contoso.com'",
            a(),
            &MACHINE_ACTIONS
        ),
        ["a1", "a2", "a3"]
    );
    assert_eq!(
        ids("not (status eq 'Pending')", a(), &MACHINE_ACTIONS),
        ["a1", "a2"]
    );
    assert_eq!(
        ids(
            "(type eq 'Isolate' or type eq 'Unisolate') and not machineId eq 'm1'",
            a(),
            &MACHINE_ACTIONS
        ),
        ["a3"]
    );
    assert_eq!(ids("'Pending' eq status", a(), &MACHINE_ACTIONS), ["a3"]);
    assert_eq!(
        ids("status eq 'succeeded'", a(), &MACHINE_ACTIONS),
        ["a1", "a2"],
        "values ignore case"
    );
}

#[test]
fn unquoted_guids_are_literals_whatever_their_first_digit() {
    let rows: Vec<MachineAction> = [
        json!({"id": "abcdef01-2345-4678-9abc-def012345678", "status": "Pending"}),
        json!({"id": "01234567-89ab-4cde-8f01-23456789abcd", "status": "Pending"}),
    ]
    .into_iter()
    .map(action)
    .collect();
    assert_eq!(
        ids(
            "id eq abcdef01-2345-4678-9abc-def012345678",
            rows.clone(),
            &MACHINE_ACTIONS
        ),
        ["abcdef01-2345-4678-9abc-def012345678"]
    );
    assert_eq!(
        ids(
            "id eq 01234567-89AB-4cde-8f01-23456789abcd",
            rows,
            &MACHINE_ACTIONS
        ),
        ["01234567-89ab-4cde-8f01-23456789abcd"]
    );
}

#[test]
fn string_functions_any_and_null() {
    let m = || machines();
    assert_eq!(
        ids("startswith(computerDnsName,'FIN')", m(), &MACHINES),
        ["m1"]
    );
    assert_eq!(
        ids("endswith(computerDnsName, '.corp')", m(), &MACHINES),
        ["m2"]
    );
    assert_eq!(
        ids("contains(computerDnsName,'01')", m(), &MACHINES),
        ["m1", "m2"]
    );
    assert_eq!(
        ids("machineTags/any(tag: tag eq 'VIP')", m(), &MACHINES),
        ["m1"]
    );
    assert_eq!(
        ids("machineTags/any(t: startswith(t, 'lap'))", m(), &MACHINES),
        ["m1"]
    );
    assert_eq!(ids("aadDeviceId eq null", m(), &MACHINES), ["m1"]);
    assert_eq!(ids("aadDeviceId ne null", m(), &MACHINES), ["m2"]);
    assert_eq!(
        ids(
            "riskScore eq 'High' and healthStatus ne 'Active'",
            m(),
            &MACHINES
        ),
        Vec::<String>::new()
    );
}

#[test]
fn filter_errors_say_what_is_wrong() {
    assert!(odata_err("$filter=status eq", &MACHINE_ACTIONS).contains("expected a literal"));
    let e = odata_err("$filter=status eq 'Pending' and", &MACHINE_ACTIONS);
    assert!(e.contains("expected"), "{e}");
    assert!(odata_err("$filter=(status eq 'Pending'", &MACHINE_ACTIONS).contains("')'"));
    assert!(odata_err("$filter=foo eq 'x'", &MACHINE_ACTIONS)
        .contains("Could not find a property named 'foo'"));
    assert!(odata_err("$filter=rbacGroupName eq 'x'", &MACHINES)
        .contains("cannot be used in the $filter"));
    assert!(odata_err("$filter=firstSeen gt 2024-01-01Z", &MACHINES)
        .contains("cannot be used in the $filter"));
    assert!(odata_err("$filter=rbacGroupId eq '140'", &MACHINES).contains("incompatible types"));
    assert!(odata_err("$filter=computerDnsName eq 5", &MACHINES).contains("incompatible types"));
    assert!(odata_err("$filter=status eq 'Bogus'", &MACHINE_ACTIONS)
        .contains("not a valid enumerated type"));
    assert!(odata_err("$filter=lastSeen gt 'yesterday'", &MACHINES).contains("DateTimeOffset"));
    assert!(odata_err("$filter=status eq 'a", &MACHINE_ACTIONS).contains("unterminated"));
    assert!(odata_err("$filter=status ~ 'a'", &MACHINE_ACTIONS).contains("unexpected character"));
    assert!(odata_err("$filter=status like 'a'", &MACHINE_ACTIONS).contains("comparison operator"));
}

#[test]
fn unknown_dollar_options_use_the_raw_odata_shape() {
    match parse(Some("$stop=2"), &MACHINE_ACTIONS).unwrap_err() {
        ApiError::RawOData(m) => assert_eq!(
            m,
            "The query specified in the URI is not valid. Custom query option '$stop' that starts with '$' is not supported."
        ),
        other => panic!("{other:?}"),
    }
    assert!(odata_err("$expand=x", &MACHINE_ACTIONS).contains("not allowed"));
    // Options without `$` are ignored.
    assert!(parse(Some("useStartsWithFilter=true"), &MACHINES).is_ok());
}

#[test]
fn top_skip_count_orderby_select_and_paging() {
    assert!(odata_err("$top=10001", &MACHINES).contains("limit of '10000'"));
    assert!(odata_err("$top=-1", &MACHINES).contains("non-negative integer"));
    assert!(odata_err("$skip=x", &MACHINES).contains("non-negative integer"));
    assert!(odata_err("$count=maybe", &MACHINES).contains("count"));
    assert!(odata_err("$orderby=id sideways", &MACHINES).contains("asc or desc"));
    assert!(odata_err("$select=id,nope", &MACHINES).contains("nope"));
    assert!(odata_err("$top=1&$top=2", &MACHINES).contains("more than once"));

    let (rows, count, next) = labels(
        "$orderby=lastUpdateDateTimeUtc%20desc&$top=1&$count=true",
        &actions(),
        &MACHINE_ACTIONS,
        10_000,
    );
    assert_eq!((rows, count), (vec!["a3".to_owned()], Some(3)));
    assert_eq!(next, None, "$top never gives a next link");

    let (order, ..) = labels(
        "$orderby=type asc,creationDateTimeUtc desc",
        &actions(),
        &MACHINE_ACTIONS,
        10_000,
    );
    assert_eq!(order, ["a3", "a1", "a2"]);

    let (rows, _, next) = labels("$skip=1", &actions(), &MACHINE_ACTIONS, 1);
    assert_eq!((rows, next), (vec!["a2".to_owned()], Some(2)));
    let (_, _, next) = labels("$skip=2", &actions(), &MACHINE_ACTIONS, 1);
    assert_eq!(next, None);
    // Without $count or $orderby the scan stops early, with the same answer.
    let (rows, _, next) = labels("$filter=type eq 'Isolate'", &actions(), &MACHINE_ACTIONS, 1);
    assert_eq!((rows, next), (vec!["a1".to_owned()], Some(1)));
    let (rows, count, next) = labels(
        "$filter=type eq 'Isolate'&$count=true",
        &actions(),
        &MACHINE_ACTIONS,
        1,
    );
    assert_eq!(
        (rows, count, next),
        (vec!["a1".to_owned()], Some(2), Some(1))
    );

    let q = parse(Some("$select=computerDnsName,id"), &MACHINES).unwrap();
    let rows = machines();
    let page = select(&q, rows.iter(), 10);
    let row = serde_json::to_value(super::Projected {
        row: page.rows[0],
        select: q.select.as_deref(),
    })
    .unwrap();
    assert_eq!(
        row,
        json!({"computerDnsName": "fin-01.contoso.com", "id": "m1"})
    );

    assert_eq!(
        next_link_query(Some("$filter=healthStatus%20eq%20'Active'&$skip=10"), 20),
        "%24filter=healthStatus+eq+%27Active%27&%24skip=20"
    );
}

#[test]
fn a_long_filter_does_not_blow_the_stack_on_parentheses() {
    let deep = format!("{}status eq 'Pending'{}", "(".repeat(200), ")".repeat(200));
    assert!(filter::parse(&deep, &MACHINE_ACTIONS).is_ok());
    let abusive = format!("{}status eq 'Pending'", "(".repeat(100_000));
    assert!(filter::parse(&abusive, &MACHINE_ACTIONS)
        .unwrap_err()
        .contains("nests deeper"));
    let nots = format!("{}status eq 'Pending'", "not ".repeat(100_000));
    assert!(filter::parse(&nots, &MACHINE_ACTIONS).is_err());
}

#[test]
fn filters_are_bounded_in_nodes_and_length() {
    let clauses = |n: usize| {
        (0..n)
            .map(|i| format!("requestor eq 'user{i}@contoso.com'"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    // 250 comparisons and 249 `or`s: 499 nodes, the most allowed is 500.
    assert!(filter::parse(&clauses(250), &MACHINE_ACTIONS).is_ok());
    let e = filter::parse(&clauses(251), &MACHINE_ACTIONS).unwrap_err();
    assert!(e.contains("node count limit of '500'"), "{e}");
    let values = (0..600)
        .map(|i| format!("'m{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    let e = filter::parse(&format!("machineId in ({values})"), &MACHINE_ACTIONS).unwrap_err();
    assert!(e.contains("node count limit"), "{e}");
    // The query string is bounded before it is parsed.
    let long = format!("$filter={}", urlencode(&clauses(400)));
    assert!(long.len() > super::MAX_QUERY_BYTES);
    assert!(odata_err(&long, &MACHINE_ACTIONS).contains("at most 16384"));
}

#[test]
fn string_comparisons_fold_case_without_changing_the_answer() {
    let m = || {
        vec![
            machine(
                json!({"id": "m1", "computerDnsName": "ÄRZTE-01.Contoso.com", "osPlatform": "Windows11"}),
            ),
            machine(
                json!({"id": "m2", "computerDnsName": "arzte-02.contoso.com", "osPlatform": "windows10"}),
            ),
        ]
    };
    assert_eq!(
        ids("computerDnsName eq 'ärzte-01.contoso.com'", m(), &MACHINES),
        ["m1"]
    );
    assert_eq!(
        ids("startswith(computerDnsName, 'ÄR')", m(), &MACHINES),
        ["m1"]
    );
    assert_eq!(
        ids("endswith(computerDnsName, 'CONTOSO.COM')", m(), &MACHINES),
        ["m1", "m2"]
    );
    assert_eq!(
        ids("contains(computerDnsName, 'ZTE-0')", m(), &MACHINES),
        ["m1", "m2"]
    );
    assert_eq!(
        ids("contains(computerDnsName, 'Ä')", m(), &MACHINES),
        ["m1"]
    );
    assert_eq!(ids("osPlatform eq 'WINDOWS10'", m(), &MACHINES), ["m2"]);
    assert_eq!(ids("osPlatform gt 'windows10'", m(), &MACHINES), ["m1"]);
}

fn names<R>(set: &EntitySet<R>) -> Vec<String> {
    set.fields.iter().map(|f| f.name.to_owned()).collect()
}

#[test]
fn the_schemas_list_the_properties_in_the_order_the_entities_serialize() {
    let keys = |v: Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let action = serde_json::to_value(&actions()[0]).unwrap();
    assert_eq!(keys(action), names(&MACHINE_ACTIONS));
    assert_eq!(MACHINE_ACTIONS.fields.len(), 20);
    let machine = serde_json::to_value(&machines()[0]).unwrap();
    assert_eq!(keys(machine), names(&MACHINES));
}

#[test]
fn property_names_match_in_any_case() {
    let rows = machines();
    let exact = ids("healthStatus eq 'Active'", rows.clone(), &MACHINES);
    assert!(!exact.is_empty());
    assert_eq!(
        ids("HealthStatus eq 'Active'", rows.clone(), &MACHINES),
        exact
    );
    assert_eq!(ids("HEALTHSTATUS eq 'Active'", rows, &MACHINES), exact);
    let q = parse(
        Some("$select=ComputerDnsName,Id&$orderby=ComputerDnsName desc"),
        &MACHINES,
    )
    .unwrap();
    assert_eq!(q.select, Some(vec!["computerDnsName", "id"]));
    assert!(odata_err("$filter=Nonsense eq 'x'", &MACHINES)
        .contains("Could not find a property named 'Nonsense'"));
}
