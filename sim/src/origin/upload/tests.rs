//! The wire format of the upload protocol as bitsim speaks it, against the example exchange
//! of [MC-BUP] §4 (spec §8.2, §8.6): the client's packet headers, the server's Acks, and the
//! reply URL resolved as the Windows client resolves it.

use bitsim_engine::core::http::RemoteUrl;
use bitsim_engine::core::upload::{
    Fragment, HEADER_REPLY_URL, HEADER_SESSION_ID, Packet, packet_headers, resolve_reply_url,
};
use http::StatusCode;

use super::{Answer, ack, parse_content_range, session_guid};

/// A request's headers as they go on the wire (the HTTP layer adds Host, User-Agent,
/// Accept-Encoding and Content-Length).
fn request(packet: Packet, session: Option<&str>, fragment: Option<Fragment>) -> String {
    let length = fragment.map_or(0, |fragment| fragment.len);
    let mut text = "BITS_POST /vdir/upload.bin HTTP/1.1\n".to_owned();
    for (name, value) in packet_headers(packet, session, fragment) {
        text.push_str(&format!("{name}: {value}\n"));
    }
    text.push_str(&format!("Content-Length: {length}\n"));
    text
}

fn response(status: StatusCode, answer: &Answer) -> String {
    let response = ack(status, answer);
    let mut text = format!("HTTP/1.1 {}\n", response.status());
    for (name, value) in response.headers() {
        text.push_str(&format!("{name}: {}\n", value.to_str().unwrap()));
    }
    text
}

const SESSION: &str = "{7E5D2C1C-0D3F-4C5A-9F0C-2A4A1B6C7D8E}";

#[test]
fn the_example_exchange_of_mc_bup_section_4() {
    let fragment = Fragment { first: 0, len: 4892, total: 4892 };
    let session = vec![(HEADER_SESSION_ID, SESSION.to_owned())];
    let exchange = [
        request(Packet::CreateSession, None, None),
        response(
            StatusCode::OK,
            &Answer {
                headers: vec![
                    ("BITS-Protocol", "{7df0354d-249b-430f-820d-3d2a9bef4931}".to_owned()),
                    (HEADER_SESSION_ID, SESSION.to_owned()),
                    ("Accept-Encoding", "Identity".to_owned()),
                ],
                ..Answer::default()
            },
        ),
        request(Packet::Fragment, Some(SESSION), Some(fragment)),
        response(
            StatusCode::OK,
            &Answer {
                headers: [
                    session.clone(),
                    vec![(
                        HEADER_REPLY_URL,
                        format!("BITS-Sessions\\Replies\\{SESSION}\\responsefile.bin"),
                    )],
                ]
                .concat(),
                received: Some(4892),
                ..Answer::default()
            },
        ),
        request(Packet::CloseSession, Some(SESSION), None),
        response(StatusCode::OK, &Answer { headers: session, ..Answer::default() }),
        request(Packet::Fragment, Some("{gone}"), Some(fragment)),
        response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &Answer { error_code: Some("0x8020001F"), ..Answer::default() },
        ),
    ];
    insta::assert_snapshot!("mc_bup_exchange", exchange.join("\n"));
}

#[test]
fn the_reply_url_resolves_against_the_upload_url() {
    let upload = RemoteUrl::parse("http://server/vdir/upload.bin").unwrap();
    let header = format!("BITS-Sessions\\Replies\\{SESSION}\\responsefile.bin");
    insta::assert_snapshot!("reply_url", resolve_reply_url(&upload, &header));
}

#[test]
fn content_ranges_parse_strictly() {
    assert_eq!(parse_content_range("bytes 0-4891/4892"), Some((0, 4892, 4892)));
    assert_eq!(parse_content_range("bytes 5-4/10"), None);
    assert_eq!(parse_content_range("bytes 0-10/10"), None, "the last byte is total - 1");
    assert_eq!(parse_content_range("0-1/2"), None);
}

#[test]
fn session_ids_are_guids_from_the_seed() {
    let id = session_guid(1, "/up/a", 1);
    assert_eq!(id.len(), 38);
    assert!(id.starts_with('{') && id.ends_with('}'));
    assert_ne!(id, session_guid(1, "/up/a", 2));
    assert_eq!(id, session_guid(1, "/up/a", 1));
}
