//! The network model on top of turmoil: shaped links (rate, queue, latency, jitter, MSS),
//! the connections that cross them, and what the links saw.
//!
//! - [`link`]: one direction of a bottleneck, its queue and its admission rule.
//! - [`shaped`]: the stream wrapper on both ends of every connection.
//! - [`stats`]: departures and queue samples per connection, the oracles' ground truth.
//! - [`profile`]: the published link presets (`profiles.toml`).
//!
//! A scenario's `[[links]]` each join two ends, `a` and `b` (a host, or `*` for every other
//! host); `up` is the direction a -> b, `down` is b -> a. Pairs that no link joins are
//! turmoil's plain links: no rate, its latency.

pub mod link;
pub mod profile;
pub mod shaped;
pub mod stats;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use self::link::{ConnId, Link};
use self::shaped::{Direction, Shaped, Window, sim_now};
use self::stats::{LinkStats, bucket_of};

/// The network of one run; clones share it.
#[derive(Clone, Default)]
pub struct Net(Rc<RefCell<NetState>>);

#[derive(Default)]
struct NetState {
    routes: Vec<Route>,
    conns: Vec<ConnInfo>,
    /// Open connections by (connecting end, accepting end), while either end lives.
    open: BTreeMap<(SocketAddr, SocketAddr), Weak<ConnEntry>>,
    /// Queue samples are taken up to (not including) this bucket.
    sampled_to: u32,
}

/// Two hosts joined by a link.
pub struct Route {
    pub a: String,
    /// `None`: every host but `a`.
    pub b: Option<String>,
    pub up: Rc<RefCell<Link>>,
    pub down: Rc<RefCell<Link>>,
    /// Receive window of every connection on the route, in bytes.
    pub window_bytes: u64,
}

impl Route {
    fn joins(&self, from: &str, to: &str) -> Option<&Rc<RefCell<Link>>> {
        let matches_b = |host: &str| self.b.as_deref().map_or(host != self.a, |b| b == host);
        if self.a == from && matches_b(to) {
            Some(&self.up)
        } else if self.a == to && matches_b(from) {
            Some(&self.down)
        } else {
            None
        }
    }
}

/// A connection as the network saw it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ConnInfo {
    pub id: ConnId,
    /// The connecting end (host, port) and the accepting end.
    pub client: (String, u16),
    pub server: (String, u16),
    pub opened: Duration,
}

/// Shared by both ends of one connection.
struct ConnEntry {
    id: ConnId,
    /// Client -> server and server -> client.
    upstream: Rc<Window>,
    downstream: Rc<Window>,
}

/// Everything the links saw in a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetReport {
    pub links: Vec<LinkReport>,
    pub conns: Vec<ConnInfo>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LinkReport {
    /// `a->b` for up, `b->a` for down.
    pub name: String,
    pub from: String,
    /// The host it goes to, or `*` for every host but `from`.
    pub to: String,
    pub window_bytes: u64,
    pub spec: link::LinkSpec,
    pub stats: LinkStats,
}

impl Net {
    pub fn new(routes: Vec<Route>) -> Self {
        Self(Rc::new(RefCell::new(NetState { routes, ..NetState::default() })))
    }

    /// Wraps a stream this host connected (`accepted == false`) or accepted.
    pub fn wrap(&self, stream: turmoil::net::TcpStream, accepted: bool) -> std::io::Result<Shaped> {
        self.wrap_with_window(stream, accepted, None)
    }

    /// Like [`Net::wrap`], with this end's sending window set to `window_bytes` instead of
    /// the route's (a peer whose receive window autotunes larger).
    pub fn wrap_with_window(
        &self,
        stream: turmoil::net::TcpStream,
        accepted: bool,
        window_override: Option<u64>,
    ) -> std::io::Result<Shaped> {
        crate::clock::note_activity();
        let (local, peer) = (stream.local_addr()?, stream.peer_addr()?);
        let host = |addr: SocketAddr| {
            turmoil::reverse_lookup(addr.ip()).unwrap_or_else(|| addr.ip().to_string())
        };
        let (local_host, peer_host) = (host(local), host(peer));
        let key = if accepted { (peer, local) } else { (local, peer) };
        let mut state = self.0.borrow_mut();
        let entry = match state.open.get(&key).and_then(Weak::upgrade) {
            Some(entry) => entry,
            None => {
                let id = state.conns.len() as ConnId;
                let (client, server) = if accepted {
                    ((peer_host.clone(), peer.port()), (local_host.clone(), local.port()))
                } else {
                    ((local_host.clone(), local.port()), (peer_host.clone(), peer.port()))
                };
                state.conns.push(ConnInfo { id, client, server, opened: sim_now() });
                let entry =
                    Rc::new(ConnEntry { id, upstream: Rc::default(), downstream: Rc::default() });
                state.open.insert(key, Rc::downgrade(&entry));
                entry
            }
        };
        let (out_window, in_window) = if accepted {
            (&entry.downstream, &entry.upstream)
        } else {
            (&entry.upstream, &entry.downstream)
        };
        let route = |from: &str, to: &str| {
            state.routes.iter().find_map(|route| {
                route.joins(from, to).map(|link| (link.clone(), route.window_bytes))
            })
        };
        let outbound = route(&local_host, &peer_host).map(|(link, window_bytes)| Direction {
            link,
            window: out_window.clone(),
            window_bytes: window_override.unwrap_or(window_bytes),
        });
        let inbound = route(&peer_host, &local_host).map(|_| in_window.clone());
        // Both ends hold the entry; the map only remembers it while one of them lives.
        Ok(Shaped::new(entry.id, stream, outbound, inbound, entry.clone()))
    }

    /// The link carrying `from` -> `to`, if any.
    pub fn link(&self, from: &str, to: &str) -> Option<Rc<RefCell<Link>>> {
        self.0.borrow().routes.iter().find_map(|route| route.joins(from, to).cloned())
    }

    /// Both directions (up, down) of the `index`-th route, in the scenario's `[[links]]` order.
    pub fn route(&self, index: usize) -> Option<[Rc<RefCell<Link>>; 2]> {
        let state = self.0.borrow();
        state.routes.get(index).map(|route| [route.up.clone(), route.down.clone()])
    }

    /// Samples every queue for each bucket that ended by `now` (called by the step loop).
    pub fn sample(&self, now: Duration) {
        let mut state = self.0.borrow_mut();
        let due = bucket_of(now);
        while state.sampled_to < due {
            let bucket = state.sampled_to;
            let at = stats::bucket_start(bucket);
            let mut queued = false;
            for route in &state.routes {
                for link in [&route.up, &route.down] {
                    let mut link = link.borrow_mut();
                    let backlog = link.backlog_by_conn(at);
                    link.stats.sampled(bucket, backlog);
                    queued |= !link.is_empty();
                }
            }
            // Empty queues stay empty until the next step adds to them: after a leap over
            // idle time, the buckets in between all sample nothing.
            state.sampled_to = if queued { bucket + 1 } else { due };
        }
    }

    pub fn report(&self) -> NetReport {
        let state = self.0.borrow();
        let mut links = Vec::new();
        for route in &state.routes {
            let b = route.b.clone().unwrap_or_else(|| "*".to_owned());
            for (link, from, to) in [(&route.up, &route.a, &b), (&route.down, &b, &route.a)] {
                let link = link.borrow();
                links.push(LinkReport {
                    name: link.name.clone(),
                    from: from.clone(),
                    to: to.clone(),
                    window_bytes: route.window_bytes,
                    spec: link.spec().clone(),
                    stats: link.stats.clone(),
                });
            }
        }
        NetReport { links, conns: state.conns.clone() }
    }
}
