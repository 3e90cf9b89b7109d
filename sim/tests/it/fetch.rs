//! `bitsim fetch` on real sockets through a real loopback forward proxy that demands Digest
//! credentials (checked by `bitsim::auth`, the simulator's server side): the engine's proxy
//! route and challenge answers work outside the simulator too, and a wrong password ends in
//! HTTP 407's code without leaking the password.

use std::convert::Infallible;
use std::process::Command;

use bitsim::auth::{Account, Admission, ConnectionAuth, Demand, Gatekeeper};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::SeedableRng;

const FILE: &[u8] = b"bitsim through a real proxy\n";
const PASSWORD: &str = "alice-proxy-pw";

type Body = UnsyncBoxBody<Bytes, hyper::Error>;

fn full(bytes: &'static [u8]) -> Body {
    Full::new(Bytes::from_static(bytes)).map_err(|never| match never {}).boxed_unsync()
}

/// An origin serving `FILE` at every path (HEAD and whole-file GET are all a first fetch
/// asks), and a proxy in front of it demanding Digest; returns their ports.
fn start_proxy_and_origin() -> (u16, u16) {
    let (ports_tx, ports_rx) = std::sync::mpsc::channel();
    // The real world: both servers on their own thread, for the rest of the test process.
    #[allow(clippy::disallowed_methods)]
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, async move {
            let origin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let ports = (proxy.local_addr().unwrap().port(), origin.local_addr().unwrap().port());
            ports_tx.send(ports).unwrap();
            tokio::task::spawn_local(serve_origin(origin));
            serve_proxy(proxy).await;
        });
    });
    ports_rx.recv().unwrap()
}

async fn serve_origin(listener: tokio::net::TcpListener) {
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        tokio::task::spawn_local(async move {
            let service =
                hyper::service::service_fn(|request: Request<hyper::body::Incoming>| async move {
                    let body = if request.method() == hyper::Method::HEAD {
                        full(b"")
                    } else {
                        full(FILE)
                    };
                    let response = Response::builder()
                        .header("content-length", FILE.len())
                        .header("last-modified", "Thu, 01 Jan 2026 00:00:00 GMT")
                        .body(body)
                        .unwrap();
                    Ok::<_, Infallible>(response)
                });
            let io = TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

async fn serve_proxy(listener: tokio::net::TcpListener) {
    let alice = Account { domain: "CORP".into(), user: "alice".into(), password: PASSWORD.into() };
    let gate = std::rc::Rc::new(std::cell::RefCell::new(Gatekeeper::new(
        "proxy",
        vec![Demand::DigestSha256],
        vec![alice],
        rand_chacha::ChaCha8Rng::seed_from_u64(1),
    )));
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let gate = gate.clone();
        tokio::task::spawn_local(async move {
            let connection = std::rc::Rc::new(std::cell::RefCell::new(ConnectionAuth::default()));
            let service = hyper::service::service_fn(move |request| {
                let (gate, connection) = (gate.clone(), connection.clone());
                async move { Ok::<_, Infallible>(proxy(&gate, &connection, request).await) }
            });
            let io = TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

async fn proxy(
    gate: &std::cell::RefCell<Gatekeeper>,
    connection: &std::cell::RefCell<ConnectionAuth>,
    request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let header =
        request.headers().get("proxy-authorization").map(|value| value.as_bytes().to_vec());
    let uri = request.uri().to_string();
    let admission = gate.borrow_mut().admit(
        &mut connection.borrow_mut(),
        request.method().as_str(),
        &uri,
        header.as_deref(),
    );
    if let Admission::Challenge { values, .. } = admission {
        let mut response = Response::new(full(b""));
        *response.status_mut() = StatusCode::PROXY_AUTHENTICATION_REQUIRED;
        for value in values {
            response.headers_mut().append("proxy-authenticate", value.parse().unwrap());
        }
        return response;
    }
    let authority = request.uri().authority().unwrap().to_string();
    let (mut parts, body) = request.into_parts();
    parts.uri = parts.uri.path_and_query().unwrap().as_str().parse().unwrap();
    parts.headers.remove("proxy-authorization");
    let stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let (mut sender, driver) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::task::spawn_local(driver);
    let response = sender.send_request(Request::from_parts(parts, body)).await.unwrap();
    response.map(BodyExt::boxed_unsync)
}

fn fetch(
    proxy_port: u16,
    origin_port: u16,
    password: &str,
    name: &str,
) -> (Option<i32>, String, Option<Vec<u8>>) {
    let dir = std::env::temp_dir().join(format!("bitsim-fetch-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let destination = dir.join("file.txt");
    let output = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["fetch", &format!("http://127.0.0.1:{origin_port}/file.txt")])
        .arg(&destination)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args([
            "--proxy",
            &format!("127.0.0.1:{proxy_port}"),
            "--credentials",
            "proxy:digest:alice",
        ])
        .env("BITSIM_PROXY_PASSWORD", password)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let file = std::fs::read(&destination).ok();
    std::fs::remove_dir_all(&dir).ok();
    (output.status.code(), text, file)
}

#[test]
fn fetch_answers_a_real_proxys_digest_challenge() {
    let (proxy_port, origin_port) = start_proxy_and_origin();
    let (code, text, file) = fetch(proxy_port, origin_port, PASSWORD, "right");
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(file.as_deref(), Some(FILE), "{text}");
}

#[test]
fn a_wrong_proxy_password_ends_in_407_without_showing_it() {
    let (proxy_port, origin_port) = start_proxy_and_origin();
    let (code, text, file) = fetch(proxy_port, origin_port, "not-alices-pw", "wrong");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("0x80190197"), "{text}");
    assert!(!text.contains("not-alices-pw"), "{text}");
    assert_eq!(file, None);
}
