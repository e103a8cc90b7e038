//! The OpenAPI document parses, lists every route the router serves, and every route it lists
//! is served.

mod common;

use axum::http::StatusCode;
use common::{Harness, config};
use plumbline_server::routes;

#[tokio::test]
async fn openapi_lists_every_route_and_every_listed_route_is_served() {
    let h = Harness::new(config()).await;
    let (status, document) = h.raw("GET", "/openapi.json", None, "", None).await;
    assert_eq!(status, StatusCode::OK);
    let document: serde_json::Value =
        serde_json::from_slice(&document).expect("the document is JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();

    let routes = routes::all(h.state.config());
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(operations, routes.len(), "one operation per route");
    let mut ids = std::collections::HashSet::new();
    for route in &routes {
        let operation = &paths[&format!("/api/v1{}", route.path)][route.method];
        assert!(operation.is_object(), "{} {} is not documented", route.method, route.path);
        assert!(ids.insert(operation["operationId"].as_str().unwrap().to_string()), "duplicate id");
        // Fill the path parameters with values of the right shape; the route must answer
        // something other than "no such route" or "method not allowed".
        let path = route
            .path
            .replace("{id}", &format!("0x{}", "ab".repeat(32)))
            .replace("{address}", &format!("0x{}", "cd".repeat(20)))
            .replace("{batch_id}", "0");
        let method = route.method.to_uppercase();
        let body = (method == "POST").then(|| b"{}".to_vec());
        let (status, answer) = h.raw(&method, &path, None, "application/json", body).await;
        let answer = String::from_utf8_lossy(&answer);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(!answer.contains("no_route"), "{method} {path} is not served: {answer}");
    }
    let (status, answer) = h.raw("GET", "/nowhere", None, "", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&answer).contains("no_route"));
}
