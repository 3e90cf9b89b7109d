//! NTLM client messages (MS-NLMP), NTLMv2 only, connection-oriented.
//!
//! The client sends a NEGOTIATE_MESSAGE, the server answers 401 with a CHALLENGE_MESSAGE,
//! and the client answers with an AUTHENTICATE_MESSAGE on the same connection. HTTP uses NTLM
//! to authenticate the connection only, so no signing or sealing is asked for and no session
//! key is exchanged (NTLMSSP_NEGOTIATE_KEY_EXCH off). No VERSION and no MIC are sent.
//!
//! Tokens travel base64 in `NTLM <token>` or `Negotiate <token>`; under Negotiate they are
//! raw NTLMSSP, not SPNEGO-wrapped, as Windows sends them when no KDC is reachable.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use hmac::{Hmac, KeyInit, Mac};
use md4::{Digest, Md4};
use md5::Md5;

use super::AuthScheme;
use super::challenge::Challenge;

/// Largest CHALLENGE_MESSAGE accepted. A real one is a few hundred bytes; the bound caps what
/// a hostile server can make the client copy (the NTLMv2 response echoes its TargetInfo).
pub const NTLM_MESSAGE_MAX: usize = 64 * 1024;

//= https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/99d90ff4-957f-4c8a-80e4-5bfe5a9a9832
// NegotiateFlags (MS-NLMP 2.2.2.5): the ones this client sets or reads.

/// A: strings are UTF-16LE. The only encoding offered; OEM would need the server's code page.
pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
/// C: asks for the server's name in TargetName.
pub const REQUEST_TARGET: u32 = 0x0000_0004;
/// H: NTLM authentication.
pub const NEGOTIATE_NTLM: u32 = 0x0000_0200;
/// J: set in the AUTHENTICATE_MESSAGE of an anonymous logon (empty user and password).
pub const NEGOTIATE_ANONYMOUS: u32 = 0x0000_0800;
/// M: dummy signatures when signing is off; HTTP never uses them.
pub const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
/// P: extended session security; changes only NTLMv1 responses and session keys, unused here.
pub const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
/// S: set by the server when TargetInfo is present.
pub const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
/// U: 128-bit keys. Unused without sealing, but a server with ServerRequire128bitEncryption
/// (the Windows default since Windows 7) refuses a client that does not offer it (3.2.5.1.1).
pub const NEGOTIATE_128: u32 = 0x2000_0000;
/// W: 56-bit keys, offered alongside 128 as Windows clients do.
pub const NEGOTIATE_56: u32 = 0x8000_0000;

/// Everything the NEGOTIATE_MESSAGE offers (0xA008_8205): the four flags MS-NLMP 3.1.5.1.1
/// has every client set (REQUEST_TARGET, NTLM, ALWAYS_SIGN, UNICODE), EXTENDED_SESSIONSECURITY
/// which it adds when LM is not used, 128 and 56. The AUTHENTICATE_MESSAGE carries the part
/// of it the server's CHALLENGE_MESSAGE accepted.
pub const NEGOTIATE_FLAGS: u32 = NEGOTIATE_UNICODE
    | REQUEST_TARGET
    | NEGOTIATE_NTLM
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NEGOTIATE_128
    | NEGOTIATE_56;

/// Every NTLM message starts with it (MS-NLMP 2.2.1).
const SIGNATURE: [u8; 8] = *b"NTLMSSP\0";
const NEGOTIATE: u32 = 1;
const CHALLENGE: u32 = 2;
const AUTHENTICATE: u32 = 3;
/// NEGOTIATE_MESSAGE without Version: signature, type, flags, two field entries.
const NEGOTIATE_LEN: usize = 32;
/// CHALLENGE_MESSAGE through TargetInfoFields; the optional Version follows.
const CHALLENGE_HEADER_LEN: usize = 48;
/// AUTHENTICATE_MESSAGE through NegotiateFlags, without Version and MIC.
const AUTHENTICATE_HEADER_LEN: usize = 64;
/// AV_PAIR ids (MS-NLMP 2.2.2.1).
const AV_EOL: u16 = 0;
const AV_TIMESTAMP: u16 = 7;

type HmacMd5 = Hmac<Md5>;

/// The NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1): [`NEGOTIATE_FLAGS`], no domain or workstation
/// (so neither OEM_*_SUPPLIED flag), no Version.
pub fn negotiate_message() -> Vec<u8> {
    let mut out = Vec::with_capacity(NEGOTIATE_LEN);
    out.extend_from_slice(&SIGNATURE);
    out.extend_from_slice(&NEGOTIATE.to_le_bytes());
    out.extend_from_slice(&NEGOTIATE_FLAGS.to_le_bytes());
    // DomainNameFields and WorkstationFields: empty, pointing at the message's end.
    for _ in 0..2 {
        put_field(&mut out, 0, NEGOTIATE_LEN as u32);
    }
    out
}

/// What a CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) says.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ChallengeMessage {
    pub flags: u32,
    pub server_challenge: [u8; 8],
    /// The server's or its domain's name (informational).
    pub target_name: String,
    /// The AV_PAIR list (MS-NLMP 2.2.2.1), echoed inside the NTLMv2 response; validated to end
    /// with MsvAvEOL when not empty.
    pub target_info: Vec<u8>,
}

/// Reads and checks a CHALLENGE_MESSAGE: signature, type, Unicode, every field's bounds, the
/// AV_PAIR list, the [`NTLM_MESSAGE_MAX`] bound. Err says what is wrong.
pub fn parse_challenge_message(bytes: &[u8]) -> Result<ChallengeMessage, String> {
    let len = bytes.len();
    if !(CHALLENGE_HEADER_LEN..=NTLM_MESSAGE_MAX).contains(&len) {
        let limits = format!("{CHALLENGE_HEADER_LEN} (its header) to {NTLM_MESSAGE_MAX}");
        return Err(format!("NTLM challenge of {len} bytes, outside {limits}"));
    }
    if fixed::<8>(bytes, 0)? != SIGNATURE {
        return Err("NTLM challenge lacks the NTLMSSP signature".into());
    }
    let message_type = u32::from_le_bytes(fixed(bytes, 8)?);
    if message_type != CHALLENGE {
        return Err(format!("NTLM message type {message_type} where a challenge (2) belongs"));
    }
    let flags = u32::from_le_bytes(fixed(bytes, 20)?);
    if flags & NEGOTIATE_UNICODE == 0 {
        return Err("NTLM challenge did not select Unicode, the only encoding offered".into());
    }
    let target_name = utf16_to_string(payload(bytes, 12, "TargetName")?)?;
    let target_info = payload(bytes, 40, "TargetInfo")?.to_vec();
    server_timestamp(&target_info)?;
    Ok(ChallengeMessage { flags, server_challenge: fixed(bytes, 24)?, target_name, target_info })
}

/// Who authenticates. Empty user and password make an anonymous logon (MS-NLMP 3.3.2).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Identity<'a> {
    /// The user's domain, as the user gave it (hashed as given, not uppercased).
    pub domain: &'a str,
    pub user: &'a str,
    pub password: &'a str,
    /// The client machine's name (informational).
    pub workstation: &'a str,
}

/// The AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3) answering `challenge`: NTLMv2 and LMv2
/// responses (3.3.2), UTF-16LE strings, no Version, no MIC, no session key.
///
/// `timestamp` (FILETIME: 100 ns since 1601) is used unless the server's TargetInfo has an
/// MsvAvTimestamp; then that one is, and the LMv2 response is Z(24), as MS-NLMP 3.1.5.1.2
/// says. Errs when a field outgrows its 16-bit length or TargetInfo is malformed (a caller
/// may build a [`ChallengeMessage`] by hand).
pub fn authenticate_message(
    challenge: &ChallengeMessage,
    who: &Identity<'_>,
    client_challenge: [u8; 8],
    timestamp: u64,
) -> Result<Vec<u8>, String> {
    let server_time = server_timestamp(&challenge.target_info)?;
    let mut flags = challenge.flags & NEGOTIATE_FLAGS;
    let (lm, nt) = if who.user.is_empty() && who.password.is_empty() {
        //= https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/5e550938-91d4-459f-b67d-75d70009e3f3
        //# Set NtChallengeResponseLen to 0 ... Set LmChallengeResponse to Z(1)
        flags |= NEGOTIATE_ANONYMOUS;
        (vec![0], Vec::new())
    } else {
        let key = ntowf_v2(who.password, who.user, who.domain);
        let server = &challenge.server_challenge;
        let time = server_time.unwrap_or(timestamp);
        let temp = ntlmv2_temp(time, &client_challenge, &challenge.target_info);
        let nt = [&nt_proof(&key, server, &temp)[..], &temp].concat();
        let lm = match server_time {
            Some(_) => vec![0; 24],
            None => [&hmac_md5(&key, &[server, &client_challenge])[..], &client_challenge].concat(),
        };
        (lm, nt)
    };
    let strings = [who.domain, who.user, who.workstation].map(utf16le);
    let [domain, user, workstation] = &strings;
    encode_authenticate(flags, [&lm, &nt, domain, user, workstation, &[]])
}

/// NTProofStr = HMAC_MD5(ResponseKeyNT, ServerChallenge ‖ temp) (MS-NLMP 3.3.2).
pub fn nt_proof(nt_owf_v2: &[u8; 16], server_challenge: &[u8; 8], temp: &[u8]) -> [u8; 16] {
    hmac_md5(nt_owf_v2, &[server_challenge, temp])
}

/// NTOWFv2 = HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(Uppercase(User) ‖ UserDom)) (MS-NLMP
/// 3.3.2), which is both ResponseKeyNT and ResponseKeyLM.
///
/// Windows uppercases one UTF-16 unit into one (RtlUpcaseUnicodeChar), so characters whose
/// full uppercase is several ('ß' → "SS") or that lie outside the BMP are left as they are.
pub fn ntowf_v2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    let nt_hash: [u8; 16] = Md4::digest(utf16le(password)).into();
    let upper: String = user.chars().map(upcase_one).collect();
    hmac_md5(&nt_hash, &[&utf16le(&(upper + domain))])
}

/// `NTLM <base64>` or `Negotiate <base64>`: the header value carrying `token`.
pub fn header_value(scheme: AuthScheme, token: &[u8]) -> String {
    format!("{} {}", scheme.token(), STANDARD.encode(token))
}

/// The NTLM token in an `NTLM` or `Negotiate` challenge's token68, decoded from base64
/// (padding optional, as some servers drop it). None for other schemes and for a bare
/// `NTLM` / `Negotiate`, which invites a NEGOTIATE_MESSAGE.
pub fn token_from_challenge(challenge: &Challenge) -> Option<Result<Vec<u8>, String>> {
    if !matches!(challenge.auth_scheme(), Some(AuthScheme::Ntlm | AuthScheme::Negotiate)) {
        return None;
    }
    let token = challenge.token68.as_deref()?;
    Some(
        STANDARD_PAD_INDIFFERENT
            .decode(token)
            .map_err(|e| format!("{} token is not base64: {e}", challenge.scheme)),
    )
}

/// The NTLMv2 `temp` (MS-NLMP 3.3.2, the NTLMv2_CLIENT_CHALLENGE of 2.2.2.7):
/// Responserversion 1, HiResponserversion 1, Z(6), Time, ClientChallenge, Z(4), ServerName
/// (the AV pairs), Z(4).
fn ntlmv2_temp(time: u64, client_challenge: &[u8; 8], target_info: &[u8]) -> Vec<u8> {
    let mut temp = Vec::with_capacity(32 + target_info.len());
    temp.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    temp.extend_from_slice(&time.to_le_bytes());
    temp.extend_from_slice(client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(target_info);
    temp.extend_from_slice(&[0; 4]);
    temp
}

/// The MsvAvTimestamp of an AV_PAIR list (MS-NLMP 2.2.2.1), checking that a non-empty list
/// ends with MsvAvEOL inside its bytes. An empty list (no TargetInfo) has none.
fn server_timestamp(info: &[u8]) -> Result<Option<u64>, String> {
    let mut timestamp = None;
    let mut at = 0;
    while !info.is_empty() {
        let truncated = || format!("NTLM TargetInfo ends inside the AV pair at byte {at}");
        let [id0, id1, len0, len1] = fixed(info, at).map_err(|_| truncated())?;
        let len = usize::from(u16::from_le_bytes([len0, len1]));
        let value = info.get(at + 4..at + 4 + len).ok_or_else(truncated)?;
        match u16::from_le_bytes([id0, id1]) {
            AV_EOL => return Ok(timestamp),
            AV_TIMESTAMP => {
                let time = <[u8; 8]>::try_from(value)
                    .map_err(|_| format!("NTLM MsvAvTimestamp of {len} bytes, not 8"))?;
                // Each AvId occurs at most once (2.2.2.1); against a server repeating it, the
                // first wins.
                if timestamp.is_none() {
                    timestamp = Some(u64::from_le_bytes(time));
                }
            }
            _ => {}
        }
        at += 4 + len;
    }
    Ok(None)
}

/// Signature, type, the six (Len, MaxLen, Offset) entries, flags, then the payload in order.
fn encode_authenticate(flags: u32, fields: [&[u8]; 6]) -> Result<Vec<u8>, String> {
    const NAMES: [&str; 6] =
        ["LM response", "NT response", "domain", "user name", "workstation", "session key"];
    let payload_len: usize = fields.iter().map(|f| f.len()).sum();
    let mut out = Vec::with_capacity(AUTHENTICATE_HEADER_LEN + payload_len);
    out.extend_from_slice(&SIGNATURE);
    out.extend_from_slice(&AUTHENTICATE.to_le_bytes());
    let mut offset = AUTHENTICATE_HEADER_LEN;
    for (field, name) in fields.iter().zip(NAMES) {
        let len = u16::try_from(field.len())
            .map_err(|_| format!("NTLM {name} of {} bytes overflows its length", field.len()))?;
        // Six lengths under 64 KiB after a 64-byte header: the offset always fits in 32 bits.
        put_field(&mut out, len, offset as u32);
        offset += field.len();
    }
    out.extend_from_slice(&flags.to_le_bytes());
    for field in fields {
        out.extend_from_slice(field);
    }
    Ok(out)
}

/// A payload field's bytes, from its (Len, MaxLen, Offset) entry at `at` (MS-NLMP 2.2.1).
/// MaxLen is ignored, as receivers must; an empty field's offset is not checked.
fn payload<'a>(msg: &'a [u8], at: usize, name: &str) -> Result<&'a [u8], String> {
    let len = usize::from(u16::from_le_bytes(fixed(msg, at)?));
    let offset = u32::from_le_bytes(fixed(msg, at + 4)?) as usize;
    if len == 0 {
        return Ok(&[]);
    }
    let size = msg.len();
    let field = offset.checked_add(len).and_then(|end| msg.get(offset..end));
    field.ok_or_else(|| {
        format!("NTLM {name} (offset {offset}, {len} bytes) past the {size}-byte message")
    })
}

/// `N` bytes at `at`, or an error naming the truncation.
fn fixed<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], String> {
    at.checked_add(N)
        .and_then(|end| bytes.get(at..end))
        .and_then(|slice| slice.try_into().ok())
        .ok_or_else(|| format!("NTLM message truncated at byte {at}"))
}

fn put_field(out: &mut Vec<u8>, len: u16, offset: u32) {
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// UTF-16LE to a String, unpaired surrogates replaced by U+FFFD.
fn utf16_to_string(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() % 2 != 0 {
        return Err(format!("NTLM UTF-16 string of odd length {}", bytes.len()));
    }
    let units = bytes.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    Ok(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect())
}

/// Uppercases one character into one, in the BMP, as Windows does; otherwise leaves it.
fn upcase_one(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) if u32::from(c) <= 0xFFFF && u32::from(u) <= 0xFFFF => u,
        _ => c,
    }
}

/// HMAC-MD5 (RFC 2104) under a 16-byte key of MS-NLMP.
fn hmac_md5(key: &[u8; 16], parts: &[&[u8]]) -> [u8; 16] {
    // RFC 2104 §2 pads a key shorter than the 64-byte block with zeros. Padding here gives
    // the fixed-size key `KeyInit::new` takes, leaving no fallible constructor to unwrap.
    let mut block = [0u8; 64];
    block[..16].copy_from_slice(key);
    let mut mac = HmacMd5::new(&block.into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::super::challenge::parse_challenges;
    use super::*;

    fn unhex(hex: &str) -> Vec<u8> {
        let digits: Vec<u8> = hex.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// A payload field of a built message, read at the offset its header entry gives (by hand,
    /// not through `payload`, so the test does not check the code with itself).
    fn field_at(msg: &[u8], at: usize) -> &[u8] {
        let len = usize::from(u16::from_le_bytes([msg[at], msg[at + 1]]));
        assert_eq!(msg[at..at + 2], msg[at + 2..at + 4], "MaxLen equals Len");
        let offset = u32::from_le_bytes(msg[at + 4..at + 8].try_into().unwrap()) as usize;
        &msg[offset..offset + len]
    }

    // MS-NLMP 4.2.4 (NTLMv2 example): User "User", domain "Domain", password "Password",
    // ServerChallenge 0123456789abcdef, ClientChallenge aa*8, Time 0.
    const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];
    const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    const WHO: Identity<'static> =
        Identity { domain: "Domain", user: "User", password: "Password", workstation: "COMPUTER" };

    /// MS-NLMP 4.2.4.3, the CHALLENGE_MESSAGE, transcribed from the spec's hex dump: target
    /// name "Server", Version 6.0.6000 rev 15, AV pairs NbDomainName "Domain", NbComputerName
    /// "Server", EOL.
    fn spec_challenge() -> Vec<u8> {
        unhex(
            "4e544c4d53535000 02000000 0c000c00 38000000 33828ae2 0123456789abcdef
             0000000000000000 24002400 44000000 060070170000000f 5300650072007600
             65007200 02000c00 44006f006d00610069006e00 01000c00 530065007200760065007200
             00000000",
        )
    }

    fn flags_of(msg: &[u8]) -> u32 {
        u32::from_le_bytes(msg[60..64].try_into().unwrap())
    }

    //= https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/7795bd0e-fd5e-43ec-bd9c-994704d1ee26
    #[test]
    fn ms_nlmp_4_2_4_challenge_ntowfv2_and_ntproofstr() {
        let challenge = parse_challenge_message(&spec_challenge()).unwrap();
        let key = ntowf_v2("Password", "User", "Domain");
        assert_eq!(key.to_vec(), unhex("0c868a403bfd7a93a3001ef22ef02e3f"));
        let temp = ntlmv2_temp(0, &CLIENT_CHALLENGE, &challenge.target_info);
        let proof = nt_proof(&key, &SERVER_CHALLENGE, &temp);
        assert_eq!(proof.to_vec(), unhex("68cd0ab851e51c96aabc927bebef6a1c"));
        assert_eq!(challenge.flags, 0xe28a_8233);
        assert_eq!(challenge.server_challenge, SERVER_CHALLENGE);
        assert_eq!(challenge.target_name, "Server");
        let info = "02000c00 44006f006d00610069006e00 01000c00 530065007200760065007200 00000000";
        assert_eq!(challenge.target_info, unhex(info));
    }

    #[test]
    fn ms_nlmp_4_2_4_authenticate_fields_decode_at_their_offsets() {
        let challenge = parse_challenge_message(&spec_challenge()).unwrap();
        let msg = authenticate_message(&challenge, &WHO, CLIENT_CHALLENGE, 0).unwrap();
        assert_eq!(&msg[..12], b"NTLMSSP\0\x03\0\0\0");
        let lm = field_at(&msg, 12);
        assert_eq!(lm, unhex("86c35097ac9cec102554764a57cccc19 aaaaaaaaaaaaaaaa"), "LMv2");
        let nt = field_at(&msg, 20);
        assert_eq!(nt[..16], unhex("68cd0ab851e51c96aabc927bebef6a1c"), "NTProofStr");
        assert_eq!(nt[16..], ntlmv2_temp(0, &CLIENT_CHALLENGE, &challenge.target_info));
        assert_eq!(field_at(&msg, 28), utf16le("Domain"));
        assert_eq!(field_at(&msg, 36), utf16le("User"));
        assert_eq!(field_at(&msg, 44), utf16le("COMPUTER"));
        assert_eq!(field_at(&msg, 52), b"");
        let flags = flags_of(&msg);
        assert_eq!(flags, 0xe28a_8233 & NEGOTIATE_FLAGS);
        assert_eq!(flags & 0x4000_0000, 0, "KEY_EXCH stays off");
        // The payload starts right after the 64-byte header and has nothing else in it.
        assert_eq!(msg[16..20], 64u32.to_le_bytes());
        assert_eq!(msg.len(), 64 + 24 + nt.len() + 12 + 8 + 16);
    }

    /// A CHALLENGE_MESSAGE built field by field: no Version, payload after the 48-byte header.
    fn build_challenge(flags: u32, name: &str, info: &[u8]) -> Vec<u8> {
        let name = utf16le(name);
        let mut msg = SIGNATURE.to_vec();
        msg.extend(CHALLENGE.to_le_bytes());
        put_field(&mut msg, name.len() as u16, 48);
        msg.extend(flags.to_le_bytes());
        msg.extend(SERVER_CHALLENGE);
        msg.extend([0; 8]);
        put_field(&mut msg, info.len() as u16, 48 + name.len() as u32);
        msg.extend(name);
        msg.extend(info);
        msg
    }

    #[test]
    fn server_timestamp_replaces_the_callers_and_blanks_lmv2() {
        let server_time: u64 = 0x01d9_0000_1234_5678;
        let mut info = unhex("01000400 53005600 07000800");
        info.extend(server_time.to_le_bytes());
        info.extend([0; 4]);
        let flags = NEGOTIATE_FLAGS | NEGOTIATE_TARGET_INFO | 0x4000_0000;
        let challenge = parse_challenge_message(&build_challenge(flags, "SV", &info)).unwrap();
        assert_eq!(challenge.target_name, "SV");
        let msg = authenticate_message(&challenge, &WHO, CLIENT_CHALLENGE, 42).unwrap();
        assert_eq!(field_at(&msg, 12), [0; 24]);
        let nt = field_at(&msg, 20);
        assert_eq!(nt[24..32], server_time.to_le_bytes());
        let key = ntowf_v2("Password", "User", "Domain");
        assert_eq!(nt[..16], nt_proof(&key, &SERVER_CHALLENGE, &nt[16..]));
        let flags = flags_of(&msg);
        assert_eq!(flags, NEGOTIATE_FLAGS, "KEY_EXCH and TARGET_INFO are not echoed");
        // Without the AV pair the caller's time is used.
        let plain = build_challenge(NEGOTIATE_FLAGS, "SV", &[0; 4]);
        let challenge = parse_challenge_message(&plain).unwrap();
        let msg = authenticate_message(&challenge, &WHO, CLIENT_CHALLENGE, 42).unwrap();
        assert_eq!(field_at(&msg, 20)[24..32], 42u64.to_le_bytes());
        assert_eq!(field_at(&msg, 12)[16..], CLIENT_CHALLENGE);
    }

    #[test]
    fn empty_credentials_log_on_anonymously() {
        let challenge = parse_challenge_message(&spec_challenge()).unwrap();
        let who = Identity { domain: "", user: "", password: "", workstation: "W" };
        let msg = authenticate_message(&challenge, &who, CLIENT_CHALLENGE, 0).unwrap();
        assert_eq!(field_at(&msg, 12), [0]);
        assert_eq!(field_at(&msg, 20), b"");
        let flags = flags_of(&msg);
        assert_eq!(flags & NEGOTIATE_ANONYMOUS, NEGOTIATE_ANONYMOUS);
    }

    #[test]
    fn negotiate_message_and_header_values() {
        let msg = negotiate_message();
        assert_eq!(
            msg,
            unhex("4e544c4d53535000 01000000 058208a0 0000000020000000 0000000020000000")
        );
        assert_eq!(
            header_value(AuthScheme::Ntlm, &msg),
            "NTLM TlRMTVNTUAABAAAABYIIoAAAAAAgAAAAAAAAACAAAAA="
        );
        assert!(header_value(AuthScheme::Negotiate, &msg).starts_with("Negotiate TlRMTVNT"));
    }

    #[test]
    fn tokens_come_from_ntlm_and_negotiate_challenges_only() {
        let spec = spec_challenge();
        let value = format!("NTLM {}", STANDARD.encode(&spec));
        let unpadded = format!("Negotiate {}", STANDARD.encode(&spec[..50]).trim_end_matches('='));
        let values = [value.as_str(), &unpadded, "NTLM", "Basic realm=x", "NTLM a-b"];
        let challenges = parse_challenges(values.iter().map(|v| v.as_bytes()));
        let tokens: Vec<_> = challenges.iter().map(token_from_challenge).collect();
        assert_eq!(tokens[0], Some(Ok(spec.clone())));
        assert_eq!(tokens[1], Some(Ok(spec[..50].to_vec())));
        assert_eq!(tokens[2..4], [None, None]);
        assert!(tokens[4].as_ref().unwrap().as_ref().unwrap_err().contains("not base64"));
    }

    #[test]
    fn user_names_are_uppercased_one_unit_to_one() {
        let as_upper = ntowf_v2("pw", "ÉLODIE", "Dom");
        assert_eq!(ntowf_v2("pw", "élodie", "Dom"), as_upper);
        assert_ne!(ntowf_v2("pw", "élodie", "DOM"), as_upper, "the domain keeps its case");
        assert_eq!(upcase_one('ß'), 'ß');
        assert_eq!(upcase_one('\u{10428}'), '\u{10428}', "outside the BMP");
    }

    #[test]
    fn malformed_challenges_are_refused_with_the_reason() {
        let spec = spec_challenge();
        let with = |at: usize, bytes: &[u8]| {
            let mut msg = spec.clone();
            msg[at..at + bytes.len()].copy_from_slice(bytes);
            msg
        };
        let cases = [
            (spec[..47].to_vec(), "of 47 bytes, outside 48"),
            (vec![0; NTLM_MESSAGE_MAX + 1], "of 65537 bytes, outside"),
            (with(0, b"NTLMSSP!"), "signature"),
            (with(8, &[3, 0, 0, 0]), "type 3"),
            (with(20, &[0x32]), "Unicode"),
            (with(16, &[0x60, 0, 0, 0]), "TargetName (offset 96, 12 bytes) past"),
            (with(44, &[0xff, 0xff, 0xff, 0xff]), "TargetInfo (offset 4294967295"),
            (with(40, &[0x25, 0]), "TargetInfo (offset 68, 37 bytes)"),
            (with(12, &[0x0b, 0]), "odd length 11"),
            (with(40, &[0x20, 0]), "ends inside the AV pair at byte 32"),
            (with(86, &[0x20]), "ends inside the AV pair at byte 16"),
            (with(84, &[0x07, 0]), "MsvAvTimestamp of 12 bytes"),
        ];
        for (msg, reason) in cases {
            let err = parse_challenge_message(&msg).unwrap_err();
            assert!(err.contains(reason), "{reason}: {err}");
        }
        // An empty field may point anywhere.
        assert!(parse_challenge_message(&with(12, &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])).is_ok());
    }

    #[test]
    fn no_input_panics() {
        let spec = spec_challenge();
        for end in 0..spec.len() {
            assert!(parse_challenge_message(&spec[..end]).is_err());
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut msg = spec.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % msg.len() as u64) as usize;
                msg[at] = next() as u8;
            }
            if let Ok(challenge) = parse_challenge_message(&msg) {
                let _ = authenticate_message(&challenge, &WHO, CLIENT_CHALLENGE, 0);
            }
        }
        // A hand-made challenge whose TargetInfo cannot fit the NTLMv2 response's length.
        let huge = ChallengeMessage {
            flags: NEGOTIATE_FLAGS,
            server_challenge: SERVER_CHALLENGE,
            target_name: String::new(),
            target_info: [vec![1, 0, 0xff, 0xff], vec![0; 0xffff], vec![0; 4]].concat(),
        };
        let err = authenticate_message(&huge, &WHO, CLIENT_CHALLENGE, 0).unwrap_err();
        assert!(err.contains("NT response"), "{err}");
        let bad = ChallengeMessage { target_info: vec![1, 0], ..huge };
        assert!(authenticate_message(&bad, &WHO, CLIENT_CHALLENGE, 0).is_err());
    }
}
