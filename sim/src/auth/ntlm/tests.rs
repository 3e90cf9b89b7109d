//! NTLM against MS-NLMP §4.2.4's NTLMv2 example, then whole handshakes through a gatekeeper
//! with a small client written here from the spec.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::wire::*;
use super::*;
use crate::auth::{Account, Admission, Demand, Seen, identify};

/// MS-NLMP §4.2.4: user "User", domain "Domain", password "Password".
const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// NTLMv2_CLIENT_CHALLENGE as a client builds it (MS-NLMP §3.3.2's `temp`).
fn temp(timestamp: u64, client_challenge: [u8; 8], target_info: &[u8]) -> Vec<u8> {
    let mut temp = vec![1, 1, 0, 0, 0, 0, 0, 0];
    temp.extend_from_slice(&timestamp.to_le_bytes());
    temp.extend_from_slice(&client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(target_info);
    temp.extend_from_slice(&[0; 4]);
    temp
}

#[test]
fn ms_nlmp_4_2_4_ntowfv2_and_ntproofstr() {
    let nt_owf = v2::nt_owf_v2("Password", "User", "Domain");
    assert_eq!(nt_owf.to_vec(), hex("0c868a403bfd7a93a3001ef22ef02e3f"));
    let temp = temp(0, CLIENT_CHALLENGE, &target_info("Domain", "Server"));
    let proof = v2::nt_proof_str(&nt_owf, &SERVER_CHALLENGE, &temp);
    assert_eq!(proof.to_vec(), hex("68cd0ab851e51c96aabc927bebef6a1c"));
}

#[test]
fn ms_nlmp_4_2_4_target_info_layout() {
    // The TargetInfo of §4.2.4.3's CHALLENGE_MESSAGE.
    let expected = hex("02 00 0c 00 44 00 6f 00 6d 00 61 00 69 00 6e 00
         01 00 0c 00 53 00 65 00 72 00 76 00 65 00 72 00 00 00 00 00");
    assert_eq!(target_info("Domain", "Server"), expected);
}

#[test]
fn ms_nlmp_4_2_4_response_verifies_and_v1_does_not() {
    let accounts = [account("Domain", "User", "Password")];
    let mut nt_response = hex("68cd0ab851e51c96aabc927bebef6a1c");
    nt_response.extend(temp(0, CLIENT_CHALLENGE, &target_info("Domain", "Server")));
    let auth = |nt_response: Vec<u8>| Authenticate {
        domain: "DOMAIN".into(),
        user: "User".into(),
        nt_response,
    };
    // Same proof with the domain as the example sent it; "DOMAIN" changes NTOWFv2.
    let example = Authenticate { domain: "Domain".into(), ..auth(nt_response.clone()) };
    assert_eq!(
        v2::verify(&accounts, &SERVER_CHALLENGE, &example),
        Verdict::Allowed("Domain\\User".into())
    );
    let refused = |why: &str| Verdict::Refused(why.to_owned());
    let cases = [
        (auth(nt_response.clone()), "wrong password for DOMAIN\\User"),
        (auth(vec![0; 24]), "NTLMv1 refused: the server requires NTLMv2"),
        (auth(Vec::new()), "anonymous NTLM refused"),
        (auth(vec![0; 43]), "malformed NTLMv2 response: 43 bytes"),
        (auth(vec![0; 60]), "malformed NTLMv2 response: blob version 0.0"),
    ];
    for (auth, why) in cases {
        assert_eq!(v2::verify(&accounts, &SERVER_CHALLENGE, &auth), refused(why));
    }
}

fn account(domain: &str, user: &str, password: &str) -> Account {
    Account { domain: domain.into(), user: user.into(), password: password.into() }
}

// ---- A client, from the spec, for whole handshakes. ----

/// What a modern Windows client asks for.
const CLIENT_FLAGS: u32 = NEGOTIATE_UNICODE
    | REQUEST_TARGET
    | NEGOTIATE_NTLM
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NEGOTIATE_VERSION;

fn negotiate_message(flags: u32) -> Vec<u8> {
    let mut msg = SIGNATURE.to_vec();
    msg.extend_from_slice(&1u32.to_le_bytes());
    msg.extend_from_slice(&flags.to_le_bytes());
    msg.extend_from_slice(&[0, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0]); // empty fields
    msg
}

/// An AUTHENTICATE with the 64-byte fixed part and payload LM, NT, domain, user, workstation.
fn authenticate_message(flags: u32, domain: &str, user: &str, nt_response: &[u8]) -> Vec<u8> {
    let text =
        |s: &str| if flags & NEGOTIATE_UNICODE != 0 { utf16le(s) } else { s.as_bytes().to_vec() };
    let payload = [vec![0; 24], nt_response.to_vec(), text(domain), text(user), text("WS")];
    let mut msg = SIGNATURE.to_vec();
    msg.extend_from_slice(&3u32.to_le_bytes());
    let mut offset = 64;
    for part in &payload {
        let len = u16::try_from(part.len()).unwrap().to_le_bytes();
        msg.extend_from_slice(&len);
        msg.extend_from_slice(&len);
        msg.extend_from_slice(&u32::try_from(offset).unwrap().to_le_bytes());
        offset += part.len();
    }
    msg.extend_from_slice(&[0; 8]); // no session key
    msg.extend_from_slice(&flags.to_le_bytes());
    payload.iter().for_each(|part| msg.extend_from_slice(part));
    msg
}

/// The flags, server challenge and target info of a CHALLENGE, read as a client would.
fn read_challenge(msg: &[u8]) -> (u32, [u8; 8], Vec<u8>) {
    assert_eq!(&msg[..8], SIGNATURE);
    assert_eq!(msg[8..12], 2u32.to_le_bytes());
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([msg[at], msg[at + 1]]));
    let u32_at = |at: usize| u32::from_le_bytes(msg[at..at + 4].try_into().unwrap());
    let (info_len, info_at) = (u16_at(40), u32_at(44) as usize);
    (u32_at(20), msg[24..32].try_into().unwrap(), msg[info_at..info_at + info_len].to_vec())
}

/// Answers a challenge header value (`NTLM <b64>`) with an AUTHENTICATE header value.
fn answer(challenge: &str, flags: u32, domain: &str, user: &str, password: &str) -> String {
    let (scheme, token) = challenge.split_once(' ').unwrap();
    let (_, server_challenge, target_info) =
        read_challenge(&header::decode_base64(token.as_bytes()).unwrap());
    let nt_owf = v2::nt_owf_v2(password, user, domain);
    let temp = temp(0x01d0_0000_0000_0000, [7; 8], &target_info);
    let mut nt_response = v2::nt_proof_str(&nt_owf, &server_challenge, &temp).to_vec();
    nt_response.extend(temp);
    let msg = authenticate_message(flags, domain, user, &nt_response);
    format!("{scheme} {}", header::encode_base64(&msg))
}

fn type1_header(scheme: &str, flags: u32) -> String {
    format!("{scheme} {}", header::encode_base64(&negotiate_message(flags)))
}

struct Host {
    gatekeeper: Gatekeeper,
    conn: ConnectionAuth,
}

impl Host {
    fn new(demands: Vec<Demand>, accounts: Vec<Account>) -> Self {
        let gatekeeper = Gatekeeper::new("sim", demands, accounts, ChaCha8Rng::seed_from_u64(1));
        Self { gatekeeper, conn: ConnectionAuth::default() }
    }

    fn send(&mut self, header: Option<&str>) -> Admission {
        self.gatekeeper.admit(&mut self.conn, "GET", "/f", header.map(str::as_bytes))
    }

    /// Sends a type 1 and returns the single challenge value it earns.
    fn negotiate(&mut self, scheme: &str, flags: u32) -> String {
        match self.send(Some(&type1_header(scheme, flags))) {
            Admission::Challenge { mut values, rejected: None } if values.len() == 1 => {
                values.remove(0)
            }
            other => panic!("type 1 earned {other:?}"),
        }
    }
}

fn corp_alice() -> Vec<Account> {
    vec![account("CORP", "alice", "pa55"), account("", "bob", "b0b")]
}

fn rejected(admission: Admission) -> String {
    match admission {
        Admission::Challenge { rejected, .. } => rejected.unwrap_or_default(),
        Admission::Allowed { user } => panic!("admitted as {user}"),
    }
}

#[test]
fn ntlm_handshake_authenticates_the_connection() {
    let mut host = Host::new(vec![Demand::Ntlm], corp_alice());
    let anonymous = Admission::Challenge { values: vec!["NTLM".into()], rejected: None };
    assert_eq!(host.send(None), anonymous);
    let challenge = host.negotiate("NTLM", CLIENT_FLAGS);
    assert!(challenge.starts_with("NTLM "));
    let (flags, _, info) =
        read_challenge(&header::decode_base64(&challenge.as_bytes()[5..]).unwrap());
    assert_eq!(
        flags & (NEGOTIATE_UNICODE | NEGOTIATE_EXTENDED_SESSIONSECURITY | NEGOTIATE_TARGET_INFO),
        NEGOTIATE_UNICODE | NEGOTIATE_EXTENDED_SESSIONSECURITY | NEGOTIATE_TARGET_INFO
    );
    assert_eq!(info, target_info(DEFAULT_NB_DOMAIN, DEFAULT_NB_COMPUTER));
    let type3 = answer(&challenge, CLIENT_FLAGS, "corp", "ALICE", "pa55");
    assert_eq!(
        identify(type3.as_bytes()),
        Seen { scheme: "NTLM".into(), user: Some("corp\\ALICE".into()), leg: Some(3) }
    );
    let alice = Admission::Allowed { user: "CORP\\alice".into() };
    assert_eq!(host.send(Some(&type3)), alice);
    assert_eq!(host.conn.authenticated_user(), Some("CORP\\alice"));
    assert_eq!(host.send(None), alice);
    assert_eq!(host.send(None), alice);
    // A new type 1 starts over.
    host.negotiate("NTLM", CLIENT_FLAGS);
    assert_eq!(host.conn.authenticated_user(), None);
}

#[test]
fn negotiate_mirrors_its_name_and_must_finish_under_it() {
    let mut host = Host::new(vec![Demand::Negotiate, Demand::Ntlm], corp_alice());
    let challenge = host.negotiate("negotiate", CLIENT_FLAGS);
    assert!(challenge.starts_with("Negotiate "));
    let type3 = answer(&challenge, CLIENT_FLAGS, "", "bob", "b0b");
    assert_eq!(host.send(Some(&type3)), Admission::Allowed { user: "bob".into() });
    let challenge = host.negotiate("Negotiate", CLIENT_FLAGS);
    let type3 = answer(&challenge, CLIENT_FLAGS, "", "bob", "b0b").replacen("Negotiate", "NTLM", 1);
    let Admission::Challenge { values, rejected } = host.send(Some(&type3)) else { panic!() };
    assert_eq!(rejected.as_deref(), Some("handshake began as Negotiate, continued as NTLM"));
    assert_eq!(values, ["Negotiate", "NTLM"]);
}

#[test]
fn handshake_failures_say_why_and_leave_the_connection_anonymous() {
    let mut host = Host::new(vec![Demand::Ntlm], corp_alice());
    let challenge = host.negotiate("NTLM", CLIENT_FLAGS);
    let wrong = answer(&challenge, CLIENT_FLAGS, "CORP", "alice", "nope");
    assert_eq!(rejected(host.send(Some(&wrong))), "wrong password for CORP\\alice");
    assert_eq!(host.conn.authenticated_user(), None);
    // The challenge was used up: the same answer again has nothing to answer.
    assert_eq!(rejected(host.send(Some(&wrong))), "NTLM AUTHENTICATE without a pending challenge");
    // An account with a domain wants that domain named.
    let challenge = host.negotiate("NTLM", CLIENT_FLAGS);
    let no_domain = answer(&challenge, CLIENT_FLAGS, "", "alice", "pa55");
    assert_eq!(rejected(host.send(Some(&no_domain))), "unknown user alice");
    // Any other request in between abandons the handshake.
    let challenge = host.negotiate("NTLM", CLIENT_FLAGS);
    assert_eq!(
        host.send(None),
        Admission::Challenge { values: vec!["NTLM".into()], rejected: None }
    );
    let late = answer(&challenge, CLIENT_FLAGS, "CORP", "alice", "pa55");
    assert_eq!(rejected(host.send(Some(&late))), "NTLM AUTHENTICATE without a pending challenge");
}

#[test]
fn oem_clients_are_answered_in_oem() {
    let mut host = Host::new(vec![Demand::Ntlm], corp_alice());
    let oem = NEGOTIATE_OEM | NEGOTIATE_NTLM;
    let challenge = host.negotiate("NTLM", oem);
    let msg = header::decode_base64(&challenge.as_bytes()[5..]).unwrap();
    let (flags, _, _) = read_challenge(&msg);
    assert_eq!(flags & (NEGOTIATE_UNICODE | NEGOTIATE_OEM), NEGOTIATE_OEM);
    assert_eq!(&msg[56..56 + DEFAULT_NB_DOMAIN.len()], DEFAULT_NB_DOMAIN.as_bytes());
    let type3 = answer(&challenge, oem, "CORP", "alice", "pa55");
    assert_eq!(host.send(Some(&type3)), Admission::Allowed { user: "CORP\\alice".into() });
}

#[test]
fn foreign_and_broken_tokens_are_refused() {
    let mut host = Host::new(vec![Demand::Negotiate, Demand::Ntlm], corp_alice());
    // A Kerberos/SPNEGO token (GSS-API framing starts 0x60).
    let spnego = format!("Negotiate {}", header::encode_base64(&[0x60, 0x28, 0x06, 0x06, 0x2b]));
    assert_eq!(rejected(host.send(Some(&spnego))), "Negotiate token is not NTLMSSP");
    assert_eq!(
        identify(spnego.as_bytes()),
        Seen { scheme: "Negotiate".into(), user: None, leg: None }
    );
    assert_eq!(rejected(host.send(Some("NTLM !!!"))), "malformed NTLM token: not base64");
    let mut type2 = negotiate_message(0);
    type2[8] = 2;
    let type2 = format!("NTLM {}", header::encode_base64(&type2));
    assert_eq!(
        rejected(host.send(Some(&type2))),
        "malformed NTLM message: unexpected message type 2"
    );
    let short = format!("NTLM {}", header::encode_base64(&negotiate_message(0)[..14]));
    assert_eq!(
        rejected(host.send(Some(&short))),
        "malformed NTLM message: truncated NEGOTIATE message"
    );
    let huge = format!("NTLM {}", header::encode_base64(&[0; MAX_MESSAGE_LEN + 1]));
    assert_eq!(rejected(host.send(Some(&huge))), "NTLM token longer than 4096 bytes");
    let type1 = type1_header("NTLM", CLIENT_FLAGS);
    assert_eq!(
        identify(type1.as_bytes()),
        Seen { scheme: "NTLM".into(), user: None, leg: Some(1) }
    );
}

#[test]
fn random_authenticate_messages_never_panic() {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let good = authenticate_message(CLIENT_FLAGS, "CORP", "alice", &[1; 60]);
    for _ in 0..5000 {
        let mut msg = good.clone();
        msg.truncate(rng.random_range(8..=good.len()));
        for _ in 0..rng.random_range(0..6) {
            let at = rng.random_range(8..msg.len().max(9));
            if let Some(byte) = msg.get_mut(at) {
                *byte = rng.random();
            }
        }
        let value = format!("NTLM {}", header::encode_base64(&msg));
        let _ = identify(value.as_bytes());
        let _ = parse(&msg);
        let mut host = Host::new(vec![Demand::Ntlm], corp_alice());
        host.negotiate("NTLM", CLIENT_FLAGS);
        assert!(matches!(host.send(Some(&value)), Admission::Challenge { .. }));
    }
}

#[test]
fn netbios_names_are_configurable_and_cut_to_fifteen() {
    let gatekeeper =
        Gatekeeper::new("sim", vec![Demand::Ntlm], corp_alice(), ChaCha8Rng::seed_from_u64(1))
            .with_netbios_names("CORP", "A-VERY-LONG-COMPUTER-NAME");
    let mut host = Host { gatekeeper, conn: ConnectionAuth::default() };
    let challenge = host.negotiate("NTLM", CLIENT_FLAGS);
    let (_, _, info) = read_challenge(&header::decode_base64(&challenge.as_bytes()[5..]).unwrap());
    assert_eq!(info, target_info("CORP", "A-VERY-LONG-COM"));
    let type3 = answer(&challenge, CLIENT_FLAGS, "CORP", "alice", "pa55");
    assert_eq!(host.send(Some(&type3)), Admission::Allowed { user: "CORP\\alice".into() });
}
