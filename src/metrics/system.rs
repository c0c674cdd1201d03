//! Process gauges: CPU, resident memory, threads, uptime, sampled with `sysinfo` when a
//! reader collects, never on a timer of their own.

use crate::semconv::metric;
use opentelemetry::metrics::{Meter, ObservableGauge};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// One reading of the process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SystemSample {
    /// CPU used since the previous sample, in percent of one core.
    pub cpu_percent: f64,
    /// Resident set size in bytes.
    pub memory_bytes: u64,
    /// Threads of the process.
    pub threads: u64,
    /// Seconds since the process started.
    pub uptime_seconds: f64,
}

struct State {
    // None when sysinfo cannot read this platform; the gauges then report zeros.
    system: Option<System>,
    sampled_at: Option<Instant>,
    sample: SystemSample,
}

/// Samples the current process. Several readers (Prometheus scrapes, OTLP pushes, the alert
/// engine) may collect at any rate; the sampler refreshes at most once per interval so a
/// scrape storm costs nothing extra.
pub(crate) struct Sampler {
    pid: Option<Pid>,
    interval: Duration,
    started_unix: f64,
    state: Mutex<State>,
}

impl Sampler {
    pub(crate) fn new(interval: Duration) -> Self {
        let pid = sysinfo::get_current_pid().ok();
        let mut system = System::new().ok();
        let mut started_unix = unix_now();
        if let (Some(pid), Some(system)) = (pid, system.as_mut()) {
            // The first refresh gives CPU usage a baseline to measure the next one against.
            system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, refresh_kind());
            if let Some(p) = system.process(pid) {
                started_unix = p.start_time() as f64;
            }
        }
        Sampler {
            pid,
            // sysinfo needs some time between two CPU refreshes to give a meaningful number.
            interval: interval.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL),
            started_unix,
            state: Mutex::new(State { system, sampled_at: None, sample: SystemSample::default() }),
        }
    }

    pub(crate) fn sample(&self) -> SystemSample {
        let uptime_seconds = (unix_now() - self.started_unix).max(0.0);
        let Ok(mut state) = self.state.lock() else {
            return SystemSample { uptime_seconds, ..Default::default() };
        };
        let stale = state.sampled_at.is_none_or(|t| t.elapsed() >= self.interval);
        if stale {
            let state = &mut *state;
            if let (Some(pid), Some(system)) = (self.pid, state.system.as_mut()) {
                system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, refresh_kind());
                if let Some(p) = system.process(pid) {
                    // sysinfo lists the other threads as tasks; the main thread is the process itself.
                    let threads = p.tasks().map_or(1, |t| t.len() as u64 + 1);
                    state.sample = SystemSample {
                        cpu_percent: f64::from(p.cpu_usage()),
                        memory_bytes: p.memory(),
                        threads,
                        uptime_seconds,
                    };
                }
            }
            state.sampled_at = Some(Instant::now());
        }
        SystemSample { uptime_seconds, ..state.sample }
    }
}

fn refresh_kind() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing().with_cpu().with_memory().with_tasks()
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Process gauges. They report themselves at collection time; get the latest reading with
/// [`SystemMetrics::sample`].
///
/// ```
/// use bitcraps_otel::metrics::Metrics;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let metrics = Metrics::new(&SdkMeterProvider::builder().build(), Default::default());
/// let sample = metrics.system().sample().expect("system metrics are on by default");
/// assert!(sample.memory_bytes > 0 && sample.threads >= 1);
/// ```
pub struct SystemMetrics {
    sampler: Option<Arc<Sampler>>,
    _gauges: Vec<ObservableGauge<f64>>,
    _int_gauges: Vec<ObservableGauge<i64>>,
}

impl SystemMetrics {
    pub(crate) fn new(meter: &Meter, enabled: bool, interval: Duration) -> Self {
        if !enabled {
            return SystemMetrics { sampler: None, _gauges: Vec::new(), _int_gauges: Vec::new() };
        }
        let sampler = Arc::new(Sampler::new(interval));
        let f64_gauge = |def: &'static crate::semconv::MetricDef, read: fn(&SystemSample) -> f64| {
            let s = Arc::clone(&sampler);
            meter
                .f64_observable_gauge(def.name)
                .with_description(def.brief)
                .with_unit(def.unit)
                .with_callback(move |obs| obs.observe(read(&s.sample()), &[]))
                .build()
        };
        let i64_gauge = |def: &'static crate::semconv::MetricDef, read: fn(&SystemSample) -> u64| {
            let s = Arc::clone(&sampler);
            meter
                .i64_observable_gauge(def.name)
                .with_description(def.brief)
                .with_unit(def.unit)
                .with_callback(move |obs| obs.observe(i64::try_from(read(&s.sample())).unwrap_or(i64::MAX), &[]))
                .build()
        };
        let gauges =
            vec![f64_gauge(&metric::CPU_USAGE, |s| s.cpu_percent), f64_gauge(&metric::UPTIME, |s| s.uptime_seconds)];
        let int_gauges =
            vec![i64_gauge(&metric::MEMORY_USAGE, |s| s.memory_bytes), i64_gauge(&metric::THREAD_COUNT, |s| s.threads)];
        SystemMetrics { sampler: Some(sampler), _gauges: gauges, _int_gauges: int_gauges }
    }

    /// The latest process reading (refreshed if older than the collection interval), or
    /// `None` when system metrics are disabled.
    pub fn sample(&self) -> Option<SystemSample> {
        self.sampler.as_ref().map(|s| s.sample())
    }
}
