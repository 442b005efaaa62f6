//! `wxopen`: the operator CLI.
//!
//! Over the operator API (`WXOPEN_API_URL`, `WXOPEN_OPERATOR_KEY`): `authorizers list`,
//! `invite`, `app show`, `filing show`, `commit`, `submit`, `release`, `wxacode`, and `batch` with a live progress bar
//! until the batch is done, then each app's outcome; tables for a terminal, `--json` for scripts.
//!
//! `wxopen register enterprise|personal|beta|reuse|list|show|verify`: mini programs registered
//! for merchants who have none, bound to the customer.
//!
//! `wxopen quota clear|get`, `wxopen rid RID` and `wxopen violations APPID`: the daily API
//! quota tools and an app's penalties.
//!
//! `wxopen crypto decrypt|encrypt|sign` lets an operator debug a push captured from the logs
//! (body on stdin, URL parameters as flags) with the very code the Lambdas run.
//!
//! `wxopen notify rules|test|failed|retry`: the notification channels and routes, a test send,
//! the notifications a channel refused for 24 hours and a retry of one.
//!
//! `wxopen keys new` makes an operator key: printed once, with the entry (its SHA-256, label,
//! role and customers) to add to the platform secret's `operator_keys`.
//!
//! Exit codes: 0 done; 1 refused or not sent (fix the request, the key or the state: any 4xx
//! but 429, a bad argument, the API unreachable); 2 a batch finished with failed apps; 3 try
//! again later (429 quota, 503 with Retry-After); 4 WeChat failed (502); 5 the outcome is
//! unknown (504: check the state before trying again).

mod notify;
mod ops;
mod table;

use clap::{Args, Parser, Subcommand};
use std::io::{Read, Write};
use std::process::ExitCode;
use wxopen::crypto::{sign, MsgCrypt};
use wxopen::events::{open_push, PushQuery};

#[derive(Parser)]
#[command(
    name = "wxopen",
    version,
    about = "wxopen operator CLI",
    after_help = "Exit codes: 0 done; 1 refused or not sent (4xx but 429, bad argument, API unreachable); 2 a batch finished with failed apps; 3 try again later (429, 503); 4 WeChat failed (502); 5 outcome unknown (504: check the state before trying again)."
)]
struct Cli {
    #[command(flatten)]
    global: ops::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The authorized accounts.
    #[command(subcommand)]
    Authorizers(ops::AuthorizersCommand),
    /// Invite a merchant: prints the link to send them (bound to your customer).
    Invite {
        /// Your customer the authorization is bound to.
        #[arg(long)]
        customer: String,
        /// 1 official accounts, 2 mini programs (default), 3 both.
        #[arg(long)]
        auth_type: Option<u8>,
        /// Seconds the link stays valid (default 7 days, at most 30).
        #[arg(long)]
        expires_in: Option<i64>,
    },
    /// One mini program.
    #[command(subcommand)]
    App(ops::AppCommand),
    /// ICP filing (小程序备案).
    #[command(subcommand)]
    Filing(ops::FilingCommand),
    /// Register a mini program for a merchant who has none (快速注册), bound to your customer;
    /// follow it, make a trial formal.
    #[command(subcommand)]
    Register(ops::registration::RegisterCommand),
    /// Commit a template with ext.json to one app (it becomes the experience version).
    Commit {
        appid: String,
        #[command(flatten)]
        commit: ops::CommitArgs,
    },
    /// Submit one app's experience version for audit.
    Submit {
        appid: String,
        #[command(flatten)]
        submit: ops::SubmitArgs,
    },
    /// Release one app's approved version.
    Release { appid: String },
    /// One action over many apps: posted once (Idempotency-Key), then followed with a live
    /// progress bar until done, then each app's outcome. Exit 2 if any app failed.
    Batch {
        /// commit, submit_audit, release or add_subscribe_template.
        #[arg(long, value_enum)]
        operation: ops::Operation,
        /// The apps, comma-separated.
        #[arg(long)]
        appids: Option<String>,
        /// Every authorized app.
        #[arg(long)]
        all: bool,
        /// One customer's authorized apps.
        #[arg(long)]
        customer: Option<String>,
        /// submit_audit: when the monthly audit quota is short, submit the first apps it allows.
        #[arg(long)]
        up_to_quota: bool,
        /// Names this batch request: the same key again follows the same batch and acts on no
        /// app twice (default: a fresh one, printed).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Print the batch id and return without waiting.
        #[arg(long)]
        no_wait: bool,
        /// How often to ask for progress, in milliseconds.
        #[arg(long, default_value_t = 500)]
        poll_ms: u64,
        #[command(flatten, next_help_heading = "With --operation commit")]
        commit: ops::CommitArgs,
        #[command(flatten, next_help_heading = "With --operation submit_audit")]
        submit: ops::SubmitArgs,
        #[command(flatten, next_help_heading = "With --operation add_subscribe_template")]
        template: ops::TemplateArgs,
    },
    /// Make a mini program code for one app and save the image: by default the unlimited kind
    /// (--scene, --page); --kind limited or qrcode takes a --path and spends one of the app's
    /// 100,000 limited codes.
    Wxacode {
        appid: String,
        #[command(flatten)]
        code: ops::WxaCodeArgs,
    },
    /// The daily API quota (45009): clear an app's or the platform's, read one API's count.
    #[command(subcommand)]
    Quota(ops::QuotaCommand),
    /// What WeChat kept of a failed call, by the rid its errmsg printed.
    Rid {
        rid: String,
        /// The mini program whose call it was (default: the platform's).
        #[arg(long)]
        appid: Option<String>,
    },
    /// One app's penalties and appeals, and WeChat's penalty records.
    Violations { appid: String },
    /// Notifications to WeCom groups, webhooks and SNS: rules, a test send, failures, a retry.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// A mini program's profile: name, avatar, signature, search status, and what a first
    /// audit still needs.
    #[command(subcommand)]
    Profile(ops::profile::ProfileCommand),
    /// Categories: what WeChat offers, and one app's (add with qualification files, delete,
    /// modify).
    #[command(subcommand)]
    Categories(ops::profile::CategoriesCommand),
    /// WXBizMsgCrypt: decrypt, encrypt and sign pushes.
    #[command(subcommand)]
    Crypto(CryptoCommand),
    /// Operator keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Makes a new operator key: prints it once, and the JSON entry to add to the platform
    /// secret's `operator_keys` (only its SHA-256 is kept there).
    New {
        /// viewer (reads), operator (one app at a time), admin (also batches, revert, gray
        /// release, invitations, templates), service (token endpoints only).
        #[arg(long, value_parser = ["viewer", "operator", "admin", "service"])]
        role: String,
        /// Names the key in logs and in every activity it records (1 to 64 characters, no spaces).
        #[arg(long)]
        label: String,
        /// Limits the key to these customers' apps (comma-separated).
        #[arg(long, value_delimiter = ',')]
        customers: Option<Vec<String>>,
        /// Print {"key", "entry"} as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A fresh operator key and its secret entry, or why the arguments are refused.
fn new_key(
    role: &str,
    label: &str,
    customers: Option<Vec<String>>,
    json: bool,
) -> Result<Vec<u8>, String> {
    use wxopen::operator_auth::{OperatorKey, Role};
    let role = Role::parse(role).ok_or("--role must be viewer, operator, admin or service")?;
    if label.is_empty() || label.len() > 64 || !label.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("--label must be 1 to 64 printable characters without spaces".into());
    }
    let customers = customers
        .map(|c| {
            c.into_iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty());
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let key = format!("wxo_{}", hex::encode(bytes));
    let entry = OperatorKey::for_key(label, &key, role, customers).to_json();
    let out = if json {
        format!("{}\n", serde_json::json!({ "key": key, "entry": entry }))
    } else {
        format!(
            "key (shown once: give it to its holder, keep no copy):\n{key}\n\nadd this entry to the platform secret's \"operator_keys\" list:\n{entry}\n"
        )
    };
    Ok(out.into_bytes())
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

fn run(command: Command) -> Result<Vec<u8>, String> {
    match command {
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
        Command::Keys(KeysCommand::New {
            role,
            label,
            customers,
            json,
        }) => new_key(&role, &label, customers, json),
        _ => unreachable!("operator commands run in operate()"),
    }
}

/// An operator command over the API.
async fn operate(global: &ops::Global, command: Command) -> Result<ExitCode, ops::Failure> {
    let api = ops::Api::new(global)?;
    match command {
        Command::Authorizers(ops::AuthorizersCommand::List {
            status,
            customer,
            filing,
        }) => ops::authorizers_list(&api, status, customer, filing).await,
        Command::Filing(ops::FilingCommand::Show { appid, refresh }) => {
            ops::filing_show(&api, &appid, refresh).await
        }
        Command::Invite {
            customer,
            auth_type,
            expires_in,
        } => ops::invite(&api, customer, auth_type, expires_in).await,
        Command::App(ops::AppCommand::Show { appid }) => ops::app_show(&api, &appid).await,
        Command::Commit { appid, commit } => ops::commit(&api, &appid, &commit).await,
        Command::Submit { appid, submit } => ops::submit(&api, &appid, &submit).await,
        Command::Release { appid } => ops::release(&api, &appid).await,
        Command::Wxacode { appid, code } => ops::wxacode(&api, &appid, &code).await,
        Command::Batch {
            operation,
            appids,
            all,
            customer,
            template,
            commit,
            submit,
            up_to_quota,
            idempotency_key,
            no_wait,
            poll_ms,
        } => {
            ops::batch(
                &api,
                ops::BatchRequest {
                    operation,
                    appids,
                    all,
                    customer,
                    template,
                    commit,
                    submit,
                    up_to_quota,
                    idempotency_key,
                    no_wait,
                    poll: std::time::Duration::from_millis(poll_ms.max(50)),
                },
            )
            .await
        }
        Command::Filing(ops::FilingCommand::Application(c)) => {
            ops::filing_application::run(&api, c).await
        }
        Command::Register(c) => ops::registration::run(&api, c).await,
        Command::Quota(c) => ops::quota(&api, c).await,
        Command::Rid { rid, appid } => ops::rid(&api, &rid, appid.as_deref()).await,
        Command::Violations { appid } => ops::violations(&api, &appid).await,
        Command::Notify(c) => notify::run(&api, c).await,
        Command::Profile(c) => ops::profile::profile(&api, c).await,
        Command::Categories(c) => ops::profile::categories(&api, c).await,
        Command::Crypto(_) | Command::Keys(_) => unreachable!("local commands run in run()"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Crypto(_) | Command::Keys(_)) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: starting the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        return match runtime.block_on(operate(&cli.global, cli.command)) {
            Ok(code) => code,
            Err(f) => {
                ops::report(&f, cli.global.json);
                ops::exit_code(&f)
            }
        };
    }
    match run(cli.command) {
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
