//! What our metric exporter adds to the SDK's data before sending: our own histogram cells
//! (collected as [`HistogramFamily`]) as OTLP histograms with exemplars, cumulative or as
//! deltas we compute; and what it takes away: histogram points that never recorded (the SDK
//! exports those with `count 0` and min/max of ±f64::MAX).

use crate::metrics::data::{Exemplar, HistogramFamily, HistogramPoint};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, AggregationTemporality, Exemplar as ProtoExemplar, Histogram, HistogramDataPoint, Metric,
    ScopeMetrics,
};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64)
}

/// Removes histogram points without data (and metrics or scopes left empty).
pub(crate) fn drop_empty_points(req: &mut ExportMetricsServiceRequest) {
    for rm in &mut req.resource_metrics {
        for sm in &mut rm.scope_metrics {
            for m in &mut sm.metrics {
                match &mut m.data {
                    Some(metric::Data::Histogram(h)) => h.data_points.retain(|p| p.count > 0),
                    Some(metric::Data::ExponentialHistogram(h)) => h.data_points.retain(|p| p.count > 0),
                    _ => {}
                }
            }
            sm.metrics.retain(|m| match &m.data {
                Some(metric::Data::Histogram(h)) => !h.data_points.is_empty(),
                Some(metric::Data::ExponentialHistogram(h)) => !h.data_points.is_empty(),
                Some(_) => true,
                None => false,
            });
        }
        rm.scope_metrics.retain(|sm| !sm.metrics.is_empty());
    }
}

/// The last cumulative values sent for one series, to subtract from the next.
#[derive(Clone, Debug)]
struct Sent {
    count: u64,
    sum: f64,
    buckets: Vec<u64>,
    start: SystemTime,
    at: SystemTime,
}

/// Turns cumulative families into delta points, remembering what was sent.
#[derive(Debug, Default)]
pub(crate) struct Deltas {
    sent: HashMap<(&'static str, String), Sent>,
}

fn series_key(name: &'static str, p: &HistogramPoint) -> (&'static str, String) {
    let attrs = p.attributes.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect::<Vec<_>>().join(",");
    (name, attrs)
}

impl Deltas {
    /// The delta of `p` since the last export (the whole point the first time, or after the
    /// series restarted), `None` when nothing was recorded in between. Min and max are only
    /// known for the whole series, so a delta after the first carries neither.
    fn delta(&mut self, name: &'static str, p: &HistogramPoint, now: SystemTime) -> Option<HistogramPoint> {
        let key = series_key(name, p);
        let prev = self.sent.get(&key).filter(|s| s.start == p.start_time && s.count <= p.count).cloned();
        self.sent.insert(
            key,
            Sent { count: p.count, sum: p.sum, buckets: p.bucket_counts.clone(), start: p.start_time, at: now },
        );
        let Some(prev) = prev else { return Some(p.clone()) };
        let count = p.count - prev.count;
        if count == 0 {
            return None;
        }
        let bucket_counts: Vec<u64> = p
            .bucket_counts
            .iter()
            .enumerate()
            .map(|(i, c)| c.saturating_sub(prev.buckets.get(i).copied().unwrap_or(0)))
            .collect();
        Some(HistogramPoint {
            attributes: p.attributes.clone(),
            bounds: p.bounds,
            bucket_counts,
            count,
            sum: p.sum - prev.sum,
            min: None,
            max: None,
            start_time: prev.at,
            exemplars: p.exemplars.iter().filter(|e| e.time > prev.at).copied().collect(),
        })
    }
}

fn exemplar_to_proto(e: &Exemplar) -> ProtoExemplar {
    ProtoExemplar {
        filtered_attributes: Vec::new(),
        time_unix_nano: nanos(e.time),
        span_id: e.span_id.to_vec(),
        trace_id: e.trace_id.to_vec(),
        value: Some(exemplar::Value::AsDouble(e.value)),
    }
}

fn point_to_proto(p: &HistogramPoint, now: SystemTime) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: p.attributes.iter().map(KeyValue::from).collect(),
        start_time_unix_nano: nanos(p.start_time).min(nanos(now)),
        time_unix_nano: nanos(now),
        count: p.count,
        sum: Some(p.sum),
        bucket_counts: p.bucket_counts.clone(),
        explicit_bounds: p.bounds.to_vec(),
        exemplars: p.exemplars.iter().map(exemplar_to_proto).collect(),
        flags: 0,
        min: p.min,
        max: p.max,
    }
}

/// Appends `families` to the request, in the scope named `scope` (created when absent): as
/// they are (cumulative), or as deltas through `deltas`. Families and points without data
/// are left out.
pub(crate) fn append_families(
    req: &mut ExportMetricsServiceRequest,
    families: &[HistogramFamily],
    scope: &str,
    deltas: Option<&mut Deltas>,
    now: SystemTime,
) {
    let temporality = match deltas {
        Some(_) => AggregationTemporality::Delta,
        None => AggregationTemporality::Cumulative,
    };
    let mut deltas = deltas;
    let mut metrics = Vec::new();
    for family in families {
        let points: Vec<HistogramDataPoint> = family
            .points
            .iter()
            .filter(|p| p.count > 0)
            .filter_map(|p| match deltas.as_deref_mut() {
                Some(d) => d.delta(family.def.name, p, now),
                None => Some(p.clone()),
            })
            .map(|p| point_to_proto(&p, now))
            .collect();
        if points.is_empty() {
            continue;
        }
        metrics.push(Metric {
            name: family.def.name.to_string(),
            description: family.def.brief.to_string(),
            unit: family.def.unit.to_string(),
            metadata: Vec::new(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: points,
                aggregation_temporality: temporality as i32,
            })),
        });
    }
    if metrics.is_empty() {
        return;
    }
    let Some(rm) = req.resource_metrics.first_mut() else { return };
    match rm.scope_metrics.iter_mut().find(|sm| sm.scope.as_ref().is_some_and(|s| s.name == scope)) {
        Some(sm) => sm.metrics.extend(metrics),
        None => rm.scope_metrics.push(ScopeMetrics {
            scope: Some(InstrumentationScope { name: scope.to_string(), ..Default::default() }),
            metrics,
            schema_url: String::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semconv::metric::GAME_DURATION;
    use std::time::Duration;

    fn point(count: u64, buckets: Vec<u64>, start: SystemTime) -> HistogramPoint {
        HistogramPoint {
            attributes: vec![opentelemetry::KeyValue::new("bitcraps.game.type", "cash")],
            bounds: GAME_DURATION.buckets,
            bucket_counts: buckets,
            count,
            sum: count as f64 * 2.0,
            min: Some(1.0),
            max: Some(3.0),
            start_time: start,
            exemplars: Vec::new(),
        }
    }

    fn buckets(first: u64) -> Vec<u64> {
        let mut b = vec![0; GAME_DURATION.buckets.len() + 1];
        b[0] = first;
        b
    }

    #[test]
    fn deltas_subtract_the_last_export_and_skip_quiet_series() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let t1 = start + Duration::from_secs(10);
        let t2 = t1 + Duration::from_secs(10);
        let mut d = Deltas::default();
        let first = d.delta("g", &point(3, buckets(3), start), t1).expect("first");
        assert_eq!((first.count, first.min), (3, Some(1.0)));
        assert_eq!(d.delta("g", &point(3, buckets(3), start), t2), None, "nothing new");
        let next = d.delta("g", &point(5, buckets(5), start), t2 + Duration::from_secs(1)).expect("delta");
        assert_eq!((next.count, next.bucket_counts[0], next.sum, next.min, next.start_time), (2, 2, 4.0, None, t2));
        // A restarted series (new start time) is sent whole.
        let restarted = d.delta("g", &point(1, buckets(1), t2), t2 + Duration::from_secs(2)).expect("restart");
        assert_eq!(restarted.count, 1);
    }

    #[test]
    fn families_without_data_add_nothing() {
        let mut req = ExportMetricsServiceRequest {
            resource_metrics: vec![opentelemetry_proto::tonic::metrics::v1::ResourceMetrics::default()],
        };
        let family = HistogramFamily { def: &GAME_DURATION, points: vec![point(0, buckets(0), UNIX_EPOCH)] };
        append_families(&mut req, &[family], "bitcraps", None, SystemTime::now());
        assert!(req.resource_metrics[0].scope_metrics.is_empty());
    }
}
