use super::*;

fn ack(status: u16, headers: &[(&str, &str)]) -> Ack {
    Ack::parse(status, |name| {
        headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| *value)
    })
}

#[test]
fn fragments_never_pass_the_end_and_name_their_bytes() {
    let fragment = Fragment::plan(0, 4892, FRAGMENT_SIZE_DEFAULT).unwrap();
    assert_eq!(fragment.content_range(), "bytes 0-4891/4892");
    let last = Fragment::plan(256 << 10, (256 << 10) + 10, FRAGMENT_SIZE_DEFAULT).unwrap();
    assert_eq!(last.len, 10);
    assert_eq!(Fragment::plan(10, 10, 4), None);
}

#[test]
fn create_session_offers_the_one_protocol() {
    let headers = packet_headers(Packet::CreateSession, None, None);
    assert_eq!(
        headers,
        vec![
            (HEADER_PACKET_TYPE, "Create-Session".to_owned()),
            (HEADER_SUPPORTED_PROTOCOLS, PROTOCOL_GUID.to_owned()),
        ]
    );
    let session = judge_create_ack(&ack(
        200,
        &[("bits-protocol", PROTOCOL_GUID), ("BITS-Session-Id", "{abc}")],
    ));
    assert_eq!(session, Ok("{abc}".to_owned()));
    assert!(judge_create_ack(&ack(200, &[("BITS-Protocol", "{other}")])).is_err());
    assert!(judge_create_ack(&ack(200, &[])).is_err());
}

#[test]
fn the_server_says_where_to_continue() {
    let fragment = Fragment { first: 0, len: 4892, total: 4892 };
    let done = ack(200, &[("BITS-Received-Content-Range", "4892")]);
    assert_eq!(
        judge_fragment_ack(&done, fragment, true),
        AckStep::Continue { offset: 4892, reply_url: None }
    );
    let gap = Fragment { first: 300, len: 100, total: 1000 };
    let told = ack(416, &[("BITS-Received-Content-Range", "120"), ("BITS-Error-Code", "0")]);
    assert_eq!(
        judge_fragment_ack(&told, gap, true),
        AckStep::Continue { offset: 120, reply_url: None }
    );
    assert_eq!(
        judge_fragment_ack(&told, gap, false),
        AckStep::Continue { offset: 400, reply_url: None },
        "the defect trusts its own count"
    );
    assert!(matches!(judge_fragment_ack(&ack(200, &[]), gap, true), AckStep::Fail(_)));
}

#[test]
fn a_forgotten_session_starts_over_and_413_shrinks_to_the_floor() {
    let fragment = Fragment { first: 0, len: 16 << 10, total: 1 << 20 };
    let forgotten = ack(500, &[("BITS-Error-Code", "0x8020001F")]);
    assert_eq!(judge_fragment_ack(&forgotten, fragment, true), AckStep::NewSession);
    let legacy_name = ack(500, &[("BITS-Error", "0x8020001f")]);
    assert_eq!(judge_fragment_ack(&legacy_name, fragment, true), AckStep::NewSession);
    let too_big = ack(413, &[]);
    assert_eq!(judge_fragment_ack(&too_big, fragment, true), AckStep::Shrink { size: 8 << 10 });
    let small = Fragment { len: 6 << 10, ..fragment };
    assert_eq!(
        judge_fragment_ack(&too_big, small, true),
        AckStep::Shrink { size: FRAGMENT_SIZE_MIN }
    );
    let floor = Fragment { len: FRAGMENT_SIZE_MIN, ..fragment };
    assert!(matches!(judge_fragment_ack(&too_big, floor, true), AckStep::Fail(_)));
}

#[test]
fn failed_acks_are_transient_or_fatal_by_status() {
    let fragment = Fragment { first: 0, len: 10, total: 10 };
    let step = |status| match judge_fragment_ack(&ack(status, &[]), fragment, true) {
        AckStep::Fail(error) => error.is_transient(),
        other => panic!("{status}: {other:?}"),
    };
    assert!(step(503), "5xx is transient");
    assert!(!step(501), "501: uploads disabled");
    assert!(!step(403));
    assert!(step(408));
    assert!(!step(400));
}

#[test]
fn close_ends_on_success_a_forgotten_session_or_any_client_error() {
    assert!(session_end_is_final(&ack(200, &[])));
    assert!(session_end_is_final(&ack(500, &[("BITS-Error-Code", "0x8020001F")])));
    assert!(session_end_is_final(&ack(404, &[])));
    assert!(!session_end_is_final(&ack(503, &[])));
    assert!(!session_end_is_final(&ack(500, &[])));
}

#[test]
fn reply_urls_resolve_like_the_windows_client() {
    let upload = RemoteUrl::parse("http://server/vdir/upload.bin").unwrap();
    assert_eq!(
        resolve_reply_url(&upload, r"BITS-Sessions\Replies\{GUID}\responsefile.bin"),
        "http://server/vdir/BITS-Sessions/Replies/%7BGUID%7D/responsefile.bin"
    );
    assert_eq!(resolve_reply_url(&upload, "/r/1"), "http://server/r/1");
    assert_eq!(resolve_reply_url(&upload, "http://other/r"), "http://other/r");
}
