//! What a gRPC call is called and how it ended: the method from the request path, the
//! status code from the response (`grpc-status` in its headers or trailers, else its HTTP
//! status) under the name the conventions record (`OK`, `UNAVAILABLE`), and which codes are
//! errors on which side of the call.

use http::{HeaderMap, StatusCode};

/// The gRPC status codes' names, by number (gRPC's doc/statuscodes.md).
const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The value of `rpc.method` when the method is not known: the conventions' word for it.
pub(crate) const OTHER: &str = "_OTHER";

/// Longer than any method a service declares; a path beyond it is not a method name but a
/// client filling the series with garbage.
const MAX_METHOD: usize = 256;

/// Which end of the call a layer measures: the conventions count different codes as errors
/// on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// A gRPC status code (0 to 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Code(usize);

impl Code {
    pub(crate) const OK: Code = Code(0);
    pub(crate) const CANCELLED: Code = Code(1);
    pub(crate) const UNKNOWN: Code = Code(2);
    const DEADLINE_EXCEEDED: Code = Code(4);
    const PERMISSION_DENIED: Code = Code(7);
    pub(crate) const UNIMPLEMENTED: Code = Code(12);
    const INTERNAL: Code = Code(13);
    const UNAVAILABLE: Code = Code(14);
    const DATA_LOSS: Code = Code(15);
    const UNAUTHENTICATED: Code = Code(16);

    /// The code a `grpc-status` value carries, a decimal number; a number gRPC does not
    /// define, or a value that is no number, is `UNKNOWN`, as gRPC itself reads it.
    pub(crate) fn parse(value: &[u8]) -> Code {
        std::str::from_utf8(value)
            .ok()
            .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|number| *number < NAMES.len())
            .map_or(Code::UNKNOWN, Code)
    }

    /// The `grpc-status` of `headers` (a trailers-only response's headers, or trailers).
    pub(crate) fn of(headers: &HeaderMap) -> Option<Code> {
        headers
            .get("grpc-status")
            .map(|value| Code::parse(value.as_bytes()))
    }

    /// The code of a response that carried no `grpc-status`, from its HTTP status, as gRPC
    /// maps it (doc/http-grpc-status-mapping.md, and tonic with it). A 200 without a status
    /// is a stream cut short (a proxy's reset looks like a clean end): `UNKNOWN`.
    pub(crate) fn from_http(status: StatusCode) -> Code {
        match status.as_u16() {
            400 => Code::INTERNAL,
            401 => Code::UNAUTHENTICATED,
            403 => Code::PERMISSION_DENIED,
            404 => Code::UNIMPLEMENTED,
            429 | 502 | 503 | 504 => Code::UNAVAILABLE,
            _ => Code::UNKNOWN,
        }
    }

    /// The name the conventions record in `rpc.response.status_code` and `error.type`.
    pub(crate) fn name(self) -> &'static str {
        NAMES.get(self.0).copied().unwrap_or("UNKNOWN")
    }

    /// Whether the call failed, as the gRPC conventions say: for a client every code but
    /// `OK`; for a server only the codes that say the server failed (a caller's bad argument
    /// or missing permission is the caller's error, as a 4xx is in HTTP).
    pub(crate) fn is_error(self, side: Side) -> bool {
        match side {
            Side::Client => self != Code::OK,
            Side::Server => [
                Code::UNKNOWN,
                Code::DEADLINE_EXCEEDED,
                Code::UNIMPLEMENTED,
                Code::INTERNAL,
                Code::UNAVAILABLE,
                Code::DATA_LOSS,
            ]
            .contains(&self),
        }
    }
}

/// `rpc.method` of a request path `/package.Service/Method`: `package.Service/Method`, the
/// fully qualified name the conventions ask for (1.42 folds the service, once `rpc.service`,
/// into it). A client whose origin has a path prefix sends `/prefix/package.Service/Method`:
/// the method is the last two segments. Anything else (a segment that is no protobuf name,
/// an empty one, a path far longer than any method) is `None`, recorded as `_OTHER`, so that
/// a client sending arbitrary paths cannot grow the series.
pub(crate) fn method_of(path: &str) -> Option<&str> {
    if path.len() > MAX_METHOD {
        return None;
    }
    let (rest, method) = path.rsplit_once('/')?;
    let service_start = rest.rfind('/')? + 1;
    let service = rest.get(service_start..)?;
    let name = |text: &str, dots: bool| {
        text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && !text.ends_with('.')
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || (dots && c == '.'))
    };
    (name(service, true) && name(method, false)).then(|| path.get(service_start..))?
}
