//! WXBizMsgCrypt as the WeChat third-party platform uses it.
//!
//! - `msg_signature = hex(sha1(concat(sort([token, timestamp, nonce, Encrypt]))))`, lowercase.
//! - `AESKey = Base64_Decode(EncodingAESKey + "=")`: 32 bytes; AES-256-CBC with `IV = AESKey[..16]`.
//! - PKCS#7 padding with a block of **32** bytes (not AES's 16): pad values 1..=32.
//! - Plaintext = 16 random bytes ‖ u32 big-endian byte length ‖ message ‖ appid.
//!
//! The appid trailer is always the *component* appid, even for pushes that concern an authorized
//! mini program. Timestamp freshness is the caller's policy, not this module's.

use aes::cipher::{
    block_padding::NoPadding, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit, KeyIvInit,
};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::{alphabet, Engine};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha1::{Digest, Sha1};
use std::fmt;
use subtle::ConstantTimeEq;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec<'a> = cbc::Decryptor<&'a aes::Aes256Dec>;

/// WXBizMsgCrypt pads to a multiple of 32 bytes (the key size), unlike AES's own 16-byte block.
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const LEN_FIELD: usize = 4;
/// The 16 random bytes and the u32 length before the message.
const HEADER_LEN: usize = RANDOM_LEN + LEN_FIELD;

/// Real EncodingAESKeys are 43 random alphanumerics; their last character usually has non-zero
/// low bits, so `key + "="` is not canonical base64. The official Python/Java samples decode it
/// leniently, and so must we.
const LENIENT_KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The official WXBizMsgCrypt error codes (sample code `ierror.py` / `AesException.java`).
///
/// These are local codes: WeChat never sends them. Variants carry no detail on purpose, so an
/// error can never leak key material or plaintext into a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CryptoError {
    /// -40001: `msg_signature` does not match.
    ValidateSignature,
    /// -40002: the envelope XML could not be parsed, or has no `Encrypt`.
    ParseXml,
    /// -40003: computing the SHA-1 signature failed (cannot happen here; kept for the code table).
    ComputeSignature,
    /// -40004: the EncodingAESKey is not 43 characters of `[A-Za-z0-9]`.
    IllegalAesKey,
    /// -40005: the appid trailer is not our component appid.
    ValidateAppid,
    /// -40006: AES encryption failed (cannot happen here; kept for the code table).
    EncryptAes,
    /// -40007: the ciphertext is not valid base64, or not a whole number of AES blocks.
    DecryptAes,
    /// -40008: the decrypted buffer is malformed (padding, length field, or not UTF-8).
    IllegalBuffer,
    /// -40011: a reply envelope could not be built (timestamp or nonce unusable in XML).
    GenReturnXml,
}

impl CryptoError {
    /// The official numeric code.
    pub fn code(self) -> i32 {
        match self {
            CryptoError::ValidateSignature => -40001,
            CryptoError::ParseXml => -40002,
            CryptoError::ComputeSignature => -40003,
            CryptoError::IllegalAesKey => -40004,
            CryptoError::ValidateAppid => -40005,
            CryptoError::EncryptAes => -40006,
            CryptoError::DecryptAes => -40007,
            CryptoError::IllegalBuffer => -40008,
            CryptoError::GenReturnXml => -40011,
        }
    }

    /// The official constant name.
    pub fn name(self) -> &'static str {
        match self {
            CryptoError::ValidateSignature => "ValidateSignatureError",
            CryptoError::ParseXml => "ParseXmlError",
            CryptoError::ComputeSignature => "ComputeSignatureError",
            CryptoError::IllegalAesKey => "IllegalAesKey",
            CryptoError::ValidateAppid => "ValidateAppidError",
            CryptoError::EncryptAes => "EncryptAESError",
            CryptoError::DecryptAes => "DecryptAESError",
            CryptoError::IllegalBuffer => "IllegalBuffer",
            CryptoError::GenReturnXml => "GenReturnXmlError",
        }
    }

    /// The official meaning, as in the sample code.
    pub fn meaning(self) -> &'static str {
        match self {
            CryptoError::ValidateSignature => "签名验证错误 (signature mismatch)",
            CryptoError::ParseXml => "xml解析失败 (envelope XML unparsable or without Encrypt)",
            CryptoError::ComputeSignature => "sha加密生成签名失败 (computing the signature failed)",
            CryptoError::IllegalAesKey => {
                "SymmetricKey非法 (EncodingAESKey must be 43 characters of A-Z a-z 0-9)"
            }
            CryptoError::ValidateAppid => "appid校验错误 (appid trailer is not ours)",
            CryptoError::EncryptAes => "aes加密失败 (AES encryption failed)",
            CryptoError::DecryptAes => "aes解密失败 (ciphertext is not valid base64 AES blocks)",
            CryptoError::IllegalBuffer => {
                "解密后得到的buffer非法 (bad padding, length field or encoding)"
            }
            CryptoError::GenReturnXml => "生成xml失败 (timestamp or nonce unusable in XML)",
        }
    }

    /// Every variant, for tables and exhaustive tests.
    pub const ALL: [CryptoError; 9] = [
        CryptoError::ValidateSignature,
        CryptoError::ParseXml,
        CryptoError::ComputeSignature,
        CryptoError::IllegalAesKey,
        CryptoError::ValidateAppid,
        CryptoError::EncryptAes,
        CryptoError::DecryptAes,
        CryptoError::IllegalBuffer,
        CryptoError::GenReturnXml,
    ];
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.code(), self.name(), self.meaning())
    }
}

impl std::error::Error for CryptoError {}

/// WXBizMsgCrypt uses the first 16 key bytes as the CBC IV.
fn iv_of(key: &[u8; 32]) -> &aes::cipher::Array<u8, aes::cipher::consts::U16> {
    let iv: &[u8; 16] = key[..16].try_into().expect("32 > 16");
    iv.into()
}

/// Parses an EncodingAESKey (43 characters of `[A-Za-z0-9]`) into the 32-byte AES key.
pub fn decode_aes_key(encoding_aes_key: &str) -> Result<[u8; 32], CryptoError> {
    if encoding_aes_key.len() != 43 || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(CryptoError::IllegalAesKey);
    }
    let mut padded = [0u8; 44];
    padded[..43].copy_from_slice(encoding_aes_key.as_bytes());
    padded[43] = b'=';
    let mut key = [0u8; 32];
    match LENIENT_KEY_ENGINE.decode_slice(padded, &mut key) {
        Ok(32) => Ok(key),
        _ => Err(CryptoError::IllegalAesKey),
    }
}

/// `msg_signature`: lowercase hex SHA-1 of the four parts sorted bytewise and joined.
pub fn sign(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    hex::encode(sign_digest(token, timestamp, nonce, encrypt))
}

/// The raw SHA-1 behind [`sign`].
fn sign_digest(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> [u8; 20] {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut h = Sha1::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

/// 40 bytes as five words, so the constant-time comparison takes five steps, not forty.
fn words(hex: &[u8; 40]) -> [u64; 5] {
    std::array::from_fn(|i| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&hex[i * 8..i * 8 + 8]);
        u64::from_ne_bytes(word)
    })
}

/// A WXBizMsgCrypt instance for one platform: its token, key and component appid.
///
/// `Debug` prints the appid only: the token and key never reach a log.
pub struct MsgCrypt {
    token: SecretString,
    key: SecretBox<[u8; 32]>,
    /// The key's AES-256 decryption schedule, expanded once: every push is decrypted with it.
    /// Zeroized on drop, like the key.
    decrypt_schedule: Box<aes::Aes256Dec>,
    appid: String,
}

impl fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgCrypt")
            .field("token", &"[REDACTED]")
            .field("key", &"[REDACTED]")
            .field("appid", &self.appid)
            .finish()
    }
}

/// An encrypted message with its signature, as the simulator pushes and as replies carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub encrypt: String,
    pub msg_signature: String,
}

impl MsgCrypt {
    /// `appid` is the component appid: the trailer every decrypted message must end with.
    pub fn new(token: &str, encoding_aes_key: &str, appid: &str) -> Result<Self, CryptoError> {
        let key = decode_aes_key(encoding_aes_key)?;
        Ok(MsgCrypt {
            token: SecretString::from(token.to_owned()),
            decrypt_schedule: Box::new(aes::Aes256Dec::new(&key.into())),
            key: SecretBox::new(Box::new(key)),
            appid: appid.to_owned(),
        })
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The `msg_signature` of an `Encrypt` value under our token.
    pub fn sign(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        sign(self.token.expose_secret(), timestamp, nonce, encrypt)
    }

    /// Checks `msg_signature` in constant time (case-insensitively, as hex).
    pub fn verify(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CryptoError> {
        // Compared as hex text: encoding our 20 bytes is cheaper than decoding theirs, and any
        // non-hex input simply differs. Lowercased first, so uppercase hex is accepted too.
        let mut given: [u8; 40] = msg_signature
            .as_bytes()
            .try_into()
            .map_err(|_| CryptoError::ValidateSignature)?;
        given.make_ascii_lowercase();
        let mut expected = [0u8; 40];
        hex::encode_to_slice(
            sign_digest(self.token.expose_secret(), timestamp, nonce, encrypt),
            &mut expected,
        )
        .map_err(|_| CryptoError::ValidateSignature)?;
        if words(&expected).ct_eq(&words(&given)).into() {
            Ok(())
        } else {
            Err(CryptoError::ValidateSignature)
        }
    }

    /// Verifies the signature, then decrypts: the usual way to open a push.
    pub fn verify_and_decrypt(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<String, CryptoError> {
        self.verify(msg_signature, timestamp, nonce, encrypt)?;
        self.decrypt(encrypt)
    }

    /// Decrypts an `Encrypt` value and returns the message byte-exact. Does not check the signature.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let mut buf = base64_simd::STANDARD
            .decode_to_vec(encrypt.trim_ascii())
            .map_err(|_| CryptoError::DecryptAes)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptoError::DecryptAes);
        }
        let dec =
            Aes256CbcDec::inner_iv_init(&*self.decrypt_schedule, iv_of(self.key.expose_secret()));
        let plain = dec
            .decrypt_padded::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::DecryptAes)?;
        let pad = *plain.last().ok_or(CryptoError::IllegalBuffer)? as usize;
        if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
            return Err(CryptoError::IllegalBuffer);
        }
        let (content, padding) = plain.split_at(plain.len() - pad);
        if padding.iter().any(|&b| b as usize != pad) {
            return Err(CryptoError::IllegalBuffer);
        }
        if content.len() < HEADER_LEN {
            return Err(CryptoError::IllegalBuffer);
        }
        let len_bytes: [u8; 4] = content[RANDOM_LEN..HEADER_LEN]
            .try_into()
            .map_err(|_| CryptoError::IllegalBuffer)?;
        let msg_len = u32::from_be_bytes(len_bytes) as usize;
        let rest = &content[HEADER_LEN..];
        if msg_len > rest.len() {
            return Err(CryptoError::IllegalBuffer);
        }
        if &rest[msg_len..] != self.appid.as_bytes() {
            return Err(CryptoError::ValidateAppid);
        }
        // The message is returned in the buffer it was decrypted in: no second allocation.
        buf.truncate(HEADER_LEN + msg_len);
        buf.drain(..HEADER_LEN);
        String::from_utf8(buf).map_err(|_| CryptoError::IllegalBuffer)
    }

    /// Encrypts `msg` with fresh random bytes.
    pub fn encrypt(&self, msg: &str) -> String {
        let mut random = [0u8; RANDOM_LEN];
        rand::fill(&mut random);
        self.encrypt_with_random(msg, &random)
    }

    /// Encrypts `msg` with the given 16 "random" bytes: deterministic, for published test vectors.
    pub fn encrypt_with_random(&self, msg: &str, random: &[u8; 16]) -> String {
        let body_len = HEADER_LEN + msg.len() + self.appid.len();
        let pad = PAD_BLOCK - body_len % PAD_BLOCK;
        let mut buf = Vec::with_capacity(body_len + pad);
        buf.extend_from_slice(random);
        // A message over 4 GiB cannot be framed; WeChat's bodies are far smaller. Saturate.
        buf.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(msg.as_bytes());
        buf.extend_from_slice(self.appid.as_bytes());
        buf.resize(body_len + pad, pad as u8);
        let key = self.key.expose_secret();
        let enc = Aes256CbcEnc::new(key.into(), iv_of(key));
        let len = buf.len();
        let ct = enc
            .encrypt_padded::<NoPadding>(&mut buf, len)
            .expect("buffer is a whole number of blocks");
        STANDARD.encode(ct)
    }

    /// Encrypts and signs: what a push or a reply carries.
    pub fn seal(&self, msg: &str, timestamp: &str, nonce: &str) -> Sealed {
        let encrypt = self.encrypt(msg);
        let msg_signature = self.sign(timestamp, nonce, &encrypt);
        Sealed {
            encrypt,
            msg_signature,
        }
    }

    /// The encrypted reply envelope, in the official samples' layout.
    pub fn reply(&self, msg: &str, timestamp: &str, nonce: &str) -> Result<String, CryptoError> {
        let mut random = [0u8; RANDOM_LEN];
        rand::fill(&mut random);
        self.reply_with_random(msg, timestamp, nonce, &random)
    }

    /// [`MsgCrypt::reply`] with fixed random bytes, for deterministic tests.
    pub fn reply_with_random(
        &self,
        msg: &str,
        timestamp: &str,
        nonce: &str,
        random: &[u8; 16],
    ) -> Result<String, CryptoError> {
        // The timestamp is a bare element and the nonce sits in CDATA: refuse what would break them.
        let ts_ok = !timestamp.is_empty() && timestamp.bytes().all(|b| b.is_ascii_digit());
        let nonce_ok = !nonce.is_empty()
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ts_ok || !nonce_ok {
            return Err(CryptoError::GenReturnXml);
        }
        let encrypt = self.encrypt_with_random(msg, random);
        let sig = self.sign(timestamp, nonce, &encrypt);
        Ok(format!(
            "<xml>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n<MsgSignature><![CDATA[{sig}]]></MsgSignature>\n<TimeStamp>{timestamp}</TimeStamp>\n<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APPID: &str = "wx134c8103faa5a59e";

    fn crypt() -> MsgCrypt {
        MsgCrypt::new("token", KEY, APPID).unwrap()
    }

    /// Encrypts raw bytes as WeChat would, but lets a test pick every byte of the frame.
    fn encrypt_raw(c: &MsgCrypt, plain: &[u8]) -> String {
        let mut buf = plain.to_vec();
        let key = c.key.expose_secret();
        let len = buf.len();
        let ct = Aes256CbcEnc::new(key.into(), iv_of(key))
            .encrypt_padded::<NoPadding>(&mut buf, len)
            .unwrap()
            .to_vec();
        STANDARD.encode(ct)
    }

    fn frame(msg: &[u8], len_field: u32, appid: &[u8], pad: u8, pad_len: usize) -> Vec<u8> {
        let mut v = vec![7u8; 16];
        v.extend_from_slice(&len_field.to_be_bytes());
        v.extend_from_slice(msg);
        v.extend_from_slice(appid);
        v.extend(std::iter::repeat_n(pad, pad_len));
        v
    }

    #[test]
    fn every_error_has_its_official_code_and_name_in_display() {
        let codes: Vec<i32> = CryptoError::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(
            codes,
            [-40001, -40002, -40003, -40004, -40005, -40006, -40007, -40008, -40011]
        );
        for e in CryptoError::ALL {
            let s = e.to_string();
            assert!(s.starts_with(&e.code().to_string()), "{s}");
            assert!(s.contains(e.name()), "{s}");
        }
    }

    #[test]
    fn validate_signature_error_on_a_wrong_signature() {
        let c = crypt();
        let enc = c.encrypt("hi");
        let good = c.sign("1", "2", &enc);
        assert_eq!(c.verify(&good, "1", "2", &enc), Ok(()));
        assert_eq!(c.verify(&good.to_uppercase(), "1", "2", &enc), Ok(()));
        assert_eq!(
            c.verify(&good, "1", "3", &enc),
            Err(CryptoError::ValidateSignature)
        );
        assert_eq!(
            c.verify("", "1", "2", &enc),
            Err(CryptoError::ValidateSignature)
        );
        assert_eq!(
            c.verify(&good[..39], "1", "2", &enc),
            Err(CryptoError::ValidateSignature)
        );
        // Any one character differing, in any of the five compared words, fails.
        for i in 0..40 {
            let mut bad = good.clone().into_bytes();
            bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
            let bad = String::from_utf8(bad).unwrap();
            assert_eq!(
                c.verify(&bad, "1", "2", &enc),
                Err(CryptoError::ValidateSignature),
                "{i}"
            );
        }
        for bad in [
            format!("{good}0"),
            "g".repeat(40),
            format!("{}中", &good[..37]),
        ] {
            assert_eq!(
                c.verify(&bad, "1", "2", &enc),
                Err(CryptoError::ValidateSignature),
                "{bad}"
            );
        }
    }

    #[test]
    fn illegal_aes_key_for_wrong_length_or_characters() {
        for bad in [
            "",
            &KEY[..42],
            &format!("{KEY}A"),
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF/",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF\u{e9}",
        ] {
            assert_eq!(
                MsgCrypt::new("t", bad, APPID).unwrap_err(),
                CryptoError::IllegalAesKey,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_non_canonical_key_is_accepted_like_the_official_samples() {
        // "G" has non-zero trailing bits once "=" is appended; strict base64 refuses it.
        assert!(STANDARD.decode(format!("{KEY}=")).is_err());
        assert!(decode_aes_key(KEY).is_ok());
        assert_eq!(
            decode_aes_key(&"A".repeat(43)).unwrap(),
            [0u8; 32],
            "43 x 'A' is the canonical all-zero key"
        );
    }

    #[test]
    fn validate_appid_error_when_the_trailer_is_another_appid() {
        let other = MsgCrypt::new("token", KEY, "wx0000000000000000").unwrap();
        let enc = other.encrypt("<xml/>");
        assert_eq!(crypt().decrypt(&enc), Err(CryptoError::ValidateAppid));
    }

    #[test]
    fn decrypt_aes_error_for_bad_base64_or_partial_blocks() {
        let c = crypt();
        assert_eq!(c.decrypt("not base64!!"), Err(CryptoError::DecryptAes));
        assert_eq!(c.decrypt(""), Err(CryptoError::DecryptAes));
        assert_eq!(
            c.decrypt(&STANDARD.encode([0u8; 17])),
            Err(CryptoError::DecryptAes)
        );
        // Two whole blocks, but the last character before "=" sets the two unused trailing bits:
        // not the canonical encoding WeChat sends, so refused like any other bad base64.
        let canonical = STANDARD.encode([0u8; 32]);
        assert!(canonical.ends_with("A="));
        let non_canonical = format!("{}B=", &canonical[..canonical.len() - 2]);
        assert_eq!(c.decrypt(&non_canonical), Err(CryptoError::DecryptAes));
        // Whitespace inside the value is not base64 either; around it, it is trimmed.
        let sealed = c.encrypt("<xml/>");
        let (head, tail) = sealed.split_at(8);
        assert_eq!(
            c.decrypt(&format!("{head}\n{tail}")),
            Err(CryptoError::DecryptAes)
        );
        assert_eq!(c.decrypt(&format!(" {sealed}\n")).as_deref(), Ok("<xml/>"));
    }

    #[test]
    fn illegal_buffer_for_bad_padding_length_or_utf8() {
        let c = crypt();
        let a = APPID.as_bytes();
        // body 16+4+2+18 = 40 bytes -> pad 24 to reach 64
        let ok = frame(b"hi", 2, a, 24, 24);
        assert_eq!(c.decrypt(&encrypt_raw(&c, &ok)).as_deref(), Ok("hi"));
        let cases: Vec<Vec<u8>> = vec![
            frame(b"hi", 2, a, 0, 24),  // pad value 0
            frame(b"hi", 2, a, 33, 24), // pad value > 32
            {
                let mut v = frame(b"hi", 2, a, 24, 24);
                let n = v.len();
                v[n - 2] = 23; // inconsistent pad bytes
                v
            },
            frame(b"hi", 4096, a, 24, 24), // length field beyond the buffer
            frame(&[0xff, 0xfe], 2, a, 24, 24), // not UTF-8
            {
                // too short to hold random + length
                let mut v = vec![0u8; 16];
                v.extend(std::iter::repeat_n(16u8, 16));
                v
            },
        ];
        for (i, p) in cases.iter().enumerate() {
            assert_eq!(
                c.decrypt(&encrypt_raw(&c, p)),
                Err(CryptoError::IllegalBuffer),
                "case {i}"
            );
        }
    }

    #[test]
    fn gen_return_xml_error_for_a_timestamp_or_nonce_that_would_break_the_envelope() {
        let c = crypt();
        assert!(c.reply("x", "1713424427", "415670741").is_ok());
        assert_eq!(
            c.reply("x", "17134a", "1").unwrap_err(),
            CryptoError::GenReturnXml
        );
        assert_eq!(
            c.reply("x", "1", "]]><x>").unwrap_err(),
            CryptoError::GenReturnXml
        );
        assert_eq!(
            c.reply("x", "", "1").unwrap_err(),
            CryptoError::GenReturnXml
        );
    }

    #[test]
    fn debug_never_prints_the_token_or_key() {
        let c = MsgCrypt::new("sup3r-secret-token", KEY, APPID).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("sup3r-secret-token"));
        assert!(!d.contains(KEY));
        assert!(d.contains(APPID));
    }
}
