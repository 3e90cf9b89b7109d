//! The syntax shared by every scheme: splitting a credentials value into scheme and the rest
//! (RFC 7235 §2.1), token68 as base64, the auth-param list Digest uses, and quoting for the
//! challenges we write. Everything here takes hostile bytes and answers `None`/`Err`, never
//! panics.

use std::collections::BTreeMap;

use base64::prelude::{BASE64_STANDARD, Engine};

/// The most auth-params one Digest credentials value may carry. RFC 7616 defines 13; a client
/// sending more than twice that is not a Digest client, and the bound keeps a hostile list
/// from growing the parameter map without limit (the header length bounds it too, but this
/// refuses early and says why).
const MAX_AUTH_PARAMS: usize = 32;

/// The schemes this module understands; the match on the scheme token is case-insensitive
/// (RFC 7235 §2.1).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(super) enum Scheme {
    Basic,
    Digest,
    Ntlm,
    Negotiate,
    Other,
}

impl Scheme {
    /// The canonical spelling, as challenges and [`super::Seen`] write it.
    pub(super) fn name(self) -> Option<&'static str> {
        match self {
            Self::Basic => Some("Basic"),
            Self::Digest => Some("Digest"),
            Self::Ntlm => Some("NTLM"),
            Self::Negotiate => Some("Negotiate"),
            Self::Other => None,
        }
    }
}

/// A credentials value split at its first space: the scheme token and what follows it.
pub(super) struct Credentials<'a> {
    pub(super) scheme: Scheme,
    /// The scheme token as sent, for naming unknown schemes.
    pub(super) token: &'a [u8],
    /// Everything after the scheme, optional whitespace trimmed at both ends.
    pub(super) rest: &'a [u8],
}

/// Splits `credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`.
pub(super) fn split(value: &[u8]) -> Credentials<'_> {
    let value = trim(value);
    let end = value.iter().position(|&b| b == b' ' || b == b'\t').unwrap_or(value.len());
    let (token, rest) = value.split_at(end);
    let scheme = [Scheme::Basic, Scheme::Digest, Scheme::Ntlm, Scheme::Negotiate]
        .into_iter()
        .find(|scheme| {
            scheme.name().is_some_and(|name| token.eq_ignore_ascii_case(name.as_bytes()))
        })
        .unwrap_or(Scheme::Other);
    Credentials { scheme, token, rest: trim(rest) }
}

/// Trims optional whitespace (SP and HTAB only: RFC 7230's OWS; anything else is garbage the
/// parsers must see and refuse).
pub(super) fn trim(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_ows(b)).map_or(start, |last| last + 1);
    &bytes[start..end]
}

/// Decodes a token68 that carries base64 (Basic, NTLM, Negotiate). Padding is required: the
/// schemes say base64 (RFC 4648 §4), and a client that leaves it off is not conforming.
pub(super) fn decode_base64(token68: &[u8]) -> Option<Vec<u8>> {
    if token68.is_empty() {
        return None;
    }
    BASE64_STANDARD.decode(token68).ok()
}

/// Encodes bytes as base64 with padding, for the tokens we send.
pub(super) fn encode_base64(bytes: &[u8]) -> String {
    BASE64_STANDARD.encode(bytes)
}

/// Writes `value` as a quoted-string, escaping `"` and `\`.
pub(super) fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// Parses `#auth-param` (RFC 7235 §2.1) into lower-cased names and unquoted values. Empty list
/// elements are allowed, as the list rule says; a repeated name is an error (RFC 7616 §3.4:
/// each directive at most once), as is anything outside the grammar.
pub(super) fn parse_params(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    let mut cursor = Cursor { bytes: text.as_bytes(), at: 0 };
    loop {
        cursor.skip_ows();
        if cursor.eat(b',') {
            continue;
        }
        if cursor.done() {
            return Ok(params);
        }
        let name = cursor.token().ok_or("expected a parameter name")?.to_ascii_lowercase();
        cursor.skip_ows();
        if !cursor.eat(b'=') {
            return Err(format!("parameter {name} has no value"));
        }
        cursor.skip_ows();
        let value = match cursor.peek() {
            Some(b'"') => cursor.quoted_string().ok_or("unterminated quoted-string")?,
            _ => cursor.token().ok_or_else(|| format!("parameter {name} has a bad value"))?,
        };
        if params.len() == MAX_AUTH_PARAMS {
            return Err(format!("more than {MAX_AUTH_PARAMS} parameters"));
        }
        if params.insert(name.clone(), value).is_some() {
            return Err(format!("parameter {name} repeated"));
        }
        cursor.skip_ows();
        if !cursor.done() && !cursor.eat(b',') {
            return Err(format!("junk after parameter {name}"));
        }
    }
}

/// A read position in an auth-param list.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// `token = 1*tchar` (RFC 7230 §3.2.6).
    fn token(&mut self) -> Option<String> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        // tchar is ASCII, so the slice is valid UTF-8 on its own.
        (self.at > start).then(|| String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned())
    }

    /// `quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE`; non-ASCII bytes are
    /// obs-text and allowed, control characters other than HTAB are not.
    fn quoted_string(&mut self) -> Option<String> {
        let mut value = Vec::new();
        self.at += 1; // the opening DQUOTE, which the caller peeked
        loop {
            let byte = self.peek()?;
            self.at += 1;
            match byte {
                b'"' => return String::from_utf8(value).ok(),
                b'\\' => {
                    let escaped = self.peek().filter(|&b| b == b'\t' || b >= 0x20 && b != 0x7f)?;
                    self.at += 1;
                    value.push(escaped);
                }
                b'\t' => value.push(byte),
                0x00..=0x1f | 0x7f => return None,
                _ => value.push(byte),
            }
        }
    }
}

/// RFC 7230 §3.2.6 tchar.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_case_insensitive_and_trims() {
        let creds = split(b"  nEgOtIaTe   TlRMTVNTUAABAAAA  ");
        assert_eq!(creds.scheme, Scheme::Negotiate);
        assert_eq!(creds.rest, b"TlRMTVNTUAABAAAA");
        let creds = split(b"Bearer abc");
        assert_eq!((creds.scheme, creds.token), (Scheme::Other, &b"Bearer"[..]));
        let creds = split(b"");
        assert_eq!((creds.scheme, creds.token, creds.rest), (Scheme::Other, &b""[..], &b""[..]));
        assert_eq!(split(b"Basic").rest, b"");
    }

    #[test]
    fn params_parse_tokens_quoted_strings_and_escapes() {
        let params =
            parse_params(r#"username="a\"b\\c", qop=auth ,, nc=00000001, Realm = "x y",uri="/""#)
                .unwrap();
        assert_eq!(params["username"], r#"a"b\c"#);
        assert_eq!(params["qop"], "auth");
        assert_eq!(params["nc"], "00000001");
        assert_eq!(params["realm"], "x y");
        assert_eq!(params["uri"], "/");
        assert_eq!(parse_params("").unwrap().len(), 0);
    }

    #[test]
    fn params_refuse_garbage() {
        for bad in [
            "a",
            "a=",
            "=b",
            r#"a="unterminated"#,
            "a=b c=d",
            "a=1, A=2",
            "uri=/unquoted/slash",
            "a=\"ctl\x01\"",
            r#"a="trailing\"#,
        ] {
            assert!(parse_params(bad).is_err(), "{bad:?} parsed");
        }
        let many = (0..=MAX_AUTH_PARAMS).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join(",");
        assert!(parse_params(&many).unwrap_err().contains("more than"));
    }

    #[test]
    fn quote_round_trips_through_the_parser() {
        let nasty = r#"realm "with" \ specials"#;
        let params = parse_params(&format!("realm={}", quote(nasty))).unwrap();
        assert_eq!(params["realm"], nasty);
    }

    #[test]
    fn base64_needs_padding_and_content() {
        assert_eq!(decode_base64(b"YQ==").unwrap(), b"a");
        assert!(decode_base64(b"YQ").is_none());
        assert!(decode_base64(b"").is_none());
        assert!(decode_base64(b"Y Q==").is_none());
        assert_eq!(encode_base64(b"a"), "YQ==");
    }
}
