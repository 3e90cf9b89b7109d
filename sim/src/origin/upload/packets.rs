//! Fragments, Close-Session and Cancel-Session, and the reply's GET.

use http::header::{CONTENT_LENGTH, CONTENT_RANGE};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{
    Answer, ContentBody, Facts, Origin, REPLY_FILE, UploadServer, invalid, not_found,
    parse_content_range,
};
use crate::content::{ContentKey, Fnv64};
use crate::origin::RangeAsk;
use crate::scenario::upload::REPLY_SIZE_DEFAULT;
use crate::trace::SimEvent;
use bitsim_engine::core::journal::fnv64;
use bitsim_engine::core::upload::{HEADER_REPLY_URL, HEADER_SESSION_ID};

/// The error code of a 416: the HTTP status says it all ([MC-BUP] 3.2.5).
const GAP_ERROR_CODE: &str = "0";

impl UploadServer {
    pub(super) async fn fragment(
        &self,
        origin: &Origin,
        id: Option<&str>,
        request: Request<Incoming>,
    ) -> (StatusCode, Answer) {
        let (head, mut body) = request.into_parts();
        let admitted = self.admit(origin, id, &head.headers);
        let (id, first, end) = match admitted {
            Ok(admitted) => admitted,
            Err(refused) => {
                // Read to the end, as IIS does, so the connection can carry the next packet.
                while let Some(Ok(_)) = body.frame().await {}
                return refused;
            }
        };
        let (mut position, mut kept) = (first, None);
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return invalid() };
            let Ok(data) = frame.into_data() else { continue };
            kept = merge(kept, self.write(id, position, &data));
            position += data.len() as u64;
        }
        if position != end {
            return invalid();
        }
        self.after_fragment(origin, id, kept).await
    }

    /// The fragment's session and range, or the answer that refuses it before its body.
    fn admit<'a>(
        &self,
        origin: &Origin,
        id: Option<&'a str>,
        headers: &http::HeaderMap,
    ) -> Result<(&'a str, u64, u64), (StatusCode, Answer)> {
        let Some(id) = id else { return Err(invalid()) };
        if !self.session_alive(Some(origin), id) {
            return Err(not_found());
        }
        let text =
            |name| headers.get(name).and_then(|value: &http::HeaderValue| value.to_str().ok());
        let Some((first, end, total)) = text(CONTENT_RANGE).and_then(parse_content_range) else {
            return Err(invalid());
        };
        // Windows answers a missing Content-Length with 400 (spec §8.3).
        if text(CONTENT_LENGTH).and_then(|value| value.parse::<u64>().ok()) != Some(end - first) {
            return Err(invalid());
        }
        match self.admit_fragment(id, first, end, total) {
            Some(refused) => Err(refused),
            None => Ok((id, first, end)),
        }
    }

    /// Checks a fragment against its session before its body is read: total, size, gap.
    fn admit_fragment(
        &self,
        id: &str,
        first: u64,
        end: u64,
        total: u64,
    ) -> Option<(StatusCode, Answer)> {
        let mut state = self.state.borrow_mut();
        let session = state.sessions.get_mut(id)?;
        if session.total.is_some_and(|known| known != total) {
            return Some(invalid());
        }
        session.total = Some(total);
        let received = session.data.len() as u64;
        let answer = |status, error_code| {
            Some((
                status,
                Answer {
                    headers: vec![(HEADER_SESSION_ID, id.to_owned())],
                    error_code,
                    received: Some(received),
                    kept: None,
                },
            ))
        };
        if self.settings.max_fragment.is_some_and(|max| end - first > max.0) {
            return answer(StatusCode::PAYLOAD_TOO_LARGE, None);
        }
        if first > received {
            return answer(StatusCode::RANGE_NOT_SATISFIABLE, Some(GAP_ERROR_CODE));
        }
        None
    }

    /// Writes the bytes of `data` (at `position`) that the session does not have yet; returns
    /// what it wrote.
    fn write(&self, id: &str, position: u64, data: &[u8]) -> Option<[u64; 2]> {
        let mut state = self.state.borrow_mut();
        let session = state.sessions.get_mut(id)?;
        session.touched = crate::clock::now();
        let received = session.data.len() as u64;
        let end = position + data.len() as u64;
        if position > received || end <= received {
            return None;
        }
        session.data.extend_from_slice(&data[(received - position) as usize..]);
        match session.writes.last_mut() {
            Some(last) if last[1] == received => last[1] = end,
            _ => session.writes.push([received, end]),
        }
        Some([received, end])
    }

    async fn after_fragment(
        &self,
        origin: &Origin,
        id: &str,
        kept: Option<[u64; 2]>,
    ) -> (StatusCode, Answer) {
        let wants_reply = {
            let state = self.state.borrow();
            let Some(session) = state.sessions.get(id) else { return not_found() };
            let complete = session.total == Some(session.data.len() as u64);
            self.settings.reply && complete && session.reply.is_none()
        };
        if wants_reply {
            if let Some(slow) = self.settings.slow_reply {
                crate::clock::sleep(slow.0).await;
            }
            self.make_reply(origin, id);
        }
        let state = self.state.borrow();
        let Some(session) = state.sessions.get(id) else { return not_found() };
        let complete = session.total == Some(session.data.len() as u64);
        let mut headers = vec![(HEADER_SESSION_ID, id.to_owned())];
        if let Some((header, _)) = session.reply.as_ref().filter(|_| complete) {
            headers.push((HEADER_REPLY_URL, header.clone()));
        }
        let received = Some(session.data.len() as u64);
        (StatusCode::OK, Answer { headers, error_code: None, received, kept })
    }

    /// The server application's reply to a complete upload: content seeded by the uploaded
    /// bytes' hash, at a relative URL with backslashes as IIS gives it ([MC-BUP] §4).
    fn make_reply(&self, origin: &Origin, id: &str) {
        let mut state = self.state.borrow_mut();
        let Some(session) = state.sessions.get_mut(id) else { return };
        if session.reply.is_some() {
            return;
        }
        let mut seed = fnv64(&session.data).to_le_bytes().to_vec();
        seed.extend_from_slice(b"reply");
        let key = ContentKey(fnv64(&seed));
        let size = self.settings.reply_size.map_or(REPLY_SIZE_DEFAULT, |size| size.0);
        let header = format!("BITS-Sessions\\Replies\\{id}\\{REPLY_FILE}");
        let dir = &session.path[..session.path.rfind('/').map_or(0, |slash| slash + 1)];
        let encoded = id.replace('{', "%7B").replace('}', "%7D");
        let url = format!("{dir}BITS-Sessions/Replies/{encoded}/{REPLY_FILE}");
        session.reply = Some((header, url.clone()));
        let path = session.path.clone();
        state.replies.insert(url.clone(), (key, size));
        origin.recorder.record(
            &origin.name,
            SimEvent::ReplyReady {
                path,
                session: id.to_owned(),
                url,
                len: size,
                hash: format!("{:016x}", key.hash(size)),
            },
        );
    }

    /// Close-Session (`close`) or Cancel-Session: the session ends; a complete upload moves
    /// into place at Close, anything else is deleted, and so is the reply (spec §8.4, §8.5).
    pub(super) fn end_session(
        &self,
        origin: &Origin,
        id: Option<&str>,
        close: bool,
    ) -> (StatusCode, Answer) {
        let Some(id) = id else { return invalid() };
        if !self.session_alive(Some(origin), id) {
            return not_found();
        }
        let mut state = self.state.borrow_mut();
        let session = state.sessions.remove(id).expect("alive");
        if let Some((_, url)) = &session.reply {
            state.replies.remove(url);
        }
        let len = session.data.len() as u64;
        let event = if close && session.total == Some(len) {
            let mut hasher = Fnv64::default();
            hasher.write(&session.data);
            SimEvent::UploadCommitted {
                path: session.path,
                session: id.to_owned(),
                len,
                hash: format!("{:016x}", hasher.finish()),
                writes: session.writes,
            }
        } else {
            let reason =
                if close { "Close-Session before the last byte" } else { "Cancel-Session" };
            SimEvent::UploadDiscarded {
                path: session.path,
                session: id.to_owned(),
                received: len,
                reason: reason.to_owned(),
            }
        };
        origin.recorder.record(&origin.name, event);
        let headers = vec![(HEADER_SESSION_ID, id.to_owned())];
        (StatusCode::OK, Answer { headers, ..Answer::default() })
    }

    /// GET of a reply, with single ranges as the origin serves files.
    pub(super) fn serve_reply(&self, origin: &Origin, facts: &Facts) -> Response<ContentBody> {
        let Some(&(key, size)) = self.state.borrow().replies.get(&facts.path) else {
            origin.record(facts, (0, 0), None, false, 404);
            return super::empty(StatusCode::NOT_FOUND);
        };
        let ask = facts
            .range
            .as_deref()
            .map_or(RangeAsk::Whole, |range| crate::origin::parse_range(range, size));
        let (status, first, end) = match ask {
            RangeAsk::Whole => (StatusCode::OK, 0, size),
            RangeAsk::Bytes { first, last } => (StatusCode::PARTIAL_CONTENT, first, last + 1),
            RangeAsk::Unsatisfiable => {
                origin.record(facts, (0, size), None, false, 416);
                return super::empty(StatusCode::RANGE_NOT_SATISFIABLE);
            }
        };
        origin.record(facts, (0, size), Some(first), false, status.as_u16());
        let mut response = Response::new(ContentBody::new(key, first, end, None, true));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_LENGTH, (end - first).into());
        if status == StatusCode::PARTIAL_CONTENT
            && let Ok(value) = format!("bytes {first}-{}/{size}", end - 1).parse()
        {
            headers.insert(CONTENT_RANGE, value);
        }
        response
    }
}

/// Two adjacent writes as one.
fn merge(kept: Option<[u64; 2]>, wrote: Option<[u64; 2]>) -> Option<[u64; 2]> {
    match (kept, wrote) {
        (Some([first, _]), Some([_, end])) => Some([first, end]),
        (kept, None) => kept,
        (None, wrote) => wrote,
    }
}
