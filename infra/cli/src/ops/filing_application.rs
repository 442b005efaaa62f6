//! `wxopen filing submit|cancel|media|verify-task`: filing on the merchant's behalf over
//! `/ops/apps/{appid}/filing…` and `/ops/apps/{appid}/auth-and-filing`.

use super::{appid, json_object_file, print_json, text, Api, Failure};
use base64::Engine as _;
use clap::{Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Filing on the merchant's behalf (one block of the `filing` subcommands).
#[derive(Subcommand)]
pub enum FilingApplicationCommand {
    /// Apply for ICP filing with the subject and mini program data in a JSON file
    /// (icp_subject, icp_applets, icp_materials as WeChat takes them; with --with-auth also
    /// auth_data). Checked by wxopen first: each field at fault is listed, WeChat not asked.
    Submit {
        appid: String,
        /// The application as JSON ("-": stdin).
        #[arg(long)]
        file: PathBuf,
        /// Verification (认证) and filing in one (POST .../auth-and-filing).
        #[arg(long)]
        with_auth: bool,
    },
    /// Withdraw the application still in the platform's review.
    Cancel { appid: String },
    /// Upload one image or video for the application; prints its media_id.
    Media {
        appid: String,
        /// The file (at most 5 MB).
        #[arg(long)]
        file: PathBuf,
        /// The application field it is for, e.g. icp_subject.principal_info.certificate_photo_front.
        #[arg(long)]
        field: String,
        /// The certificate's type (query_icp_certificate_types), for a certificate's photo.
        #[arg(long)]
        certificate_type: Option<i64>,
        /// image or video (default: from the file's extension).
        #[arg(long = "type", value_enum)]
        media_type: Option<MediaKind>,
    },
    /// Start the responsible person's face check (prints what to tell the merchant), or with
    /// --status show where it stands.
    VerifyTask {
        appid: String,
        /// For the verification + filing flow (answers a link for the merchant).
        #[arg(long)]
        along_with_auth: bool,
        /// Show the face check's state instead of starting one.
        #[arg(long)]
        status: bool,
        /// With --status: this task (default: the latest started through wxopen).
        #[arg(long)]
        task_id: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MediaKind {
    Image,
    Video,
}

/// The content type of a file by its extension (what WeChat's filing takes).
fn content_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "bmp" => "image/bmp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        _ => return None,
    })
}

pub async fn run(api: &Api, command: FilingApplicationCommand) -> Result<ExitCode, Failure> {
    match command {
        FilingApplicationCommand::Submit {
            appid: a,
            file,
            with_auth,
        } => submit(api, &a, &file, with_auth).await,
        FilingApplicationCommand::Cancel { appid: a } => {
            let appid = appid(&a)?;
            let path = format!("/ops/apps/{appid}/filing");
            let v = api.call(Method::DELETE, &path, &[], None, None).await?;
            if api.json {
                print_json(&v);
            } else {
                println!("withdrew {appid}'s filing application");
            }
            Ok(ExitCode::SUCCESS)
        }
        FilingApplicationCommand::Media {
            appid: a,
            file,
            field,
            certificate_type,
            media_type,
        } => {
            let appid = appid(&a)?;
            let bytes = std::fs::read(&file)
                .map_err(|e| format!("reading --file {}: {e}", file.display()))?;
            let ct = content_type(&file).ok_or_else(|| {
                format!(
                    "{}: not a .jpg, .jpeg, .png, .bmp, .gif or .mp4 file",
                    file.display()
                )
            })?;
            let mut body = json!({
                "icp_order_field": field,
                "content_type": ct,
                "filename": file.file_name().and_then(|n| n.to_str()).unwrap_or("media"),
                "data_base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
            });
            if let Some(t) = certificate_type {
                body["certificate_type"] = json!(t);
            }
            if let Some(k) = media_type {
                body["type"] = json!(match k {
                    MediaKind::Image => "image",
                    MediaKind::Video => "video",
                });
            }
            let v = api
                .post(&format!("/ops/apps/{appid}/filing/media"), &body)
                .await?;
            if api.json {
                print_json(&v);
            } else {
                println!("{}", text(&v["media_id"]));
                eprintln!("uploaded for {}", text(&v["icp_order_field"]));
            }
            Ok(ExitCode::SUCCESS)
        }
        FilingApplicationCommand::VerifyTask {
            appid: a,
            along_with_auth,
            status,
            task_id,
        } => {
            let appid = appid(&a)?;
            let path = format!("/ops/apps/{appid}/filing/verify-task");
            if status {
                let q: Vec<(&str, &str)> =
                    task_id.iter().map(|t| ("task_id", t.as_str())).collect();
                let v = api.get(&path, &q).await?;
                if api.json {
                    print_json(&v);
                } else {
                    println!(
                        "face check {}: {}{}",
                        text(&v["task_id"]),
                        text(&v["face_status"]),
                        if v["is_finish"] == json!(true) {
                            " (finished)"
                        } else {
                            ""
                        }
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let v = api
                .post(&path, &json!({ "along_with_auth": along_with_auth }))
                .await?;
            if api.json {
                print_json(&v);
            } else {
                println!("task_id: {}", text(&v["task_id"]));
                if let Some(url) = v["verify_url"].as_str() {
                    println!("link for the merchant: {url}");
                }
                println!("{}", text(&v["show_merchant"]["en"]));
                println!("{}", text(&v["show_merchant"]["zh"]));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn submit(api: &Api, a: &str, file: &PathBuf, with_auth: bool) -> Result<ExitCode, Failure> {
    let appid = appid(a)?;
    let body = Value::Object(json_object_file(file, "--file")?);
    let route = if with_auth {
        "auth-and-filing"
    } else {
        "filing"
    };
    let v = api
        .post(&format!("/ops/apps/{appid}/{route}"), &body)
        .await?;
    if api.json {
        print_json(&v);
    } else {
        let how = if v["reconciled"] == json!(true) {
            " (its earlier answer had been lost; WeChat's filing status shows it taken)"
        } else {
            ""
        };
        println!("applied for {appid}'s filing{how}: {}", text(&v["filing"]));
        if let Some(p) = v["procedure_id"].as_str() {
            println!("procedure_id: {p}");
        }
        if let Some(p) = v["pay_url"].as_str() {
            println!("the merchant pays the verification fee at: {p}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
