//! Criterion micro benchmark of routing's duplicate comparison: one new report against the
//! earlier reports its scan returns (same category, inside the 500 m box), as
//! [`best_matches`] does for every received report. The texts and points are shaped like the
//! load generator's (`crates/loadgen`): a five-word title, a 28-word body, points spread evenly.
//! 84 neighbours is what a report met at the end of a full `make bench` (276,000 reports over
//! Bontang's 16.6 km x 16.6 km in twelve categories: 23,000 per category, 1/275 of the area in
//! the box); 12 what it meets in a two-minute run. `cargo bench -p lapor-routing`.
#![allow(clippy::unwrap_used)] // a benchmark fails loudly

use criterion::{Criterion, criterion_group, criterion_main};
use lapor_routing::duplicates::{DuplicateSpec, Report, best_matches};
use std::hint::black_box;

/// A pseudo-random stream (xorshift), as the load generator's.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

struct Owned {
    title: String,
    body: String,
    point: (f64, f64),
}

/// Report `i`: loadgen's words, a point inside the 1 km box around (0.1337, 117.4917).
fn report(i: u64) -> Owned {
    let mut next = rng(i + 1);
    let mut word = || {
        let n = 4 + (next() % 6) as usize;
        let w: String = (0..n).map(|_| char::from(b'a' + (next() % 26) as u8)).collect();
        w
    };
    let title: Vec<String> = (0..5).map(|_| word()).collect();
    let body: Vec<String> = (0..28).map(|_| word()).collect();
    let mut next = rng(i + 1_000_003);
    // +-0.0045 degrees: the box routing's scan reads for 500 m at Bontang's latitude.
    let off = |n: u64| (n % 9_001) as f64 / 1_000_000.0 - 0.0045;
    Owned {
        title: format!("Laporan {}", title.join(" ")),
        body: format!("Mohon ditindaklanjuti: {}.", body.join(" ")),
        point: (0.1337 + off(next()), 117.4917 + off(next())),
    }
}

fn view(r: &Owned) -> Report<'_> {
    Report {
        title: &r.title,
        body: &r.body,
        point: Some(r.point),
    }
}

fn duplicates(c: &mut Criterion) {
    let spec = DuplicateSpec::default();
    let me = report(0);
    for n in [12u64, 84] {
        let others: Vec<Owned> = (1..=n).map(report).collect();
        let found = best_matches(&spec, &view(&me), others.iter().map(view));
        // The box's corners are outside the 500 m circle: most neighbours, not all, are matches.
        assert!(!found.is_empty() && found.len() <= spec.max_candidates as usize);
        c.bench_function(
            &format!("duplicates: a new report against {n} neighbours in its box"),
            |b| {
                b.iter(|| {
                    let found = best_matches(&spec, black_box(&view(&me)), others.iter().map(view));
                    for (_, m) in &found {
                        black_box(m.reason());
                    }
                    found
                });
            },
        );
    }
}

criterion_group!(benches, duplicates);
criterion_main!(benches);
