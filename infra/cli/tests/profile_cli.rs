//! `wxopen profile show|set` and `wxopen categories list|add|delete` against wxopen-local and the
//! simulator, run as an operator runs them: a fresh mini program made ready for its first audit.

mod support;

use support::wxopen_as_operator as wxopen;

use wxopen_local::testing::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sets_up_a_fresh_mini_programs_profile_from_the_cli() {
    let app = spawn_app().await;
    let sim = &app.local.sim;
    let appid = app.mini_program("x");
    sim.authorize(&appid, &[17, 18, 30]).await.unwrap();
    sim.blank_profile(&appid);
    let a = appid.as_str();

    let shown = wxopen(&app, &["profile", "show", a]).await;
    assert!(
        shown
            .ok()
            .contains("a first audit still needs: name, avatar, signature, approved_category"),
        "{}",
        shown.stdout
    );

    let dir = tempfile::tempdir().unwrap();
    let avatar = dir.path().join("avatar.png");
    std::fs::write(&avatar, b"\x89PNG\r\n\x1a\n an avatar").unwrap();
    let set = wxopen(
        &app,
        &[
            "profile",
            "set",
            a,
            "--name",
            "模拟小店",
            "--avatar",
            avatar.to_str().unwrap(),
            "--signature",
            "一家模拟的小店",
            "--search",
            "off",
        ],
    )
    .await;
    let out = set.ok();
    assert!(
        out.contains("name: set") && out.contains("avatar: set"),
        "{out}"
    );
    assert!(out.contains("search: hidden"), "{out}");

    let listed = wxopen(&app, &["categories", "list", "--appid", a]).await;
    assert!(listed.ok().contains("666 备忘录"), "{}", listed.stdout);
    let added = wxopen(
        &app,
        &["categories", "add", a, "--first", "150", "--second", "666"],
    )
    .await;
    assert!(
        added.ok().contains("added category 150/666: set"),
        "{}",
        added.stdout
    );

    let shown = wxopen(&app, &["profile", "show", a]).await;
    let out = shown.ok();
    assert!(out.contains("name:      模拟小店"), "{out}");
    assert!(out.contains("category:  150/666"), "{out}");
    assert!(out.contains("complete for a first audit"), "{out}");

    // A refusal names the fields, exit code 1, WeChat not asked.
    let bad = wxopen(&app, &["profile", "set", a, "--signature", "ab"]).await;
    assert_ne!(bad.code, Some(0));
    assert!(
        bad.stderr.contains("invalid_profile") || bad.stderr.contains("signature"),
        "{}",
        bad.stderr
    );

    let deleted = wxopen(
        &app,
        &[
            "categories",
            "delete",
            a,
            "--first",
            "150",
            "--second",
            "666",
        ],
    )
    .await;
    assert!(
        deleted.ok().contains("deleted category 150/666"),
        "{}",
        deleted.stdout
    );
    let shown = wxopen(&app, &["profile", "show", a]).await;
    assert!(
        shown
            .ok()
            .contains("a first audit still needs: approved_category"),
        "{}",
        shown.stdout
    );
}
