//! `wxopen notify`: the notification rules (shown, or replaced from a file), a test send to one
//! channel, the failed notifications and a retry of one.

use crate::ops::{json_object_file, print_json, Api, Failure};
use crate::table;
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum NotifyCommand {
    /// The channels (URLs as scheme and host only) and routes; with --set, replaces them.
    Rules {
        /// A JSON file (or - for stdin) of {"channels": [...], "routes": [...]}: a channel
        /// without "url" keeps the stored one.
        #[arg(long)]
        set: Option<PathBuf>,
    },
    /// Sends a test message to one channel now.
    Test {
        /// The channel's name.
        channel: String,
    },
    /// Notifications a channel refused for their whole 24-hour retry window.
    Failed,
    /// Sends a failed notification again now.
    Retry {
        /// The notification's id (as `notify failed` lists it).
        id: String,
    },
}

pub async fn run(api: &Api, command: NotifyCommand) -> Result<ExitCode, Failure> {
    match command {
        NotifyCommand::Rules { set } => {
            let v = match set {
                Some(path) => {
                    let body = Value::Object(json_object_file(&path, "--set")?);
                    api.put("/ops/notifications/rules", &body).await?
                }
                None => api.get("/ops/notifications/rules", &[]).await?,
            };
            if api.json {
                print_json(&v);
            } else {
                print_rules(&v);
            }
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Test { channel } => {
            let v = api
                .post("/ops/notifications/test", &json!({ "channel": channel }))
                .await?;
            let delivered = v["delivered"] == json!(true);
            if api.json {
                print_json(&v);
            } else if delivered {
                println!("test message delivered to {channel}");
            } else {
                println!(
                    "test message NOT delivered to {channel}: {}",
                    v["error"].as_str().unwrap_or("-")
                );
            }
            Ok(if delivered {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(4)
            })
        }
        NotifyCommand::Failed => {
            let v = api
                .get(
                    "/ops/notifications",
                    &[("status", "failed"), ("limit", "100")],
                )
                .await?;
            if api.json {
                print_json(&v);
            } else {
                print_notifications(&v);
            }
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Retry { id } => {
            let segment: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
            let path = format!("/ops/notifications/{segment}/retry");
            let v = api.post(&path, &json!({})).await?;
            let delivered = v["status"] == json!("delivered");
            if api.json {
                print_json(&v);
            } else if delivered {
                println!("{id}: delivered");
            } else {
                println!("{id}: still not delivered; retried for another 24 hours");
                print_notifications(&json!({ "items": [v] }));
            }
            Ok(if delivered {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(4)
            })
        }
    }
}

fn print_rules(v: &Value) {
    let mut t = table::new(&["channel", "kind", "url"]);
    for c in v["channels"].as_array().into_iter().flatten() {
        t.add_row(vec![
            c["name"].as_str().unwrap_or("").to_owned(),
            c["kind"].as_str().unwrap_or("").to_owned(),
            c["url"].as_str().unwrap_or("-").to_owned(),
        ]);
    }
    println!("{t}");
    let mut t = table::new(&["events", "customer", "to"]);
    for r in v["routes"].as_array().into_iter().flatten() {
        let events = r["events"]
            .as_array()
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "all".to_owned());
        t.add_row(vec![
            events,
            r["customer_id"].as_str().unwrap_or("all").to_owned(),
            r["channel"].as_str().unwrap_or("").to_owned(),
        ]);
    }
    println!("{t}");
}

fn print_notifications(v: &Value) {
    let items = v["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("none");
        return;
    }
    let mut t = table::new(&["created", "event", "id", "status", "deliveries"]);
    for n in &items {
        let deliveries = n["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                format!(
                    "{}: {} x{} {}",
                    d["channel"].as_str().unwrap_or(""),
                    d["state"].as_str().unwrap_or(""),
                    d["attempts"],
                    d["last_error"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        t.add_row(vec![
            table::time(n["created_at"].as_i64().unwrap_or(0)),
            n["kind"].as_str().unwrap_or("").to_owned(),
            n["id"].as_str().unwrap_or("").to_owned(),
            n["status"].as_str().unwrap_or("").to_owned(),
            table::shorten(&deliveries, 200),
        ]);
    }
    println!("{t}");
}
