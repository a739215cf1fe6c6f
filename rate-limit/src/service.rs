//! [`RateLimit`]: the middleware service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::body::ResponseBody;
use crate::future::ResponseFuture;
use crate::limiter::{Core, Keyed};

/// Rate-limits requests to the inner service; built by
/// [`RateLimitLayer`](crate::RateLimitLayer).
///
/// A refused request is answered by this service itself (`429` with the
/// rate-limit fields and a problem document; `503` when the backend is down
/// and fails closed) instead of surfacing as an error: the inner service's
/// error type is unchanged and no error handler is needed (axum requires
/// infallible services), and the response carries what a client needs to
/// back off.
///
/// The inner service must be `Clone` (as axum and tonic services are): with
/// the Redis backend the decision is awaited before the call, so the ready
/// service travels in the response future.
pub struct RateLimit<S> {
    inner: S,
    core: Arc<Core>,
}

impl<S: Clone> Clone for RateLimit<S> {
    fn clone(&self) -> Self {
        RateLimit {
            inner: self.inner.clone(),
            core: Arc::clone(&self.core),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("policy", &self.core.policy)
            .finish_non_exhaustive()
    }
}

impl<S> RateLimit<S> {
    pub(crate) fn new(inner: S, core: Arc<Core>) -> Self {
        RateLimit { inner, core }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if !self.core.enabled {
            return ResponseFuture::pass(self.inner.call(req), None);
        }
        let core = self.core.route(&req);
        let (req, weight) = core.weigh(req);
        let key = match core.key_of(&req) {
            Keyed::Key(key) => key,
            Keyed::Pass => return ResponseFuture::pass(self.inner.call(req), None),
        };
        if let Some(decision) = core.decide_now(&key, weight) {
            let verdict = core.verdict(&key, decision);
            return ResponseFuture::from_verdict(core, verdict, &mut self.inner, req);
        }
        // The decision needs the backend: take the service that was polled
        // ready along, and leave a clone for the next call.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::deciding(Arc::clone(core), key, weight, ready, req)
    }
}
