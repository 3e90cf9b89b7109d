//! The gatekeeper as a caller sees it: challenge order, per-request schemes, a Digest client
//! answering a real challenge, determinism, and what `identify` reports.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

fn accounts() -> Vec<Account> {
    vec![
        Account { domain: "CORP".into(), user: "alice".into(), password: "pa55".into() },
        Account { domain: String::new(), user: "bob".into(), password: "b0b".into() },
    ]
}

fn gatekeeper(demands: Vec<Demand>, seed: u64) -> Gatekeeper {
    Gatekeeper::new("files@sim", demands, accounts(), ChaCha8Rng::seed_from_u64(seed))
}

fn admit(gatekeeper: &mut Gatekeeper, header: Option<&str>) -> Admission {
    gatekeeper.admit(&mut ConnectionAuth::default(), "GET", "/a/b?c=d", header.map(str::as_bytes))
}

fn basic(pair: &str) -> String {
    format!("Basic {}", header::encode_base64(pair.as_bytes()))
}

fn values(admission: Admission) -> Vec<String> {
    match admission {
        Admission::Challenge { values, .. } => values,
        Admission::Allowed { user } => panic!("admitted as {user}"),
    }
}

fn rejected(admission: Admission) -> Option<String> {
    match admission {
        Admission::Challenge { rejected, .. } => rejected,
        Admission::Allowed { user } => panic!("admitted as {user}"),
    }
}

#[test]
fn anonymous_challenge_lists_every_demand_in_order() {
    let all = vec![
        Demand::Negotiate,
        Demand::Ntlm,
        Demand::DigestSha256,
        Demand::DigestMd5,
        Demand::Basic,
        Demand::Ntlm,
    ];
    let values = values(admit(&mut gatekeeper(all, 1), None));
    assert_eq!(values.len(), 5, "{values:?}");
    assert_eq!(values[0], "Negotiate");
    assert_eq!(values[1], "NTLM");
    let digest = |value: &str, algorithm: &str| {
        let prefix =
            format!("Digest realm=\"files@sim\", qop=\"auth\", algorithm={algorithm}, nonce=\"");
        assert!(value.starts_with(&prefix), "{value}");
        let params = header::parse_params(&value["Digest ".len()..]).unwrap();
        assert_eq!(params.len(), 5);
        assert_eq!(params["nonce"].len(), 32);
        params["nonce"].clone()
    };
    assert_ne!(digest(&values[2], "SHA-256"), digest(&values[3], "MD5"));
    assert_eq!(values[4], "Basic realm=\"files@sim\", charset=\"UTF-8\"");
}

#[test]
fn the_same_seed_gives_the_same_challenges() {
    let demands = vec![Demand::DigestMd5];
    let run = |seed| {
        let mut gatekeeper = gatekeeper(demands.clone(), seed);
        (0..3).map(|_| values(admit(&mut gatekeeper, None))).collect::<Vec<_>>()
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
    let nonces = run(9).concat();
    assert!(nonces[0] != nonces[1] && nonces[1] != nonces[2]);
}

#[test]
fn basic_admits_per_request_only() {
    let mut gatekeeper = gatekeeper(vec![Demand::Basic], 1);
    let mut conn = ConnectionAuth::default();
    let header = basic("corp\\ALICE:pa55");
    let admitted = gatekeeper.admit(&mut conn, "GET", "/", Some(header.as_bytes()));
    assert_eq!(admitted, Admission::Allowed { user: "CORP\\alice".into() });
    assert_eq!(conn.authenticated_user(), None);
    assert!(matches!(gatekeeper.admit(&mut conn, "GET", "/", None), Admission::Challenge { .. }));
    assert_eq!(
        rejected(admit(&mut gatekeeper, Some(&basic("alice:x")))).unwrap(),
        "wrong password for alice"
    );
    assert_eq!(
        rejected(admit(&mut gatekeeper, Some(&basic("eve:x")))).unwrap(),
        "unknown user eve"
    );
}

#[test]
fn digest_client_answering_a_live_challenge_is_admitted_once_per_count() {
    let mut gatekeeper = gatekeeper(vec![Demand::DigestSha256], 4);
    let challenge = values(admit(&mut gatekeeper, None)).remove(0);
    let params = header::parse_params(&challenge["Digest ".len()..]).unwrap();
    let exchange = digest::Exchange {
        username: "bob",
        realm: &params["realm"],
        method: "GET",
        uri: "/a/b?c=d",
        nonce: &params["nonce"],
        nc: "00000001",
        cnonce: "0a4f113b",
        qop: "auth",
    };
    let response = digest::request_digest(digest::Algorithm::Sha256, &exchange, "b0b");
    let header = format!(
        "Digest username=\"bob\", realm=\"files@sim\", nonce={}, uri=\"/a/b?c=d\", \
         algorithm=SHA-256, response=\"{response}\", qop=auth, nc=00000001, \
         cnonce=\"0a4f113b\", opaque={}",
        header::quote(&params["nonce"]),
        header::quote(&params["opaque"]),
    );
    assert_eq!(admit(&mut gatekeeper, Some(&header)), Admission::Allowed { user: "bob".into() });
    let Admission::Challenge { values, rejected: why } = admit(&mut gatekeeper, Some(&header))
    else {
        panic!("a replay was admitted");
    };
    assert_eq!(why.as_deref(), Some("nonce count 00000001 replayed"));
    assert!(values[0].ends_with(", stale=true"));
    // The response hashes the method: the same header on a HEAD is a different request.
    let head = gatekeeper.admit(
        &mut ConnectionAuth::default(),
        "HEAD",
        "/a/b?c=d",
        Some(header.as_bytes()),
    );
    assert_eq!(rejected(head).as_deref(), Some("wrong password for bob"));
}

#[test]
fn schemes_not_demanded_or_unknown_are_refused() {
    let mut gatekeeper = gatekeeper(vec![Demand::DigestMd5], 1);
    let cases = [
        (basic("bob:b0b"), "Basic not offered"),
        ("NTLM TlRMTVNTUAABAAAAB4IIAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(), "NTLM not offered"),
        ("Bearer abc.def".to_owned(), "unsupported scheme Bearer"),
        ("\u{1}evil".to_owned(), "unsupported scheme \\u{1}evil"),
        (String::new(), "unsupported scheme "),
    ];
    for (header, why) in cases {
        assert_eq!(rejected(admit(&mut gatekeeper, Some(&header))).as_deref(), Some(why));
    }
    let long = format!("Basic {}", "A".repeat(MAX_CREDENTIALS_LEN));
    assert_eq!(
        rejected(admit(&mut gatekeeper, Some(&long))).unwrap(),
        "credentials longer than 16384 bytes"
    );
}

#[test]
fn no_demands_admit_everyone_anonymously() {
    let mut gatekeeper = gatekeeper(Vec::new(), 1);
    let anonymous = Admission::Allowed { user: String::new() };
    assert_eq!(admit(&mut gatekeeper, None), anonymous);
    assert_eq!(admit(&mut gatekeeper, Some("garbage")), anonymous);
}

#[test]
fn identify_reports_claims_without_secrets() {
    let seen = |scheme: &str, user: Option<&str>, leg: Option<u8>| Seen {
        scheme: scheme.into(),
        user: user.map(str::to_owned),
        leg,
    };
    let digest = "digest username=\"Mufasa\", realm=\"r\", response=\"00\"";
    let cases = [
        (basic("CORP\\alice:pa55"), seen("Basic", Some("CORP\\alice"), None)),
        ("BASIC !!".to_owned(), seen("Basic", None, None)),
        (digest.to_owned(), seen("Digest", Some("Mufasa"), None)),
        ("Digest username=".to_owned(), seen("Digest", None, None)),
        (
            "NTLM TlRMTVNTUAABAAAAB4IIAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(),
            seen("NTLM", None, Some(1)),
        ),
        ("Negotiate YIIB".to_owned(), seen("Negotiate", None, None)),
        ("Bearer x".to_owned(), seen("Bearer", None, None)),
    ];
    for (header, expected) in cases {
        assert_eq!(identify(header.as_bytes()), expected, "{header}");
    }
    assert_eq!(identify(b"\xff\xfe x"), seen("\u{fffd}\u{fffd}", None, None));
    let long = format!("Basic {}", "A".repeat(MAX_CREDENTIALS_LEN));
    assert_eq!(identify(long.as_bytes()), seen("Basic", None, None));
}

#[test]
fn demands_read_from_kebab_case() {
    #[derive(serde::Deserialize)]
    struct Config {
        demands: Vec<Demand>,
    }
    let config: Config = toml::from_str(
        r#"demands = ["basic", "digest-md5", "digest-sha256", "ntlm", "negotiate"]"#,
    )
    .unwrap();
    assert_eq!(
        config.demands,
        [Demand::Basic, Demand::DigestMd5, Demand::DigestSha256, Demand::Ntlm, Demand::Negotiate]
    );
}
