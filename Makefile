# The common commands; everything else is plain cargo (see README.md).
CARGO ?= cargo
CONFIG ?= etc/daned.toml

.PHONY: all build run test lint fmt bench clean

all: build

build:
	$(CARGO) build --release --locked --bin daned

# Builds, then serves the example zone (zones/example.com.zone) on 127.0.0.1:5300, UDP and TCP.
# The first start generates a signing key in keys/ (git-ignored) and keeps the serial in state/.
run: build
	./target/release/daned serve -c $(CONFIG)

# Everything CI runs: formatting, lints, unit, integration and interop tests, doctests.
test: lint
	$(CARGO) test --workspace --all-targets --locked
	$(CARGO) test --workspace --doc --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --document-private-items --locked

fmt:
	$(CARGO) fmt --all

# Side-by-side benchmark with Knot DNS, NSD and the anchor signers (see bench/README.md; needs
# the Debian packages knot knot-dnsutils nsd bind9 bind9-utils ldnsutils dnsperf).
bench:
	bench/run.sh

clean:
	$(CARGO) clean
