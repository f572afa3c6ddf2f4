# lapor: developer entry points. `make help` lists them.
SHELL := /bin/bash
# a recipe piped into tee (make bench) fails when its command fails, not only when tee does
.SHELLFLAGS := -o pipefail -c
export CARGO_TARGET_DIR ?= $(HOME)/.cache/lapor/target
export CARGO_INCREMENTAL ?= 1
SERVICES_SH := $(wildcard ../shared/services.sh)

.PHONY: help run test lint fmt build services bench deploy-check

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

services: ## Make sure PostgreSQL and NATS (JetStream) are up on loopback
	@if [ -n "$(SERVICES_SH)" ]; then bash $(SERVICES_SH); else scripts/check-services.sh; fi

build: ## Build every binary
	cargo build --workspace --bins

run: ## Run all five services locally (SQLite state in .lapor/, NATS on 4222) with Bontang seed data
	@scripts/run-local.sh

test: services ## Run every test against the real PostgreSQL and NATS
	cargo test --workspace --no-fail-fast

bench: services ## Benchmarks: whole system vs same-run pgbench and JetStream baselines, duplicate comparison, SLA sweep/recompute, telemetry cost; JSON in $(CARGO_TARGET_DIR)/bench/
	@mkdir -p $(CARGO_TARGET_DIR)/bench
	scripts/bench.sh
	cargo bench -q -p lapor-domain --bench domain -- --noplot 2>&1 | tee $(CARGO_TARGET_DIR)/bench/domain.txt
	cargo bench -q -p lapor-routing --bench duplicates -- --noplot 2>&1 | tee $(CARGO_TARGET_DIR)/bench/routing.txt
	LAPOR_BENCH_JSON_DIR=$(CARGO_TARGET_DIR)/bench cargo bench -q -p lapor-sla-monitor --bench sla 2>&1 | tee $(CARGO_TARGET_DIR)/bench/sla.txt
	cargo build -q --release -p lapor-platform --example telemetry_cost
	for mode in none off on; do $(CARGO_TARGET_DIR)/release/examples/telemetry_cost $$mode; done | tee $(CARGO_TARGET_DIR)/bench/telemetry-cost.json

lint: deploy-check ## rustfmt, clippy (-D warnings), buf lint on proto/, and the deployment checks
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cd proto && npx --yes @bufbuild/buf@1 lint

deploy-check: ## Kustomize overlays build, pass kubernetes-validate --strict and the production rules
	scripts/deploy-check.sh

fmt: ## Format the code
	cargo fmt --all
