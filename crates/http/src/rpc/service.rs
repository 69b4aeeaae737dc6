//! The service both layers make: it starts a call per gRPC request and hands the response
//! body on with the call inside, so that the call ends when the body does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::Settings;
use super::body::ResponseBody;
use super::call::Call;
use super::status::Side;
use alys_telemetry_core::traces::TraceScope;

/// The service [`RpcServerLayer`](super::RpcServerLayer) and
/// [`RpcClientLayer`](super::RpcClientLayer) make.
#[derive(Clone)]
pub struct RpcService<S> {
    inner: S,
    settings: Settings,
}

impl<S> RpcService<S> {
    pub(crate) fn new(inner: S, settings: Settings) -> Self {
        RpcService { inner, settings }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RpcService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let call = Call::begin(&self.settings, &request);
        let scope = call.as_ref().and_then(Call::scope).cloned();
        let future = match &scope {
            Some(scope) => {
                if self.settings.durations.side() == Side::Client {
                    // The server continues the client span's trace (or its decision not to
                    // sample it).
                    crate::propagation::inject(&scope.context(), request.headers_mut());
                }
                scope.in_scope(|| self.inner.call(request))
            }
            None => self.inner.call(request),
        };
        ResponseFuture {
            inner: future,
            scope,
            call,
        }
    }
}

pin_project! {
    /// The response of an [`RpcService`]: the inner future, polled in the call's span when
    /// there is one.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        scope: Option<TraceScope>,
        call: Option<Call>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Body,
{
    type Output = Result<Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let polled = match this.scope.as_ref() {
            Some(scope) => scope.in_scope(|| inner.poll(cx)),
            None => inner.poll(cx),
        };
        let result = std::task::ready!(polled);
        let mut call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                if let Some(call) = call.as_mut() {
                    call.responded(&response);
                }
                Ok(response.map(|body| ResponseBody::new(body, call)))
            }
            Err(error) => {
                // Dropping the call records it: failed before any response.
                if let Some(call) = call.as_mut() {
                    call.failed();
                }
                Err(error)
            }
        })
    }
}
