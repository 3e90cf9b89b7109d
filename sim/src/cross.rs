//! Cross traffic: the user's own bulk transfers over the same links as the engine's, which
//! background jobs must yield to. A `cross` host serves and sinks bulk data; a program on the
//! engine's machine opens the scenario's flows at their times and closes them when they end.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::Net;
use crate::net::shaped::sim_now;
use crate::scenario::{CROSS_HOST, CrossDirection, CrossTraffic, ENGINE_HOST};
use crate::trace::{Recorder, SimEvent};

/// The port of the cross-traffic host (the old `discard`/`chargen` services' neighbourhood).
pub const CROSS_PORT: u16 = 9;
/// Bulk data is written in pieces of this size; the link cuts them into segments.
const WRITE_CHUNK: usize = 64 << 10;
/// Cross traffic stands for the user's greedy download with an autotuned receive window
/// (modern TCP grows it to megabytes): the largest window the model allows. Such a flow
/// fills the bottleneck's buffer, as the loss-based TCP that LEDBAT yields to does; a flow
/// held to 64 KiB would queue almost nothing on a fast link and leave a delay-based
/// controller nothing to yield to.
const CROSS_WINDOW: u64 = crate::scenario::network::WINDOW_MAX;
/// What a flow asks for: the server sends (`down`) or receives (`up`).
const ASK_SEND: u8 = b'D';
const ASK_RECEIVE: u8 = b'U';

/// The cross-traffic host's software: each connection says which way its bulk goes.
pub async fn serve(net: Net) -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", CROSS_PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let stream = net.wrap_with_window(stream, true, Some(CROSS_WINDOW))?;
        tokio::task::spawn_local(async move {
            let mut stream = stream;
            let mut ask = [0u8];
            if stream.read_exact(&mut ask).await.is_err() {
                return;
            }
            // Either loop ends when the client closes the connection.
            let _ = if ask[0] == ASK_SEND {
                send_bulk(&mut stream).await
            } else {
                sink(&mut stream).await
            };
        });
    }
}

/// Opens every flow of the scenario at its time, on the engine's machine. Flows whose time
/// has passed (after a reboot) are not restarted.
pub async fn run_flows(net: Net, flows: Vec<CrossTraffic>, recorder: Recorder) {
    let mut tasks = Vec::new();
    for (index, flow) in flows.into_iter().enumerate() {
        let (net, recorder) = (net.clone(), recorder.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let now = sim_now();
            if now >= flow.at.0 + flow.duration.0 {
                return;
            }
            crate::clock::sleep_until(flow.at.0.max(now)).await;
            let direction = match flow.direction {
                CrossDirection::Down => "down",
                CrossDirection::Up => "up",
            };
            recorder.record(
                ENGINE_HOST,
                SimEvent::CrossTrafficStarted { entry: index, flows: flow.flows, direction },
            );
            let end = flow.at.0 + flow.duration.0;
            let mut connections = Vec::new();
            for _ in 0..flow.flows {
                connections.push(tokio::task::spawn_local(one_flow(net.clone(), flow.direction)));
            }
            crate::clock::sleep_until(end).await;
            for connection in connections {
                connection.abort();
            }
            recorder.record(ENGINE_HOST, SimEvent::CrossTrafficStopped { entry: index });
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

async fn one_flow(net: Net, direction: CrossDirection) -> std::io::Result<()> {
    let stream = turmoil::net::TcpStream::connect((CROSS_HOST, CROSS_PORT)).await?;
    let mut stream = net.wrap_with_window(stream, false, Some(CROSS_WINDOW))?;
    match direction {
        CrossDirection::Down => {
            stream.write_all(&[ASK_SEND]).await?;
            sink(&mut stream).await
        }
        CrossDirection::Up => {
            stream.write_all(&[ASK_RECEIVE]).await?;
            send_bulk(&mut stream).await
        }
    }
}

async fn send_bulk(stream: &mut crate::net::shaped::Shaped) -> std::io::Result<()> {
    let chunk = vec![0u8; WRITE_CHUNK];
    loop {
        stream.write_all(&chunk).await?;
    }
}

async fn sink(stream: &mut crate::net::shaped::Shaped) -> std::io::Result<()> {
    let mut buf = vec![0u8; WRITE_CHUNK];
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}
