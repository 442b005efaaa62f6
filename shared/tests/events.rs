//! Typed pushes parsed from the fixtures under `tests/fixtures/events/` (plain and CDATA forms).

use secrecy::ExposeSecret;
use wxopen::crypto::{CryptoError, MsgCrypt};
use wxopen::events::{
    open_push, AuthorizerEvent, ComponentEvent, Envelope, PushError, PushQuery, MAX_PUSH_BYTES,
};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../tests/fixtures/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_component_verify_ticket_parses_with_and_without_cdata() {
    for f in [
        "component_verify_ticket.xml",
        "component_verify_ticket_cdata.xml",
    ] {
        match ComponentEvent::parse(&fixture(f)).unwrap() {
            ComponentEvent::VerifyTicket {
                component_appid,
                create_time,
                ticket,
            } => {
                assert_eq!(component_appid, "wx134c8103faa5a59e");
                assert_eq!(create_time, 1413192605);
                assert!(ticket.expose_secret().starts_with("ticket@@@lEHjsBEi"));
            }
            other => panic!("{f}: {other:?}"),
        }
    }
}

#[test]
fn authorized_and_updateauthorized_carry_the_authorization_code() {
    for (f, update) in [
        ("authorized.xml", false),
        ("authorized_cdata.xml", false),
        ("updateauthorized.xml", true),
        ("updateauthorized_cdata.xml", true),
    ] {
        let change = match (ComponentEvent::parse(&fixture(f)).unwrap(), update) {
            (ComponentEvent::Authorized(c), false)
            | (ComponentEvent::UpdateAuthorized(c), true) => c,
            (other, _) => panic!("{f}: {other:?}"),
        };
        assert_eq!(change.authorizer_appid.as_str(), "wxf8b4f85f3a794e77");
        assert!(change
            .authorization_code
            .expose_secret()
            .starts_with("queryauthcode@@@"));
        assert!(change.authorization_code_expired_time > change.create_time);
        assert!(change.pre_auth_code.is_some());
    }
}

#[test]
fn unauthorized_names_the_authorizer() {
    for f in ["unauthorized.xml", "unauthorized_cdata.xml"] {
        match ComponentEvent::parse(&fixture(f)).unwrap() {
            ComponentEvent::Unauthorized {
                authorizer_appid,
                create_time,
                ..
            } => {
                assert_eq!(authorizer_appid.as_str(), "wxf8b4f85f3a794e77");
                assert_eq!(create_time, 1413192760);
            }
            other => panic!("{f}: {other:?}"),
        }
    }
}

#[test]
fn an_unknown_info_type_is_kept_with_its_raw_xml_not_refused() {
    // A type wxopen does not read (notify_third_fasteregister is typed since; its fixture
    // renamed to a type of the same family that is not).
    let xml = fixture("notify_third_fasteregister_cdata.xml").replace(
        "notify_third_fasteregister",
        "notify_third_fastverifysomethingnew",
    );
    match ComponentEvent::parse(&xml).unwrap() {
        ComponentEvent::Unknown { info_type, raw } => {
            assert_eq!(info_type, "notify_third_fastverifysomethingnew");
            assert_eq!(raw.0, xml);
            assert!(
                !format!("{raw:?}").contains("auth_code"),
                "Debug hides content"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn audit_success_fail_and_delay_parse_with_and_without_cdata() {
    for f in ["weapp_audit_success.xml", "weapp_audit_success_cdata.xml"] {
        match AuthorizerEvent::parse(&fixture(f)).unwrap() {
            AuthorizerEvent::AuditSuccess { header, succ_time } => {
                assert_eq!(header.to_user_name, "gh_fb9688c2a4b2");
                assert_eq!(succ_time, 1488856741);
            }
            other => panic!("{f}: {other:?}"),
        }
    }
    for f in ["weapp_audit_fail.xml", "weapp_audit_fail_cdata.xml"] {
        match AuthorizerEvent::parse(&fixture(f)).unwrap() {
            AuthorizerEvent::AuditFail {
                reason,
                fail_time,
                screenshots,
                ..
            } => {
                assert!(reason.starts_with("1:账号信息不符合规范:<br>"), "{reason}");
                assert_eq!(fail_time, 1488856591);
                assert_eq!(screenshots, ["xxx", "yyy", "zzz"]);
            }
            other => panic!("{f}: {other:?}"),
        }
    }
    for f in ["weapp_audit_delay.xml", "weapp_audit_delay_cdata.xml"] {
        match AuthorizerEvent::parse(&fixture(f)).unwrap() {
            AuthorizerEvent::AuditDelay {
                reason, delay_time, ..
            } => {
                assert!(!reason.is_empty());
                assert_eq!(delay_time, 1488856591);
            }
            other => panic!("{f}: {other:?}"),
        }
    }
}

#[test]
fn other_messages_and_events_are_unknown_not_errors() {
    match AuthorizerEvent::parse(&fixture("text_message_cdata.xml")).unwrap() {
        AuthorizerEvent::Unknown {
            msg_type, event, ..
        } => {
            assert_eq!(msg_type, "text");
            assert_eq!(event, None);
        }
        other => panic!("{other:?}"),
    }
    match AuthorizerEvent::parse("<xml><ToUserName>gh_1</ToUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>user_enter_tempsession</Event></xml>").unwrap() {
        AuthorizerEvent::Unknown {
            msg_type, event, ..
        } => {
            assert_eq!(msg_type, "event");
            assert_eq!(event.as_deref(), Some("user_enter_tempsession"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_profile_review_pushes_are_typed() {
    use wxopen::store::ReviewStatus;
    match AuthorizerEvent::parse(&fixture("wxa_nickname_audit_cdata.xml")).unwrap() {
        AuthorizerEvent::NicknameAudit { header, review } => {
            assert_eq!(header.to_user_name, "gh_fb9688c2a4b2");
            assert_eq!(header.create_time, 1715943329);
            assert_eq!(review.status, ReviewStatus::Approved);
            assert_eq!(review.nickname, "昵称");
            assert_eq!(review.reason, "");
        }
        other => panic!("{other:?}"),
    }
    match AuthorizerEvent::parse(&fixture("wxa_nickname_audit_rejected_cdata.xml")).unwrap() {
        AuthorizerEvent::NicknameAudit { review, .. } => {
            assert_eq!(review.status, ReviewStatus::Rejected);
            assert_eq!(review.nickname, "腾讯小店");
            assert!(review.reason.contains("授权材料"));
        }
        other => panic!("{other:?}"),
    }
    match AuthorizerEvent::parse(&fixture("wxa_category_audit_cdata.xml")).unwrap() {
        AuthorizerEvent::CategoryAudit { review, .. } => {
            assert_eq!(review.status, ReviewStatus::Approved);
            assert_eq!((review.first, review.second), (8, 39));
        }
        other => panic!("{other:?}"),
    }
    // A ret the pages do not name, or a category without its ids, is malformed.
    let bad = fixture("wxa_nickname_audit_cdata.xml").replace("<ret>3</ret>", "<ret>7</ret>");
    assert!(matches!(
        AuthorizerEvent::parse(&bad),
        Err(PushError::MalformedEvent { .. })
    ));
    let bad = fixture("wxa_category_audit_cdata.xml").replace("<first>8</first>", "");
    assert!(matches!(
        AuthorizerEvent::parse(&bad),
        Err(PushError::MalformedEvent { .. })
    ));
}

#[test]
fn a_known_event_with_a_missing_field_is_a_malformed_event_error() {
    let xml = "<xml><AppId>wx134c8103faa5a59e</AppId><CreateTime>1</CreateTime><InfoType>component_verify_ticket</InfoType></xml>";
    assert!(matches!(
        ComponentEvent::parse(xml),
        Err(PushError::MalformedEvent { .. })
    ));
    let xml = "<xml><AppId>wx1</AppId><CreateTime>1</CreateTime><InfoType>unauthorized</InfoType><AuthorizerAppid>not-an-appid</AuthorizerAppid></xml>";
    assert!(matches!(
        ComponentEvent::parse(xml),
        Err(PushError::MalformedEvent { .. })
    ));
    let xml = "<xml><ToUserName>gh_1</ToUserName><CreateTime>x</CreateTime><MsgType>event</MsgType><Event>weapp_audit_success</Event><SuccTime>1</SuccTime></xml>";
    assert!(matches!(
        AuthorizerEvent::parse(xml),
        Err(PushError::MalformedEvent { .. })
    ));
    assert!(matches!(
        AuthorizerEvent::parse("not xml <"),
        Err(PushError::MalformedEvent { .. })
    ));
}

#[test]
fn the_envelope_takes_encrypt_beside_appid_or_tousername_in_any_order() {
    for body in [
        "<xml><AppId><![CDATA[wx134c8103faa5a59e]]></AppId><Encrypt><![CDATA[abc=]]></Encrypt></xml>",
        "<xml><Encrypt>abc=</Encrypt><ToUserName>gh_1</ToUserName></xml>",
        "<xml>\n  <ToUserName><![CDATA[gh_1]]></ToUserName>\n  <Encrypt>\n<![CDATA[abc=]]>\n</Encrypt>\n</xml>\n",
        "<?xml version=\"1.0\"?><xml><MsgType>text</MsgType><Encrypt>abc=</Encrypt><Content>plain</Content></xml>",
    ] {
        assert_eq!(Envelope::parse(body.as_bytes()).unwrap().encrypt, "abc=", "{body}");
    }
}

#[test]
fn parse_xml_error_for_envelopes_without_encrypt_or_not_xml() {
    for body in [
        "",
        "success",
        "<xml></xml>",
        "<xml><Encrypt></Encrypt></xml>",
        "<root><Encrypt>abc</Encrypt></root>",
        "<xml><Encrypt>abc</Encrypt>",
        "<xml><a><Encrypt>nested</Encrypt></a></xml>",
        "<xml><Encrypt>a&bogus;</Encrypt></xml>",
    ] {
        assert_eq!(
            Envelope::parse(body.as_bytes()).unwrap_err(),
            PushError::Crypto(CryptoError::ParseXml),
            "{body:?}"
        );
    }
    assert_eq!(
        Envelope::parse(&[0xff, 0xfe, 0x00]).unwrap_err(),
        PushError::Crypto(CryptoError::ParseXml)
    );
}

#[test]
fn an_envelope_with_bad_utf8_or_a_bad_reference_anywhere_is_refused_even_in_skipped_parts() {
    for body in [
        &b"<xml><Encrypt>ab\xffc=</Encrypt></xml>"[..],
        b"<xml><Encrypt>abc=</Encrypt><Other>\xff</Other></xml>",
        b"<xml><Encrypt>abc=</Encrypt><!-- \xfe --></xml>",
        b"<xml><Encrypt>abc=</Encrypt><Other a=\"\xff\"/></xml>",
        b"<xml><Encrypt>abc=</Encrypt><Other>&#xZZ;</Other></xml>",
        b"<xml><Encrypt>abc=</Encrypt><Other><x>&bogus;</x></Other></xml>",
    ] {
        assert_eq!(
            Envelope::parse(body).unwrap_err(),
            PushError::Crypto(CryptoError::ParseXml),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn the_first_of_repeated_fields_wins_and_split_text_is_joined() {
    let env = Envelope::parse(
        b"<xml><Encrypt>first</Encrypt><Encrypt>second</Encrypt><ToUserName>gh_<![CDATA[a&b]]>&amp;&#x4E2D;</ToUserName></xml>",
    )
    .unwrap();
    assert_eq!(env.encrypt, "first");
    assert_eq!(env.to_user_name.as_deref(), Some("gh_a&b&\u{4e2d}"));
    assert_eq!(env.app_id, None);
}

#[test]
fn a_body_over_64_kib_is_refused_before_parsing() {
    let body = format!(
        "<xml><Encrypt>{}</Encrypt></xml>",
        "A".repeat(MAX_PUSH_BYTES)
    );
    assert_eq!(
        Envelope::parse(body.as_bytes()).unwrap_err(),
        PushError::TooLarge
    );
}

#[test]
fn a_sealed_fixture_round_trips_through_open_push() {
    let c = MsgCrypt::new(
        "tok",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "wx134c8103faa5a59e",
    )
    .unwrap();
    for f in [
        "component_verify_ticket_cdata.xml",
        "weapp_audit_fail_cdata.xml",
    ] {
        let xml = fixture(f);
        let sealed = c.seal(&xml, "1700000000", "42");
        let body = format!(
            "<xml><AppId><![CDATA[wx134c8103faa5a59e]]></AppId><Encrypt><![CDATA[{}]]></Encrypt></xml>",
            sealed.encrypt
        );
        let q = PushQuery {
            msg_signature: sealed.msg_signature,
            timestamp: "1700000000".into(),
            nonce: "42".into(),
        };
        assert_eq!(open_push(&c, body.as_bytes(), &q).unwrap(), xml);
    }
}
