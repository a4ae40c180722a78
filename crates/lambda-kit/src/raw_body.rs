//! Runs a handler on the invocation's body as the bytes the Runtime API sent, without the
//! runtime's own pass over them.
//!
//! `lambda_runtime` deserialises every body into the handler's payload type before the handler
//! runs; even `Box<RawValue>` reads the whole body once to find where it ends. For the sink's
//! 6 MB MSK events that pass is a tenth of the work, and the sink reads the event itself
//! anyway. The runtime offers no raw-body handler, but its layers see each invocation before
//! that step: [`RawBodyLayer`] moves the body into a slot shared with the handler and leaves
//! `null` for the runtime to deserialise (as `()`). Invocations are handled one at a time
//! ([`lambda_runtime::Runtime::run`]), so one slot serves them all.

use std::{
    fmt::Debug,
    future::Future,
    sync::{Arc, Mutex},
    task::{Context as TaskContext, Poll},
};

use bytes::Bytes;
use lambda_runtime::{
    Context, Diagnostic, Error, LambdaEvent, LambdaInvocation, Runtime, Service, layers, service_fn,
};

/// The body of the invocation being handled, between the layer and the handler.
type Slot = Arc<Mutex<Option<Bytes>>>;

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
        let body = taken.lock().map(|mut s| s.take()).ok().flatten();
        handler(body.unwrap_or_default(), event.context)
    });
    Runtime::new(handler)
        .layer(RawBodyLayer { slot })
        .layer(layers::TracingLayer::new())
        .run()
        .await
}

/// Moves each invocation's body into the slot the handler takes it from.
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
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some(body);
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
        let response = http::Response::new(());
        let (parts, ()) = response.into_parts();
        let invocation = LambdaInvocation {
            parts,
            body: Bytes::from_static(br#"{"records":{}}"#),
            context: Context::default(),
        };
        service.call(invocation).await.unwrap();

        // then the handler's slot holds the body and the runtime sees `null`
        assert_eq!(
            slot.lock().unwrap().take().unwrap(),
            &br#"{"records":{}}"#[..]
        );
        assert_eq!(seen.lock().unwrap()[0], &b"null"[..]);
    }
}
