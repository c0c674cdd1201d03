//! Length-prefixed frames on a byte stream: a 4-byte big-endian length, then that many bytes.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame body accepted or sent, in bytes (64 KiB). A length prefix above it is
/// hostile or garbage: the reader refuses it without allocating.
pub const MAX_FRAME: usize = 64 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream ended cleanly between frames: the peer went away.
    #[error("the connection was closed")]
    Closed,
    /// The length prefix announced more than [`MAX_FRAME`] bytes.
    #[error("a frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    /// A frame of zero bytes (no envelope is that short).
    #[error("an empty frame")]
    Empty,
    /// The stream failed or ended in the middle of a frame.
    #[error("reading or writing a frame failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame body into `buf` (replacing its content).
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut Vec<u8>) -> Result<(), FrameError> {
    let mut len = [0u8; 4];
    // A clean end before the first byte of a frame is a close; one inside a frame is an error.
    let first = reader.read(&mut len[..1]).await?;
    if first == 0 {
        return Err(FrameError::Closed);
    }
    reader.read_exact(&mut len[1..]).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    buf.clear();
    buf.resize(len, 0);
    reader.read_exact(buf).await?;
    Ok(())
}

/// Writes `body` as one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, body: &[u8]) -> Result<(), FrameError> {
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len()));
    }
    if body.is_empty() {
        return Err(FrameError::Empty);
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    writer.write_all(&frame).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_a_clean_end_is_closed() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"hello").await.expect("write");
        write_frame(&mut wire, &[7u8; 300]).await.expect("write");
        let mut reader = &wire[..];
        let mut buf = Vec::new();
        read_frame(&mut reader, &mut buf).await.expect("first");
        assert_eq!(buf, b"hello");
        read_frame(&mut reader, &mut buf).await.expect("second");
        assert_eq!(buf, vec![7u8; 300]);
        assert!(matches!(read_frame(&mut reader, &mut buf).await, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_reading_the_body() {
        let wire = (u32::MAX).to_be_bytes();
        let mut buf = Vec::new();
        let got = read_frame(&mut &wire[..], &mut buf).await;
        assert!(matches!(got, Err(FrameError::TooLarge(n)) if n == u32::MAX as usize), "{got:?}");
        assert!(buf.capacity() < MAX_FRAME);
    }

    #[tokio::test]
    async fn a_truncated_frame_is_an_error_not_a_close() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"hello").await.expect("write");
        wire.truncate(6);
        let got = read_frame(&mut &wire[..], &mut Vec::new()).await;
        assert!(matches!(got, Err(FrameError::Io(_))), "{got:?}");
        let got = read_frame(&mut &[0u8, 0, 0, 0][..], &mut Vec::new()).await;
        assert!(matches!(got, Err(FrameError::Empty)), "{got:?}");
    }

    #[tokio::test]
    async fn writing_more_than_the_limit_is_refused() {
        let got = write_frame(&mut Vec::new(), &vec![0u8; MAX_FRAME + 1]).await;
        assert!(matches!(got, Err(FrameError::TooLarge(_))), "{got:?}");
    }
}
