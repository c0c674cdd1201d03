//! Typed spans, the peer carrier and the HTTP propagators, in-process: parents and links
//! across two simulated nodes (two tracer providers), sampling decisions that follow the
//! parent, `tracing` interop both ways, log lines carrying span ids, and hostile input
//! (headers, carrier bytes) giving a fresh root without a panic.

use bitcraps_otel::config::LogFormat;
use bitcraps_otel::config::{Propagator, TraceSampler};
use bitcraps_otel::logging::LoggingBuilder;
use bitcraps_otel::semconv::{
    AttributeEnum, BetType, ConsensusOutcome, ConsensusVote, GameType, MessageKind, PeerTransport,
};
use bitcraps_otel::trace::{propagators, Carrier, CarrierError, Traces, MAX_BAGGAGE_ENTRIES, MAX_ENCODED_LEN};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Keeps every ended span, as an exporter would receive it.
#[derive(Clone, Debug, Default)]
struct Kept(Arc<Mutex<Vec<SpanData>>>);

impl SpanProcessor for Kept {
    fn on_start(&self, _: &mut Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.lock().expect("lock").push(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

impl Kept {
    fn named(&self, name: &str) -> Vec<SpanData> {
        self.0.lock().expect("lock").iter().filter(|s| s.name == name).cloned().collect()
    }
    fn one(&self, name: &str) -> SpanData {
        let found = self.named(name);
        assert_eq!(found.len(), 1, "exactly one `{name}` span in {:?}", self.0.lock().expect("lock"));
        found.into_iter().next().expect("one")
    }
}

/// One simulated node: a tracer provider with `sampler` keeping what it exports, and typed
/// spans that know the sampler (as `init` builds them).
fn node(sampler: TraceSampler) -> (Traces, Kept, SdkTracerProvider) {
    let kept = Kept::default();
    let provider =
        SdkTracerProvider::builder().with_sampler(sampler.to_sdk()).with_span_processor(kept.clone()).build();
    (Traces::with_sampler(&provider, sampler), kept, provider)
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

fn remote_context(sampled: bool) -> Context {
    let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
    let sc = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex"),
        SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
        flags,
        true,
        TraceState::from_key_value([("bitcraps", "t1")]).expect("state"),
    );
    Context::new().with_remote_span_context(sc)
}

#[test]
fn each_http_propagator_round_trips_a_context_through_headers() {
    for sampled in [true, false] {
        for p in [Propagator::TraceContext, Propagator::B3, Propagator::B3Multi] {
            let propagator = propagators::build(&[p]);
            let mut headers = HashMap::new();
            let sent = remote_context(sampled);
            propagator.inject_context(&sent, &mut headers);
            assert!(!headers.is_empty(), "{p:?} wrote nothing");
            let got = propagator.extract(&headers);
            let (a, b) = (sent.span().span_context().clone(), got.span().span_context().clone());
            assert_eq!((b.trace_id(), b.span_id(), b.is_sampled()), (a.trace_id(), a.span_id(), sampled), "{p:?}");
            assert!(b.is_remote(), "{p:?}");
        }
    }
    // Baggage alone.
    let propagator = propagators::build(&[Propagator::Baggage]);
    let mut headers = HashMap::new();
    let cx = Context::new().with_baggage([KeyValue::new("bitcraps.game.id", "game_456")]);
    propagator.inject_context(&cx, &mut headers);
    let got = propagator.extract(&headers);
    assert_eq!(got.baggage().get("bitcraps.game.id").map(|v| v.to_string()).as_deref(), Some("game_456"));
    // `none`: nothing written, nothing read.
    let none = propagators::build(&Propagator::parse_list("none").expect("valid"));
    let mut headers = HashMap::new();
    none.inject_context(&remote_context(true), &mut headers);
    assert!(headers.is_empty(), "{headers:?}");
    let mut full = HashMap::new();
    propagators::build(Propagator::DEFAULT).inject_context(&remote_context(true), &mut full);
    assert!(!none.extract(&full).span().span_context().is_valid());
}

#[test]
fn malformed_oversized_or_hostile_http_headers_are_ignored() {
    let long = "a".repeat(100_000);
    let hostile: Vec<(&str, String)> = vec![
        ("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01".into()),
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01".into()),
        ("traceparent", "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01".into()),
        ("traceparent", format!("00-{long}")),
        ("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        ("traceparent", "\u{0}\u{1b}[31m".into()),
        ("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-maybe".into()),
        ("b3", "4bf92f3577b34da6a3ce929d0e0e4736".into()),
        ("b3", format!("{long}-00f067aa0ba902b7-1")),
        ("b3", "00000000000000000000000000000000-00f067aa0ba902b7-1".into()),
        ("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1-00f067aa0ba902b7-extra".into()),
        ("x-b3-traceid", "not-hex-at-all-not-hex-at-all-xx".into()),
    ];
    let all = propagators::build(&[Propagator::TraceContext, Propagator::B3, Propagator::B3Multi]);
    for (name, value) in &hostile {
        let headers = HashMap::from([(name.to_string(), value.clone())]);
        let cx = all.extract(&headers);
        assert!(!cx.span().span_context().is_valid(), "{name}: {value:.80} was accepted");
        // Continuing from it is a fresh root.
        let (traces, kept, _p) = node(TraceSampler::ParentBasedAlwaysOn);
        let _g = cx.attach();
        drop(traces.game("g", GameType::Cash));
        assert_eq!(kept.one("bitcraps.game").parent_span_id, SpanId::INVALID, "{name}");
    }
    // Baggage is bounded by the W3C propagator: a huge header is dropped, not kept.
    let baggage = propagators::build(&[Propagator::Baggage]);
    let huge = (0..2000).map(|i| format!("k{i}=v{i}")).collect::<Vec<_>>().join(",");
    let cx = baggage.extract(&HashMap::from([("baggage".to_string(), huge)]));
    assert!(cx.baggage().len() <= 180, "{} entries kept", cx.baggage().len());
}

#[test]
fn a_carrier_round_trips_span_context_trace_state_and_baggage() {
    let cx = remote_context(true)
        .with_baggage([KeyValue::new("bitcraps.game.id", "game_456"), KeyValue::new("bitcraps.consensus.round", 1042)]);
    let carrier = Carrier::from_context(&cx);
    let bytes = carrier.encode();
    let back = Carrier::decode(&bytes).expect("valid");
    assert_eq!(back, carrier);
    let sc = back.span_context().expect("span context");
    assert_eq!(sc.trace_id(), cx.span().span_context().trace_id());
    assert_eq!(sc.span_id(), cx.span().span_context().span_id());
    assert!(sc.is_sampled() && sc.is_remote());
    assert_eq!(sc.trace_state().get("bitcraps"), Some("t1"));
    assert_eq!(back.baggage_value("bitcraps.game.id"), Some("game_456"));
    assert_eq!(back.baggage_value("bitcraps.consensus.round"), Some("1042"));
    assert!(bytes.len() < 100, "{} bytes", bytes.len());
    // Nothing current: a carrier with nothing in it, which decodes to the same.
    let empty = Carrier::inject_current();
    assert_eq!(Carrier::decode(&empty.encode()), Ok(empty));
}

#[test]
fn carrier_baggage_is_bounded_by_entries_and_bytes() {
    let entries: Vec<KeyValue> = (0..50).map(|i| KeyValue::new(format!("key{i}"), "v".repeat(100))).collect();
    let oversized = KeyValue::new("k".repeat(200), "v");
    let cx = remote_context(true).with_baggage(entries.into_iter().chain([oversized]));
    let carrier = Carrier::from_context(&cx);
    assert!(carrier.baggage().count() <= MAX_BAGGAGE_ENTRIES);
    assert!(carrier.baggage().all(|(k, _)| k.len() <= 64));
    let bytes = carrier.encode();
    assert!(bytes.len() <= MAX_ENCODED_LEN, "{} bytes", bytes.len());
    assert_eq!(Carrier::decode(&bytes).as_ref(), Ok(&carrier));
}

#[test]
fn hostile_carrier_bytes_are_errors_and_leave_a_fresh_root() {
    let valid = Carrier::from_context(&remote_context(true).with_baggage([KeyValue::new("a", "b")])).encode();
    let mut trailing = valid.clone();
    trailing.push(0);
    let mut zero_ids = valid.clone();
    zero_ids[2..27].fill(0);
    let mut bad_key = valid.clone();
    let key_at = valid.len() - 3; // `a` in `\x01 a \x01 b`
    bad_key[key_at] = b' ';
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("too long", vec![1; MAX_ENCODED_LEN + 1]),
        ("version", {
            let mut v = valid.clone();
            v[0] = 9;
            v
        }),
        ("flags", {
            let mut v = valid.clone();
            v[1] = 0x80 | 1;
            v
        }),
        ("truncated", valid[..valid.len() - 1].to_vec()),
        ("trailing", trailing),
        ("zero ids", zero_ids),
        ("key not a token", bad_key),
        ("too many entries", vec![1, 0, 0, 200]),
        ("tracestate not utf-8", vec![1, 0, 2, 0xff, 0xfe, 0]),
    ];
    for (what, bytes) in cases {
        assert!(Carrier::decode(&bytes).is_err(), "{what}: accepted");
        let (traces, kept, _p) = node(TraceSampler::ParentBasedAlwaysOn);
        drop(traces.peer_receive("peer", PeerTransport::Tcp, MessageKind::Vote, &Carrier::decode_or_empty(&bytes)));
        assert_eq!(kept.one("bitcraps.peer.receive").parent_span_id, SpanId::INVALID, "{what}: not a root");
    }
    assert!(matches!(Carrier::decode(&[2]), Err(CarrierError::Version(2))));
}

proptest::proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1200)) {
        if let Ok(c) = Carrier::decode(&bytes) {
            // Whatever decodes re-encodes to the same bytes.
            proptest::prop_assert_eq!(c.encode(), bytes);
        }
    }
}

#[test]
fn a_receive_on_another_node_is_a_child_of_the_send_and_follows_its_sampling() {
    for (root_sampler, expect_sampled) in [(TraceSampler::AlwaysOn, true), (TraceSampler::ParentBasedAlwaysOff, false)]
    {
        let (a, kept_a, _pa) = node(root_sampler);
        // Node B would sample every root; it still follows A's decision.
        let (b, kept_b, _pb) = node(TraceSampler::ParentBasedAlwaysOn);
        let game = a.game("game_1", GameType::Cash);
        let header = game.in_scope(|| a.peer_send("node_b", PeerTransport::Tcp, MessageKind::Bet).carrier().encode());
        let carrier = Carrier::decode(&header).expect("valid");
        assert_eq!(carrier.baggage_value("bitcraps.game.id"), Some("game_1"), "the game id travels as baggage");
        let received = b.peer_receive("node_a", PeerTransport::Tcp, MessageKind::Bet, &carrier);
        assert_eq!(received.is_sampled(), expect_sampled);
        assert_eq!(received.span_context().trace_id(), game.span_context().trace_id());
        drop(received);
        drop(game);
        if expect_sampled {
            let send = kept_a.one("bitcraps.peer.send");
            let recv = kept_b.one("bitcraps.peer.receive");
            assert_eq!(recv.parent_span_id, send.span_context.span_id());
            assert_eq!(recv.span_context.trace_id(), send.span_context.trace_id());
            assert_eq!((send.span_kind.clone(), recv.span_kind.clone()), (SpanKind::Producer, SpanKind::Consumer));
            assert_eq!(attr(&send, "messaging.system").as_deref(), Some("bitcraps"));
            assert_eq!(attr(&send, "messaging.operation.type").as_deref(), Some("send"));
            assert_eq!(attr(&recv, "messaging.operation.type").as_deref(), Some("receive"));
            assert_eq!(attr(&recv, "bitcraps.message.kind").as_deref(), Some("bet"));
            assert_eq!(send.parent_span_id, kept_a.one("bitcraps.game").span_context.span_id());
        } else {
            assert!(kept_b.named("bitcraps.peer.receive").is_empty(), "an unsampled parent's child was exported");
        }
    }
}

#[test]
fn spans_of_a_known_sampler_get_the_decision_ids_and_trace_state_the_sdk_gives() {
    let samplers = [
        TraceSampler::AlwaysOn,
        TraceSampler::AlwaysOff,
        TraceSampler::TraceIdRatio(0.5),
        TraceSampler::ParentBasedAlwaysOn,
        TraceSampler::ParentBasedAlwaysOff,
        TraceSampler::ParentBasedTraceIdRatio(0.5),
    ];
    for sampler in samplers {
        for parent in [None, Some(true), Some(false)] {
            let (fast, kept, provider) = node(sampler);
            let sdk = Traces::new(&provider); // the SDK decides every span
            let cx = parent.map(remote_context).unwrap_or_default();
            let attached = cx.clone().attach();
            let ours = fast.peer_send("peer_1", PeerTransport::Tcp, MessageKind::Bet);
            let theirs = sdk.peer_send("peer_1", PeerTransport::Tcp, MessageKind::Bet);
            drop(attached);
            let case = format!("{sampler:?} under parent {parent:?}");
            let ratio_decides = matches!(sampler, TraceSampler::TraceIdRatio(_))
                || (parent.is_none() && matches!(sampler, TraceSampler::ParentBasedTraceIdRatio(_)));
            if !ratio_decides {
                assert_eq!(ours.is_sampled(), theirs.is_sampled(), "{case}");
            }
            let (a, b) = (ours.span_context(), theirs.span_context());
            assert!(a.is_valid() && !a.is_remote(), "{case}: {a:?}");
            assert_eq!(a.trace_flags().is_sampled(), ours.is_sampled(), "{case}");
            assert_eq!(a.trace_state().header(), b.trace_state().header(), "{case}");
            if parent.is_some() {
                assert_eq!(a.trace_id(), b.trace_id(), "{case}: the parent's trace");
                assert_ne!(a.span_id(), cx.span().span_context().span_id(), "{case}: a span id of its own");
            }
            // The lazily built context holds the same ids, so children and carriers continue it.
            assert_eq!(ours.context().span().span_context(), &a, "{case}");
            assert_eq!(ours.carrier().span_context(), Some(&a), "{case}");
            let exported = usize::from(ours.is_sampled()) + usize::from(theirs.is_sampled());
            drop((ours, theirs));
            assert_eq!(kept.named("bitcraps.peer.send").len(), exported, "{case}");
        }
    }
}

#[test]
fn an_unsampled_game_still_puts_its_id_in_the_baggage_its_messages_carry() {
    let (traces, kept, _provider) = node(TraceSampler::ParentBasedAlwaysOff);
    let game = traces.game("game_7", GameType::Cash);
    assert!(!game.is_sampled());
    assert_eq!(game.context().baggage().get("bitcraps.game.id").map(|v| v.as_str().to_owned()), Some("game_7".into()));
    let carrier = game.in_scope(|| {
        let round = traces.consensus_round(3);
        round.in_scope(|| traces.peer_send("peer_1", PeerTransport::Tcp, MessageKind::Proposal).carrier())
    });
    assert_eq!(carrier.baggage_value("bitcraps.game.id"), Some("game_7"));
    assert_eq!(carrier.baggage_value("bitcraps.consensus.round"), Some("3"));
    let sc = carrier.span_context().expect("an unsampled send still propagates its ids");
    assert_eq!(sc.trace_id(), game.span_context().trace_id());
    assert!(!sc.is_sampled());
    drop(game);
    assert!(kept.0.lock().expect("lock").is_empty(), "nothing unsampled is exported");
}

#[test]
fn votes_fan_in_to_a_round_as_links() {
    let (a, _ka, _pa) = node(TraceSampler::AlwaysOn);
    let (b, kept_b, _pb) = node(TraceSampler::AlwaysOn);
    let voters: Vec<_> = (0..3).map(|i| a.peer_send(&format!("v{i}"), PeerTransport::Tcp, MessageKind::Vote)).collect();
    let mut round = b.consensus_round(7);
    for (i, v) in voters.iter().enumerate() {
        round.vote_from(&format!("v{i}"), ConsensusVote::Accept, &Carrier::decode(&v.carrier().encode()).expect("ok"));
    }
    round.commit();
    let span = kept_b.one("bitcraps.consensus.round");
    let linked: Vec<_> = span.links.links.iter().map(|l| l.span_context.span_id()).collect();
    let sent: Vec<_> = voters.iter().map(|v| v.span_context().span_id()).collect();
    assert_eq!(linked, sent);
    assert_eq!(span.parent_span_id, SpanId::INVALID, "votes are links, not parents");
    assert_eq!(attr(&span, "bitcraps.consensus.outcome").as_deref(), Some("committed"));
    assert_eq!(attr(&span, "bitcraps.consensus.votes").as_deref(), Some("3"));
}

#[test]
fn a_round_that_loses_a_peer_ends_with_an_outcome_that_says_so() {
    let (t, kept, _p) = node(TraceSampler::AlwaysOn);
    let mut round = t.consensus_round(9);
    round.vote("peer_1", ConsensusVote::Accept);
    round.peer_lost("peer_2");
    let span = kept.one("bitcraps.consensus.round");
    assert_eq!(attr(&span, "bitcraps.consensus.outcome").as_deref(), Some(ConsensusOutcome::PeerLost.as_str()));
    assert!(
        matches!(span.status, opentelemetry::trace::Status::Error { ref description } if description.contains("peer_2"))
    );
}

#[test]
fn a_game_span_records_bets_rolls_payouts_and_its_outcome() {
    let (t, kept, _p) = node(TraceSampler::AlwaysOn);
    let game = t.game("game_9", GameType::Tournament);
    game.bet(BetType::PassLine, 25);
    game.roll(7);
    game.payout(BetType::PassLine, 50);
    game.complete();
    let span = kept.one("bitcraps.game");
    let events: Vec<_> = span.events.events.iter().map(|e| e.name.to_string()).collect();
    assert_eq!(events, ["bitcraps.bet", "bitcraps.roll", "bitcraps.payout"]);
    assert_eq!(attr(&span, "bitcraps.game.id").as_deref(), Some("game_9"));
    assert_eq!(attr(&span, "bitcraps.game.type").as_deref(), Some("tournament"));
    assert_eq!(attr(&span, "bitcraps.game.outcome").as_deref(), Some("completed"));
}

#[test]
fn each_sampler_decides_as_specified_and_children_follow_their_parent() {
    let cases = [
        (TraceSampler::AlwaysOn, true, true, false),
        (TraceSampler::AlwaysOff, false, false, false),
        (TraceSampler::TraceIdRatio(1.0), true, true, false),
        (TraceSampler::TraceIdRatio(0.0), false, false, false),
        (TraceSampler::ParentBasedAlwaysOn, true, true, false),
        (TraceSampler::ParentBasedAlwaysOff, false, true, false),
        (TraceSampler::ParentBasedTraceIdRatio(0.0), false, true, false),
        (TraceSampler::ParentBasedTraceIdRatio(1.0), true, true, false),
    ];
    // (sampler, root sampled, child of a sampled remote parent sampled, child of an unsampled one sampled)
    for (sampler, root, under_sampled, under_unsampled) in cases {
        let (t, _k, _p) = node(sampler);
        assert_eq!(t.game("g", GameType::Cash).is_sampled(), root, "{sampler} root");
        let parent_based = matches!(
            sampler,
            TraceSampler::ParentBasedAlwaysOn
                | TraceSampler::ParentBasedAlwaysOff
                | TraceSampler::ParentBasedTraceIdRatio(_)
        );
        for (parent_sampled, want) in [(true, under_sampled), (false, under_unsampled)] {
            let carrier = Carrier::from_context(&remote_context(parent_sampled));
            let got = t.peer_receive("p", PeerTransport::Udp, MessageKind::Vote, &carrier).is_sampled();
            let want = if parent_based { want } else { root };
            assert_eq!(got, want, "{sampler} under a parent sampled={parent_sampled}");
        }
    }
}

/// Lines written to a buffer.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl Lines {
    fn json(&self) -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&self.0.lock().expect("lock"))
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

#[test]
fn typed_spans_parent_tracing_spans_and_the_other_way_round_and_lines_carry_their_ids() {
    let kept = Kept::default();
    let provider = SdkTracerProvider::builder().with_span_processor(kept.clone()).build();
    let traces = Traces::new(&provider);
    let lines = Lines::default();
    let sink = lines.clone();
    let subscriber = LoggingBuilder::new()
        .format(LogFormat::Json)
        .tracer_provider(provider.clone())
        .build_subscriber(move || sink.clone())
        .expect("subscriber");
    let (game_ids, round_ids) = tracing::subscriber::with_default(subscriber, || {
        let game = traces.game("game_1", GameType::Cash);
        let round_ids = game.in_scope(|| {
            tracing::info!("inside the game");
            let inner = tracing::info_span!("settle", table = 7);
            inner.in_scope(|| {
                let round = traces.consensus_round(3);
                round.in_scope(|| tracing::info!("inside the round"));
                let sc = round.span_context();
                round.commit();
                sc
            })
        });
        let sc = game.span_context();
        game.complete();
        (sc, round_ids)
    });
    let game = kept.one("bitcraps.game");
    let settle = kept.one("settle");
    let round = kept.one("bitcraps.consensus.round");
    assert_eq!(settle.parent_span_id, game.span_context.span_id(), "typed span parents a tracing span");
    assert_eq!(round.parent_span_id, settle.span_context.span_id(), "a tracing span parents a typed span");
    assert_eq!(round.span_context.trace_id(), game.span_context.trace_id());
    let json = lines.json();
    let line = |msg: &str| json.iter().find(|l| l["message"] == msg).cloned().expect(msg);
    let (g, r) = (line("inside the game"), line("inside the round"));
    assert_eq!(g["trace_id"], game_ids.trace_id().to_string());
    assert_eq!(g["span_id"], game_ids.span_id().to_string());
    assert_eq!(r["trace_id"], round_ids.trace_id().to_string());
    assert_eq!(r["span_id"], round_ids.span_id().to_string());
}
