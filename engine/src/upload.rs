//! One upload over an [`Env`] with the BITS Upload Protocol (spec §8): Create-Session,
//! fragments that follow the server's `BITS-Received-Content-Range`, the reply of an
//! upload-reply job, Close-Session. Linear async code; every decision is `core::upload`'s.
//!
//! Durability: the journal records only what the server acknowledged (the session and its
//! `BITS-Received-Content-Range`), written after the Ack arrived; the source file is only
//! ever read. After a power loss the engine sends the fragment at the journal's offset and
//! the server tells it where to continue. Within one engine process the next attempt starts
//! after the last fragment sent (the protocol's resume: "just send the next fragment"), and a
//! server that has less answers 416 with the offset it wants.

use std::rc::Rc;

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;

use crate::client::{Ask, Client, Interrupt, bounded};
use crate::core::defect::Defect;
use crate::core::error::{TransferError, TransportFailure};
use crate::core::event::Event;
use crate::core::hresult::Hresult;
use crate::core::http::RemoteUrl;
use crate::core::job::JobId;
use crate::core::queue::StartTransfer;
use crate::core::state::JobType;
use crate::core::upload::{
    Ack, AckStep, FRAGMENT_SIZE_DEFAULT, Fragment, METHOD, Packet, UploadFile, judge_create_ack,
    judge_fragment_ack, packet_headers, resolve_reply_url, session_end_is_final,
};
use crate::engine::{Inner, StopSignal};
use crate::env::{Env, FileIo, OpenMode, parent_dir};
use crate::transfer::Outcome;

/// What one engine process remembers of an upload between attempts (never journalled):
/// the end of the last fragment sent, and the fragment size a 413 left.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UploadHint {
    pub(crate) next: u64,
    pub(crate) fragment_size: u64,
}

pub(crate) async fn run<E: Env>(
    inner: &Rc<Inner<E>>,
    start: StartTransfer,
    stop: &Rc<StopSignal>,
) -> Outcome {
    let Some((job_type, state)) = start.upload.clone() else {
        return Outcome::Failed(TransferError::remote(Hresult::E_INVALIDARG, "not an upload"));
    };
    let url = match RemoteUrl::parse(&start.remote_name) {
        Ok(url) => url,
        Err(error) => return Outcome::Failed(TransferError::remote(error.code, error.message)),
    };
    let client = Client::new(
        inner.clone(),
        stop.clone(),
        (start.job, start.file),
        start.access.clone(),
        url.clone(),
        false,
    );
    let hint = inner.upload_hint(start.job);
    let mut upload = Upload {
        inner,
        stop,
        job: start.job,
        access: start.access.clone(),
        file: start.file,
        url,
        job_type,
        source: start.local_name,
        temp: start.temp_name,
        state,
        acknowledged: start.durable.offset,
        next: hint.map_or(start.durable.offset, |hint| hint.next),
        fragment_size: hint.map_or(FRAGMENT_SIZE_DEFAULT, |hint| hint.fragment_size),
        client,
    };
    let result = upload.upload().await;
    inner.set_upload_hint(
        upload.job,
        UploadHint { next: upload.next, fragment_size: upload.fragment_size },
    );
    match result {
        Ok(()) => {
            upload.client.release();
            Outcome::Transferred
        }
        Err(Interrupt::Stopped) => Outcome::Stopped,
        Err(Interrupt::Failed(error)) => Outcome::Failed(error),
    }
}

struct Upload<'a, E: Env> {
    inner: &'a Rc<Inner<E>>,
    stop: &'a Rc<StopSignal>,
    job: JobId,
    access: crate::core::job::JobAccess,
    file: usize,
    url: RemoteUrl,
    job_type: JobType,
    source: String,
    /// The reply's temporary file (upload-reply).
    temp: String,
    /// What the journal says about the session and reply right now.
    state: UploadFile,
    /// What the journal says the server acknowledged.
    acknowledged: u64,
    /// Where the next fragment starts.
    next: u64,
    fragment_size: u64,
    client: Client<E>,
}

impl<E: Env> Upload<'_, E> {
    async fn upload(&mut self) -> Result<(), Interrupt> {
        let (source, total) = self.open_source().await?;
        loop {
            if self.state.session_id.is_none() {
                self.create_session().await?;
            }
            if self.send_fragments(&source, total).await? {
                break;
            }
            // The server forgot the session: a new one, from byte 0.
            self.set_session(None).await?;
        }
        if self.job_type == JobType::UploadReply && self.state.reply_len.is_none() {
            self.fetch_reply().await?;
        }
        self.close_session().await
    }

    /// The source's length; the source must exist (spec §2.1: it was checked at Resume).
    async fn open_source(&mut self) -> Result<(E::File, u64), Interrupt> {
        let env = &self.inner.env;
        let local = |action: &'static str, path: &str| {
            let path = path.to_owned();
            move |error: std::io::Error| {
                TransferError::local_io(&format!("{action} `{path}`"), &error)
            }
        };
        let len = env.file_len(&self.source).await.map_err(local("inspect", &self.source))?;
        let Some(total) = len else {
            let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
            return Err(local("open", &self.source)(missing).into());
        };
        let file = env
            .open(&self.source, OpenMode::Existing)
            .await
            .map_err(local("open", &self.source))?;
        if total == 0 {
            // No Content-Range can name an empty fragment (spec §8.2).
            return Err(TransferError::new(
                Hresult::E_INVALIDARG,
                crate::core::error::ErrorContext::LocalFile,
                format!("the upload's source `{}` is empty", self.source),
            )
            .into());
        }
        self.inner.upload_size(self.job, self.file, total);
        Ok((file, total))
    }

    async fn create_session(&mut self) -> Result<(), Interrupt> {
        let ack = self.send_packet(Packet::CreateSession, None, Bytes::new()).await?;
        let session = judge_create_ack(&ack)?;
        self.set_session(Some(session)).await
    }

    /// Makes the session durable (`None`: forgotten, progress back to 0).
    async fn set_session(&mut self, session: Option<String>) -> Result<(), Interrupt> {
        if session.is_none() {
            self.acknowledged = 0;
            self.next = 0;
            self.state.reply_url = None;
        }
        self.state.session_id = session.clone();
        self.inner.upload_session(self.job, self.file, session).await?;
        Ok(())
    }

    /// Sends fragments until the server has every byte (`true`) or forgot the session.
    async fn send_fragments(&mut self, source: &E::File, total: u64) -> Result<bool, Interrupt> {
        if self.next > total || (self.next == total && self.acknowledged < total) {
            self.next = self.acknowledged;
        }
        let follow = !self.inner.config.defects.contains(Defect::UploadSkipReceivedRange);
        while let Some(fragment) = Fragment::plan(self.next, total, self.fragment_size) {
            let body = self.read_source(source, fragment).await?;
            // If no Ack comes, the next attempt sends the fragment after this one, unless this
            // one was already such a guess: then it starts at what the server acknowledged.
            self.next = if fragment.first == self.acknowledged {
                fragment.end()
            } else {
                self.acknowledged
            };
            let ack = self.send_packet(Packet::Fragment, Some(fragment), body).await?;
            match judge_fragment_ack(&ack, fragment, follow) {
                AckStep::Continue { offset, reply_url } => {
                    let reply_url = reply_url.map(|reply| resolve_reply_url(&self.url, &reply));
                    if reply_url.is_some() {
                        self.state.reply_url = reply_url.clone();
                    }
                    self.inner.upload_acknowledged(self.job, self.file, offset, reply_url).await?;
                    (self.acknowledged, self.next) = (offset, offset);
                }
                AckStep::NewSession => return Ok(false),
                AckStep::Shrink { size } => {
                    (self.fragment_size, self.next) = (size, fragment.first);
                }
                AckStep::Fail(error) => return Err(error.into()),
            }
        }
        Ok(true)
    }

    async fn read_source(&self, source: &E::File, fragment: Fragment) -> Result<Bytes, Interrupt> {
        let mut buf = vec![0; fragment.len as usize];
        let mut filled = 0;
        while filled < buf.len() {
            let read = source.read_at(&mut buf[filled..], fragment.first + filled as u64).await;
            match read {
                Ok(0) => {
                    return Err(TransferError::local_io(
                        &format!("read `{}`", self.source),
                        &std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                    )
                    .into());
                }
                Ok(read) => filled += read,
                Err(error) => {
                    let action = format!("read `{}`", self.source);
                    return Err(TransferError::local_io(&action, &error).into());
                }
            }
        }
        Ok(Bytes::from(buf))
    }

    /// Sends one packet and reads its Ack (an Ack has no body; any is read and dropped).
    async fn send_packet(
        &mut self,
        packet: Packet,
        fragment: Option<Fragment>,
        body: Bytes,
    ) -> Result<Ack, Interrupt> {
        let session = self.state.session_id.clone();
        let headers = packet_headers(packet, session.as_deref(), fragment);
        let sent = Event::UploadPacket {
            job: self.job,
            file: self.file,
            packet,
            session,
            range: fragment.map(Fragment::content_range),
        };
        self.inner.publish(sent).await;
        let ask = Ask { headers, body, ..Ask::default() };
        let method = Method::from_bytes(METHOD.as_bytes()).expect("a valid token");
        let response = self.client.send(method, &ask).await?;
        let status = response.status().as_u16();
        let ack = Ack::parse(status, |name| {
            response.headers().get(name).and_then(|value| value.to_str().ok())
        });
        let limit = self.inner.config.receive_timeout;
        let drained = bounded(&self.inner.env, self.stop, limit, "read an Ack", async {
            response.into_body().collect().await
        });
        if drained.await?.is_err() {
            self.client.forget_connection();
        }
        let received = Event::UploadAck {
            job: self.job,
            file: self.file,
            packet,
            status,
            received: ack.received,
            error_code: ack.error_code,
            reply_url: ack.reply_url.clone(),
        };
        self.inner.publish(received).await;
        // The server answers: CONNECTING becomes TRANSFERRING (whatever the Ack says).
        self.inner.connected(self.job).await?;
        Ok(ack)
    }

    /// Upload-reply: GETs the whole reply into the temporary file, syncs it, and records it
    /// (spec §8.6: before Close-Session, or it is lost).
    async fn fetch_reply(&mut self) -> Result<(), Interrupt> {
        let Some(reply_url) = self.state.reply_url.clone() else {
            return Err(TransferError::remote(
                Hresult::BG_E_INVALID_SERVER_RESPONSE,
                "the final fragment's Ack of an upload-reply job had no BITS-Reply-URL",
            )
            .into());
        };
        let url = RemoteUrl::parse(&reply_url)
            .map_err(|error| TransferError::remote(error.code, error.message))?;
        let mut client = Client::new(
            self.inner.clone(),
            self.stop.clone(),
            (self.job, self.file),
            self.access.clone(),
            url,
            false,
        );
        let response = client.send(Method::GET, &Ask::default()).await?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(TransferError::remote(
                Hresult::http_status(status),
                format!("GET of the reply {reply_url} answered with HTTP {status}"),
            )
            .into());
        }
        let limit = self.inner.config.receive_timeout;
        let body = bounded(&self.inner.env, self.stop, limit, "read the reply", async {
            response.into_body().collect().await
        })
        .await?
        .map_err(|_| TransportFailure::Closed.into_error("the reply's body ended early"))?
        .to_bytes();
        client.release();
        self.write_reply(&body).await?;
        self.inner.reply_received(self.job, self.file, body.len() as u64).await?;
        self.state.reply_len = Some(body.len() as u64);
        Ok(())
    }

    /// The reply, durably in its temporary file (created and its directory synced).
    async fn write_reply(&self, body: &[u8]) -> Result<(), Interrupt> {
        let env = &self.inner.env;
        let local = |action: &'static str| {
            let path = self.temp.clone();
            move |error: std::io::Error| {
                TransferError::local_io(&format!("{action} `{path}`"), &error)
            }
        };
        let file = env.open(&self.temp, OpenMode::Truncate).await.map_err(local("create"))?;
        file.write_all_at(body, 0).await.map_err(local("write"))?;
        file.sync_all().await.map_err(local("sync"))?;
        env.sync_dir(parent_dir(&self.temp)).await.map_err(local("sync the directory of"))?;
        Ok(())
    }

    /// Close-Session: the server moves the upload into place. Resent (as a transient error)
    /// on 5xx unless the server forgot the session; 1xx-4xx are never resent (spec §8.4).
    async fn close_session(&mut self) -> Result<(), Interrupt> {
        if self.state.session_id.is_none() {
            return Ok(());
        }
        let ack = self.send_packet(Packet::CloseSession, None, Bytes::new()).await?;
        if session_end_is_final(&ack) {
            return Ok(());
        }
        Err(ack.error(Packet::CloseSession).into())
    }
}

/// How many times a cancelled upload's Cancel-Session is tried. BITS keeps trying for up to
/// 24 hours (spec §2.3); ours is kept in memory only, so a few tries bound the work a
/// server that is gone can cause.
const CANCEL_SESSION_ATTEMPTS_MAX: u32 = 3;

/// The pause between two Cancel-Session attempts.
const CANCEL_SESSION_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// What Cancel needs to tell the server of a cancelled upload.
pub(crate) struct CancelledUpload {
    pub(crate) job: JobId,
    pub(crate) remote_name: String,
    pub(crate) access: crate::core::job::JobAccess,
    pub(crate) session: String,
}

/// Tells the server that a cancelled upload's session is over, so it deletes the partial
/// upload (spec §8.4, §8.5): Cancel-Session until an Ack ends the session (success, or
/// session-not-found) or a 1xx-4xx says it never will; best effort, at most
/// [`CANCEL_SESSION_ATTEMPTS_MAX`] tries. The job has already left the queue.
pub(crate) async fn cancel_session<E: Env>(inner: Rc<Inner<E>>, cancelled: CancelledUpload) {
    let Ok(url) = RemoteUrl::parse(&cancelled.remote_name) else { return };
    let stop = Rc::new(StopSignal::default());
    let job = cancelled.job;
    let mut client =
        Client::new(inner.clone(), stop.clone(), (job, 0), cancelled.access, url, false);
    let headers = packet_headers(Packet::CancelSession, Some(&cancelled.session), None);
    let method = Method::from_bytes(METHOD.as_bytes()).expect("a valid token");
    for attempt in 1..=CANCEL_SESSION_ATTEMPTS_MAX {
        let sent = Event::UploadPacket {
            job,
            file: 0,
            packet: Packet::CancelSession,
            session: Some(cancelled.session.clone()),
            range: None,
        };
        inner.publish(sent).await;
        let ask = Ask { headers: headers.clone(), ..Ask::default() };
        if let Ok(response) = client.send(method.clone(), &ask).await {
            let status = response.status().as_u16();
            let ack = Ack::parse(status, |name| {
                response.headers().get(name).and_then(|value| value.to_str().ok())
            });
            let limit = inner.config.receive_timeout;
            let _ = bounded(&inner.env, &stop, limit, "read an Ack", async {
                response.into_body().collect().await
            })
            .await;
            let received = Event::UploadAck {
                job,
                file: 0,
                packet: Packet::CancelSession,
                status,
                received: ack.received,
                error_code: ack.error_code,
                reply_url: None,
            };
            inner.publish(received).await;
            if session_end_is_final(&ack) {
                client.release();
                return;
            }
        }
        if attempt < CANCEL_SESSION_ATTEMPTS_MAX {
            inner.env.sleep(CANCEL_SESSION_RETRY).await;
        }
    }
}
