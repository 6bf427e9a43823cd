//! Unit tests of the OData parser and evaluator, on hand-made rows.

use serde_json::{json, Value};

use super::{apply, filter, next_link_query, parse, MACHINES, MACHINE_ACTIONS};
use crate::error::ApiError;

fn actions() -> Vec<Value> {
    vec![
        json!({"id": "a1", "type": "Isolate", "status": "Succeeded", "machineId": "m1", "requestor": "App",
               "creationDateTimeUtc": "2024-01-01T00:00:00.0000000Z", "lastUpdateDateTimeUtc": "2024-01-01T00:01:00.0000000Z"}),
        json!({"id": "a2", "type": "Unisolate", "status": "Succeeded", "machineId": "m1", "requestor": "alice@contoso.com",
               "creationDateTimeUtc": "2024-01-02T00:00:00.0000000Z", "lastUpdateDateTimeUtc": "2024-01-02T00:01:00.0000000Z"}),
        json!({"id": "a3", "type": "Isolate", "status": "Pending", "machineId": "m2", "requestor": "App",
               "creationDateTimeUtc": "2024-01-03T00:00:00.0000000Z", "lastUpdateDateTimeUtc": "2024-01-03T00:00:00.0000000Z"}),
    ]
}

fn machines() -> Vec<Value> {
    vec![
        json!({"id": "m1", "computerDnsName": "fin-01.contoso.com", "rbacGroupId": 140, "rbacGroupName": "Finance", "healthStatus": "Active",
               "lastSeen": "2024-06-01T00:00:00.0000000Z", "machineTags": ["VIP", "Laptop"], "aadDeviceId": null, "riskScore": "High"}),
        json!({"id": "m2", "computerDnsName": "dc01.corp", "rbacGroupId": 150, "rbacGroupName": "Servers", "healthStatus": "Inactive",
               "lastSeen": "2024-01-01T00:00:00.0000000Z", "machineTags": [], "aadDeviceId": "x", "riskScore": "Low"}),
    ]
}

fn ids(filter_text: &str, rows: Vec<Value>, set: &'static super::EntitySet) -> Vec<String> {
    let q = parse(Some(&format!("$filter={}", urlencode(filter_text))), set).unwrap();
    apply(&q, rows, 10_000)
        .value
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn odata_err(query: &str, set: &'static super::EntitySet) -> String {
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
    let rows = vec![
        json!({"id": "abcdef01-2345-4678-9abc-def012345678", "status": "Pending"}),
        json!({"id": "01234567-89ab-4cde-8f01-23456789abcd", "status": "Pending"}),
    ];
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
    assert!(odata_err("$filter=Status eq 'Pending'", &MACHINE_ACTIONS)
        .contains("Did you mean 'status'"));
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

    let q = parse(
        Some("$orderby=lastUpdateDateTimeUtc%20desc&$top=1&$count=true"),
        &MACHINE_ACTIONS,
    )
    .unwrap();
    let page = apply(&q, actions(), 10_000);
    assert_eq!(page.value[0]["id"], "a3");
    assert_eq!(page.count, Some(3));
    assert_eq!(page.next_skip, None, "$top never gives a next link");

    let q = parse(
        Some("$orderby=type asc,creationDateTimeUtc desc"),
        &MACHINE_ACTIONS,
    )
    .unwrap();
    let order: Vec<_> = apply(&q, actions(), 10_000)
        .value
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(order, [json!("a3"), json!("a1"), json!("a2")]);

    let q = parse(Some("$skip=1"), &MACHINE_ACTIONS).unwrap();
    let page = apply(&q, actions(), 1);
    assert_eq!(page.value[0]["id"], "a2");
    assert_eq!(page.next_skip, Some(2));
    let q = parse(Some("$skip=2"), &MACHINE_ACTIONS).unwrap();
    assert_eq!(apply(&q, actions(), 1).next_skip, None);

    let q = parse(Some("$select=computerDnsName,id"), &MACHINES).unwrap();
    let row = &apply(&q, machines(), 10).value[0];
    assert_eq!(
        row,
        &json!({"computerDnsName": "fin-01.contoso.com", "id": "m1"})
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
