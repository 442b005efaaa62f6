//! `wxopen`: the operator CLI.
//!
//! `wxopen crypto decrypt|encrypt|sign` lets an operator debug a push captured from the logs
//! (body on stdin, URL parameters as flags) with the very code the Lambdas run.

use clap::{Args, Parser, Subcommand};
use std::io::{Read, Write};
use std::process::ExitCode;
use wxopen::crypto::{sign, MsgCrypt};
use wxopen::events::{open_push, PushQuery};

#[derive(Parser)]
#[command(name = "wxopen", version, about = "wxopen operator CLI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// WXBizMsgCrypt: decrypt, encrypt and sign pushes.
    #[command(subcommand)]
    Crypto(CryptoCommand),
}

#[derive(Args)]
struct Keys {
    /// The platform's message token (消息校验Token).
    #[arg(long, env = "WXOPEN_TOKEN", hide_env_values = true)]
    token: String,
    /// The 43-character EncodingAESKey (消息加解密Key).
    #[arg(
        long = "aes-key",
        env = "WXOPEN_ENCODING_AES_KEY",
        hide_env_values = true
    )]
    aes_key: String,
    /// The component appid (the trailer of every message).
    #[arg(long)]
    appid: String,
}

impl Keys {
    fn crypt(&self) -> Result<MsgCrypt, String> {
        MsgCrypt::new(&self.token, &self.aes_key, &self.appid).map_err(|e| e.to_string())
    }
}

#[derive(Subcommand)]
enum CryptoCommand {
    /// Reads a push body (envelope XML) on stdin, verifies msg_signature and prints the decrypted XML.
    Decrypt {
        #[command(flatten)]
        keys: Keys,
        #[arg(long)]
        timestamp: String,
        #[arg(long)]
        nonce: String,
        #[arg(long = "msg-signature")]
        msg_signature: String,
    },
    /// Reads a message on stdin and prints the encrypted envelope (Encrypt, MsgSignature, TimeStamp, Nonce).
    Encrypt {
        #[command(flatten)]
        keys: Keys,
        #[arg(long)]
        timestamp: String,
        #[arg(long)]
        nonce: String,
        /// The 16 "random" bytes as 32 hex digits, for reproducible output; random when left out.
        #[arg(long)]
        random: Option<String>,
    },
    /// Prints msg_signature = sha1(sort(token, timestamp, nonce, encrypt)).
    Sign {
        #[arg(long, env = "WXOPEN_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long)]
        timestamp: String,
        #[arg(long)]
        nonce: String,
        #[arg(long)]
        encrypt: String,
    },
}

fn read_stdin() -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .take(16 * 1024 * 1024)
        .read_to_end(&mut buf)
        .map_err(|e| format!("reading stdin: {e}"))?;
    Ok(buf)
}

fn run(cli: Cli) -> Result<Vec<u8>, String> {
    match cli.command {
        Command::Crypto(CryptoCommand::Decrypt {
            keys,
            timestamp,
            nonce,
            msg_signature,
        }) => {
            let crypt = keys.crypt()?;
            let body = read_stdin()?;
            let q = PushQuery {
                msg_signature,
                timestamp,
                nonce,
            };
            open_push(&crypt, &body, &q)
                .map(String::into_bytes)
                .map_err(|e| e.to_string())
        }
        Command::Crypto(CryptoCommand::Encrypt {
            keys,
            timestamp,
            nonce,
            random,
        }) => {
            let crypt = keys.crypt()?;
            let msg = String::from_utf8(read_stdin()?)
                .map_err(|_| "the message on stdin is not UTF-8".to_owned())?;
            let out = match random {
                Some(hex_random) => {
                    let bytes: [u8; 16] = hex::decode(hex_random.trim())
                        .ok()
                        .and_then(|v| v.try_into().ok())
                        .ok_or("--random must be 16 bytes as 32 hex digits")?;
                    crypt.reply_with_random(&msg, &timestamp, &nonce, &bytes)
                }
                None => crypt.reply(&msg, &timestamp, &nonce),
            };
            out.map(|mut s| {
                s.push('\n');
                s.into_bytes()
            })
            .map_err(|e| e.to_string())
        }
        Command::Crypto(CryptoCommand::Sign {
            token,
            timestamp,
            nonce,
            encrypt,
        }) => Ok(format!("{}\n", sign(&token, &timestamp, &nonce, &encrypt)).into_bytes()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
