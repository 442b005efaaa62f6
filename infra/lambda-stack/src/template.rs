//! What the stack takes from `template.yaml`, read at start so that a change to the template
//! (a route, a variable, a timeout, a schedule) reaches the local stack without a code change:
//! the functions (binary, timeout, memory, environment with the intrinsic functions still in
//! it), their HTTP API routes and schedules, the table's definition and the secret.
//!
//! Intrinsic functions in the values the stack uses (`!Ref`, `!Sub`, `!GetAtt`, `!If` on the
//! template's `Conditions`, `!Join`, `!Select`, `!Split`) are resolved by [`Resolver`] against
//! the local stand-ins of the resources; a reference the stack has no stand-in for is an error
//! naming it, never a silent blank.

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value as Json};
use serde_norway::Value as Yaml;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The parsed template.
pub struct Template {
    doc: Yaml,
}

/// One `AWS::Serverless::Function`.
#[derive(Debug, Clone)]
pub struct Function {
    /// Its logical id (`TicketPushFunction`).
    pub logical_id: String,
    /// The binary it runs (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub timeout: Duration,
    pub memory_mb: u64,
    /// `Globals.Function.Environment` overlaid by its own, still unresolved.
    pub environment: BTreeMap<String, Yaml>,
    pub routes: Vec<Route>,
    pub schedules: Vec<Schedule>,
}

/// An HTTP API route (`Type: HttpApi` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, ... or `ANY`.
    pub method: String,
    /// As API Gateway writes it: `/wechat/apps/{appid}`, `/ops/{proxy+}`.
    pub path: String,
}

impl Route {
    /// API Gateway's route key: `POST /wechat/component`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters when `method` and `path` match this route.
    pub fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        if self.method != "ANY" && !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let want: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        let got: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut params = BTreeMap::new();
        for (i, w) in want.iter().enumerate() {
            if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix("+}")) {
                // Greedy: the rest of the path, at least one segment.
                let rest = got.get(i..).filter(|r| !r.is_empty())?.join("/");
                if rest.is_empty() {
                    return None;
                }
                params.insert(name.to_owned(), rest);
                return Some(params);
            }
            let g = got.get(i)?;
            if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                if g.is_empty() {
                    return None;
                }
                params.insert(name.to_owned(), (*g).to_owned());
            } else if w != g {
                return None;
            }
        }
        (got.len() == want.len()).then_some(params)
    }

    /// How specific the route is, for API Gateway's "most specific match wins": literal
    /// segments beat variables, variables beat a greedy tail, a method beats `ANY`.
    pub fn specificity(&self) -> (usize, usize, bool) {
        let segs: Vec<&str> = self.path.split('/').collect();
        let greedy = segs.iter().any(|s| s.ends_with("+}"));
        let literal = segs.iter().filter(|s| !s.starts_with('{')).count();
        (usize::from(!greedy), literal, self.method != "ANY")
    }
}

/// A `Schedule` / `ScheduleV2` event.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The event's name in the template (`Refresh`).
    pub name: String,
    /// `ScheduleV2` (EventBridge Scheduler) or `Schedule` (an EventBridge rule).
    pub kind: ScheduleKind,
    /// The `ScheduleExpression`, unresolved (`!Ref RefreshSchedule`).
    pub expression: Yaml,
    /// `Input`: the JSON text the target receives instead of the default event.
    pub input: Option<Yaml>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// EventBridge Scheduler.
    Scheduler,
    /// An EventBridge rule (`Type: Schedule`).
    Rule,
}

fn get<'a>(v: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    v.as_mapping()?.get(key)
}

fn string(v: Option<&Yaml>) -> Option<String> {
    v.and_then(Yaml::as_str).map(str::to_owned)
}

impl Template {
    pub fn load(path: &Path) -> anyhow::Result<Template> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Template::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Template> {
        let doc: Yaml = serde_norway::from_str(text)?;
        if get(&doc, "Resources").and_then(Yaml::as_mapping).is_none() {
            bail!("no Resources");
        }
        Ok(Template { doc })
    }

    fn resources(&self) -> impl Iterator<Item = (String, &Yaml)> {
        get(&self.doc, "Resources")
            .and_then(Yaml::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v)))
    }

    /// The logical ids of the resources of `ty`.
    pub fn resources_of_type(&self, ty: &str) -> Vec<(String, &Yaml)> {
        self.resources()
            .filter(|(_, r)| get(r, "Type").and_then(Yaml::as_str) == Some(ty))
            .collect()
    }

    /// The type of resource `logical_id`.
    pub fn resource_type(&self, logical_id: &str) -> Option<String> {
        self.resources()
            .find(|(id, _)| id == logical_id)
            .and_then(|(_, r)| string(get(r, "Type")))
    }

    /// `Parameters.<name>.Default`, as a string.
    pub fn parameter_default(&self, name: &str) -> Option<Option<String>> {
        let p = get(&self.doc, "Parameters")?.as_mapping()?.get(name)?;
        Some(get(p, "Default").map(scalar_string))
    }

    /// Every serverless function, with its routes and schedules.
    pub fn functions(&self) -> anyhow::Result<Vec<Function>> {
        let globals = get(&self.doc, "Globals").and_then(|g| get(g, "Function"));
        let global_env = globals
            .and_then(|g| get(g, "Environment"))
            .and_then(|e| get(e, "Variables"));
        let global_timeout = globals
            .and_then(|g| get(g, "Timeout"))
            .and_then(Yaml::as_u64);
        let global_memory = globals
            .and_then(|g| get(g, "MemorySize"))
            .and_then(Yaml::as_u64);
        let mut out = Vec::new();
        for (id, r) in self.resources_of_type("AWS::Serverless::Function") {
            let props = get(r, "Properties").with_context(|| format!("{id}: no Properties"))?;
            let binary = get(r, "Metadata")
                .and_then(|m| get(m, "BuildProperties"))
                .and_then(|b| string(get(b, "Binary")))
                .with_context(|| format!("{id}: no Metadata.BuildProperties.Binary"))?;
            let mut environment = BTreeMap::new();
            let own_env = get(props, "Environment").and_then(|e| get(e, "Variables"));
            for vars in [global_env, own_env].into_iter().flatten() {
                for (k, v) in vars.as_mapping().into_iter().flatten() {
                    let k = k
                        .as_str()
                        .with_context(|| format!("{id}: a variable name"))?;
                    environment.insert(k.to_owned(), v.clone());
                }
            }
            let timeout = get(props, "Timeout")
                .and_then(Yaml::as_u64)
                .or(global_timeout)
                .unwrap_or(3);
            let memory_mb = get(props, "MemorySize")
                .and_then(Yaml::as_u64)
                .or(global_memory)
                .unwrap_or(128);
            let mut routes = Vec::new();
            let mut schedules = Vec::new();
            for (name, event) in get(props, "Events")
                .and_then(Yaml::as_mapping)
                .into_iter()
                .flatten()
            {
                let name = name.as_str().unwrap_or_default().to_owned();
                let ep = get(event, "Properties");
                match get(event, "Type").and_then(Yaml::as_str) {
                    Some("HttpApi") => {
                        let ep = ep.with_context(|| format!("{id}.{name}: no Properties"))?;
                        let method = string(get(ep, "Method"))
                            .with_context(|| format!("{id}.{name}: no Method"))?;
                        let path = string(get(ep, "Path"))
                            .with_context(|| format!("{id}.{name}: no Path"))?;
                        let method = match method.to_ascii_uppercase().as_str() {
                            "*" | "X-AMAZON-APIGATEWAY-ANY-METHOD" => "ANY".to_owned(),
                            m => m.to_owned(),
                        };
                        routes.push(Route { method, path });
                    }
                    Some(t @ ("Schedule" | "ScheduleV2")) => {
                        let ep = ep.with_context(|| format!("{id}.{name}: no Properties"))?;
                        let expression = get(ep, "Schedule")
                            .or_else(|| get(ep, "ScheduleExpression"))
                            .cloned()
                            .with_context(|| format!("{id}.{name}: no ScheduleExpression"))?;
                        schedules.push(Schedule {
                            name,
                            kind: if t == "ScheduleV2" {
                                ScheduleKind::Scheduler
                            } else {
                                ScheduleKind::Rule
                            },
                            expression,
                            input: get(ep, "Input").cloned(),
                        });
                    }
                    Some(other) => bail!("{id}.{name}: event type {other} has no local stand-in"),
                    None => bail!("{id}.{name}: no Type"),
                }
            }
            out.push(Function {
                logical_id: id,
                binary,
                timeout: Duration::from_secs(timeout),
                memory_mb,
                environment,
                routes,
                schedules,
            });
        }
        Ok(out)
    }

    /// The `Properties` of the one `AWS::DynamoDB::Table`, with its logical id.
    pub fn table(&self) -> anyhow::Result<(String, &Yaml)> {
        let mut tables = self.resources_of_type("AWS::DynamoDB::Table");
        if tables.len() != 1 {
            bail!("expected one AWS::DynamoDB::Table, found {}", tables.len());
        }
        let (id, r) = tables.remove(0);
        let props = get(r, "Properties").with_context(|| format!("{id}: no Properties"))?;
        Ok((id, props))
    }

    /// The logical id of the platform secret: the one `AWS::SecretsManager::Secret` without a
    /// `SecretString` (its value is the operator's to set after deployment).
    pub fn secret(&self) -> anyhow::Result<String> {
        let mut secrets: Vec<_> = self
            .resources_of_type("AWS::SecretsManager::Secret")
            .into_iter()
            .filter(|(_, r)| {
                get(r, "Properties")
                    .and_then(|p| get(p, "SecretString"))
                    .is_none()
            })
            .collect();
        if secrets.len() != 1 {
            bail!(
                "expected one AWS::SecretsManager::Secret without a SecretString, found {}",
                secrets.len()
            );
        }
        Ok(secrets.remove(0).0)
    }

    /// The secrets the stack creates with a first value: logical id and `SecretString` (the
    /// notification channels' secret).
    pub fn seeded_secrets(&self) -> Vec<(String, &Yaml)> {
        self.resources_of_type("AWS::SecretsManager::Secret")
            .into_iter()
            .filter_map(|(id, r)| Some((id, get(get(r, "Properties")?, "SecretString")?)))
            .collect()
    }
}

fn scalar_string(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// The local stand-ins intrinsic functions resolve to.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// Parameter values (overrides; otherwise the template's defaults).
    pub parameters: BTreeMap<String, String>,
    /// What `!Ref <logical id>` gives for each resource with a stand-in.
    pub refs: BTreeMap<String, String>,
    /// What `!GetAtt <logical id>.<attribute>` gives.
    pub attributes: BTreeMap<String, String>,
    /// `AWS::Region`, `AWS::StackName`, `AWS::AccountId`, ...
    pub pseudo: BTreeMap<String, String>,
}

impl Resolver {
    fn reference(&self, template: &Template, name: &str) -> anyhow::Result<String> {
        if let Some(v) = self.pseudo.get(name) {
            return Ok(v.clone());
        }
        if let Some(v) = self.parameters.get(name) {
            return Ok(v.clone());
        }
        if let Some(default) = template.parameter_default(name) {
            return default.with_context(|| format!("parameter {name} has no value or Default"));
        }
        if let Some(v) = self.refs.get(name) {
            return Ok(v.clone());
        }
        match template.resource_type(name) {
            Some(ty) => Err(anyhow!(
                "!Ref {name}: the local stack has no stand-in for a {ty}"
            )),
            None => Err(anyhow!("!Ref {name}: no such parameter or resource")),
        }
    }

    fn attribute(&self, target: &str) -> anyhow::Result<String> {
        self.attributes
            .get(target)
            .cloned()
            .with_context(|| format!("!GetAtt {target}: the local stack has no stand-in for it"))
    }

    fn substitute(
        &self,
        template: &Template,
        text: &str,
        vars: &BTreeMap<String, String>,
    ) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            // `${!Literal}` is written as `${Literal}`.
            if let Some(lit) = after.strip_prefix('!') {
                let end = lit.find('}').context("!Sub: unterminated ${!")?;
                out.push_str("${");
                out.push_str(&lit[..=end]);
                rest = &lit[end + 1..];
                continue;
            }
            let end = after.find('}').context("!Sub: unterminated ${")?;
            let name = &after[..end];
            let value = if let Some(v) = vars.get(name) {
                v.clone()
            } else if name.contains('.') && !name.starts_with("AWS::") {
                self.attribute(name)?
            } else {
                self.reference(template, name)?
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `v` with every intrinsic function resolved, as JSON (`None`: `AWS::NoValue`).
    pub fn resolve(&self, template: &Template, v: &Yaml) -> anyhow::Result<Option<Json>> {
        let intrinsic = |name: &str, arg: &Yaml| -> anyhow::Result<Option<Json>> {
            let as_string = |s: String| Ok(Some(Json::String(s)));
            match name {
                "Ref" => {
                    let target = arg.as_str().context("!Ref takes a name")?;
                    if target == "AWS::NoValue" {
                        return Ok(None);
                    }
                    as_string(self.reference(template, target)?)
                }
                "GetAtt" => {
                    let target = match arg {
                        Yaml::String(s) => s.clone(),
                        Yaml::Sequence(parts) => parts
                            .iter()
                            .map(scalar_string)
                            .collect::<Vec<_>>()
                            .join("."),
                        _ => bail!("!GetAtt takes Resource.Attribute"),
                    };
                    as_string(self.attribute(&target)?)
                }
                "Sub" => match arg {
                    Yaml::String(s) => as_string(self.substitute(template, s, &BTreeMap::new())?),
                    Yaml::Sequence(parts) if parts.len() == 2 => {
                        let text = parts[0].as_str().context("!Sub's first item is text")?;
                        let mut vars = BTreeMap::new();
                        for (k, v) in parts[1].as_mapping().into_iter().flatten() {
                            let value = self.resolve(template, v)?.unwrap_or(Json::Null);
                            vars.insert(
                                k.as_str().unwrap_or_default().to_owned(),
                                json_string(&value),
                            );
                        }
                        as_string(self.substitute(template, text, &vars)?)
                    }
                    _ => bail!("!Sub takes text or [text, variables]"),
                },
                "If" => {
                    let parts = arg
                        .as_sequence()
                        .filter(|p| p.len() == 3)
                        .context("!If takes [condition, then, else]")?;
                    let name = parts[0].as_str().context("!If names a condition")?;
                    let branch = if self.condition(template, name)? {
                        &parts[1]
                    } else {
                        &parts[2]
                    };
                    self.resolve(template, branch)
                }
                "Join" => {
                    let parts = arg
                        .as_sequence()
                        .filter(|p| p.len() == 2)
                        .context("!Join takes [separator, list]")?;
                    let sep = parts[0].as_str().unwrap_or("");
                    let list = self.resolve(template, &parts[1])?.unwrap_or(Json::Null);
                    let items: Vec<String> = list
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(json_string)
                        .collect();
                    as_string(items.join(sep))
                }
                "Select" => {
                    let parts = arg
                        .as_sequence()
                        .filter(|p| p.len() == 2)
                        .context("!Select takes [index, list]")?;
                    let i: usize = scalar_string(&parts[0])
                        .parse()
                        .context("!Select's index")?;
                    let list = self.resolve(template, &parts[1])?.unwrap_or(Json::Null);
                    Ok(Some(
                        list.get(i)
                            .cloned()
                            .with_context(|| format!("!Select: no item {i}"))?,
                    ))
                }
                "Split" => {
                    let parts = arg
                        .as_sequence()
                        .filter(|p| p.len() == 2)
                        .context("!Split takes [separator, text]")?;
                    let sep = parts[0].as_str().unwrap_or(",");
                    let text = self
                        .resolve_string(template, &parts[1])?
                        .unwrap_or_default();
                    Ok(Some(Json::Array(
                        text.split(sep)
                            .map(|p| Json::String(p.to_owned()))
                            .collect(),
                    )))
                }
                other => bail!("intrinsic function {other} has no local stand-in"),
            }
        };
        Ok(Some(match v {
            Yaml::Null => Json::Null,
            Yaml::Bool(b) => Json::Bool(*b),
            Yaml::Number(n) => serde_json::to_value(n)?,
            Yaml::String(s) => Json::String(s.clone()),
            Yaml::Sequence(items) => {
                let mut out = Vec::new();
                for i in items {
                    if let Some(j) = self.resolve(template, i)? {
                        out.push(j);
                    }
                }
                Json::Array(out)
            }
            Yaml::Mapping(m) => {
                // The long forms: {Ref: X}, {Fn::Sub: ...}, {Fn::GetAtt: [...]}.
                if m.len() == 1 {
                    let (k, arg) = m.iter().next().expect("one entry");
                    if let Some(k) = k.as_str() {
                        if k == "Ref" {
                            return intrinsic("Ref", arg);
                        }
                        if let Some(name) = k.strip_prefix("Fn::") {
                            return intrinsic(name, arg);
                        }
                    }
                }
                let mut out = Map::new();
                for (k, v) in m {
                    if let Some(j) = self.resolve(template, v)? {
                        out.insert(scalar_string(k), j);
                    }
                }
                Json::Object(out)
            }
            Yaml::Tagged(t) => {
                let tag = t.tag.to_string();
                return intrinsic(tag.trim_start_matches('!'), &t.value);
            }
        }))
    }

    /// Whether the template's condition `name` holds (`!Equals`, `!Not`, `!And`, `!Or`,
    /// `!Condition` over resolved values).
    pub fn condition(&self, template: &Template, name: &str) -> anyhow::Result<bool> {
        let c = get(&template.doc, "Conditions")
            .and_then(|c| get(c, name))
            .with_context(|| format!("no condition {name}"))?;
        self.holds(template, c)
    }

    fn holds(&self, template: &Template, c: &Yaml) -> anyhow::Result<bool> {
        let (tag, arg) = match c {
            Yaml::Tagged(t) => (
                t.tag.to_string().trim_start_matches('!').to_owned(),
                &t.value,
            ),
            Yaml::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().expect("one entry");
                let k = k.as_str().unwrap_or_default();
                (k.strip_prefix("Fn::").unwrap_or(k).to_owned(), v)
            }
            _ => bail!("a condition is an intrinsic function"),
        };
        let items = || arg.as_sequence().map(|s| s.as_slice()).unwrap_or_default();
        Ok(match tag.as_str() {
            "Equals" => {
                let v: Vec<_> = items()
                    .iter()
                    .map(|i| self.resolve(template, i))
                    .collect::<Result<_, _>>()?;
                v.len() == 2 && v[0] == v[1]
            }
            "Not" => !self.holds(template, items().first().context("!Not takes [condition]")?)?,
            "And" => items().iter().try_fold(true, |acc, i| {
                Ok::<_, anyhow::Error>(acc && self.holds(template, i)?)
            })?,
            "Or" => items().iter().try_fold(false, |acc, i| {
                Ok::<_, anyhow::Error>(acc || self.holds(template, i)?)
            })?,
            "Condition" => {
                self.condition(template, arg.as_str().context("!Condition names one")?)?
            }
            other => bail!("condition function {other} has no local stand-in"),
        })
    }

    /// `v` resolved to the string an environment variable holds.
    pub fn resolve_string(&self, template: &Template, v: &Yaml) -> anyhow::Result<Option<String>> {
        Ok(self.resolve(template, v)?.map(|j| json_string(&j)))
    }
}

/// A JSON value as CloudFormation turns it into a string (numbers and booleans as written).
fn json_string(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// `rate(5 minutes)` as a period. Cron expressions have no local stand-in yet.
pub fn rate(expression: &str) -> anyhow::Result<Duration> {
    let inner = expression
        .trim()
        .strip_prefix("rate(")
        .and_then(|s| s.strip_suffix(')'))
        .with_context(|| format!("{expression}: only rate(...) schedules run locally"))?;
    let (n, unit) = inner
        .trim()
        .split_once(' ')
        .with_context(|| format!("{expression}: rate(<n> <unit>)"))?;
    let n: u64 = n
        .parse()
        .with_context(|| format!("{expression}: a number"))?;
    let secs = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        other => bail!("{expression}: unit {other}"),
    };
    Ok(Duration::from_secs(n * secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        Route {
            method: method.into(),
            path: path.into(),
        }
    }

    #[test]
    fn routes_match_as_api_gateway_matches_them() {
        let r = route("POST", "/wechat/apps/{appid}");
        assert_eq!(
            r.matches("POST", "/wechat/apps/wx1").unwrap()["appid"],
            "wx1"
        );
        assert!(r.matches("GET", "/wechat/apps/wx1").is_none());
        assert!(r.matches("POST", "/wechat/apps/wx1/x").is_none());
        assert!(r.matches("POST", "/wechat/apps/").is_none());
        let p = route("ANY", "/ops/{proxy+}");
        assert_eq!(p.matches("DELETE", "/ops/a/b").unwrap()["proxy"], "a/b");
        assert!(p.matches("GET", "/ops").is_none());
        assert!(p.matches("GET", "/ops/").is_none());
        assert!(route("GET", "/console")
            .matches("GET", "/console/")
            .is_none());
        assert!(route("GET", "/console").specificity() > route("ANY", "/{proxy+}").specificity());
    }

    #[test]
    fn intrinsic_functions_resolve_to_the_local_stand_ins_and_unknown_ones_are_named() {
        let t = Template::parse(
            "Parameters:\n  P:\n    Type: String\n    Default: d\nConditions:\n  HasP: !Not [!Equals [!Ref P, '']]\n  NoP: !Or [!Equals [!Ref P, x], !Not [!Condition HasP]]\nResources:\n  T:\n    Type: AWS::DynamoDB::Table\n  Q:\n    Type: AWS::SQS::Queue\n",
        )
        .unwrap();
        let mut r = Resolver::default();
        r.refs.insert("T".into(), "table-1".into());
        r.attributes.insert("T.Arn".into(), "arn:t".into());
        r.pseudo.insert("AWS::Region".into(), "us-east-1".into());
        let y = |s: &str| serde_norway::from_str::<Yaml>(s).unwrap();
        let s = |v: &str| r.resolve_string(&t, &y(v)).unwrap().unwrap();
        assert_eq!(s("!Ref T"), "table-1");
        assert_eq!(s("!Ref P"), "d");
        assert_eq!(s("!GetAtt T.Arn"), "arn:t");
        assert_eq!(s("{'Fn::GetAtt': [T, Arn]}"), "arn:t");
        assert_eq!(
            s("!Sub '${T.Arn}/index/${P}-${AWS::Region}'"),
            "arn:t/index/d-us-east-1"
        );
        assert_eq!(s("!Sub ['${X}!', {X: !Ref T}]"), "table-1!");
        assert_eq!(s("'16'"), "16");
        assert!(r.resolve(&t, &y("!Ref AWS::NoValue")).unwrap().is_none());
        assert_eq!(s("!If [HasP, yes, no]"), "yes");
        assert_eq!(s("!If [NoP, yes, no]"), "no");
        assert_eq!(s("!Join ['-', [a, !Ref P]]"), "a-d");
        assert_eq!(
            s("!Select [2, !Split ['/', 'https://h.example/x']]"),
            "h.example"
        );
        let e = r.resolve(&t, &y("!Ref Q")).unwrap_err().to_string();
        assert!(e.contains("AWS::SQS::Queue"), "{e}");
        let mut with = r.clone();
        with.parameters.insert("P".into(), "given".into());
        assert_eq!(
            with.resolve_string(&t, &y("!Ref P")).unwrap().unwrap(),
            "given"
        );
    }

    #[test]
    fn rates_are_read_and_cron_is_refused() {
        assert_eq!(rate("rate(1 minute)").unwrap(), Duration::from_secs(60));
        assert_eq!(rate("rate(5 minutes)").unwrap(), Duration::from_secs(300));
        assert!(rate("cron(0 * * * ? *)").is_err());
    }
}
