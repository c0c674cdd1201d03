//! The message envelope every peer frame carries: kind, sender, subject id, trace header and
//! an opaque payload, with its binary encoding.
//!
//! Layout (all integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, [`WIRE_VERSION`] |
//! | 1 | kind, a [`MessageKind`] code |
//! | 1 + n | sender node id: length `n` ≤ [`MAX_SENDER`], then UTF-8 |
//! | 8 | subject id: the game id, or the consensus round number |
//! | 2 + t | trace header: length `t` ≤ [`MAX_TRACE`], then opaque bytes |
//! | rest | payload |

/// The envelope format version this crate writes and reads.
pub const WIRE_VERSION: u8 = 1;
/// The longest sender node id, in bytes.
pub const MAX_SENDER: usize = 64;
/// The largest trace header, in bytes: room for the longest
/// [`Carrier`](crate::trace::Carrier) encoding (span context, a 255-byte `tracestate` and
/// 512 bytes of baggage). A longer header is refused when encoding and when decoding.
pub const MAX_TRACE: usize = 1024;

/// What a peer message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// The first frame on a connection: who dials, and the address it listens on (payload).
    Hello,
    /// A game started (subject: game id).
    GameStarted,
    /// A bet was placed (subject: game id).
    Bet,
    /// The dice were rolled (subject: game id).
    Roll,
    /// A roll paid out (subject: game id).
    Payout,
    /// A proposer opens a consensus round (subject: round number).
    Propose,
    /// A vote for a round (subject: round number; payload: the proposer's node id).
    Vote,
    /// The proposer decided a round (subject: round number).
    Commit,
}

impl MessageKind {
    /// Every kind, in code order.
    pub const ALL: [MessageKind; 8] = [
        MessageKind::Hello,
        MessageKind::GameStarted,
        MessageKind::Bet,
        MessageKind::Roll,
        MessageKind::Payout,
        MessageKind::Propose,
        MessageKind::Vote,
        MessageKind::Commit,
    ];

    /// The kind's one-byte wire code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind of a wire code, if any.
    pub fn from_code(code: u8) -> Option<MessageKind> {
        MessageKind::ALL.get(code as usize).copied()
    }

    /// The `bitcraps.message.kind` a span records for this kind.
    pub fn semconv(self) -> crate::semconv::MessageKind {
        use crate::semconv::MessageKind as K;
        match self {
            MessageKind::Hello => K::Heartbeat,
            MessageKind::GameStarted | MessageKind::Payout => K::GameState,
            MessageKind::Bet => K::Bet,
            MessageKind::Roll => K::Roll,
            MessageKind::Propose => K::Proposal,
            MessageKind::Vote => K::Vote,
            MessageKind::Commit => K::Commit,
        }
    }

    /// A short lower-case name, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Hello => "hello",
            MessageKind::GameStarted => "game_started",
            MessageKind::Bet => "bet",
            MessageKind::Roll => "roll",
            MessageKind::Payout => "payout",
            MessageKind::Propose => "propose",
            MessageKind::Vote => "vote",
            MessageKind::Commit => "commit",
        }
    }
}

/// Why bytes are not an envelope, or an envelope cannot be encoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The bytes end before the field.
    #[error("the envelope is truncated in its {0} field")]
    Truncated(&'static str),
    /// An envelope version this crate does not read.
    #[error("unsupported envelope version {0} (this node speaks {WIRE_VERSION})")]
    Version(u8),
    /// A kind code no [`MessageKind`] has.
    #[error("unknown message kind {0}")]
    Kind(u8),
    /// The sender id is longer than [`MAX_SENDER`] or not UTF-8.
    #[error("the sender id is longer than {MAX_SENDER} bytes or not UTF-8")]
    Sender,
    /// The trace header is longer than [`MAX_TRACE`].
    #[error("a trace header of {0} bytes exceeds the {MAX_TRACE}-byte limit")]
    Trace(usize),
}

/// One peer message.
///
/// ```
/// use bitcraps_otel::mesh::{Envelope, MessageKind};
///
/// let bet = Envelope::new(MessageKind::Bet, "node-1", 42).with_payload(b"pass_line:25".to_vec());
/// let bytes = bet.encode()?;
/// assert_eq!(Envelope::decode(&bytes)?, bet);
/// // Garbage is an error, never a panic.
/// assert!(Envelope::decode(b"GET / HTTP/1.1").is_err());
/// # Ok::<(), bitcraps_otel::mesh::EnvelopeError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// What the message is about.
    pub kind: MessageKind,
    /// The sending node's id.
    pub sender: String,
    /// The game id or round number the message is about (0 for a hello).
    pub id: u64,
    /// The trace-context carrier, opaque to the transport; at most [`MAX_TRACE`] bytes.
    pub trace: Vec<u8>,
    /// The message body.
    pub payload: Vec<u8>,
}

impl Envelope {
    /// An envelope with no trace header and no payload.
    pub fn new(kind: MessageKind, sender: impl Into<String>, id: u64) -> Envelope {
        Envelope { kind, sender: sender.into(), id, trace: Vec::new(), payload: Vec::new() }
    }

    /// The same envelope with `payload`.
    pub fn with_payload(mut self, payload: Vec<u8>) -> Envelope {
        self.payload = payload;
        self
    }

    /// The same envelope with the trace header `trace`.
    pub fn with_trace(mut self, trace: Vec<u8>) -> Envelope {
        self.trace = trace;
        self
    }

    /// The wire bytes (a frame body). Fails when the sender or trace header is too long.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        if self.sender.len() > MAX_SENDER {
            return Err(EnvelopeError::Sender);
        }
        if self.trace.len() > MAX_TRACE {
            return Err(EnvelopeError::Trace(self.trace.len()));
        }
        let mut out = Vec::with_capacity(14 + self.sender.len() + self.trace.len() + self.payload.len());
        out.push(WIRE_VERSION);
        out.push(self.kind.code());
        out.push(self.sender.len() as u8);
        out.extend_from_slice(self.sender.as_bytes());
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&(self.trace.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.trace);
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// Reads an envelope from a frame body. Any malformed input is an error.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let mut r = Reader(bytes);
        let version = r.take(1, "version")?[0];
        if version != WIRE_VERSION {
            return Err(EnvelopeError::Version(version));
        }
        let code = r.take(1, "kind")?[0];
        let kind = MessageKind::from_code(code).ok_or(EnvelopeError::Kind(code))?;
        let sender_len = r.take(1, "sender")?[0] as usize;
        if sender_len > MAX_SENDER {
            return Err(EnvelopeError::Sender);
        }
        let sender = std::str::from_utf8(r.take(sender_len, "sender")?).map_err(|_| EnvelopeError::Sender)?;
        let id = r.take(8, "id")?;
        let id = u64::from_be_bytes([id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]]);
        let trace_len = r.take(2, "trace")?;
        let trace_len = u16::from_be_bytes([trace_len[0], trace_len[1]]) as usize;
        if trace_len > MAX_TRACE {
            return Err(EnvelopeError::Trace(trace_len));
        }
        let trace = r.take(trace_len, "trace")?.to_vec();
        Ok(Envelope { kind, sender: sender.to_string(), id, trace, payload: r.0.to_vec() })
    }
}

/// A cursor over the bytes left to decode.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], EnvelopeError> {
        if self.0.len() < n {
            return Err(EnvelopeError::Truncated(field));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_with_trace_and_payload() {
        for kind in MessageKind::ALL {
            let e = Envelope::new(kind, "node-7", u64::MAX - 3)
                .with_trace(vec![b't'; MAX_TRACE])
                .with_payload(b"x".to_vec());
            assert_eq!(Envelope::decode(&e.encode().expect("encode")), Ok(e));
            assert_eq!(MessageKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(MessageKind::from_code(8), None);
    }

    #[test]
    fn oversized_fields_are_refused_both_ways() {
        let e = Envelope::new(MessageKind::Bet, "n", 1).with_trace(vec![0; MAX_TRACE + 1]);
        assert_eq!(e.encode(), Err(EnvelopeError::Trace(MAX_TRACE + 1)));
        assert_eq!(Envelope::new(MessageKind::Bet, "n".repeat(65), 1).encode(), Err(EnvelopeError::Sender));
        let mut bytes = Envelope::new(MessageKind::Bet, "n", 1).encode().expect("encode");
        // The trace length field sits after version, kind, sender (1 + 1) and id.
        bytes[12..14].copy_from_slice(&(MAX_TRACE as u16 + 1).to_be_bytes());
        assert_eq!(Envelope::decode(&bytes), Err(EnvelopeError::Trace(MAX_TRACE + 1)));
    }

    #[test]
    fn every_truncation_and_bad_header_is_an_error() {
        let bytes = Envelope::new(MessageKind::Vote, "node-1", 9).with_trace(b"abc".to_vec()).encode().expect("encode");
        // Every proper prefix that cuts a header field is refused (the payload may be empty).
        for cut in 0..bytes.len() {
            assert!(Envelope::decode(&bytes[..cut]).is_err(), "prefix of {cut} bytes");
        }
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert_eq!(Envelope::decode(&bad), Err(EnvelopeError::Version(9)));
        bad = bytes.clone();
        bad[1] = 200;
        assert_eq!(Envelope::decode(&bad), Err(EnvelopeError::Kind(200)));
        bad = bytes;
        bad[3] = 0xff;
        assert_eq!(Envelope::decode(&bad), Err(EnvelopeError::Sender));
    }
}
