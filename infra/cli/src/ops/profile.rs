//! `wxopen profile show|set` and `wxopen categories list|add|delete|modify`: a mini program's
//! profile (name, avatar, signature, search status, categories) over `/ops/apps/{appid}/profile`,
//! `/ops/apps/{appid}/categories` and `/ops/categories`.

use super::{appid, print_json, text, Api, Failure};
use base64::Engine as _;
use clap::{Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ProfileCommand {
    /// The profile as WeChat shows it, the name's review, and what a first audit still needs.
    Show { appid: String },
    /// Change the name, avatar, signature or search status (each change spends one of WeChat's
    /// limited changes; none is repeated after a lost answer).
    Set {
        appid: String,
        #[arg(long)]
        name: Option<String>,
        /// Material for a name WeChat reviews (a licence or ID card image).
        #[arg(long)]
        name_license: Option<PathBuf>,
        /// The avatar image (.jpg, .png, at most 2 MB), uploaded through wxopen.
        #[arg(long)]
        avatar: Option<PathBuf>,
        #[arg(long)]
        signature: Option<String>,
        #[arg(long, value_enum)]
        search: Option<OnOff>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Subcommand)]
pub enum CategoriesCommand {
    /// Every category WeChat offers (with --appid: as that app may set them).
    List {
        #[arg(long)]
        appid: Option<String>,
    },
    /// Add a category, with its qualification files (--cert NAME=FILE, repeated).
    Add {
        appid: String,
        #[arg(long)]
        first: u64,
        #[arg(long)]
        second: u64,
        #[arg(long = "cert")]
        certs: Vec<String>,
    },
    /// Delete a category.
    Delete {
        appid: String,
        #[arg(long)]
        first: u64,
        #[arg(long)]
        second: u64,
    },
    /// Send new qualification files for a category (a new review).
    Modify {
        appid: String,
        #[arg(long)]
        first: u64,
        #[arg(long)]
        second: u64,
        #[arg(long = "cert")]
        certs: Vec<String>,
    },
}

fn image(path: &Path) -> Result<Value, Failure> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let ct = match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "bmp" => "image/bmp",
        "gif" => "image/gif",
        _ => return Err(format!("{}: not a .jpg, .png, .bmp or .gif file", path.display()).into()),
    };
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(json!({
        "content_type": ct,
        "filename": path.file_name().and_then(|n| n.to_str()).unwrap_or("image"),
        "data_base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
    }))
}

fn certificates(certs: &[String]) -> Result<Vec<Value>, Failure> {
    certs
        .iter()
        .map(|c| {
            let (key, file) = c
                .split_once('=')
                .ok_or_else(|| format!("--cert {c}: give NAME=FILE"))?;
            let mut v = image(Path::new(file))?;
            v["key"] = json!(key);
            Ok(v)
        })
        .collect()
}

pub async fn profile(api: &Api, command: ProfileCommand) -> Result<ExitCode, Failure> {
    match command {
        ProfileCommand::Show { appid: a } => {
            let appid = appid(&a)?;
            let v = api.get(&format!("/ops/apps/{appid}/profile"), &[]).await?;
            if api.json {
                print_json(&v);
                return Ok(ExitCode::SUCCESS);
            }
            println!("name:      {}", text(&v["name"]["value"]));
            if v["name_review"].is_object() {
                let r = &v["name_review"];
                let reason = r["reason"].as_str().filter(|r| !r.is_empty());
                println!(
                    "           review of {}: {}{}",
                    text(&r["nickname"]),
                    text(&r["status"]),
                    reason.map(|r| format!(" ({r})")).unwrap_or_default()
                );
            }
            println!("avatar:    {}", text(&v["avatar"]["value"]));
            println!("signature: {}", text(&v["signature"]["value"]));
            println!("search:    {}", text(&v["search"]));
            for c in v["categories"].as_array().into_iter().flatten() {
                println!(
                    "category:  {}/{} {} {}: {}",
                    text(&c["first"]),
                    text(&c["second"]),
                    text(&c["first_name"]),
                    text(&c["second_name"]),
                    text(&c["status"])
                );
            }
            let missing: Vec<String> = v["missing"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            if missing.is_empty() {
                println!("complete for a first audit");
            } else {
                println!("a first audit still needs: {}", missing.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        ProfileCommand::Set {
            appid: a,
            name,
            name_license,
            avatar,
            signature,
            search,
        } => {
            let appid = appid(&a)?;
            let mut body = json!({});
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            if let Some(p) = name_license {
                body["name_license"] = image(&p)?;
            }
            if let Some(p) = avatar {
                body["avatar"] = image(&p)?;
            }
            if let Some(s) = signature {
                body["signature"] = json!(s);
            }
            if let Some(s) = search {
                body["search"] = json!(match s {
                    OnOff::On => "searchable",
                    OnOff::Off => "hidden",
                });
            }
            let path = format!("/ops/apps/{appid}/profile");
            let v = api.call(Method::PUT, &path, &[], Some(&body), None).await?;
            if api.json {
                print_json(&v);
            } else {
                for k in ["name", "avatar", "signature", "search"] {
                    if !v[k].is_null() {
                        println!("{k}: {}", text(&v[k]));
                    }
                }
                if v["name"] == "checking" {
                    println!("WeChat reviews the name: `wxopen profile show {appid}` follows it");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn categories(api: &Api, command: CategoriesCommand) -> Result<ExitCode, Failure> {
    let (v, done) = match command {
        CategoriesCommand::List { appid: a } => {
            let q: Vec<(&str, &str)> = a.iter().map(|a| ("appid", a.as_str())).collect();
            let v = api.get("/ops/categories", &q).await?;
            if !api.json {
                for c in v["categories"].as_array().into_iter().flatten() {
                    let indent = if c["level"] == 2 { "  " } else { "" };
                    let q = if c["needs_qualification"] == true {
                        format!(
                            " (qualification: {})",
                            c["qualifications"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(text)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    } else {
                        String::new()
                    };
                    println!("{indent}{} {}{q}", text(&c["id"]), text(&c["name"]));
                }
                return Ok(ExitCode::SUCCESS);
            }
            (v, "")
        }
        CategoriesCommand::Add {
            appid: a,
            first,
            second,
            certs,
        } => {
            let appid = appid(&a)?;
            let body =
                json!({ "first": first, "second": second, "certificates": certificates(&certs)? });
            let path = format!("/ops/apps/{appid}/categories");
            (api.post(&path, &body).await?, "added")
        }
        CategoriesCommand::Modify {
            appid: a,
            first,
            second,
            certs,
        } => {
            let appid = appid(&a)?;
            let body =
                json!({ "first": first, "second": second, "certificates": certificates(&certs)? });
            let path = format!("/ops/apps/{appid}/categories");
            let v = api
                .call(Method::PATCH, &path, &[], Some(&body), None)
                .await?;
            (v, "modified")
        }
        CategoriesCommand::Delete {
            appid: a,
            first,
            second,
        } => {
            let appid = appid(&a)?;
            let path = format!("/ops/apps/{appid}/categories");
            let (f, s) = (first.to_string(), second.to_string());
            let q = [("first", f.as_str()), ("second", s.as_str())];
            let v = api.call(Method::DELETE, &path, &q, None, None).await?;
            (v, "deleted")
        }
    };
    if api.json {
        print_json(&v);
    } else {
        println!(
            "{done} category {}/{}: {}",
            text(&v["first"]),
            text(&v["second"]),
            text(&v["status"])
        );
    }
    Ok(ExitCode::SUCCESS)
}
