//! `wxopen register enterprise|personal|beta|reuse|list|show|verify`: registering a mini program
//! for a merchant who has none (快速注册) over `/ops/registrations`, bound to the customer.

use super::{print_json, text, Api, Failure};
use crate::table;
use clap::Subcommand;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum RegisterCommand {
    /// An enterprise (or sole trader): the legal person confirms by face in WeChat.
    Enterprise {
        /// Your customer the new mini program is bound to.
        #[arg(long)]
        customer: String,
        /// 企业名, as registered.
        #[arg(long)]
        name: String,
        /// The enterprise's code.
        #[arg(long)]
        code: String,
        /// 1 unified social credit code (default), 2 organization code, 3 business licence number.
        #[arg(long, default_value_t = 1)]
        code_type: i64,
        /// The legal person's WeChat id.
        #[arg(long)]
        legal_persona_wechat: String,
        /// The legal person's name.
        #[arg(long)]
        legal_persona_name: String,
        /// A phone number WeChat may call the platform on.
        #[arg(long)]
        component_phone: Option<String>,
    },
    /// A person: the user confirms at the link printed.
    Personal {
        #[arg(long)]
        customer: String,
        /// The user's name.
        #[arg(long)]
        idname: String,
        /// The user's WeChat id.
        #[arg(long)]
        wxuser: String,
        #[arg(long)]
        component_phone: Option<String>,
    },
    /// A trial mini program ("<name>的体验小程序"), made formal later with `register verify`.
    Beta {
        #[arg(long)]
        customer: String,
        /// 4 to 30 characters.
        #[arg(long)]
        name: String,
        /// The user's openid (under the platform's official account).
        #[arg(long)]
        openid: String,
    },
    /// On an authorized official account's subject (its administrator's scan hands the ticket).
    Reuse {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        official_account_appid: String,
        #[arg(long)]
        ticket: String,
    },
    /// Registrations, newest first.
    List {
        /// submitting, waiting_for_confirmation, failed or succeeded.
        #[arg(long)]
        status: Option<String>,
    },
    /// One registration (an open one is checked with WeChat when it was not lately).
    Show { id: String },
    /// Make a trial registration's mini program formal (the legal person confirms in WeChat).
    Verify {
        id: String,
        #[arg(long)]
        enterprise_name: String,
        #[arg(long)]
        code: String,
        #[arg(long, default_value_t = 1)]
        code_type: i64,
        #[arg(long)]
        legal_persona_wechat: String,
        #[arg(long)]
        legal_persona_name: String,
        #[arg(long)]
        legal_persona_idcard: Option<String>,
        #[arg(long)]
        component_phone: Option<String>,
    },
}

/// Sets `key` to `v` when given.
fn optional(body: &mut Value, key: &str, v: Option<String>) {
    if let Some(v) = v {
        body[key] = json!(v);
    }
}

pub async fn run(api: &Api, command: RegisterCommand) -> Result<ExitCode, Failure> {
    let body = match command {
        RegisterCommand::List { status } => return list(api, status).await,
        RegisterCommand::Show { id } => {
            let v = api.get(&format!("/ops/registrations/{id}"), &[]).await?;
            print_registration(api, &v);
            return Ok(ExitCode::SUCCESS);
        }
        RegisterCommand::Verify {
            id,
            enterprise_name,
            code,
            code_type,
            legal_persona_wechat,
            legal_persona_name,
            legal_persona_idcard,
            component_phone,
        } => {
            let mut body = json!({
                "enterprise_name": enterprise_name,
                "code": code,
                "code_type": code_type,
                "legal_persona_wechat": legal_persona_wechat,
                "legal_persona_name": legal_persona_name,
            });
            optional(&mut body, "legal_persona_idcard", legal_persona_idcard);
            optional(&mut body, "component_phone", component_phone);
            let v = api
                .post(&format!("/ops/registrations/{id}/verify"), &body)
                .await?;
            print_registration(api, &v);
            return Ok(ExitCode::SUCCESS);
        }
        RegisterCommand::Enterprise {
            customer,
            name,
            code,
            code_type,
            legal_persona_wechat,
            legal_persona_name,
            component_phone,
        } => {
            let mut body = json!({
                "customer_id": customer,
                "kind": "enterprise",
                "name": name,
                "code": code,
                "code_type": code_type,
                "legal_persona_wechat": legal_persona_wechat,
                "legal_persona_name": legal_persona_name,
            });
            optional(&mut body, "component_phone", component_phone);
            body
        }
        RegisterCommand::Personal {
            customer,
            idname,
            wxuser,
            component_phone,
        } => {
            let mut body = json!({
                "customer_id": customer,
                "kind": "personal",
                "idname": idname,
                "wxuser": wxuser,
            });
            optional(&mut body, "component_phone", component_phone);
            body
        }
        RegisterCommand::Beta {
            customer,
            name,
            openid,
        } => json!({
            "customer_id": customer,
            "kind": "beta",
            "name": name,
            "openid": openid,
        }),
        RegisterCommand::Reuse {
            customer,
            official_account_appid,
            ticket,
        } => json!({
            "customer_id": customer,
            "kind": "reuse_official_account",
            "official_account_appid": official_account_appid,
            "ticket": ticket,
        }),
    };
    let v = api.post("/ops/registrations", &body).await?;
    if api.json {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "registration {}: {}",
        text(&v["registration_id"]),
        text(&v["status"])
    );
    if let Some(url) = v["authorize_url"].as_str() {
        println!("link for the merchant to confirm: {url}");
    }
    if let Some(appid) = v["appid"].as_str() {
        println!("mini program: {appid}");
    }
    if v["in_doubt"] == json!(true) {
        eprintln!("{}", text(&v["hint"]));
        eprintln!("{}", text(&v["hint_zh"]));
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(api: &Api, status: Option<String>) -> Result<ExitCode, Failure> {
    let q: Vec<(&str, &str)> = status.iter().map(|s| ("status", s.as_str())).collect();
    let v = api.get("/ops/registrations", &q).await?;
    if api.json {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let items = v["items"].as_array().cloned().unwrap_or_default();
    let mut t = table::new(&[
        "REGISTRATION",
        "KIND",
        "CUSTOMER",
        "NAME",
        "STATUS",
        "APPID",
        "CREATED (UTC+8)",
    ]);
    for r in &items {
        t.add_row(vec![
            text(&r["registration_id"]),
            text(&r["kind"]),
            text(&r["customer_id"]),
            text(&r["name"]),
            status_words(r),
            text(&r["appid"]),
            r["created_at"]
                .as_i64()
                .map(table::time)
                .unwrap_or_default(),
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

/// A status with its reason (failed) or the trial's verification.
fn status_words(r: &Value) -> String {
    let mut s = text(&r["status"]);
    if let Some(reason) = r["reason"].as_str() {
        s.push_str(&format!(": {}", table::shorten(reason, 60)));
    }
    if let Some(v) = r["verification"]["status"].as_str() {
        s.push_str(&format!(" (made formal: {v})"));
    }
    s
}

fn print_registration(api: &Api, v: &Value) {
    if api.json {
        print_json(v);
        return;
    }
    let mut t = table::plain();
    for (k, label) in [
        ("registration_id", "registration"),
        ("kind", "kind"),
        ("customer_id", "customer"),
        ("name", "name"),
        ("appid", "appid"),
        ("authorize_url", "confirm at"),
        ("errcode", "errcode"),
    ] {
        if !v[k].is_null() {
            t.add_row(vec![label.to_owned(), text(&v[k])]);
        }
    }
    t.add_row(vec!["status".to_owned(), status_words(v)]);
    println!("{t}");
}
