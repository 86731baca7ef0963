# kimchid - plain Makefile; dependencies come from Debian packages via pkg-config.
PKGS     := libvirt libvirt-qemu libmicrohttpd jansson sqlite3 gnutls libxml-2.0 libssh libpcre2-8 zlib
VERSION  := 0.1.0
PREFIX   ?= /usr/local
CC       ?= cc
WARN     := -Wall -Wextra -Werror -Wstrict-prototypes -Wformat=2 -Wshadow -Wno-format-nonliteral
CPPFLAGS += -D_GNU_SOURCE -DKIMCHID_VERSION='"$(VERSION)"' -DKIMCHID_DATADIR='"$(PREFIX)/share/kimchid"'
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 $(WARN) -pthread $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpam -pthread
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# libcrypt loaded at start-up: ASan resolves its crypt() interceptor then, and pam_unix
# (dlopened later) would otherwise call through a NULL pointer
SANLIBS  := -Wl,--no-as-needed -lcrypt -Wl,--as-needed

SRC      := $(wildcard src/*.c src/*/*.c)
HDRS     := $(wildcard src/*.h src/*/*.h) src/util/msgs.def
LIBSRC   := $(filter-out src/main.c,$(SRC))
OBJ      := $(SRC:src/%.c=build/obj/%.o)
ASAN_OBJ := $(SRC:src/%.c=build/asan/obj/%.o)
ASAN_LIB := $(filter-out build/asan/obj/main.o,$(ASAN_OBJ))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)

.PHONY: all asan tsan unit deps check check-quick bench run format format-check install uninstall man deb clean fuzz FORCE

all: build/kimchid

build/kimchid: $(OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# config.c bakes in the version and where the UI lives: rebuilt when PREFIX or VERSION change
build/.paths: FORCE
	@mkdir -p build
	@echo '$(VERSION) $(PREFIX)' | cmp -s - $@ || echo '$(VERSION) $(PREFIX)' >$@
build/obj/config.o build/asan/obj/config.o build/tsan/obj/config.o: build/.paths
FORCE:

build/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

asan: build/asan/kimchid $(UNIT_BIN)

build/asan/kimchid: $(ASAN_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS) $(SANLIBS)

build/asan/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC-SAN  $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(SAN) -c -o $@ $<

build/asan/tests/%: tests/unit/%.c $(ASAN_LIB) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(SAN) -Isrc -o $@ $< $(ASAN_LIB) $(LDLIBS) -lcmocka $(SANLIBS)

unit: $(UNIT_BIN)

# ThreadSanitizer: the same daemon and unit tests, for data races (tests/run-all.sh layer tsan)
TSAN      := -fsanitize=thread -fno-omit-frame-pointer
TSAN_OBJ  := $(SRC:src/%.c=build/tsan/obj/%.o)
TSAN_LIB  := $(filter-out build/tsan/obj/main.o,$(TSAN_OBJ))
TSAN_BIN  := $(UNIT_SRC:tests/unit/%.c=build/tsan/tests/%)

tsan: build/tsan/kimchid $(TSAN_BIN)

build/tsan/kimchid: $(TSAN_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $(TSAN) -o $@ $^ $(LDLIBS) $(SANLIBS)

build/tsan/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC-TSAN $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(TSAN) -c -o $@ $<

build/tsan/tests/%: tests/unit/%.c $(TSAN_LIB) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(TSAN) -Isrc -o $@ $< $(TSAN_LIB) $(LDLIBS) -lcmocka $(SANLIBS)

# libFuzzer (clang): `make fuzz FUZZ_SECONDS=3600` runs as long as asked; make check, 60 s.
FUZZ_SECONDS ?= 600
FUZZ_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer
FUZZ_OBJ := $(LIBSRC:src/%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC-FUZZ $<"
	@clang $(CPPFLAGS) $(CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/fuzz_request: tests/fuzz/fuzz_request.c $(FUZZ_OBJ)
	@echo "  LD-FUZZ $@"
	@clang $(CPPFLAGS) $(CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer -Isrc -o $@ $^ $(LDLIBS) $(SANLIBS)

fuzz: build/fuzz/fuzz_request
	@mkdir -p build/fuzz/corpus
	build/fuzz/fuzz_request -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
	  build/fuzz/corpus tests/fuzz/corpus

# Installs missing Debian packages (as root) or prints the exact command and fails.
deps:
	@scripts/deps.sh

JOBS ?= $(shell nproc 2>/dev/null || echo 2)

check: deps
	$(MAKE) -j$(JOBS) format-check all asan tsan
	@tests/run-all.sh

# the inner loop: the unit tests and the API layer (ASan build), a few minutes
check-quick: deps
	$(MAKE) -j$(JOBS) asan
	@LAYERS="unit api" tests/run-all.sh

bench: deps all
	@bench/run.sh

run: deps all
	@scripts/run.sh

FORMATTED = $(SRC) $(filter %.h,$(HDRS)) $(UNIT_SRC) $(wildcard bench/*.c)

format:
	clang-format -i $(FORMATTED)

# make check fails when a C file differs from what `make format` writes (.clang-format).
format-check:
	@clang-format --dry-run --Werror $(FORMATTED) && echo "format: all C files as make format writes them"

# The manual page: the options from `kimchid --help` (one source), the rest from
# scripts/kimchid.8.h2m.
man: build/kimchid.8
build/kimchid.8: build/kimchid scripts/kimchid.8.h2m
	help2man --no-info --section=8 --name="virtual machine manager for libvirt/KVM hosts, with live migration" \
	  --include=scripts/kimchid.8.h2m --version-string="kimchid $(VERSION)" -o $@ build/kimchid

SYSTEMDDIR ?= /lib/systemd/system
# /etc/kimchid.conf is installed only where none is (an administrator's file is kept).
install: all man
	install -D -m 0755 build/kimchid $(DESTDIR)$(PREFIX)/sbin/kimchid
	install -D -m 0644 scripts/kimchid.pam $(DESTDIR)/etc/pam.d/kimchid
	[ -e $(DESTDIR)/etc/kimchid.conf ] || install -D -m 0644 scripts/kimchid.conf $(DESTDIR)/etc/kimchid.conf
	sed 's|/usr/sbin/kimchid|$(PREFIX)/sbin/kimchid|' scripts/kimchid.service >build/kimchid.service
	install -D -m 0644 build/kimchid.service $(DESTDIR)$(SYSTEMDDIR)/kimchid.service
	install -D -m 0644 build/kimchid.8 $(DESTDIR)$(PREFIX)/share/man/man8/kimchid.8
	mkdir -p $(DESTDIR)$(PREFIX)/share/kimchid
	cp -r ui $(DESTDIR)$(PREFIX)/share/kimchid/

# Removes what install put in place, except /etc/kimchid.conf and the state directory
# (/var/lib/kimchid: tasks, the migration CA), as a package's removal keeps them.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/kimchid $(DESTDIR)/etc/pam.d/kimchid \
	  $(DESTDIR)$(SYSTEMDDIR)/kimchid.service $(DESTDIR)$(PREFIX)/share/man/man8/kimchid.8
	rm -rf $(DESTDIR)$(PREFIX)/share/kimchid

# The Debian package, in build/deb/ (built from a copy of the tree: scripts/deb.sh).
deb:
	@scripts/deb.sh build/deb

clean:
	rm -rf build
