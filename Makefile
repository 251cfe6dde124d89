# gcs — build, test, fuzz, bench, demo. Sources are found by wildcard:
# every src/<module>/*.c goes into libgcs.a except the entry points (gcs,
# gcsctl, and the utility VM's init, which is a standalone static program).
#
#   make               build/gcs and build/gcsctl
#   make check         unit tests (cmocka) + black-box system tests (pytest)
#   make check-asan    the same suite, everything built with ASan+UBSan
#   make fuzz-smoke    each libFuzzer target for FUZZ_SECONDS (default 30)
#   make check-all     check + check-asan + fuzz-smoke + check-uvm + check-standalone
#                      (what CI runs)
#   make check-standalone  make check in a fresh clone of HEAD, alone in an empty
#                      temporary directory (nothing beside the clone)
#   make demo          the demo
#   make bench         the benchmarks under bench/
#   make uvm           build/uvm/{kernel,initrd.img}: gcs in a utility VM image (the
#                      boot files a host's LinuxBootFiles takes)
#   make check-uvm     VM deps + image + tests/uvm and the pod and process tests
#                      in the VM (QEMU TCG; part of check-all)

CC ?= gcc
BUILD ?= build
SAN ?=
FUZZ_SECONDS ?= 30
PYTEST ?= /usr/bin/python3 -m pytest
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

PKGS := jansson libmnl blkid
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -ljansson -lmnl -lblkid) -lm

WARN := -Wall -Wextra -Werror -Wformat=2 -Wno-format-nonliteral -Wshadow -Wvla -Wno-missing-field-initializers
OPT ?= -O2 -g
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANFLAGS := $(if $(SAN),$(SANITIZE))
CFLAGS_ALL := -std=gnu17 $(WARN) $(OPT) $(SANFLAGS) -D_GNU_SOURCE -DGCS_VERSION='"$(VERSION)"' -Isrc $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL := $(SANFLAGS) $(LDFLAGS)

# The image's small static programs: their mains are entry points; the rest
# of their directories (argv parsers, unit-tested) is in libgcs.a.
INIT_SRCS := src/init/init.c
VSOCKEXEC_SRCS := src/vsockexec/vsockexec.c
ENTRY := src/main/gcs.c $(wildcard src/gcsctl/*.c) $(INIT_SRCS) $(VSOCKEXEC_SRCS)
LIB_SRCS := $(filter-out $(ENTRY),$(wildcard src/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
GCSCTL_SRCS := $(wildcard src/gcsctl/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/helpers/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.SECONDARY:
.PHONY: all check unit system check-asan fuzz fuzz-smoke check-all check-standalone demo bench clean uvm check-uvm
all: $(BUILD)/gcs $(BUILD)/gcsctl $(BUILD)/gcs-init $(BUILD)/vsockexec $(HELPER_BINS)

Q := $(if $(V),,@)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC  $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libgcs.a: $(LIB_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

# The agent was linked statically: a static binary keeps its RSS near 1 MiB
# instead of 2 (shared-library pages count too). Pod networking speaks
# rtnetlink through libmnl, and Debian ships libmnl as a shared library
# only, so the agent is linked dynamically now (scripts/make-uvm copies the
# libraries into the VM image). STATIC=1 links it statically again, for a
# libmnl.a of one's own (LDFLAGS=-L...).
STATIC ?=
GCS_LINK := $(if $(SAN),,$(if $(STATIC),-static))
$(BUILD)/gcs: $(BUILD)/obj/src/main/gcs.o $(BUILD)/libgcs.a
	$(Q)$(CC) $(LDFLAGS_ALL) $(GCS_LINK) -o $@ $^ $(PKG_LIBS)

$(BUILD)/gcsctl: $(GCSCTL_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libgcs.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

# PID 1 of the utility VM and /bin/vsockexec: libc and the transport code of
# libgcs.a only, static so the initramfs needs no loader for them (not under
# the sanitizers, which cannot link statically).
$(BUILD)/gcs-init: $(INIT_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libgcs.a
	$(CC) $(LDFLAGS_ALL) $(if $(SAN),,-static) -o $@ $^

$(BUILD)/vsockexec: $(VSOCKEXEC_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libgcs.a
	$(CC) $(LDFLAGS_ALL) $(if $(SAN),,-static) -o $@ $^

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libgcs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) -lcmocka

$(BUILD)/helpers/%: $(BUILD)/obj/tests/helpers/%.o $(BUILD)/libgcs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libgcs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

system: all
	GCS_BUILD=$(abspath $(BUILD)) GCS_SAN=$(SAN) $(PYTEST) -q tests/system $(PYTEST_ARGS)

check: unit system

check-asan:
	$(MAKE) BUILD=build/asan SAN=1 CC=clang OPT='-O1 -g' check

# libFuzzer targets: clang, ASan+UBSan; the library is compiled once with
# coverage instrumentation (fuzzer-no-link) and each target links it.
FUZZ_CFLAGS := -std=gnu17 $(WARN) -g -O1 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined
FUZZ_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzzobj/%.o)
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC  $< (fuzz)")
	$(Q)clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/libgcs-fuzz.a: $(FUZZ_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libgcs-fuzz.a
	@mkdir -p $(dir $@)
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libgcs-fuzz.a $(PKG_LIBS)

fuzz: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do \
	  n=$$(basename $$f); corpus=tests/fuzz/corpus/$$n; work=$$(mktemp -d); \
	  [ -d $$corpus ] && cp -r $$corpus/. $$work/ ; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  if ! $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 -artifact_prefix=$$work/ \
	       $$work > $$work.log 2>&1; then \
	    tail -n 60 $$work.log; echo "fuzz-smoke: $$n FAILED (artifacts in $$work)"; exit 1; \
	  fi; \
	  grep -E '^stat::number_of_executed_units|^Done' $$work.log || true; \
	  rm -rf $$work $$work.log; \
	done

check-all: check check-asan fuzz-smoke check-uvm check-standalone
	@echo "check-all: unit, system, ASan+UBSan, fuzz smoke, the utility VM suite and a fresh clone's make check all passed"

# The repository stands alone: clone its committed HEAD (not the work tree's
# uncommitted changes) into a fresh temporary directory that holds nothing
# else, so no ../anything exists beside it, and run make check there.
check-standalone:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; trap 'exit 130' INT TERM; \
	  git -c safe.directory='$(CURDIR)' clone -q '$(CURDIR)' "$$tmp/gcs"; \
	  echo "== make check in $$tmp/gcs (a fresh clone of $$(git -C "$$tmp/gcs" rev-parse --short HEAD))"; \
	  $(MAKE) -C "$$tmp/gcs" check; \
	  echo "check-standalone: make check passed in a fresh clone with nothing beside it"

# The utility VM image (scripts/make-uvm fetches the kernel once).
$(BUILD)/uvm/initrd.img: $(BUILD)/gcs $(BUILD)/gcs-init $(BUILD)/vsockexec scripts/make-uvm scripts/uvm-image.py scripts/uvm-modules
	BUILD=$(BUILD) ./scripts/make-uvm

uvm: $(BUILD)/uvm/initrd.img

# QEMU and the harness run in a fresh network namespace with only loopback.
# 1. tests/uvm: boot, init from inside, v2 limits; 2. the black-box pod and
# process tests against gcs in a VM on cgroup v2; 3. the pod-model test on a
# VM booted with hcsshim.cgroup=v1. Each session boots its VMs once.
UVM_SYSTEM_TESTS := tests/system/test_pods.py tests/system/test_processes.py tests/system/test_live_migration.py
check-uvm:
	./scripts/install-uvm-deps
	$(MAKE) uvm
	unshare --net -- sh -ec 'ip link set lo up; export GCS_BUILD=$(abspath $(BUILD)) GCS_UVM_REQUIRED=1; \
	  $(PYTEST) -q -rs tests/uvm $(PYTEST_ARGS); \
	  GCS_TEST_TARGET=uvm $(PYTEST) -q -rs $(UVM_SYSTEM_TESTS) $(PYTEST_ARGS); \
	  GCS_TEST_TARGET=uvm GCS_UVM_CGROUP=v1 $(PYTEST) -q -rs tests/system/test_pods.py $(PYTEST_ARGS)'

demo: all
	./scripts/demo

bench: all $(BENCH_BINS)
	./bench/run

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/fuzzobj -name '*.d' 2>/dev/null)
