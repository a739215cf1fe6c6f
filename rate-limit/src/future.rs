//! [`ResponseFuture`]: the response future of [`RateLimit`](crate::RateLimit).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::decision::Decision;
use crate::headers::AllowedFields;
use crate::key::ClientKey;
use crate::limiter::{Core, Verdict};

type DecisionFuture = Pin<Box<dyn Future<Output = Decision> + Send>>;

pin_project! {
    /// The response future of [`RateLimit`](crate::RateLimit).
    ///
    /// # Panics
    ///
    /// When polled again after it returned `Poll::Ready`, like most futures.
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Deciding {
            decision: DecisionFuture,
            core: Arc<Core>,
            key: ClientKey,
            service: Option<S>,
            request: Option<Request<ReqBody>>,
        },
        Calling {
            #[pin]
            future: S::Future,
            headers: Option<AllowedFields>,
        },
        Answered {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Deciding { .. } => "deciding",
            State::Calling { .. } => "calling",
            State::Answered { .. } => "answered",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

fn answer(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn pass(future: S::Future, headers: Option<AllowedFields>) -> Self {
        ResponseFuture {
            state: State::Calling { future, headers },
        }
    }

    pub(crate) fn from_verdict(
        core: &Core,
        verdict: Verdict,
        service: &mut S,
        req: Request<ReqBody>,
    ) -> Self {
        let state = match verdict {
            Verdict::Pass(headers) => State::Calling {
                future: service.call(req),
                headers,
            },
            Verdict::Limited(decision) => {
                let mut headers = HeaderMap::new();
                let body = core.fields.limited(&decision, &mut headers);
                State::Answered {
                    response: Some(answer(StatusCode::TOO_MANY_REQUESTS, headers, body)),
                }
            }
            Verdict::Unavailable(decision) => {
                let mut headers = HeaderMap::new();
                let body = core
                    .fields
                    .unavailable(decision.retry_after_secs(), &mut headers);
                State::Answered {
                    response: Some(answer(StatusCode::SERVICE_UNAVAILABLE, headers, body)),
                }
            }
        };
        ResponseFuture { state }
    }

    pub(crate) fn deciding(
        core: Arc<Core>,
        key: ClientKey,
        weight: u32,
        service: S,
        req: Request<ReqBody>,
    ) -> Self {
        let decision: DecisionFuture = {
            let core = Arc::clone(&core);
            let key = key.clone();
            Box::pin(async move { core.decide(&key, weight).await })
        };
        ResponseFuture {
            state: State::Deciding {
                decision,
                core,
                key,
                service: Some(service),
                request: Some(req),
            },
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Deciding {
                    decision,
                    core,
                    key,
                    service,
                    request,
                } => {
                    let decision = ready!(decision.as_mut().poll(cx));
                    let verdict = core.verdict(key, decision);
                    let (Some(mut service), Some(request)) = (service.take(), request.take())
                    else {
                        panic!("ResponseFuture polled after completion");
                    };
                    let next = ResponseFuture::from_verdict(core, verdict, &mut service, request);
                    this.state.set(next.state);
                }
                StateProj::Calling { future, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(extra) = headers.take() {
                        extra.merge_into(response.headers_mut());
                    }
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Answered { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::full)));
                }
            }
        }
    }
}
