//! Compact lines of the upload protocol's events, engine and server side.

use std::fmt::Write as _;

use bitsim_engine::Event;

use super::SimEvent;

pub(super) fn compact_engine(event: &Event) -> String {
    match event {
        Event::UploadPacket { job, file, packet, session, range } => {
            let mut line = format!("{job} file{file} BITS_POST {}", packet.name());
            if let Some(session) = session {
                let _ = write!(line, " session {session}");
            }
            if let Some(range) = range {
                let _ = write!(line, " Content-Range: {range}");
            }
            line
        }
        Event::UploadAck { job, file, packet, status, received, error_code, reply_url } => {
            let mut line = format!("{job} file{file} <- Ack {} {status}", packet.name());
            if let Some(received) = received {
                let _ = write!(line, " received {received}");
            }
            if let Some(code) = error_code {
                let _ = write!(line, " BITS-Error-Code {code}");
            }
            if let Some(url) = reply_url {
                let _ = write!(line, " BITS-Reply-URL {url}");
            }
            line
        }
        Event::UploadSession { job, file, session: Some(session) } => {
            format!("{job} file{file} session {session} durable")
        }
        Event::UploadSession { job, file, session: None } => {
            format!("{job} file{file} session forgotten: starts over from byte 0")
        }
        Event::UploadAcknowledged { job, file, offset } => {
            format!("{job} file{file} server has {offset} bytes (durable)")
        }
        Event::ReplyReceived { job, file, len } => {
            format!("{job} file{file} reply of {len} bytes durable")
        }
        _ => String::new(),
    }
}

pub(super) fn compact_sim(event: &SimEvent) -> String {
    match event {
        SimEvent::UploadReceived {
            client,
            packet,
            path,
            session,
            range,
            status,
            received,
            error_code,
            kept,
        } => {
            let mut line = format!("upload {client} {packet} {path}");
            if let Some(session) = session {
                let _ = write!(line, " session {session}");
            }
            if let Some(range) = range {
                let _ = write!(line, " Content-Range: {range}");
            }
            let _ = write!(line, " -> {status}");
            if let Some(received) = received {
                let _ = write!(line, " received {received}");
            }
            if let Some(code) = error_code {
                let _ = write!(line, " BITS-Error-Code {code}");
            }
            if let Some([first, end]) = kept {
                let _ = write!(line, " kept {first}..{end}");
            }
            line
        }
        SimEvent::UploadCommitted { path, session, len, hash, writes } => {
            format!(
                "upload {path} session {session} committed: {len} bytes, fnv64 {hash}, {} write(s)",
                writes.len()
            )
        }
        SimEvent::UploadDiscarded { path, session, received, reason } => {
            format!("upload {path} session {session} discarded at {received} bytes: {reason}")
        }
        SimEvent::ReplyReady { path, session, url, len, hash } => {
            format!("reply to {path} session {session} at {url}: {len} bytes, fnv64 {hash}")
        }
        SimEvent::UploadSourceWritten { local, len, hash } => {
            format!("app wrote upload source {local}: {len} bytes, fnv64 {hash}")
        }
        SimEvent::ReplyVerified { job, local, len, hash } => {
            format!("{job} reply verified {local}: {len} bytes, fnv64 {hash}")
        }
        _ => String::new(),
    }
}
