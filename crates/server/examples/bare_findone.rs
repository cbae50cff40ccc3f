//! The floor for `bench/dataapi`: the Data API's findOne request served by a bare axum handler
//! straight from the embedded store: no authentication, no rules, no metrics middleware.
//! Rampart's findOne throughput is reported as a ratio of this one.
//!
//! `cargo run --release -p rampart-server --example bare_findone -- DATA_DIR [ADDR]`
//! prints `bare listening on http://ADDR` once it serves (ADDR defaults to 127.0.0.1:0).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bson::{Bson, Document};
use rampart_store::{EmbeddedStore, FindOptions, Namespace, Store};
use serde_json::{json, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data_dir = PathBuf::from(args.next().ok_or("usage: bare_findone DATA_DIR [ADDR]")?);
    let address: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:0").parse()?;
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&data_dir)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new()
            .route("/app/{app}/endpoint/data/v1/action/findOne", post(find_one))
            .with_state(store);
        let listener = tokio::net::TcpListener::bind(address).await?;
        println!("bare listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// Parses the same body the Data API takes, runs the same store query, answers the same shape.
async fn find_one(State(store): State<Arc<dyn Store>>, Json(body): Json<Value>) -> Response {
    let parsed = (|| {
        let database = body.get("database")?.as_str()?;
        let collection = body.get("collection")?.as_str()?;
        let namespace = Namespace::new(database, collection).ok()?;
        let filter = match rampart_mql::from_json_value(body.get("filter")?).ok()? {
            Bson::Document(filter) => filter,
            _ => return None,
        };
        Some((namespace, filter))
    })();
    let Some((namespace, filter)) = parsed else {
        return error(StatusCode::BAD_REQUEST, "invalid request");
    };
    let found = tokio::task::spawn_blocking(move || first(&*store, &namespace, filter)).await;
    match found {
        Ok(Ok(document)) => {
            let document = document.map_or(Value::Null, |doc| {
                rampart_mql::to_plain_json(&Bson::Document(doc))
            });
            Json(json!({ "document": document })).into_response()
        }
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

fn first(
    store: &dyn Store,
    namespace: &Namespace,
    filter: Document,
) -> rampart_store::Result<Option<Document>> {
    let options = FindOptions {
        limit: Some(1),
        ..FindOptions::filter(filter)
    };
    Ok(store
        .find(namespace, options)?
        .next_batch()?
        .into_iter()
        .next())
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": message, "error_code": "InvalidParameter" })),
    )
        .into_response()
}
