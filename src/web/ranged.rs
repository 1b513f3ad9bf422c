//! Serving video files with HTTP range requests, so players can seek and
//! phones can resume. One range per request (what players send); several
//! ranges get the whole file, as RFC 9110 allows.

use std::io::SeekFrom;
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    Whole,
    Partial { start: u64, end: u64 },
    Unsatisfiable,
}

/// Pure: interprets the header value (or its absence).
pub fn interpret(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(header) = header else {
        return RangeAnswer::Whole;
    };
    let Ok(parsed) = http_range_header::parse_range_header(header) else {
        // A malformed Range header is ignored, per RFC 9110.
        return RangeAnswer::Whole;
    };
    match parsed.validate(len) {
        Ok(ranges) if ranges.len() == 1 => {
            let r = &ranges[0];
            RangeAnswer::Partial {
                start: *r.start(),
                end: *r.end(),
            }
        }
        Ok(_) => RangeAnswer::Whole,
        Err(_) => RangeAnswer::Unsatisfiable,
    }
}

/// An open file to send, with whatever must live as long as the transfer
/// (`K`, e.g. a guard that tells retention the file is in use).
pub struct RangedFile<K: Send + Unpin + 'static = ()> {
    pub file: tokio::fs::File,
    pub len: u64,
    pub content_type: ContentType,
    /// `Some(name)`: sent as an attachment with that file name.
    pub download_name: Option<String>,
    pub keep_alive: K,
}

impl RangedFile<()> {
    pub async fn open(path: &Path, content_type: ContentType) -> std::io::Result<Self> {
        let file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        Ok(Self {
            file,
            len,
            content_type,
            download_name: None,
            keep_alive: (),
        })
    }
}

impl<K: Send + Unpin + 'static> RangedFile<K> {
    pub fn keeping<K2: Send + Unpin + 'static>(self, keep_alive: K2) -> RangedFile<K2> {
        RangedFile {
            file: self.file,
            len: self.len,
            content_type: self.content_type,
            download_name: self.download_name,
            keep_alive,
        }
    }
}

impl<'r, K: Send + Unpin + 'static> Responder<'r, 'static> for RangedFile<K> {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let mut res = Response::build();
        res.header(self.content_type.clone())
            .header(Header::new("Accept-Ranges", "bytes"))
            .header(Header::new("Cache-Control", "no-store"));
        if let Some(name) = &self.download_name {
            res.header(Header::new(
                "Content-Disposition",
                format!("attachment; filename=\"{name}\""),
            ));
        }
        let (start, end) = match interpret(req.headers().get_one("Range"), self.len) {
            RangeAnswer::Whole => (0, self.len.saturating_sub(1)),
            RangeAnswer::Partial { start, end } => {
                res.status(Status::PartialContent).header(Header::new(
                    "Content-Range",
                    format!("bytes {start}-{end}/{}", self.len),
                ));
                (start, end)
            }
            RangeAnswer::Unsatisfiable => {
                return Response::build()
                    .status(Status::RangeNotSatisfiable)
                    .header(Header::new(
                        "Content-Range",
                        format!("bytes */{}", self.len),
                    ))
                    .ok();
            }
        };
        let size = if self.len == 0 { 0 } else { end - start + 1 };
        let body = FileSlice {
            file: self.file,
            start,
            pos: 0,
            size,
            seek: SeekState::Pending(start),
            _keep_alive: self.keep_alive,
        };
        res.sized_body(usize::try_from(size).ok(), body).ok()
    }
}

enum SeekState {
    Pending(u64),
    Started,
    Done,
}

/// `size` bytes of `file` from `start`.
struct FileSlice<K> {
    file: tokio::fs::File,
    start: u64,
    pos: u64,
    size: u64,
    seek: SeekState,
    _keep_alive: K,
}

impl<K: Unpin> FileSlice<K> {
    fn poll_seek_done(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        loop {
            match self.seek {
                SeekState::Done => return Poll::Ready(Ok(())),
                SeekState::Pending(to) => {
                    Pin::new(&mut self.file).start_seek(SeekFrom::Start(to))?;
                    self.seek = SeekState::Started;
                }
                SeekState::Started => {
                    ready!(Pin::new(&mut self.file).poll_complete(cx))?;
                    self.seek = SeekState::Done;
                }
            }
        }
    }
}

impl<K: Unpin> AsyncRead for FileSlice<K> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_seek_done(cx))?;
        let left = this.size - this.pos;
        if left == 0 {
            return Poll::Ready(Ok(()));
        }
        let want = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        // Read into an initialised window of the caller's buffer, then
        // advance it: no copy and no unsafe code.
        let mut window = ReadBuf::new(buf.initialize_unfilled_to(want));
        ready!(Pin::new(&mut this.file).poll_read(cx, &mut window))?;
        let n = window.filled().len();
        buf.advance(n);
        this.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

impl<K: Unpin> AsyncSeek for FileSlice<K> {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> std::io::Result<()> {
        let this = self.get_mut();
        let target = match position {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(n) => this.size as i128 + n as i128,
            SeekFrom::Current(n) => this.pos as i128 + n as i128,
        };
        let target = u64::try_from(target.clamp(0, this.size as i128)).unwrap_or(0);
        this.pos = target;
        this.seek = SeekState::Pending(this.start + target);
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        let this = self.get_mut();
        ready!(this.poll_seek_done(cx))?;
        Poll::Ready(Ok(this.pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interprets_ranges() {
        use RangeAnswer::*;
        assert_eq!(interpret(None, 100), Whole);
        assert_eq!(
            interpret(Some("bytes=0-9"), 100),
            Partial { start: 0, end: 9 }
        );
        assert_eq!(
            interpret(Some("bytes=90-"), 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            interpret(Some("bytes=-10"), 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            interpret(Some("bytes=50-500"), 100),
            Partial { start: 50, end: 99 }
        );
        assert_eq!(interpret(Some("bytes=200-300"), 100), Unsatisfiable);
        assert_eq!(interpret(Some("bytes=0-1,5-6"), 100), Whole);
        assert_eq!(interpret(Some("pages=1"), 100), Whole);
        assert_eq!(interpret(Some("bytes=oops"), 100), Whole);
    }
}
