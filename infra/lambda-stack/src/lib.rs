//! The deployed shape, run here: every function of `template.yaml` as AWS runs it.
//!
//! Each function's own binary (the debug build) runs as a process with exactly the environment
//! the template gives it (its intrinsic functions resolved against the local stand-ins), plus
//! what Lambda itself sets (`AWS_LAMBDA_RUNTIME_API`, the function's name, memory and log
//! stream, region and role credentials) and two redirections a simulator stack needs
//! (`AWS_ENDPOINT_URL` at moto's server, `WXOPEN_WECHAT_BASE_URL` at the WeChat simulator).
//! It polls its own Lambda Runtime API ([`runtime_api`]). One HTTP port, the [`front`], serves
//! the template's HTTP API routes as API Gateway does (payload format 2.0 events, 404 for
//! undeclared routes); the template's schedules send their events to the scheduled functions
//! ([`schedule`]); the table and the secret live on moto's server, created from the template's
//! own definitions ([`aws`]); the WeChat simulator pushes to the front.
//!
//! Why not cargo-lambda: `cargo lambda watch` runs a Runtime API too, but it turns HTTP
//! requests into Lambda function URL events (`routeKey` `$default`, no `pathParameters`), its
//! router maps paths to functions from its own configuration rather than the template's
//! `HttpApi` events (so no 404 for an undeclared route, and no check that the template's routes
//! are the ones served), it sets each function's environment from its own flags and files
//! rather than the template's `Environment`, it sends no scheduled events, and it builds and
//! runs the functions through `cargo run` itself. What it would have added beyond this crate's
//! Runtime API is the part that does not fit; installing it is a long build on the shared
//! machine.

pub mod aws;
pub mod front;
pub mod runtime_api;
pub mod schedule;
pub mod template;

use anyhow::{bail, Context};
use runtime_api::{Outcome, RuntimeApi};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use template::Template;

/// The region every local resource lives in.
pub const REGION: &str = "us-east-1";
/// The account the local ARNs name (moto's default).
pub const ACCOUNT_ID: &str = "123456789012";

/// The platform secret's values (the documented JSON is built from them) and the plain operator
/// key whose SHA-256 it holds.
#[derive(Clone)]
pub struct PlatformValues {
    pub component_appid: String,
    pub component_appsecret: SecretString,
    pub token: SecretString,
    pub encoding_aes_key: SecretString,
    pub operator_key: SecretString,
}

impl PlatformValues {
    /// Fresh random values in WeChat's forms.
    pub fn generate() -> PlatformValues {
        const HEX: &[u8] = b"0123456789abcdef";
        const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let pick = |alphabet: &[u8], n: usize| -> String {
            (0..n)
                .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
                .collect()
        };
        PlatformValues {
            component_appid: format!("wx{}", pick(HEX, 16)),
            component_appsecret: pick(HEX, 32).into(),
            token: pick(ALNUM, 32).into(),
            encoding_aes_key: pick(ALNUM, 43).into(),
            operator_key: pick(ALNUM, 40).into(),
        }
    }

    /// The secret's JSON, in the shape template.yaml and the README document.
    pub fn secret_json(&self) -> String {
        json!({
            "component_appid": self.component_appid,
            "component_appsecret": self.component_appsecret.expose_secret(),
            "token": self.token.expose_secret(),
            "encoding_aes_key": self.encoding_aes_key.expose_secret(),
            "operator_key_sha256": [hex::encode(Sha256::digest(self.operator_key.expose_secret().as_bytes()))],
        })
        .to_string()
    }
}

/// When the scheduled functions get their events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedules {
    /// At the template's rates.
    TemplateRates,
    /// Every schedule at this period instead.
    Every(Duration),
    /// Only when fired ([`Stack::fire`], or `POST /schedules/{function}/run` on the control port).
    OnRequest,
}

/// How the stack is started.
pub struct StackConfig {
    pub template: PathBuf,
    /// Where the functions' binaries are (`target/debug`).
    pub bin_dir: PathBuf,
    /// moto's server (DynamoDB and Secrets Manager on one port).
    pub aws_endpoint: String,
    pub listen: SocketAddr,
    pub control_listen: SocketAddr,
    pub sim_listen: SocketAddr,
    pub stack_name: String,
    /// The table's and the secret's names, unique per stack.
    pub table_name: String,
    pub secret_name: String,
    pub platform: PlatformValues,
    /// Template parameter overrides (`PublicUrl` defaults to the front's URL).
    pub parameters: BTreeMap<String, String>,
    pub schedules: Schedules,
    /// Also print the functions' lines on stdout (they are always kept: [`Stack::logs`]).
    pub echo_logs: bool,
    pub seed_mini_programs: usize,
}

impl StackConfig {
    /// A stack on free ports, named uniquely, with fresh platform values; schedules on request.
    pub fn for_test(repo: &Path, aws_endpoint: &str) -> StackConfig {
        let unique = format!(
            "{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 4]>())
        );
        let any = "127.0.0.1:0".parse().expect("an address");
        StackConfig {
            template: repo.join("template.yaml"),
            bin_dir: default_bin_dir(repo),
            aws_endpoint: aws_endpoint.to_owned(),
            listen: any,
            control_listen: any,
            sim_listen: any,
            stack_name: format!("wxopen-{unique}"),
            table_name: format!("wxopen-lambda-{unique}"),
            secret_name: format!("wxopen-lambda-{unique}"),
            platform: PlatformValues::generate(),
            parameters: BTreeMap::new(),
            schedules: Schedules::OnRequest,
            echo_logs: false,
            seed_mini_programs: 0,
        }
    }
}

/// `$CARGO_TARGET_DIR/debug`, else `<repo>/target/debug`.
pub fn default_bin_dir(repo: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .map(|d| if d.is_relative() { repo.join(d) } else { d })
        .unwrap_or_else(|| repo.join("target"))
        .join("debug")
}

/// Everything the functions wrote on stdout and stderr, each line prefixed with its function.
#[derive(Clone, Default)]
pub struct Logs {
    text: Arc<Mutex<String>>,
    echo: bool,
}

impl Logs {
    fn push(&self, source: &str, line: &str) {
        let line = format!("[{source}] {line}\n");
        if self.echo {
            print!("{line}");
        }
        self.text.lock().expect("logs").push_str(&line);
    }

    /// All lines so far.
    pub fn text(&self) -> String {
        self.text.lock().expect("logs").clone()
    }
}

/// A scheduled event source, resolved.
#[derive(Debug, Clone)]
pub struct ScheduleTarget {
    pub name: String,
    pub expression: String,
    pub period: Option<Duration>,
    pub event: Value,
}

/// One function, running.
pub struct RunningFunction {
    pub logical_id: String,
    pub binary: String,
    pub api: RuntimeApi,
    pub timeout: Duration,
    /// The environment its process got (template, Lambda's own, the two redirections).
    pub environment: BTreeMap<String, String>,
    pub routes: Vec<template::Route>,
    pub schedules: Vec<ScheduleTarget>,
}

/// The running stack. Dropping it stops every process.
pub struct Stack {
    pub base_url: String,
    pub control_url: String,
    pub sim: wechat_sim::Simulator,
    pub functions: Arc<Vec<RunningFunction>>,
    pub logs: Logs,
    /// From the first process spawned to the last function polling for its first event.
    pub started_in: Duration,
    pub table_name: String,
    pub secret_arn: String,
    /// The values the platform secret holds.
    pub platform: PlatformValues,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Stack {
    /// The function whose binary or logical id is `name`.
    pub fn function(&self, name: &str) -> Option<&RunningFunction> {
        find(&self.functions, name)
    }

    /// Sends `name`'s scheduled event now, as its schedule would; answers its result.
    pub async fn fire(&self, name: &str) -> anyhow::Result<Value> {
        let f = self
            .function(name)
            .with_context(|| format!("no function {name}"))?;
        fire(f, &self.logs).await
    }

    /// Events handed to each function so far, by binary.
    pub fn invocations(&self) -> BTreeMap<String, u64> {
        invocations(&self.functions)
    }

    /// Runs until the processes are stopped (Ctrl-C in the binary).
    pub async fn wait(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in tasks {
            let _ = t.await;
        }
    }
}

fn find<'a>(functions: &'a [RunningFunction], name: &str) -> Option<&'a RunningFunction> {
    functions
        .iter()
        .find(|f| f.binary == name || f.logical_id == name)
}

fn invocations(functions: &[RunningFunction]) -> BTreeMap<String, u64> {
    functions
        .iter()
        .map(|f| (f.binary.clone(), f.api.invocations()))
        .collect()
}

async fn fire(f: &RunningFunction, logs: &Logs) -> anyhow::Result<Value> {
    let s = f
        .schedules
        .first()
        .with_context(|| format!("{} has no schedule", f.binary))?;
    let outcome = f
        .api
        .invoke(s.event.to_string().into_bytes().into(), f.timeout)
        .await;
    let result = match outcome {
        Outcome::Response(b) => serde_json::from_slice(&b).context("a non-JSON answer"),
        Outcome::Error(e) => Err(anyhow::anyhow!(
            "{}: {}",
            e["errorType"].as_str().unwrap_or("error"),
            e["errorMessage"].as_str().unwrap_or("")
        )),
        Outcome::TimedOut => Err(anyhow::anyhow!("timed out after {:?}", f.timeout)),
        Outcome::InitFailed(why) => Err(anyhow::anyhow!("init failed: {why}")),
    };
    logs.push(
        "scheduler",
        &format!(
            "{} ({}) -> {}",
            s.name,
            f.binary,
            match &result {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("failed: {e:#}"),
            }
        ),
    );
    result.with_context(|| format!("{} run by its scheduled event", f.binary))
}

/// Starts the stack: resources on moto, the simulator, every function's process, the front,
/// the control port and the schedules.
pub async fn start(config: StackConfig) -> anyhow::Result<Stack> {
    let template = Template::load(&config.template)?;
    let defs = template.functions()?;
    for f in &defs {
        let bin = config.bin_dir.join(&f.binary);
        if !bin.is_file() {
            bail!(
                "{} not found: build the functions first with `cargo build --workspace --bins`",
                bin.display()
            );
        }
    }
    let logs = Logs {
        echo: config.echo_logs,
        ..Logs::default()
    };

    let front_listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let base_url = format!("http://{}", front_listener.local_addr()?);

    let mut resolver = template::Resolver::default();
    for (k, v) in [
        ("AWS::Region", REGION.to_owned()),
        ("AWS::AccountId", ACCOUNT_ID.to_owned()),
        ("AWS::StackName", config.stack_name.clone()),
        ("AWS::Partition", "aws".to_owned()),
        ("AWS::URLSuffix", "amazonaws.com".to_owned()),
    ] {
        resolver.pseudo.insert(k.into(), v);
    }
    resolver.parameters = config.parameters.clone();
    if template.parameter_default("PublicUrl").is_some() {
        resolver
            .parameters
            .entry("PublicUrl".into())
            .or_insert_with(|| base_url.clone());
    }

    // The table from its definition, the secret in its documented shape.
    let aws = aws::LocalAws::new(&config.aws_endpoint)?;
    let (table_id, table_props) = template.table()?;
    let props = resolver
        .resolve(&template, table_props)?
        .context("the table's Properties")?;
    let table_arn = aws
        .create_table(&config.table_name, &props)
        .await
        .context("creating the table from template.yaml")?;
    resolver
        .refs
        .insert(table_id.clone(), config.table_name.clone());
    resolver
        .attributes
        .insert(format!("{table_id}.Arn"), table_arn);
    let secret_id = template.secret()?;
    let secret_arn = aws
        .create_secret(&config.secret_name, &config.platform.secret_json())
        .await
        .context("creating the platform secret")?;
    resolver.refs.insert(secret_id, secret_arn.clone());
    // The secrets the stack seeds (the notification channels'), with their first value.
    for (id, value) in template.seeded_secrets() {
        let value = resolver
            .resolve_string(&template, value)?
            .with_context(|| format!("{id}: SecretString"))?;
        let arn = aws
            .create_secret(&format!("{}-{id}", config.stack_name), &value)
            .await
            .with_context(|| format!("creating secret {id}"))?;
        resolver.refs.insert(id, arn);
    }
    // The alarm topic (notifications of kind sns publish there): an ARN stand-in, no topic is
    // made; an sns channel's sends fail, and are listed, until one is.
    resolver.refs.insert(
        "AlarmTopic".into(),
        "arn:aws:sns:us-east-1:000000000000:wxopen-local-alarms".into(),
    );

    // WeChat: the simulator, pushing to the front.
    let p = &config.platform;
    let sim = wechat_sim::Simulator::start_on(
        wechat_sim::SimConfig {
            component_appid: p.component_appid.clone(),
            component_appsecret: p.component_appsecret.expose_secret().to_owned(),
            token: p.token.expose_secret().to_owned(),
            encoding_aes_key: p.encoding_aes_key.expose_secret().to_owned(),
            auth_event_url: Some(format!("{base_url}/wechat/component")),
            message_url: Some(format!("{base_url}/wechat/apps/$APPID$")),
            ticket_interval: Some(Duration::from_secs(600)),
            icp_apps_filed: true,
            ..wechat_sim::SimConfig::default()
        },
        config.sim_listen,
    )
    .await
    .context("starting the WeChat simulator")?;
    sim.add_template(1, "1.0.0");
    for _ in 0..config.seed_mini_programs {
        sim.add_account(wechat_sim::AccountSpec::mini_program());
    }

    // The functions.
    let started = Instant::now();
    let mut functions = Vec::new();
    let mut tasks = Vec::new();
    for def in defs {
        let name = format!("{}-{}", config.stack_name, def.logical_id);
        let api = RuntimeApi::start(&name).await?;
        let mut env = BTreeMap::new();
        for (k, v) in &def.environment {
            if let Some(v) = resolver
                .resolve_string(&template, v)
                .with_context(|| format!("{}: {k}", def.logical_id))?
            {
                env.insert(k.clone(), v);
            }
        }
        for (k, v) in lambda_environment(&name, &def, &api) {
            env.insert(k, v);
        }
        env.insert("AWS_ENDPOINT_URL".into(), config.aws_endpoint.clone());
        env.insert("WXOPEN_WECHAT_BASE_URL".into(), sim.base_url());
        let mut schedules = Vec::new();
        for s in &def.schedules {
            let expression = resolver
                .resolve_string(&template, &s.expression)?
                .context("a ScheduleExpression")?;
            let input = match &s.input {
                Some(i) => Some(
                    resolver
                        .resolve_string(&template, i)?
                        .context("a schedule's Input")?,
                ),
                None => None,
            };
            schedules.push(ScheduleTarget {
                name: s.name.clone(),
                period: template::rate(&expression).ok(),
                event: schedule::event(s.kind, input.as_deref(), &name)?,
                expression,
            });
        }
        tasks.push(tokio::spawn(supervise(
            config.bin_dir.join(&def.binary),
            env.clone(),
            api.clone(),
            logs.clone(),
            def.binary.clone(),
        )));
        functions.push(RunningFunction {
            logical_id: def.logical_id,
            binary: def.binary,
            api,
            timeout: def.timeout,
            environment: env,
            routes: def.routes,
            schedules,
        });
    }
    for f in &functions {
        if let Err(e) = f.api.ready(Duration::from_secs(60)).await {
            for t in &tasks {
                t.abort();
            }
            let log = logs.text();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            bail!(
                "{e:#}\nlast lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
    let started_in = started.elapsed();
    let functions = Arc::new(functions);

    // The front.
    let mut targets = Vec::new();
    for f in functions.iter() {
        for r in &f.routes {
            targets.push(front::Target {
                route: r.clone(),
                function: f.binary.clone(),
                api: f.api.clone(),
                timeout: f.timeout,
            });
        }
    }
    let app = front::Front::new(targets).router();
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(
            front_listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    }));

    // The control port: fire a schedule now, count invocations.
    let control_listener = tokio::net::TcpListener::bind(config.control_listen)
        .await
        .with_context(|| format!("binding {}", config.control_listen))?;
    let control_url = format!("http://{}", control_listener.local_addr()?);
    let control = schedule::control_router(functions.clone(), logs.clone());
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(control_listener, control).await;
    }));

    // The schedules.
    for (i, f) in functions.iter().enumerate() {
        for s in &f.schedules {
            let period = match config.schedules {
                Schedules::OnRequest => None,
                Schedules::Every(d) => Some(d),
                Schedules::TemplateRates => s.period,
            };
            if let Some(period) = period {
                let functions = functions.clone();
                let logs = logs.clone();
                tasks.push(tokio::spawn(async move {
                    let mut tick =
                        tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        let _ = fire(&functions[i], &logs).await;
                    }
                }));
            }
        }
    }

    sim.push_ticket()
        .await
        .context("the simulator's first ticket push through the front")?;
    Ok(Stack {
        base_url,
        control_url,
        sim,
        functions,
        logs,
        started_in,
        table_name: config.table_name,
        secret_arn,
        platform: config.platform,
        tasks,
    })
}

/// What Lambda sets in every function's environment itself (reserved variables), with the
/// execution role's credentials as placeholders the local endpoint accepts.
fn lambda_environment(
    name: &str,
    def: &template::Function,
    api: &RuntimeApi,
) -> Vec<(String, String)> {
    let log_group = format!("/aws/lambda/{name}");
    [
        ("AWS_LAMBDA_RUNTIME_API", api.address()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", def.memory_mb.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", log_group),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("local/[$LATEST]{}", hex::encode(rand::random::<[u8; 16]>())),
        ),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "local".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
        ("AWS_SESSION_TOKEN", "local".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Runs a function's process, restarting it when it exits (as Lambda starts a new execution
/// environment after a crash), with its stdout and stderr kept in `logs`. The process is
/// killed when this task is dropped (the stack stopped).
///
/// `std::process` with a thread per pipe rather than tokio's process support: enabling tokio's
/// `process` feature here would change tokio's features for the whole workspace and rebuild
/// every crate above it.
async fn supervise(
    binary: PathBuf,
    env: BTreeMap<String, String>,
    api: RuntimeApi,
    logs: Logs,
    name: String,
) {
    loop {
        api.restarting();
        let spawned = std::process::Command::new(&binary)
            .env_clear()
            .envs(&env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                logs.push(&name, &format!("could not start {}: {e}", binary.display()));
                api.exited(format!("could not start: {e}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Some(out) = child.stdout.take() {
            pipe(out, logs.clone(), name.clone());
        }
        if let Some(err) = child.stderr.take() {
            pipe(err, logs.clone(), name.clone());
        }
        let child = KillOnDrop::new(child);
        let why = loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut c = child.0.lock().expect("child");
            match c.try_wait() {
                Ok(Some(status)) => break format!("the process exited ({status})"),
                Ok(None) => {}
                Err(e) => break format!("the process was lost: {e}"),
            }
        };
        logs.push(&name, &why);
        api.exited(why);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A child process killed (and reaped) when dropped.
struct KillOnDrop(Mutex<std::process::Child>);

impl KillOnDrop {
    fn new(child: std::process::Child) -> KillOnDrop {
        KillOnDrop(Mutex::new(child))
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(c) = self.0.get_mut() {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Copies `stream`'s lines into `logs` on a thread of its own (until the process closes it).
fn pipe(stream: impl std::io::Read + Send + 'static, logs: Logs, name: String) {
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stream).lines() {
            match line {
                Ok(l) => logs.push(&name, &l),
                Err(_) => break,
            }
        }
    });
}
