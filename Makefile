# user-lake: the commands a developer and CI use. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
# Pinned tools (tansu, cargo-lambda, pyarrow, ...) live in a cache keyed by version.
TOOLS_ENV = eval "$$(infra/local/tools.sh)"
# The test suites that start processes (the local stack, a broker, moto, the registry stand-in):
# `make test` runs them; `cargo test --workspace` alone is the hermetic tier.
E2E_FEATURES = --features e2e/e2e,emulators/e2e,schema-registry/e2e
# Where cargo puts its builds (the bench binary lives beside the function binaries it starts).
TARGET = $${CARGO_TARGET_DIR:-target}

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## Install the pinned local tools into the cache (first run compiles the broker)
	@$(TOOLS_ENV) && echo "tools ready"

.PHONY: build
build: ## Build every crate
	$(CARGO) build --workspace --locked --all-targets

.PHONY: lint
lint: ## rustfmt, clippy (warnings as errors), the dependency rule, every variable documented, the docs' references, the cost tables, the dbt project compiled for Athena (offline)
	$(CARGO) fmt --all -- --check
	python3 -m unittest discover -s infra/lint -p 'test_*.py'
	python3 infra/lint/check_deps.py --cargo
	python3 infra/lint/check_config_docs.py
	python3 infra/lint/check_doc_references.py
	python3 benches/python/cost.py --check
	DBT_ATHENA_S3_STAGING_DIR=s3://compile-only/dbt/ infra/local/dbt.sh compile --target athena --no-populate-cache --quiet
	$(CARGO) clippy --workspace --locked --all-targets $(E2E_FEATURES) -- -D warnings

.PHONY: test
test: ## Every test: hermetic unit tests, the IAM and schema registry stand-ins' own tests, the end-to-end flows on the local stack (plain files, then the Iceberg table read back by pyiceberg, DuckDB and polars), the table reader's own tests
	@$(TOOLS_ENV) && "$$USER_LAKE_VENV/bin/python" -m unittest discover -s local/iam -p 'test_*.py' && \
	  "$$USER_LAKE_VENV/bin/python" -m unittest discover -s local/schema-registry -p 'test_*.py' && \
	  $(CARGO) test --workspace --locked --no-fail-fast $(E2E_FEATURES) && \
	  "$$USER_LAKE_VENV/bin/python" -m unittest discover -s local/e2e/python -p 'test_*.py'

.PHONY: deploy-check
deploy-check: ## Offline deploy checks: cfn-lint (also after the SAM transform), checkov, sam validate --lint, template rules, parameters documented, sam build + binaries
	infra/deploy-check.sh

.PHONY: check-binaries
check-binaries: ## Only deploy-check's sam build for arm64 and its checks of each bootstrap (ELF, glibc, libraries, size)
	infra/deploy-check.sh --binaries-only

.PHONY: up
up: ## Start the local stack (broker, S3 store, users API, cargo lambda watch)
	infra/local/stack.sh up

.PHONY: down
down: ## Stop the local stack
	infra/local/stack.sh down

.PHONY: demo
# The demo's knobs: runs of the producer, users a run, time between runs (the original's one
# user a second for 60 s: make demo RUNS=60 USERS=1 EVERY=1s).
RUNS ?= 3
USERS ?= 200
EVERY ?= 2s
# DBT=1: end with make dbt on the demo's lake, read through the running S3 store.
DBT ?=
demo: ## The whole flow offline: schedule -> producer -> Kafka -> trigger -> sink -> the Iceberg table, exported under output/ (RUNS= USERS= EVERY= DBT=1)
	EVERY=$(EVERY) DBT=$(DBT) infra/local/demo.sh $(RUNS) $(USERS)

.PHONY: dbt
dbt: ## dbt build (the dbt_project/ models and data-quality tests) and source freshness on the local lake of a finished flow (USER_LAKE_OUTPUT, default output/)
	infra/local/dbt.sh

.PHONY: dbt-check
dbt-check: ## make dbt's marts on the lake (USER_LAKE_OUTPUT) against the lake read by pyiceberg: users per country and per gender equal
	@$(TOOLS_ENV) && "$$USER_LAKE_VENV/bin/python" -m unittest discover -s local/e2e/python -p 'dbt_*.py'

# The local stack's settings, for the commands run against it (a real cluster and bucket: set
# the same variables in the environment and run target/debug/status or export directly).
LOCAL_ENV = set -a && . infra/local/local.env && set +a

.PHONY: status
status: ## What the pipeline is doing: partitions, the sink's lag, the lake's hours, errors (WATCH=5s refreshes)
	@$(CARGO) build --locked --quiet -p status
	@$(LOCAL_ENV) && $(TARGET)/debug/status --table $(if $(WATCH),--watch $(WATCH))

.PHONY: dashboard
# The dashboard's address (docs/dashboard.md).
ADDR ?= 127.0.0.1:8070
dashboard: ## The status live in the browser at http://127.0.0.1:8070/ (ADDR= to listen elsewhere): lag, rates, the lake's hours, errors, invocations
	@$(CARGO) build --locked --quiet -p status
	@$(LOCAL_ENV) && $(TARGET)/debug/status --serve $(ADDR) \
	  --functions-log $${USER_LAKE_STACK_DIR:-target/local-stack}/logs/functions.log

.PHONY: export
export: ## The lake's users, once, into the original's output/users_data.json, .csv, users_spark_data.parquet (FROM=/TO= RFC 3339 times, JSON=lines)
	@$(CARGO) build --locked --quiet -p export
	@$(LOCAL_ENV) && $(TARGET)/debug/export --out output $(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO)) $(if $(JSON),--json $(JSON))

.PHONY: peek
peek: ## The topic's newest message as JSON (N=5 for more, FIRST=1 for the oldest instead)
	@$(CARGO) build --locked --quiet -p peek
	@$(LOCAL_ENV) && $(TARGET)/debug/peek $(if $(FIRST),--first,--last) $(or $(N),1)

.PHONY: load
load: ## Not in CI: USERS (default 1,000,000) through the whole local flow, every id audited, sink peak memory
	infra/local/load.sh $(or $(USERS),1000000)


.PHONY: bench
bench: ## Benchmarks (release): sink core vs Python, memory, cold start, producer, end to end -> target/bench/results.json
	$(CARGO) build --release --locked -p user-lake-bench -p sink -p producer
	@$(TOOLS_ENV) && python=$$(benches/python/venv.sh) && \
	  $(TARGET)/release/user-lake-bench --python "$$python" --out target/bench/results.json

.PHONY: bench-smoke
bench-smoke: ## The benchmarks on tiny sizes in the debug profile, without the stack; fails on an absurd figure
	$(CARGO) build --locked --workspace --all-targets --quiet
	@python=$$(benches/python/venv.sh) && \
	  $(TARGET)/debug/user-lake-bench --smoke --python "$$python" --out target/bench/smoke.json
