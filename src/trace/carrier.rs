//! [`Carrier`]: the trace context a BitCraps peer message carries in its header, and its
//! compact binary wire format.
//!
//! # Wire format (version 1)
//!
//! All lengths are single bytes; there are no varints and nothing to negotiate.
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, `0x01` |
//! | 1 | flags: bit 0 set when a span context follows; other bits must be 0 |
//! | 16 + 8 + 1 | (bit 0 only) trace id, span id, W3C trace flags (bit 0 = sampled) |
//! | 1 + n | tracestate: length `n` ≤ [`MAX_TRACE_STATE`], then the W3C `tracestate` header text |
//! | 1 | baggage entry count ≤ [`MAX_BAGGAGE_ENTRIES`] |
//! | per entry: 1 + k + 1 + v | key length `k` (1..=[`MAX_BAGGAGE_KEY`]), key, value length `v` (≤ [`MAX_BAGGAGE_VALUE`]), value |
//!
//! Keys are W3C baggage tokens (`[A-Za-z0-9._-]`, plus `!#$%&'*+^`|~`); values are UTF-8.
//! Keys plus values total at most [`MAX_BAGGAGE_BYTES`]. A carrier with a span context and no
//! baggage is 29 bytes; one with the game id and round (`bitcraps.game.id`,
//! `bitcraps.consensus.round`) about 80; none is ever longer than [`MAX_ENCODED_LEN`].
//!
//! Decoding refuses anything else ([`CarrierError`]): a receiver that gets an error uses an
//! empty carrier, and its span becomes a fresh root. Encoding never produces an invalid
//! carrier: a tracestate too long for the format is left out, and baggage past the bounds is
//! dropped entry by entry.

use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use std::str::FromStr as _;

/// Wire format version this code writes and reads.
pub const VERSION: u8 = 1;
/// Longest tracestate carried, in bytes.
pub const MAX_TRACE_STATE: usize = 255;
/// Most baggage entries carried.
pub const MAX_BAGGAGE_ENTRIES: usize = 8;
/// Longest baggage key, in bytes.
pub const MAX_BAGGAGE_KEY: usize = 64;
/// Longest baggage value, in bytes.
pub const MAX_BAGGAGE_VALUE: usize = 128;
/// Most bytes of baggage keys and values together.
pub const MAX_BAGGAGE_BYTES: usize = 512;
/// Longest valid encoding: header, span context, longest tracestate, and baggage at its
/// bounds (keys and values plus two length bytes per entry).
pub const MAX_ENCODED_LEN: usize = 2 + 25 + 1 + MAX_TRACE_STATE + 1 + MAX_BAGGAGE_ENTRIES * 2 + MAX_BAGGAGE_BYTES;

/// Why bytes are not a carrier. Every variant is input the receiver ignores (it starts a
/// fresh root); none is a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    /// Longer than any valid carrier.
    #[error("carrier is {len} bytes, longer than the {MAX_ENCODED_LEN} a valid one can be")]
    TooLong {
        /// Bytes received.
        len: usize,
    },
    /// Ended in the middle of a field.
    #[error("carrier ends inside the {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A version this code does not read.
    #[error("carrier version {0} is not supported (this code reads version {VERSION})")]
    Version(u8),
    /// Unknown flag bits.
    #[error("carrier flags {0:#04x} have unknown bits set")]
    Flags(u8),
    /// An all-zero trace or span id.
    #[error("carrier span context has an all-zero trace or span id")]
    InvalidIds,
    /// A tracestate the W3C grammar refuses.
    #[error("carrier tracestate is not valid W3C tracestate")]
    TraceState,
    /// A baggage entry out of bounds or not valid text.
    #[error("carrier baggage is invalid: {0}")]
    Baggage(&'static str),
    /// Bytes after the last field.
    #[error("carrier has {0} bytes after its last field")]
    Trailing(usize),
}

/// Trace context for one peer message: the sender's span context, its W3C tracestate, and
/// bounded baggage (the correlation ids: game id, consensus round).
///
/// ```
/// use bitcraps_otel::trace::{Carrier, CarrierError};
///
/// // Nothing current: an empty carrier, which continues nothing.
/// let empty = Carrier::inject_current();
/// assert!(empty.span_context().is_none());
/// let bytes = empty.encode();
/// assert_eq!(Carrier::decode(&bytes)?, empty);
///
/// // Hostile input is an error, never a panic; the receiver then starts a fresh root.
/// assert!(Carrier::decode(&[0xff; 4096]).is_err());
/// assert!(Carrier::decode_or_empty(b"\x01\x01garbage").span_context().is_none());
/// # Ok::<(), CarrierError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Carrier {
    span: Option<SpanContext>,
    baggage: Vec<(String, String)>,
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Carrier {
    /// The current context's span and baggage (what a message sent now should carry).
    pub fn inject_current() -> Carrier {
        Context::map_current(Carrier::from_context)
    }

    /// `cx`'s span and baggage. An invalid span context is left out; baggage past the bounds
    /// of the wire format is dropped.
    pub fn from_context(cx: &Context) -> Carrier {
        let sc = cx.span().span_context().clone();
        let span = sc.is_valid().then_some(sc);
        let mut baggage = Vec::new();
        let mut bytes = 0;
        for (k, (v, _)) in cx.baggage().iter() {
            let (k, v) = (k.as_str(), v.as_str());
            let fits = !k.is_empty()
                && k.len() <= MAX_BAGGAGE_KEY
                && v.len() <= MAX_BAGGAGE_VALUE
                && k.bytes().all(is_token_byte)
                && bytes + k.len() + v.len() <= MAX_BAGGAGE_BYTES;
            if fits && baggage.len() < MAX_BAGGAGE_ENTRIES {
                bytes += k.len() + v.len();
                baggage.push((k.to_owned(), v.to_owned()));
            }
        }
        Carrier { span, baggage }
    }

    /// The sender's span context (remote), if the message carried one.
    pub fn span_context(&self) -> Option<&SpanContext> {
        self.span.as_ref()
    }

    /// The baggage entries, as carried.
    pub fn baggage(&self) -> impl Iterator<Item = (&str, &str)> {
        self.baggage.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// One baggage value.
    pub fn baggage_value(&self, key: &str) -> Option<&str> {
        self.baggage.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A context to start a child in: the sender's span as remote parent (its sampling
    /// decision included) and the baggage. Empty when the carrier is.
    pub fn context(&self) -> Context {
        let cx = match &self.span {
            Some(sc) => Context::new().with_remote_span_context(sc.clone()),
            None => Context::new(),
        };
        if self.baggage.is_empty() {
            cx
        } else {
            cx.with_baggage(self.baggage.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())))
        }
    }

    /// The wire bytes (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out);
        out
    }

    /// Appends the wire bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        match &self.span {
            Some(sc) => {
                out.push(1);
                out.extend_from_slice(&sc.trace_id().to_bytes());
                out.extend_from_slice(&sc.span_id().to_bytes());
                out.push(sc.trace_flags().to_u8());
                let state = sc.trace_state().header();
                // A state the format cannot hold is left out rather than cut (a cut one is invalid).
                match u8::try_from(state.len()) {
                    Ok(n) => {
                        out.push(n);
                        out.extend_from_slice(state.as_bytes());
                    }
                    Err(_) => out.push(0),
                }
            }
            None => {
                out.push(0);
                out.push(0);
            }
        }
        // `from_context` and `decode` keep the bounds, so every length fits in a byte.
        out.push(self.baggage.len() as u8);
        for (k, v) in &self.baggage {
            out.push(k.len() as u8);
            out.extend_from_slice(k.as_bytes());
            out.push(v.len() as u8);
            out.extend_from_slice(v.as_bytes());
        }
    }

    /// Parses wire bytes. Anything that is not a valid carrier is an error; see
    /// [`Carrier::decode_or_empty`] for the receiver's usual path.
    pub fn decode(bytes: &[u8]) -> Result<Carrier, CarrierError> {
        if bytes.len() > MAX_ENCODED_LEN {
            return Err(CarrierError::TooLong { len: bytes.len() });
        }
        let mut r = Reader(bytes);
        let version = r.byte("version")?;
        if version != VERSION {
            return Err(CarrierError::Version(version));
        }
        let flags = r.byte("flags")?;
        if flags & !1 != 0 {
            return Err(CarrierError::Flags(flags));
        }
        let mut span = None;
        if flags & 1 == 1 {
            let trace_id = TraceId::from_bytes(r.array("trace id")?);
            let span_id = SpanId::from_bytes(r.array("span id")?);
            let trace_flags = TraceFlags::new(r.byte("trace flags")?);
            if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
                return Err(CarrierError::InvalidIds);
            }
            span = Some((trace_id, span_id, trace_flags));
        }
        let state_len = usize::from(r.byte("tracestate length")?);
        let state_text = std::str::from_utf8(r.take(state_len, "tracestate")?).map_err(|_| CarrierError::TraceState)?;
        let state = if state_text.is_empty() {
            TraceState::default()
        } else {
            TraceState::from_str(state_text).map_err(|_| CarrierError::TraceState)?
        };
        let span = span.map(|(t, s, f)| SpanContext::new(t, s, f, true, state));
        let count = usize::from(r.byte("baggage count")?);
        if count > MAX_BAGGAGE_ENTRIES {
            return Err(CarrierError::Baggage("too many entries"));
        }
        let mut baggage = Vec::with_capacity(count);
        let mut total = 0;
        for _ in 0..count {
            let k_len = usize::from(r.byte("baggage key length")?);
            let k = r.take(k_len, "baggage key")?;
            if k.is_empty() || k.len() > MAX_BAGGAGE_KEY || !k.iter().all(|b| is_token_byte(*b)) {
                return Err(CarrierError::Baggage("a key is empty, too long or not a token"));
            }
            let v_len = usize::from(r.byte("baggage value length")?);
            let v = r.take(v_len, "baggage value")?;
            if v.len() > MAX_BAGGAGE_VALUE {
                return Err(CarrierError::Baggage("a value is too long"));
            }
            total += k.len() + v.len();
            if total > MAX_BAGGAGE_BYTES {
                return Err(CarrierError::Baggage("too many bytes"));
            }
            let v = std::str::from_utf8(v).map_err(|_| CarrierError::Baggage("a value is not UTF-8"))?;
            // Keys are ASCII tokens (checked above).
            let k = String::from_utf8_lossy(k).into_owned();
            baggage.push((k, v.to_owned()));
        }
        if !r.0.is_empty() {
            return Err(CarrierError::Trailing(r.0.len()));
        }
        Ok(Carrier { span, baggage })
    }

    /// [`Carrier::decode`], with anything invalid read as an empty carrier (a fresh root).
    pub fn decode_or_empty(bytes: &[u8]) -> Carrier {
        Carrier::decode(bytes).unwrap_or_default()
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], CarrierError> {
        if self.0.len() < n {
            return Err(CarrierError::Truncated { field });
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn byte(&mut self, field: &'static str) -> Result<u8, CarrierError> {
        Ok(self.take(1, field)?[0])
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CarrierError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }
}
