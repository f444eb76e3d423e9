# Aperture: build, test, run and measure. See README.md.
SHELL := /bin/bash
CONFIG ?= Release
DOTNET ?= dotnet
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1

.PHONY: all deps ui build test run bench crds clean agent-aot format format-check

all: build

## deps: install what is missing (redis-server, the chdb engine library)
deps:
	@bash scripts/deps.sh

## ui: the web UI (ui/) from its pinned npm packages into .artifacts/ui, which the runtime serves at /
ui:
	@bash scripts/build-ui.sh

## build: the web UI, then the whole solution (warnings are errors)
build: ui
	$(DOTNET) build Operator.sln -c $(CONFIG) --nologo -v minimal

## agent-aot: the node agent as a Native AOT binary in .artifacts/agent-aot (what ships; installs clang/lld when missing)
agent-aot:
	@bash scripts/publish-agent-aot.sh

## format: apply .editorconfig's formatting and code style to the C# sources
format:
	$(DOTNET) format Operator.sln -v quiet

## format-check: the format gate (dotnet format --verify-no-changes, shellcheck on the scripts)
format-check: deps build
	@bash scripts/format-check.sh

## test: everything a fresh machine needs, the format gate, then every test project (the AOT agent's tests run the binary)
test: deps build agent-aot format-check
	@CONFIG=$(CONFIG) bash scripts/test.sh

## run: embedded ClickHouse + Redis + runtime in the foreground; Ctrl-C stops all
run: deps build
	@CONFIG=$(CONFIG) bash scripts/run-local.sh

## crds: regenerate crds/ from the C# resource types (a test fails when crds/ is stale)
crds:
	$(DOTNET) run --project operator/Aperture.Operator -c $(CONFIG) -- generate-crds crds charts/aperture/crds

## bench: the benchmark harnesses; figures go to standard output
bench: deps build agent-aot
	$(DOTNET) run --project bench/Aperture.Benchmarks -c $(CONFIG) --no-build -- all

clean:
	$(DOTNET) clean Operator.sln -c $(CONFIG) --nologo -v quiet
	rm -rf .artifacts
