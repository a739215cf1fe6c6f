//! [`Choice`]: a setting from a fixed set that keeps a value this build
//! does not support as written, so the policy can refuse it by name
//! (`telemetry.invalid`) instead of the load failing without a rule.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value of `T`, or the text of a value this build does not support.
///
/// The OpenTelemetry variables name values that appenv does not implement
/// (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`, `OTEL_TRACES_EXPORTER=zipkin`,
/// `OTEL_PROPAGATORS=b3`, …). They load as [`Choice::Unsupported`] and the
/// `telemetry.invalid` rule refuses them in every environment, so
/// `config check` reports them with their key and source, and
/// [`init`](crate::init) never meets one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Choice<T> {
    /// A supported value.
    Known(T),
    /// An unsupported value, as written.
    Unsupported(String),
}

impl<T: Copy> Choice<T> {
    /// The supported value, if it is one.
    pub fn known(&self) -> Option<T> {
        match self {
            Choice::Known(value) => Some(*value),
            Choice::Unsupported(_) => None,
        }
    }
}

/// A closed set of names (implemented by this crate's setting enums).
pub(crate) trait Named {
    /// The canonical spellings, in the order messages list them.
    const ACCEPTED: &'static [&'static str];
}

/// For [`Choice::Unsupported`]: the value as written and what would be
/// accepted.
pub(crate) fn unsupported<T: Named>(choice: &Choice<T>) -> Option<(String, String)> {
    match choice {
        Choice::Known(_) => None,
        Choice::Unsupported(raw) => Some((
            raw.clone(),
            format!(
                "one of {} (this build supports no other)",
                T::ACCEPTED.join(", ")
            ),
        )),
    }
}

impl<T> From<T> for Choice<T> {
    fn from(value: T) -> Self {
        Choice::Known(value)
    }
}

impl<T: PartialEq> PartialEq<T> for Choice<T> {
    fn eq(&self, other: &T) -> bool {
        matches!(self, Choice::Known(value) if value == other)
    }
}

impl<T: fmt::Display> fmt::Display for Choice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Known(value) => value.fmt(f),
            Choice::Unsupported(raw) => f.write_str(raw),
        }
    }
}

impl<T: fmt::Display> Serialize for Choice<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de, T: FromStr> Deserialize<'de> for Choice<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Ok(match raw.parse::<T>() {
            Ok(value) => Choice::Known(value),
            Err(_) => Choice::Unsupported(raw),
        })
    }
}
