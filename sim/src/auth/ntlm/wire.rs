//! NTLM messages on the wire (MS-NLMP §2.2.1): reading the NEGOTIATE (type 1) and
//! AUTHENTICATE (type 3) a client sends, writing the CHALLENGE (type 2) we answer with. All
//! integers are little-endian; variable fields are (length u16, max length u16, offset u32)
//! triples pointing into the message, every one bounds-checked before use.

/// Every NTLM message starts with this.
pub(super) const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

// NegotiateFlags bits (MS-NLMP §2.2.2.5), by the names the spec gives them.
pub(super) const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
pub(super) const NEGOTIATE_OEM: u32 = 0x0000_0002;
pub(super) const REQUEST_TARGET: u32 = 0x0000_0004;
pub(super) const NEGOTIATE_NTLM: u32 = 0x0000_0200;
pub(super) const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
pub(super) const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
pub(super) const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
pub(super) const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
pub(super) const NEGOTIATE_VERSION: u32 = 0x0200_0000;

/// The client flags a challenge echoes: character set, NTLM itself, extended session security,
/// and the cosmetic always-sign and version. Signing, sealing and key exchange are not echoed:
/// HTTP authentication never uses the session key, and we never derive one.
const MIRRORED_FLAGS: u32 = NEGOTIATE_UNICODE
    | NEGOTIATE_NTLM
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NEGOTIATE_VERSION;

// AV pair ids (MS-NLMP §2.2.2.1).
const MSV_AV_EOL: u16 = 0;
const MSV_AV_NB_COMPUTER_NAME: u16 = 1;
const MSV_AV_NB_DOMAIN_NAME: u16 = 2;

/// A NEGOTIATE_MESSAGE's fixed part: signature, type, flags.
const NEGOTIATE_FIXED_LEN: usize = 16;
/// A CHALLENGE_MESSAGE's fixed part, Version field included; the payload starts here.
const CHALLENGE_FIXED_LEN: usize = 56;
/// An AUTHENTICATE_MESSAGE's fixed part up to and including NegotiateFlags. Clients old enough
/// to omit the flags speak only NTLMv1, which is refused anyway.
const AUTHENTICATE_FIXED_LEN: usize = 64;

/// The Version we announce when asked: Windows 10 (10.0 build 19041), NTLMSSP revision 15.
/// MS-NLMP §2.2.2.10 makes it informational only.
const VERSION: [u8; 8] = [10, 0, 0x61, 0x4a, 0, 0, 0, 0x0f];

/// A message a client may send.
pub(super) enum Message {
    Negotiate { flags: u32 },
    Authenticate(Authenticate),
}

/// The parts of an AUTHENTICATE_MESSAGE the server judges.
pub(super) struct Authenticate {
    pub(super) domain: String,
    pub(super) user: String,
    pub(super) nt_response: Vec<u8>,
}

/// The MessageType of anything carrying the NTLMSSP signature.
pub(super) fn message_type(msg: &[u8]) -> Option<u32> {
    if !msg.starts_with(SIGNATURE) {
        return None;
    }
    read_u32(msg, SIGNATURE.len())
}

/// Parses a client's message; a CHALLENGE or an unknown type is an error.
pub(super) fn parse(msg: &[u8]) -> Result<Message, String> {
    match message_type(msg) {
        Some(1) => {
            let flags = read_u32(msg, 12).filter(|_| msg.len() >= NEGOTIATE_FIXED_LEN);
            Ok(Message::Negotiate { flags: flags.ok_or("truncated NEGOTIATE message")? })
        }
        Some(3) => {
            let (domain, user) = names(msg)?;
            let nt_response = field(msg, 20)?.to_vec();
            Ok(Message::Authenticate(Authenticate { domain, user, nt_response }))
        }
        Some(other) => Err(format!("unexpected message type {other}")),
        None => Err("no NTLMSSP signature".to_owned()),
    }
}

/// An AUTHENTICATE's (domain, user), in UTF-16LE or OEM as its flags say. OEM text is read
/// as Latin-1: the real code page is the client's, unknowable here, and the two agree on
/// ASCII, which is what test accounts use.
pub(super) fn names(msg: &[u8]) -> Result<(String, String), String> {
    if msg.len() < AUTHENTICATE_FIXED_LEN {
        return Err("truncated AUTHENTICATE message".to_owned());
    }
    let unicode = read_u32(msg, 60).is_some_and(|flags| flags & NEGOTIATE_UNICODE != 0);
    let text = |at: usize, what: &str| {
        let bytes = field(msg, at)?;
        decode_text(bytes, unicode).ok_or_else(|| format!("{what} is not valid UTF-16LE"))
    };
    Ok((text(28, "domain")?, text(36, "user")?))
}

/// The bytes a (length, max length, offset) triple at `at` points to.
fn field(msg: &[u8], at: usize) -> Result<&[u8], String> {
    let bad = || format!("field at byte {at} lies outside the message");
    let len = usize::from(read_u16(msg, at).ok_or_else(bad)?);
    let offset = usize::try_from(read_u32(msg, at + 4).ok_or_else(bad)?).map_err(|_| bad())?;
    let end = offset.checked_add(len).ok_or_else(bad)?;
    msg.get(offset..end).ok_or_else(bad)
}

fn read_u16(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(msg.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn read_u32(msg: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(msg.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn decode_text(bytes: &[u8], unicode: bool) -> Option<String> {
    if !unicode {
        return Some(bytes.iter().copied().map(char::from).collect());
    }
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units = bytes.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    char::decode_utf16(units).collect::<Result<String, _>>().ok()
}

pub(super) fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A CHALLENGE_MESSAGE answering a NEGOTIATE with `client_flags`. The target name is our
/// NetBIOS domain; the target info names domain and computer. No MsvAvTimestamp: the
/// gatekeeper has no clock, and without one MS-NLMP does not oblige the client to send a MIC.
pub(super) fn challenge_message(
    client_flags: u32,
    server_challenge: [u8; 8],
    domain: &str,
    computer: &str,
) -> Vec<u8> {
    let flags = reply_flags(client_flags);
    let unicode = flags & NEGOTIATE_UNICODE != 0;
    let target_name: Vec<u8> =
        if unicode { utf16le(domain) } else { domain.chars().map(latin1).collect() };
    let target_info = target_info(domain, computer);
    let mut msg = Vec::with_capacity(CHALLENGE_FIXED_LEN + target_name.len() + target_info.len());
    msg.extend_from_slice(SIGNATURE);
    msg.extend_from_slice(&2u32.to_le_bytes());
    push_field(&mut msg, target_name.len(), CHALLENGE_FIXED_LEN);
    msg.extend_from_slice(&flags.to_le_bytes());
    msg.extend_from_slice(&server_challenge);
    msg.extend_from_slice(&[0; 8]); // Reserved
    push_field(&mut msg, target_info.len(), CHALLENGE_FIXED_LEN + target_name.len());
    msg.extend_from_slice(if flags & NEGOTIATE_VERSION != 0 { &VERSION } else { &[0; 8] });
    msg.extend_from_slice(&target_name);
    msg.extend_from_slice(&target_info);
    msg
}

/// Our flags: the mirrored client flags, OEM when the client did not ask for Unicode, and
/// always a domain target with target info (NTLMv2 needs the latter).
fn reply_flags(client_flags: u32) -> u32 {
    let charset = if client_flags & NEGOTIATE_UNICODE != 0 { 0 } else { NEGOTIATE_OEM };
    client_flags & MIRRORED_FLAGS
        | charset
        | REQUEST_TARGET
        | TARGET_TYPE_DOMAIN
        | NEGOTIATE_TARGET_INFO
}

/// The AV pairs of the challenge's target info, always UTF-16LE (MS-NLMP §2.2.2.1).
pub(super) fn target_info(domain: &str, computer: &str) -> Vec<u8> {
    let mut info = Vec::new();
    for (id, value) in [
        (MSV_AV_NB_DOMAIN_NAME, utf16le(domain)),
        (MSV_AV_NB_COMPUTER_NAME, utf16le(computer)),
        (MSV_AV_EOL, Vec::new()),
    ] {
        info.extend_from_slice(&id.to_le_bytes());
        info.extend_from_slice(&saturating_u16(value.len()).to_le_bytes());
        info.extend_from_slice(&value);
    }
    info
}

fn push_field(msg: &mut Vec<u8>, len: usize, offset: usize) {
    let len = saturating_u16(len).to_le_bytes();
    msg.extend_from_slice(&len);
    msg.extend_from_slice(&len);
    msg.extend_from_slice(&u32::try_from(offset).unwrap_or(u32::MAX).to_le_bytes());
}

/// Our names are cut to 15 characters, so this never saturates in practice; it only keeps
/// the arithmetic total.
fn saturating_u16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// OEM text for a client without Unicode: Latin-1, `?` for what it cannot hold.
fn latin1(c: char) -> u8 {
    u8::try_from(u32::from(c)).unwrap_or(b'?')
}
