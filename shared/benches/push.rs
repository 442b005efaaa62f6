//! Verify + decrypt + parse of a `component_verify_ticket` push: the ticket Lambda's hot path.
//! Target on the 2-core CI machine: <= 2 µs per push. `infra/bench/compare.sh` runs this and
//! wechatpy on the same push and prints both figures.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use wxopen::crypto::MsgCrypt;
use wxopen::events::{open_push, ComponentEvent, PushQuery};

#[derive(serde::Deserialize)]
struct Push {
    token: String,
    encoding_aes_key: String,
    appid: String,
    timestamp: String,
    nonce: String,
    msg_signature: String,
    body: String,
}

/// The recorded ticket push (`tests/fixtures/bench/ticket_push.json`) and its platform's crypt.
fn load_push() -> (Push, MsgCrypt) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/bench/ticket_push.json"
    );
    let push: Push = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let crypt = MsgCrypt::new(&push.token, &push.encoding_aes_key, &push.appid).unwrap();
    (push, crypt)
}

fn ticket_push(c: &mut Criterion) {
    let (push, crypt) = load_push();
    let q = PushQuery {
        msg_signature: push.msg_signature,
        timestamp: push.timestamp,
        nonce: push.nonce,
    };
    // Sanity: the benched path really yields a ticket.
    let xml = open_push(&crypt, push.body.as_bytes(), &q).unwrap();
    assert!(matches!(
        ComponentEvent::parse(&xml).unwrap(),
        ComponentEvent::VerifyTicket { .. }
    ));
    c.bench_function("ticket_push_verify_decrypt_parse", |b| {
        b.iter(|| {
            let xml = open_push(&crypt, black_box(push.body.as_bytes()), black_box(&q)).unwrap();
            black_box(ComponentEvent::parse(&xml).unwrap())
        })
    });
}

/// The same path stage by stage, to see where the time goes.
fn stages(c: &mut Criterion) {
    let (push, crypt) = load_push();
    let env = wxopen::events::Envelope::parse(push.body.as_bytes()).unwrap();
    let xml = crypt.decrypt(&env.encrypt).unwrap();
    let mut g = c.benchmark_group("stage");
    g.bench_function("envelope_parse", |b| {
        b.iter(|| wxopen::events::Envelope::parse(black_box(push.body.as_bytes())).unwrap())
    });
    g.bench_function("verify_signature", |b| {
        b.iter(|| {
            crypt
                .verify(
                    black_box(&push.msg_signature),
                    &push.timestamp,
                    &push.nonce,
                    &env.encrypt,
                )
                .unwrap()
        })
    });
    g.bench_function("decrypt", |b| {
        b.iter(|| crypt.decrypt(black_box(&env.encrypt)).unwrap())
    });
    g.bench_function("event_parse", |b| {
        b.iter(|| ComponentEvent::parse(black_box(&xml)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, ticket_push, stages);
criterion_main!(benches);
