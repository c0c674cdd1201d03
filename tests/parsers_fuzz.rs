//! Property tests of the parsers that read what an operator or a peer sends: the alert rules
//! file (rules, routes, escalations and channels in one YAML document) and the mesh's frames,
//! envelopes and peer lists. Nothing they are fed may panic; a refusal is an error that says
//! where, and never repeats a secret it read.
//!
//! CI runs a bounded number of cases from a fixed seed; `PROPTEST_CASES` and
//! `PROPTEST_RNG_SEED` change both for a longer hunt.

mod fuzz_support;

use bitcraps_otel::alerting::parse_rules_with_env;
use bitcraps_otel::mesh::{parse_peers, read_frame, Envelope, MessageKind, MAX_FRAME, MAX_SENDER, MAX_TRACE};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

const SHIPPED_RULES: &str = include_str!("../deploy/alerting/bitcraps-rules.yml");
/// What every `${VAR}` in the rules file resolves to: a parse error must never contain it.
const SECRET: &str = "SECRETMARK-7f3a";

fn cases(default: u32) -> RunnerConfig {
    fuzz_support::runner_config(default, 0x5EED_F022)
}

/// Text an editor's slip or a hostile file could put into a rules file.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_string()),
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("  ".to_string()),
        Just("{ greater_than: 1e309 }".to_string()),
        Just("every: 500000000000y".to_string()),
        Just("queue_capacity: 3000000000000000000".to_string()),
        Just("for: -5m".to_string()),
        Just("&a [*a, *a]".to_string()),
        Just("!!binary AAAA".to_string()),
        Just("routing_key: 12345678901234567890".to_string()),
        Just("type: carrier_pigeon".to_string()),
        Just("channels: [log, nowhere]".to_string()),
        Just("\"${BITCRAPS_SLACK_WEBHOOK_URL}\"".to_string()),
        Just("[[[[[[[[".to_string()),
        Just("\u{0}\u{7}\u{1b}[31m".to_string()),
        "[ -~]{0,24}",
    ]
}

/// One edit of the shipped file, at a position chosen by `at` (a fraction of its length).
#[derive(Debug, Clone)]
enum Edit {
    Insert(f64, String),
    Delete(f64, usize),
    Truncate(f64),
    DuplicateLine(f64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0f64, fragment()).prop_map(|(at, s)| Edit::Insert(at, s)),
        (0.0..1.0f64, 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64).prop_map(Edit::Truncate),
        (0.0..1.0f64).prop_map(Edit::DuplicateLine),
    ]
}

/// The char boundary nearest below `at` of the way through `text`.
fn boundary(text: &str, at: f64) -> usize {
    let mut i = ((text.len() as f64) * at) as usize;
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &mut String, edit: &Edit) {
    match edit {
        Edit::Insert(at, s) => {
            let i = boundary(text, *at);
            text.insert_str(i, s);
        }
        Edit::Delete(at, n) => {
            let i = boundary(text, *at);
            let mut j = (i + n).min(text.len());
            while !text.is_char_boundary(j) {
                j -= 1;
            }
            text.replace_range(i..j, "");
        }
        Edit::Truncate(at) => {
            let i = boundary(text, *at);
            text.truncate(i);
        }
        Edit::DuplicateLine(at) => {
            let i = boundary(text, *at);
            let start = text[..i].rfind('\n').map_or(0, |p| p + 1);
            let end = text[i..].find('\n').map_or(text.len(), |p| i + p + 1);
            let line = text[start..end].to_string();
            text.insert_str(end, &line);
        }
    }
}

fn check_rules(text: &str) -> Result<(), TestCaseError> {
    let env = |_: &str| Some(SECRET.to_string());
    if let Err(e) = parse_rules_with_env("fuzz.yml", text, &env) {
        let msg = e.to_string();
        prop_assert!(msg.starts_with("fuzz.yml"), "an error that does not say where: {msg}");
        prop_assert!(!msg.contains(SECRET), "a parse error repeats a secret value: {msg}");
    }
    Ok(())
}

#[test]
fn the_shipped_rules_file_parses_with_its_secrets_resolved() {
    let env = |_: &str| Some(SECRET.to_string());
    let set = parse_rules_with_env("bitcraps-rules.yml", SHIPPED_RULES, &env);
    assert!(set.is_ok(), "{:?}", set.err().map(|e| e.to_string()));
}

#[test]
fn edited_rules_files_parse_or_fail_with_a_located_error_that_repeats_no_secret() {
    let mut runner = TestRunner::new(cases(600));
    runner
        .run(&proptest::collection::vec(edit(), 1..5), |edits| {
            let mut text = SHIPPED_RULES.to_string();
            for e in &edits {
                apply(&mut text, e);
            }
            check_rules(&text)
        })
        .expect("the rules parser held");
}

#[test]
fn arbitrary_text_never_panics_the_rules_parser() {
    let mut runner = TestRunner::new(cases(600));
    runner
        .run(&proptest::collection::vec(fragment(), 0..30), |parts| check_rules(&parts.concat()))
        .expect("the rules parser held");
}

#[test]
fn arbitrary_bytes_decode_to_an_error_or_an_envelope_that_encodes_back_to_itself() {
    let mut runner = TestRunner::new(cases(3000));
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..300), |bytes| {
            if let Ok(envelope) = Envelope::decode(&bytes) {
                let again = envelope.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(Envelope::decode(&again), Ok(envelope));
            }
            Ok(())
        })
        .expect("envelope decoding held");
}

#[test]
fn envelopes_within_the_limits_round_trip_and_past_them_are_refused() {
    let kind = proptest::sample::select(MessageKind::ALL.to_vec());
    let envelope = (
        kind,
        "[a-z0-9-]{0,80}",
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..(MAX_TRACE + 64)),
        proptest::collection::vec(any::<u8>(), 0..512),
    );
    let mut runner = TestRunner::new(cases(1000));
    runner
        .run(&envelope, |(kind, sender, id, trace, payload)| {
            let fits = sender.len() <= MAX_SENDER && trace.len() <= MAX_TRACE;
            let e = Envelope::new(kind, sender, id).with_trace(trace).with_payload(payload);
            match e.encode() {
                Ok(bytes) => {
                    prop_assert!(fits, "an envelope past the limits was encoded");
                    prop_assert_eq!(Envelope::decode(&bytes), Ok(e));
                }
                Err(_) => prop_assert!(!fits, "an envelope within the limits was refused"),
            }
            Ok(())
        })
        .expect("envelope round trip held");
}

#[test]
fn frames_read_from_arbitrary_bytes_never_exceed_the_frame_limit() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    // A length prefix, sometimes huge, then whatever bytes follow.
    let input = (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..2048), any::<bool>());
    let mut runner = TestRunner::new(cases(2000));
    runner
        .run(&input, |(len, body, small)| {
            let len = if small { len % 4096 } else { len };
            let mut bytes = len.to_be_bytes().to_vec();
            bytes.extend_from_slice(&body);
            let mut reader: &[u8] = &bytes;
            let mut buf = Vec::new();
            // Read frames until the input runs out or is refused.
            for _ in 0..4 {
                match runtime.block_on(read_frame(&mut reader, &mut buf)) {
                    Ok(()) => prop_assert!(buf.len() <= MAX_FRAME, "a frame of {} bytes was accepted", buf.len()),
                    Err(_) => break,
                }
                if reader.is_empty() {
                    break;
                }
            }
            prop_assert!(buf.capacity() <= MAX_FRAME * 2, "a frame allocated {} bytes", buf.capacity());
            Ok(())
        })
        .expect("frame reading held");
}

#[test]
fn peer_lists_parse_to_addresses_that_print_back_or_fail_cleanly() {
    let mut runner = TestRunner::new(cases(1000));
    runner
        .run(&"[0-9a-z.:\\[\\], ]{0,80}", |text| {
            if let Ok(peers) = parse_peers(&text) {
                for p in peers {
                    prop_assert_eq!(parse_peers(&p.to_string()), Ok(vec![p]));
                }
            }
            Ok(())
        })
        .expect("peer list parsing held");
}
