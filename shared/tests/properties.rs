//! Property tests: round trips over random keys and messages, and no panic on arbitrary input.

use proptest::prelude::*;
use wxopen::crypto::MsgCrypt;
use wxopen::events::{open_push, AuthorizerEvent, ComponentEvent, Envelope, PushQuery};

fn key_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9]{43}").unwrap()
}

fn appid_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex("wx[0-9a-f]{16}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_message_round_trips_under_any_key(
        key in key_strategy(),
        appid in appid_strategy(),
        msg in "(\\PC|[中文测试]){0,200}",
        random in any::<[u8; 16]>(),
    ) {
        let c = MsgCrypt::new("token", &key, &appid).unwrap();
        let enc = c.encrypt_with_random(&msg, &random);
        prop_assert_eq!(c.decrypt(&enc).unwrap(), msg);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_envelope_decrypt_and_parse_path(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        sig in "[0-9a-f]{0,40}",
    ) {
        let c = MsgCrypt::new("t", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx134c8103faa5a59e").unwrap();
        let q = PushQuery { msg_signature: sig, timestamp: "1".into(), nonce: "2".into() };
        let _ = open_push(&c, &body, &q);
        let _ = Envelope::parse(&body);
        if let Ok(s) = std::str::from_utf8(&body) {
            let _ = ComponentEvent::parse(s);
            let _ = AuthorizerEvent::parse(s);
        }
    }

    /// Signed pushes carrying arbitrary plaintext: the signature verifies, so every input goes
    /// through decrypt and both event parsers (an unsigned random input stops at verify), and the
    /// decrypted text is exactly what was encrypted.
    #[test]
    fn signed_pushes_of_arbitrary_plaintext_are_verified_decrypted_and_parsed_without_panic(
        msg in "(\\PC|[<>&\\]\\[中文]|<xml>|</xml>|<!\\[CDATA\\[|\\]\\]>){0,300}",
        to_user_name in any::<bool>(),
        timestamp in "[0-9]{1,10}",
        nonce in "[0-9A-Za-z]{1,16}",
    ) {
        let c = MsgCrypt::new("t", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx134c8103faa5a59e").unwrap();
        let encrypt = c.encrypt(&msg);
        let outer = if to_user_name { "ToUserName" } else { "AppId" };
        let body = format!("<xml><{outer}><![CDATA[x]]></{outer}><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
        let q = PushQuery { msg_signature: c.sign(&timestamp, &nonce, &encrypt), timestamp, nonce };
        let xml = open_push(&c, body.as_bytes(), &q).expect("a signed push verifies and decrypts");
        prop_assert_eq!(&xml, &msg);
        let _ = ComponentEvent::parse(&xml);
        let _ = AuthorizerEvent::parse(&xml);
    }

    #[test]
    fn arbitrary_ciphertext_never_panics_decrypt(encrypt in "[A-Za-z0-9+/=]{0,400}") {
        let c = MsgCrypt::new("t", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx134c8103faa5a59e").unwrap();
        let _ = c.decrypt(&encrypt);
    }

    #[test]
    fn xml_shaped_input_never_panics_the_event_parsers(
        tags in proptest::collection::vec(("[A-Za-z]{1,12}", "[^<>&]{0,20}"), 0..8),
        cdata in any::<bool>(),
    ) {
        let mut xml = String::from("<xml>");
        for (t, v) in &tags {
            if cdata { xml.push_str(&format!("<{t}><![CDATA[{v}]]></{t}>")); }
            else { xml.push_str(&format!("<{t}>{v}</{t}>")); }
        }
        xml.push_str("</xml>");
        let _ = ComponentEvent::parse(&xml);
        let _ = AuthorizerEvent::parse(&xml);
        let _ = Envelope::parse(xml.as_bytes());
    }
}

#[test]
fn every_message_length_from_0_to_64_bytes_round_trips_including_chinese() {
    let c = MsgCrypt::new(
        "token",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "wx134c8103faa5a59e",
    )
    .unwrap();
    for len in 0..=64 {
        let ascii: String = "a".repeat(len);
        assert_eq!(c.decrypt(&c.encrypt(&ascii)).unwrap(), ascii);
        // "中" is 3 UTF-8 bytes: cover byte lengths that are not character counts.
        let mut mixed = "中".repeat(len / 3);
        mixed.push_str(&"x".repeat(len % 3));
        assert_eq!(mixed.len(), len);
        assert_eq!(c.decrypt(&c.encrypt(&mixed)).unwrap(), mixed);
    }
}
