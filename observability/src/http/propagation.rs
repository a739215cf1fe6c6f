//! Which context propagators run on incoming requests and outgoing ones
//! (`OTEL_PROPAGATORS`), and the injection helpers.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
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

impl Propagation {
    /// Writes `cx` into `headers` with the enabled propagators
    /// (`traceparent`/`tracestate`, `baggage`), replacing what was there.
    pub(crate) fn inject(self, cx: &opentelemetry::Context, headers: &mut HeaderMap) {
        let mut injector = HeaderInjector(headers);
        if self.trace_context {
            TraceContextPropagator::new().inject_context(cx, &mut injector);
        }
        if self.baggage {
            BaggagePropagator::new().inject_context(cx, &mut injector);
        }
    }
}

/// Writes the OpenTelemetry context of the current `tracing` span into the
/// headers of an outgoing request, with the propagators `init` installed
/// (`OTEL_PROPAGATORS`: W3C `traceparent`/`tracestate` and `baggage` by
/// default), so the service called continues this trace.
///
/// Works with any client built on the `http` crate's types:
///
/// ```
/// let mut request = http::Request::get("https://inventory.internal/v1/stock").body(())?;
/// appenv_observability::inject_context(request.headers_mut());
/// # Ok::<(), http::Error>(())
/// ```
///
/// With reqwest (whose headers are `http::HeaderMap`), build the request,
/// inject, then execute it:
///
/// ```text
/// let mut request = client.get(url).build()?;
/// appenv_observability::inject_context(request.headers_mut());
/// let response = client.execute(request).await?;
/// ```
///
/// Without an active span (or before [`init`](crate::init), or with
/// `OTEL_PROPAGATORS=none`) nothing is written. A [`Dispatch`](tracing::Dispatch)
/// built with [`TelemetryBuilder::build`](crate::TelemetryBuilder::build)
/// installs no global propagator: use
/// [`TelemetryGuard::inject_context`](crate::TelemetryGuard::inject_context)
/// there.
pub fn inject_context(headers: &mut HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&cx, &mut HeaderInjector(headers));
    });
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagators write lowercase ASCII names and header-safe
        // values; anything else is left out rather than sent broken.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
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
