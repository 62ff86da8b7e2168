/* Unit tests for lib/jsonw: what it writes must be the JSON jansson reads
 * back as the same values, plain strings and escaped ones alike. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/jsonw.h"

static void
round_trip(const char *s, size_t n)
{
	struct jsonw w = { 0 };
	json_t *back;

	jw_lit(&w, "{\"s\":");
	jw_str(&w, s, n);
	jw_lit(&w, ",\"n\":");
	jw_int(&w, -42);
	jw_lit(&w, ",\"b\":");
	jw_bool(&w, true);
	jw_lit(&w, "}");
	assert_false(w.failed);
	back = json_loadb(w.data, w.len, 0, NULL);
	assert_non_null(back);
	assert_int_equal(json_string_length(json_object_get(back, "s")), n);
	assert_memory_equal(json_string_value(json_object_get(back, "s")), s, n);
	assert_int_equal(json_integer_value(json_object_get(back, "n")), -42);
	assert_true(json_is_true(json_object_get(back, "b")));
	json_decref(back);
	jw_free(&w);
}

static void
strings_round_trip(void **state)
{
	(void)state;
	round_trip("plain text, 100% ASCII", 22);
	round_trip("", 0);
	round_trip("quote \" and backslash \\", 23);
	round_trip("new\nline\ttab\x01", 13);
	round_trip("caf\xc3\xa9 \xf0\x9f\x98\x80 \xe4\xb8\xad", 14);
	round_trip("</script>", 9);
}

static void
plain_is_copied(void **state)
{
	struct jsonw w = { 0 };

	(void)state;
	jw_str(&w, "abc", 3);
	assert_int_equal(w.len, 5);
	assert_memory_equal(w.data, "\"abc\"", 5);
	jw_free(&w);
}

static void
invalid_utf8_fails(void **state)
{
	struct jsonw w = { 0 };

	(void)state;
	jw_str(&w, "\xff", 1);
	assert_true(w.failed);
	jw_lit(&w, "more");	/* a failed writer stays failed */
	assert_true(w.failed);
	jw_free(&w);
	assert_false(w.failed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strings_round_trip),
		cmocka_unit_test(plain_is_copied),
		cmocka_unit_test(invalid_utf8_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
