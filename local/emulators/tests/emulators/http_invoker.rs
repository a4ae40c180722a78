//! The HTTP invoker against a local endpoint that answers like AWS Lambda and like
//! `cargo lambda watch`.

use std::time::Duration;

use crate::common::{FakeLambda, Reply};
use emulators::invoke::{HttpInvoker, InvokeError, Invoker};
use serde_json::json;

#[tokio::test]
async fn posts_the_payload_to_the_invoke_path_and_returns_the_json_response() {
    let lambda = FakeLambda::start(vec![], Reply::ok(r#"{"written":2,"rejected":1}"#)).await;
    let invoker = HttpInvoker::new(&lambda.endpoint(), Duration::from_secs(5)).unwrap();
    let response = invoker
        .invoke("sink", br#"{"hello":"world"}"#)
        .await
        .unwrap();
    assert_eq!(response, json!({"written": 2, "rejected": 1}));

    let requests = lambda.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/2015-03-31/functions/sink/invocations");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[0].json(), json!({"hello": "world"}));
}

#[tokio::test]
async fn both_function_error_styles_are_failures() {
    let lambda = FakeLambda::start(
        vec![Reply::aws_function_error(), Reply::watch_function_error()],
        Reply::ok("{}"),
    )
    .await;
    let invoker = HttpInvoker::new(&lambda.endpoint(), Duration::from_secs(5)).unwrap();

    let aws = invoker.invoke("sink", b"{}").await.unwrap_err();
    assert!(
        matches!(&aws, InvokeError::Function { status: 200, kind, body, .. } if kind == "Unhandled" && body.contains("aws style")),
        "{aws}"
    );
    let watch = invoker.invoke("sink", b"{}").await.unwrap_err();
    assert!(
        matches!(&watch, InvokeError::Function { status: 500, body, .. } if body.contains("watch style")),
        "{watch}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    // Bind and drop a listener to get a port that nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let invoker =
        HttpInvoker::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5)).unwrap();
    let err = invoker.invoke("sink", b"{}").await.unwrap_err();
    assert!(matches!(err, InvokeError::Transport { .. }), "{err}");
}
