//! The service over real HTTP: the router bound to an ephemeral port on
//! 127.0.0.1 and called with reqwest, as the producer calls randomuser.me.

use std::net::SocketAddr;

use serde_json::Value;

/// Starts the router on 127.0.0.1:0 and returns its address. The server
/// task ends with the test's runtime.
async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, users_api::http::router())
            .await
            .unwrap();
    });
    addr
}

async fn get(addr: SocketAddr, path_and_query: &str) -> (u16, String, Vec<u8>) {
    let response = reqwest::get(format!("http://{addr}{path_and_query}"))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

#[tokio::test]
async fn health_answers_ok() {
    let addr = start().await;
    let (status, _, body) = get(addr, "/health").await;
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
}

#[tokio::test]
async fn api_answers_the_asked_number_of_users_as_json_with_the_seed_echoed() {
    // given
    let addr = start().await;
    // when
    let (status, content_type, body) = get(addr, "/api/?results=3&seed=abc&page=2").await;
    // then
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/json");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["results"].as_array().unwrap().len(), 3);
    assert_eq!(
        body["info"],
        serde_json::json!({"seed": "abc", "results": 3, "page": 2, "version": "1.4"})
    );
}

#[tokio::test]
async fn api_without_trailing_slash_is_the_same_endpoint() {
    let addr = start().await;
    let (_, _, with_slash) = get(addr, "/api/?results=5&seed=same").await;
    let (status, _, without) = get(addr, "/api?results=5&seed=same").await;
    assert_eq!(status, 200);
    assert_eq!(with_slash, without);
}

#[tokio::test]
async fn the_same_query_gives_byte_identical_bodies_and_another_page_different_users() {
    let addr = start().await;
    let (_, _, first) = get(addr, "/api/?results=50&seed=fixed&nat=us,gb").await;
    let (_, _, again) = get(addr, "/api/?nat=GB,US&seed=fixed&results=50").await;
    let (_, _, page2) = get(addr, "/api/?results=50&seed=fixed&nat=us,gb&page=2").await;
    assert_eq!(first, again);
    let uuids = |body: &[u8]| -> Vec<String> {
        let v: Value = serde_json::from_slice(body).unwrap();
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["login"]["uuid"].as_str().unwrap().to_owned())
            .collect()
    };
    let (a, b) = (uuids(&first), uuids(&page2));
    assert!(a.iter().all(|u| !b.contains(u)));
}

#[tokio::test]
async fn more_than_5000_results_are_clamped_to_5000() {
    let addr = start().await;
    let (status, _, body) = get(addr, "/api/?results=6000&seed=big").await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["results"].as_array().unwrap().len(), 5000);
    assert_eq!(body["info"]["results"], 5000);
}

#[tokio::test]
async fn an_unknown_nationality_is_a_400_with_a_json_error() {
    let addr = start().await;
    let (status, content_type, body) = get(addr, "/api/?nat=us,zz").await;
    assert_eq!(status, 400);
    assert_eq!(content_type, "application/json");
    let body: Value = serde_json::from_slice(&body).unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("zz"), "{message}");
}

#[tokio::test]
async fn a_non_numeric_results_is_a_400_with_a_json_error() {
    let addr = start().await;
    let (status, _, body) = get(addr, "/api/?results=lots").await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["error"].as_str().unwrap().contains("results"));
}

#[tokio::test]
async fn without_a_seed_a_random_one_is_reported_and_replays_the_same_users() {
    // given
    let addr = start().await;
    let (_, _, first) = get(addr, "/api/?results=4").await;
    let first: Value = serde_json::from_slice(&first).unwrap();
    let seed = first["info"]["seed"].as_str().unwrap().to_owned();
    assert_eq!(seed.len(), 16);
    // when
    let (_, _, replay) = get(addr, &format!("/api/?results=4&seed={seed}")).await;
    // then
    let replay: Value = serde_json::from_slice(&replay).unwrap();
    assert_eq!(first, replay);
}

#[tokio::test]
async fn unicode_names_arrive_intact_over_http() {
    let addr = start().await;
    let (_, _, body) = get(addr, "/api/?results=200&seed=utf8&nat=no,fr,de").await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    let non_ascii = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| !u["name"]["first"].as_str().unwrap().is_ascii())
        .count();
    assert!(non_ascii > 10, "{non_ascii} non-ASCII first names");
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let addr = start().await;
    let (status, _, _) = get(addr, "/nope").await;
    assert_eq!(status, 404);
}
