//! The accept loop: TLS (or plain TCP when `insecure_http`) and HTTP/1.1 keep-alive + HTTP/2
//! (ALPN) via hyper-util's auto builder, serving the axum router.
//!
//! Guarantees: once `shutdown` resolves no new connection is accepted; open connections are told
//! to finish (HTTP/1.1: after the current request; HTTP/2: GOAWAY) and are awaited for at most
//! [`DRAIN_TIMEOUT`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::rt::{Sleep, Timer};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::broken_http::{HeadStart, enveloped};
use crate::config::LimitsSection;

/// Longest wait for in-flight requests at shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
///
/// Connections are accepted here and each is handed, once, to one of the [`Lanes`]: a thread
/// per core with its own single-threaded runtime that serves the connection from then on, so a
/// request's reads, store lookup and answer never wake another thread.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: LimitsSection,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let lanes = Lanes::start(tls, app, limits);
    tokio::pin!(shutdown);
    loop {
        // A free slot first: past the cap, new connections wait in the kernel's backlog while
        // the open ones are served.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Usually EMFILE or a connection reset before accept; keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        lanes.hand(Accepted {
            tcp,
            peer,
            watcher: graceful.watcher(),
            slot,
        });
    }
    drop(listener);
    // No new connections for the lanes.
    drop(lanes);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still busy after the drain timeout");
    }
}

/// An accepted connection on its way to a lane.
struct Accepted {
    tcp: TcpStream,
    peer: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
    slot: OwnedSemaphorePermit,
}

/// One thread per core, each running a single-threaded runtime that serves the connections
/// handed to it (round robin). Measured under P1 load (BENCHMARKS.md): the multi-threaded
/// runtime moved each request's wake-ups between its workers.
struct Lanes {
    senders: Vec<tokio::sync::mpsc::UnboundedSender<Accepted>>,
    next: std::sync::atomic::AtomicUsize,
    /// For serving on the caller's runtime when no lane could start.
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: LimitsSection,
}

impl Lanes {
    fn start(tls: Option<TlsAcceptor>, app: Router, limits: LimitsSection) -> Lanes {
        let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut senders = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Accepted>();
            let (tls, app) = (tls.clone(), app.clone());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let runtime = match runtime {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a connection thread's runtime");
                    continue;
                }
            };
            let started = std::thread::Builder::new()
                .name(format!("callrec-http-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some(a) = rx.recv().await {
                            // Registered with this thread's reactor from here on.
                            match a.tcp.into_std().and_then(TcpStream::from_std) {
                                Ok(tcp) => {
                                    tokio::spawn(serve_connection(
                                        tcp,
                                        a.peer,
                                        tls.clone(),
                                        app.clone(),
                                        limits,
                                        a.watcher,
                                        a.slot,
                                    ));
                                }
                                Err(e) => tracing::warn!(error = %e, "cannot move a connection"),
                            }
                        }
                        // No more connections (`serve` awaits the open ones through its
                        // graceful shutdown). Tasks that requests started on this runtime may
                        // outlive them (a PostgreSQL or Redis connection's driver, spawned where
                        // the pool first connected): keep driving them until the process ends.
                        drop((tls, app));
                        std::future::pending::<()>().await;
                    });
                });
            match started {
                Ok(_) => senders.push(tx),
                Err(e) => tracing::error!(error = %e, "cannot start a connection thread"),
            }
        }
        Lanes {
            senders,
            next: std::sync::atomic::AtomicUsize::new(0),
            tls,
            app,
            limits,
        }
    }

    fn serve_here(&self, a: Accepted) {
        tokio::spawn(serve_connection(
            a.tcp,
            a.peer,
            self.tls.clone(),
            self.app.clone(),
            self.limits,
            a.watcher,
            a.slot,
        ));
    }

    /// Gives the connection to the next lane (or serves it on the caller's runtime if there
    /// is none).
    fn hand(&self, a: Accepted) {
        if self.senders.is_empty() {
            self.serve_here(a);
            return;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        if let Err(tokio::sync::mpsc::error::SendError(a)) = self.senders[i].send(a) {
            self.serve_here(a);
        }
    }
}

/// What a connection's bytes have done, in milliseconds since `epoch` plus one (0: never).
#[derive(Debug)]
struct Activity {
    /// The last read or write that moved bytes.
    last_ms: AtomicU64,
    /// The last write that moved bytes.
    last_write_ms: AtomicU64,
    /// The first read after the last write: when the request now being received began.
    head_start_ms: AtomicU64,
    /// The first read that returned bytes.
    first_read_ms: AtomicU64,
    /// The last request whose head was complete (handed to the service).
    last_request_ms: AtomicU64,
    /// Requests being served (handed to the service, not yet answered).
    active: AtomicU64,
    epoch: Instant,
}

impl Activity {
    fn new() -> Self {
        Activity {
            last_ms: AtomicU64::new(0),
            last_write_ms: AtomicU64::new(0),
            head_start_ms: AtomicU64::new(0),
            first_read_ms: AtomicU64::new(0),
            last_request_ms: AtomicU64::new(0),
            active: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn read(&self) {
        let now = self.now_ms();
        // One task reads a connection: a load, then a store, cannot race.
        let first = self.first_read_ms.load(Ordering::Relaxed) == 0;
        if first {
            self.first_read_ms.store(now, Ordering::Relaxed);
        }
        if first
            || self.head_start_ms.load(Ordering::Relaxed)
                <= self.last_write_ms.load(Ordering::Relaxed)
        {
            self.head_start_ms.store(now, Ordering::Relaxed);
        }
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn wrote(&self) {
        let now = self.now_ms();
        self.last_write_ms.store(now, Ordering::Relaxed);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// When the request being received began, if input has come in since the last answer.
    fn unanswered_since(&self) -> Option<Instant> {
        let start = self.head_start_ms.load(Ordering::Relaxed);
        (start != 0 && start > self.last_write_ms.load(Ordering::Relaxed))
            .then(|| self.epoch + Duration::from_millis(start - 1))
    }

    /// A request's head is complete: it is being served until the guard is dropped (when its
    /// answer's head is ready, or the request is abandoned).
    fn begin(self: &Arc<Self>) -> Serving {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.last_request_ms.store(self.now_ms(), Ordering::Relaxed);
        Serving(Arc::clone(self))
    }

    /// How long ago `at` (a stored stamp; 0: never, counted from the connection's start) was.
    fn since(&self, at: &AtomicU64) -> Duration {
        let at = at.load(Ordering::Relaxed).saturating_sub(1);
        self.epoch
            .elapsed()
            .saturating_sub(Duration::from_millis(at))
    }
}

/// A request being served (see [`Activity::begin`]).
struct Serving(Arc<Activity>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection's stream, counting what moves through it into an [`Activity`], and giving
/// hyper's own answers to unreadable HTTP/1 heads the API's envelope ([`crate::broken_http`]).
struct Counted<T> {
    inner: T,
    activity: Arc<Activity>,
    /// How the request being received began.
    start: HeadStart,
    /// Whether an answer was written since that request began: the next bytes begin another.
    answered: bool,
    /// A replaced answer still to be written, and how much of it is.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> Counted<T> {
    fn new(inner: T, activity: Arc<Activity>) -> Self {
        Counted {
            inner,
            activity,
            start: HeadStart::default(),
            answered: true,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> Counted<T> {
    /// Writes what is left of a replaced answer.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
            self.activity.wrote();
        }
        self.pending = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// If `data` is hyper's automatic answer to a request of an API generation, takes it (all of
    /// it, as written) and queues the enveloped answer instead.
    fn replace(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Option<usize> {
        // After an answer with no read since, hyper is parsing a request pipelined behind the
        // answered one, in bytes read with it: where that request began is not known here, so
        // hyper's answer stays as it is.
        if self.answered || !data.starts_with(b"HTTP/1.1 4") {
            return None;
        }
        let answer = enveloped(data, self.start.generation()?)?;
        self.pending = answer;
        self.sent = 0;
        self.answered = true;
        // What cannot be written now is written by the next write, flush or shutdown.
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            tracing::debug!(error = %e, "writing an enveloped answer failed");
        }
        Some(data.len())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
            let this = &mut *self;
            if this.answered {
                this.answered = false;
                this.start.reset();
            }
            if !this.start.is_full() {
                this.start.push(&buf.filled()[before..]);
            }
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        if let Some(n) = self.replace(cx, data) {
            return Poll::Ready(Ok(n));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
            self.answered = true;
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        // hyper writes an automatic answer's head as one piece.
        let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (nonempty.next(), nonempty.next())
            && let Some(n) = self.replace(cx, only)
        {
            return Poll::Ready(Ok(n));
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
            self.answered = true;
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The timer hyper's HTTP/1 side uses for its header-read time-out, made to measure from the
/// head's **first byte** rather than from when the connection started waiting: a kept-alive
/// connection may then stay silent up to the idle time-out (the watchdog's business), while a
/// request head that has begun must be complete within `head`.
struct HeadTimer {
    activity: Arc<Activity>,
    head: Duration,
}

impl Timer for HeadTimer {
    fn sleep(&self, _duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now())
    }

    fn sleep_until(&self, _deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(HeadSleep {
            activity: Arc::clone(&self.activity),
            head: self.head,
            armed: false,
            sleep: Box::pin(tokio::time::sleep(Duration::from_secs(86_400))),
        })
    }
}

/// Fires `head` after the request being received began; never while no input is waiting.
struct HeadSleep {
    activity: Arc<Activity>,
    head: Duration,
    armed: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.armed
            && let Some(since) = self.activity.unanswered_since()
        {
            // hyper polls this with every read of the head, so a head's first byte is seen
            // at once (also one read before hyper started waiting for it).
            let at = tokio::time::Instant::from_std(since + self.head);
            self.armed = true;
            self.sleep.as_mut().reset(at);
        }
        if self.armed {
            self.sleep.as_mut().poll(cx)
        } else {
            let _ = self.sleep.as_mut().poll(cx);
            Poll::Pending
        }
    }
}

impl Sleep for HeadSleep {}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: LimitsSection,
    watcher: hyper_util::server::graceful::Watcher,
    _slot: OwnedSemaphorePermit,
) {
    let ip = peer.ip();
    let activity = Arc::new(Activity::new());
    let seen = Arc::clone(&activity);
    let service = TowerToHyperService::new(tower::service_fn(
        move |mut req: hyper::Request<hyper::body::Incoming>| {
            let serving = seen.begin();
            req.extensions_mut().insert(crate::pipeline::ClientAddr(ip));
            let answer = tower::ServiceExt::oneshot(app.clone(), req);
            async move {
                let answer = answer.await;
                drop(serving);
                answer
            }
        },
    ));
    let head = Duration::from_millis(limits.header_read_timeout_ms);
    let idle = Duration::from_secs(limits.idle_timeout_secs);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(HeadTimer {
            activity: Arc::clone(&activity),
            head,
        })
        .header_read_timeout(head);
    builder
        .http2()
        .max_concurrent_streams(limits.h2_max_streams)
        // Bounds on what one connection can make us hold or do (rapid reset, header floods).
        .max_header_list_size(64 * 1024)
        .max_pending_accept_reset_streams(Some(64));
    let watchdog = watchdog(Arc::clone(&activity), head, idle);
    let result = match tls {
        None => {
            let io = Counted::new(tcp, Arc::clone(&activity));
            let conn = builder.serve_connection(TokioIo::new(io), service);
            let conn = watcher.watch(conn.into_owned());
            tokio::select! {
                r = conn => r,
                () = watchdog => return,
            }
        }
        Some(acceptor) => {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            // The handshake's bytes do not count as the first request's.
            activity.touch();
            let io = Counted::new(stream, Arc::clone(&activity));
            let conn = builder.serve_connection(TokioIo::new(io), service);
            let conn = watcher.watch(conn.into_owned());
            tokio::select! {
                r = conn => r,
                () = watchdog => {
                    tracing::debug!(%peer, "connection closed: silent too long");
                    return;
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Resolves when the connection should be dropped:
/// - no byte at all within `head` of its start (a client that connects and says nothing);
/// - no complete request head within `head` of its first byte (HTTP/2 frames trickled so that
///   bytes keep moving but no request ever begins; HTTP/1 heads are timed by hyper as well);
/// - no byte either way for `idle`;
/// - no request being served, none begun and nothing written for `idle` (bytes trickled in
///   forever on a connection that asks for nothing; a long answer, such as an export, keeps
///   writing).
async fn watchdog(activity: Arc<Activity>, head: Duration, idle: Duration) {
    let tick = (head.min(idle) / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        tokio::time::sleep(tick).await;
        let silent = activity.since(&activity.last_ms);
        let read_any = activity.first_read_ms.load(Ordering::Relaxed) != 0;
        let requested = activity.last_request_ms.load(Ordering::Relaxed) != 0;
        if !read_any && silent >= head {
            return;
        }
        if read_any && !requested && activity.since(&activity.first_read_ms) >= head {
            return;
        }
        if silent >= idle {
            return;
        }
        if activity.active.load(Ordering::Relaxed) == 0
            && activity.since(&activity.last_request_ms) >= idle
            && activity.since(&activity.last_write_ms) >= idle
        {
            return;
        }
    }
}
