# Short names for dsim's everyday commands. `just` is optional: each recipe is one plain
# cargo command you can also type yourself.

dsim := "cargo run --release --quiet --"

# Run one scenario with its report (in reports/<name>/seed-<N>/): just run scenarios/kafka/acks1-leader-crash.toml 1
run scenario seed="1":
    {{dsim}} run {{scenario}} --seed {{seed}}

# Every test in the workspace.
test:
    cargo test --release

# The catalogue's expectations (what CI runs).
check dir="scenarios":
    {{dsim}} check {{dir}}

# A long sweep, e.g. to back a docs claim: just sweep scenarios/quorum/nwr-strict.toml 1..500
sweep scenario seeds="1..200":
    {{dsim}} sweep {{scenario}} --seeds {{seeds}}

# Criterion benchmarks (event queue, engine loop).
bench:
    cargo bench -p dsim-core --bench queue
    cargo bench -p dsim-bench-models --bench engine

fmt:
    cargo fmt --all

clippy:
    cargo clippy --release --workspace --all-targets -- -D warnings

# Everything CI runs.
ci:
    bash .ci/run
