//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the same route list the
//! router is built from.

use super::{Access, Route, router_of};
use crate::state::{AppState, Config};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

/// This module's routes.
pub fn routes() -> Vec<Route> {
    vec![Route {
        method: "get",
        path: "/openapi.json",
        summary: "This API's OpenAPI 3.1 description",
        access: Access::Anyone,
        body: None,
        responses: &[(200, "the OpenAPI document")],
        handler: get(openapi),
    }]
}

/// This module's router.
pub fn router() -> Router<AppState> {
    router_of(routes())
}

async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(document(state.config()))
}

/// The OpenAPI document of every route served with `config`.
pub fn document(config: &Config) -> Value {
    let mut paths = Map::new();
    for route in super::all(config) {
        let mut operation = Map::new();
        operation.insert("summary".into(), json!(route.summary));
        operation.insert("operationId".into(), json!(operation_id(&route)));
        let parameters: Vec<Value> = path_parameters(route.path)
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !parameters.is_empty() {
            operation.insert("parameters".into(), json!(parameters));
        }
        if let Some(media) = route.body {
            operation.insert(
                "requestBody".into(),
                json!({"required": true, "content": {media: {"schema": {}}}}),
            );
        }
        match route.access {
            Access::Session => {
                operation.insert("security".into(), json!([{"bearer": []}]));
            }
            Access::Signer => {
                operation.insert(
                    "description".into(),
                    json!(
                        "Authorized by the EIP-712 signature in the body (see docs/protocol.md)."
                    ),
                );
            }
            Access::Anyone => {}
        }
        let mut responses = Map::new();
        for (status, description) in route.responses {
            responses.insert(status.to_string(), json!({"description": description}));
        }
        responses.insert(
            "default".into(),
            json!({"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
        operation.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(format!("/api/v1{}", route.path))
            .or_insert_with(|| Value::Object(Map::new()));
        entry
            .as_object_mut()
            .expect("path items are objects")
            .insert(route.method.into(), Value::Object(operation));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Plumbline",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The Plumbline labeling market. Money amounts are decimal strings of base units; addresses and 32-byte values are 0x-prefixed hex; times are unix seconds. See docs/http-api.md.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    })
}

fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

fn operation_id(route: &Route) -> String {
    let words: Vec<String> = route
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => format!("by_{name}"),
            None => s.trim_end_matches(".json").to_string(),
        })
        .collect();
    format!("{}_{}", route.method, words.join("_"))
}
