//! The Lambda Runtime API one function's process polls, as Lambda serves it
//! (`AWS_LAMBDA_RUNTIME_API`, 2018-06-01): `GET /invocation/next` hands out the next event with
//! its `Lambda-Runtime-*` headers (request id, deadline, function ARN, trace id), the function
//! answers on `/invocation/{id}/response` or `/invocation/{id}/error`, or reports a failed start
//! on `/init/error`. One server per function; an invocation waits for its answer until the
//! function's timeout, as Lambda's synchronous Invoke does.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// The function's answer (`/response`), as it sent it.
    Response(Bytes),
    /// The function reported an error (`/error`): its JSON `errorType` and `errorMessage`.
    Error(Value),
    /// No answer within the function's timeout.
    TimedOut,
    /// The function could not start (`/init/error`, or its process exited).
    InitFailed(String),
}

struct Invocation {
    id: String,
    event: Bytes,
    deadline: SystemTime,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    function_name: String,
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Set once the function has asked for its first event (it finished its init).
    polling: watch::Sender<bool>,
    /// Why the function's last start failed, if it did.
    init_error: watch::Sender<Option<String>>,
}

/// One function's Runtime API: the address its process polls and the way in for events.
#[derive(Clone)]
pub struct RuntimeApi {
    shared: Arc<Shared>,
    sender: mpsc::Sender<Invocation>,
    addr: SocketAddr,
    invocations: Arc<AtomicU64>,
}

impl RuntimeApi {
    /// Serves the Runtime API for `function_name` on a free loopback port.
    pub async fn start(function_name: &str) -> anyhow::Result<RuntimeApi> {
        let (sender, receiver) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            function_name: function_name.to_owned(),
            queue: tokio::sync::Mutex::new(receiver),
            pending: Mutex::new(HashMap::new()),
            polling: watch::channel(false).0,
            init_error: watch::channel(None).0,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            shared,
            sender,
            addr,
            invocations: Arc::new(AtomicU64::new(0)),
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API`: `host:port`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// How many events were handed in so far.
    pub fn invocations(&self) -> u64 {
        self.invocations.load(Ordering::Relaxed)
    }

    /// A new process is starting: forget the last one's init state.
    pub fn restarting(&self) {
        self.shared.polling.send_replace(false);
        self.shared.init_error.send_replace(None);
    }

    /// The process exited: what is waiting on it fails as Lambda fails it.
    pub fn exited(&self, why: String) {
        self.shared.polling.send_replace(false);
        self.shared.init_error.send_replace(Some(why.clone()));
        for (_, reply) in self.shared.pending.lock().expect("pending").drain() {
            let _ = reply.send(Outcome::InitFailed(why.clone()));
        }
    }

    /// Waits until the function polls for its first event (its init is done), or its start
    /// failed.
    pub async fn ready(&self, within: Duration) -> anyhow::Result<()> {
        let mut polling = self.shared.polling.subscribe();
        let mut failed = self.shared.init_error.subscribe();
        let wait = async {
            loop {
                if *polling.borrow_and_update() {
                    return Ok(());
                }
                if let Some(e) = failed.borrow_and_update().clone() {
                    anyhow::bail!("{} did not start: {e}", self.shared.function_name);
                }
                tokio::select! {
                    _ = polling.changed() => {}
                    _ = failed.changed() => {}
                }
            }
        };
        tokio::time::timeout(within, wait).await.map_err(|_| {
            anyhow::anyhow!(
                "{} did not poll the Runtime API within {within:?}",
                self.shared.function_name
            )
        })?
    }

    /// Invokes the function with `event` and waits for its answer up to `timeout`.
    pub async fn invoke(&self, event: Bytes, timeout: Duration) -> Outcome {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let invocation = Invocation {
            id: request_id(),
            event,
            deadline: SystemTime::now() + timeout,
            reply,
        };
        if self.sender.send(invocation).await.is_err() {
            return Outcome::InitFailed("the Runtime API stopped".into());
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Outcome::InitFailed("the invocation was dropped".into()),
            Err(_) => Outcome::TimedOut,
        }
    }
}

/// A fresh request id, shaped as Lambda's (a UUID v4).
pub fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    s.polling.send_replace(true);
    let mut queue = s.queue.lock().await;
    let Some(inv) = queue.recv().await else {
        return StatusCode::GONE.into_response();
    };
    drop(queue);
    let deadline_ms = inv
        .deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let trace: [u8; 12] = rand::random();
    let parent: [u8; 8] = rand::random();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("content-type", "application/json".into());
    set("lambda-runtime-aws-request-id", inv.id.clone());
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            crate::REGION,
            crate::ACCOUNT_ID,
            s.function_name
        ),
    );
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{now:08x}-{};Parent={};Sampled=0",
            hex::encode(trace),
            hex::encode(parent)
        ),
    );
    s.pending
        .lock()
        .expect("pending")
        .insert(inv.id.clone(), inv.reply);
    (StatusCode::OK, headers, inv.event).into_response()
}

fn finish(s: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match s.pending.lock().expect("pending").remove(id) {
        Some(reply) => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        // Lambda: 400 InvalidRequestID (unknown or already answered).
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&s, &id, Outcome::Response(body))
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    finish(&s, &id, Outcome::Error(v))
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let why = format!(
        "{}: {}",
        v["errorType"].as_str().unwrap_or("Runtime.InitError"),
        v["errorMessage"].as_str().unwrap_or("")
    );
    s.init_error.send_replace(Some(why));
    StatusCode::ACCEPTED
}
