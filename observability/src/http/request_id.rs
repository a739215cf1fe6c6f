//! The request id: accepted from `x-request-id` when well-formed, generated
//! otherwise.

use std::fmt;

use http::HeaderValue;

/// The header carrying the request id, in requests and responses.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request id, available to handlers as a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// Takes the client's id when it is 1 to 128 visible ASCII characters
    /// (so it cannot inject anything into logs), else generates a UUID v4.
    pub(crate) fn accept_or_generate(incoming: Option<&HeaderValue>) -> RequestId {
        match incoming {
            Some(value)
                if (1..=128).contains(&value.len())
                    && value.as_bytes().iter().all(|b| b.is_ascii_graphic()) =>
            {
                RequestId(value.clone())
            }
            _ => RequestId::generate(),
        }
    }

    fn generate() -> RequestId {
        let id = uuid::Uuid::new_v4().to_string();
        // A UUID is always a valid header value.
        RequestId(
            HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid")),
        )
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever stored.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_ids_are_kept_and_others_replaced() {
        let kept = RequestId::accept_or_generate(Some(&HeaderValue::from_static("abc-123")));
        assert_eq!(kept.as_str(), "abc-123");
        let spaced = RequestId::accept_or_generate(Some(&HeaderValue::from_static("a b")));
        assert_ne!(spaced.as_str(), "a b");
        assert_eq!(spaced.as_str().len(), 36);
        let long = "x".repeat(200);
        let long = RequestId::accept_or_generate(Some(&HeaderValue::from_str(&long).unwrap()));
        assert_eq!(long.as_str().len(), 36);
        assert_eq!(RequestId::accept_or_generate(None).as_str().len(), 36);
    }
}
