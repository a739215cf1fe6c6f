//! Which context propagators run on incoming requests (`OTEL_PROPAGATORS`).

use http::HeaderMap;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Extractor, TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::choice::Choice;
use crate::config::Propagator;

/// The enabled propagators: W3C Trace Context and W3C Baggage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Propagation {
    trace_context: bool,
    baggage: bool,
}

impl Default for Propagation {
    /// Both, as the OpenTelemetry specification's default
    /// `tracecontext,baggage`.
    fn default() -> Self {
        Propagation {
            trace_context: true,
            baggage: true,
        }
    }
}

impl Propagation {
    /// From the configured list; `none` (alone or not) and unsupported
    /// names (refused by `telemetry.invalid` first) enable nothing.
    pub(crate) fn from_config(list: &[Choice<Propagator>]) -> Self {
        let has = |wanted| list.iter().any(|p| *p == wanted);
        Propagation {
            trace_context: has(Propagator::TraceContext),
            baggage: has(Propagator::Baggage),
        }
    }

    pub(crate) fn from_list(list: &[Propagator]) -> Self {
        let has = |wanted| list.contains(&wanted);
        Propagation {
            trace_context: has(Propagator::TraceContext),
            baggage: has(Propagator::Baggage),
        }
    }

    /// The propagator to install as OpenTelemetry's global one.
    pub(crate) fn composite(self) -> TextMapCompositePropagator {
        let mut propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
        if self.trace_context {
            propagators.push(Box::new(TraceContextPropagator::new()));
        }
        if self.baggage {
            propagators.push(Box::new(BaggagePropagator::new()));
        }
        TextMapCompositePropagator::new(propagators)
    }

    /// The remote context of a request: its valid `traceparent` (and
    /// `tracestate`) and its `baggage`, as enabled. `None` when there is
    /// neither, so the common case allocates nothing.
    pub(crate) fn extract(self, headers: &HeaderMap) -> Option<opentelemetry::Context> {
        let trace = self.trace_context && headers.contains_key("traceparent");
        let baggage = self.baggage && headers.contains_key("baggage");
        if !trace && !baggage {
            return None;
        }
        let extractor = HeaderExtractor(headers);
        let mut cx = opentelemetry::Context::new();
        if trace {
            cx = TraceContextPropagator::new().extract_with_context(&cx, &extractor);
        }
        if baggage {
            cx = BaggagePropagator::new().extract_with_context(&cx, &extractor);
        }
        (cx.has_active_span() || !cx.baggage().is_empty()).then_some(cx)
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
