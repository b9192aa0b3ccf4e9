//! Benchmarks of the scope engine's hot paths (`authx::scopes`) on pre-parsed values, plus the
//! set operations the server runs when issuing tokens. Targets: `covers` ≤ 100 ns, `allows`
//! over 100 access patterns ≤ 5 µs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use authx::scopes::{Scope, ScopeSet};
use criterion::{Criterion, criterion_group, criterion_main};

fn scope(s: &str) -> Scope {
    s.parse().unwrap()
}

/// A deterministic, uuid-looking id (hex groups joined with `-`, allowed in segments).
fn uuid_like(i: u64) -> String {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5f9c_2a1e_7b3d_4c1a;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        x >> 32,
        (x >> 16) & 0xffff,
        x & 0xffff,
        (x >> 48) & 0xffff,
        x & 0xffff_ffff_ffff
    )
}

/// 100 access patterns like those of real roles, the interesting one last.
fn access_set() -> ScopeSet {
    let mut v: Vec<String> = (0..99)
        .map(|i| match i % 4 {
            0 => format!("AuthX:role.{}:read", uuid_like(i)),
            1 => format!("AuthX:client.{}:update.*", uuid_like(i)),
            2 => format!("App{i}:**:read"),
            _ => format!("AuthX:grant.{}.user:*", uuid_like(i)),
        })
        .collect();
    v.push("AuthX:role.*:update.**".to_owned());
    ScopeSet::parse(v).unwrap()
}

fn deny_set() -> ScopeSet {
    let v: Vec<String> = (0..10)
        .map(|i| format!("AuthX:role.{}:update.**", uuid_like(1000 + i)))
        .collect();
    ScopeSet::parse(v).unwrap()
}

fn set_of(n: u64, salt: u64) -> ScopeSet {
    let v: Vec<String> = (0..n)
        .map(|i| match (i + salt) % 5 {
            0 => format!("AuthX:role.{}:*", uuid_like(i % 7)),
            1 => format!(
                "AuthX:role.*:update.{}",
                ["scopes", "assignments"][(i % 2) as usize]
            ),
            2 => format!("AuthX:**.r{}:read", i % 3),
            3 => format!("App{}:*.**:*", i % 4),
            _ => format!("AuthX:grant.{}.**:*", uuid_like(i % 5)),
        })
        .collect();
    ScopeSet::parse(v).unwrap()
}

fn benches(c: &mut Criterion) {
    let pattern = scope("AuthX:role.*:update.**");
    let concrete = scope(&format!("AuthX:role.{}:update.scopes", uuid_like(1)));
    c.bench_function("covers/concrete", |b| {
        b.iter(|| black_box(&pattern).covers(black_box(&concrete)))
    });

    let wide = scope("AuthX:*.**:update.*.**");
    let narrow = scope("AuthX:**.admin:update.**.scopes");
    assert!(wide.covers(&narrow));
    c.bench_function("covers/wildcards_both_sides", |b| {
        b.iter(|| black_box(&wide).covers(black_box(&narrow)))
    });

    let access = access_set();
    let deny = deny_set();
    assert!(access.allows(&deny, &concrete));
    c.bench_function("allows/100_access_10_deny", |b| {
        b.iter(|| black_box(&access).allows(black_box(&deny), black_box(&concrete)))
    });

    let a = set_of(20, 0);
    let b20 = set_of(20, 2);
    c.bench_function("intersect/20x20", |b| {
        b.iter(|| black_box(&a).intersect(black_box(&b20)).unwrap())
    });

    let many = ScopeSet::from_iter(
        set_of(100, 0)
            .into_iter()
            .chain(access_set().into_iter().take(100)),
    );
    assert_eq!(many.len(), 200);
    c.bench_function("simplify/200", |b| b.iter(|| black_box(&many).simplify()));
}

criterion_group!(scopes, benches);
criterion_main!(scopes);
