//! Which kept traces a page or an API call asks for.

use std::sync::Arc;
use std::time::Duration;

use super::operations::bucket_range;
use super::trace::Trace;

/// The order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Newest first.
    #[default]
    Recent,
    /// Longest first.
    Slowest,
    /// Failed ones only, newest first.
    Failed,
}

impl View {
    pub const ALL: [View; 3] = [View::Recent, View::Slowest, View::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            View::Recent => "recent",
            View::Slowest => "slowest",
            View::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// A selection of traces: every filter that is set must match.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceQuery {
    pub view: View,
    /// The root span's name, exactly.
    pub operation: Option<String>,
    /// The resource's `service.name`, exactly.
    pub service: Option<String>,
    /// At least this long.
    pub min_duration: Option<Duration>,
    /// Within this latency bucket (see [`super::LATENCY_BOUNDS`]).
    pub bucket: Option<usize>,
    /// Only traces with an error span.
    pub errors_only: bool,
    /// A span name or attribute value containing this text (case-insensitive).
    pub search: Option<String>,
    /// At most this many.
    pub limit: usize,
}

impl Default for TraceQuery {
    fn default() -> Self {
        TraceQuery {
            view: View::Recent,
            operation: None,
            service: None,
            min_duration: None,
            bucket: None,
            errors_only: false,
            search: None,
            limit: 50,
        }
    }
}

impl TraceQuery {
    /// Whether `trace`, of a store whose service is `service`, is selected.
    pub fn matches(&self, trace: &Trace, service: &str) -> bool {
        let in_bucket = |b: usize| {
            let (low, high) = bucket_range(b);
            let d = trace.duration();
            d >= low && high.is_none_or(|h| d < h)
        };
        self.service.as_deref().is_none_or(|s| s == service)
            && self
                .operation
                .as_deref()
                .is_none_or(|op| op == trace.operation())
            && self.min_duration.is_none_or(|d| trace.duration() >= d)
            && self.bucket.is_none_or(in_bucket)
            && (!(self.errors_only || self.view == View::Failed) || trace.has_error())
            && self
                .search
                .as_deref()
                .is_none_or(|text| text.is_empty() || trace.mentions(text))
    }

    /// Filters and orders `newest_first` (every kept trace, newest first).
    pub(crate) fn apply(&self, newest_first: Vec<Arc<Trace>>, service: &str) -> Vec<Arc<Trace>> {
        let mut out: Vec<Arc<Trace>> = newest_first
            .into_iter()
            .filter(|t| self.matches(t, service))
            .collect();
        if self.view == View::Slowest {
            out.sort_by_key(|t| std::cmp::Reverse(t.duration()));
        }
        out.truncate(self.limit);
        out
    }
}
