//! Mobile instruments: battery, charging, temperature, thermal throttling, cache hit rates.

use super::probe::DeviceProbe;
use super::{CounterSeries, Reading};
use crate::semconv::{metric, CacheName, MetricDef};
use opentelemetry::metrics::{Meter, ObservableGauge};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Device {
    battery: Reading,
    charging: Reading,
    temperature: Reading,
    throttling: Reading,
    probe: Option<Arc<dyn DeviceProbe>>,
    interval: Duration,
    polled_at: Mutex<Option<Instant>>,
}

impl Device {
    /// Refreshes from the probe if the last poll is older than the interval.
    fn poll(&self) {
        let Some(probe) = &self.probe else { return };
        let Ok(mut at) = self.polled_at.lock() else { return };
        if at.is_some_and(|t| t.elapsed() < self.interval) {
            return;
        }
        *at = Some(Instant::now());
        let r = probe.read();
        if let Some(level) = r.battery_percent {
            set_battery_level(&self.battery, level);
        }
        if let Some(c) = r.charging {
            self.charging.set(f64::from(u8::from(c)));
        }
        if let Some(t) = r.temperature_celsius.filter(|t| t.is_finite()) {
            self.temperature.set(t);
        }
        if let Some(t) = r.throttling {
            self.throttling.set(f64::from(u8::from(t)));
        }
    }
}

fn set_battery_level(reading: &Reading, level: f64) {
    // A NaN would read as "no value"; out-of-range values are sensor noise.
    if level.is_finite() {
        reading.set(level.clamp(0.0, 100.0));
    }
}

/// Device and cache instruments. Get it from [`super::Metrics::mobile`].
///
/// Gauges are reported at collection time from the latest values, which come from the
/// setters here, from a [`DeviceProbe`] polled at most once per collection interval, or both.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::export::prometheus::PrometheusBridge;
/// use bitcraps_otel::metrics::Metrics;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let (bridge, reader) = PrometheusBridge::new([])?;
/// let provider = SdkMeterProvider::builder().with_reader(reader).build();
/// let metrics = Metrics::new(&provider, Default::default());
/// bridge.attach(&metrics); // the histograms, which live outside the SDK
/// use bitcraps_otel::semconv::CacheName;
/// let mobile = metrics.mobile();
/// mobile.set_battery(81.0, true);
/// mobile.set_temperature(38.5);
/// mobile.cache_hit(CacheName::GameState);
/// let text = bridge.render();
/// assert!(text.contains("bitcraps_battery_level_percent 81"));
/// assert!(text.contains("bitcraps_battery_charging 1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MobileMetrics {
    device: Arc<Device>,
    hits: CounterSeries<CacheName>,
    misses: CounterSeries<CacheName>,
    _gauges: Vec<ObservableGauge<f64>>,
    _int_gauges: Vec<ObservableGauge<i64>>,
}

impl MobileMetrics {
    pub(crate) fn new(meter: &Meter, probe: Option<Arc<dyn DeviceProbe>>, interval: Duration) -> Self {
        let device = Arc::new(Device {
            battery: Reading::empty(),
            charging: Reading::empty(),
            temperature: Reading::empty(),
            throttling: Reading::empty(),
            probe,
            interval,
            polled_at: Mutex::new(None),
        });
        let f64_gauge = |def: &'static MetricDef, pick: fn(&Device) -> &Reading| {
            let d = Arc::clone(&device);
            meter
                .f64_observable_gauge(def.name)
                .with_description(def.brief)
                .with_unit(def.unit)
                .with_callback(move |obs| {
                    d.poll();
                    if let Some(v) = pick(&d).get() {
                        obs.observe(v, &[]);
                    }
                })
                .build()
        };
        let flag_gauge = |def: &'static MetricDef, pick: fn(&Device) -> &Reading| {
            let d = Arc::clone(&device);
            meter
                .i64_observable_gauge(def.name)
                .with_description(def.brief)
                .with_unit(def.unit)
                .with_callback(move |obs| {
                    d.poll();
                    if let Some(v) = pick(&d).get() {
                        obs.observe(v as i64, &[]);
                    }
                })
                .build()
        };
        let gauges = vec![
            f64_gauge(&metric::BATTERY_LEVEL, |d| &d.battery),
            f64_gauge(&metric::DEVICE_TEMPERATURE, |d| &d.temperature),
        ];
        let int_gauges = vec![
            flag_gauge(&metric::BATTERY_CHARGING, |d| &d.charging),
            flag_gauge(&metric::THERMAL_THROTTLING, |d| &d.throttling),
        ];
        MobileMetrics {
            device,
            hits: CounterSeries::by(meter, &metric::CACHE_HITS),
            misses: CounterSeries::by(meter, &metric::CACHE_MISSES),
            _gauges: gauges,
            _int_gauges: int_gauges,
        }
    }

    /// Battery level in percent (clamped to 0–100; NaN is ignored) and charging state.
    pub fn set_battery(&self, level_percent: f64, charging: bool) {
        set_battery_level(&self.device.battery, level_percent);
        self.device.charging.set(f64::from(u8::from(charging)));
    }

    /// Device temperature in degrees Celsius (non-finite values are ignored).
    pub fn set_temperature(&self, celsius: f64) {
        if celsius.is_finite() {
            self.device.temperature.set(celsius);
        }
    }

    /// Whether the device is throttling the CPU for heat.
    pub fn set_throttling(&self, throttled: bool) {
        self.device.throttling.set(f64::from(u8::from(throttled)));
    }

    /// A lookup answered from `cache`.
    #[inline]
    pub fn cache_hit(&self, cache: CacheName) {
        self.hits.add_for(cache, 1);
    }

    /// A lookup `cache` could not answer.
    #[inline]
    pub fn cache_miss(&self, cache: CacheName) {
        self.misses.add_for(cache, 1);
    }
}
