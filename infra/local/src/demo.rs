//! `wxopen-local demo`: the whole story against itself, each step printed once it is checked.
//!
//! ticket received -> component token -> invitation -> authorization (the simulator's consent
//! page) -> tokens and profile stored -> commit -> submit audit -> approval push -> release -> a
//! token refreshed by the refresher. Everything goes through the very routers and handlers the
//! Lambdas run, over HTTP on loopback, with the operator key like any operator. Nothing secret
//! is printed: no appsecret, key, token, ticket or code value.

use crate::{start, Local, LocalConfig};
use anyhow::{anyhow, bail, ensure, Context};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wxopen::domain::{AppId, Clock, SystemClock};
use wxopen::secrets::PlatformSecrets;
use wxopen::store::TokenKey;

/// What the demo runs with.
pub struct DemoConfig {
    pub secrets: PlatformSecrets,
    /// The plain operator key whose SHA-256 `secrets` holds.
    pub operator_key: SecretString,
    pub data_dir: PathBuf,
}

/// What the demo leaves behind, for a test to look at.
pub struct DemoReport {
    pub local: Local,
    pub appid: AppId,
    /// The single-use values the demo handled on the merchant's behalf (pre_auth_code, auth
    /// code), so a test can check none was printed.
    pub handled: Vec<SecretString>,
}

/// Runs the story; `say` gets one line per checked step. An error names the step that failed.
pub async fn run(config: DemoConfig, say: &mut dyn FnMut(&str)) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let total = 10;
    let mut step = 0;
    let mut ok = |say: &mut dyn FnMut(&str), what: &str| {
        step += 1;
        say(&format!(
            "  ok {step:>2}/{total}  {what}  ({:.1} s)",
            started.elapsed().as_secs_f64()
        ));
    };
    let component = config.secrets.component_appid.clone();
    let local = start(LocalConfig {
        ticket_interval: Duration::from_secs(600),
        ..LocalConfig::on_free_ports(config.data_dir.clone(), config.secrets.clone())
    })
    .await
    .context("starting wxopen-local")?;
    say(&format!(
        "wxopen-local demo: our API at {}, the WeChat simulator at {}",
        local.base_url,
        local.sim.base_url()
    ));
    let ops = Ops {
        http: wxopen::https::reqwest_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        base: local.base_url.clone(),
        key: config.operator_key.clone(),
    };

    // 1. The simulator pushed a ticket at start: encrypted, signed, verified and stored.
    let ticket = local
        .store
        .latest_ticket(&component)
        .await?
        .context("ticket received: no component_verify_ticket stored")?;
    ok(
        say,
        &format!(
            "ticket received: component_verify_ticket pushed encrypted, verified, stored at {}",
            ticket.received_at
        ),
    );

    // 2. The component token, from the ticket.
    local
        .mgr
        .component_access_token()
        .await
        .context("component token")?;
    let stored = local
        .store
        .get_token(&TokenKey::Component(component.clone()))
        .await?
        .context("component token: not stored")?;
    ok(
        say,
        &format!(
            "component token: obtained and stored, valid {} s more",
            stored.state.expires_at - SystemClock.now()
        ),
    );

    // 3. An invitation for a customer.
    let inv = ops
        .send(
            reqwest::Method::POST,
            "/ops/invitations",
            Some(json!({ "customer_id": "demo-customer" })),
            201,
        )
        .await
        .context("invitation")?;
    let invite_url = inv["url"]
        .as_str()
        .context("invitation: no url")?
        .to_owned();
    ok(
        say,
        "invitation: POST /ops/invitations for customer demo-customer answered its link",
    );

    // 4. The merchant opens it, follows the PC link to WeChat's consent page and approves.
    let appid = local.sim.add_account(wechat_sim::AccountSpec {
        nick_name: Some("Demo Bakery".into()),
        ..wechat_sim::AccountSpec::mini_program()
    });
    let mut handled = Vec::new();
    let callback = ops
        .consent(&local, &invite_url, &appid, &mut handled)
        .await
        .context("authorization")?;
    let page = ops.http.get(&callback).send().await?;
    ensure!(
        page.status() == 200,
        "authorization: the callback answered {}",
        page.status()
    );
    let page = page.text().await?;
    ensure!(
        page.contains("Demo Bakery"),
        "authorization: the success page does not name the account"
    );
    ok(
        say,
        &format!(
            "authorization: consent approved for {appid}, the callback page names Demo Bakery"
        ),
    );

    // 5. Tokens and profile stored (the push and the callback agree on one exchange).
    let a = ops
        .send(
            reqwest::Method::GET,
            &format!("/ops/authorizers/{appid}"),
            None,
            200,
        )
        .await?;
    ensure!(
        a["status"] == "authorized"
            && a["token"]["has_refresh_token"] == true
            && a["customer_id"] == "demo-customer"
            && a["development_permission"] == true,
        "tokens and profile stored: {a}"
    );
    ok(
        say,
        "tokens and profile stored: authorized, refresh token kept, customer demo-customer, set 18 granted",
    );

    // 6-9. The code lifecycle.
    let app = format!("/ops/apps/{appid}");
    ops.send(
        reqwest::Method::POST,
        &format!("{app}/commit"),
        Some(json!({ "template_id": 1, "ext_json": { "extAppid": component.as_str(), "ext": { "shop": "demo" } }, "user_version": "1.0.0", "user_desc": "demo" })),
        200,
    )
    .await
    .context("commit")?;
    ok(say, "commit: template 1 as 1.0.0 (the experience version)");
    let submitted = ops
        .send(
            reqwest::Method::POST,
            &format!("{app}/audits"),
            Some(json!({ "item_list": [{ "address": "pages/index/index", "tag": "bakery", "title": "Home" }] })),
            201,
        )
        .await
        .context("submit audit")?;
    let auditid = submitted["auditid"]
        .as_u64()
        .context("submit audit: no auditid")?;
    ok(say, &format!("submit audit: auditid {auditid}"));
    local
        .sim
        .decide_audit(&appid, wechat_sim::AuditOutcome::Success)
        .await
        .map_err(|e| anyhow!("approval push: {e}"))?;
    let latest = ops
        .send(
            reqwest::Method::GET,
            &format!("{app}/audits/latest"),
            None,
            200,
        )
        .await?;
    ensure!(
        latest["status"] == "approved" && latest["auditid"] == auditid,
        "approval push: {latest}"
    );
    ok(
        say,
        "approval push: weapp_audit_success arrived encrypted and the audit reads approved",
    );
    ops.send(
        reqwest::Method::POST,
        &format!("{app}/release"),
        Some(json!({})),
        200,
    )
    .await
    .context("release")?;
    let shown = ops.send(reqwest::Method::GET, &app, None, 200).await?;
    ensure!(
        shown["versions"]["online"]["user_version"] == "1.0.0",
        "release: online version {}",
        shown["versions"]["online"]
    );
    ok(say, "release: 1.0.0 is online");

    // 10. The refresher renews the authorizer token (its window widened to cover a fresh one).
    let key = TokenKey::Authorizer(appid.clone());
    let before = local.store.get_token(&key).await?.context("no token")?;
    let deps = token_refresher::Deps {
        mgr: local.mgr.clone(),
        store: local.store.clone(),
        clock: Arc::new(SystemClock),
        config: token_refresher::RefresherConfig {
            window_secs: 7300,
            emit_metrics: false,
            ..token_refresher::RefresherConfig::default()
        },
    };
    let summary =
        token_refresher::run(&deps, tokio::time::Instant::now() + Duration::from_secs(60))
            .await
            .map_err(|e| anyhow!("token refreshed: {e}"))?;
    let after = local.store.get_token(&key).await?.context("no token")?;
    if summary.refreshed < 1 || after.version == before.version {
        bail!(
            "token refreshed: the refresher refreshed {} tokens",
            summary.refreshed
        );
    }
    ok(
        say,
        &format!(
            "token refreshed: the refresher renewed {} authorizer token(s), refresh token kept",
            summary.refreshed
        ),
    );
    say(&format!(
        "all {total} steps checked in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(DemoReport {
        local,
        appid,
        handled,
    })
}

/// The operator's and the merchant's side, over HTTP.
struct Ops {
    http: reqwest::Client,
    base: String,
    key: SecretString,
}

impl Ops {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(self.key.expose_secret());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        ensure!(
            status == want,
            "{method} {path} answered {status}: {}",
            v["message"]
        );
        Ok(v)
    }

    /// Opens the invitation, follows the PC link to the consent page and approves there as the
    /// merchant's admin would; answers the callback URL WeChat redirects to.
    async fn consent(
        &self,
        local: &Local,
        invite_url: &str,
        appid: &AppId,
        handled: &mut Vec<SecretString>,
    ) -> anyhow::Result<String> {
        let page = self.http.get(invite_url).send().await?;
        ensure!(
            page.status() == 200,
            "the start page answered {}",
            page.status()
        );
        let page = page.text().await?;
        let marker = "id=\"pc-link\" href=\"";
        let at = page.find(marker).context("no PC link on the start page")? + marker.len();
        let end = at + page[at..].find('"').context("unterminated link")?;
        let href = page[at..end].replace("&amp;", "&");
        let consent = url::Url::parse(&href)?;
        let q: std::collections::HashMap<String, String> =
            consent.query_pairs().into_owned().collect();
        let pre = q.get("pre_auth_code").context("no pre_auth_code")?.clone();
        handled.push(SecretString::from(pre.clone()));
        let shown = self.http.get(href.as_str()).send().await?;
        ensure!(
            shown.status() == 200,
            "the consent page answered {}",
            shown.status()
        );
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("pre_auth_code", &pre)
            .append_pair(
                "redirect_uri",
                q.get("redirect_uri").context("no redirect_uri")?,
            )
            .append_pair("appid", appid.as_str())
            .append_pair("func_info", "17")
            .append_pair("func_info", "18")
            .finish();
        let resp = self
            .http
            .post(format!("{}/_sim/consent/approve", local.sim.base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await?;
        ensure!(resp.status() == 302, "approving answered {}", resp.status());
        let location = resp
            .headers()
            .get("location")
            .context("no redirect")?
            .to_str()?
            .to_owned();
        let back = url::Url::parse(&location)?;
        if let Some((_, code)) = back.query_pairs().find(|(k, _)| k == "auth_code") {
            handled.push(SecretString::from(code.into_owned()));
        }
        Ok(location)
    }
}
