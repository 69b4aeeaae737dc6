//! The layers around a tiny tower service whose response body the test writes frame by
//! frame: where the status comes from, when the call ends, and what each end records.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::future::Ready;
use std::pin::Pin;
use std::task::{Context, Poll};

use alys_test_support::exposition::parse_exposition;
use alys_test_support::metrics::Registry;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use tower::util::ServiceFn;
use tower::{Layer, ServiceExt, service_fn};

use super::status::{Code, Side, method_of};
use super::{ResponseBody, RpcClientLayer, RpcServerLayer, RpcService};

const SERVER: &str = "rpc_server_call_duration_seconds_count";
const CLIENT: &str = "rpc_client_call_duration_seconds_count";
pub(super) const STREAM: &str = "alys.governance.v1.GovernanceStream/Stream";

/// A body that yields the frames it was given, then ends; an `Err` frame fails it.
pub(super) struct TestBody(VecDeque<Result<Frame<Bytes>, &'static str>>);

impl Body for TestBody {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
        Poll::Ready(self.0.pop_front())
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

fn data(text: &'static str) -> Result<Frame<Bytes>, &'static str> {
    Ok(Frame::data(Bytes::from_static(text.as_bytes())))
}

fn trailers(status: Option<&'static str>) -> Result<Frame<Bytes>, &'static str> {
    let mut map = HeaderMap::new();
    if let Some(status) = status {
        map.insert("grpc-status", status.parse().expect("header value"));
    }
    Ok(Frame::trailers(map))
}

/// A response with `status`, `grpc-status` in its headers when given, and `frames`.
pub(super) fn response(
    status: u16,
    header: Option<&'static str>,
    frames: Vec<Result<Frame<Bytes>, &'static str>>,
) -> Response<TestBody> {
    let mut builder = Response::builder().status(status);
    if let Some(code) = header {
        builder = builder.header("grpc-status", code);
    }
    builder.body(TestBody(frames.into())).expect("response")
}

pub(super) fn request(path: &str, content_type: &str) -> Request<()> {
    Request::post(path)
        .header("content-type", content_type)
        .body(())
        .expect("request")
}

type AnswerResult = Result<Response<TestBody>, &'static str>;
type Inner = ServiceFn<Box<dyn FnMut(Request<()>) -> Ready<AnswerResult> + Send>>;

/// The layered service's response to one gRPC call of `path`, answered by `answer`.
async fn call<L>(
    layer: &L,
    path: &str,
    answer: fn() -> AnswerResult,
) -> Result<Response<ResponseBody<TestBody>>, &'static str>
where
    L: Layer<Inner, Service = RpcService<Inner>>,
{
    let answer: Box<dyn FnMut(Request<()>) -> Ready<AnswerResult> + Send> =
        Box::new(move |_| std::future::ready(answer()));
    let inner: Inner = service_fn(answer);
    layer
        .layer(inner)
        .oneshot(request(path, "application/grpc"))
        .await
}

/// Opens a stream of `path`, reads one message and drops the stream.
async fn open_and_drop<L>(layer: &L, path: &str)
where
    L: Layer<Inner, Service = RpcService<Inner>>,
{
    let open = || {
        Ok(response(
            200,
            None,
            vec![data("a"), data("b"), trailers(Some("0"))],
        ))
    };
    let mut body = call(layer, path, open).await.expect("response").into_body();
    assert!(next(&mut body).await.is_some());
}

/// The next frame of `body` (the test bodies never wait).
async fn next(body: &mut ResponseBody<TestBody>) -> Option<Result<Frame<Bytes>, &'static str>> {
    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}

async fn drain(mut body: ResponseBody<TestBody>) {
    while next(&mut body).await.is_some() {}
}

/// The label sets of every series of `name`, with their counts.
fn series(registry: &Registry, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    parse_exposition(&registry.text())
        .matching(name, &[])
        .map(|s| (s.labels.clone(), s.value))
        .collect()
}

/// The one series of `name`, asserting there is exactly one, recorded once.
fn only(registry: &Registry, name: &str) -> BTreeMap<String, String> {
    let found = series(registry, name);
    match found.as_slice() {
        [(labels, count)] if *count == 1.0 => labels.clone(),
        _ => panic!("expected one call of {name}, found {found:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn methods_are_package_service_and_method_or_nothing() {
    assert_eq!(method_of(&format!("/{STREAM}")), Some(STREAM));
    assert_eq!(method_of("/EchoService/Echo"), Some("EchoService/Echo"));
    assert_eq!(method_of("/proxy/pkg.Svc/Get_2"), Some("pkg.Svc/Get_2"));
    for path in [
        "/",
        "/Echo",
        "/pkg.Svc/",
        "//Echo",
        "/pkg.Svc/Get-It",
        "/pkg.Svc./Get",
        "/%2e%2e/Get",
        "/1pkg.Svc/Get",
        "/pkg.Svc/Get.More",
    ] {
        assert_eq!(method_of(path), None, "{path}");
    }
    let long = format!("/pkg.{}/Get", "S".repeat(300));
    assert_eq!(method_of(&long), None);
}

#[test]
fn status_codes_have_grpc_names_and_errors_depend_on_the_side() {
    let name = |value: &[u8]| Code::parse(value).name();
    assert_eq!(name(b"0"), "OK");
    assert_eq!(name(b"14"), "UNAVAILABLE");
    assert_eq!(name(b"16"), "UNAUTHENTICATED");
    for nonsense in [
        &b"17"[..],
        b"",
        b"-1",
        b"+1",
        b" 1",
        b"99999999999999999999999",
    ] {
        assert_eq!(name(nonsense), "UNKNOWN", "{nonsense:?}");
    }
    let http = |status: u16| Code::from_http(StatusCode::from_u16(status).expect("status")).name();
    assert_eq!(http(503), "UNAVAILABLE");
    assert_eq!(http(404), "UNIMPLEMENTED");
    assert_eq!(http(401), "UNAUTHENTICATED");
    assert_eq!(http(200), "UNKNOWN");
    assert_eq!(http(418), "UNKNOWN");
    let not_found = Code::parse(b"5");
    assert!(!not_found.is_error(Side::Server) && not_found.is_error(Side::Client));
    let unavailable = Code::parse(b"14");
    assert!(unavailable.is_error(Side::Server) && unavailable.is_error(Side::Client));
    assert!(!Code::OK.is_error(Side::Client));
}

#[tokio::test]
async fn a_streaming_call_lasts_until_its_trailers_and_takes_their_status() {
    let registry = Registry::new();
    let layer = RpcServerLayer::new(&registry.meter());
    let answer = || {
        Ok(response(
            200,
            None,
            vec![data("a"), data("b"), trailers(Some("0"))],
        ))
    };
    let mut body = call(&layer, &format!("/{STREAM}"), answer)
        .await
        .expect("response")
        .into_body();
    // The stream is open: its head was sent, its messages flow, the call goes on.
    assert!(series(&registry, SERVER).is_empty());
    assert!(next(&mut body).await.is_some());
    assert!(series(&registry, SERVER).is_empty());
    drain(body).await;
    let expected = [
        ("rpc_system_name", "grpc"),
        ("rpc_method", STREAM),
        ("rpc_response_status_code", "OK"),
    ];
    assert_eq!(only(&registry, SERVER), labels(&expected));
}

#[tokio::test]
async fn a_trailers_only_response_takes_its_status_from_its_headers() {
    let registry = Registry::new();
    let meter = registry.meter();
    let server = RpcServerLayer::new(&meter);
    let client = RpcClientLayer::new(&meter);
    let refused = || Ok(response(200, Some("5"), vec![]));
    // The body says it is over: hyper drops it without polling, as tonic's client does
    // with a refusal.
    drop(call(&server, "/pkg.Svc/Get", refused).await);
    drop(call(&client, "/pkg.Svc/Get", refused).await);
    let not_found = [
        ("rpc_system_name", "grpc"),
        ("rpc_method", "pkg.Svc/Get"),
        ("rpc_response_status_code", "NOT_FOUND"),
    ];
    // NOT_FOUND is the caller's error, not the server's.
    assert_eq!(only(&registry, SERVER), labels(&not_found));
    let mut failed = labels(&not_found);
    failed.insert("error_type".into(), "NOT_FOUND".into());
    assert_eq!(only(&registry, CLIENT), failed);
}

#[tokio::test]
async fn a_dropped_stream_is_cancelled_an_error_only_for_the_client() {
    let registry = Registry::new();
    let meter = registry.meter();
    open_and_drop(&RpcServerLayer::new(&meter), &format!("/{STREAM}")).await;
    open_and_drop(&RpcClientLayer::new(&meter), &format!("/{STREAM}")).await;
    let cancelled = [
        ("rpc_system_name", "grpc"),
        ("rpc_method", STREAM),
        ("rpc_response_status_code", "CANCELLED"),
    ];
    assert_eq!(only(&registry, SERVER), labels(&cancelled));
    let mut failed = labels(&cancelled);
    failed.insert("error_type".into(), "CANCELLED".into());
    assert_eq!(only(&registry, CLIENT), failed);
}

#[tokio::test]
async fn failures_before_any_status_have_no_status_and_error_type_other() {
    let registry = Registry::new();
    let layer = RpcClientLayer::new(&registry.meter());
    let refused = call(&layer, "/pkg.Svc/Get", || Err("connection refused")).await;
    assert_eq!(refused.err(), Some("connection refused"));
    let broken = || {
        Ok(response(
            200,
            None,
            vec![data("a"), Err("reset"), trailers(Some("0"))],
        ))
    };
    let body = call(&layer, "/pkg.Svc/Get", broken)
        .await
        .expect("response")
        .into_body();
    drain(body).await;
    let failed = [
        ("rpc_system_name", "grpc"),
        ("rpc_method", "pkg.Svc/Get"),
        ("error_type", "_OTHER"),
    ];
    assert_eq!(series(&registry, CLIENT), vec![(labels(&failed), 2.0)]);
}

#[tokio::test]
async fn without_grpc_status_the_http_status_decides_as_grpc_maps_it() {
    let registry = Registry::new();
    let layer = RpcServerLayer::new(&registry.meter());
    let unavailable = || Ok(response(503, None, vec![data("<html>")]));
    let cut_short = || Ok(response(200, None, vec![data("a")]));
    let no_status = || Ok(response(200, None, vec![data("a"), trailers(None)]));
    for answer in [unavailable as fn() -> AnswerResult, cut_short, no_status] {
        let body = call(&layer, "/pkg.Svc/Get", answer)
            .await
            .expect("response");
        drain(body.into_body()).await;
    }
    let text = registry.text();
    let count = |code: &str| {
        alys_test_support::sample_sum(
            &text,
            SERVER,
            &[("rpc_response_status_code", code), ("error_type", code)],
        )
    };
    assert_eq!(count("UNAVAILABLE"), Some(1.0), "{text}");
    assert_eq!(count("UNKNOWN"), Some(2.0), "{text}");
}

#[tokio::test]
async fn unknown_methods_are_other_and_other_protocols_are_not_measured() {
    let registry = Registry::new();
    let meter = registry.meter();
    let server = RpcServerLayer::new(&meter);
    let unimplemented = || Ok(response(200, Some("12"), vec![]));
    drop(call(&server, "/pkg.Svc/Invented", unimplemented).await);
    drop(call(&server, "/not-a-method", unimplemented).await);
    // gRPC-Web on the same server: its status is inside the body, out of the layer's reach.
    let web = server
        .layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(response(200, None, vec![data("a")]))
        }))
        .oneshot(request("/pkg.Svc/Get", "application/grpc-web"))
        .await;
    drain(web.expect("infallible").into_body()).await;
    let other = [
        ("rpc_system_name", "grpc"),
        ("rpc_method", "_OTHER"),
        ("rpc_response_status_code", "UNIMPLEMENTED"),
        ("error_type", "UNIMPLEMENTED"),
    ];
    assert_eq!(series(&registry, SERVER), vec![(labels(&other), 2.0)]);
    // A client knows its methods: it keeps the name the server did not know.
    let client = RpcClientLayer::new(&meter).with_server_address("governance", Some(50051));
    drop(call(&client, "/pkg.Svc/Invented", unimplemented).await);
    let expected = [
        ("rpc_system_name", "grpc"),
        ("rpc_method", "pkg.Svc/Invented"),
        ("rpc_response_status_code", "UNIMPLEMENTED"),
        ("error_type", "UNIMPLEMENTED"),
        ("server_address", "governance"),
        ("server_port", "50051"),
    ];
    assert_eq!(only(&registry, CLIENT), labels(&expected));
}
