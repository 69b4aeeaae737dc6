//! The bodies the layer hands on: the request body counts what the handler reads; the
//! response body counts what is sent and ends the exchange when it ends.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::exchange::{BytesRead, Exchange};

pin_project! {
    /// A request body that counts the bytes the service reads from it
    /// (`http.server.request.body.size`).
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        read: BytesRead,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, read: BytesRead) -> Self {
        RequestBody { inner, read }
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.read
                .fetch_add(bytes::Buf::remaining(data) as u64, Ordering::Relaxed);
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

pin_project! {
    /// A response body that counts the bytes sent (`http.server.response.body.size`) and
    /// ends the request's measurement and span when it ends or is dropped.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        exchange: Option<Exchange>,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, exchange: Exchange) -> Self {
        ResponseBody {
            inner,
            exchange: Some(exchange),
        }
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
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(exchange)) = (frame.data_ref(), this.exchange.as_mut()) {
                    exchange.sent(bytes::Buf::remaining(data) as u64);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(exchange) = this.exchange.as_mut() {
                    exchange.failed();
                }
                this.exchange.take();
            }
            Poll::Ready(None) => {
                this.exchange.take();
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
