//! Digest (RFC 7616) with qop=auth over MD5 and SHA-256; no -sess variants, no userhash
//! (neither is ever offered). The nonces are the gatekeeper's own, remembered in a bounded
//! book so a forged, evicted or over-used nonce earns `stale=true` rather than admission.

use std::collections::{BTreeMap, BTreeSet};

use md5::{Digest, Md5};
use sha2::Sha256;

use super::{Demand, Gatekeeper, Verdict, candidates, echo, header, split_domain};

/// How many issued nonces a gatekeeper remembers, oldest forgotten first. Every anonymous
/// request mints one per Digest demand, but a client answers the challenge it just received,
/// so the newest few hundred cover every conforming exchange; a forgotten nonce only costs the
/// client a stale round trip.
pub(super) const MAX_ISSUED_NONCES: usize = 256;

/// How many requests one nonce may authenticate before it is retired (the next use is answered
/// `stale=true`). Bounds the set of nonce counts kept per nonce, as real servers bound a
/// nonce's life.
pub(super) const MAX_USES_PER_NONCE: usize = 1024;

/// The hash functions a Digest challenge may name.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(super) enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    /// The algorithm a response names; the token is case-insensitive (RFC 7616 §3.3).
    fn parse(name: &str) -> Option<Self> {
        [Self::Md5, Self::Sha256].into_iter().find(|a| a.name().eq_ignore_ascii_case(name))
    }

    fn demand(self) -> Demand {
        match self {
            Self::Md5 => Demand::DigestMd5,
            Self::Sha256 => Demand::DigestSha256,
        }
    }

    /// H(data) as lowercase hex, as every Digest hash is written.
    fn hex(self, data: &str) -> String {
        match self {
            Self::Md5 => to_hex(&Md5::digest(data.as_bytes())),
            Self::Sha256 => to_hex(&Sha256::digest(data.as_bytes())),
        }
    }
}

/// Everything a Digest response hashes apart from the password.
pub(super) struct Exchange<'a> {
    pub(super) username: &'a str,
    pub(super) realm: &'a str,
    pub(super) method: &'a str,
    pub(super) uri: &'a str,
    pub(super) nonce: &'a str,
    pub(super) nc: &'a str,
    pub(super) cnonce: &'a str,
    pub(super) qop: &'a str,
}

/// The request-digest of RFC 7616 §3.4.1 for qop=auth:
/// `H(H(username:realm:password):nonce:nc:cnonce:qop:H(method:uri))`.
pub(super) fn request_digest(algorithm: Algorithm, ex: &Exchange<'_>, password: &str) -> String {
    let ha1 = algorithm.hex(&format!("{}:{}:{password}", ex.username, ex.realm));
    let ha2 = algorithm.hex(&format!("{}:{}", ex.method, ex.uri));
    algorithm.hex(&format!("{ha1}:{}:{}:{}:{}:{ha2}", ex.nonce, ex.nc, ex.cnonce, ex.qop))
}

/// The user a Digest credentials value claims (decoded `username*` included); `None` when it
/// does not parse or names a userhash.
pub(super) fn claimed_user(rest: &[u8]) -> Option<String> {
    let mut params = header::parse_params(std::str::from_utf8(rest).ok()?).ok()?;
    if is_userhash(&params) {
        return None;
    }
    username(&mut params).ok()
}

/// The nonces a gatekeeper issued, and the nonce counts each has been used with.
#[derive(Debug, Default)]
pub(super) struct NonceBook {
    issued: BTreeMap<String, Issued>,
    /// Issue serial -> nonce, so the oldest is found without scanning.
    by_age: BTreeMap<u64, String>,
    next_serial: u64,
}

#[derive(Debug)]
struct Issued {
    serial: u64,
    used: BTreeSet<u32>,
}

/// What using a nonce with a given nonce count found.
#[derive(Debug, Eq, PartialEq)]
pub(super) enum Use {
    Fresh,
    Replayed,
    Unknown,
}

impl NonceBook {
    pub(super) fn issue(&mut self, nonce: String) {
        let serial = self.next_serial;
        self.next_serial += 1;
        let fresh = Issued { serial, used: BTreeSet::new() };
        if let Some(old) = self.issued.insert(nonce.clone(), fresh) {
            self.by_age.remove(&old.serial);
        }
        self.by_age.insert(serial, nonce);
        while self.issued.len() > MAX_ISSUED_NONCES {
            let Some((_, oldest)) = self.by_age.pop_first() else { break };
            self.issued.remove(&oldest);
        }
    }

    /// Records one use of `nonce` with count `nc`. RFC 7616 §3.4 has the client count every
    /// request it sends with a nonce, so a count seen before is a replay; counts may arrive out
    /// of order when several connections share a nonce, which is why a set is kept rather than
    /// the highest count.
    pub(super) fn record_use(&mut self, nonce: &str, nc: u32) -> Use {
        let Some(issued) = self.issued.get_mut(nonce) else { return Use::Unknown };
        if !issued.used.insert(nc) {
            return Use::Replayed;
        }
        if issued.used.len() >= MAX_USES_PER_NONCE {
            let serial = issued.serial;
            self.issued.remove(nonce);
            self.by_age.remove(&serial);
        }
        Use::Fresh
    }
}

/// A Digest credentials value, its directives unquoted, not yet judged.
struct Answer {
    username: String,
    realm: String,
    nonce: String,
    uri: String,
    response: String,
    /// As sent (absent means MD5, RFC 7616 §3.4); judged against the demands later.
    algorithm: String,
    qop: String,
    nc: String,
    cnonce: String,
    opaque: Option<String>,
}

fn parse_answer(rest: &[u8]) -> Result<Answer, String> {
    let text = std::str::from_utf8(rest).map_err(|_| "not UTF-8".to_owned())?;
    let mut params = header::parse_params(text)?;
    if is_userhash(&params) {
        return Err("userhash was never offered".to_owned());
    }
    let username = username(&mut params)?;
    let algorithm = params.remove("algorithm").unwrap_or_else(|| "MD5".to_owned());
    let opaque = params.remove("opaque");
    let mut take = |name: &str| params.remove(name).ok_or_else(|| format!("missing {name}"));
    Ok(Answer {
        username,
        realm: take("realm")?,
        nonce: take("nonce")?,
        uri: take("uri")?,
        response: take("response")?,
        algorithm,
        // Required: the challenge always says qop="auth", so RFC 2069's qop-less form is out.
        qop: take("qop")?,
        nc: take("nc")?,
        cnonce: take("cnonce")?,
        opaque,
    })
}

fn is_userhash(params: &BTreeMap<String, String>) -> bool {
    params.get("userhash").is_some_and(|flag| flag.eq_ignore_ascii_case("true"))
}

/// `username`, or `username*` in RFC 8187 extended notation (RFC 7616 §3.4.4); never both.
fn username(params: &mut BTreeMap<String, String>) -> Result<String, String> {
    match (params.remove("username"), params.remove("username*")) {
        (Some(name), None) => Ok(name),
        (None, Some(ext)) => decode_ext_value(&ext).ok_or_else(|| "bad username*".to_owned()),
        (Some(_), Some(_)) => Err("both username and username*".to_owned()),
        (None, None) => Err("missing username".to_owned()),
    }
}

/// `UTF-8'[language]'percent-encoded` (RFC 8187 §3.2.1); only UTF-8 is accepted, as RFC 7616
/// requires.
fn decode_ext_value(ext: &str) -> Option<String> {
    let (charset, rest) = ext.split_once('\'')?;
    let (_language, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("UTF-8") {
        return None;
    }
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut input = encoded.bytes();
    while let Some(byte) = input.next() {
        if byte == b'%' {
            let high = char::from(input.next()?).to_digit(16)?;
            let low = char::from(input.next()?).to_digit(16)?;
            bytes.push(u8::try_from(high << 4 | low).ok()?);
        } else {
            bytes.push(byte);
        }
    }
    String::from_utf8(bytes).ok()
}

/// `nc`: exactly eight hex digits (RFC 7616 §3.4).
fn parse_nc(nc: &str) -> Option<u32> {
    let valid = nc.len() == 8 && nc.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| u32::from_str_radix(nc, 16).ok()).flatten()
}

/// Whether an answer's `uri` names the request's resource. RFC 7616 §3.4 repeats the
/// request-target in `uri` "because proxies are allowed to change the Request-Line in
/// transit": a client behind a forward proxy answers with the absolute-form it sent, which
/// the proxy turned into origin-form on the way (§3.4.6 asks for the same resource, not the
/// same text). So `http://authority/path` counts for the origin-form target `/path`; the host
/// is not checked, since the server reached is the one the proxy chose by that host.
fn same_resource(sent: &str, target: &str) -> bool {
    let path_of_absolute =
        sent.strip_prefix("http://").and_then(|rest| rest.find('/').map(|slash| &rest[slash..]));
    sent == target || (target.starts_with('/') && path_of_absolute == Some(target))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Gatekeeper {
    /// One Digest challenge value, with a nonce minted for it.
    pub(super) fn digest_challenge(&mut self, algorithm: Algorithm, stale: bool) -> String {
        let nonce = self.random_text();
        self.nonces.issue(nonce.clone());
        let mut value = format!(
            "Digest realm={}, qop=\"auth\", algorithm={}, nonce={}, opaque={}",
            header::quote(&self.realm),
            algorithm.name(),
            header::quote(&nonce),
            header::quote(&self.opaque),
        );
        if stale {
            value.push_str(", stale=true");
        }
        value
    }

    pub(super) fn judge_digest(&mut self, method: &str, uri: &str, rest: &[u8]) -> Verdict {
        match self.check_digest(method, uri, rest) {
            Ok(verdict) | Err(verdict) => verdict,
        }
    }

    /// Checks cheapest first; the response before the nonce, because RFC 7616 §3.3 allows
    /// `stale=true` only for a response that is right for its (stale) nonce.
    fn check_digest(&mut self, method: &str, uri: &str, rest: &[u8]) -> Result<Verdict, Verdict> {
        let refuse = |why: String| Verdict::Refused(why);
        let answer = parse_answer(rest)
            .map_err(|why| refuse(format!("malformed Digest credentials: {why}")))?;
        let algorithm = Algorithm::parse(&answer.algorithm)
            .filter(|algorithm| self.demands.contains(&algorithm.demand()))
            .ok_or_else(|| refuse(format!("algorithm {} not offered", echo(&answer.algorithm))))?;
        if answer.realm != self.realm {
            return Err(refuse(format!("wrong realm {}", echo(&answer.realm))));
        }
        if !same_resource(&answer.uri, uri) {
            let (sent, target) = (echo(&answer.uri), echo(uri));
            return Err(refuse(format!("uri {sent} is not the request-target {target}")));
        }
        if !answer.qop.eq_ignore_ascii_case("auth") {
            return Err(refuse(format!("qop {} not offered", echo(&answer.qop))));
        }
        // The opaque SHOULD come back unchanged (RFC 7616 §3.3): absent is allowed, altered not.
        if answer.opaque.as_ref().is_some_and(|opaque| *opaque != self.opaque) {
            return Err(refuse("opaque altered".to_owned()));
        }
        let nc = parse_nc(&answer.nc)
            .ok_or_else(|| refuse("malformed Digest credentials: nc is not 8 hex digits".into()))?;
        let user = self.digest_account(algorithm, method, &answer)?;
        match self.nonces.record_use(&answer.nonce, nc) {
            Use::Fresh => Ok(Verdict::Allowed(user)),
            Use::Unknown => Err(Verdict::Stale("stale nonce".to_owned())),
            Use::Replayed => Err(Verdict::Stale(format!("nonce count {} replayed", answer.nc))),
        }
    }

    /// The account whose password reproduces the response, as its qualified name.
    fn digest_account(
        &self,
        algorithm: Algorithm,
        method: &str,
        answer: &Answer,
    ) -> Result<String, Verdict> {
        // request-digest is lowercase hex of the hash's length (RFC 7616 §3.4); anything else
        // is a formatting fault, not a wrong password.
        let digits = if algorithm == Algorithm::Md5 { 32 } else { 64 };
        let r = &answer.response;
        if r.len() != digits || !r.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            let why = format!(
                "malformed Digest credentials: response is not {digits} lowercase hex digits"
            );
            return Err(Verdict::Refused(why));
        }
        let exchange = Exchange {
            username: &answer.username,
            realm: &answer.realm,
            method,
            uri: &answer.uri,
            nonce: &answer.nonce,
            nc: &answer.nc,
            cnonce: &answer.cnonce,
            qop: &answer.qop,
        };
        let (domain, user) = split_domain(&answer.username);
        let mut known = false;
        for account in candidates(&self.accounts, domain, user) {
            known = true;
            if request_digest(algorithm, &exchange, &account.password) == *r {
                return Ok(account.qualified_name());
            }
        }
        let claimed = echo(&answer.username);
        Err(Verdict::Refused(if known {
            format!("wrong password for {claimed}")
        } else {
            format!("unknown user {claimed}")
        }))
    }
}

#[cfg(test)]
mod tests;
