//! `wxopen-local`'s configuration, the binary as a script starts it: `WXOPEN_*` variables,
//! secrets generated once and kept in the data directory, given values overriding them, free
//! ports printed, another WeChat endpoint instead of the simulator, DynamoDB instead of the
//! embedded store (on moto, when `WXOPEN_TEST_AWS_ENDPOINT` is set).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Every variable the binary reads, cleared so the caller's environment cannot leak in.
const VARS: &[&str] = &[
    "WXOPEN_COMPONENT_APPID",
    "WXOPEN_COMPONENT_APPSECRET",
    "WXOPEN_TOKEN",
    "WXOPEN_ENCODING_AES_KEY",
    "WXOPEN_OPERATOR_KEY",
    "WXOPEN_DATA_DIR",
    "WXOPEN_PORT",
    "WXOPEN_SIM_PORT",
    "WXOPEN_WECHAT_BASE_URL",
    "WXOPEN_DYNAMODB_ENDPOINT",
    "WXOPEN_TABLE",
    "WXOPEN_REFRESH_INTERVAL_SECS",
];

/// A running `wxopen-local`, killed when dropped, and the banner it printed.
struct Running {
    child: Child,
    banner: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The value after `label:` on its banner line (up to two spaces, where a note begins).
    fn value(&self, label: &str) -> String {
        let prefix = format!("  {label}:");
        let line = self
            .banner
            .iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {label} in the banner: {:#?}", self.banner));
        let rest = line[prefix.len()..].trim_start();
        rest.split("  ").next().unwrap().trim().to_owned()
    }

    fn line(&self, label: &str) -> String {
        let prefix = format!("  {label}:");
        self.banner
            .iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {label} in the banner: {:#?}", self.banner))
            .clone()
    }

    fn stop(self) {}
}

/// Starts the binary with the data directory `dir`, free ports and `env`; waits for its banner.
fn start(dir: &Path, env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxopen-local"));
    for v in VARS {
        cmd.env_remove(v);
    }
    cmd.env("WXOPEN_DATA_DIR", dir)
        .env("WXOPEN_PORT", "0")
        .env("WXOPEN_SIM_PORT", "0")
        .env("WXOPEN_REFRESH_INTERVAL_SECS", "0")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("wxopen-local starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let end = line.starts_with("Ctrl-C to stop.");
            banner.push(line);
            if end {
                let _ = tx.send(Ok(std::mem::take(&mut banner)));
                // Keep draining, so the child never blocks on a full pipe.
                continue;
            }
        }
        let _ = tx.send(Err(banner));
    });
    let banner = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(b)) => b,
        Ok(Err(partial)) => {
            let status = child.wait();
            panic!("wxopen-local exited ({status:?}) before its banner: {partial:#?}")
        }
        Err(_) => {
            let _ = child.kill();
            panic!("wxopen-local printed no banner within 120 s")
        }
    };
    Running { child, banner }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// `GET /ops/authorizers` with `key`: its status.
fn authorizers_status(api: &str, key: &str) -> u16 {
    block_on(async {
        wxopen::https::reqwest_client()
            .expect("reqwest client")
            .get(format!("{api}/ops/authorizers"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn secrets_are_generated_once_kept_in_the_data_dir_and_the_same_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), &[]);
    let appid = first.value("component appid");
    let token = first.value("token");
    let aes = first.value("EncodingAESKey");
    let key = first.value("operator key");
    assert!(first.line("component appid").contains("generated now"));
    assert!(
        appid.len() == 18
            && appid.starts_with("wx")
            && appid[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{appid}"
    );
    assert_eq!(aes.len(), 43);
    assert!(aes.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!((3..=32).contains(&token.len()));
    assert!(key.len() >= 32, "a long operator key");
    assert!(first
        .banner
        .iter()
        .any(|l| l.contains("local development only")));
    // The appsecret is kept, never printed.
    let file = dir.path().join("local-secrets.json");
    let kept: HashMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let secret = &kept["component_appsecret"];
    assert_eq!(secret.len(), 32);
    assert!(!first.banner.join("\n").contains(secret.as_str()));
    assert_eq!(kept["component_appid"], appid);
    assert_eq!(kept["operator_key"], key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "local-secrets.json is mode 0600");
    }
    // The generated key opens the operator API; a wrong one does not.
    let api = first.value("our API (as API Gateway)");
    assert_eq!(authorizers_status(&api, &key), 200);
    assert_eq!(authorizers_status(&api, "not-the-key"), 401);
    first.stop();

    let second = start(dir.path(), &[]);
    assert_eq!(second.value("component appid"), appid);
    assert_eq!(second.value("token"), token);
    assert_eq!(second.value("EncodingAESKey"), aes);
    assert_eq!(second.value("operator key"), key);
    assert!(second
        .line("component appid")
        .contains("kept in local-secrets.json"));
    assert!(!second.line("component appid").contains("generated now"));
    // The embedded store survived: the first start's ticket is there, and the key still works.
    let api = second.value("our API (as API Gateway)");
    assert_eq!(authorizers_status(&api, &key), 200);
    let kept_again: HashMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(kept_again, kept, "the file is written once");
}

#[test]
fn given_values_override_the_kept_ones_and_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let generated = start(dir.path(), &[]);
    let generated_key = generated.value("operator key");
    generated.stop();
    let before = std::fs::read_to_string(dir.path().join("local-secrets.json")).unwrap();

    let appid = "wx0123456789abcdef";
    let token = "givenToken123";
    let aes = "GivenEncodingAESKey0123456789abcdefghijklmn";
    assert_eq!(aes.len(), 43);
    let key = "given-operator-key-0123456789";
    let given = start(
        dir.path(),
        &[
            ("WXOPEN_COMPONENT_APPID", appid),
            ("WXOPEN_COMPONENT_APPSECRET", "givensecret0123456789"),
            ("WXOPEN_TOKEN", token),
            ("WXOPEN_ENCODING_AES_KEY", aes),
            ("WXOPEN_OPERATOR_KEY", key),
        ],
    );
    assert_eq!(given.value("component appid"), appid);
    assert_eq!(given.value("token"), token);
    assert_eq!(given.value("EncodingAESKey"), aes);
    assert_eq!(given.value("operator key"), key);
    assert!(given
        .line("component appid")
        .contains("from WXOPEN_COMPONENT_APPID"));
    assert!(!given.banner.join("\n").contains("givensecret0123456789"));
    // The simulator was wired with the given values: its first ticket was pushed, verified with
    // the given Token and EncodingAESKey, and stored.
    assert!(
        given
            .line("component_verify_ticket")
            .contains("received and stored"),
        "{:#?}",
        given.banner
    );
    let api = given.value("our API (as API Gateway)");
    assert_eq!(authorizers_status(&api, key), 200);
    assert_eq!(authorizers_status(&api, &generated_key), 401);
    given.stop();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("local-secrets.json")).unwrap(),
        before,
        "given values are not written to the file"
    );

    // A flag does the same as its variable; an invalid value is refused naming the field only.
    let out = Command::new(env!("CARGO_BIN_EXE_wxopen-local"))
        .env_clear()
        .env("WXOPEN_DATA_DIR", dir.path())
        .env("WXOPEN_PORT", "0")
        .env("WXOPEN_SIM_PORT", "0")
        .args(["--encoding-aes-key", "tooShortSecretValue"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("encoding_aes_key"), "{err}");
    assert!(!err.contains("tooShortSecretValue"), "{err}");
}

#[test]
fn port_zero_prints_reachable_ports() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), &[]);
    let api = running.value("our API (as API Gateway)");
    let sim = running.value("WeChat simulator");
    for url in [&api, &sim] {
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        assert!(url.starts_with("http://127.0.0.1:") && port != 0, "{url}");
    }
    assert_ne!(api, sim);
    // Both answer: our listener and the simulator's control API.
    let key = running.value("operator key");
    assert_eq!(authorizers_status(&api, &key), 200);
    let counters = block_on(async {
        reqwest::get(format!("{sim}/_sim/counters"))
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(counters, 200);
    let console = running.value("operator console");
    assert_eq!(console, format!("{api}/console"));
    let page = block_on(async { reqwest::get(&console).await.unwrap().status().as_u16() });
    assert_eq!(page, 200);
    // The invitation link is ready: its page asks the simulator for pre_auth_codes.
    let link = running.value("a ready invitation link");
    assert!(
        link.starts_with(&format!("{api}/auth/start?invite=")),
        "{link}"
    );
    let page = block_on(async { reqwest::get(&link).await.unwrap().status().as_u16() });
    assert_eq!(page, 200);
}

#[test]
fn another_wechat_endpoint_replaces_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    block_on(async {
        // The port wxopen-local will listen on, so a simulator started first can push to it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = wechat_sim::SimConfig {
            auth_event_url: Some(format!("http://127.0.0.1:{port}/wechat/component")),
            message_url: Some(format!("http://127.0.0.1:{port}/wechat/apps/$APPID$")),
            ..wechat_sim::SimConfig::default()
        };
        let (appid, secret, token, aes) = (
            config.component_appid.clone(),
            config.component_appsecret.clone(),
            config.token.clone(),
            config.encoding_aes_key.clone(),
        );
        let other = wechat_sim::Simulator::start(config).await.unwrap();
        let port_s = port.to_string();
        let running = start(
            dir.path(),
            &[
                ("WXOPEN_PORT", port_s.as_str()),
                ("WXOPEN_WECHAT_BASE_URL", other.base_url().as_str()),
                ("WXOPEN_COMPONENT_APPID", appid.as_str()),
                ("WXOPEN_COMPONENT_APPSECRET", secret.as_str()),
                ("WXOPEN_TOKEN", token.as_str()),
                ("WXOPEN_ENCODING_AES_KEY", aes.as_str()),
            ],
        );
        let sim_line = running.line("WeChat simulator");
        assert!(sim_line.contains("not started"), "{sim_line}");
        assert!(sim_line.contains(&other.base_url()), "{sim_line}");
        assert!(running
            .line("component_verify_ticket")
            .contains("not received yet"));
        assert!(!running
            .banner
            .iter()
            .any(|l| l.contains("simulator control API")));
        // That WeChat pushes a ticket to our push URL; the invitation page then asks it (not a
        // simulator of ours) for the component token and pre_auth_codes.
        other.push_ticket().await.unwrap();
        assert!(other
            .pushes()
            .iter()
            .any(|p| p.delivered && p.kind == "component_verify_ticket"));
        assert_eq!(other.calls("/cgi-bin/component/api_component_token"), 0);
        let link = running.value("a ready invitation link");
        let resp = reqwest::get(&link).await.unwrap();
        assert_eq!(resp.status(), 200);
        let page = resp.text().await.unwrap();
        assert_eq!(other.calls("/cgi-bin/component/api_component_token"), 1);
        assert!(other.calls("/cgi-bin/component/api_create_preauthcode") >= 1);
        // The consent links lead to that WeChat's pages too.
        assert!(page.contains(&other.base_url()), "{page}");
        drop(running);
    });
}

/// The moto endpoint, or `None` (skipped, said on stderr) outside CI.
fn aws_endpoint() -> Option<String> {
    match std::env::var("WXOPEN_TEST_AWS_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => Some(e.trim().to_owned()),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "WXOPEN_TEST_AWS_ENDPOINT is not set in CI: start moto_server and point it there"
            )
        }
        _ => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED AWS test (WXOPEN_TEST_AWS_ENDPOINT unset; ./infra/test-all.sh starts moto_server): the_dynamodb_endpoint_replaces_the_embedded_store"
            );
            None
        }
    }
}

#[test]
fn the_dynamodb_endpoint_replaces_the_embedded_store() {
    let Some(endpoint) = aws_endpoint() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = format!(
        "wxopen-local-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let running = start(
        dir.path(),
        &[
            ("WXOPEN_DYNAMODB_ENDPOINT", endpoint.as_str()),
            ("WXOPEN_TABLE", table.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let store_line = running.line("store");
    assert!(
        store_line.contains("DynamoDB") && store_line.contains(&table),
        "{store_line}"
    );
    assert!(
        !dir.path().join("wxopen.redb").exists(),
        "no embedded store opened"
    );
    assert!(running
        .line("component_verify_ticket")
        .contains("received and stored"));
    let appid = running.value("component appid");
    let api = running.value("our API (as API Gateway)");
    let key = running.value("operator key");
    assert_eq!(authorizers_status(&api, &key), 200);
    // The ticket the simulator pushed is in the table.
    block_on(async {
        let store = wxopen_local::dynamo_store(&endpoint, &table).await.unwrap();
        let appid = wxopen::domain::AppId::parse(&appid).unwrap();
        let ticket = wxopen::store::TicketStore::latest_ticket(&store, &appid)
            .await
            .unwrap();
        assert!(ticket.is_some(), "the ticket was stored in DynamoDB");
    });
}

/// Runs `wxopen-local demo` with `env` (every variable the binary reads cleared first); whether
/// it exited 0, and what it printed.
fn demo(env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxopen-local"));
    for v in VARS {
        cmd.env_remove(v);
    }
    let out = cmd
        .arg("demo")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn random(alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
        .collect()
}

#[test]
fn the_demo_passes_with_every_documented_variable_set_and_says_which_it_does_not_use() {
    let dir = tempfile::tempdir().unwrap();
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let appid = format!("wx{}", random(b"0123456789abcdef", 16));
    let (appsecret, token, aes, key) = (
        random(ALNUM, 32),
        random(ALNUM, 32),
        random(ALNUM, 43),
        random(ALNUM, 40),
    );
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let env = [
        ("WXOPEN_COMPONENT_APPID", appid.as_str()),
        ("WXOPEN_COMPONENT_APPSECRET", appsecret.as_str()),
        ("WXOPEN_TOKEN", token.as_str()),
        ("WXOPEN_ENCODING_AES_KEY", aes.as_str()),
        ("WXOPEN_OPERATOR_KEY", key.as_str()),
        ("WXOPEN_DATA_DIR", data_dir.as_str()),
        ("WXOPEN_PORT", "1"),
        ("WXOPEN_SIM_PORT", "1"),
        ("WXOPEN_WECHAT_BASE_URL", "http://127.0.0.1:1"),
        ("WXOPEN_DYNAMODB_ENDPOINT", "http://127.0.0.1:1"),
        ("WXOPEN_TABLE", "not-used"),
        ("WXOPEN_REFRESH_INTERVAL_SECS", "1"),
    ];
    assert_eq!(env.len(), VARS.len(), "every documented variable");
    let (ok, out) = demo(&env);
    assert!(ok, "the demo failed:\n{out}");
    assert!(out.contains("all 10 steps checked"), "{out}");
    assert!(
        out.contains("component appid from WXOPEN_COMPONENT_APPID"),
        "{out}"
    );
    assert!(
        out.contains("operator key from WXOPEN_OPERATOR_KEY"),
        "{out}"
    );
    for var in [
        "WXOPEN_PORT",
        "WXOPEN_SIM_PORT",
        "WXOPEN_WECHAT_BASE_URL",
        "WXOPEN_DYNAMODB_ENDPOINT",
        "WXOPEN_TABLE",
        "WXOPEN_REFRESH_INTERVAL_SECS",
    ] {
        assert!(
            out.contains(&format!("not used by the demo: {var} (")),
            "{var}: {out}"
        );
    }
    for secret in [&appsecret, &token, &aes, &key] {
        assert!(!out.contains(secret.as_str()), "the demo printed a secret");
    }
    assert!(
        !dir.path().join("local-secrets.json").exists(),
        "given values are never written"
    );
}

#[test]
fn the_demo_uses_the_kept_secrets_and_the_operator_key_exported_for_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    // Nothing given: the values are generated and kept, as the plain run keeps them.
    let (ok, out) = demo(&[("WXOPEN_DATA_DIR", data_dir.as_str())]);
    assert!(ok, "the demo failed:\n{out}");
    let kept: HashMap<String, String> = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("local-secrets.json")).unwrap(),
    )
    .unwrap();
    // The key the banner printed, exported for the CLI: the demo still passes, on the kept
    // platform.
    let (ok, out) = demo(&[
        ("WXOPEN_DATA_DIR", data_dir.as_str()),
        ("WXOPEN_OPERATOR_KEY", kept["operator_key"].as_str()),
    ]);
    assert!(ok, "the demo failed with the kept key exported:\n{out}");
    assert!(
        out.contains("operator key from WXOPEN_OPERATOR_KEY"),
        "{out}"
    );
    assert!(out.contains("token kept in local-secrets.json"), "{out}");
    // Another key than the kept platform's is the operator's to choose: the demo's handlers
    // hold its digest, so it passes too (as the plain run would accept it).
    let (ok, out) = demo(&[
        ("WXOPEN_DATA_DIR", data_dir.as_str()),
        ("WXOPEN_OPERATOR_KEY", "an-exported-key-0123456789"),
    ]);
    assert!(ok, "the demo failed with another exported key:\n{out}");
}
