//! `status --serve ADDR`: the dashboard. One page (`dashboard.html`, embedded in the binary)
//! and the JSON it renders, `/status.json`: the same [`Status`] that `status` prints, from the
//! same [`Looker::look`], taken every `--watch` interval by one loop whatever the number of
//! readers. The page keeps the snapshots it fetched and draws the rates from successive ones.
//! Served with axum, which the workspace already builds for the users-API stand-in.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use lake::LakeStore;
use lambda_kit::{Classified, error_chain};
use table::Catalog;
use tokio::sync::RwLock;

use crate::{Looker, StatusError};

/// The page, rendered in the browser from `/status.json`.
pub const PAGE: &str = include_str!("dashboard.html");

/// The last look's answer: the JSON `status` prints, or the error JSON it would print on
/// stderr.
#[derive(Clone)]
enum Latest {
    Pending,
    Status(String),
    Failed(String),
}

type Shared = Arc<RwLock<Latest>>;

/// Serves the dashboard on `addr` until Ctrl-C, looking every `every`. Prints one JSON line,
/// `{"serving": "http://ADDR/"}`, once it listens (with the port the system chose for port 0).
pub async fn serve<S, C>(
    looker: Looker<S, C>,
    addr: SocketAddr,
    every: Duration,
) -> Result<(), StatusError>
where
    S: LakeStore + Send + Sync + 'static,
    C: Catalog + Send + Sync + 'static,
{
    let listen_failed = |source| StatusError::Listen {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(listen_failed)?;
    let bound = listener.local_addr().map_err(listen_failed)?;
    let latest: Shared = Arc::new(RwLock::new(Latest::Pending));
    let looks = tokio::spawn(keep_looking(looker, latest.clone(), every));
    let app = Router::new()
        .route("/", get(page))
        .route("/status.json", get(status_json))
        .with_state(latest);
    println!(
        "{}",
        serde_json::json!({ "serving": format!("http://{bound}/") })
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    looks.abort();
    served.map_err(listen_failed)
}

async fn keep_looking<S, C>(looker: Looker<S, C>, latest: Shared, every: Duration)
where
    S: LakeStore + Sync,
    C: Catalog + Sync,
{
    loop {
        let answer = match looker.look().await {
            Ok(look) => Latest::Status(serde_json::to_string(&look.status).unwrap_or_default()),
            Err(error) => {
                eprintln!("status: {}", error_chain(&error));
                Latest::Failed(
                    serde_json::json!({
                        "errorType": error.error_type(),
                        "error": error_chain(&error),
                    })
                    .to_string(),
                )
            }
        };
        *latest.write().await = answer;
        tokio::time::sleep(every).await;
    }
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn status_json(State(latest): State<Shared>) -> Response {
    let json = |status, body: String| {
        (
            status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response()
    };
    match latest.read().await.clone() {
        Latest::Status(body) => json(StatusCode::OK, body),
        Latest::Failed(body) => json(StatusCode::SERVICE_UNAVAILABLE, body),
        Latest::Pending => json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"errorType":"Pending","error":"the first look has not finished yet"}"#.to_string(),
        ),
    }
}
