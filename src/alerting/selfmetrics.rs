//! The alert engine's own metrics (semconv `bitcraps.alerts.*`, `bitcraps.alerting.*`).

use super::state::{AlertState, Entry, Fingerprint};
use super::AlertSeverity;
use crate::semconv::{metric, AlertChannel, AttributeEnum};
use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableGauge, UpDownCounter};
use opentelemetry::KeyValue;
use std::collections::HashMap;
use std::time::Duration;

/// Instruments plus the last firing counts (the up-down counter moves by differences).
#[derive(Debug)]
pub(crate) struct SelfMetrics {
    evaluations: Counter<u64>,
    duration: Histogram<f64>,
    firing: UpDownCounter<i64>,
    sent: Counter<u64>,
    failed: Counter<u64>,
    panics: Counter<u64>,
    _healthy: ObservableGauge<i64>,
    last_firing: [i64; 5],
}

fn severity_attr(s: AlertSeverity) -> [KeyValue; 1] {
    [KeyValue::new(crate::semconv::AlertSeverity::DEF.id, s.semconv().as_str())]
}

fn channel_attr(c: AlertChannel) -> [KeyValue; 1] {
    [KeyValue::new(AlertChannel::DEF.id, c.as_str())]
}

impl SelfMetrics {
    /// The instruments on `meter`, with zeros for `channels`; `healthy` is asked at every
    /// collection, so the health gauge is never stale.
    pub(crate) fn new(
        meter: &Meter,
        channels: &[AlertChannel],
        healthy: impl Fn() -> bool + Send + Sync + 'static,
    ) -> SelfMetrics {
        let counter = |d: &'static crate::semconv::MetricDef| {
            meter.u64_counter(d.name).with_description(d.brief).with_unit(d.unit).build()
        };
        let d = &metric::ALERTING_EVALUATION_DURATION;
        let m = SelfMetrics {
            evaluations: counter(&metric::ALERTING_EVALUATIONS),
            duration: meter
                .f64_histogram(d.name)
                .with_description(d.brief)
                .with_unit(d.unit)
                .with_boundaries(d.buckets.to_vec())
                .build(),
            firing: meter
                .i64_up_down_counter(metric::ALERTS_FIRING.name)
                .with_description(metric::ALERTS_FIRING.brief)
                .with_unit(metric::ALERTS_FIRING.unit)
                .build(),
            sent: counter(&metric::ALERTING_NOTIFICATIONS_SENT),
            failed: counter(&metric::ALERTING_NOTIFICATIONS_FAILED),
            panics: counter(&metric::ALERTING_PANICS),
            _healthy: meter
                .i64_observable_gauge(metric::ALERTING_ENGINE_HEALTHY.name)
                .with_description(metric::ALERTING_ENGINE_HEALTHY.brief)
                .with_unit(metric::ALERTING_ENGINE_HEALTHY.unit)
                .with_callback(move |o| o.observe(i64::from(healthy()), &[]))
                .build(),
            last_firing: [0; 5],
        };
        // Zeros up front, so "nothing firing" is a value rather than a missing series.
        m.evaluations.add(0, &[]);
        m.panics.add(0, &[]);
        for s in AlertSeverity::ALL {
            m.firing.add(0, &severity_attr(s));
        }
        for c in channels {
            m.sent.add(0, &channel_attr(*c));
            m.failed.add(0, &channel_attr(*c));
        }
        // Drops and retries (counted by the queued channels) start at zero for every channel too.
        super::channels::DeliveryMetrics::announce(meter, channels);
        m
    }

    pub(crate) fn cycle(&mut self, evaluated: u64, took: Duration, alerts: &HashMap<Fingerprint, Entry>) {
        self.evaluations.add(evaluated, &[]);
        self.duration.record(took.as_secs_f64(), &[]);
        let mut now = [0i64; 5];
        for e in alerts.values().filter(|e| e.state == AlertState::Firing) {
            now[e.severity as usize] += 1;
        }
        for (i, s) in AlertSeverity::ALL.into_iter().enumerate() {
            let delta = now[i] - self.last_firing[i];
            if delta != 0 {
                self.firing.add(delta, &severity_attr(s));
            }
        }
        self.last_firing = now;
    }

    /// Counts a caught panic (the log says what panicked; the counter stays one series).
    pub(crate) fn panicked(&self) {
        self.panics.add(1, &[]);
    }

    pub(crate) fn notified(&self, channel: AlertChannel, ok: bool) {
        if ok {
            self.sent.add(1, &channel_attr(channel));
        } else {
            self.failed.add(1, &channel_attr(channel));
        }
    }
}
