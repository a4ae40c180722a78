//! Calls a function through the Lambda Invoke API, the way EventBridge and the MSK event
//! source mapping do in AWS.
//!
//! Locally `cargo lambda watch` serves that API. Success and failure are told apart as follows:
//! - AWS Lambda answers a function error with HTTP 200, an `X-Amz-Function-Error` header
//!   (`Unhandled`, …) and the error document as the body.
//! - `cargo lambda watch` answers it with HTTP 500 and the error document as the body: its
//!   runtime route `POST /2018-06-01/runtime/invocation/{id}/error` hands the function's error
//!   body to the waiting invoke request with status 500, and the invoke handler copies that
//!   status (crates/cargo-lambda-watch/src/runtime/functions_router.rs `next_invocation_error`,
//!   src/trigger_router.rs `invoke_handler`). Any other 5xx from it (the function process
//!   could not start, …) is treated the same way.
//! - `cargo lambda watch` answers an initialisation error (`/runtime/init/error`) with HTTP 200
//!   and the error document (`init_error` in the same file), so a 200 body that is exactly a
//!   Lambda error document (`errorType` and `errorMessage`, optionally `stackTrace`) is taken
//!   as a function error too.
//! - An unknown function name gets a 404 with a JSON `title`/`detail` body.
//!
//! The [`Invoker`] trait lets the emulator loops be tested without HTTP.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

/// Lambda's header that marks a function error on an otherwise successful invoke response.
pub const FUNCTION_ERROR_HEADER: &str = "x-amz-function-error";

/// Why an invocation did not return a result.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client {
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint could not be reached or did not answer in time (connection refused, …).
    #[error("cannot reach {url}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The function ran and failed (`X-Amz-Function-Error`, or a 5xx from `cargo lambda watch`).
    #[error("function {function} failed ({kind}, HTTP {status}): {body}")]
    Function {
        function: String,
        status: u16,
        kind: String,
        body: String,
    },
    /// The endpoint refused the request (e.g. 404 for a function it does not serve).
    #[error("invoking {function} was refused with HTTP {status}: {body}")]
    Http {
        function: String,
        status: u16,
        body: String,
    },
    /// The function answered with a body that is not JSON.
    #[error("function {function} answered with a body that is not JSON: {body}")]
    InvalidResponse {
        function: String,
        body: String,
        #[source]
        source: serde_json::Error,
    },
}

impl InvokeError {
    /// Whether the function itself ran and reported an error.
    pub fn is_function_error(&self) -> bool {
        matches!(self, InvokeError::Function { .. })
    }

    /// The `errorType` of the function's error document (`StoreFailed.Retryable`), when the
    /// function ran and sent one.
    pub fn error_type(&self) -> Option<String> {
        let InvokeError::Function { body, .. } = self else {
            return None;
        };
        let document: Value = serde_json::from_str(body).ok()?;
        document["errorType"].as_str().map(str::to_owned)
    }

    /// The kind of function error (`Unhandled`, `Handled`), when the function ran and failed.
    pub fn function_error(&self) -> Option<&str> {
        match self {
            InvokeError::Function { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// Something that can run a function with a JSON payload and return its JSON response.
pub trait Invoker {
    /// Invokes `function` synchronously (RequestResponse) with `payload` as the event.
    fn invoke(
        &self,
        function: &str,
        payload: &[u8],
    ) -> impl Future<Output = Result<Value, InvokeError>> + Send;
}

/// The Lambda Invoke API over HTTP (`POST {endpoint}/2015-03-31/functions/{name}/invocations`).
#[derive(Debug, Clone)]
pub struct HttpInvoker {
    client: reqwest::Client,
    endpoint: String,
}

impl HttpInvoker {
    /// An invoker for `endpoint` (e.g. `http://127.0.0.1:9000`). `timeout` bounds one whole
    /// invocation; the first call to `cargo lambda watch` also waits for the function to compile.
    pub fn new(endpoint: &str, timeout: Duration) -> Result<Self, InvokeError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|source| InvokeError::Client { source })?;
        Ok(HttpInvoker {
            client,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    /// The invoke URL of `function`.
    pub fn url(&self, function: &str) -> String {
        format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.endpoint
        )
    }
}

impl Invoker for HttpInvoker {
    async fn invoke(&self, function: &str, payload: &[u8]) -> Result<Value, InvokeError> {
        let url = self.url(function);
        let transport = |source| InvokeError::Transport {
            url: url.clone(),
            source,
        };
        let response = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("x-amz-invocation-type", "RequestResponse")
            .body(payload.to_vec())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let function_error = response
            .headers()
            .get(FUNCTION_ERROR_HEADER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = response.bytes().await.map_err(transport)?;
        classify_response(function, status, function_error.as_deref(), &body)
    }
}

/// Turns an Invoke API answer into the function's result or an error (see the module docs for
/// the rules).
pub fn classify_response(
    function: &str,
    status: u16,
    function_error: Option<&str>,
    body: &[u8],
) -> Result<Value, InvokeError> {
    let text = || String::from_utf8_lossy(body).into_owned();
    if let Some(kind) = function_error {
        return Err(InvokeError::Function {
            function: function.to_owned(),
            status,
            kind: kind.to_owned(),
            body: text(),
        });
    }
    if status >= 500 {
        return Err(InvokeError::Function {
            function: function.to_owned(),
            status,
            kind: "Unhandled".to_owned(),
            body: text(),
        });
    }
    if !(200..300).contains(&status) {
        return Err(InvokeError::Http {
            function: function.to_owned(),
            status,
            body: text(),
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|source| InvokeError::InvalidResponse {
            function: function.to_owned(),
            body: text(),
            source,
        })?;
    if is_error_document(&value) {
        return Err(InvokeError::Function {
            function: function.to_owned(),
            status,
            kind: "Unhandled".to_owned(),
            body: text(),
        });
    }
    Ok(value)
}

/// Whether `value` is Lambda's error document: `errorType` and `errorMessage`, and at most
/// `stackTrace` besides.
fn is_error_document(value: &Value) -> bool {
    let Some(map) = value.as_object() else {
        return false;
    };
    map.contains_key("errorType")
        && map.contains_key("errorMessage")
        && map
            .keys()
            .all(|k| matches!(k.as_str(), "errorType" | "errorMessage" | "stackTrace"))
}

#[cfg(test)]
pub(crate) mod testing {
    //! An [`Invoker`] that plays back scripted answers and records what it was sent.

    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// Answers with the scripted results in order, then with `fallback`.
    pub struct ScriptedInvoker {
        answers: Mutex<VecDeque<Result<Value, InvokeError>>>,
        fallback: Value,
        pub calls: Mutex<Vec<(String, Value)>>,
    }

    impl ScriptedInvoker {
        pub fn new(answers: Vec<Result<Value, InvokeError>>, fallback: Value) -> Self {
            ScriptedInvoker {
                answers: Mutex::new(answers.into()),
                fallback,
                calls: Mutex::new(Vec::new()),
            }
        }

        pub fn calls(&self) -> Vec<(String, Value)> {
            self.calls.lock().unwrap().clone()
        }
    }

    /// A function error as `cargo lambda watch` reports it.
    pub fn function_error(function: &str) -> InvokeError {
        InvokeError::Function {
            function: function.to_owned(),
            status: 500,
            kind: "Unhandled".to_owned(),
            body: r#"{"errorType":"StoreFailed.Retryable","errorMessage":"scripted"}"#.to_owned(),
        }
    }

    impl Invoker for ScriptedInvoker {
        async fn invoke(&self, function: &str, payload: &[u8]) -> Result<Value, InvokeError> {
            let event = serde_json::from_slice(payload).expect("payloads are JSON");
            self.calls
                .lock()
                .unwrap()
                .push((function.to_owned(), event));
            let next = self.answers.lock().unwrap().pop_front();
            next.unwrap_or_else(|| Ok(self.fallback.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn function_error_header_on_200_is_a_function_error() {
        let err = classify_response(
            "sink",
            200,
            Some("Unhandled"),
            br#"{"errorType":"Boom","errorMessage":"x"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, InvokeError::Function { kind, status: 200, .. } if kind == "Unhandled")
        );
    }

    #[test]
    fn server_error_from_cargo_lambda_watch_is_a_function_error() {
        let err = classify_response(
            "sink",
            500,
            None,
            br#"{"errorType":"Boom","errorMessage":"x"}"#,
        )
        .unwrap_err();
        assert!(err.is_function_error());
        assert!(err.to_string().contains("Boom"));
    }

    #[test]
    fn init_error_document_answered_with_200_is_a_function_error() {
        let body = br#"{"errorType":"Runtime.ExitError","errorMessage":"bad env"}"#;
        assert!(
            classify_response("sink", 200, None, body)
                .unwrap_err()
                .is_function_error()
        );
    }

    #[test]
    fn not_found_is_an_http_error_and_not_a_function_error() {
        let err =
            classify_response("nope", 404, None, br#"{"title":"Missing function"}"#).unwrap_err();
        assert!(matches!(err, InvokeError::Http { status: 404, .. }));
    }

    #[test]
    fn success_returns_the_json_body_and_empty_body_is_null() {
        assert_eq!(
            classify_response("sink", 200, None, br#"{"written":3,"rejected":0}"#).unwrap(),
            json!({"written": 3, "rejected": 0})
        );
        assert_eq!(
            classify_response("sink", 200, None, b"").unwrap(),
            Value::Null
        );
        assert!(matches!(
            classify_response("sink", 200, None, b"not json"),
            Err(InvokeError::InvalidResponse { .. })
        ));
    }

    #[test]
    fn invoke_url_follows_the_lambda_api_path() {
        let invoker = HttpInvoker::new("http://127.0.0.1:9000/", Duration::from_secs(1)).unwrap();
        assert_eq!(
            invoker.url("sink"),
            "http://127.0.0.1:9000/2015-03-31/functions/sink/invocations"
        );
    }
}
