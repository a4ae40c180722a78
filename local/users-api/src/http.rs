//! The HTTP surface: `GET /api/` (and `/api`) like randomuser.me, plus
//! `GET /health` for the local stack to wait on.
//!
//! Generating and serialising 5000 users takes some 30 ms of CPU, so
//! it runs on the blocking pool rather than on an async worker.

use axum::Router;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::generate;
use crate::request::PageRequest;

/// The service's routes.
pub fn router() -> Router {
    Router::new()
        .route("/api", get(api))
        .route("/api/", get(api))
        .route("/health", get(health))
}

async fn health() -> &'static str {
    "ok"
}

async fn api(query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Response {
    let params = match query {
        Ok(Query(params)) => params,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let request =
        match PageRequest::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(request) => request,
            Err(err) => return error(StatusCode::BAD_REQUEST, &err.to_string()),
        };
    let (results, page) = (request.results, request.page);
    let body = tokio::task::spawn_blocking(move || {
        let response = generate::page(&request);
        // About 1.1 kB per user; one allocation instead of a dozen regrowths.
        let mut body = Vec::with_capacity(response.results.len() * 1200 + 128);
        serde_json::to_writer(&mut body, &response).map(|()| body)
    })
    .await;
    match body {
        Ok(Ok(body)) => {
            tracing::debug!(results, page, bytes = body.len(), "answered /api/");
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Ok(Err(err)) => error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

/// An error answer: `{"error": "..."}` with the given status.
fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
