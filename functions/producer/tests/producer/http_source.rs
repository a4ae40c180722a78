//! The HTTP user source against a real local HTTP server: the page asked for, retries, bad
//! bodies.

use crate::common::*;
use producer::{
    FetchError, MAX_PAGE_BYTES, ProducerConfig, RandomUserApi, UserSource, config::USERS_PER_CHUNK,
};

fn page_of(n: usize) -> String {
    let user = fixture("randomuser-mixed-nat.json")["results"][0].clone();
    serde_json::json!({ "results": vec![user; n], "info": { "seed": "s", "results": n, "page": 1, "version": "1.4" } })
        .to_string()
}

fn api(url: &str, extra: &[(&str, &str)]) -> RandomUserApi {
    let mut env = vec![("KAFKA_BROKERS", "unused:9092"), ("USERS_API_URL", url)];
    env.extend_from_slice(extra);
    RandomUserApi::new(&ProducerConfig::from_source(&env).unwrap()).unwrap()
}

#[tokio::test]
async fn a_page_is_asked_for_by_number_and_size_with_seed_and_nat() {
    // given an API that answers 1000 users per request
    let server = serve(vec![(200, vec![], page_of(1000))]).await;
    let api = api(
        &server.url,
        &[("USERS_SEED", "abc"), ("USERS_NAT", "gb,fr")],
    );

    // when page 2 of pages of 1000 is asked for
    let fetched = api.fetch_page(2, 1000).await.unwrap();

    // then
    assert_eq!(fetched.users.len(), 1000);
    assert_eq!(
        *server.requests.lock().unwrap(),
        ["/api/?results=1000&page=2&seed=abc&nat=gb%2Cfr"]
    );
}

#[tokio::test]
async fn server_errors_and_throttling_are_retried_then_succeed() {
    let server = serve(vec![
        (503, vec![], "busy".into()),
        (429, vec![("Retry-After", "0".into())], "slow down".into()),
        (200, vec![], page_of(3)),
    ])
    .await;
    let fetched = api(&server.url, &[]).fetch_page(1, 3).await.unwrap();
    assert_eq!((fetched.users.len(), fetched.retries), (3, 2));
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = serve(vec![(500, vec![], "down".into())]).await;
    let error = api(&server.url, &[("USERS_API_MAX_RETRIES", "2")])
        .fetch_page(1, 3)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            FetchError::Status {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_retryable());
    assert_eq!(server.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let server = serve(vec![(404, vec![], "no such path".into())]).await;
    let error = api(&server.url, &[]).fetch_page(1, 3).await.unwrap_err();
    assert!(matches!(
        error,
        FetchError::Status {
            status: 404,
            attempts: 1,
            ..
        }
    ));
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_truncated_body_is_a_clear_error() {
    let body = page_of(2);
    let server = serve(vec![(200, vec![], body[..body.len() / 2].to_string())]).await;
    let error = api(&server.url, &[]).fetch_page(1, 2).await.unwrap_err();
    assert!(matches!(error, FetchError::Body { .. }));
    assert!(
        error
            .to_string()
            .contains("is not a randomuser response: EOF while parsing"),
        "{error}"
    );
}

#[tokio::test]
async fn fewer_users_than_asked_is_not_an_error() {
    let server = serve(vec![(200, vec![], page_of(2))]).await;
    let fetched = api(&server.url, &[]).fetch_page(1, 10).await.unwrap();
    assert_eq!(fetched.users.len(), 2);
    assert_eq!(server.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreachable_api_fails_after_its_retries() {
    // given a port nothing listens on
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/", listener.local_addr().unwrap());
    drop(listener);
    let error = api(&url, &[("USERS_API_MAX_RETRIES", "1")])
        .fetch_page(1, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Request { attempts: 2, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_page_larger_than_the_limit_is_refused_unread_and_not_retried() {
    // given an API that declares, or streams without a length, a body over the limit
    let huge = " ".repeat(MAX_PAGE_BYTES + 1);
    for headers in [vec![], vec![("Transfer-Encoding", "chunked".to_string())]] {
        let server = serve(vec![(200, headers.clone(), huge.clone())]).await;

        // when
        let error = api(&server.url, &[]).fetch_page(1, 5).await.unwrap_err();

        // then
        assert!(
            matches!(error, FetchError::TooLarge { .. }),
            "{headers:?}: {error}"
        );
        assert!(!error.is_retryable());
        assert_eq!(server.requests.lock().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_full_chunk_of_users_is_far_below_the_limit() {
    // given a chunked page of a run's chunk of users
    let page = page_of(USERS_PER_CHUNK);
    let server = serve(vec![(
        200,
        vec![("Transfer-Encoding", "chunked".into())],
        page.clone(),
    )])
    .await;

    // when
    let fetched = api(&server.url, &[])
        .fetch_page(1, USERS_PER_CHUNK)
        .await
        .unwrap();

    // then
    assert_eq!(fetched.users.len(), USERS_PER_CHUNK);
    assert!(page.len() * 4 < MAX_PAGE_BYTES, "{} bytes", page.len());
}
