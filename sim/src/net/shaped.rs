//! `Shaped`: a turmoil TCP stream whose writes cross a [`Link`]. Both ends of every
//! connection are wrapped (turmoil.md §4):
//!
//! - the writing end cuts writes into MSS segments, queues each at the link, and hands it to
//!   a pump task that puts it on the turmoil stream when it arrives at the far end;
//! - the reading end counts the bytes its application has read, which opens the writer's
//!   receive window again. Without the window a slow reader would make the link reserve time
//!   for bytes that are not moving; with it, reading slowly is how a receiver throttles a
//!   sender, as with real TCP.
//!
//! Links are shared by every stream in one direction, across hosts; the simulation runs on
//! one thread, so `Rc<RefCell<..>>` is enough.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use turmoil::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::link::{Admission, ConnId, Link};
use crate::clock::{self, Sleep};

/// The receive window of one direction of one connection: bytes admitted to the link by the
/// writer and bytes read by the reader's application.
#[derive(Debug, Default)]
pub struct Window {
    admitted: Cell<u64>,
    consumed: Cell<u64>,
    writer: RefCell<Option<Waker>>,
}

impl Window {
    fn in_flight(&self) -> u64 {
        self.admitted.get() - self.consumed.get()
    }

    fn consume(&self, bytes: u64) {
        // Bytes that were never shaped (sent before this end existed) do not count.
        self.consumed.set((self.consumed.get() + bytes).min(self.admitted.get()));
        if let Some(waker) = self.writer.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// The simulated time of the host that is running.
pub fn sim_now() -> Duration {
    clock::now()
}

/// A connection's stream, shaped in each direction that crosses a link.
pub struct Shaped {
    read: OwnedReadHalf,
    /// The window of the incoming direction, when it is shaped.
    inbound: Option<Rc<Window>>,
    send: Send,
    /// State shared with the other end, kept alive while this end lives.
    _shared: Rc<dyn std::any::Any>,
}

enum Send {
    Direct(OwnedWriteHalf),
    Shaped(ShapedSend),
}

struct ShapedSend {
    conn: ConnId,
    link: Rc<RefCell<Link>>,
    window: Rc<Window>,
    window_bytes: u64,
    pump: Rc<RefCell<Pump>>,
    /// Our place in the link's line of waiting writers.
    ticket: Option<u64>,
    retry: Sleep,
    /// Segments of one stream never overtake each other, whatever the jitter.
    last_arrival: Duration,
}

/// Segments on their way to the far end, shared with the pump task.
#[derive(Default)]
struct Pump {
    segments: VecDeque<(Duration, Bytes)>,
    /// The application shut its side down: FIN after the last segment.
    shutdown: bool,
    /// The `Shaped` is gone: deliver what is queued, then close.
    abandoned: bool,
    error: Option<io::ErrorKind>,
    waker: Option<Waker>,
}

/// One direction of a connection as the network sees it.
pub struct Direction {
    pub link: Rc<RefCell<Link>>,
    pub window: Rc<Window>,
    pub window_bytes: u64,
}

impl Shaped {
    /// Wraps the two halves of a stream. `outbound` shapes our writes; `inbound` is the
    /// window our reads open, when the other direction is shaped.
    pub fn new(
        conn: ConnId,
        stream: turmoil::net::TcpStream,
        outbound: Option<Direction>,
        inbound: Option<Rc<Window>>,
        shared: Rc<dyn std::any::Any>,
    ) -> Self {
        let (read, write) = stream.into_split();
        let send = match outbound {
            None => Send::Direct(write),
            Some(direction) => {
                let pump = Rc::new(RefCell::new(Pump::default()));
                tokio::task::spawn_local(run_pump(pump.clone(), write));
                Send::Shaped(ShapedSend {
                    conn,
                    link: direction.link,
                    window: direction.window,
                    window_bytes: direction.window_bytes,
                    pump,
                    ticket: None,
                    retry: clock::sleep_until(Duration::ZERO),
                    last_arrival: Duration::ZERO,
                })
            }
        };
        Self { read, inbound, send, _shared: shared }
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.read.local_addr()
    }
}

impl ShapedSend {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        clock::note_activity();
        {
            let pump = self.pump.borrow();
            if let Some(kind) = pump.error {
                return Poll::Ready(Err(kind.into()));
            }
            if pump.shutdown {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
        }
        let now = sim_now();
        let mut written = 0;
        let mut link = self.link.borrow_mut();
        while written < buf.len() {
            let room = self.window_bytes.saturating_sub(self.window.in_flight());
            if room == 0 {
                *self.window.writer.borrow_mut() = Some(cx.waker().clone());
                // Waiting on the reader, not the link: let the next writer go first.
                if let Some(ticket) = self.ticket.take() {
                    link.leave(ticket);
                }
                break;
            }
            let len = (buf.len() - written).min(link.spec().mss).min(room as usize);
            match link.admit(now, self.conn, len, self.ticket, cx.waker()) {
                Admission::Admitted { arrives } => {
                    if let Some(ticket) = self.ticket.take() {
                        link.leave(ticket);
                    }
                    self.last_arrival = arrives.max(self.last_arrival);
                    let segment = Bytes::copy_from_slice(&buf[written..written + len]);
                    self.pump.borrow_mut().segments.push_back((self.last_arrival, segment));
                    self.window.admitted.set(self.window.admitted.get() + len as u64);
                    written += len;
                }
                Admission::Wait { retry_at } => {
                    if self.ticket.is_none() {
                        self.ticket = Some(link.join(cx.waker()));
                    }
                    if let Some(at) = retry_at {
                        self.retry.reset(at.max(now));
                        if Pin::new(&mut self.retry).poll(cx).is_ready() {
                            cx.waker().wake_by_ref();
                        }
                    }
                    break;
                }
            }
        }
        if written == 0 {
            return Poll::Pending;
        }
        if let Some(waker) = self.pump.borrow_mut().waker.take() {
            waker.wake();
        }
        Poll::Ready(Ok(written))
    }
}

impl Drop for ShapedSend {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.link.borrow_mut().leave(ticket);
        }
        let mut pump = self.pump.borrow_mut();
        pump.abandoned = true;
        if let Some(waker) = pump.waker.take() {
            waker.wake();
        }
    }
}

/// Puts each segment on the turmoil stream when it reaches the far end of the link.
async fn run_pump(pump: Rc<RefCell<Pump>>, mut write: OwnedWriteHalf) {
    loop {
        let next = poll_fn(|cx| {
            let mut state = pump.borrow_mut();
            if let Some((arrives, _)) = state.segments.front() {
                Poll::Ready(Some(*arrives))
            } else if state.shutdown || state.abandoned {
                Poll::Ready(None)
            } else {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        let Some(arrives) = next else { break };
        clock::sleep_until(arrives).await;
        clock::note_activity();
        // Everything due by now goes out in this wake-up.
        let now = sim_now();
        loop {
            let segment = {
                let mut state = pump.borrow_mut();
                match state.segments.front() {
                    Some((arrives, _)) if *arrives <= now => state.segments.pop_front(),
                    _ => None,
                }
            };
            let Some((_, bytes)) = segment else { break };
            if let Err(error) = write.write_all(&bytes).await {
                pump.borrow_mut().error = Some(error.kind());
                return;
            }
        }
    }
    if pump.borrow().shutdown {
        let _ = write.shutdown().await;
    }
}

impl AsyncRead for Shaped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        clock::note_activity();
        let before = buf.filled().len();
        let result = Pin::new(&mut self.read).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        if read > 0
            && let Some(window) = &self.inbound
        {
            window.consume(read);
        }
        result
    }
}

impl AsyncWrite for Shaped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.send {
            Send::Direct(write) => {
                clock::note_activity();
                Pin::new(write).poll_write(cx, buf)
            }
            Send::Shaped(send) => send.poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.send {
            Send::Direct(write) => Pin::new(write).poll_flush(cx),
            // A segment handed to the link is on its way, as if in the kernel's buffer.
            Send::Shaped(send) => match send.pump.borrow().error {
                Some(kind) => Poll::Ready(Err(kind.into())),
                None => Poll::Ready(Ok(())),
            },
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.send {
            Send::Direct(write) => Pin::new(write).poll_shutdown(cx),
            Send::Shaped(send) => {
                clock::note_activity();
                let mut pump = send.pump.borrow_mut();
                pump.shutdown = true;
                if let Some(waker) = pump.waker.take() {
                    waker.wake();
                }
                Poll::Ready(Ok(()))
            }
        }
    }
}
