//! Runs a handler on the invocation's body as the bytes the Runtime API sent, without the
//! runtime's own pass over them.
//!
//! `lambda_runtime` deserialises every body into the handler's payload type before the handler
//! runs; even `Box<RawValue>` reads the whole body once to find where it ends. For the sink's
//! 6 MB MSK events that pass is a tenth of the work, and the sink reads the event itself
//! anyway. The runtime offers no raw-body handler, but its layers see each invocation before
//! that step: [`RawBodyLayer`] moves the body into a map shared with the handler, under the
//! invocation's request id, and leaves `null` for the runtime to deserialise (as `()`); the
//! handler takes the body of its own request id. Keyed so, bodies cannot cross even when the
//! runtime handles invocations concurrently (its concurrent mode interleaves them).

use std::{
    collections::HashMap,
    fmt::Debug,
    future::Future,
    sync::{Arc, Mutex},
    task::{Context as TaskContext, Poll},
};

use bytes::Bytes;
use lambda_runtime::{
    Context, Diagnostic, Error, LambdaEvent, LambdaInvocation, Runtime, Service, layers, service_fn,
};

/// The bodies of the invocations being handled, by request id, between the layer and the
/// handler.
type Slot = Arc<Mutex<HashMap<String, Bytes>>>;

/// Takes the body of `request_id` out of `slot`; empty when there is none (the handler then
/// fails to read its event, naming it).
fn take(slot: &Slot, request_id: &str) -> Bytes {
    (slot.lock().ok())
        .and_then(|mut bodies| bodies.remove(request_id))
        .unwrap_or_default()
}

/// Runs `handler` for every invocation with its raw body and context, with the tracing layer
/// `lambda_runtime::run` adds.
pub async fn run<F, Fut, R, E>(handler: F) -> Result<(), Error>
where
    F: Fn(Bytes, Context) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    R: serde::Serialize,
    E: Into<Diagnostic> + Debug,
{
    let slot = Slot::default();
    let taken = slot.clone();
    let handler = service_fn(move |event: LambdaEvent<()>| {
        let body = take(&taken, &event.context.request_id);
        handler(body, event.context)
    });
    Runtime::new(handler)
        .layer(RawBodyLayer { slot })
        .layer(layers::TracingLayer::new())
        .run()
        .await
}

/// Moves each invocation's body into the map the handler takes it from.
#[derive(Clone)]
pub struct RawBodyLayer {
    slot: Slot,
}

impl<S> lambda_runtime::tower::Layer<S> for RawBodyLayer {
    type Service = RawBody<S>;

    fn layer(&self, inner: S) -> RawBody<S> {
        RawBody {
            inner,
            slot: self.slot.clone(),
        }
    }
}

/// The service [`RawBodyLayer`] makes.
pub struct RawBody<S> {
    inner: S,
    slot: Slot,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for RawBody<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        let body = std::mem::replace(&mut invocation.body, Bytes::from_static(b"null"));
        if let Ok(mut bodies) = self.slot.lock() {
            bodies.insert(invocation.context.request_id.clone(), body);
        }
        self.inner.call(invocation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_layer_hands_the_body_over_and_leaves_null_for_the_runtime() {
        // given a layer over a service that records what the runtime would deserialise
        let slot = Slot::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let inner = service_fn(move |invocation: LambdaInvocation| {
            recorder.lock().unwrap().push(invocation.body);
            async { Ok::<(), Error>(()) }
        });
        let mut service =
            lambda_runtime::tower::Layer::layer(&RawBodyLayer { slot: slot.clone() }, inner);

        // when an invocation with a body passes through
        service
            .call(invocation("request-1", br#"{"records":{}}"#))
            .await
            .unwrap();

        // then the handler's slot holds the body and the runtime sees `null`
        assert_eq!(take(&slot, "request-1"), &br#"{"records":{}}"#[..]);
        assert_eq!(seen.lock().unwrap()[0], &b"null"[..]);
    }

    #[tokio::test]
    async fn interleaved_invocations_each_get_their_own_body() {
        // given a layer over a service that holds each invocation back, as a runtime handling
        // invocations concurrently does
        let slot = Slot::default();
        let inner = service_fn(|_: LambdaInvocation| async { Ok::<(), Error>(()) });
        let mut service =
            lambda_runtime::tower::Layer::layer(&RawBodyLayer { slot: slot.clone() }, inner);

        // when two invocations pass through before either handler takes its body
        service.call(invocation("first", b"[1]")).await.unwrap();
        service.call(invocation("second", b"[2]")).await.unwrap();

        // then each handler, the later one first, takes its own body, and only once
        assert_eq!(take(&slot, "second"), &b"[2]"[..]);
        assert_eq!(take(&slot, "first"), &b"[1]"[..]);
        assert!(take(&slot, "first").is_empty());
    }

    fn invocation(request_id: &str, body: &'static [u8]) -> LambdaInvocation {
        let (parts, ()) = http::Response::new(()).into_parts();
        let mut context = Context::default();
        context.request_id = request_id.to_owned();
        LambdaInvocation {
            parts,
            body: Bytes::from_static(body),
            context,
        }
    }
}
