# The common commands; everything else is plain cargo (see README.md).
CARGO ?= cargo
CONFIG ?= etc/daned.toml

.PHONY: all build run test lint fmt fuzz fuzz-long bench clean

all: build

build:
	$(CARGO) build --release --locked --bin daned

# Builds, then serves the example zone (zones/example.com.zone) on 127.0.0.1:5300, UDP and TCP.
# The first start generates a signing key in keys/ (git-ignored) and keeps the serial in state/.
run: build
	./target/release/daned serve -c $(CONFIG)

# Everything CI runs: formatting, lints, unit, integration and interop tests, doctests, and
# every fuzz target for a bounded number of inputs. Both test tiers: plain `cargo test` is the
# fast tier; the tests that run outside programs (dig, delv, knotd, nsd, named, unbound,
# postfix, openssl, ...) are `#[ignore = "needs ..."]` and run here by `--include-ignored`.
# A missing program skips its test loudly, or fails it under DANED_REQUIRE_TOOLS=1 (.ci/run).
test: lint
	$(CARGO) test --workspace --all-targets --locked -- --include-ignored
	$(CARGO) test --workspace --doc --locked
	$(MAKE) fuzz

# Each fuzz target (fuzz/, libFuzzer on stable rustc) over its seeds and then FUZZ_RUNS
# mutated inputs, with a fixed seed so that a CI run is reproducible; an unoptimised build
# (about 2.5 CPU minutes) and under a minute of running. See fuzz/run.
FUZZ_RUNS ?= 2000
fuzz:
	fuzz/run -q -n $(FUZZ_RUNS) -- -seed=1

# A long campaign: each target in FUZZ_TARGETS for FUZZ_LONG inputs, one after the other, at
# the lowest priority. New inputs collect in target/fuzz/corpus/<target>, crashes in
# target/fuzz/artifacts/<target>/; `make fuzz-long FUZZ_TARGETS=query FUZZ_LONG=100000000`.
FUZZ_LONG ?= 10000000
FUZZ_TARGETS ?= query zonefile certificate keys tsig config control
fuzz-long:
	for t in $(FUZZ_TARGETS); do nice -n 19 fuzz/run -n $(FUZZ_LONG) $$t || exit 1; done

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
