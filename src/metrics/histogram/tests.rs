//! Tests of our histogram families: buckets, empty series, exemplars under each filter.

use super::*;
use crate::semconv::{metric, GameType};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer, TracerProvider,
};
use opentelemetry::Context;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

fn collect(registry: &HistogramRegistry) -> Vec<HistogramFamily> {
    let mut out = Vec::new();
    registry.collect(&mut out);
    out
}

#[test]
fn a_series_that_never_recorded_yields_no_point() {
    let mut registry = HistogramRegistry::new(ExemplarFilter::AlwaysOn);
    let games = HistogramSeries::<GameType>::by(&mut registry, &metric::GAME_DURATION);
    let _latency = HistogramSeries::single(&mut registry, &metric::CONSENSUS_LATENCY);
    games.record_for(GameType::Cash, 42.0);
    let families = collect(&registry);
    assert_eq!(families.len(), 2);
    assert_eq!(families[0].def.name, metric::GAME_DURATION.name);
    assert_eq!(families[0].points.len(), 1, "only the cash series recorded");
    assert_eq!(families[0].points[0].attributes, [KeyValue::new("bitcraps.game.type", "cash")]);
    assert!(families[1].points.is_empty(), "consensus latency never recorded");
    assert!(families.iter().flat_map(|f| &f.points).all(|p| p.count > 0));
}

#[test]
fn upper_bounds_are_inclusive_and_counts_add_up() {
    let mut registry = HistogramRegistry::new(ExemplarFilter::AlwaysOff);
    let latency = HistogramSeries::single(&mut registry, &metric::CONSENSUS_LATENCY);
    // Bounds start 0.005, 0.01, ...; the last bucket is everything above 10.
    for v in [0.005, 0.0050001, 0.0, 10.0, 11.0, f64::NAN, f64::INFINITY] {
        latency.record(v);
    }
    let p = &collect(&registry)[0].points[0];
    assert_eq!(p.bounds, metric::CONSENSUS_LATENCY.buckets);
    assert_eq!(p.bucket_counts.len(), p.bounds.len() + 1);
    assert_eq!(p.bucket_counts[0], 2, "0 and 0.005 are <= 0.005");
    assert_eq!(p.bucket_counts[1], 1, "0.0050001 is in (0.005, 0.01]");
    assert_eq!(p.bucket_counts[p.bounds.len() - 1], 1, "10 is <= 10");
    assert_eq!(p.bucket_counts[p.bounds.len()], 1, "11 is in (10, +Inf)");
    assert_eq!(p.count, 5, "NaN and infinity are ignored");
    assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
    assert_eq!((p.min, p.max), (Some(0.0), Some(11.0)));
    assert!((p.sum - 21.0100001).abs() < 1e-9);
    assert!(p.exemplars.is_empty(), "always_off keeps none");
}

#[test]
fn a_recording_in_a_sampled_sdk_span_keeps_that_span_as_the_bucket_exemplar() {
    let provider = SdkTracerProvider::builder().with_sampler(Sampler::AlwaysOn).build();
    let tracer = provider.tracer("test");
    let mut registry = HistogramRegistry::new(ExemplarFilter::TraceBased);
    let latency = HistogramSeries::single(&mut registry, &metric::CONSENSUS_LATENCY);
    latency.record(0.2); // outside any span: no exemplar
    let (trace_id, span_id) = tracer.in_span("consensus round", |cx| {
        latency.record(0.03);
        let sc = cx.span().span_context().clone();
        (sc.trace_id(), sc.span_id())
    });
    let p = &collect(&registry)[0].points[0];
    assert_eq!(p.count, 2);
    assert_eq!(p.exemplars.len(), 1, "{:?}", p.exemplars);
    let e = p.exemplars[0];
    assert_eq!(e.bucket, 3, "0.03 falls in (0.025, 0.05]");
    assert_eq!(e.value, 0.03);
    assert_eq!((TraceId::from_bytes(e.trace_id), SpanId::from_bytes(e.span_id)), (trace_id, span_id));
}

#[test]
fn a_span_the_sampler_dropped_leaves_no_exemplar() {
    let provider = SdkTracerProvider::builder().with_sampler(Sampler::AlwaysOff).build();
    let tracer = provider.tracer("test");
    let mut registry = HistogramRegistry::new(ExemplarFilter::TraceBased);
    let latency = HistogramSeries::single(&mut registry, &metric::CONSENSUS_LATENCY);
    tracer.in_span("unsampled", |_| latency.record(0.03));
    let p = &collect(&registry)[0].points[0];
    assert_eq!(p.count, 1);
    assert!(p.exemplars.is_empty());
}

#[test]
fn always_on_keeps_recordings_outside_spans_and_the_latest_per_bucket_wins() {
    let mut registry = HistogramRegistry::new(ExemplarFilter::AlwaysOn);
    let latency = HistogramSeries::single(&mut registry, &metric::CONSENSUS_LATENCY);
    latency.record(0.001);
    let sc = SpanContext::new(
        TraceId::from_bytes([9; 16]),
        SpanId::from_bytes([8; 8]),
        TraceFlags::default(),
        true,
        TraceState::default(),
    );
    exemplar::next_tick();
    {
        let _g = Context::new().with_remote_span_context(sc).attach();
        latency.record(0.002);
    }
    latency.record(7.0);
    let p = &collect(&registry)[0].points[0];
    let by_bucket: Vec<_> = p.exemplars.iter().map(|e| (e.bucket, e.value, e.trace_id)).collect();
    assert_eq!(by_bucket, [(0, 0.002, [9; 16]), (10, 7.0, [0; 16])]);
}
