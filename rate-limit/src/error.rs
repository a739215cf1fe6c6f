//! The crate's one error type.

/// What can go wrong while building a rate limiter from its configuration.
///
/// Every variant names the configuration key at fault (as registered by a
/// service at `rate_limit`, so `rate_limit.max`), and none ever carries the
/// password of the Redis URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range or malformed.
    #[error("invalid value for {key}: {message}")]
    InvalidConfig {
        /// The dotted key, e.g. `rate_limit.max`.
        key: String,
        /// What was wrong and what is expected.
        message: String,
    },

    /// The Redis URL could not be parsed by the Redis client.
    #[cfg(feature = "redis")]
    #[error("invalid value for {key}: the Redis URL {url} is not usable: {source}")]
    RedisUrl {
        /// The dotted key (`rate_limit.redis_url`).
        key: String,
        /// The URL with its password redacted.
        url: String,
        /// The client's reason.
        #[source]
        source: redis::RedisError,
    },

    /// Redis could not be reached when the layer connected
    /// ([`RateLimitLayer::connect`](crate::RateLimitLayer::connect)). The
    /// layer still works: the failure mode decides until Redis answers.
    #[error("the rate-limit Redis at {url} ({key}) is unreachable: {reason}")]
    RedisUnreachable {
        /// The dotted key (`rate_limit.redis_url`).
        key: String,
        /// The URL with its password redacted.
        url: String,
        /// What happened (a timeout or the client's error, never the
        /// password).
        reason: String,
    },
}

impl Error {
    pub(crate) fn invalid(key: &str, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            key: format!("rate_limit.{key}"),
            message: message.into(),
        }
    }
}

/// 78 (`EX_CONFIG`) for a configuration the limiter cannot be built from,
/// 1 for an unreachable Redis (a runtime condition, not configuration).
impl appenv_config::ExitCoded for Error {
    fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidConfig { .. } => appenv_config::EXIT_CONFIG,
            #[cfg(feature = "redis")]
            Error::RedisUrl { .. } => appenv_config::EXIT_CONFIG,
            Error::RedisUnreachable { .. } => 1,
        }
    }
}
