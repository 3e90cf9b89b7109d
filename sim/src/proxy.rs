//! Forward proxies: hyper HTTP/1.1 servers on simulated hosts that take absolute-form
//! requests (`GET http://origin/a.bin HTTP/1.1`), optionally demand credentials with 407, and
//! pass the request on to the origin over their own connection, streaming the answer back.
//!
//! Like a real authenticating proxy (and as NTLM needs), each client connection keeps its own
//! upstream connection: what one client connection authenticated never serves another.
//! `Proxy-Authorization` is the proxy's own and is not passed on; `Authorization` is the
//! origin's and is.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::rc::Rc;

use bytes::Bytes;
use http::header::{self, HeaderName, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1 as client;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use crate::auth::{Admission, ConnectionAuth, Gatekeeper, identify};
use crate::net::Net;
use crate::trace::{Credentials, Recorder, SimEvent};

type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// The proxy waits this long to connect to the origin, and again for its answer's head,
/// before answering 504 itself (Squid's `connect_timeout` is a minute too). In the simulator
/// a dropped link hangs a stream forever; without this bound the proxy would wait forever.
const UPSTREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Headers that belong to one hop and are never passed on (RFC 9110 §7.6.1), plus the
/// proxy's own credentials.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    PROXY_AUTHORIZATION,
];

pub struct ForwardProxy {
    name: String,
    port: u16,
    gate: Option<RefCell<Gatekeeper>>,
    recorder: Recorder,
    accepted: Cell<u64>,
}

/// The origin connection that serves one client connection.
struct Upstream {
    authority: String,
    /// The proxy's port on this connection: the origin's trace names the proxy by it.
    local_port: Option<u16>,
    sender: client::SendRequest<Incoming>,
    task: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client connection's state.
#[derive(Default)]
struct ClientConnection {
    auth: RefCell<ConnectionAuth>,
    upstream: RefCell<Option<Upstream>>,
}

impl ForwardProxy {
    pub fn new(name: &str, port: u16, gate: Option<Gatekeeper>, recorder: Recorder) -> Self {
        Self {
            name: name.to_owned(),
            port,
            gate: gate.map(RefCell::new),
            recorder,
            accepted: Cell::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Accepts connections forever; the software of the proxy's host.
    pub async fn serve(self: Rc<Self>, net: Net) -> turmoil::Result {
        let listener = turmoil::net::TcpListener::bind(("0.0.0.0", self.port)).await?;
        loop {
            let (stream, peer) = listener.accept().await?;
            let stream = net.wrap(stream, true)?;
            let connection = self.accepted.get() + 1;
            self.accepted.set(connection);
            let (proxy, net) = (self.clone(), net.clone());
            tokio::task::spawn_local(async move {
                let client: Rc<str> = turmoil::reverse_lookup(peer.ip())
                    .unwrap_or_else(|| peer.ip().to_string())
                    .into();
                let state = Rc::new(ClientConnection::default());
                let service = service_fn(move |request| {
                    let (proxy, net, state, client) =
                        (proxy.clone(), net.clone(), state.clone(), client.clone());
                    let who = (client, peer.port(), connection);
                    async move { Ok::<_, Infallible>(proxy.handle(&net, &state, who, request).await) }
                });
                let _ = http1::Builder::new()
                    .timer(crate::clock::HyperTimer::new())
                    .auto_date_header(false)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn handle(
        &self,
        net: &Net,
        state: &ClientConnection,
        (client, port, connection): (Rc<str>, u16, u64),
        request: Request<Incoming>,
    ) -> Response<ProxyBody> {
        let url = request.uri().to_string();
        let method = request.method().as_str().to_owned();
        let mut credentials = Credentials {
            proxy_authorization: request
                .headers()
                .get(PROXY_AUTHORIZATION)
                .map(|value| identify(value.as_bytes())),
            ..Credentials::default()
        };
        let record = |status: u16, credentials: &Credentials| {
            let upstream_port = state.upstream.borrow().as_ref().and_then(|up| up.local_port);
            self.recorder.record(
                &self.name,
                SimEvent::Proxied {
                    client: client.to_string(),
                    port,
                    connection,
                    method: method.clone(),
                    url: url.clone(),
                    status,
                    upstream_port,
                    credentials: Box::new(credentials.clone()),
                },
            );
        };
        if let Some(gate) = &self.gate {
            let header = request.headers().get(PROXY_AUTHORIZATION).map(|v| v.as_bytes());
            let admission =
                gate.borrow_mut().admit(&mut state.auth.borrow_mut(), &method, &url, header);
            match admission {
                Admission::Allowed { user } => credentials.authenticated_as = Some(user),
                Admission::Challenge { values, rejected } => {
                    credentials.rejected = rejected;
                    record(407, &credentials);
                    let mut response = empty(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
                    for value in values {
                        if let Ok(value) = value.parse() {
                            response.headers_mut().append(PROXY_AUTHENTICATE, value);
                        }
                    }
                    return response;
                }
            }
        }
        let response = match forward(net, state, request).await {
            Ok(response) => response.map(BodyExt::boxed_unsync),
            Err(status) => empty(status),
        };
        record(response.status().as_u16(), &credentials);
        response
    }
}

/// Passes an absolute-form request on to its origin, over this client connection's own
/// upstream connection.
async fn forward(
    net: &Net,
    state: &ClientConnection,
    request: Request<Incoming>,
) -> Result<Response<Incoming>, StatusCode> {
    let (mut parts, body) = request.into_parts();
    let authority = match (parts.uri.scheme_str(), parts.uri.authority()) {
        (Some("http"), Some(authority)) => authority.clone(),
        _ => return Err(StatusCode::BAD_REQUEST),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = path.parse::<Uri>().map_err(|_| StatusCode::BAD_REQUEST)?;
    for name in &HOP_BY_HOP {
        parts.headers.remove(name);
    }
    let reusable = state
        .upstream
        .borrow()
        .as_ref()
        .is_some_and(|up| up.authority == authority.as_str() && !up.sender.is_closed());
    if !reusable {
        let host = authority.host().to_owned();
        let port = authority.port_u16().unwrap_or(80);
        let connect = turmoil::net::TcpStream::connect((host.as_str(), port));
        let stream = crate::clock::timeout(UPSTREAM_TIMEOUT, connect)
            .await
            .ok_or(StatusCode::GATEWAY_TIMEOUT)?
            .map_err(|_| StatusCode::BAD_GATEWAY)?;
        let local_port = stream.local_addr().ok().map(|addr| addr.port());
        let stream = net.wrap(stream, false).map_err(|_| StatusCode::BAD_GATEWAY)?;
        let handshake = client::handshake(TokioIo::new(stream));
        let (sender, driver) = crate::clock::timeout(UPSTREAM_TIMEOUT, handshake)
            .await
            .ok_or(StatusCode::GATEWAY_TIMEOUT)?
            .map_err(|_| StatusCode::BAD_GATEWAY)?;
        let task = tokio::task::spawn_local(async move {
            let _ = driver.await;
        });
        *state.upstream.borrow_mut() =
            Some(Upstream { authority: authority.to_string(), local_port, sender, task });
    }
    let Some(mut upstream) = state.upstream.borrow_mut().take() else {
        return Err(StatusCode::BAD_GATEWAY);
    };
    let sent = crate::clock::timeout(UPSTREAM_TIMEOUT, async {
        upstream.sender.ready().await?;
        upstream.sender.send_request(Request::from_parts(parts, body)).await
    })
    .await;
    match sent {
        Some(Ok(response)) => {
            *state.upstream.borrow_mut() = Some(upstream);
            Ok(response)
        }
        // A connection that failed or timed out is not used again.
        Some(Err(_)) => Err(StatusCode::BAD_GATEWAY),
        None => Err(StatusCode::GATEWAY_TIMEOUT),
    }
}

fn empty(status: StatusCode) -> Response<ProxyBody> {
    let body = Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
