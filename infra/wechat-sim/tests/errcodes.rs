//! The README's errcode table is complete: every errcode the simulator's API answers (each
//! `WxErr::new(code, …)` or `WxErr(code, …)` in `src/api.rs`, `src/services.rs`, `src/icp.rs` and `src/account.rs`) has a row,
//! and every row names a code it answers.

use std::collections::BTreeSet;

fn answered() -> BTreeSet<i64> {
    let sources = [
        include_str!("../src/api.rs"),
        include_str!("../src/services.rs"),
        include_str!("../src/icp.rs"),
        include_str!("../src/account.rs"),
    ];
    let mut codes = BTreeSet::new();
    for (src, marker) in sources
        .iter()
        .flat_map(|s| ["WxErr::new(", "WxErr("].map(|m| (*s, m)))
    {
        let mut rest = src;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let arg = rest.trim_start();
            let end = arg
                .char_indices()
                .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && *c == '-')))
                .map_or(arg.len(), |(i, _)| i);
            if let Ok(code) = arg[..end].parse::<i64>() {
                codes.insert(code);
            }
        }
    }
    codes
}

fn tabled() -> BTreeSet<i64> {
    let readme = include_str!("../README.md");
    let section = readme
        .split("## Errcodes")
        .nth(1)
        .expect("an Errcodes section")
        .split("\n## ")
        .next()
        .unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| code"))
        .flat_map(|l| {
            l.split('|')
                .nth(1)
                .unwrap()
                .split('/')
                .filter_map(|c| c.trim().parse::<i64>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_answered_errcode_has_a_row_and_every_row_is_answered() {
    let answered = answered();
    let tabled = tabled();
    assert!(answered.len() > 40, "the scan found {answered:?}");
    let missing: Vec<_> = answered.difference(&tabled).collect();
    let stale: Vec<_> = tabled.difference(&answered).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "answered but not in the README table: {missing:?}; in the table but never answered: {stale:?}"
    );
}
