//! The `wxopen crypto` subcommands, run as a process the way an operator runs them.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const DOC_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const DOC_APPID: &str = "wx134c8103faa5a59e";
// The official docs' worked example:
// https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/Before_Develop/message_push.html
const DOC_BODY: &str = "<xml>\n    <ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n    <Encrypt><![CDATA[D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==]]></Encrypt>\n</xml>";
const DOC_MSG: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n<CreateTime>1715943329</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[debug_demo]]></Event>\n<debug_str><![CDATA[hello world]]></debug_str>\n</xml>";

fn wxopen(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxopen"))
        .args(args)
        .env_remove("WXOPEN_TOKEN")
        .env_remove("WXOPEN_ENCODING_AES_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The CLI may refuse its flags before reading stdin: a broken pipe here is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn decrypt_args<'a>(sig: &'a str, ts: &'a str) -> Vec<&'a str> {
    vec![
        "crypto",
        "decrypt",
        "--token",
        "AAAAA",
        "--aes-key",
        DOC_KEY,
        "--appid",
        DOC_APPID,
        "--timestamp",
        ts,
        "--nonce",
        "1590219412",
        "--msg-signature",
        sig,
    ]
}

#[test]
fn decrypt_prints_the_official_example_byte_exact() {
    let out = wxopen(
        &decrypt_args("6c12a4205838198b8fa631b3220723bb07f1015c", "1715943329"),
        DOC_BODY,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), DOC_MSG);
}

#[test]
fn decrypt_refuses_a_tampered_push_with_the_official_code_on_stderr() {
    let out = wxopen(
        &decrypt_args("6c12a4205838198b8fa631b3220723bb07f1015c", "1715943330"),
        DOC_BODY,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("-40001") && err.contains("ValidateSignatureError"),
        "{err}"
    );
}

#[test]
fn decrypt_names_a_bad_key_and_a_bad_envelope() {
    let mut args = decrypt_args("x", "1");
    args[5] = "short";
    let out = wxopen(&args, DOC_BODY);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-40004"));
    let out = wxopen(&decrypt_args("x", "1"), "not xml");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-40002"));
}

#[test]
fn encrypt_with_fixed_random_reproduces_the_official_reply() {
    // random(16B)="999951349e8ee746" from the doc, as hex of its ASCII bytes.
    let random = "39393939353133343965386565373436";
    let out = wxopen(
        &[
            "crypto",
            "encrypt",
            "--token",
            "AAAAA",
            "--aes-key",
            DOC_KEY,
            "--appid",
            DOC_APPID,
            "--timestamp",
            "1713424427",
            "--nonce",
            "415670741",
            "--random",
            random,
        ],
        "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("<Encrypt><![CDATA[hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7]]></Encrypt>"), "{s}");
    assert!(s.contains(
        "<MsgSignature><![CDATA[03e0812039325c2712ef5f0f980fd14c70d6e307]]></MsgSignature>"
    ));
    assert!(s.contains("<TimeStamp>1713424427</TimeStamp>"));
    assert!(s.contains("<Nonce><![CDATA[415670741]]></Nonce>"));
}

#[test]
fn encrypt_without_random_round_trips_through_decrypt() {
    let out = wxopen(
        &[
            "crypto",
            "encrypt",
            "--token",
            "AAAAA",
            "--aes-key",
            DOC_KEY,
            "--appid",
            DOC_APPID,
            "--timestamp",
            "1715943329",
            "--nonce",
            "1590219412",
        ],
        "中文 message",
    );
    assert!(out.status.success());
    let envelope = String::from_utf8(out.stdout).unwrap();
    let sig = envelope
        .split("<MsgSignature><![CDATA[")
        .nth(1)
        .and_then(|s| s.split("]]>").next())
        .unwrap()
        .to_owned();
    let out = wxopen(&decrypt_args(&sig, "1715943329"), &envelope);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "中文 message");
}

#[test]
fn encrypt_refuses_a_malformed_random() {
    let out = wxopen(
        &[
            "crypto",
            "encrypt",
            "--token",
            "AAAAA",
            "--aes-key",
            DOC_KEY,
            "--appid",
            DOC_APPID,
            "--timestamp",
            "1",
            "--nonce",
            "2",
            "--random",
            "abcd",
        ],
        "x",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--random"));
}

#[test]
fn sign_prints_the_official_msg_signature() {
    let encrypt = DOC_BODY
        .split("<![CDATA[")
        .nth(2)
        .and_then(|s| s.split("]]>").next())
        .unwrap();
    let out = wxopen(
        &[
            "crypto",
            "sign",
            "--token",
            "AAAAA",
            "--timestamp",
            "1715943329",
            "--nonce",
            "1590219412",
            "--encrypt",
            encrypt,
        ],
        "",
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "6c12a4205838198b8fa631b3220723bb07f1015c\n"
    );
}
