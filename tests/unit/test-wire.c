/* Unit tests for lib/wire and lib/seen: line framing, the objects of the
 * direct protocol, and the record of uids a listener printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer/seen.h"
#include "peer/wire.h"

static void
feed(struct wire_buf *b, const char *s, size_t n)
{
	size_t room;
	char *p = wire_buf_space(b, n, &room);

	assert_non_null(p);
	assert_true(room >= n);
	memcpy(p, s, n);
	wire_buf_fill(b, n);
}

static void
lines_split_and_join(void **state)
{
	struct wire_buf b = { 0 };
	char *line;
	size_t len;

	(void)state;
	feed(&b, "one\ntw", 6);
	assert_int_equal(wire_buf_line(&b, &line, &len), 1);
	assert_string_equal(line, "one");
	assert_int_equal(wire_buf_line(&b, &line, &len), 0);
	feed(&b, "o\r\n\n", 4);
	assert_int_equal(wire_buf_line(&b, &line, &len), 1);
	assert_string_equal(line, "two");
	assert_int_equal(len, 3);
	assert_int_equal(wire_buf_line(&b, &line, &len), 1);
	assert_int_equal(len, 0);
	assert_int_equal(wire_buf_pending(&b), 0);
	wire_buf_free(&b);
}

static void
long_line_is_dropped_to_its_newline(void **state)
{
	struct wire_buf b = { 0 };
	char *chunk = malloc(65536), *line;
	size_t len;
	int i, rc = 0;

	(void)state;
	memset(chunk, 'a', 65536);
	for (i = 0; i < 10 && rc == 0; i++) {
		size_t room;
		char *p = wire_buf_space(&b, 65536, &room);

		assert_non_null(p);
		room = room < 65536 ? room : 65536;
		memcpy(p, chunk, room);
		wire_buf_fill(&b, room);
		rc = wire_buf_line(&b, &line, &len);
	}
	assert_int_equal(rc, -1);
	feed(&b, "aaa\nnext\n", 9);
	assert_int_equal(wire_buf_line(&b, &line, &len), 1);
	assert_string_equal(line, "next");
	wire_buf_free(&b);
	free(chunk);
}

static void
longest_line_fits(void **state)
{
	struct wire_buf b = { 0 };
	char *big = malloc(WIRE_LINE_MAX + 1), *line;
	size_t len;

	(void)state;
	memset(big, 'x', WIRE_LINE_MAX);
	big[WIRE_LINE_MAX] = '\n';
	feed(&b, big, WIRE_LINE_MAX + 1);
	assert_int_equal(wire_buf_line(&b, &line, &len), 1);
	assert_int_equal(len, WIRE_LINE_MAX);
	wire_buf_free(&b);
	free(big);
}

/* A buffer of its own limit: longer lines than the wire's fit; one
 * longer than that limit is dropped. */
static void
a_buffer_takes_its_own_limit(void **state)
{
	size_t max = 3 * WIRE_LINE_MAX, len;
	struct wire_buf b = { .max = max };
	char *big = malloc(max + 2), *line;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', max + 1);
	big[max] = '\n';
	feed(&b, big, max + 1);
	assert_int_equal(wire_buf_line(&b, &line, &len), 1);
	assert_int_equal(len, max);
	big[max] = 'x';
	big[max + 1] = '\n';
	feed(&b, big, max + 2);
	assert_int_equal(wire_buf_line(&b, &line, &len), -1);
	feed(&b, "ok\n", 3);
	assert_int_equal(wire_buf_line(&b, &line, &len), 1);
	assert_string_equal(line, "ok");
	wire_buf_free(&b);
	free(big);
}

static void
objects_round_trip(void **state)
{
	struct jsonw o = { 0 };
	struct wire_obj w;
	char *nl;

	(void)state;
	assert_int_equal(wire_put_msg(&o, "u1", "hi \"x\"\n", 7,
	    "2026-11-24T20:05:18.123Z"), 0);
	nl = memchr(o.data, '\n', o.len);
	assert_non_null(nl);
	assert_int_equal(wire_parse(o.data, (size_t)(nl - o.data), &w),
	    WIRE_MSG);
	assert_string_equal(w.uid, "u1");
	assert_int_equal(w.textlen, 7);
	assert_memory_equal(w.text, "hi \"x\"\n", 7);
	assert_string_equal(w.ts, "2026-11-24T20:05:18.123Z");
	wire_obj_free(&w);
	wire_out_consume(&o, o.len);

	assert_int_equal(wire_put_ack(&o, "abc"), 0);
	assert_int_equal(o.len, strlen("{\"type\":\"ack\",\"uid\":\"abc\"}\n"));
	assert_int_equal(wire_parse(o.data, o.len - 1, &w), WIRE_ACK);
	assert_string_equal(w.uid, "abc");
	assert_null(w.json);	/* the fast path */
	wire_obj_free(&w);
	wire_out_free(&o);
}

/* A msg as wire_put_msg writes it, with a text that needs no escape,
 * is read without jansson; anything else goes through jansson and must
 * give the same fields or the same refusal. */
static void
msg_fast_path(void **state)
{
	static const char *const slow[] = {
		/* an escape in the text: \n is a newline, \" a quote */
		"{\"type\":\"msg\",\"uid\":\"u1\",\"text\":\"a\\nb\","
		    "\"ts\":\"2026-11-24T20:05:18.123Z\"}",
		"{\"type\":\"msg\",\"uid\":\"u1\",\"text\":\"a\\\"b\","
		    "\"ts\":\"2026-11-24T20:05:18.123Z\"}",
		/* another member order, spaces, a time stamp of another form */
		"{\"uid\":\"u1\",\"type\":\"msg\",\"text\":\"a\\nb\","
		    "\"ts\":\"2026-11-24T20:05:18.123Z\"}",
		"{\"type\":\"msg\",\"uid\":\"u1\",\"text\":\"a\\nb\", "
		    "\"ts\":\"2026-11-24T20:05:18.123Z\"}",
		"{\"type\":\"msg\",\"uid\":\"u1\",\"text\":\"a\\nb\","
		    "\"ts\":\"2026-11-24 20:05:18Z\"}",
	};
	static const char *const bad[] = {
		/* a raw control character, bad UTF-8, a duplicate member,
		 * a bad uid: refused as jansson refuses them */
		"{\"type\":\"msg\",\"uid\":\"u1\",\"text\":\"a\tb\","
		    "\"ts\":\"2026-11-24T20:05:18.123Z\"}",
		"{\"type\":\"msg\",\"uid\":\"u1\",\"text\":\"a\xc0\xaf" "b\","
		    "\"ts\":\"2026-11-24T20:05:18.123Z\"}",
		"{\"type\":\"msg\",\"uid\":\"u1\",\"text\":\"x\",\"text\":\"y\","
		    "\"ts\":\"2026-11-24T20:05:18.123Z\"}",
		"{\"type\":\"msg\",\"uid\":\"u 1\",\"text\":\"ab\","
		    "\"ts\":\"2026-11-24T20:05:18.123Z\"}",
	};
	const char *fast = "{\"type\":\"msg\",\"uid\":\"u1\",\"text\":"
	    "\"h\xc3\xa9 / {x} \x7f\",\"ts\":\"2026-11-24T20:05:18.123Z\"}";
	struct wire_obj w;

	(void)state;
	assert_int_equal(wire_parse(fast, strlen(fast), &w), WIRE_MSG);
	assert_null(w.json);
	assert_string_equal(w.uid, "u1");
	assert_int_equal(w.textlen, 11);
	assert_memory_equal(w.text, "h\xc3\xa9 / {x} \x7f", 11);
	assert_string_equal(w.ts, "2026-11-24T20:05:18.123Z");
	wire_obj_free(&w);
	for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++) {
		assert_int_equal(wire_parse(slow[i], strlen(slow[i]), &w),
		    WIRE_MSG);
		assert_non_null(w.json);
		assert_string_equal(w.uid, "u1");
		assert_int_equal(w.textlen, 3);
		assert_memory_equal(w.text, i == 1 ? "a\"b" : "a\nb", 3);
		if (i < 4)
			assert_string_equal(w.ts, "2026-11-24T20:05:18.123Z");
		else
			assert_null(w.ts);
		wire_obj_free(&w);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(wire_parse(bad[i], strlen(bad[i]), &w),
		    WIRE_BAD);
		assert_string_equal(w.code, "bad_json");
		wire_obj_free(&w);
	}
	/* A NUL in the uid, which a C string would cut to a shorter valid
	 * one, is refused on both fast paths. */
	for (size_t i = 0; i < 2; i++) {
		static const char msg[] = "{\"type\":\"msg\",\"uid\":\"u1\0x\","
		    "\"text\":\"ab\",\"ts\":\"2026-11-24T20:05:18.123Z\"}";
		static const char ack[] = "{\"type\":\"ack\",\"uid\":\"u1\0x\"}";
		const char *l = i == 0 ? msg : ack;
		size_t n = i == 0 ? sizeof(msg) - 1 : sizeof(ack) - 1;

		assert_int_equal(wire_parse(l, n, &w), WIRE_BAD);
		assert_string_equal(w.code, "bad_json");
		wire_obj_free(&w);
	}
}

static void
hello_checks(void **state)
{
	struct wire_obj w;
	const char *h = "{\"type\":\"hello\",\"v\":1,\"from\":\"alice\","
	    "\"to\":\"bob\",\"extra\":true}";

	(void)state;
	assert_int_equal(wire_parse(h, strlen(h), &w), WIRE_HELLO);
	assert_string_equal(w.from, "alice");
	assert_string_equal(w.to, "bob");
	wire_obj_free(&w);
	h = "{\"type\":\"hello\",\"v\":2,\"from\":\"alice\",\"to\":\"bob\"}";
	assert_int_equal(wire_parse(h, strlen(h), &w), WIRE_BAD);
	assert_string_equal(w.code, "version");
	wire_obj_free(&w);
	h = "{\"type\":\"hello\",\"v\":1,\"from\":\"-x\"}";
	assert_int_equal(wire_parse(h, strlen(h), &w), WIRE_BAD);
	assert_string_equal(w.code, "bad_handshake");
	wire_obj_free(&w);
}

static void
garbage_is_bad_json(void **state)
{
	static const char *bad[] = { "", "garbage", "[1]", "{\"type\":1}",
	    "{\"type\":\"msg\",\"text\":\"x\"}",
	    "{\"type\":\"msg\",\"uid\":\"a b\",\"text\":\"x\"}",
	    "{\"type\":\"msg\",\"uid\":\"a\",\"text\":5}",
	    "{\"type\":\"ack\"}", "{\"type\":\"nope\"}",
	    "{\"type\":\"ack\",\"uid\":\"a b\"}",
	    "{\"type\":\"msg\",\"uid\":\"a\",\"uid\":\"b\",\"text\":\"x\"}" };
	struct wire_obj w;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(wire_parse(bad[i], strlen(bad[i]), &w),
		    WIRE_BAD);
		assert_string_equal(w.code, "bad_json");
		wire_obj_free(&w);
	}
}

/* A msg text of 64 KiB is taken; one byte more is refused. */
static void
text_limit(void **state)
{
	size_t n = WIRE_TEXT_MAX + 1, len;
	char *line = malloc(n + 96);
	struct wire_obj w;

	(void)state;
	assert_non_null(line);
	/* Without a time stamp through jansson, with one without it. */
	for (int fast = 0; fast < 2; fast++)
	for (size_t t = WIRE_TEXT_MAX; t <= n; t++) {
		len = (size_t)sprintf(line, "{\"type\":\"msg\",\"uid\":\"u\",\"text\":\"");
		memset(line + len, 'x', t);
		len += t;
		len += (size_t)sprintf(line + len, fast ? "\",\"ts\":"
		    "\"2026-11-24T20:05:18.123Z\"}" : "\"}");
		assert_int_equal(wire_parse(line, len, &w),
		    t == WIRE_TEXT_MAX ? WIRE_MSG : WIRE_BAD);
		if (t == WIRE_TEXT_MAX)
			assert_true((w.json == NULL) == (fast == 1));
		wire_obj_free(&w);
	}
	free(line);
}

static void
seen_survives_reopen(void **state)
{
	char dir[] = "/tmp/test-wire-XXXXXX", err[256], path[300];
	struct seen *s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	s = seen_open(dir, err, sizeof(err));
	assert_non_null(s);
	assert_true(seen_add(s, "0123456789abcdef0123456789abcdef"));
	assert_true(seen_add(s, "other-form"));
	assert_false(seen_add(s, "other-form"));
	assert_int_equal(seen_commit(s, err, sizeof(err)), 0);
	assert_int_equal(seen_set_cursor(s, 42, err, sizeof(err)), 0);
	seen_close(s);
	s = seen_open(dir, err, sizeof(err));
	assert_non_null(s);
	assert_true(seen_has(s, "0123456789abcdef0123456789abcdef"));
	assert_true(seen_has(s, "other-form"));
	assert_false(seen_has(s, "never"));
	assert_int_equal(seen_cursor(s), 42);
	seen_close(s);
	snprintf(path, sizeof(path), "%s/seen", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/cursor", dir);
	unlink(path);
	rmdir(dir);
}

static void
seen_is_bounded(void **state)
{
	char dir[] = "/tmp/test-wire-XXXXXX", err[256], uid[40], path[300];
	struct seen *s;
	int i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	s = seen_open(dir, err, sizeof(err));
	assert_non_null(s);
	for (i = 0; i < SEEN_MAX + 10; i++) {
		snprintf(uid, sizeof(uid), "u%d", i);
		assert_true(seen_add(s, uid));
		if (i % 1000 == 999)
			assert_int_equal(seen_commit(s, err, sizeof(err)), 0);
	}
	assert_int_equal(seen_commit(s, err, sizeof(err)), 0);
	assert_true(seen_count(s) <= SEEN_MAX);
	snprintf(uid, sizeof(uid), "u%d", SEEN_MAX + 9);
	assert_true(seen_has(s, uid));
	assert_false(seen_has(s, "u0"));
	seen_close(s);
	snprintf(path, sizeof(path), "%s/seen", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_split_and_join),
		cmocka_unit_test(long_line_is_dropped_to_its_newline),
		cmocka_unit_test(longest_line_fits),
		cmocka_unit_test(a_buffer_takes_its_own_limit),
		cmocka_unit_test(objects_round_trip),
		cmocka_unit_test(msg_fast_path),
		cmocka_unit_test(hello_checks),
		cmocka_unit_test(garbage_is_bad_json),
		cmocka_unit_test(text_limit),
		cmocka_unit_test(seen_survives_reopen),
		cmocka_unit_test(seen_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
