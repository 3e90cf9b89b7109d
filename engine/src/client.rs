//! One transfer's HTTP client: sends a request directly or through the job's proxy, answers
//! 401 and 407 challenges, follows redirects, and keeps one connection open between
//! requests. IO only: the route is `core::proxy`'s, the answers `core::auth`'s, the redirect
//! rules `core::http`'s.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, HOST, IF_RANGE,
    PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, RANGE, USER_AGENT, WWW_AUTHENTICATE,
};
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use crate::config::USER_AGENT as USER_AGENT_VALUE;
use crate::core::auth::challenge::{Challenge, parse_challenges};
use crate::core::auth::exchange::{Authenticator, Keys};
use crate::core::auth::policy::Situation;
use crate::core::auth::{AuthScheme, AuthTarget};
use crate::core::defect::Defect;
use crate::core::error::{TransferError, TransportFailure};
use crate::core::event::Event;
use crate::core::hresult::Hresult;
use crate::core::http::{RemoteUrl, resend_on_new_connection};
use crate::core::job::{JobAccess, JobId};
use crate::core::proxy::{Route, route};
use crate::core::request::{
    AUTH_ROUNDS_MAX, Redirect, auth_failure, challenged, credentials_reach, follow_redirect,
};
use crate::engine::{Inner, StopSignal};
use crate::env::Env;

mod pool;

pub(crate) use self::pool::Pool;

/// The body of a challenge or redirect is read and thrown away so the connection can carry
/// the next request; a longer one is not worth the wait, and the connection is dropped.
const DISCARDED_BODY_MAX: u64 = 64 << 10;

/// Why a transfer step did not finish.
pub(crate) enum Interrupt {
    Stopped,
    Failed(TransferError),
}

impl From<TransferError> for Interrupt {
    fn from(error: TransferError) -> Self {
        Self::Failed(error)
    }
}

/// One HTTP/1.1 connection; its background task ends when this is dropped.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    task: JoinHandle<()>,
    /// Where it goes: the server, or the proxy.
    peer: (String, u16),
    local_port: Option<u16>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A connection wedged by a dropped link never ends on its own.
        self.task.abort();
    }
}

/// What one request needs besides the method.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ask {
    pub(crate) range: Option<String>,
    pub(crate) if_range: Option<String>,
    /// Further headers, in order (the upload protocol's `BITS-*` headers).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The request body; a `BITS_POST` always says its length, even 0 (spec §8.1).
    pub(crate) body: Bytes,
}

pub(crate) struct Client<E: Env> {
    inner: Rc<Inner<E>>,
    stop: Rc<StopSignal>,
    job: JobId,
    file: usize,
    access: JobAccess,
    /// The job's remote name: server credentials belong to its host and port alone.
    origin: RemoteUrl,
    /// Where requests go now: the remote name, or where its redirects led.
    url: RemoteUrl,
    connection: Option<Connection>,
    proxy_auth: Authenticator,
    server_auth: Authenticator,
    /// From the last request sent to its response head: a delay sample for the pacer.
    last_round_trip: Option<Duration>,
    /// The background controller's probe connection, reported as such.
    probe: bool,
}

impl<E: Env> Client<E> {
    pub(crate) fn new(
        inner: Rc<Inner<E>>,
        stop: Rc<StopSignal>,
        (job, file): (JobId, usize),
        access: JobAccess,
        origin: RemoteUrl,
        probe: bool,
    ) -> Self {
        Self {
            inner,
            stop,
            job,
            file,
            access,
            url: origin.clone(),
            origin,
            connection: None,
            proxy_auth: Authenticator::new(AuthTarget::Proxy),
            server_auth: Authenticator::new(AuthTarget::Server),
            last_round_trip: None,
            probe,
        }
    }

    pub(crate) fn last_round_trip(&self) -> Option<Duration> {
        self.last_round_trip
    }

    /// Drops the connection; the next request opens a new one.
    pub(crate) fn forget_connection(&mut self) {
        self.connection = None;
    }

    /// Hands the connection to the pool once every body on it was read to the end.
    pub(crate) fn release(mut self) {
        if let Some(connection) = self.connection.take()
            && !self.probe
            && !connection.sender.is_closed()
        {
            self.inner.pool.put(&self.access.owner, connection, self.inner.now());
        }
    }

    /// Sends one request and returns the final response head: challenges are answered and
    /// redirects followed on the way. A connection that failed or timed out is never used
    /// again: it may still be waiting for an answer that will never come.
    pub(crate) async fn send(
        &mut self,
        method: Method,
        ask: &Ask,
    ) -> Result<Response<Incoming>, Interrupt> {
        let sent = self.send_following(method, ask).await;
        if sent.is_err() {
            self.connection = None;
        }
        sent
    }

    async fn send_following(
        &mut self,
        method: Method,
        ask: &Ask,
    ) -> Result<Response<Incoming>, Interrupt> {
        let (mut rounds, mut redirects) = (0, 0);
        let mut pending: [Option<String>; 2] = [None, None];
        loop {
            let route =
                route(&self.access.proxy, &self.inner.config.proxy_environment, &self.url.host)?;
            let response = self.send_once(&method, ask, &route, &mut pending).await?;
            let status = response.status().as_u16();
            if let Some(target) = challenged(status, matches!(route, Route::Proxy { .. })) {
                if target == AuthTarget::Server {
                    // The request passed the proxy: its answer was accepted, and goes again.
                    self.proxy_auth.on_accepted();
                }
                rounds += 1;
                let header = self.answer(target, &route, &method, response.headers(), rounds)?;
                self.discard_body(response).await?;
                pending[slot(target)] = Some(header);
                continue;
            }
            match follow_redirect(status, response.headers(), &self.url, redirects) {
                Redirect::None => {
                    self.proxy_auth.on_accepted();
                    self.server_auth.on_accepted();
                    return Ok(response);
                }
                Redirect::To(location) => {
                    redirects += 1;
                    self.proxy_auth.on_accepted();
                    self.discard_body(response).await?;
                    let redirected = Event::Redirected {
                        job: self.job,
                        file: self.file,
                        status,
                        location: format!(
                            "http://{}{}",
                            location.authority, location.path_and_query
                        ),
                    };
                    if !self.probe {
                        self.inner.publish(redirected).await;
                    }
                    self.url = location;
                    pending[slot(AuthTarget::Server)] = None;
                }
                Redirect::Refused(error) => return Err(error.into()),
            }
        }
    }

    /// The answer to a 401 or 407, or the job's error when there is none.
    fn answer(
        &mut self,
        target: AuthTarget,
        route: &Route,
        method: &Method,
        headers: &HeaderMap,
        rounds: u32,
    ) -> Result<String, TransferError> {
        let challenge_header =
            if target == AuthTarget::Proxy { PROXY_AUTHENTICATE } else { WWW_AUTHENTICATE };
        let challenges: Vec<Challenge> = parse_challenges(
            headers.get_all(challenge_header).iter().map(|value| value.as_bytes()),
        );
        let whom = match (target, route) {
            (AuthTarget::Proxy, Route::Proxy { host, port }) => format!("proxy {host}:{port}"),
            _ => format!("server {}", self.url.authority),
        };
        if rounds > AUTH_ROUNDS_MAX {
            return Err(auth_failure(target, &whom, "too many challenges for one request"));
        }
        if target == AuthTarget::Server && !self.credentials_reach() {
            return Err(auth_failure(
                target,
                &whom,
                &format!(
                    "the job's server credentials are for {}, not for this host a redirect led to",
                    self.origin.authority
                ),
            ));
        }
        if challenges.is_empty() {
            return Err(auth_failure(target, &whom, "no challenge this client can read"));
        }
        let uri = self.request_target(route);
        let keys = keys(&self.inner, &self.access, target);
        let authenticator = match target {
            AuthTarget::Proxy => &mut self.proxy_auth,
            AuthTarget::Server => &mut self.server_auth,
        };
        authenticator
            .on_challenge(&keys, &challenges, method.as_str(), &uri)
            .map_err(|why| auth_failure(target, &whom, &why))
    }

    /// Whether the job's server credentials may go where requests go now.
    fn credentials_reach(&self) -> bool {
        credentials_reach(&self.origin, &self.url)
            || self.inner.config.defects.contains(Defect::CredentialsAcrossRedirect)
    }

    /// The request line's target: origin-form to a server, absolute-form to a proxy.
    fn request_target(&self, route: &Route) -> String {
        match route {
            Route::Direct => self.url.path_and_query.clone(),
            Route::Proxy { .. } => {
                format!("http://{}{}", self.url.authority, self.url.path_and_query)
            }
        }
    }

    /// One request on the right connection, with whatever answers are pending or may go at
    /// once. A request that dies on a reused connection before any answer is sent once
    /// more on a fresh one: HEAD and GET are idempotent.
    async fn send_once(
        &mut self,
        method: &Method,
        ask: &Ask,
        route: &Route,
        pending: &mut [Option<String>; 2],
    ) -> Result<Response<Incoming>, Interrupt> {
        let peer = match route {
            Route::Direct => (self.url.host.clone(), self.url.port),
            Route::Proxy { host, port } => (host.clone(), *port),
        };
        let mut resent = false;
        loop {
            let fresh = self.ensure_connection(&peer).await?;
            if fresh {
                // Connection-bound answers (NTLM) die with the connection they belong to;
                // Basic and Digest answers go on the new one.
                for (slot, auth) in
                    [&mut self.proxy_auth, &mut self.server_auth].into_iter().enumerate()
                {
                    if auth.on_new_connection() {
                        pending[slot] = None;
                    }
                }
            }
            let uri = self.request_target(route);
            let mut headers = [None, None];
            let mut answers = [None, None];
            if matches!(route, Route::Proxy { .. }) {
                answers[0] = pending[0].take();
                headers[0] = answers[0].clone().or_else(|| {
                    let keys = keys(&self.inner, &self.access, AuthTarget::Proxy);
                    self.proxy_auth.header(&keys, method.as_str(), &uri)
                });
            }
            if self.credentials_reach() {
                // Kept pending until the server judges it: a 407 means only the proxy did.
                answers[1] = pending[1].clone();
                headers[1] = answers[1].clone().or_else(|| {
                    let keys = keys(&self.inner, &self.access, AuthTarget::Server);
                    self.server_auth.header(&keys, method.as_str(), &uri)
                });
            }
            let request = self.request(method, &uri, ask, &headers)?;
            self.publish_request(method, ask, &headers).await;
            match self.exchange(request).await? {
                Ok(response) => {
                    self.publish_response(&response).await;
                    return Ok(response);
                }
                Err(error) if !resent && resend_on_new_connection(!fresh, failure_of(&error)) => {
                    self.connection = None;
                    resent = true;
                    // The answers go again; the fresh connection drops those bound to this one.
                    *pending = answers;
                }
                Err(error) => return Err(hyper_error(error).into()),
            }
        }
    }

    /// Sends a built request on the open connection and waits for the response head.
    async fn exchange(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<Result<Response<Incoming>, hyper::Error>, Interrupt> {
        let config = &self.inner.config;
        let (send_timeout, receive_timeout) = (config.send_timeout, config.receive_timeout);
        let open = self.connection.as_mut().expect("ensure_connection opened one");
        let ready = bounded(
            &self.inner.env,
            &self.stop,
            send_timeout,
            "wait for the connection",
            open.sender.ready(),
        )
        .await?;
        if let Err(error) = ready {
            return Ok(Err(error));
        }
        let answer = open.sender.send_request(request);
        let sent_at = self.inner.now();
        let answer =
            bounded(&self.inner.env, &self.stop, receive_timeout, "wait for the response", answer)
                .await?;
        self.last_round_trip = Some(self.inner.now() - sent_at);
        Ok(answer)
    }

    /// Opens a connection to `peer` unless an open one goes there; says whether it is new.
    async fn ensure_connection(&mut self, peer: &(String, u16)) -> Result<bool, Interrupt> {
        if let Some(open) = &self.connection
            && open.peer == *peer
            && !open.sender.is_closed()
        {
            return Ok(false);
        }
        self.connection = None;
        if !self.probe {
            let shared = self.inner.config.defects.contains(Defect::SharedConnections);
            let pooled = self.inner.pool.take(&self.access.owner, peer, self.inner.now(), shared);
            if pooled.is_some() {
                self.connection = pooled;
                return Ok(false);
            }
        }
        self.connection = Some(self.connect(peer).await?);
        Ok(true)
    }

    async fn connect(&self, (host, port): &(String, u16)) -> Result<Connection, Interrupt> {
        let (job, file, port) = (self.job, self.file, *port);
        let connecting = Event::Connecting { job, file, host: host.clone(), port };
        if !self.probe {
            self.inner.publish(connecting).await;
        }
        let config = &self.inner.config;
        let stream = bounded(
            &self.inner.env,
            &self.stop,
            config.connect_timeout,
            "connect",
            self.inner.env.connect(host, port),
        )
        .await?;
        let stream = stream.map_err(|error| {
            let failure = match error.kind() {
                std::io::ErrorKind::NotFound => TransportFailure::NameNotResolved,
                std::io::ErrorKind::TimedOut => TransportFailure::TimedOut,
                _ => TransportFailure::Refused,
            };
            failure.into_error(format!("connect to {host}:{port}: {error}"))
        })?;
        let local_port = self.inner.env.local_port(&stream);
        let connected = Event::Connected { job, file, local_port, probe: self.probe };
        self.inner.publish(connected).await;
        let handshake = http1::handshake(TokioIo::new(stream));
        let (sender, driver) =
            bounded(&self.inner.env, &self.stop, config.send_timeout, "HTTP handshake", handshake)
                .await?
                .map_err(hyper_error)?;
        let task = tokio::task::spawn_local(async move {
            // Errors surface on the request futures; the task itself has nothing to report.
            let _ = driver.await;
        });
        Ok(Connection { sender, task, peer: (host.clone(), port), local_port })
    }

    fn request(
        &self,
        method: &Method,
        uri: &str,
        ask: &Ask,
        [proxy_authorization, authorization]: &[Option<String>; 2],
    ) -> Result<Request<Full<Bytes>>, Interrupt> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(HOST, &self.url.authority)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(ACCEPT_ENCODING, "identity");
        if let Some(range) = &ask.range {
            request = request.header(RANGE, range);
            if let Some(validator) = &ask.if_range {
                request = request.header(IF_RANGE, validator);
            }
        }
        if let Some(value) = proxy_authorization {
            request = request.header(PROXY_AUTHORIZATION, value);
        }
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        for (name, value) in &ask.headers {
            request = request.header(*name, value);
        }
        if method.as_str() == crate::core::upload::METHOD {
            request = request.header(CONTENT_LENGTH, ask.body.len());
        }
        request.body(Full::new(ask.body.clone())).map_err(|error| {
            // The message names the header that failed, never its value.
            Interrupt::Failed(TransferError::remote(
                Hresult::E_INVALIDARG,
                format!("cannot build a request for this remote name: {error}"),
            ))
        })
    }

    async fn publish_request(&self, method: &Method, ask: &Ask, headers: &[Option<String>; 2]) {
        if self.probe {
            // Probes are many and say nothing about the transfer; their connection is
            // reported (as a probe) so that traffic on it can be told apart.
            return;
        }
        let scheme = |value: &Option<String>| {
            let token = value.as_deref()?.split(' ').next()?;
            AuthScheme::from_token(token)
        };
        self.inner
            .publish(Event::Request {
                job: self.job,
                file: self.file,
                method: method_name(method),
                range: ask.range.clone(),
                local_port: self.connection.as_ref().and_then(|open| open.local_port),
                proxy_authorization: scheme(&headers[0]),
                authorization: scheme(&headers[1]),
            })
            .await;
    }

    async fn publish_response(&self, response: &Response<Incoming>) {
        if self.probe {
            return;
        }
        let headers = response.headers();
        let text =
            |name| headers.get(name).and_then(|value: &http::HeaderValue| value.to_str().ok());
        self.inner
            .publish(Event::Response {
                job: self.job,
                file: self.file,
                status: response.status().as_u16(),
                content_length: text(CONTENT_LENGTH).and_then(|value| value.parse().ok()),
                content_range: text(CONTENT_RANGE).map(str::to_owned),
            })
            .await;
    }

    /// Reads and drops a body we do not want, so the connection can carry the next request;
    /// drops the connection instead when the body is long or slow.
    async fn discard_body(&mut self, response: Response<Incoming>) -> Result<(), Interrupt> {
        let mut body = response.into_body();
        let mut read = 0u64;
        let limit = self.inner.config.receive_timeout;
        loop {
            match bounded(&self.inner.env, &self.stop, limit, "read a discarded body", body.frame())
                .await
            {
                Ok(None) => return Ok(()),
                Ok(Some(Ok(frame))) => {
                    read += frame.data_ref().map_or(0, |data| data.len() as u64);
                    if read > DISCARDED_BODY_MAX {
                        self.connection = None;
                        return Ok(());
                    }
                }
                Ok(Some(Err(_))) | Err(Interrupt::Failed(_)) => {
                    self.connection = None;
                    return Ok(());
                }
                Err(Interrupt::Stopped) => return Err(Interrupt::Stopped),
            }
        }
    }
}

/// Where a target's answer waits: `[Proxy-Authorization, Authorization]`.
fn slot(target: AuthTarget) -> usize {
    match target {
        AuthTarget::Proxy => 0,
        AuthTarget::Server => 1,
    }
}

/// What answering `target`'s challenge needs: the job's credentials, the policy, the
/// owner's logon, a fresh nonce and the time.
fn keys<'a, E: Env>(inner: &'a Inner<E>, access: &'a JobAccess, target: AuthTarget) -> Keys<'a> {
    let config = &inner.config;
    let mut nonce = [0; 16];
    inner.env.random_bytes(&mut nonce);
    Keys {
        situation: Situation {
            policy: &config.logon_policy,
            store: &access.credentials,
            target,
            owner_logged_on: config.logons.contains_key(&access.owner),
            basic_over_http: config.danger_allow_basic_auth_over_http,
        },
        logon: config.logons.get(&access.owner),
        workstation: &config.workstation,
        nonce,
        unix_time: inner.env.unix_time(),
    }
}

/// Awaits `work` for at most `limit`, and not past a stop request.
pub(crate) async fn bounded<E: Env, T>(
    env: &E,
    stop: &StopSignal,
    limit: Duration,
    what: &str,
    work: impl Future<Output = T>,
) -> Result<T, Interrupt> {
    tokio::select! {
        biased;
        () = stop.requested() => Err(Interrupt::Stopped),
        result = crate::env::timeout(env, limit, work) => result.ok_or_else(|| {
            Interrupt::Failed(TransportFailure::TimedOut.into_error(format!("{what}: nothing within {limit:?}")))
        }),
    }
}

fn method_name(method: &Method) -> &'static str {
    match method.as_str() {
        "HEAD" => "HEAD",
        crate::core::upload::METHOD => crate::core::upload::METHOD,
        _ => "GET",
    }
}

/// What hyper saw go wrong, in BITS terms.
fn failure_of(error: &hyper::Error) -> TransportFailure {
    if error.is_parse() || error.is_parse_status() || error.is_parse_too_large() {
        TransportFailure::Malformed
    } else if error.is_timeout() {
        TransportFailure::TimedOut
    } else {
        TransportFailure::Closed
    }
}

pub(crate) fn hyper_error(error: hyper::Error) -> TransferError {
    failure_of(&error).into_error(error.to_string())
}
