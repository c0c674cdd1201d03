//! The HTTP server layer's metrics, read back the way Prometheus sees them (the bridge's
//! classic text): route templates, status codes, error types, active requests, exclusions,
//! and bounded cardinality. Everything runs in-process through tower's `oneshot`.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{Method, Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use bitcraps_otel::export::prometheus::PrometheusBridge;
use bitcraps_otel::http::ServerLayer;
use bitcraps_otel::metrics::Metrics;
use futures_util::FutureExt as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use tower::{Layer, ServiceExt};

const DURATION_COUNT: &str = "http_server_request_duration_seconds_count";
const ACTIVE: &str = "http_server_active_requests";

struct Fixture {
    bridge: PrometheusBridge,
    metrics: Metrics,
    _provider: SdkMeterProvider,
}

fn fixture() -> Fixture {
    let (bridge, reader) = PrometheusBridge::new([]).expect("bridge");
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let metrics = Metrics::new(&provider, Default::default());
    bridge.attach(&metrics);
    Fixture { bridge, metrics, _provider: provider }
}

impl Fixture {
    /// Sample lines of `series` (labels and value), e.g. `{http_request_method="GET"} 1`.
    fn samples(&self, series: &str) -> Vec<String> {
        self.bridge
            .render()
            .lines()
            .filter_map(|l| l.strip_prefix(series))
            .filter(|rest| rest.starts_with(['{', ' ']))
            .map(str::to_owned)
            .collect()
    }

    /// The value of the one `series` sample whose labels contain every one of `labels`.
    fn value(&self, series: &str, labels: &[&str]) -> Option<f64> {
        let found: Vec<f64> = self
            .samples(series)
            .iter()
            .filter(|s| labels.iter().all(|l| s.contains(l)))
            .filter_map(|s| s.rsplit(' ').next()?.parse().ok())
            .collect();
        assert!(found.len() <= 1, "{labels:?} matches several series: {:?}", self.samples(series));
        found.first().copied()
    }
}

fn app(metrics: &Metrics) -> Router {
    Router::new()
        .route("/games/{id}", get(|Path(id): Path<u64>| async move { format!("game {id}") }))
        .route("/bets", post(|| async { StatusCode::CREATED }))
        .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
        .route("/broken", get(|| async { Err::<String, _>((StatusCode::INTERNAL_SERVER_ERROR, "ledger unavailable")) }))
        .route("/busy", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move { StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST) }),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(|| async { "# EOF" }))
        .route("/hang", get(std::future::pending::<&'static str>))
        .layer(ServerLayer::new(metrics))
}

async fn send(app: &Router, method: Method, path: &str) -> StatusCode {
    let request = Request::builder().method(method).uri(path).body(Body::empty()).expect("request");
    app.clone().oneshot(request).await.expect("infallible").status()
}

#[tokio::test]
async fn requests_are_recorded_under_the_route_template_never_the_raw_path() {
    let f = fixture();
    let app = app(&f.metrics);
    for id in [1, 22, 333] {
        assert_eq!(send(&app, Method::GET, &format!("/games/{id}")).await, StatusCode::OK);
    }
    let route = r#"http_route="/games/{id}""#;
    assert_eq!(
        f.value(DURATION_COUNT, &[route, r#"http_request_method="GET""#, r#"http_response_status_code="200""#]),
        Some(3.0)
    );
    let text = f.bridge.render();
    for id in [1, 22, 333] {
        assert!(!text.contains(&format!("/games/{id}\"")), "raw path /games/{id} leaked into a label:\n{text}");
    }
}

#[tokio::test]
async fn one_route_answering_several_statuses_keeps_one_series_per_status() {
    let f = fixture();
    let app = app(&f.metrics);
    // Neighbouring codes (200/201/204, 400/404) differ only in their low bits: each must still
    // get its own series.
    for (code, times) in [(200u16, 3), (201, 1), (204, 2), (400, 1), (404, 4)] {
        for _ in 0..times {
            assert_eq!(send(&app, Method::GET, &format!("/status/{code}")).await.as_u16(), code);
        }
    }
    let route = r#"http_route="/status/{code}""#;
    for (code, times) in [(200u16, 3.0), (201, 1.0), (204, 2.0), (400, 1.0), (404, 4.0)] {
        let status = format!(r#"http_response_status_code="{code}""#);
        assert_eq!(f.value(DURATION_COUNT, &[route, &status]), Some(times), "status {code}");
    }
}

#[tokio::test]
async fn status_codes_are_recorded_and_only_5xx_carry_an_error_type() {
    let f = fixture();
    let app = app(&f.metrics);
    assert_eq!(send(&app, Method::POST, "/bets").await, StatusCode::CREATED);
    assert_eq!(send(&app, Method::GET, "/teapot").await, StatusCode::IM_A_TEAPOT);
    assert_eq!(send(&app, Method::GET, "/busy").await, StatusCode::SERVICE_UNAVAILABLE);
    let created = f.samples(DURATION_COUNT).into_iter().find(|s| s.contains(r#"http_route="/bets""#)).expect("/bets");
    assert!(
        created.contains(r#"http_request_method="POST""#) && created.contains(r#"http_response_status_code="201""#),
        "{created}"
    );
    assert!(!created.contains("error_type"), "a 201 is no error: {created}");
    let teapot =
        f.samples(DURATION_COUNT).into_iter().find(|s| s.contains(r#"http_route="/teapot""#)).expect("/teapot");
    assert!(teapot.contains(r#"http_response_status_code="418""#) && !teapot.contains("error_type"), "{teapot}");
    assert_eq!(
        f.value(
            DURATION_COUNT,
            &[r#"http_route="/busy""#, r#"http_response_status_code="503""#, r#"error_type="503""#]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_handler_error_is_recorded_with_its_status_as_error_type() {
    let f = fixture();
    let app = app(&f.metrics);
    assert_eq!(send(&app, Method::GET, "/broken").await, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        f.value(
            DURATION_COUNT,
            &[r#"http_route="/broken""#, r#"http_response_status_code="500""#, r#"error_type="500""#]
        ),
        Some(1.0)
    );
}

#[derive(Debug)]
struct LedgerDown;

#[tokio::test]
async fn a_failing_service_is_recorded_with_the_error_type_and_no_status() {
    let f = fixture();
    let failing = tower::service_fn(|_: Request<Body>| async { Err::<axum::http::Response<Body>, _>(LedgerDown) });
    let service = ServerLayer::new(&f.metrics).layer(failing);
    let request = Request::get("/ledger").body(Body::empty()).expect("request");
    assert!(service.oneshot(request).await.is_err());
    let sample = f.samples(DURATION_COUNT).into_iter().find(|s| s.contains("error_type=")).expect("an error series");
    assert!(sample.contains("LedgerDown\""), "error.type names the error type: {sample}");
    assert!(!sample.contains("http_response_status_code"), "no response, no status: {sample}");
    assert!(!sample.contains("http_route"), "a bare service has no matched route: {sample}");
}

#[tokio::test]
async fn active_requests_return_to_zero_after_answered_and_cancelled_requests() {
    let f = fixture();
    let app = app(&f.metrics);
    let get = r#"http_request_method="GET""#;
    for _ in 0..3 {
        send(&app, Method::GET, "/games/7").await;
    }
    assert_eq!(f.value(ACTIVE, &[get]), Some(0.0));

    // A request stuck in its handler counts as active...
    let request = Request::get("/hang").body(Body::empty()).expect("request");
    let mut hanging = Box::pin(app.clone().oneshot(request));
    assert!((&mut hanging).now_or_never().is_none(), "the handler never answers");
    assert_eq!(f.value(ACTIVE, &[get]), Some(1.0));
    // ...until it is dropped (the client went away), which is recorded as cancelled.
    drop(hanging);
    assert_eq!(f.value(ACTIVE, &[get]), Some(0.0));
    assert_eq!(f.value(DURATION_COUNT, &[r#"http_route="/hang""#, r#"error_type="cancelled""#]), Some(1.0));
}

#[tokio::test]
async fn excluded_paths_record_nothing() {
    let f = fixture();
    let app = app(&f.metrics);
    assert_eq!(send(&app, Method::GET, "/health").await, StatusCode::OK);
    assert_eq!(send(&app, Method::GET, "/metrics").await, StatusCode::OK);
    assert!(f.samples(DURATION_COUNT).is_empty(), "{:?}", f.samples(DURATION_COUNT));

    let custom = Router::new()
        .route("/internal", get(|| async { "x" }))
        .route("/health", get(|| async { "ok" }))
        .layer(ServerLayer::with_excluded(&f.metrics, ["/internal"]));
    send(&custom, Method::GET, "/internal").await;
    assert!(f.samples(DURATION_COUNT).is_empty(), "{:?}", f.samples(DURATION_COUNT));
    // With its own list, the defaults no longer apply.
    send(&custom, Method::GET, "/health").await;
    assert_eq!(f.value(DURATION_COUNT, &[r#"http_route="/health""#]), Some(1.0));
}

#[tokio::test]
async fn the_health_servers_probe_paths_are_excluded_by_default() {
    let f = fixture();
    let checker =
        bitcraps_otel::health::HealthChecker::new(std::time::Duration::from_secs(1), std::time::Duration::from_secs(1));
    let health = bitcraps_otel::health::router(checker).layer(ServerLayer::new(&f.metrics));
    for probe in ["/health", "/ready"] {
        assert_eq!(send(&health, Method::GET, probe).await, StatusCode::OK, "{probe}");
    }
    assert!(f.samples(DURATION_COUNT).is_empty(), "{:?}", f.samples(DURATION_COUNT));
}

#[tokio::test]
async fn ten_thousand_distinct_raw_paths_make_a_handful_of_series() {
    let f = fixture();
    let app = app(&f.metrics);
    for i in 0..5_000 {
        assert_eq!(send(&app, Method::GET, &format!("/games/{i}")).await, StatusCode::OK);
        assert_eq!(send(&app, Method::GET, &format!("/scan/{i}/wp-admin")).await, StatusCode::NOT_FOUND);
    }
    let series = f.samples(DURATION_COUNT);
    assert_eq!(series.len(), 2, "one series per route template and one for unmatched requests: {series:?}");
    let unmatched = series.iter().find(|s| !s.contains("http_route")).expect("the unmatched series");
    assert!(unmatched.contains(r#"http_response_status_code="404""#) && unmatched.ends_with(" 5000"), "{unmatched}");
    assert!(!f.bridge.render().contains("otel_metric_overflow"), "the series limit was never reached");
}

#[tokio::test]
async fn a_method_outside_the_known_set_is_recorded_as_other() {
    let f = fixture();
    let app = app(&f.metrics);
    let brew = Method::from_bytes(b"BREW").expect("method");
    send(&app, brew, "/teapot").await;
    assert_eq!(f.value(DURATION_COUNT, &[r#"http_request_method="_OTHER""#]), Some(1.0));
    assert!(!f.bridge.render().contains("BREW"));
}

#[test]
fn the_registry_spells_the_http_metrics_and_attributes_as_otel_does() {
    use bitcraps_otel::semconv::{attribute, metric, AttributeEnum, HttpRequestMethod, Instrument};
    use opentelemetry_semantic_conventions as otel;
    let duration = &metric::HTTP_SERVER_REQUEST_DURATION;
    assert_eq!(duration.name, otel::metric::HTTP_SERVER_REQUEST_DURATION);
    assert_eq!((duration.instrument, duration.unit), (Instrument::Histogram, "s"));
    // OTel's advice for this histogram's explicit bucket boundaries.
    assert_eq!(duration.buckets, [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]);
    let active = &metric::HTTP_SERVER_ACTIVE_REQUESTS;
    assert_eq!(active.name, otel::metric::HTTP_SERVER_ACTIVE_REQUESTS);
    assert_eq!((active.instrument, active.unit), (Instrument::UpDownCounter, "{request}"));
    assert_eq!(attribute::HTTP_REQUEST_METHOD.id, otel::attribute::HTTP_REQUEST_METHOD);
    assert_eq!(attribute::HTTP_ROUTE.id, otel::attribute::HTTP_ROUTE);
    assert_eq!(attribute::HTTP_RESPONSE_STATUS_CODE.id, otel::attribute::HTTP_RESPONSE_STATUS_CODE);
    assert_eq!(attribute::ERROR_TYPE.id, otel::attribute::ERROR_TYPE);
    assert_eq!(HttpRequestMethod::from_value("PROPFIND").as_str(), "_OTHER");
    assert_eq!(duration.prometheus_name, "http_server_request_duration_seconds");
}
