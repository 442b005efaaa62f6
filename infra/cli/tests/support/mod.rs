//! How the CLI's tests run the `wxopen` binary: as an operator runs it, its settings in the
//! environment. (The system it talks to: `wxopen_local::testing`.)

use std::process::{Command, Output};

/// Runs `wxopen args...` off the async runtime with `WXOPEN_API_URL` set to `url` and
/// `WXOPEN_OPERATOR_KEY` to `key`, each removed when `None` whatever this process's environment
/// holds (the progress bar has no terminal here, so it stays hidden).
pub async fn wxopen(url: Option<&str>, key: Option<&str>, args: &[&str]) -> Output {
    let url = url.map(str::to_owned);
    let key = key.map(str::to_owned);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxopen"));
        cmd.env_remove("WXOPEN_API_URL")
            .env_remove("WXOPEN_OPERATOR_KEY")
            .args(&args);
        if let Some(u) = url {
            cmd.env("WXOPEN_API_URL", u);
        }
        if let Some(k) = key {
            cmd.env("WXOPEN_OPERATOR_KEY", k);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

/// One run of `wxopen` as an operator with the full key runs it against `app`.
#[allow(dead_code)] // each test binary compiles this module; not every one runs as an operator
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

#[allow(dead_code)]
impl Run {
    /// Its standard output, once it exited 0 (else the test fails showing both outputs).
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }
}

/// Runs `wxopen args...` against `app` with the operator key.
#[allow(dead_code)]
pub async fn wxopen_as_operator(app: &wxopen_local::testing::App, args: &[&str]) -> Run {
    let key = wxopen_local::testing::OPERATOR_KEY;
    let out = wxopen(Some(&app.local.base_url), Some(key), args).await;
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}
