//! template.yaml and the functions agree, both ways:
//! - every route a function answers is a route of the template that reaches that function, and
//!   every template route reaches a route its function answers: read from the source (axum
//!   `.route("…", get(…))` declarations, or paths matched by hand: `== "/…"`,
//!   `strip_prefix("/…/")`), and then, with the stack running, each template route asked
//!   through the front is answered by its function, not by anyone's "no such route";
//! - every environment variable a function's code reads is set by its template entry.

mod support;

use lambda_stack::template::{Function, Route, Template};
use std::collections::BTreeSet;
use std::path::PathBuf;
use support::{http, repo};

/// A route a function answers, from its source: method (`ANY` when matched by hand or with
/// `any(…)`) and path in API Gateway's spelling (`{name}`, greedy `{name+}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Answered {
    method: String,
    path: String,
}

impl Answered {
    /// A concrete path for it: `{appid}` becomes an appid, a greedy tail two segments.
    fn sample(&self) -> String {
        self.path
            .split('/')
            .map(|s| {
                if s.ends_with("+}") {
                    "a/b".to_owned()
                } else if s.starts_with('{') {
                    "wx0123456789abcdef".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The crate directory and the entry file of `binary`.
fn crate_of(binary: &str) -> (PathBuf, PathBuf) {
    let functions = repo().join("functions");
    for entry in std::fs::read_dir(&functions).unwrap() {
        let dir = entry.unwrap().path();
        let bin = dir.join("src/bin").join(format!("{binary}.rs"));
        if bin.is_file() {
            return (dir, bin);
        }
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if manifest.contains(&format!("name = \"{binary}\"")) {
            return (dir.clone(), dir.join("src/main.rs"));
        }
    }
    panic!("no crate under functions/ builds binary {binary}");
}

/// The sources `binary` is built from: its crate's library and modules, its own entry file
/// (not the crate's other binaries).
fn sources(binary: &str) -> Vec<(PathBuf, String)> {
    let (dir, entry) = crate_of(binary);
    let mut out = Vec::new();
    let mut stack = vec![dir.join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "bin") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs")
                && (p.file_name().is_some_and(|n| n != "main.rs") || p == entry)
            {
                out.push((p.clone(), std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.push((entry.clone(), std::fs::read_to_string(&entry).unwrap()));
    out.sort();
    out.dedup();
    out
}

/// The text inside the parentheses opening at `open` (which is just past a `(`).
fn args(text: &str, open: usize) -> &str {
    let bytes = text.as_bytes();
    let (mut depth, mut end) = (1, open);
    while depth > 0 && end < bytes.len() {
        match bytes[end] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ => {}
        }
        end += 1;
    }
    &text[open..end.saturating_sub(1)]
}

fn first_literal(s: &str) -> Option<&str> {
    let q1 = s.find('"')? + 1;
    let q2 = q1 + s[q1..].find('"')?;
    Some(&s[q1..q2])
}

/// axum's path syntax in API Gateway's: `{*rest}` is `{rest+}`.
fn gateway_path(p: &str) -> String {
    p.split('/')
        .map(|s| match s.strip_prefix("{*") {
            Some(name) => format!("{{{}+}}", name.trim_end_matches('}')),
            None => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The routes `binary` answers, from its source.
fn answered(binary: &str) -> BTreeSet<Answered> {
    let mut out = BTreeSet::new();
    for (_, src) in sources(binary) {
        // axum: .route("/path", get(a).post(b)); a handler that only says "no such route"
        // answers nothing.
        let mut from = 0;
        while let Some(at) = src[from..].find(".route(") {
            let open = from + at + ".route(".len();
            let a = args(&src, open);
            from = open;
            let Some(path) = first_literal(a) else {
                continue;
            };
            let handlers = &a[a.find(path).unwrap() + path.len() + 1..];
            if handlers.contains("not_found") {
                continue;
            }
            let mut methods: Vec<&str> = ["get", "post", "put", "delete", "patch"]
                .into_iter()
                .filter(|m| {
                    handlers.contains(&format!("{m}(")) || handlers.contains(&format!(".{m}("))
                })
                .collect();
            if handlers.contains("any(") || methods.is_empty() {
                methods = vec!["any"];
            }
            for m in methods {
                out.insert(Answered {
                    method: m.to_ascii_uppercase(),
                    path: gateway_path(path),
                });
            }
        }
        // By hand: `path == "/x"` and `strip_prefix("/x/")` (the rest: one parameter).
        for (pattern, param) in [("== \"/", false), ("strip_prefix(\"/", true)] {
            let mut from = 0;
            while let Some(at) = src[from..].find(pattern) {
                let start = from + at + pattern.len() - 1;
                let end = start + src[start..].find('"').unwrap();
                from = end;
                let literal = &src[start..end];
                let path = if param {
                    format!("{literal}{{param}}")
                } else {
                    literal.to_owned()
                };
                out.insert(Answered {
                    method: "ANY".into(),
                    path,
                });
            }
        }
    }
    out
}

fn template() -> Vec<Function> {
    Template::load(&repo().join("template.yaml"))
        .unwrap()
        .functions()
        .unwrap()
}

/// The template route the front picks for `method path`, and its function.
fn picked<'a>(fns: &'a [Function], method: &str, path: &str) -> Option<(&'a Function, &'a Route)> {
    fns.iter()
        .flat_map(|f| f.routes.iter().map(move |r| (f, r)))
        .filter(|(_, r)| r.matches(method, path).is_some())
        .max_by_key(|(_, r)| r.specificity())
}

#[test]
fn every_route_a_function_answers_reaches_it_and_every_template_route_is_answered() {
    let fns = template();
    let http_fns: Vec<&Function> = fns.iter().filter(|f| !f.routes.is_empty()).collect();
    assert!(http_fns.len() >= 3, "the template's HTTP functions");
    for f in &http_fns {
        let answered = answered(&f.binary);
        assert!(
            !answered.is_empty(),
            "{}: no route found in its source",
            f.binary
        );
        // Function -> template: the front sends each to this function.
        for a in &answered {
            let methods: Vec<&str> = if a.method == "ANY" {
                f.routes
                    .iter()
                    .map(|r| {
                        if r.method == "ANY" {
                            "GET"
                        } else {
                            r.method.as_str()
                        }
                    })
                    .collect()
            } else {
                vec![a.method.as_str()]
            };
            let reached = methods.iter().any(|m| {
                picked(&fns, m, &a.sample()).is_some_and(|(g, _)| g.logical_id == f.logical_id)
            });
            assert!(
                reached,
                "{} answers {} {} but no template route sends it there",
                f.binary, a.method, a.path
            );
        }
        // Template -> function: each route covers something the function answers.
        for r in &f.routes {
            let covered = answered.iter().any(|a| {
                let m = if r.method == "ANY" {
                    "GET"
                } else {
                    r.method.as_str()
                };
                (a.method == "ANY" || r.method == "ANY" || a.method == r.method)
                    && r.matches(m, &a.sample()).is_some()
            });
            assert!(
                covered,
                "template route {} of {} is answered by no route of the function",
                r.key(),
                f.binary
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_template_route_asked_through_the_front_is_answered_by_its_function() {
    let Some(stack) = support::stack().await else {
        return;
    };
    let fns = template();
    let c = http();
    let mut asked = 0;
    for f in fns.iter().filter(|f| !f.routes.is_empty()) {
        let answered = answered(&f.binary);
        for r in &f.routes {
            let method = if r.method == "ANY" {
                "GET"
            } else {
                r.method.as_str()
            };
            // A concrete path the route covers and the function declares.
            let path = answered
                .iter()
                .map(Answered::sample)
                .find(|p| r.matches(method, p).is_some())
                .unwrap_or_else(|| panic!("{}: no sample", r.key()));
            let before = stack.invocations()[&f.binary];
            let resp = c
                .request(method.parse().unwrap(), format!("{}{path}", stack.base_url))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            assert_eq!(
                stack.invocations()[&f.binary],
                before + 1,
                "{method} {path} ({}) reached {}",
                r.key(),
                f.binary
            );
            assert!(
                status != 404 && status != 405,
                "{method} {path} ({}): {} answered {status} {body}",
                r.key(),
                f.binary
            );
            asked += 1;
        }
    }
    let routes: usize = fns.iter().map(|f| f.routes.len()).sum();
    assert!(routes >= 7, "the template's routes: {routes}");
    assert_eq!(asked, routes);
}

/// Environment variable names read in `src`, if it reads the environment at all: the
/// `WXOPEN_*`, `RUST_LOG` and `AWS_LAMBDA_*` string literals of a file that calls
/// `env::var` (directly or through a helper defined there).
fn env_names(src: &str) -> BTreeSet<String> {
    let reads = src.contains("env::var") || src.contains("optional_env(");
    let mut out = BTreeSet::new();
    if !reads {
        return out;
    }
    for part in src.split('"').skip(1).step_by(2) {
        let name_like = !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if name_like
            && (part.starts_with("WXOPEN_")
                || part == "RUST_LOG"
                || part.starts_with("AWS_LAMBDA_"))
        {
            out.insert(part.to_owned());
        }
    }
    out
}

/// Variables a function may read that its template entry rightly leaves unset.
fn unset_on_purpose(binary: &str, name: &str) -> bool {
    // Lambda's own (its logging configuration sets AWS_LAMBDA_LOG_LEVEL and _FORMAT).
    name.starts_with("AWS_")
        // Only for a stack talking to a WeChat simulator (VpcMode none): runtime.rs.
        || name == "WXOPEN_WECHAT_BASE_URL"
        // Read by audit-actions' main for its Deps, but only the batch runner works batches.
        || (binary == "audit-actions" && name == "WXOPEN_BATCH_CONCURRENCY")
        // Read by runtime.rs's notifier, which only audit-actions and the batch runner build (the
        // others write the notification outbox and deliver nothing).
        || (matches!(name, "WXOPEN_NOTIFY_TOPIC_ARN" | "WXOPEN_NOTIFY_SECRET_ID")
            && !matches!(binary, "audit-actions" | "batch-runner"))
}

#[test]
fn every_variable_a_function_reads_is_set_by_its_template_entry() {
    let runtime = std::fs::read_to_string(repo().join("shared/src/runtime.rs")).unwrap();
    let shared = env_names(&runtime);
    assert!(
        shared.contains("WXOPEN_TABLE") && shared.contains("WXOPEN_SECRET_ID"),
        "{shared:?}"
    );
    let mut checked = 0;
    for f in template() {
        let mut read = shared.clone();
        for (_, src) in sources(&f.binary) {
            read.extend(env_names(&src));
        }
        for name in &read {
            if unset_on_purpose(&f.binary, name) {
                continue;
            }
            assert!(
                f.environment.contains_key(name),
                "{} reads {name}, which its template entry ({}) does not set",
                f.binary,
                f.logical_id
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} variables checked");
}
