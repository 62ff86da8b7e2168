# chat: a peer-to-peer messaging toolkit. Plain make: programs in one
# variable, lib/ as one archive each program links what it needs from.
# lib/ has a folder per layer (core, net, sec, client, dir, peer);
# includes name the layer: "core/util.h".

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
COMPDIR  ?= $(PREFIX)/share/bash-completion/completions
CC       ?= cc
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ilib
PKGS      = libmicrohttpd sqlite3 libpq jansson libcurl libsodium
override CFLAGS += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

# Outputs: programs in $(BIN), objects in $(B); the sanitizer build uses
# its own pair of folders.
B        ?= build
BIN      ?= bin

# Every cmd/NAME/main.c is the thin main of the program NAME.
PROGS    = $(patsubst cmd/%/main.c,%,$(wildcard cmd/*/main.c))
SCRIPTS  = $(patsubst cmd/%.sh,%,$(wildcard cmd/*.sh))
LIBSRC   = $(wildcard lib/*/*.c)
LIBHDR   = $(wildcard lib/*/*.h)
LIBOBJ   = $(LIBSRC:lib/%.c=$(B)/lib/%.o)
UNITSRC  = $(wildcard tests/unit/test-*.c)
UNITS    = $(UNITSRC:tests/unit/%.c=$(B)/tests/%)
INTEROPSRC = $(wildcard tests/interop/*.c)
INTEROP  = $(INTEROPSRC:tests/interop/%.c=$(B)/tests/interop/%)
BENCHSRC = $(wildcard bench/*.c)
BENCHES  = $(BENCHSRC:bench/%.c=$(B)/bench/%)
MAN1     = $(wildcard man/*.1)
MAN7     = $(wildcard man/*.7)
MAN8     = $(wildcard man/*.8)

all: $(PROGS:%=$(BIN)/%) $(SCRIPTS:%=$(BIN)/%)

$(B)/lib/%.o: lib/%.c $(LIBHDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/cmd/%.o: cmd/%/main.c $(LIBHDR) | $(B)/cmd
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/libchat.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

$(BIN)/%: $(B)/cmd/%.o $(B)/libchat.a | $(BIN)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libchat.a $(LDLIBS)

$(BIN)/%: cmd/%.sh | $(BIN)
	cp $< $@
	chmod 755 $@

$(B)/tests/%: tests/unit/%.c $(B)/libchat.a | $(B)/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libchat.a $(LDLIBS) -lcmocka

# Helpers the interop suites run against implementations not ours.
$(B)/tests/interop/%: tests/interop/%.c $(B)/libchat.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libchat.a $(LDLIBS)
# The STUN vectors' MESSAGE-INTEGRITY is HMAC-SHA1, checked with libcrypto.
$(B)/tests/test-stun: LDLIBS += $(shell pkg-config --libs libcrypto 2>/dev/null)

$(B)/bench/%: bench/%.c $(B)/libchat.a | $(B)/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libchat.a $(LDLIBS)

$(BIN) $(B)/cmd $(B)/tests $(B)/bench:
	mkdir -p $@

deps:
	@./.ci/deps

units: $(UNITS) $(INTEROP)

benches: $(BENCHES)

check: deps
	@$(MAKE) --no-print-directory all units
	@tests/run

# The API suites on PostgreSQL only (check runs them on both backends).
check-pg: deps
	@$(MAKE) --no-print-directory all units
	@CHAT_TEST_STORE=pg tests/run

# The whole suite again on an AddressSanitizer + UndefinedBehaviorSanitizer
# build: any report fails the test that caused it. Its PostgreSQL pass is
# the units and the push channel's suite (the LISTEN thread, its locks),
# which is what the API suites run there that SQLite does not: the whole
# pass is check's.
SANFLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
asan-check: deps
	@$(MAKE) --no-print-directory B=build/asan BIN=build/asan/bin \
	  CFLAGS="$(SANFLAGS)" LDFLAGS="$(SANFLAGS)" all units
	@CHAT_BUILD=build/asan CHAT_TEST_PG_SUITES=tests/190-events.bats tests/run

# Each libFuzzer target for FUZZ_SECONDS (default 60), after replaying the
# inputs that once crashed it.
fuzz:
	@CHAT_DEPS=fuzz ./.ci/deps
	@tests/fuzz/run

# The mutation check (tests/README): each mutant of tests/mutants applied
# to a scratch copy of the tree, built, and caught by the tests it names.
mutate: deps
	@tests/mutate

run: deps
	@$(MAKE) --no-print-directory all
	./bin/chat-dird $(RUNFLAGS)

bench:
	@CHAT_DEPS=bench ./.ci/deps
	@$(MAKE) --no-print-directory all benches
	@for b in bench/*; do case $$b in *.c|*.lua|*.md) continue;; esac; \
	  [ -x "$$b" ] && { echo "== $$b"; "$$b" || exit 1; }; done

docker-test: deps
	@$(MAKE) --no-print-directory all
	tests/docker-test

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(COMPDIR)
	install -m 755 $(PROGS:%=bin/%) $(SCRIPTS:%=bin/%) $(DESTDIR)$(BINDIR)
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1)
	$(if $(MAN7),install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7)
	$(if $(MAN8),install -m 644 $(MAN8) $(DESTDIR)$(MANDIR)/man8)
	install -m 644 completions/chat.bash $(DESTDIR)$(COMPDIR)/chat
	for p in $(PROGS) $(SCRIPTS); do [ "$$p" = chat ] || \
	  ln -sf chat $(DESTDIR)$(COMPDIR)/$$p; done

clean:
	rm -rf bin build

.PHONY: all deps units benches check check-pg asan-check fuzz mutate run bench docker-test \
	install clean
.SECONDARY: $(LIBOBJ)
