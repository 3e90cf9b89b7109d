//! NTLMv2 response verification (MS-NLMP §3.3.2). The server recomputes NTProofStr from the
//! account's password and the names the AUTHENTICATE carries; NTLMv1 is refused outright.

use hmac::{Hmac, KeyInit, Mac};
use md4::Md4;
use md5::{Digest, Md5};

use super::wire::{Authenticate, utf16le};
use crate::auth::{Account, Verdict, candidates, echo, qualified};

/// An NTLMv1 NT response is always 24 bytes (MS-NLMP §3.3.1); an NTLMv2 one never is.
const NTLMV1_RESPONSE_LEN: usize = 24;

/// The shortest NTLMv2 NT response: NTProofStr (16 bytes) plus the fixed part of
/// NTLMv2_CLIENT_CHALLENGE (MS-NLMP §2.2.2.7: versions, reserved, timestamp, client challenge,
/// reserved; 28 bytes).
const MIN_NTLMV2_RESPONSE_LEN: usize = 16 + 28;

/// NTLMv2_CLIENT_CHALLENGE's RespType and HiRespType: both 1 in every version of MS-NLMP.
const CLIENT_CHALLENGE_VERSION: [u8; 2] = [1, 1];

/// NTOWFv2 = HMAC_MD5(MD4(UTF-16LE(password)), UTF-16LE(UPPER(user) || domain)).
pub(super) fn nt_owf_v2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    let nt_hash = Md4::digest(utf16le(password));
    let mut identity = utf16le(&upper(user));
    identity.extend_from_slice(&utf16le(domain));
    hmac_md5(&nt_hash, &[&identity])
}

/// NTProofStr = HMAC_MD5(NTOWFv2, server challenge || temp), where temp is the NT response
/// after its first 16 bytes (which are the client's NTProofStr).
pub(super) fn nt_proof_str(nt_owf: &[u8; 16], server_challenge: &[u8; 8], temp: &[u8]) -> [u8; 16] {
    hmac_md5(nt_owf, &[server_challenge, temp])
}

/// Judges an AUTHENTICATE against the challenge it answers: admitted when an account matching
/// its user and domain reproduces its NTProofStr.
pub(super) fn verify(
    accounts: &[Account],
    server_challenge: &[u8; 8],
    auth: &Authenticate,
) -> Verdict {
    let response = &auth.nt_response;
    let refused = |why: &str| Verdict::Refused(why.to_owned());
    match response.len() {
        0 => return refused("anonymous NTLM refused"),
        NTLMV1_RESPONSE_LEN => return refused("NTLMv1 refused: the server requires NTLMv2"),
        len if len < MIN_NTLMV2_RESPONSE_LEN => {
            return Verdict::Refused(format!("malformed NTLMv2 response: {len} bytes"));
        }
        _ => {}
    }
    let (proof, temp) = response.split_at(16);
    if temp[..2] != CLIENT_CHALLENGE_VERSION {
        return Verdict::Refused(format!(
            "malformed NTLMv2 response: blob version {}.{}",
            temp[0], temp[1]
        ));
    }
    let mut known = false;
    for account in candidates(accounts, Some(&auth.domain), &auth.user) {
        known = true;
        let nt_owf = nt_owf_v2(&account.password, &auth.user, &auth.domain);
        if nt_proof_str(&nt_owf, server_challenge, temp) == proof {
            return Verdict::Allowed(account.qualified_name());
        }
    }
    let claimed = echo(&qualified(&auth.domain, &auth.user));
    Verdict::Refused(if known {
        format!("wrong password for {claimed}")
    } else {
        format!("unknown user {claimed}")
    })
}

/// Upper-cases as Windows does for NTOWFv2: character by character, keeping a character whose
/// upper case is more than one character (`ß`), since Windows has no such mappings and the
/// client hashed what Windows would.
fn upper(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(single), None) => single,
                _ => c,
            }
        })
        .collect()
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = Hmac::<Md5>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}
