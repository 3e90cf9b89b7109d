//! Basic (RFC 7617): `base64(user-id ":" password)`, judged per request.

use super::{Account, Verdict, candidates, echo, header, split_domain};

/// Decodes Basic's token68 into (user-id, password). The user-id ends at the first colon
/// (RFC 7617 §2: a user-id cannot contain one); the text must be UTF-8, the charset every
/// challenge announces.
pub(super) fn decode(token68: &[u8]) -> Option<(String, String)> {
    let text = String::from_utf8(header::decode_base64(token68)?).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Judges Basic credentials: admitted when some account matches the user-id (which may be
/// `DOMAIN\user`) and has exactly this password.
pub(super) fn judge(accounts: &[Account], token68: &[u8]) -> Verdict {
    let Some((claimed, password)) = decode(token68) else {
        return Verdict::Refused("malformed Basic credentials".to_owned());
    };
    let (domain, user) = split_domain(&claimed);
    let mut known = false;
    for account in candidates(accounts, domain, user) {
        known = true;
        if account.password == password {
            return Verdict::Allowed(account.qualified_name());
        }
    }
    Verdict::Refused(if known {
        format!("wrong password for {}", echo(&claimed))
    } else {
        format!("unknown user {}", echo(&claimed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Vec<Account> {
        vec![
            Account { domain: "CORP".into(), user: "alice".into(), password: "s3cret".into() },
            Account {
                domain: String::new(),
                user: "bob".into(),
                password: "pw:with:colons".into(),
            },
        ]
    }

    fn judge_pair(pair: &str) -> Verdict {
        judge(&accounts(), header::encode_base64(pair.as_bytes()).as_bytes())
    }

    #[test]
    fn rfc7617_example_decodes() {
        // RFC 7617 §2: "Aladdin" / "open sesame".
        let (user, password) = decode(b"QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!((user.as_str(), password.as_str()), ("Aladdin", "open sesame"));
    }

    #[test]
    fn matching_accounts_are_admitted_by_qualified_name() {
        let alice = Verdict::Allowed("CORP\\alice".into());
        assert_eq!(judge_pair("alice:s3cret"), alice);
        assert_eq!(judge_pair("ALICE:s3cret"), alice);
        assert_eq!(judge_pair("corp\\Alice:s3cret"), alice);
        // The password is everything after the first colon.
        assert_eq!(judge_pair("bob:pw:with:colons"), Verdict::Allowed("bob".into()));
        // An account without a domain takes any domain the client names.
        assert_eq!(judge_pair("WHATEVER\\bob:pw:with:colons"), Verdict::Allowed("bob".into()));
    }

    #[test]
    fn refusals_say_why() {
        let refused = |why: &str| Verdict::Refused(why.to_owned());
        assert_eq!(judge_pair("alice:S3CRET"), refused("wrong password for alice"));
        assert_eq!(judge_pair("carol:x"), refused("unknown user carol"));
        assert_eq!(judge_pair("OTHER\\alice:s3cret"), refused("unknown user OTHER\\alice"));
        assert_eq!(judge_pair("no colon"), refused("malformed Basic credentials"));
        for garbage in [&b""[..], b"%%%", b"QWxhZGRpbg", &[0xff, 0xfe]] {
            assert_eq!(judge(&accounts(), garbage), refused("malformed Basic credentials"));
        }
        // Not UTF-8 inside the base64.
        let latin1 = header::encode_base64(b"caf\xe9:pw");
        assert_eq!(judge(&accounts(), latin1.as_bytes()), refused("malformed Basic credentials"));
    }
}
