//! `GET /metrics`: negotiates the format and compression, shares renders between concurrent
//! scrapes, and records what each scrape cost.

use super::{negotiate, openmetrics, share, text, PrometheusBridge};
use crate::semconv::ExpositionFormat;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::time::Instant;

/// One rendered page, shared by every scrape that asked for the same format and encoding.
pub(crate) struct Page {
    body: Bytes,
    gzipped: bool,
}

/// The four kinds of page: format × gzip, each rendered at most once at a time.
pub(crate) struct Pages {
    slots: [share::Shared<Page>; 4],
}

impl Pages {
    pub(crate) fn new() -> Pages {
        Pages { slots: std::array::from_fn(|_| share::Shared::new(share::REUSE_FOR)) }
    }

    fn slot(&self, format: ExpositionFormat, gzip: bool) -> &share::Shared<Page> {
        let f = usize::from(format == ExpositionFormat::Openmetrics);
        &self.slots[f * 2 + usize::from(gzip)]
    }
}

/// Renders one page; runs on the blocking pool.
fn render(bridge: &PrometheusBridge, format: ExpositionFormat, gzip: bool) -> Page {
    let exposition = bridge.gather();
    let mut out = Vec::with_capacity(bridge.size_hint());
    match format {
        ExpositionFormat::Openmetrics => openmetrics::encode(&exposition, &mut out),
        _ => text::encode(&exposition, &mut out),
    }
    bridge.note_page(format, out.len());
    if !gzip {
        return Page { body: Bytes::from(out), gzipped: false };
    }
    // Level 1: metric text compresses well even at the fastest level, and the render is what
    // every concurrent scrape waits on.
    let mut encoder = GzEncoder::new(Vec::with_capacity(out.len() / 4), Compression::fast());
    let compressed = encoder.write_all(&out).and_then(|()| encoder.finish());
    match compressed {
        Ok(body) => Page { body: Bytes::from(body), gzipped: true },
        // Writing into a Vec cannot fail; should it, the page goes out uncompressed.
        Err(e) => {
            tracing::warn!(error = %e, "gzip of /metrics failed");
            Page { body: Bytes::from(out), gzipped: false }
        }
    }
}

/// Every value of the headers called `name`, joined as one list (a client may repeat them).
fn header_list(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!values.is_empty()).then(|| values.join(","))
}

pub(crate) async fn metrics(State(bridge): State<PrometheusBridge>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let format = negotiate::format(header_list(&headers, header::ACCEPT).as_deref());
    let gzip = negotiate::gzip(header_list(&headers, header::ACCEPT_ENCODING).as_deref());
    let renderer = bridge.clone();
    let page = bridge.pages.slot(format, gzip).get(move || render(&renderer, format, gzip)).await;
    let page = match page {
        Ok(page) => page,
        Err(e) => {
            tracing::error!(error = %e, "metrics render failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "metrics collection failed\n").into_response();
        }
    };
    let content_type = match format {
        ExpositionFormat::Openmetrics => openmetrics::CONTENT_TYPE,
        _ => text::CONTENT_TYPE,
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::VARY, HeaderValue::from_static("Accept, Accept-Encoding")),
        ],
        page.body.clone(),
    )
        .into_response();
    if page.gzipped {
        response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    bridge.note_scrape(format, started.elapsed());
    response
}
