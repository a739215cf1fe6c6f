//! The bare service every HTTP layer is benchmarked over, and its requests.

use std::convert::Infallible;
use std::future::Ready;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, Response};
use tower::{Service, ServiceExt};

/// The service under every layer: answers `200` with an empty body at once.
pub type BareService =
    tower::util::ServiceFn<fn(Request<Body>) -> Ready<Result<Response<Body>, Infallible>>>;

fn ok(_req: Request<Body>) -> Ready<Result<Response<Body>, Infallible>> {
    std::future::ready(Ok(Response::new(Body::empty())))
}

/// A fresh [`BareService`].
pub fn bare_service() -> BareService {
    tower::service_fn(ok as fn(_) -> _)
}

/// `count` distinct client addresses (`10.x.y.z`).
pub fn client_ips(count: usize) -> Vec<IpAddr> {
    (0..count)
        .map(|i| {
            let i = u32::try_from(i).expect("fewer than 2^24 clients");
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff)))
        })
        .collect()
}

/// `GET /v1/events` from `ip`, with the peer address where axum's
/// `into_make_service_with_connect_info` puts it (read by both appenv's and
/// tower_governor's peer-IP key).
pub fn request_from(ip: IpAddr) -> Request<Body> {
    let mut req = Request::builder()
        .uri("/v1/events")
        .header("user-agent", "bench/1.0")
        .body(Body::empty())
        .expect("static request is valid");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
    req
}

/// Sends `iters` requests through `svc`, cycling through `ips`, and returns
/// the time taken (for criterion's `iter_custom`). Every response must have
/// status `expect`.
///
/// # Panics
///
/// When a response has another status (the bench would measure the wrong
/// path).
pub async fn run_requests<S, B>(svc: &mut S, ips: &[IpAddr], iters: u64, expect: u16) -> Duration
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    for i in 0..iters {
        let ip = ips[usize::try_from(i).unwrap_or(0) % ips.len()];
        let response = svc
            .ready()
            .await
            .expect("service ready")
            .call(request_from(ip))
            .await
            .expect("service answers");
        assert_eq!(
            response.status().as_u16(),
            expect,
            "measured the wrong path"
        );
        std::hint::black_box(response);
    }
    start.elapsed()
}
