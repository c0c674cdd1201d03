//! Traces as a typed signal: the BitCraps spans of `semconv/registry/spans.yaml` started
//! through domain methods ([`Traces`]), the [`Carrier`] that takes trace context across the
//! peer mesh, and the HTTP propagators `OTEL_PROPAGATORS` selects.
//!
//! ```
//! use bitcraps_otel::semconv::{BetType, ConsensusVote, GameType, MessageKind, PeerTransport};
//! use bitcraps_otel::trace::{Carrier, Traces};
//!
//! let traces = Traces::noop(); // `telemetry.traces()` in a node
//! let game = traces.game("game_456", GameType::Cash);
//! game.in_scope(|| {
//!     game.bet(BetType::PassLine, 25);
//!     game.roll(7);
//!     // Child of the game: a consensus round, and a message to a peer.
//!     let mut round = traces.consensus_round(1042);
//!     round.propose();
//!     let send = traces.peer_send("peer_9f2c", PeerTransport::Tcp, MessageKind::Proposal);
//!     let header: Vec<u8> = send.carrier().encode();
//!     // On the peer: continue the trace from the header.
//!     let received = traces.peer_receive("node_a", PeerTransport::Tcp, MessageKind::Proposal,
//!                                        &Carrier::decode_or_empty(&header));
//!     assert_eq!(received.span_context().trace_id(), game.span_context().trace_id());
//!     round.vote("peer_9f2c", ConsensusVote::Accept);
//!     round.commit();
//! });
//! game.complete();
//! ```
//!
//! One concept per file:
//! - `span`: [`SpanGuard`], what every typed span shares (end on drop, make current, errors).
//! - `game`, `consensus`, `peer`, `dispute`: the typed guards.
//! - `carrier`: [`Carrier`] and its wire format.
//! - [`propagators`]: `tracecontext`, `baggage`, `b3`, `b3multi` for HTTP headers.
//!
//! This module sits below [`crate::logging`]: logging builds the tracer provider (with the
//! scrubbing processor) and hands it here; nothing here imports logging.

mod b3;
mod carrier;
mod consensus;
mod dispute;
mod game;
mod peer;
pub mod propagators;
mod span;

pub use carrier::{
    Carrier, CarrierError, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_ENTRIES, MAX_BAGGAGE_KEY, MAX_BAGGAGE_VALUE, MAX_ENCODED_LEN,
    MAX_TRACE_STATE,
};
pub use consensus::ConsensusSpan;
pub use dispute::DisputeSpan;
pub use game::GameSpan;
pub use peer::{PeerReceiveSpan, PeerSendSpan};
pub use span::{Entered, SpanGuard};

use crate::config::TraceSampler;
use crate::semconv::{
    attribute, span as defs, AttributeEnum, DisputeReason, GameType, MessageKind, MessagingOperationType, PeerTransport,
};
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::{Link, TracerProvider as _};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use span::{key, Start};
use std::sync::Arc;

/// Name of the instrumentation scope typed spans are recorded under.
pub const SCOPE: &str = "bitcraps_otel";

/// Value of `messaging.system` on peer message spans.
pub const MESSAGING_SYSTEM: &str = "bitcraps";

/// Starts the typed BitCraps spans. Cheap to clone (one `Arc`); get it from
/// `Telemetry::traces`, or build one on any tracer provider.
///
/// Every method starts its span as a child of the current context (a typed span made current
/// with [`SpanGuard::enter`]/[`SpanGuard::scope`], or an entered `tracing` span), except
/// [`Traces::peer_receive`], whose parent is the sender's.
#[derive(Clone, Debug)]
pub struct Traces {
    tracer: SdkTracer,
    /// The sampler `tracer`'s provider was built with, when known (see [`Traces::with_sampler`]).
    sampler: Option<TraceSampler>,
}

impl Traces {
    /// Typed spans recorded through `provider` (its sampler, processors and exporters).
    pub fn new(provider: &SdkTracerProvider) -> Traces {
        Traces { tracer: provider.tracer(SCOPE), sampler: None }
    }

    /// Typed spans recorded through `provider`, which was built with `sampler`
    /// (`with_sampler(sampler.to_sdk())`, as `init` builds it). Knowing the sampler lets a span
    /// it drops skip the SDK entirely: the span gets its ids and nothing else is built. With a
    /// provider built with another sampler, spans would follow `sampler`'s decisions where
    /// it can decide without a trace id; use [`Traces::new`] for such a provider.
    ///
    /// ```
    /// use bitcraps_otel::config::TraceSampler;
    /// use bitcraps_otel::semconv::{MessageKind, PeerTransport};
    /// use bitcraps_otel::trace::Traces;
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    ///
    /// let sampler = TraceSampler::ParentBasedAlwaysOff;
    /// let provider = SdkTracerProvider::builder().with_sampler(sampler.to_sdk()).build();
    /// let traces = Traces::with_sampler(&provider, sampler);
    /// let send = traces.peer_send("peer_9f2c", PeerTransport::Tcp, MessageKind::Bet);
    /// assert!(!send.is_sampled());
    /// assert!(send.span_context().is_valid()); // still propagates
    /// ```
    pub fn with_sampler(provider: &SdkTracerProvider, sampler: TraceSampler) -> Traces {
        Traces { tracer: provider.tracer(SCOPE), sampler: Some(sampler) }
    }

    /// Spans that get ids and propagate but are never exported (a provider with no processor).
    pub fn noop() -> Traces {
        Traces::new(&SdkTracerProvider::builder().build())
    }

    fn start(
        &self,
        def: &'static crate::semconv::SpanDef,
        parent: Context,
        baggage: Option<KeyValue>,
        links: Vec<Link>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> SpanGuard {
        let how = Start { tracer: &self.tracer, sampler: self.sampler, def, baggage, links };
        SpanGuard::start(how, parent, attributes)
    }

    /// A `bitcraps.game` span. The game id also goes into the baggage, so peer messages sent
    /// inside the game carry it.
    pub fn game(&self, game_id: &str, game_type: GameType) -> GameSpan {
        let id: StringValue = Arc::<str>::from(game_id).into();
        let baggage = KeyValue::new(key(&attribute::GAME_ID), id.clone());
        GameSpan::new(self.start(&defs::GAME, Context::current(), Some(baggage), Vec::new(), || {
            vec![
                KeyValue::new(key(&attribute::GAME_ID), id),
                KeyValue::new(key(&attribute::GAME_TYPE), game_type.as_str()),
            ]
        }))
    }

    /// A `bitcraps.consensus.round` span. The round number also goes into the baggage.
    pub fn consensus_round(&self, round: u64) -> ConsensusSpan {
        let round = i64::try_from(round).unwrap_or(i64::MAX);
        let parent = Context::current();
        let baggage = KeyValue::new(key(&attribute::CONSENSUS_ROUND), round);
        let attributes = || {
            let mut attrs = Vec::with_capacity(2);
            attrs.push(KeyValue::new(key(&attribute::CONSENSUS_ROUND), round));
            // The game this round belongs to, from the baggage the game span added.
            if let Some(id) = parent.baggage().get(key(&attribute::GAME_ID)) {
                attrs.push(KeyValue::new(key(&attribute::GAME_ID), id.clone()));
            }
            attrs
        };
        ConsensusSpan::new(self.start(&defs::CONSENSUS_ROUND, parent.clone(), Some(baggage), Vec::new(), attributes))
    }

    /// A `bitcraps.peer.send` span (PRODUCER): one message to `peer`. Put
    /// [`PeerSendSpan::carrier`] in the message header.
    pub fn peer_send(&self, peer: &str, transport: PeerTransport, kind: MessageKind) -> PeerSendSpan {
        PeerSendSpan::new(self.start(&defs::PEER_SEND, Context::current(), None, Vec::new(), || {
            messaging_attributes(MessagingOperationType::Send, peer, true, transport, kind)
        }))
    }

    /// A `bitcraps.peer.receive` span (CONSUMER): one message from `peer`, a child of the
    /// sender's span in `carrier` (following its sampling decision). With an empty carrier
    /// (none sent, or [`Carrier::decode_or_empty`] of bad bytes) it is a fresh root.
    pub fn peer_receive(
        &self,
        peer: &str,
        transport: PeerTransport,
        kind: MessageKind,
        carrier: &Carrier,
    ) -> PeerReceiveSpan {
        PeerReceiveSpan::new(self.start(&defs::PEER_RECEIVE, carrier.context(), None, Vec::new(), || {
            messaging_attributes(MessagingOperationType::Receive, peer, false, transport, kind)
        }))
    }

    /// A `bitcraps.peer.receive` span in the current context (e.g. the round collecting
    /// votes), linked to the sender's span instead of parented by it: the shape for many
    /// messages fanning in to one piece of work.
    pub fn peer_receive_linked(
        &self,
        peer: &str,
        transport: PeerTransport,
        kind: MessageKind,
        carrier: &Carrier,
    ) -> PeerReceiveSpan {
        let links = carrier.span_context().map(|sc| vec![Link::with_context(sc.clone())]).unwrap_or_default();
        PeerReceiveSpan::new(self.start(&defs::PEER_RECEIVE, Context::current(), None, links, || {
            messaging_attributes(MessagingOperationType::Receive, peer, false, transport, kind)
        }))
    }

    /// A `bitcraps.dispute` span.
    pub fn dispute(&self, game_id: &str, reason: DisputeReason) -> DisputeSpan {
        DisputeSpan::new(self.start(&defs::DISPUTE, Context::current(), None, Vec::new(), || {
            vec![
                KeyValue::new(key(&attribute::GAME_ID), game_id.to_owned()),
                KeyValue::new(key(&attribute::DISPUTE_REASON), reason.as_str()),
            ]
        }))
    }
}

fn messaging_attributes(
    operation: MessagingOperationType,
    peer: &str,
    destination: bool,
    transport: PeerTransport,
    kind: MessageKind,
) -> Vec<KeyValue> {
    // One shared copy of the peer id for both attributes that carry it.
    let peer: StringValue = Arc::<str>::from(peer).into();
    let mut attrs = Vec::with_capacity(6);
    attrs.extend([
        KeyValue::new(key(&attribute::MESSAGING_SYSTEM), MESSAGING_SYSTEM),
        KeyValue::new(key(&attribute::MESSAGING_OPERATION_TYPE), operation.as_str()),
        KeyValue::new(key(&attribute::PEER_ID), peer.clone()),
        KeyValue::new(key(&attribute::PEER_TRANSPORT), transport.as_str()),
        KeyValue::new(key(&attribute::MESSAGE_KIND), kind.as_str()),
    ]);
    // The receiver does not know the name the sender addressed it by.
    if destination {
        attrs.push(KeyValue::new(key(&attribute::MESSAGING_DESTINATION_NAME), peer));
    }
    attrs
}
