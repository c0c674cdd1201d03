//! Device probes: where battery, charging, temperature and throttling readings come from.
//!
//! The host app implements [`DeviceProbe`] (phone glue over the platform's battery and
//! thermal APIs); [`LinuxProbe`] reads sysfs on Linux devices and servers; [`SimulatedProbe`]
//! produces plausible readings for the simulated node.
//!
//! ```
//! use bitcraps_otel::metrics::probe::{DeviceProbe, DeviceReading};
//!
//! #[derive(Debug)]
//! struct PhoneGlue;
//! impl DeviceProbe for PhoneGlue {
//!     fn read(&self) -> DeviceReading {
//!         DeviceReading { battery_percent: Some(64.0), charging: Some(false), ..Default::default() }
//!     }
//! }
//! assert_eq!(PhoneGlue.read().battery_percent, Some(64.0));
//! ```

use rand::Rng;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// One reading of the device. `None` means the device has no such sensor; that metric is
/// then simply not reported.
///
/// ```
/// use bitcraps_otel::metrics::probe::DeviceReading;
/// // A device with a battery and no thermal sensors.
/// let reading = DeviceReading { battery_percent: Some(42.0), charging: Some(true), ..Default::default() };
/// assert_eq!(reading.temperature_celsius, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceReading {
    /// Battery charge, 0–100.
    pub battery_percent: Option<f64>,
    /// Whether the battery is charging.
    pub charging: Option<bool>,
    /// Hottest sensor, in degrees Celsius.
    pub temperature_celsius: Option<f64>,
    /// Whether the CPU is throttled for heat.
    pub throttling: Option<bool>,
}

/// A source of device readings. Called at collection time, at most once per collection
/// interval, so it may do a little I/O.
///
/// ```
/// use std::sync::Arc;
/// use bitcraps_otel::metrics::probe::{DeviceProbe, DeviceReading};
/// use bitcraps_otel::metrics::{Metrics, MetricsOptions};
/// use bitcraps_otel::export::prometheus::PrometheusBridge;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// #[derive(Debug)]
/// struct Battery;
/// impl DeviceProbe for Battery {
///     fn read(&self) -> DeviceReading {
///         DeviceReading { battery_percent: Some(12.5), ..Default::default() }
///     }
/// }
/// let (bridge, reader) = PrometheusBridge::new([])?;
/// let provider = SdkMeterProvider::builder().with_reader(reader).build();
/// let _metrics = Metrics::new(&provider, MetricsOptions { device_probe: Some(Arc::new(Battery)), ..Default::default() });
/// assert!(bridge.render().contains("bitcraps_battery_level_percent 12.5"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait DeviceProbe: Send + Sync + Debug {
    /// Reads the device now.
    fn read(&self) -> DeviceReading;
}

/// Reads `/sys/class/power_supply` (battery capacity and status) and `/sys/class/thermal`
/// (zone temperatures, and processor cooling devices as the throttling signal).
///
/// ```
/// use bitcraps_otel::metrics::probe::{DeviceProbe, LinuxProbe};
/// // A directory laid out like /sys/class, with one battery.
/// let root = std::env::temp_dir().join(format!("sysfs-{}", std::process::id()));
/// let bat = root.join("power_supply/BAT0");
/// std::fs::create_dir_all(&bat)?;
/// std::fs::write(bat.join("type"), "Battery\n")?;
/// std::fs::write(bat.join("capacity"), "77\n")?;
/// std::fs::write(bat.join("status"), "Charging\n")?;
/// let reading = LinuxProbe::with_root(&root).read();
/// assert_eq!((reading.battery_percent, reading.charging), (Some(77.0), Some(true)));
/// # std::fs::remove_dir_all(&root)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinuxProbe {
    root: PathBuf,
}

impl Default for LinuxProbe {
    fn default() -> Self {
        LinuxProbe { root: PathBuf::from("/sys/class") }
    }
}

impl LinuxProbe {
    /// A probe over the real sysfs.
    pub fn new() -> Self {
        Self::default()
    }

    /// A probe over another directory laid out like `/sys/class` (for tests and chroots).
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        LinuxProbe { root: root.into() }
    }

    fn entries(&self, class: &str, prefix: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.root.join(class))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

impl DeviceProbe for LinuxProbe {
    fn read(&self) -> DeviceReading {
        let mut reading = DeviceReading::default();
        for supply in self.entries("power_supply", "") {
            if read_trimmed(&supply.join("type")).as_deref() != Some("Battery") {
                continue;
            }
            if let Some(cap) = read_trimmed(&supply.join("capacity")).and_then(|c| c.parse::<f64>().ok()) {
                reading.battery_percent = Some(cap.clamp(0.0, 100.0));
                reading.charging = read_trimmed(&supply.join("status")).map(|s| s == "Charging" || s == "Full");
                break;
            }
        }
        let hottest = self
            .entries("thermal", "thermal_zone")
            .iter()
            .filter_map(|z| read_trimmed(&z.join("temp")).and_then(|t| t.parse::<f64>().ok()))
            // sysfs reports millidegrees; anything absurd is a broken sensor.
            .map(|milli| milli / 1000.0)
            .filter(|c| (-40.0..=150.0).contains(c))
            .fold(None, |acc: Option<f64>, c| Some(acc.map_or(c, |a| a.max(c))));
        reading.temperature_celsius = hottest;
        let mut saw_processor = false;
        let mut throttled = false;
        for dev in self.entries("thermal", "cooling_device") {
            let kind = read_trimmed(&dev.join("type")).unwrap_or_default();
            if !(kind.contains("Processor") || kind.contains("cpufreq") || kind.contains("cpu")) {
                continue;
            }
            saw_processor = true;
            throttled |= read_trimmed(&dev.join("cur_state")).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) > 0;
        }
        reading.throttling = saw_processor.then_some(throttled);
        reading
    }
}

/// Plausible readings for a simulated phone: the battery drains while playing and charges
/// once low; the temperature wanders and the CPU throttles above 44 °C.
///
/// ```
/// use bitcraps_otel::metrics::probe::{DeviceProbe, SimulatedProbe};
/// let reading = SimulatedProbe::new().read();
/// assert!(reading.battery_percent.is_some_and(|b| (0.0..=100.0).contains(&b)));
/// ```
#[derive(Debug)]
pub struct SimulatedProbe {
    state: Mutex<SimState>,
}

#[derive(Debug)]
struct SimState {
    battery: f64,
    charging: bool,
    temperature: f64,
    last: Instant,
}

impl Default for SimulatedProbe {
    fn default() -> Self {
        let mut rng = rand::rng();
        SimulatedProbe {
            state: Mutex::new(SimState {
                battery: rng.random_range(40.0..100.0),
                charging: false,
                temperature: rng.random_range(30.0..36.0),
                last: Instant::now(),
            }),
        }
    }
}

impl SimulatedProbe {
    /// A simulated device with a random starting charge.
    pub fn new() -> Self {
        Self::default()
    }
}

impl DeviceProbe for SimulatedProbe {
    fn read(&self) -> DeviceReading {
        let Ok(mut s) = self.state.lock() else {
            return DeviceReading::default();
        };
        let minutes = s.last.elapsed().as_secs_f64() / 60.0;
        s.last = Instant::now();
        let mut rng = rand::rng();
        // A busy craps table drains about 1 % a minute; a charger adds about 3 %.
        if s.charging {
            s.battery = (s.battery + 3.0 * minutes).min(100.0);
            s.charging = s.battery < 95.0;
        } else {
            s.battery = (s.battery - 1.0 * minutes * rng.random_range(0.5..1.5)).max(0.0);
            s.charging = s.battery < 20.0;
        }
        let drift: f64 = rng.random_range(-0.6..0.6) + if s.charging { 0.1 } else { 0.0 };
        s.temperature = (s.temperature + drift + (35.0 - s.temperature) * 0.05).clamp(20.0, 55.0);
        DeviceReading {
            battery_percent: Some((s.battery * 10.0).round() / 10.0),
            charging: Some(s.charging),
            temperature_celsius: Some((s.temperature * 10.0).round() / 10.0),
            throttling: Some(s.temperature > 44.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    #[test]
    fn linux_probe_reads_a_sysfs_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "power_supply/AC/type", "Mains\n");
        write(root, "power_supply/BAT0/type", "Battery\n");
        write(root, "power_supply/BAT0/capacity", "57\n");
        write(root, "power_supply/BAT0/status", "Charging\n");
        write(root, "thermal/thermal_zone0/temp", "41500\n");
        write(root, "thermal/thermal_zone1/temp", "47250\n");
        write(root, "thermal/thermal_zone2/temp", "999999\n"); // broken sensor, ignored
        write(root, "thermal/cooling_device0/type", "Processor\n");
        write(root, "thermal/cooling_device0/cur_state", "2\n");
        let r = LinuxProbe::with_root(root).read();
        assert_eq!(r.battery_percent, Some(57.0));
        assert_eq!(r.charging, Some(true));
        assert_eq!(r.temperature_celsius, Some(47.25));
        assert_eq!(r.throttling, Some(true));
    }

    #[test]
    fn linux_probe_without_sensors_reports_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(LinuxProbe::with_root(dir.path()).read(), DeviceReading::default());
    }

    #[test]
    fn simulated_probe_stays_in_range() {
        let p = SimulatedProbe::new();
        for _ in 0..200 {
            let r = p.read();
            let b = r.battery_percent.expect("battery");
            let t = r.temperature_celsius.expect("temperature");
            assert!((0.0..=100.0).contains(&b), "{b}");
            assert!((20.0..=55.0).contains(&t), "{t}");
            assert_eq!(r.throttling, Some(t > 44.0));
        }
    }
}
