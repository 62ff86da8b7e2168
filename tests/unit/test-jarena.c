/* Unit tests for lib/jarena: jansson values made in an arena read back
 * right, however many chunks they take; values made outside it live on;
 * each thread has its own. Under the ASan build, anything that outlived
 * its arena or leaked would fail here. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/jarena.h"
#include "core/jsonw.h"

/* A batch like the ones chat-dird parses: n objects of four strings. */
static char *
batch(size_t n)
{
	struct jsonw w = { 0 };
	char item[160];

	jw_lit(&w, "{\"messages\":[");
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(item, sizeof(item), "%s{\"sender\":\"a\","
		    "\"receiver\":\"b\",\"content\":\"message %zu\","
		    "\"uid\":\"u%zu\"}", i ? "," : "", i, i);
		jw_raw(&w, item, (size_t)len);
	}
	jw_lit(&w, "]}");
	jw_lit(&w, "\0");
	assert_false(w.failed);
	return w.data;
}

static void
check_batch(json_t *o, size_t n)
{
	json_t *list = json_object_get(o, "messages");
	char want[32];

	assert_int_equal(json_array_size(list), n);
	for (size_t i = 0; i < n; i += 997) {
		json_t *m = json_array_get(list, i);
		snprintf(want, sizeof(want), "message %zu", i);
		assert_string_equal(json_string_value(json_object_get(m,
		    "content")), want);
		snprintf(want, sizeof(want), "u%zu", i);
		assert_string_equal(json_string_value(json_object_get(m,
		    "uid")), want);
	}
}

/* Many chunks' worth, then small ones: each arena starts afresh. */
static void
parses_in_the_arena(void **state)
{
	size_t sizes[] = { 20000, 1, 100, 5000 };

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		char *text = batch(sizes[k]);
		json_error_t e;
		json_t *o;

		jarena_open();
		o = json_loads(text, JSON_REJECT_DUPLICATES, &e);
		assert_non_null(o);
		check_batch(o, sizes[k]);
		json_decref(o);
		jarena_close();
		free(text);
	}
}

/* Made before the arena opened and freed inside it; made inside, dumped
 * with jw_json to memory that outlives the arena. */
static void
outside_values_and_dumps(void **state)
{
	json_t *before = json_pack("{s:s, s:[i, i]}", "k", "before", "a", 1,
	    2), *inside;
	struct jsonw w = { 0 };

	(void)state;
	assert_non_null(before);
	jarena_open();
	/* The outside string goes back to free(3); the one put in its
	 * place is the arena's, so it leaves again before the close. */
	assert_int_equal(json_object_set_new(before, "k",
	    json_string("inside")), 0);
	assert_string_equal(json_string_value(json_object_get(before, "k")),
	    "inside");
	assert_int_equal(json_object_del(before, "k"), 0);
	inside = json_pack("{s:s, s:I}", "status", "ok", "id",
	    (json_int_t)42);
	jw_json(&w, inside);
	jw_lit(&w, "\0");
	json_decref(inside);
	jarena_close();
	assert_false(w.failed);
	assert_string_equal(w.data, "{\"status\":\"ok\",\"id\":42}");
	assert_int_equal(json_array_size(json_object_get(before, "a")), 2);
	assert_int_equal(json_object_set_new(before, "k",
	    json_string("after")), 0);
	json_decref(before);
	jw_free(&w);
}

static void *
other_thread(void *arg)
{
	json_t **out = arg;

	/* No arena open on this thread: plain malloc. */
	*out = json_pack("{s:s}", "thread", "other");
	return NULL;
}

static void
arenas_are_per_thread(void **state)
{
	json_t *theirs = NULL, *mine;
	pthread_t t;

	(void)state;
	jarena_open();
	mine = json_string("mine");
	assert_int_equal(pthread_create(&t, NULL, other_thread, &theirs), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	json_decref(mine);
	jarena_close();
	/* The other thread's value outlives this thread's arena. */
	assert_non_null(theirs);
	assert_string_equal(json_string_value(json_object_get(theirs,
	    "thread")), "other");
	json_decref(theirs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_in_the_arena),
		cmocka_unit_test(outside_values_and_dumps),
		cmocka_unit_test(arenas_are_per_thread),
	};

	jarena_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
