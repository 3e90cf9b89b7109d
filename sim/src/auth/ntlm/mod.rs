//! NTLM over HTTP, under its own name or inside Negotiate. Negotiate here carries raw NTLMSSP
//! tokens, as Windows does when no KDC answers; SPNEGO and Kerberos tokens are refused. The
//! handshake authenticates the TCP connection: NEGOTIATE (type 1) earns a CHALLENGE (type 2),
//! which only the next request on the connection may answer with an AUTHENTICATE (type 3).
//!
//! Only the NT response is judged, and only as NTLMv2. The LM response, the workstation, the
//! encrypted session key and any MIC are ignored: HTTP never uses the session key, and the
//! challenge carries no MsvAvTimestamp, the condition under which MS-NLMP makes a MIC mandatory.

#[cfg(test)]
mod tests;
mod v2;
mod wire;

use rand::RngCore;

use super::header::{self, Scheme};
use super::{ConnectionAuth, Gatekeeper, Verdict, qualified};
use wire::Message;

/// The NetBIOS domain a challenge names unless [`Gatekeeper::with_netbios_names`] says
/// otherwise.
pub(super) const DEFAULT_NB_DOMAIN: &str = "BITSIM";
/// The NetBIOS computer name a challenge names unless told otherwise.
pub(super) const DEFAULT_NB_COMPUTER: &str = "SIMHOST";

/// NetBIOS names hold at most 15 characters (the 16th byte is the service type).
const NETBIOS_NAME_MAX: usize = 15;

/// The largest decoded NTLM message considered. A genuine AUTHENTICATE is well under 1 KiB
/// (its NTLMv2 blob echoes our short target info plus a few client AV pairs); 4 KiB leaves room
/// for long names while refusing hostile bulk before any field is read.
const MAX_MESSAGE_LEN: usize = 4 << 10;

/// A challenge awaiting its AUTHENTICATE on one connection.
#[derive(Clone, Debug)]
pub(super) struct Pending {
    /// NTLM or Negotiate: the AUTHENTICATE must continue under the scheme the handshake began.
    scheme: Scheme,
    server_challenge: [u8; 8],
}

/// `name` cut to NetBIOS's length.
pub(super) fn netbios_name(name: &str) -> String {
    name.chars().take(NETBIOS_NAME_MAX).collect()
}

/// What an NTLM or Negotiate token claims: `(user, leg)` for [`super::Seen`].
pub(super) fn identify(token68: &[u8]) -> (Option<String>, Option<u8>) {
    let Some(msg) = header::decode_base64(token68).filter(|msg| msg.len() <= MAX_MESSAGE_LEN)
    else {
        return (None, None);
    };
    match wire::message_type(&msg) {
        Some(1) => (None, Some(1)),
        Some(3) => {
            let user = wire::names(&msg).ok().map(|(domain, user)| qualified(&domain, &user));
            (user, Some(3))
        }
        _ => (None, None),
    }
}

impl Gatekeeper {
    /// Judges one NTLM or Negotiate token. Any handshake message starts the connection's
    /// authentication over, so a failed or restarted handshake leaves it unauthenticated.
    pub(super) fn judge_ntlm(
        &mut self,
        conn: &mut ConnectionAuth,
        pending: Option<Pending>,
        scheme: Scheme,
        token68: &[u8],
    ) -> Verdict {
        conn.authenticated = None;
        let name = scheme.name().unwrap_or_default();
        let Some(msg) = header::decode_base64(token68) else {
            return Verdict::Refused(format!("malformed {name} token: not base64"));
        };
        if msg.len() > MAX_MESSAGE_LEN {
            return Verdict::Refused(format!("{name} token longer than {MAX_MESSAGE_LEN} bytes"));
        }
        if !msg.starts_with(wire::SIGNATURE) {
            return Verdict::Refused(format!("{name} token is not NTLMSSP"));
        }
        match wire::parse(&msg) {
            Err(why) => Verdict::Refused(format!("malformed NTLM message: {why}")),
            Ok(Message::Negotiate { flags }) => {
                let mut server_challenge = [0u8; 8];
                self.rng.fill_bytes(&mut server_challenge);
                conn.pending = Some(Pending { scheme, server_challenge });
                let challenge = wire::challenge_message(
                    flags,
                    server_challenge,
                    &self.nb_domain,
                    &self.nb_computer,
                );
                Verdict::Continue(format!("{name} {}", header::encode_base64(&challenge)))
            }
            Ok(Message::Authenticate(auth)) => {
                let Some(pending) = pending else {
                    return Verdict::Refused(
                        "NTLM AUTHENTICATE without a pending challenge".into(),
                    );
                };
                if pending.scheme != scheme {
                    let began = pending.scheme.name().unwrap_or_default();
                    return Verdict::Refused(format!(
                        "handshake began as {began}, continued as {name}"
                    ));
                }
                let verdict = v2::verify(&self.accounts, &pending.server_challenge, &auth);
                if let Verdict::Allowed(user) = &verdict {
                    conn.authenticated = Some(user.clone());
                }
                verdict
            }
        }
    }
}
