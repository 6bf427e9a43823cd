//! Unit tests of the route table: path normalisation, unique endpoints, and the OpenAPI
//! document in step with the routes.

mod table {
    use super::super::{normalize::canonical_api_path, *};

    #[test]
    fn versioned_and_mixed_case_paths_normalise() {
        assert_eq!(
            canonical_api_path("/api/v1.0/Machines/ABC/UnIsolate/").as_deref(),
            Some("/api/machines/ABC/unisolate")
        );
        assert_eq!(
            canonical_api_path("/API/machineactions/x/GetPackageUri").as_deref(),
            Some("/api/machineactions/x/getpackageuri")
        );
        assert_eq!(canonical_api_path("/api/machines/abc"), None);
        assert_eq!(canonical_api_path("/_mock/health"), None);
    }

    #[test]
    fn every_endpoint_entry_is_unique() {
        let all: Vec<_> = endpoints().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(
                    !(a.path == b.path && a.method == b.method),
                    "{} {}",
                    a.method,
                    a.path
                );
            }
        }
    }
}

mod openapi_tests {
    use super::super::{admin, endpoints, IDENTITY_ROUTES};

    /// The route as OpenAPI spells it: templates match after case folding of route words.
    fn documented(doc: &serde_json::Value, path: &str, method: &str) -> bool {
        doc["paths"].as_object().unwrap().iter().any(|(p, ops)| {
            p.eq_ignore_ascii_case(path) && ops.get(method.to_ascii_lowercase()).is_some()
        })
    }

    #[test]
    fn every_api_and_control_plane_route_is_in_the_openapi_document() {
        let doc: serde_json::Value = serde_json::from_str(admin::openapi_document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for e in endpoints() {
            assert!(
                documented(&doc, e.path, e.method.as_str()),
                "{} {} is not documented",
                e.method,
                e.path
            );
        }
        for (path, _) in admin::routes() {
            assert!(
                doc["paths"].get(*path).is_some(),
                "{path} is not documented"
            );
        }
        for (method, path, _) in IDENTITY_ROUTES {
            assert!(
                documented(&doc, path, method.as_str()),
                "{method} {path} is not documented"
            );
        }
    }

    #[test]
    fn the_fragments_merge_without_a_clash() {
        let merged = admin::merge_openapi(admin::OPENAPI_FRAGMENTS).unwrap();
        assert_eq!(merged, admin::openapi_document());
        let clash = [
            ("core.json", r#"{"paths": {"/a": {}}}"#),
            ("more.json", r#"{"paths": {"/a": {}}}"#),
        ];
        let err = admin::merge_openapi(&clash).unwrap_err();
        assert!(err.contains("more.json: /a is defined twice"), "{err}");
    }

    #[test]
    fn every_documented_api_path_is_routed() {
        let doc: serde_json::Value = serde_json::from_str(admin::openapi_document()).unwrap();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                let known = endpoints().any(|e| {
                    e.path.eq_ignore_ascii_case(path)
                        && e.method.as_str().eq_ignore_ascii_case(method)
                }) || admin::routes().any(|(p, _)| p == path)
                    || IDENTITY_ROUTES
                        .iter()
                        .any(|(m, p, _)| p == path && m.as_str().eq_ignore_ascii_case(method));
                assert!(known, "{method} {path} is documented but not routed");
            }
        }
    }
}
