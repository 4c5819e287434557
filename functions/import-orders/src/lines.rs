//! Lines of a byte stream through a bounded buffer: a line is assembled only while it is at most
//! `max_line_bytes` long; a longer one is reported by its length and skipped by discarding its
//! bytes up to the next `\n`, so memory stays flat whatever the stream holds (a single 1 GB
//! line included).
//!
//! [`LineReader::next_line`] is cancel safe: all its state lives in the reader (it only awaits
//! `fill_buf`, which is cancel safe, and consumes synchronously), so it can race other futures
//! in a `select!`.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One physical line: the bytes before its `\n` (a `\r` kept), or the length of a line that
/// was longer than the limit.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Text(&'a [u8]),
    /// The line's bytes (without its `\n`) exceeded the limit; `bytes` is its full length.
    TooLong {
        bytes: u64,
    },
}

/// Splits `reader` into lines of at most `max_line_bytes` bytes each.
pub struct LineReader<R> {
    reader: R,
    max_line_bytes: usize,
    /// The line being assembled; its capacity never exceeds `max_line_bytes`.
    line: Vec<u8>,
    /// `Some(bytes so far)` while skipping a too-long line.
    discarding: Option<u64>,
    /// The last line returned borrows `line`: cleared at the next call.
    clear_next: bool,
    lines: u64,
    peak_capacity: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(reader: R, max_line_bytes: usize) -> Self {
        LineReader {
            reader,
            max_line_bytes: max_line_bytes.max(1),
            line: Vec::new(),
            discarding: None,
            clear_next: false,
            lines: 0,
            peak_capacity: 0,
        }
    }

    /// Physical lines returned so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The largest capacity the line buffer ever had (at most `max_line_bytes`).
    pub fn peak_buffer_capacity(&self) -> usize {
        self.peak_capacity
    }

    /// The next line; `None` at the end of the stream. A final line without `\n` counts when
    /// it has at least one byte.
    pub async fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        if self.clear_next {
            self.line.clear();
            self.clear_next = false;
        }
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                // End of the stream: a final line without `\n`, if any.
                if let Some(bytes) = self.discarding.take() {
                    self.lines += 1;
                    return Ok(Some(Line::TooLong { bytes }));
                }
                if self.line.is_empty() {
                    return Ok(None);
                }
                self.lines += 1;
                self.clear_next = true;
                return Ok(Some(Line::Text(&self.line)));
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let piece = &available[..newline.unwrap_or(available.len())];
            let used = piece.len() + usize::from(newline.is_some());
            match &mut self.discarding {
                Some(bytes) => *bytes += piece.len() as u64,
                None if self.line.len() + piece.len() > self.max_line_bytes => {
                    self.discarding = Some((self.line.len() + piece.len()) as u64);
                    self.line.clear();
                }
                None => {
                    let needed = self.line.len() + piece.len();
                    if needed > self.line.capacity() {
                        // Geometric growth, clamped so the buffer never exceeds the limit.
                        let target = (self.line.capacity() * 2)
                            .max(needed)
                            .max(256)
                            .min(self.max_line_bytes);
                        self.line.reserve_exact(target - self.line.len());
                        self.peak_capacity = self.peak_capacity.max(self.line.capacity());
                    }
                    self.line.extend_from_slice(piece);
                }
            }
            self.reader.consume(used);
            if newline.is_some() {
                self.lines += 1;
                if let Some(bytes) = self.discarding.take() {
                    return Ok(Some(Line::TooLong { bytes }));
                }
                self.clear_next = true;
                return Ok(Some(Line::Text(&self.line)));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, BufReader, ReadBuf};

    /// `len` bytes of `fill` then `tail`, generated on the fly (never held in memory).
    pub(crate) struct Generated {
        remaining: u64,
        fill: u8,
        tail: Vec<u8>,
    }

    impl Generated {
        pub(crate) fn new(len: u64, fill: u8, tail: &[u8]) -> Self {
            Generated {
                remaining: len,
                fill,
                tail: tail.to_vec(),
            }
        }
    }

    impl AsyncRead for Generated {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.remaining > 0 {
                let n = (buf.remaining() as u64).min(self.remaining) as usize;
                let fill = self.fill;
                buf.initialize_unfilled_to(n).fill(fill);
                buf.advance(n);
                self.remaining -= n as u64;
            } else if !self.tail.is_empty() {
                let n = buf.remaining().min(self.tail.len());
                let rest = self.tail.split_off(n);
                buf.put_slice(&self.tail);
                self.tail = rest;
            }
            Poll::Ready(Ok(()))
        }
    }

    async fn collect(input: &[u8], max: usize) -> Vec<Result<String, u64>> {
        // A tiny read buffer, so lines span many `fill_buf`s.
        let mut reader = LineReader::new(BufReader::with_capacity(3, input), max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            out.push(match line {
                Line::Text(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
                Line::TooLong { bytes } => Err(bytes),
            });
        }
        assert_eq!(reader.lines(), out.len() as u64);
        assert!(reader.peak_buffer_capacity() <= max);
        out
    }

    #[tokio::test]
    async fn splits_on_newlines_keeping_blank_lines_and_a_final_fragment() {
        assert_eq!(
            collect(b"ab\n\ncd\r\nef", 10).await,
            [
                Ok("ab".into()),
                Ok("".into()),
                Ok("cd\r".into()),
                Ok("ef".into())
            ]
        );
        assert_eq!(collect(b"ab\n", 10).await, [Ok::<_, u64>("ab".to_string())]);
        assert!(collect(b"", 10).await.is_empty());
        assert_eq!(collect(b"\n", 10).await, [Ok::<_, u64>(String::new())]);
    }

    #[tokio::test]
    async fn lines_over_the_limit_are_skipped_with_their_length() {
        assert_eq!(
            collect(b"12345\n123456\nok\n1234567890123", 5).await,
            [Ok("12345".into()), Err(6), Ok("ok".into()), Err(13)]
        );
    }

    #[tokio::test]
    async fn a_multi_megabyte_line_never_grows_the_buffer_past_the_limit() {
        let max = 4096;
        let huge: u64 = 16 * 1024 * 1024;
        let source = Generated::new(huge, b'x', b"\n{\"after\":1}\n");
        let mut reader = LineReader::new(BufReader::with_capacity(64 * 1024, source), max);
        assert_eq!(
            reader.next_line().await.unwrap(),
            Some(Line::TooLong { bytes: huge })
        );
        assert_eq!(
            reader.next_line().await.unwrap(),
            Some(Line::Text(b"{\"after\":1}"))
        );
        assert_eq!(reader.next_line().await.unwrap(), None);
        assert_eq!(reader.lines(), 2);
        assert!(
            reader.peak_buffer_capacity() <= max,
            "{}",
            reader.peak_buffer_capacity()
        );
        assert!(reader.line.capacity() <= max);
    }

    #[tokio::test]
    async fn next_line_is_cancel_safe() {
        // Cancel each call after its first poll a few times: no byte may be lost.
        struct Trickle<'a>(&'a [u8], bool);
        impl AsyncRead for Trickle<'_> {
            fn poll_read(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                // Alternates Pending and one byte.
                self.1 = !self.1;
                if self.1 {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                if let Some((&first, rest)) = self.0.split_first() {
                    buf.put_slice(&[first]);
                    self.0 = rest;
                }
                Poll::Ready(Ok(()))
            }
        }
        let mut reader = LineReader::new(
            BufReader::with_capacity(1, Trickle(b"abc\ndef\n", false)),
            100,
        );
        let mut lines = Vec::new();
        loop {
            // Poll once and drop the call (it may have consumed part of a line), then await.
            let first = futures::poll!(Box::pin(reader.next_line()));
            let line = match first {
                Poll::Ready(line) => line.unwrap().map(|l| format!("{l:?}")),
                Poll::Pending => reader.next_line().await.unwrap().map(|l| format!("{l:?}")),
            };
            match line {
                Some(line) => lines.push(line),
                None => break,
            }
        }
        assert_eq!(
            lines,
            [
                format!("{:?}", Line::Text(b"abc")),
                format!("{:?}", Line::Text(b"def"))
            ]
        );
    }
}
