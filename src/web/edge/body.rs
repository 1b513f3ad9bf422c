//! The request body on its way through the edge: deadlines for a slow
//! client, and a cap at the kiosk's own limit so the kiosk's answer to an
//! oversized body is not lost.
//!
//! Rocket stops reading a body at its limit, answers and closes; closing
//! with bytes unread resets the loopback hop. Were the edge still writing
//! the rest then, hyper would report the broken pipe and drop the answer
//! it had not yet read (a guest's 30 MB photo got a 502 now and then). So
//! the edge writes no more than the kiosk reads and then waits for the
//! answer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::BoxError;

/// The most a listener reads of a request body, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyCaps {
    /// A `multipart/form-data` body: a photo upload.
    pub multipart: u64,
    /// Any other body: forms, JSON, Stripe's events.
    pub other: u64,
}

impl BodyCaps {
    /// The cap for a request of this `Content-Type`.
    pub fn for_type(&self, content_type: Option<&str>) -> u64 {
        let multipart = content_type.is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"))
        });
        if multipart {
            self.multipart
        } else {
            self.other
        }
    }
}

/// Why passing a request on failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The client's body hit a deadline.
    Slow,
    /// The body went past its cap and the kiosk did not answer.
    TooLarge,
    /// The kiosk closed the hop before reading the whole body: it refused
    /// the request without reading it.
    Refused,
    /// Anything else: the kiosk could not answer.
    Other,
}

/// Names the failure in `e`'s chain of causes.
pub fn failure(e: &(dyn std::error::Error + 'static)) -> Failure {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<BodyTimeout>() {
            return Failure::Slow;
        }
        if c.is::<OverCap>() {
            return Failure::TooLarge;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if matches!(io.kind(), BrokenPipe | ConnectionReset) {
                return Failure::Refused;
            }
        }
        cause = c.source();
    }
    Failure::Other
}

#[derive(Debug, thiserror::Error)]
#[error("the request body {0}")]
struct BodyTimeout(&'static str);

#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than the kiosk reads")]
struct OverCap;

/// A request body that fails once it has been silent for `idle` or has
/// taken `total` in all, so a trickling upload cannot hold a connection.
pub struct Deadlines {
    inner: Incoming,
    idle: Duration,
    quiet: Pin<Box<Sleep>>,
    whole: Pin<Box<Sleep>>,
}

impl Deadlines {
    pub fn new(inner: Incoming, idle: Duration, total: Duration) -> Self {
        Self {
            inner,
            idle,
            quiet: Box::pin(tokio::time::sleep(idle)),
            whole: Box::pin(tokio::time::sleep(total)),
        }
    }
}

impl Body for Deadlines {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.whole.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimeout("took too long").into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = Instant::now() + this.idle;
                this.quiet.as_mut().reset(next);
                Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
            }
            Poll::Pending if this.quiet.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Some(Err(BodyTimeout("stalled").into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A body passed on up to `cap` bytes and one more (Rocket reads one byte
/// past its limit to learn that the body was cut); past that, it is held
/// (no more bytes, no end) for `hold`, the kiosk's time to answer, then
/// fails.
pub struct Capped<B> {
    inner: B,
    left: u64,
    hold: Duration,
    held: Option<Pin<Box<Sleep>>>,
}

impl<B> Capped<B> {
    pub fn new(inner: B, cap: u64, hold: Duration) -> Self {
        Self {
            inner,
            left: cap.saturating_add(1),
            hold,
            held: None,
        }
    }
}

impl<B> Body for Capped<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.held.is_none() {
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => frame,
                other => return other,
            };
            let Some(data) = frame.data_ref() else {
                return Poll::Ready(Some(Ok(frame)));
            };
            let len = data.len() as u64;
            if len <= this.left {
                this.left -= len;
                return Poll::Ready(Some(Ok(frame)));
            }
            // Over the cap: pass on what still fits, then hold.
            let fits = data.slice(..usize::try_from(this.left).unwrap_or(usize::MAX));
            this.left = 0;
            let until = Instant::now() + this.hold;
            this.held = Some(Box::pin(tokio::time::sleep_until(until)));
            if !fits.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(fits))));
            }
        }
        match this.held.as_mut().map(|h| h.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Some(Err(OverCap.into()))),
            _ => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // The length the client declared is what the kiosk is told.
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;

    /// A client's body arriving in these chunks.
    struct Chunks(VecDeque<&'static [u8]>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(
                self.0
                    .pop_front()
                    .map(|c| Ok(Frame::data(Bytes::from_static(c)))),
            )
        }
    }

    fn chunks(parts: &[&'static [u8]]) -> Chunks {
        Chunks(parts.iter().copied().collect())
    }

    #[test]
    fn uploads_get_the_upload_cap_and_everything_else_the_small_one() {
        let caps = BodyCaps {
            multipart: 100,
            other: 10,
        };
        let upload = "multipart/form-data; boundary=x";
        assert_eq!(caps.for_type(Some(upload)), 100);
        assert_eq!(caps.for_type(Some("Multipart/Form-Data")), 100);
        assert_eq!(caps.for_type(Some("application/json")), 10);
        assert_eq!(caps.for_type(Some("multipart/mixed")), 10);
        assert_eq!(caps.for_type(None), 10);
    }

    #[tokio::test]
    async fn a_body_within_its_cap_passes_whole() {
        let body = Capped::new(chunks(&[b"abc", b"def"]), 6, Duration::from_secs(1));
        let all = body.collect().await.expect("whole").to_bytes();
        assert_eq!(&all[..], b"abcdef");
    }

    #[tokio::test]
    async fn past_its_cap_a_body_passes_the_cap_then_holds_then_fails() {
        let mut body = Capped::new(
            chunks(&[b"abc", b"defgh", b"ij"]),
            5,
            Duration::from_millis(40),
        );
        let mut got = Vec::new();
        let started = Instant::now();
        let end = loop {
            match body.frame().await {
                Some(Ok(f)) => got.extend_from_slice(f.data_ref().expect("data")),
                Some(Err(e)) => break e,
                None => panic!("a capped body must not end"),
            }
        };
        assert_eq!(got, b"abcdef");
        assert!(started.elapsed() >= Duration::from_millis(40));
        assert_eq!(failure(end.as_ref()), Failure::TooLarge);
    }

    #[test]
    fn failures_are_told_apart_by_their_causes() {
        let slow: BoxError = BodyTimeout("stalled").into();
        assert_eq!(failure(slow.as_ref()), Failure::Slow);
        let pipe: BoxError = std::io::Error::from(std::io::ErrorKind::BrokenPipe).into();
        assert_eq!(failure(pipe.as_ref()), Failure::Refused);
        let other: BoxError = std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
        assert_eq!(failure(other.as_ref()), Failure::Other);
    }
}
