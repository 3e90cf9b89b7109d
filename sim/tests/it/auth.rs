//! The engine's answers against the simulator's servers, in process: two independent
//! implementations of each scheme (the engine's client side, `bitsim::auth`'s server side)
//! must agree, for every scheme a scenario can demand. Method: a gatekeeper challenges, the
//! engine's `Authenticator` answers, until the gatekeeper admits or gives up.

use std::time::Duration;

use bitsim::auth::{Account, Admission, ConnectionAuth, Demand, Gatekeeper};
use bitsim_engine::core::auth::challenge::parse_challenges;
use bitsim_engine::core::auth::credentials::{Credential, CredentialStore, Logon, Secret};
use bitsim_engine::core::auth::exchange::{Authenticator, Keys};
use bitsim_engine::core::auth::policy::{LogonPolicy, Situation};
use bitsim_engine::core::auth::{AuthScheme, AuthTarget};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const URI: &str = "/files/update.bin";

fn gatekeeper(demand: Demand) -> Gatekeeper {
    let alice =
        Account { domain: "CORP".into(), user: "alice".into(), password: "alice-pw-1".into() };
    Gatekeeper::new("realm", vec![demand], vec![alice], ChaCha8Rng::seed_from_u64(7))
}

/// What the engine answers a server's challenge with: `store` and `policy`, alice's logon if
/// given, Basic allowed, and `nonce` as the fresh randomness.
fn keys<'a>(
    store: &'a CredentialStore,
    policy: &'a LogonPolicy,
    logon: Option<&'a Logon>,
    nonce: [u8; 16],
) -> Keys<'a> {
    Keys {
        situation: Situation {
            policy,
            store,
            target: AuthTarget::Server,
            owner_logged_on: logon.is_some(),
            basic_over_http: true,
        },
        logon,
        workstation: "BITSIM",
        nonce,
        unix_time: Duration::from_secs(1_767_225_600),
    }
}

/// Runs requests until the gatekeeper admits one; returns the user and the challenges it
/// took, or the engine's reason for giving up.
fn exchange(
    demand: Demand,
    store: &CredentialStore,
    policy: &LogonPolicy,
    logon: Option<&Logon>,
) -> Result<(String, u32), String> {
    let mut gate = gatekeeper(demand);
    let mut connection = ConnectionAuth::default();
    let mut engine = Authenticator::new(AuthTarget::Server);
    let mut header: Option<String> = None;
    for round in 0..6 {
        let keys = keys(store, policy, logon, [round as u8 + 1; 16]);
        let sent = header.take().or_else(|| engine.header(&keys, "GET", URI));
        match gate.admit(&mut connection, "GET", URI, sent.as_deref().map(str::as_bytes)) {
            Admission::Allowed { user } => {
                engine.on_accepted();
                return Ok((user, round));
            }
            Admission::Challenge { values, .. } => {
                let challenges = parse_challenges(values.iter().map(|value| value.as_bytes()));
                header = Some(engine.on_challenge(&keys, &challenges, "GET", URI)?);
            }
        }
    }
    Err("no decision after six rounds".into())
}

fn explicit(scheme: AuthScheme, password: &str) -> CredentialStore {
    let mut store = CredentialStore::default();
    store.set(AuthTarget::Server, scheme, Credential::explicit("CORP\\alice", password)).unwrap();
    store
}

#[test]
fn every_scheme_interoperates_with_explicit_credentials() {
    let cases = [
        (Demand::Basic, AuthScheme::Basic, 1),
        (Demand::DigestMd5, AuthScheme::Digest, 1),
        (Demand::DigestSha256, AuthScheme::Digest, 1),
        (Demand::Ntlm, AuthScheme::Ntlm, 2),
        (Demand::Negotiate, AuthScheme::Negotiate, 2),
    ];
    for (demand, scheme, challenges) in cases {
        let store = explicit(scheme, "alice-pw-1");
        let admitted = exchange(demand, &store, &LogonPolicy::default(), None);
        assert_eq!(admitted, Ok(("CORP\\alice".into(), challenges)), "{demand:?}");
    }
}

#[test]
fn a_wrong_password_is_rejected_by_every_scheme() {
    for (demand, scheme) in [
        (Demand::Basic, AuthScheme::Basic),
        (Demand::DigestSha256, AuthScheme::Digest),
        (Demand::Ntlm, AuthScheme::Ntlm),
        (Demand::Negotiate, AuthScheme::Negotiate),
    ] {
        let store = explicit(scheme, "not-alices-pw");
        let refused = exchange(demand, &store, &LogonPolicy::default(), None).unwrap_err();
        assert!(refused.contains("rejected"), "{demand:?}: {refused}");
    }
}

#[test]
fn logon_credentials_answer_ntlm_only_when_the_policy_allows() {
    let logon =
        Logon { domain: "CORP".into(), user: "alice".into(), password: Secret::new("alice-pw-1") };
    let none = CredentialStore::default();
    let refused = exchange(Demand::Ntlm, &none, &LogonPolicy::default(), Some(&logon));
    assert!(refused.unwrap_err().contains("LmCompatibilityLevel"));
    let open = LogonPolicy { use_lm_compat: 0, ..LogonPolicy::default() };
    assert_eq!(exchange(Demand::Ntlm, &none, &open, Some(&logon)), Ok(("CORP\\alice".into(), 2)));
    let mut consent = CredentialStore::default();
    consent.set(AuthTarget::Server, AuthScheme::Negotiate, Credential::implicit()).unwrap();
    let admitted = exchange(Demand::Negotiate, &consent, &LogonPolicy::default(), Some(&logon));
    assert_eq!(admitted, Ok(("CORP\\alice".into(), 2)));
}

#[test]
fn a_retired_digest_nonce_is_answered_again_not_reported_as_rejected() {
    let store = explicit(AuthScheme::Digest, "alice-pw-1");
    let policy = LogonPolicy::default();
    let mut gate = gatekeeper(Demand::DigestSha256);
    let mut connection = ConnectionAuth::default();
    let mut engine = Authenticator::new(AuthTarget::Server);
    let (mut challenges_seen, mut admitted) = (0, 0);
    // Far more requests than one nonce may serve: the server retires it and says stale.
    for request in 0..2_500u32 {
        let keys = keys(&store, &policy, None, request.to_le_bytes().repeat(4).try_into().unwrap());
        let mut header = engine.header(&keys, "GET", URI);
        loop {
            match gate.admit(&mut connection, "GET", URI, header.as_deref().map(str::as_bytes)) {
                Admission::Allowed { .. } => {
                    engine.on_accepted();
                    admitted += 1;
                    break;
                }
                Admission::Challenge { values, .. } => {
                    challenges_seen += 1;
                    assert!(challenges_seen < 10, "the exchange never settles");
                    let challenges = parse_challenges(values.iter().map(|v| v.as_bytes()));
                    header = Some(engine.on_challenge(&keys, &challenges, "GET", URI).unwrap());
                }
            }
        }
    }
    assert_eq!(admitted, 2_500);
    assert!(challenges_seen >= 3, "the first challenge and at least two stale nonces");
}
