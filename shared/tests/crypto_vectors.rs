//! WXBizMsgCrypt against published vectors. Each test names where its vector was copied from.

use wxopen::crypto::{sign, CryptoError, MsgCrypt};
use wxopen::events::{open_push, Envelope, PushQuery};

fn query(sig: &str, ts: &str, nonce: &str) -> PushQuery {
    PushQuery {
        msg_signature: sig.into(),
        timestamp: ts.into(),
        nonce: nonce.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Vector 1: the official third-party platform docs' worked example (debug_demo push and reply).
// Source: https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/Before_Develop/message_push.html
// Token "AAAAA", EncodingAESKey 43 x "A", component appid wx134c8103faa5a59e; the push is for the
// mini program wxba5fad812f8e6fb9 but the trailer is the component appid.
// ---------------------------------------------------------------------------------------------
const DOC_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const DOC_APPID: &str = "wx134c8103faa5a59e";
const DOC_BODY: &str = "<xml>\n    <ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n    <Encrypt><![CDATA[D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==]]></Encrypt>\n</xml>";
const DOC_MSG: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n<CreateTime>1715943329</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[debug_demo]]></Event>\n<debug_str><![CDATA[hello world]]></debug_str>\n</xml>";

#[test]
fn the_official_docs_push_decrypts_byte_exact() {
    let c = MsgCrypt::new("AAAAA", DOC_KEY, DOC_APPID).unwrap();
    let q = query(
        "6c12a4205838198b8fa631b3220723bb07f1015c",
        "1715943329",
        "1590219412",
    );
    let msg = open_push(&c, DOC_BODY.as_bytes(), &q).unwrap();
    assert_eq!(msg, DOC_MSG);
    assert_eq!(msg.len(), 292, "the doc gives msg_len=292");
}

#[test]
fn the_official_docs_push_is_refused_when_any_signed_part_changes() {
    let c = MsgCrypt::new("AAAAA", DOC_KEY, DOC_APPID).unwrap();
    let good = query(
        "6c12a4205838198b8fa631b3220723bb07f1015c",
        "1715943329",
        "1590219412",
    );
    for q in [
        query(&good.msg_signature, "1715943330", &good.nonce),
        query(&good.msg_signature, &good.timestamp, "1590219413"),
        query(
            "6c12a4205838198b8fa631b3220723bb07f1015d",
            &good.timestamp,
            &good.nonce,
        ),
        // the URL's 3-field `signature` must not be accepted in place of msg_signature
        query(
            "cc0c594499c1634947d5b502f158ee518947db27",
            &good.timestamp,
            &good.nonce,
        ),
    ] {
        assert_eq!(
            open_push(&c, DOC_BODY.as_bytes(), &q).unwrap_err(),
            CryptoError::ValidateSignature.into()
        );
    }
    let tampered = DOC_BODY.replace("D7yzvUNAL930", "D7yzvUNAL931");
    assert_eq!(
        open_push(&c, tampered.as_bytes(), &good).unwrap_err(),
        CryptoError::ValidateSignature.into()
    );
    let other_component = MsgCrypt::new("AAAAA", DOC_KEY, "wxba5fad812f8e6fb9").unwrap();
    assert_eq!(
        open_push(&other_component, DOC_BODY.as_bytes(), &good).unwrap_err(),
        CryptoError::ValidateAppid.into(),
        "the trailer is the component appid, not the mini program's"
    );
}

#[test]
fn the_official_docs_reply_encrypts_byte_exact() {
    let c = MsgCrypt::new("AAAAA", DOC_KEY, DOC_APPID).unwrap();
    let reply = c
        .reply_with_random(
            "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
            "1713424427",
            "415670741",
            b"999951349e8ee746",
        )
        .unwrap();
    assert_eq!(
        reply,
        "<xml>\n<Encrypt><![CDATA[hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7]]></Encrypt>\n<MsgSignature><![CDATA[03e0812039325c2712ef5f0f980fd14c70d6e307]]></MsgSignature>\n<TimeStamp>1713424427</TimeStamp>\n<Nonce><![CDATA[415670741]]></Nonce>\n</xml>"
    );
}

// ---------------------------------------------------------------------------------------------
// Vector 2: Tencent's official Python sample (WXBizMsgCrypt "Sample.py", jonyqin, 2014), as
// mirrored at github.com/charlesXu86/Chatbot_CN, Chatbot_Web/impl/weixin/Sample.py.
// A compatible-mode body: plaintext fields beside Encrypt, which must be ignored.
// ---------------------------------------------------------------------------------------------
#[test]
fn tencents_python_sample_push_decrypts() {
    let c = MsgCrypt::new(
        "spamtest",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "wx2c2769f8efd9abc2",
    )
    .unwrap();
    let body = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>";
    let q = query(
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
        "1409735669",
        "1320562132",
    );
    let msg = open_push(&c, body.as_bytes(), &q).unwrap();
    for part in [
        "<ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>",
        "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>",
        "<CreateTime>1409735668</CreateTime>",
        "<Content><![CDATA[abcdteT]]></Content>",
        "<MsgId>6054768590064713728</MsgId>",
    ] {
        assert!(msg.contains(part), "{part} missing from {msg}");
    }
}

// ---------------------------------------------------------------------------------------------
// Vector 3: Tencent's official Java sample test (WXBizMsgCryptTest.java in the 公众平台 sample
// download), as mirrored at github.com/Wyl015/wuyiling,
// work-test/src/main/resources/Utils/aes/WXBizMsgCryptTest.java. Fixed random "aaaabbbbccccdddd";
// Chinese text checks that msg_len counts UTF-8 bytes.
// ---------------------------------------------------------------------------------------------
const JAVA_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const JAVA_APPID: &str = "wxb11529c136998cb6";

#[test]
fn tencents_java_sample_encrypts_chinese_text_byte_exact() {
    let c = MsgCrypt::new("pamtest", JAVA_KEY, JAVA_APPID).unwrap();
    let enc = c.encrypt_with_random("我是中文abcd123", b"aaaabbbbccccdddd");
    assert_eq!(
        enc,
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    );
    assert_eq!(c.decrypt(&enc).unwrap(), "我是中文abcd123");
}

#[test]
fn tencents_java_sample_encrypts_a_long_reply_byte_exact() {
    let c = MsgCrypt::new("pamtest", JAVA_KEY, JAVA_APPID).unwrap();
    let msg = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
    let expected = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";
    assert_eq!(c.encrypt_with_random(msg, b"aaaabbbbccccdddd"), expected);
    assert_eq!(c.decrypt(expected).unwrap(), msg);
}

// ---------------------------------------------------------------------------------------------
// Vector 4: wechatpy's test suite, github.com/wechatpy/wechatpy, tests/test_crypto.py
// (CryptoTestCase: test_encrypt_message with random "1234567890123456", test_decrypt_message).
// Its key "…S1aR" is not canonical base64 once "=" is appended.
// ---------------------------------------------------------------------------------------------
const PY_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
const PY_APPID: &str = "wx49f0ab532d5d035a";

#[test]
fn wechatpys_encrypt_message_vector_matches_byte_exact() {
    let c = MsgCrypt::new("123456", PY_KEY, PY_APPID).unwrap();
    let reply = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
    let expected = "<xml>\n<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></Encrypt>\n<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>\n<TimeStamp>1411525903</TimeStamp>\n<Nonce><![CDATA[461056294]]></Nonce>\n</xml>";
    let got = c
        .reply_with_random(reply, "1411525903", "461056294", b"1234567890123456")
        .unwrap();
    assert_eq!(got, expected);
}

#[test]
fn wechatpys_decrypt_message_vector_decrypts() {
    let c = MsgCrypt::new("123456", PY_KEY, PY_APPID).unwrap();
    let body = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]></Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>";
    let q = query(
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
        "1411525903",
        "461056294",
    );
    let msg = open_push(&c, body.as_bytes(), &q).unwrap();
    assert!(msg.contains("<Content><![CDATA[test]]></Content>"), "{msg}");
    assert!(
        msg.contains("<FromUserName><![CDATA[messense]]></FromUserName>"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Vector 5: EasyWeChat's test suite, github.com/w7corp/easywechat, tests/Kernel/EncryptorTest.php
// (testDecrypt, testDecryptWithErrorSignature, testDecryptWithErrorAppId).
// ---------------------------------------------------------------------------------------------
const EASY_BODY: &str = "<xml>\n    <ToUserName><![CDATA[asdasdasd]]></ToUserName>\n    <Encrypt><![CDATA[rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boTfb30dMomcgrkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7HAQQhIQ/p6HBmoY30bGXFK0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1DgeSvnE8CZGo/o5Ap/WHK5W2RAsinpzN4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+WBvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erXeuNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvauNulCh+++yz+CQzBIuikA==]]></Encrypt>\n</xml>\n";

#[test]
fn easywechats_decrypt_vector_decrypts_and_its_error_cases_fail_the_same_way() {
    let c = MsgCrypt::new("pamtest", JAVA_KEY, JAVA_APPID).unwrap();
    // EasyWeChat passes (nonce "260774613", timestamp "1458300676").
    let q = query(
        "4f3ad57b6989f09f4eb392acce4f9e93942ed890",
        "1458300676",
        "260774613",
    );
    let msg = open_push(&c, EASY_BODY.as_bytes(), &q).unwrap();
    for part in ["asdasdasd", "asdasdasdsadasd", "1234567898", "hello"] {
        assert!(msg.contains(part), "{part} missing from {msg}");
    }
    let bad_sig = query("invalid-signature", "1458300676", "260774613");
    assert_eq!(
        open_push(&c, EASY_BODY.as_bytes(), &bad_sig).unwrap_err(),
        CryptoError::ValidateSignature.into()
    );
    let other = MsgCrypt::new("pamtest", JAVA_KEY, "wx0000000000000000").unwrap();
    assert_eq!(
        open_push(&other, EASY_BODY.as_bytes(), &q).unwrap_err(),
        CryptoError::ValidateAppid.into()
    );
}

#[test]
fn sign_sorts_the_four_parts_bytewise_and_hexes_lowercase() {
    // From vector 1: the doc lists the sorted order ["1590219412","1715943329","AAAAA","D7yz…"].
    let env = Envelope::parse(DOC_BODY.as_bytes()).unwrap();
    assert_eq!(
        sign("AAAAA", "1715943329", "1590219412", &env.encrypt),
        "6c12a4205838198b8fa631b3220723bb07f1015c"
    );
    assert_eq!(env.to_user_name.as_deref(), Some("gh_97417a04a28d"));
}
