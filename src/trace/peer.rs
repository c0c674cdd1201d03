//! [`PeerSendSpan`] and [`PeerReceiveSpan`]: one peer message leaving this node (a PRODUCER
//! span) and arriving at another (a CONSUMER span), with the OpenTelemetry messaging
//! attributes. The sender's [`Carrier`] travels in the message header.

use super::carrier::Carrier;
use super::span::SpanGuard;
use crate::semconv::attribute;

/// The `bitcraps.peer.send` span; see [`super::Traces::peer_send`].
#[derive(Debug)]
#[must_use = "the span ends when the guard is dropped"]
pub struct PeerSendSpan {
    guard: SpanGuard,
}

impl PeerSendSpan {
    pub(super) fn new(guard: SpanGuard) -> PeerSendSpan {
        PeerSendSpan { guard }
    }

    /// The carrier to put in the message header: this send span's context (so the receiver's
    /// span is its child) and the baggage current when the send started.
    pub fn carrier(&self) -> Carrier {
        Carrier::from_context(self.guard.context())
    }

    /// Records the payload size (`messaging.message.body.size`).
    pub fn set_body_size(&self, bytes: usize) {
        self.guard.set(&attribute::MESSAGING_MESSAGE_BODY_SIZE, i64::try_from(bytes).unwrap_or(i64::MAX));
    }
}

impl std::ops::Deref for PeerSendSpan {
    type Target = SpanGuard;
    fn deref(&self) -> &SpanGuard {
        &self.guard
    }
}

/// The `bitcraps.peer.receive` span; see [`super::Traces::peer_receive`] and
/// [`super::Traces::peer_receive_linked`].
#[derive(Debug)]
#[must_use = "the span ends when the guard is dropped"]
pub struct PeerReceiveSpan {
    guard: SpanGuard,
}

impl PeerReceiveSpan {
    pub(super) fn new(guard: SpanGuard) -> PeerReceiveSpan {
        PeerReceiveSpan { guard }
    }

    /// Records the payload size (`messaging.message.body.size`).
    pub fn set_body_size(&self, bytes: usize) {
        self.guard.set(&attribute::MESSAGING_MESSAGE_BODY_SIZE, i64::try_from(bytes).unwrap_or(i64::MAX));
    }
}

impl std::ops::Deref for PeerReceiveSpan {
    type Target = SpanGuard;
    fn deref(&self) -> &SpanGuard {
        &self.guard
    }
}
