//! The OpenAPI 3.0.3 description of what Rampart serves, at `GET /openapi.json`: the Atlas Data
//! API v1 as Atlas documented it (request bodies, responses, errors, security schemes) and the
//! health endpoints. Clients generate SDKs from it and `scripts/schemathesis.sh` fuzzes it.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::http::AppState;

/// `GET /openapi.json`: the document for the served app (only the health endpoints when the
/// server runs without one).
pub(crate) async fn serve(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(match state.data_api() {
        Some(data_api) => document(data_api.app_id()),
        None => build(None),
    })
}

/// The Data API actions: (action, summary, request schema, 200 response schema).
const ACTIONS: [(&str, &str, &str, &str); 10] = [
    (
        "findOne",
        "Find one document",
        "FindOneRequest",
        "FindOneResponse",
    ),
    ("find", "Find documents", "FindRequest", "DocumentsResponse"),
    (
        "insertOne",
        "Insert one document",
        "InsertOneRequest",
        "InsertOneResponse",
    ),
    (
        "insertMany",
        "Insert documents",
        "InsertManyRequest",
        "InsertManyResponse",
    ),
    (
        "updateOne",
        "Update one document",
        "UpdateRequest",
        "UpdateResponse",
    ),
    (
        "updateMany",
        "Update documents",
        "UpdateRequest",
        "UpdateResponse",
    ),
    (
        "replaceOne",
        "Replace one document",
        "ReplaceOneRequest",
        "UpdateResponse",
    ),
    (
        "deleteOne",
        "Delete one document",
        "DeleteRequest",
        "DeleteResponse",
    ),
    (
        "deleteMany",
        "Delete documents",
        "DeleteRequest",
        "DeleteResponse",
    ),
    (
        "aggregate",
        "Run an aggregation pipeline",
        "AggregateRequest",
        "DocumentsResponse",
    ),
];

/// The error statuses every Data API action can answer, with what each means here
/// (`docs/data-api.md` has the `error_code` of each case).
const ERRORS: [(&str, &str); 10] = [
    (
        "400",
        "Invalid request (malformed body, a missing, unknown or mistyped field, an unknown operator, no credentials) or a schema violation",
    ),
    ("401", "Credentials that match no user, or an invalid bearer token"),
    ("403", "The rules refuse the operation"),
    ("404", "Unknown app, version, action or data source"),
    ("409", "A duplicate key"),
    ("413", "The request body is too large"),
    ("415", "A Content-Type other than application/json or application/ejson"),
    ("429", "Too many concurrent requests"),
    ("500", "Internal error; the body never carries details"),
    ("504", "The request ran past its time limit; a write committed nothing"),
];

/// The whole document for the app `app_id` (its Data API paths are `/app/{app_id}/...`).
pub fn document(app_id: &str) -> Value {
    build(Some(app_id))
}

fn build(app_id: Option<&str>) -> Value {
    let mut paths = Map::new();
    for (action, summary, request, response) in ACTIONS {
        if let Some(app_id) = app_id {
            paths.insert(
                format!("/app/{app_id}/endpoint/data/v1/action/{action}"),
                action_path(action, summary, request, response),
            );
        }
    }
    paths.insert("/health".to_owned(), health_path());
    paths.insert("/ready".to_owned(), ready_path());
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Rampart Data API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Atlas Data API v1 compatible endpoints, enforcing App Services rules on every document. Bodies are JSON or Extended JSON (`application/ejson`); responses follow the `Accept` header, else the app's `return_type`.",
            "license": {"name": "Apache-2.0"}
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "Data API", "description": "Atlas Data API v1 actions"},
            {"name": "Health", "description": "Liveness and readiness"}
        ],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "responses": error_responses(),
            "securitySchemes": {
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "apiKey",
                    "description": "An API key created with `rampart keys create`; the request runs as the key's user."
                },
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT from a configured issuer. Checked first: an invalid bearer token fails the request even with an apiKey."
                }
            }
        }
    })
}

fn action_path(action: &str, summary: &str, request: &str, response: &str) -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".to_owned(),
        json!({
            "description": "Success",
            "content": both_media_types(&schema_ref(response)),
        }),
    );
    for (status, _) in ERRORS {
        responses.insert(
            status.to_owned(),
            json!({"$ref": format!("#/components/responses/Error{status}")}),
        );
    }
    json!({
        "post": {
            "operationId": action,
            "summary": summary,
            "tags": ["Data API"],
            "security": [{"apiKey": []}, {"bearerAuth": []}],
            "requestBody": {
                "required": true,
                "content": both_media_types(&schema_ref(request)),
            },
            "responses": responses,
        }
    })
}

fn health_path() -> Value {
    json!({
        "get": {
            "operationId": "health",
            "summary": "Liveness: the process serves HTTP",
            "tags": ["Health"],
            "security": [],
            "responses": {
                "200": {
                    "description": "Up",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["status", "version"],
                        "properties": {
                            "status": {"type": "string", "enum": ["ok"]},
                            "version": {"type": "string"}
                        }
                    }}}
                }
            }
        }
    })
}

fn ready_path() -> Value {
    let body = json!({"application/json": {"schema": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ready", "not ready"]}}
    }}});
    json!({
        "get": {
            "operationId": "ready",
            "summary": "Readiness: start-up finished and shutdown has not begun",
            "tags": ["Health"],
            "security": [],
            "responses": {
                "200": {"description": "Ready", "content": body.clone()},
                "503": {"description": "Starting or shutting down", "content": body}
            }
        }
    })
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Atlas accepts and returns plain JSON and canonical/relaxed Extended JSON.
fn both_media_types(schema: &Value) -> Value {
    json!({
        "application/json": {"schema": schema},
        "application/ejson": {"schema": schema},
    })
}

fn error_responses() -> Value {
    let mut responses = Map::new();
    for (status, description) in ERRORS {
        responses.insert(
            format!("Error{status}"),
            json!({
                "description": description,
                "content": {"application/json": {"schema": schema_ref("Error")}},
            }),
        );
    }
    Value::Object(responses)
}

/// A request schema: the namespace fields every action takes, plus `extra` properties, with
/// `required` listing the action's own required fields.
fn request(extra: Value, required: &[&str]) -> Value {
    let mut properties = Map::new();
    // The examples name the todo example app's collection, so API tools (and schemathesis's
    // examples phase) send at least some requests that reach the rules and the store.
    properties.insert(
        "dataSource".to_owned(),
        json!({"type": "string", "minLength": 1, "example": "mongodb-atlas",
               "description": "The linked data source: the service directory under `data_sources/`"}),
    );
    properties.insert(
        "database".to_owned(),
        json!({"type": "string", "minLength": 1, "example": "todo"}),
    );
    properties.insert(
        "collection".to_owned(),
        json!({"type": "string", "minLength": 1, "example": "items"}),
    );
    if let Value::Object(extra) = extra {
        properties.extend(extra);
    }
    let mut all_required = vec!["dataSource", "database", "collection"];
    all_required.extend_from_slice(required);
    json!({"type": "object", "required": all_required, "properties": properties})
}

fn schemas() -> Value {
    let filter = schema_ref("Filter");
    let projection = schema_ref("Projection");
    json!({
        "Document": {
            "type": "object",
            "additionalProperties": true,
            "example": {"owner": "alice", "title": "buy milk", "public": true},
            "description": "A document; in `application/ejson`, values may be Extended JSON (`{\"$oid\": ...}`)."
        },
        "Filter": {
            "type": "object",
            "additionalProperties": true,
            "example": {"owner": "alice"},
            "description": "A MongoDB query filter; `{}` matches every document the rules let the user see."
        },
        "Projection": {
            "type": "object",
            "additionalProperties": {"type": "integer", "enum": [0, 1]},
            "description": "Fields to include (1) or exclude (0)."
        },
        "Update": {
            "description": "Update operators (`{\"$set\": ...}`) or an update pipeline.",
            "example": {"$set": {"done": true}},
            "oneOf": [
                {"type": "object", "additionalProperties": true},
                {"type": "array", "items": {"type": "object", "additionalProperties": true}}
            ]
        },
        "Id": {
            "description": "A document `_id`: an ObjectId as a hex string in JSON, `{\"$oid\": ...}` in EJSON, or any other BSON value."
        },
        "FindOneRequest": request(json!({"filter": filter, "projection": projection}), &["filter"]),
        "FindRequest": request(json!({
            "filter": filter,
            "projection": projection,
            "sort": {"type": "object", "additionalProperties": {"type": "integer", "enum": [1, -1]}},
            "limit": {"type": "integer", "minimum": 0, "maximum": 50000},
            "skip": {"type": "integer", "minimum": 0}
        }), &["filter"]),
        "InsertOneRequest": request(json!({"document": schema_ref("Document")}), &["document"]),
        "InsertManyRequest": request(json!({
            "documents": {"type": "array", "items": schema_ref("Document")}
        }), &["documents"]),
        "UpdateRequest": request(json!({
            "filter": filter,
            "update": schema_ref("Update"),
            "upsert": {"type": "boolean", "default": false}
        }), &["filter", "update"]),
        "ReplaceOneRequest": request(json!({
            "filter": filter,
            "replacement": schema_ref("Document"),
            "upsert": {"type": "boolean", "default": false}
        }), &["filter", "replacement"]),
        "DeleteRequest": request(json!({"filter": filter}), &["filter"]),
        "AggregateRequest": request(json!({
            "pipeline": {"type": "array", "items": {"type": "object", "additionalProperties": true}}
        }), &["pipeline"]),
        "FindOneResponse": {
            "type": "object",
            "required": ["document"],
            "properties": {"document": {"type": "object", "additionalProperties": true, "nullable": true}}
        },
        "DocumentsResponse": {
            "type": "object",
            "required": ["documents"],
            "properties": {"documents": {"type": "array", "items": schema_ref("Document")}}
        },
        "InsertOneResponse": {
            "type": "object",
            "required": ["insertedId"],
            "properties": {"insertedId": schema_ref("Id")}
        },
        "InsertManyResponse": {
            "type": "object",
            "required": ["insertedIds"],
            "properties": {"insertedIds": {"type": "array", "items": schema_ref("Id")}}
        },
        "UpdateResponse": {
            "type": "object",
            "required": ["matchedCount", "modifiedCount"],
            "properties": {
                "matchedCount": schema_ref("Count"),
                "modifiedCount": schema_ref("Count"),
                "upsertedId": schema_ref("Id")
            }
        },
        "DeleteResponse": {
            "type": "object",
            "required": ["deletedCount"],
            "properties": {"deletedCount": schema_ref("Count")}
        },
        "Count": {
            "description": "A number in JSON; `{\"$numberInt\": \"n\"}` in canonical EJSON.",
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "object", "properties": {"$numberInt": {"type": "string"}, "$numberLong": {"type": "string"}}}
            ]
        },
        "Error": {
            "type": "object",
            "required": ["error", "error_code"],
            "properties": {
                "error": {"type": "string", "description": "What went wrong, in words; never a secret"},
                "error_code": {"type": "string", "description": "A stable code, e.g. `InvalidParameter`, `InvalidSession`, `NoMatchingRuleFound`"},
                "link": {"type": "string", "description": "Atlas returned a link to its logs; Rampart may omit it"}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Follows a local `$ref` (`#/a/b`) through `root`.
    fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
        root.pointer(reference.strip_prefix('#')?)
    }

    fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key == "$ref" {
                        refs.push(child.as_str().expect("a $ref is a string"));
                    } else {
                        collect_refs(child, refs);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
            _ => {}
        }
    }

    #[test]
    fn every_ref_resolves() {
        let document = document("todo-app");
        let mut refs = Vec::new();
        collect_refs(&document, &mut refs);
        assert!(refs.len() > 30);
        for reference in refs {
            assert!(
                resolve(&document, reference).is_some(),
                "unresolved {reference}"
            );
        }
    }

    #[test]
    fn every_operation_has_responses_and_a_unique_id() {
        let document = document("todo-app");
        assert_eq!(document["openapi"], "3.0.3");
        assert!(document["info"]["title"].is_string());
        assert!(document["info"]["version"].is_string());
        let paths = document["paths"].as_object().unwrap();
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in paths {
            assert!(path.starts_with('/'), "{path}");
            for (method, operation) in item.as_object().unwrap() {
                assert!(
                    ["get", "post"].contains(&method.as_str()),
                    "{path} {method}"
                );
                let responses = operation["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{path} {method}");
                for (status, response) in responses {
                    assert!(
                        status.len() == 3 && status.parse::<u16>().is_ok(),
                        "{status}"
                    );
                    let response = match response.get("$ref") {
                        Some(reference) => resolve(&document, reference.as_str().unwrap()).unwrap(),
                        None => response,
                    };
                    assert!(response["description"].is_string(), "{path} {status}");
                }
                assert!(ids.insert(operation["operationId"].as_str().unwrap().to_owned()));
            }
        }
    }

    #[test]
    fn without_an_app_only_health_is_described() {
        let document = build(None);
        let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
        assert_eq!(paths, ["/health", "/ready"]);
    }

    #[test]
    fn data_api_actions_match_atlas() {
        let document = document("todo-app");
        let schemas = &document["components"]["schemas"];
        let required = |schema: &str| -> Vec<String> {
            serde_json::from_value(schemas[schema]["required"].clone()).unwrap()
        };
        for (action, _, request, response) in ACTIONS {
            let path = format!("/app/todo-app/endpoint/data/v1/action/{action}");
            let operation = &document["paths"][&path]["post"];
            let content = &operation["requestBody"]["content"];
            assert!(content["application/json"].is_object(), "{action}");
            assert!(content["application/ejson"].is_object(), "{action}");
            for status in [
                "200", "400", "401", "403", "404", "409", "413", "429", "500",
            ] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{action} {status}"
                );
            }
            let needed = required(request);
            for field in ["dataSource", "database", "collection"] {
                assert!(needed.contains(&field.to_owned()), "{action}");
            }
            for field in &needed {
                assert!(
                    schemas[request]["properties"][field].is_object(),
                    "{action}: {field}"
                );
            }
            assert!(schemas[response]["required"].is_array(), "{action}");
        }
        assert_eq!(required("UpdateRequest")[3..], ["filter", "update"]);
        assert_eq!(required("InsertManyRequest")[3..], ["documents"]);
        assert_eq!(required("AggregateRequest")[3..], ["pipeline"]);
        assert_eq!(required("Error"), ["error", "error_code"]);
        let security = &document["components"]["securitySchemes"];
        assert_eq!(security["apiKey"]["in"], "header");
        assert_eq!(security["apiKey"]["name"], "apiKey");
        assert_eq!(security["bearerAuth"]["scheme"], "bearer");
    }
}
