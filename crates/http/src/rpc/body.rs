//! The response body the layers hand on: it reads the call's status in the trailers at its
//! end and ends the call there, or where the body ends, fails or is dropped.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::call::Call;

pin_project! {
    /// A gRPC response body, passed through untouched; the call it belongs to ends with it
    /// (for a call that is no gRPC call it holds none).
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(inner: B, mut call: Option<Call>) -> Self {
        // A body that is over before it starts (a trailers-only response) is not polled:
        // the call ends with the head (recorded as `ended` is dropped).
        if inner.is_end_stream()
            && let Some(mut ended) = call.take()
        {
            ended.ended();
        }
        ResponseBody { inner, call }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let polled = inner.as_mut().poll_frame(cx);
        let Some(call) = this.call.as_mut() else {
            return polled;
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    call.trailers(trailers);
                }
                // Trailers are the last frame; a body may also say it is over after its last
                // data, and hyper then stops polling it: either way the call ends here.
                if frame.is_trailers() || inner.is_end_stream() {
                    call.ended();
                    this.call.take();
                }
            }
            Poll::Ready(Some(Err(_))) => {
                call.failed();
                this.call.take();
            }
            Poll::Ready(None) => {
                call.ended();
                this.call.take();
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
