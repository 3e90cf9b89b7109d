//! One file's download over an [`Env`]: open the temporary file, connect, HEAD, decide where
//! to resume, GET, and stream the body to disk with checkpoints. Linear async code; every
//! decision is a call into `crate::core`, every wait is bounded by a timeout and by the
//! job's stop signal.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use http::Method;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::client::{Ask, Client, Interrupt, bounded, hyper_error};
use crate::core::defect::Defect;
use crate::core::error::{TransferError, TransportFailure};
use crate::core::event::Event;
use crate::core::http::{
    BodyPlan, RemoteInfo, RemoteUrl, check_get_response, parse_head, plan_get, range_header,
};
use crate::core::job::{JobAccess, JobId};
use crate::core::queue::StartTransfer;
use crate::core::ranges::{FileLayout, FileRange};
use crate::core::resume::{
    DurableFile, Recovery, RestartReason, ResumeDecision, decide_resume, recover_part_file,
    restart_after_change,
};
use crate::engine::{Inner, StopSignal};
use crate::env::{Env, FileIo, OpenMode, parent_dir};
use crate::pace::{PACE_RECHECK, Pacer};

/// How a transfer of one file ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Every byte is durable.
    Transferred,
    Failed(TransferError),
    /// The engine asked it to stop (Suspend, Cancel, Complete); what arrived is durable.
    Stopped,
}

/// What one round of GETs on a connection achieved.
enum Fetched {
    Complete,
    RemoteChanged(String),
}

pub(crate) async fn run<E: Env>(
    inner: &Rc<Inner<E>>,
    start: StartTransfer,
    stop: &Rc<StopSignal>,
) -> Outcome {
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
    let mut transfer = FileTransfer {
        inner,
        stop,
        job: start.job,
        file: start.file,
        url,
        access: start.access,
        temp: start.temp_name,
        durable: start.durable,
        ranges: start.ranges,
        client,
    };
    match transfer.download().await {
        Ok(()) => {
            transfer.client.release();
            Outcome::Transferred
        }
        Err(Interrupt::Stopped) => Outcome::Stopped,
        Err(Interrupt::Failed(error)) => Outcome::Failed(error),
    }
}

struct FileTransfer<'a, E: Env> {
    inner: &'a Rc<Inner<E>>,
    stop: &'a StopSignal,
    job: JobId,
    file: usize,
    url: RemoteUrl,
    access: JobAccess,
    temp: String,
    /// What the journal says about this file right now; kept equal to it by every commit.
    /// Its offset is an offset in the local file (for a ranged file, not the remote offset).
    durable: DurableFile,
    /// `AddFileWithRanges`: the remote bytes wanted, in local order; empty = the whole file.
    ranges: Vec<FileRange>,
    client: Client<E>,
}

impl<E: Env> FileTransfer<'_, E> {
    async fn download(&mut self) -> Result<(), Interrupt> {
        let part = self.open_part_file().await?;
        let mut pacer = Pacer::new(self.inner, (self.job, self.file), &self.url, &self.access);
        let mut restarts = 0;
        loop {
            let remote = self.head().await?;
            if let Some(round_trip) = self.client.last_round_trip() {
                // Taken before the body starts: the path's delay without our own queue.
                pacer.on_round_trip(self.inner, round_trip);
            }
            self.inner.connected(self.job).await?;
            let offset = match decide_resume(&self.durable, &remote, self.inner.config.defects) {
                ResumeDecision::Continue { offset } => {
                    self.inner.remote_info(self.job, self.file, &remote).await?;
                    self.durable.size = Some(remote.size);
                    self.durable.validators = remote.validators.clone();
                    self.durable.new_source = false;
                    offset
                }
                ResumeDecision::Restart(reason) => {
                    self.restart(&part, reason, Some(&remote)).await?;
                    0
                }
            };
            // Only now is it known whether the ranges lie inside the file (spec §3.7).
            let layout = FileLayout::resolve(&self.ranges, remote.size, self.inner.config.defects)?;
            match self.fetch(&part, &remote, &layout, offset, &mut pacer).await? {
                Fetched::Complete => return Ok(()),
                Fetched::RemoteChanged(detail) => {
                    restarts += 1;
                    restart_after_change(restarts)?;
                    self.restart(&part, RestartReason::ChangedDuringTransfer { detail }, None)
                        .await?;
                }
            }
        }
    }

    /// Opens (or creates, durably) the temporary file and cuts it to the durable offset:
    /// bytes past it were never vouched for by the journal.
    async fn open_part_file(&mut self) -> Result<E::File, Interrupt> {
        let env = &self.inner.env;
        let local = |action: &'static str| {
            let path = self.temp.clone();
            move |error: std::io::Error| {
                TransferError::local_io(&format!("{action} `{path}`"), &error)
            }
        };
        let file_len = env.file_len(&self.temp).await.map_err(local("inspect"))?;
        let part = env.open(&self.temp, OpenMode::Create).await.map_err(local("create"))?;
        if file_len.is_none() {
            part.sync_all().await.map_err(local("sync"))?;
            env.sync_dir(parent_dir(&self.temp)).await.map_err(local("sync the directory of"))?;
        }
        match recover_part_file(self.durable.offset, file_len) {
            // Cut only what is there to cut: a retry that never got a byte (every 600 s for
            // days while a server is unreachable) leaves no operation behind on the disk.
            Recovery::TruncateTo(offset) if file_len != Some(offset) => {
                part.set_len(offset).await.map_err(local("truncate"))?
            }
            Recovery::TruncateTo(_) => {}
            Recovery::Restart(reason) => self.restart(&part, reason, None).await?,
        }
        Ok(part)
    }

    /// Forgets the file's progress: the journal first, then the bytes.
    async fn restart(
        &mut self,
        part: &E::File,
        reason: RestartReason,
        remote: Option<&RemoteInfo>,
    ) -> Result<(), Interrupt> {
        self.inner.restart(self.job, self.file, reason, remote).await?;
        self.durable = DurableFile {
            size: remote.map(|remote| remote.size),
            validators: remote.map(|remote| remote.validators.clone()).unwrap_or_default(),
            ..DurableFile::default()
        };
        part.set_len(0).await.map_err(|error| {
            TransferError::local_io(&format!("truncate `{}`", self.temp), &error)
        })?;
        Ok(())
    }

    async fn head(&mut self) -> Result<RemoteInfo, Interrupt> {
        let response = self.client.send(Method::HEAD, &Ask::default()).await?;
        Ok(parse_head(response.status().as_u16(), response.headers())?)
    }

    /// GETs until the file is complete or changed remotely. `offset` is the local offset
    /// reached; each GET asks for the rest of the range that holds it.
    ///
    /// One range per request, always: BITS may combine several ranges of a ranged file into
    /// one multipart/byteranges GET and falls back to one range per request when a server's
    /// multipart answer fails validation ([MC-BUP] 3.6.5.2.4.2/.3). Asking for one range keeps
    /// every response checkable against a single Content-Range, needs no multipart parser
    /// (with its 180-byte part-header limits), makes a resume inside a range one plain
    /// request, and leaves servers nothing to merge. It costs a request (on the same
    /// connection) per range.
    async fn fetch(
        &mut self,
        part: &E::File,
        remote: &RemoteInfo,
        layout: &FileLayout,
        mut offset: u64,
        pacer: &mut Pacer,
    ) -> Result<Fetched, Interrupt> {
        let defects = self.inner.config.defects;
        loop {
            let Some(segment) = layout.segment_at(offset, defects) else {
                if self.durable.offset != layout.total() {
                    self.make_durable(part, layout.total()).await?;
                }
                return Ok(Fetched::Complete);
            };
            let plan = plan_get(remote, segment.remote.clone(), defects);
            let ask = Ask {
                range: plan.range.as_ref().map(range_header),
                if_range: plan.if_range.clone(),
                ..Ask::default()
            };
            let response = self.client.send(Method::GET, &ask).await?;
            let (head, body) = response.into_parts();
            match check_get_response(&plan, remote, head.status.as_u16(), &head.headers)? {
                BodyPlan::RemoteChanged { reason } => return Ok(Fetched::RemoteChanged(reason)),
                // Accepted bodies start exactly at the remote byte asked for, which belongs
                // at the segment's local offset.
                BodyPlan::Accept { length, .. } => {
                    offset = self.receive(body, part, segment.local, length, pacer).await?;
                }
            }
        }
    }

    /// Writes a body at local offset `start`, checkpointing as the policy says, and always
    /// making what arrived durable before reporting how the body ended. Returns the new
    /// durable (local) offset.
    async fn receive(
        &mut self,
        mut body: Incoming,
        part: &E::File,
        start: u64,
        length: u64,
        pacer: &mut Pacer,
    ) -> Result<u64, Interrupt> {
        let (policy, receive_timeout) =
            (self.inner.config.checkpoint, self.inner.config.receive_timeout);
        let mut written = 0u64;
        let mut unsynced = 0u64;
        let mut last_checkpoint = self.inner.now();
        let ended: Result<(), Interrupt> = loop {
            let frame =
                match self.bounded(receive_timeout, "wait for body data", body.frame()).await {
                    Ok(frame) => frame,
                    Err(interrupt) => break Err(interrupt),
                };
            let data = match frame {
                None if written == length => break Ok(()),
                None => break Err(TransportFailure::Closed.into_error("body ended early").into()),
                Some(Err(error)) => break Err(hyper_error(error).into()),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_trailers) => continue,
                },
            };
            if written + data.len() as u64 > length {
                break Err(TransportFailure::Malformed
                    .into_error("body longer than its Content-Length")
                    .into());
            }
            if let Err(error) = part.write_all_at(&data, start + written).await {
                break Err(
                    TransferError::local_io(&format!("write `{}`", self.temp), &error).into()
                );
            }
            written += data.len() as u64;
            unsynced += data.len() as u64;
            let mut wait = pacer.after_read(self.inner, data.len() as u64).await;
            let mut paused = Ok(());
            while !wait.is_zero() && paused.is_ok() {
                paused = self.pause(wait.min(PACE_RECHECK)).await;
                wait = pacer.wait(self.inner).await;
            }
            if let Err(interrupt) = paused {
                break Err(interrupt);
            }
            let now = self.inner.now();
            if policy.is_due(unsynced, now.saturating_sub(last_checkpoint)) {
                if let Err(interrupt) = self.make_durable(part, start + written).await {
                    break Err(interrupt);
                }
                unsynced = 0;
                last_checkpoint = now;
            }
        };
        let end = start + written;
        let synced =
            if end > self.durable.offset { self.make_durable(part, end).await } else { Ok(()) };
        let ended_event =
            Event::BodyEnded { job: self.job, file: self.file, start, received: written };
        self.inner.publish(ended_event).await;
        ended.and(synced).map(|()| end)
    }

    /// Syncs the data, then records it in the journal (data first, or a power loss could
    /// leave a journal that vouches for bytes the disk never got).
    async fn make_durable(&mut self, part: &E::File, offset: u64) -> Result<(), Interrupt> {
        if !self.inner.config.defects.contains(Defect::SkipDataSync) {
            part.sync_data().await.map_err(|error| {
                TransferError::local_io(&format!("sync `{}`", self.temp), &error)
            })?;
        }
        self.inner.checkpoint(self.job, self.file, offset).await?;
        self.durable.offset = offset;
        Ok(())
    }

    /// Waits `wait` (pacing), unless a stop is requested first.
    async fn pause(&self, wait: Duration) -> Result<(), Interrupt> {
        if wait.is_zero() {
            return Ok(());
        }
        tokio::select! {
            biased;
            () = self.stop.requested() => Err(Interrupt::Stopped),
            () = self.inner.env.sleep(wait) => Ok(()),
        }
    }

    async fn bounded<T>(
        &self,
        limit: Duration,
        what: &str,
        work: impl Future<Output = T>,
    ) -> Result<T, Interrupt> {
        bounded(&self.inner.env, self.stop, limit, what, work).await
    }
}
