//! Serving one HTTP/1 connection under the server's limits: the header-read and idle
//! deadlines, shedding, and graceful stop.

use super::table::{Conn, Table};
use crate::config::ServerLimits;
use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use http_body::Frame;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower_service::Service;

/// Request heads larger than this are refused (431); it also bounds each connection's buffer.
const MAX_BUF_SIZE: usize = 32 * 1024;

/// The socket, telling its connection when bytes arrive (the start of a request head).
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.on_bytes(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.on_write();
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.on_write();
        }
        polled
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Marks its connection busy from the parsed request head until the response body is
/// written or dropped.
struct InFlight(Arc<Conn>);

impl InFlight {
    fn new(conn: Arc<Conn>) -> InFlight {
        conn.request_started();
        InFlight(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps its connection busy while it is being written.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `stream` until the client leaves, a deadline passes, the server sheds it, or the
/// server stops; then removes it from `table`.
pub(super) async fn serve(
    stream: TcpStream,
    router: Router,
    limits: ServerLimits,
    conn: Arc<Conn>,
    table: Arc<Table>,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Watched { stream, conn: conn.clone() });
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let in_flight = InFlight::new(conn.clone());
            let mut router = router.clone();
            async move {
                // The router's error type is `Infallible`: every failure is already a response.
                let response = router.call(req.map(Body::new)).await?;
                Ok::<_, Infallible>(response.map(|inner| TrackedBody { inner, _in_flight: in_flight }))
            }
        })
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // half_close: a client that shuts its side after the request (`nc -N`) still gets the answer.
    http.keep_alive(true).half_close(true).max_buf_size(MAX_BUF_SIZE);
    // Boxed, so that dropping it below closes the socket before the table hears of it.
    let mut connection = Box::pin(http.serve_connection(io, service));
    let mut stopping = *stop.borrow();
    if stopping {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        if conn.is_shed() || (stopping && conn.is_idle()) {
            break;
        }
        let expired = tokio::time::sleep_until(conn.deadline(&limits));
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = conn.wake.notified() => {}
            _ = expired => {
                // The phase may have moved on since the deadline was read.
                if conn.deadline(&limits) <= tokio::time::Instant::now() {
                    break;
                }
            }
            changed = stop.changed(), if !stopping => {
                // A dropped sender means the server is gone: stop as well.
                stopping = changed.is_err() || *stop.borrow();
                if stopping {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
    // Dropping the connection closes the socket.
    drop(connection);
    table.remove(&conn);
}
