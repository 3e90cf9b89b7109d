//! `WWW-Authenticate` / `Proxy-Authenticate` challenge parsing.
//!
//= https://www.rfc-editor.org/rfc/rfc9110#section-11.2
//! ```text
//! challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param  = token BWS "=" BWS ( token / quoted-string )
//! token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! A field value is a comma-separated list of challenges whose auth-params are themselves
//! comma separated, so an element of the form `token = value` continues the challenge before
//! it and any other element starts a new one (RFC 9110 §11.6.1 gives the example).
//!
//! The server is hostile: every malformed byte is skipped, never a panic. A challenge with a
//! malformed element is dropped whole rather than read in part, since a challenge missing a
//! parameter (say `algorithm`) can mean something else than the one the server sent.

use super::AuthScheme;

/// Most challenges kept from one response. Servers offer a handful of schemes; a long list is
/// a hostile server making every later step (choosing a scheme, logging) do more work.
pub const CHALLENGES_MAX: usize = 16;

/// Longest header value parsed; longer ones are skipped whole (never cut, which could turn
/// the tail of a value into a different one). NTLM challenges, the largest legitimate ones,
/// are well under 2 KiB of base64.
pub const HEADER_VALUE_MAX: usize = 8 * 1024;

/// Most auth-params kept per challenge; later ones are dropped. RFC 7616 Digest, the richest
/// scheme, defines ten; the bound keeps a hostile `a=b,a=b,...` from growing the list.
pub const PARAMS_MAX: usize = 32;

/// One challenge of a `WWW-Authenticate` or `Proxy-Authenticate` field.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Challenge {
    /// The auth-scheme as sent (schemes compare case-insensitively, RFC 9110 §11.1).
    pub scheme: String,
    /// The token68 form (NTLM and Negotiate tokens, base64), exclusive with `params`.
    pub token68: Option<String>,
    /// The auth-params in order: names lowercased (they are case-insensitive, RFC 9110 §11.2),
    /// values unquoted and unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The scheme, if it is one of BITS's.
    pub fn auth_scheme(&self) -> Option<AuthScheme> {
        AuthScheme::from_token(&self.scheme)
    }

    /// The first value of parameter `name` (case-insensitive). RFC 9110 §11.2 forbids
    /// repeating a parameter, so a later duplicate is a server error and loses.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses every challenge in every header value, in order, keeping at most [`CHALLENGES_MAX`].
///
/// Values longer than [`HEADER_VALUE_MAX`] are skipped. Values are bytes: a quoted string's
/// non-ASCII bytes (obs-text) are read as UTF-8, invalid sequences replaced by U+FFFD.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        if out.len() >= CHALLENGES_MAX {
            break;
        }
        if value.len() <= HEADER_VALUE_MAX {
            parse_value(value, &mut out);
        }
    }
    out
}

/// `value` as a quoted-string (RFC 9110 §5.6.4), `"` and `\` escaped as quoted-pairs.
///
/// Errs on control characters other than HTAB: no quoted-string can carry them, and a CR or
/// LF echoed from a hostile challenge into a request would split the header.
pub(super) fn quoted_string(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c.is_ascii_control() && c != '\t' {
            return Err(format!("control character {:#04x} cannot be quoted", u32::from(c)));
        }
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// One comma-separated element of a field value.
enum Element {
    /// An auth-scheme, with its token68 if it has one; auth-params follow as elements.
    Scheme(Challenge),
    /// `name=value`: a parameter of the challenge before it.
    Param(String, String),
    /// Anything else.
    Garbage,
}

/// Appends the challenges of one field value to `out`, up to [`CHALLENGES_MAX`].
fn parse_value(bytes: &[u8], out: &mut Vec<Challenge>) {
    let mut cur = Cursor { bytes, pos: 0 };
    // The challenge whose auth-params are being read; None after garbage, so that parameters
    // with no trustworthy owner are dropped until the next scheme.
    let mut open: Option<Challenge> = None;
    loop {
        cur.skip_separators();
        if cur.at_end() || out.len() >= CHALLENGES_MAX {
            break;
        }
        let start = cur.pos;
        match element(&mut cur) {
            Element::Scheme(next) => {
                if let Some(done) = open.replace(next) {
                    out.push(done);
                }
            }
            Element::Param(name, value) => match open.as_mut() {
                // token68 and auth-params are exclusive: params after a token68 are garbage.
                Some(challenge) if challenge.token68.is_some() => open = None,
                Some(challenge) if challenge.params.len() < PARAMS_MAX => {
                    challenge.params.push((name, value));
                }
                _ => {}
            },
            Element::Garbage => {
                open = None;
                // Resynchronise from the element's start, honouring its quoted strings, so
                // a comma inside a broken quoted string does not start a new element.
                cur.pos = start;
                cur.skip_element();
            }
        }
    }
    if let Some(done) = open {
        if out.len() < CHALLENGES_MAX {
            out.push(done);
        }
    }
}

/// Reads one element: `token BWS "=" ...` is an auth-param, any other token a scheme.
fn element(cur: &mut Cursor<'_>) -> Element {
    let name = cur.take_while(is_tchar);
    if name.is_empty() {
        return Element::Garbage;
    }
    let name = String::from_utf8_lossy(name).into_owned();
    let after_name = cur.pos;
    cur.skip_ws();
    if cur.eat(b'=') {
        cur.skip_ws();
        return match param_value(cur) {
            Some(value) if cur.at_element_end() => Element::Param(name.to_ascii_lowercase(), value),
            _ => Element::Garbage,
        };
    }
    cur.pos = after_name;
    scheme(cur, name)
}

/// The rest of a challenge after its scheme: nothing, a token68, or the start of auth-params.
fn scheme(cur: &mut Cursor<'_>, scheme: String) -> Element {
    let mut challenge = Challenge { scheme, token68: None, params: Vec::new() };
    let had_space = cur.skip_ws();
    if cur.at_element_end() {
        return Element::Scheme(challenge);
    }
    if !had_space {
        return Element::Garbage;
    }
    // A token68 is a whole element; `realm="x"` also starts with token68 characters, so
    // anything but the element's end after them means auth-params instead.
    let start = cur.pos;
    let body = cur.take_while(is_token68_char).len();
    cur.take_while(|b| b == b'=');
    let end = cur.pos;
    if body > 0 && cur.at_element_end() {
        let token = cur.bytes.get(start..end).unwrap_or_default();
        challenge.token68 = Some(String::from_utf8_lossy(token).into_owned());
    } else {
        cur.pos = start;
    }
    Element::Scheme(challenge)
}

/// `token / quoted-string`, unescaped; None if neither.
fn param_value(cur: &mut Cursor<'_>) -> Option<String> {
    if cur.peek() != Some(b'"') {
        let token = cur.take_while(is_tchar);
        return (!token.is_empty()).then(|| String::from_utf8_lossy(token).into_owned());
    }
    cur.pos += 1;
    let mut value = Vec::new();
    loop {
        // Unterminated: None. Backslash escapes one HTAB, SP, VCHAR or obs-text byte.
        match cur.next()? {
            b'"' => return Some(String::from_utf8_lossy(&value).into_owned()),
            b'\\' => value.push(cur.next().filter(|&b| is_qdtext(b) || b == b'"' || b == b'\\')?),
            b if is_qdtext(b) => value.push(b),
            _ => return None,
        }
    }
}

/// A read position in one field value.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        self.bytes.get(start..self.pos).unwrap_or_default()
    }

    /// Skips optional whitespace (SP / HTAB); whether there was any.
    fn skip_ws(&mut self) -> bool {
        !self.take_while(|b| b == b' ' || b == b'\t').is_empty()
    }

    /// Skips whitespace and list commas, including empty list elements (RFC 9110 §5.6.1).
    fn skip_separators(&mut self) {
        self.take_while(|b| b == b' ' || b == b'\t' || b == b',');
    }

    /// Skips trailing whitespace; whether the element ends here (a comma or the value's end).
    fn at_element_end(&mut self) -> bool {
        self.skip_ws();
        matches!(self.peek(), None | Some(b','))
    }

    /// Skips to the next comma outside a quoted string, or to the end.
    fn skip_element(&mut self) {
        while let Some(b) = self.next() {
            match b {
                b',' => {
                    self.pos -= 1;
                    return;
                }
                b'"' => self.skip_quoted_rest(),
                _ => {}
            }
        }
    }

    /// Skips past the closing quote of a quoted string whose opening quote was read,
    /// tolerating bytes a quoted string may not hold.
    fn skip_quoted_rest(&mut self) {
        while let Some(b) = self.next() {
            match b {
                b'"' => return,
                b'\\' => {
                    self.next();
                }
                _ => {}
            }
        }
    }
}

/// tchar (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The characters of a token68 before its padding (RFC 9110 §11.2).
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

/// qdtext (RFC 9110 §5.6.4): HTAB, SP, VCHAR but `"` and `\`, obs-text.
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Vec<Challenge> {
        parse_challenges(values.iter().map(|v| v.as_bytes()))
    }

    fn challenge(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.to_owned(),
            token68: None,
            params: params.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        }
    }

    fn token68(scheme: &str, token: &str) -> Challenge {
        Challenge { scheme: scheme.to_owned(), token68: Some(token.to_owned()), params: vec![] }
    }

    //= https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1
    #[test]
    fn rfc9110_example_two_challenges_in_one_value() {
        let got = parse(&[
            r#"Basic realm="simple", Newauth realm="apps", type=1, title="Login to \"apps\"""#,
        ]);
        assert_eq!(
            got,
            vec![
                challenge("Basic", &[("realm", "simple")]),
                challenge(
                    "Newauth",
                    &[("realm", "apps"), ("type", "1"), ("title", r#"Login to "apps""#)]
                ),
            ]
        );
        assert_eq!(got[0].auth_scheme(), Some(AuthScheme::Basic));
        assert_eq!(got[1].auth_scheme(), None);
    }

    #[test]
    fn commas_inside_quoted_strings_do_not_split() {
        let got = parse(&[r#"Digest realm="a, b", nonce="x", Basic realm="y""#]);
        assert_eq!(
            got,
            vec![
                challenge("Digest", &[("realm", "a, b"), ("nonce", "x")]),
                challenge("Basic", &[("realm", "y")]),
            ]
        );
    }

    #[test]
    fn several_values_token68_and_bare_schemes() {
        let got =
            parse(&["Negotiate", "NTLM", "NTLM TlRMTVNTUAACAAAA==", "Negotiate YII+/w=, Basic"]);
        assert_eq!(
            got,
            vec![
                challenge("Negotiate", &[]),
                challenge("NTLM", &[]),
                token68("NTLM", "TlRMTVNTUAACAAAA=="),
                token68("Negotiate", "YII+/w="),
                challenge("Basic", &[]),
            ]
        );
        assert_eq!(got[2].auth_scheme(), Some(AuthScheme::Ntlm));
    }

    #[test]
    fn names_are_case_insensitive_and_whitespace_is_optional() {
        let got = parse(&["BASIC REALM = \"x\" ,,  , Charset=UTF-8,realm=second"]);
        assert_eq!(
            got,
            vec![challenge("BASIC", &[("realm", "x"), ("charset", "UTF-8"), ("realm", "second")])]
        );
        assert_eq!(got[0].auth_scheme(), Some(AuthScheme::Basic));
        assert_eq!(got[0].param("Realm"), Some("x"), "the first of duplicates wins");
        assert_eq!(got[0].param("CHARSET"), Some("UTF-8"));
        assert_eq!(got[0].param("nonce"), None);
    }

    #[test]
    fn malformed_challenges_are_dropped_whole_and_parsing_resumes() {
        let cases: &[(&str, Vec<Challenge>)] = &[
            (r#""oops", Basic realm="y""#, vec![challenge("Basic", &[("realm", "y")])]),
            (r#"=x, Basic"#, vec![challenge("Basic", &[])]),
            // Params with no challenge before them have no owner.
            (r#"realm="x", Basic"#, vec![challenge("Basic", &[])]),
            // Missing comma between params: the challenge is dropped, its orphans too.
            (r#"Digest realm="x" nonce="y", qop=auth, Basic"#, vec![challenge("Basic", &[])]),
            // A broken quoted string is skipped as a quoted string: its comma is not a split.
            (
                "Digest realm=\"a\x01, Basic\", Basic realm=z",
                vec![challenge("Basic", &[("realm", "z")])],
            ),
            ("Basic\"x\", NTLM", vec![challenge("NTLM", &[])]),
            ("NTLM abc, realm=x, Basic", vec![challenge("Basic", &[])]),
            ("Basic realm=\"unterminated", vec![]),
            ("Basic realm=\"bad \\\x7f escape\"", vec![]),
            // An empty value is no auth-param; the only reading the grammar allows is a token68.
            ("Basic realm=", vec![token68("Basic", "realm=")]),
            ("Basic a=b=c", vec![]),
            ("Basic realm = \"x\"", vec![challenge("Basic", &[("realm", "x")])]),
            ("Basic realm=\"\"", vec![challenge("Basic", &[("realm", "")])]),
            ("\u{e9}t\u{e9}, Basic", vec![challenge("Basic", &[])]),
        ];
        for (value, want) in cases {
            assert_eq!(&parse(&[value]), want, "{value:?}");
        }
    }

    #[test]
    fn obs_text_is_read_as_utf8_and_invalid_bytes_are_replaced() {
        let got = parse_challenges([&b"Basic realm=\"caf\xc3\xa9 \xff\""[..]]);
        assert_eq!(got, vec![challenge("Basic", &[("realm", "caf\u{e9} \u{fffd}")])]);
    }

    #[test]
    fn limits_bound_challenges_params_and_value_length() {
        let many = vec!["Basic"; CHALLENGES_MAX + 5].join(", ");
        assert_eq!(parse(&[&many]).len(), CHALLENGES_MAX);
        assert_eq!(parse(&[&many, "Digest"]).len(), CHALLENGES_MAX);

        let params: Vec<String> = (0..PARAMS_MAX + 5).map(|i| format!("p{i}=v")).collect();
        let got = parse(&[&format!("Digest {}", params.join(", "))]);
        assert_eq!(got[0].params.len(), PARAMS_MAX);

        let long = format!("Basic realm=\"{}\"", "x".repeat(HEADER_VALUE_MAX));
        assert_eq!(parse(&[&long, "NTLM"]), vec![challenge("NTLM", &[])]);
    }

    #[test]
    fn no_input_panics() {
        let sample = "Digest realm=\"a\\\"b, c\", nonce=x,, Basic\t, NTLM TlR=, \"\\";
        for end in 0..=sample.len() {
            for start in 0..end {
                let _ = parse_challenges([&sample.as_bytes()[start..end]]);
            }
        }
        // Deterministic pseudo-random bytes over the alphabet that matters to the grammar.
        let alphabet = b"aZ9=,\" \t\\/+-\x00\x7f\xff";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            let value: Vec<u8> = (0..40)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            for c in parse_challenges([value.as_slice()]) {
                assert!(!c.scheme.is_empty() && (c.token68.is_none() || c.params.is_empty()));
            }
        }
    }

    #[test]
    fn quoted_string_escapes_and_refuses_control_characters() {
        assert_eq!(quoted_string(r#"a"b\c"#).as_deref(), Ok(r#""a\"b\\c""#));
        assert_eq!(quoted_string("tab\tok").as_deref(), Ok("\"tab\tok\""));
        assert!(quoted_string("x\r\nSet-Cookie: y").is_err());
        assert!(quoted_string("\x7f").is_err());
        // Round trip through the parser.
        let value = format!("Basic realm={}", quoted_string(r#"a"b\c, d"#).unwrap_or_default());
        assert_eq!(parse(&[&value])[0].param("realm"), Some(r#"a"b\c, d"#));
    }
}
