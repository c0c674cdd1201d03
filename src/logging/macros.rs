//! The logging macros. Each writes one structured event with an `event.category` field and
//! records a registry metric on the handle [`crate::init`] installed (no metric before `init`
//! or after its guard is gone; the event is logged either way).
//!
//! | macro | level | `event.category` | metric |
//! |---|---|---|---|
//! | [`log_performance!`](crate::log_performance) | INFO | `performance` | `bitcraps_operation_duration_seconds{operation}` |
//! | [`log_business_event!`](crate::log_business_event) | INFO | `business` | `bitcraps_business_events_total{event}` |
//! | [`log_security_event!`](crate::log_security_event) | WARN | `security` | `bitcraps_security_events_total{event}` |
//!
//! The metric label is the name mapped onto the registry's closed vocabulary (`other` when
//! unknown); the other fields (`user_id`, `ip`, …) only reach the log, never a metric.

use crate::metrics::Metrics;
use std::time::Duration;

#[doc(hidden)]
pub use tracing as __tracing;

#[doc(hidden)]
pub fn __record_performance(operation: &str, duration: Duration) {
    if let Some(m) = Metrics::global() {
        m.events().operation_named(operation, duration);
    }
}

#[doc(hidden)]
pub fn __record_business(event: &str) {
    if let Some(m) = Metrics::global() {
        m.events().business_named(event);
    }
}

#[doc(hidden)]
pub fn __record_security(event: &str) {
    if let Some(m) = Metrics::global() {
        m.events().security_named(event);
    }
}

/// Logs how long an operation took and records it in `bitcraps_operation_duration_seconds`.
///
/// `operation` is anything `AsRef<str>`, `duration` a [`std::time::Duration`]; more
/// `key = value` fields may follow.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::log_performance;
///
/// let duration = Duration::from_millis(42);
/// log_performance!("consensus_decision", duration);
/// log_performance!("state_sync", duration, peers = 4);
/// log_performance!(format!("sync_{}", "ledger"), duration);
/// ```
#[macro_export]
macro_rules! log_performance {
    ($operation:expr, $duration:expr $(,)?) => {{
        let __bc_op_value = $operation;
        let __bc_op: &str = ::core::convert::AsRef::<str>::as_ref(&__bc_op_value);
        let __bc_d: ::std::time::Duration = $duration;
        $crate::logging::macros::__record_performance(__bc_op, __bc_d);
        $crate::logging::macros::__tracing::info!(
            event.category = "performance",
            operation = __bc_op,
            duration_ms = __bc_d.as_secs_f64() * 1000.0,
            "{} took {:?}",
            __bc_op,
            __bc_d
        );
    }};
    ($operation:expr, $duration:expr, $($field:tt)+) => {{
        let __bc_op_value = $operation;
        let __bc_op: &str = ::core::convert::AsRef::<str>::as_ref(&__bc_op_value);
        let __bc_d: ::std::time::Duration = $duration;
        $crate::logging::macros::__record_performance(__bc_op, __bc_d);
        $crate::logging::macros::__tracing::info!(
            event.category = "performance",
            operation = __bc_op,
            duration_ms = __bc_d.as_secs_f64() * 1000.0,
            $($field)+,
            "{} took {:?}",
            __bc_op,
            __bc_d
        );
    }};
}

/// Logs a business event and counts it in `bitcraps_business_events_total`.
///
/// ```
/// use bitcraps_otel::log_business_event;
///
/// log_business_event!("game_completed", game_id = "123", winner = "alice");
/// log_business_event!("player_joined");
/// ```
#[macro_export]
macro_rules! log_business_event {
    ($name:expr $(,)?) => {{
        let __bc_name_value = $name;
        let __bc_name: &str = ::core::convert::AsRef::<str>::as_ref(&__bc_name_value);
        $crate::logging::macros::__record_business(__bc_name);
        $crate::logging::macros::__tracing::info!(event.category = "business", event.name = __bc_name, "{}", __bc_name);
    }};
    ($name:expr, $($field:tt)+) => {{
        let __bc_name_value = $name;
        let __bc_name: &str = ::core::convert::AsRef::<str>::as_ref(&__bc_name_value);
        $crate::logging::macros::__record_business(__bc_name);
        $crate::logging::macros::__tracing::info!(
            event.category = "business",
            event.name = __bc_name,
            $($field)+,
            "{}",
            __bc_name
        );
    }};
}

/// Logs a security event at WARN and counts it in `bitcraps_security_events_total{event}`.
///
/// ```
/// use bitcraps_otel::log_security_event;
///
/// log_security_event!("invalid_signature", user_id = "bob", ip = "192.168.1.1");
/// ```
#[macro_export]
macro_rules! log_security_event {
    ($name:expr $(,)?) => {{
        let __bc_name_value = $name;
        let __bc_name: &str = ::core::convert::AsRef::<str>::as_ref(&__bc_name_value);
        $crate::logging::macros::__record_security(__bc_name);
        $crate::logging::macros::__tracing::warn!(event.category = "security", event.name = __bc_name, "{}", __bc_name);
    }};
    ($name:expr, $($field:tt)+) => {{
        let __bc_name_value = $name;
        let __bc_name: &str = ::core::convert::AsRef::<str>::as_ref(&__bc_name_value);
        $crate::logging::macros::__record_security(__bc_name);
        $crate::logging::macros::__tracing::warn!(
            event.category = "security",
            event.name = __bc_name,
            $($field)+,
            "{}",
            __bc_name
        );
    }};
}
