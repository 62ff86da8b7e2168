/* jarena: jansson's allocations from a per-thread arena. */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "core/jarena.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Chunks double in size from the first; all go back to malloc(3) when
 * the arena closes. */
#define FIRST ((size_t)4 * 1024)
#define ALIGN (sizeof(max_align_t))

struct chunk {
	struct chunk *next;
	size_t size;		/* bytes in data */
	size_t used;
	_Alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct chunk *head;	/* the newest chunk, allocated from */
	bool open;
};

static _Thread_local struct arena arena;

static struct chunk *
chunk_new(size_t size)
{
	struct chunk *c = malloc(sizeof(*c) + size);

	if (c != NULL) {
		c->next = NULL;
		c->size = size;
		c->used = 0;
		POISON(c->data, size);
	}
	return c;
}

static void *
ja_malloc(size_t n)
{
	struct arena *a = &arena;
	struct chunk *c;
	size_t size;
	void *p;

	if (!a->open)
		return malloc(n);
	if (n > SIZE_MAX / 2)
		return NULL;
	n = (n + ALIGN - 1) & ~(ALIGN - 1);
	c = a->head;
	if (c == NULL || c->size - c->used < n) {
		size = c != NULL ? c->size * 2 : FIRST;
		while (size < n)
			size *= 2;
		if ((c = chunk_new(size)) == NULL)
			return NULL;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += n;
	UNPOISON(p, n);
	return p;
}

static void
ja_free(void *p)
{
	const unsigned char *b = p;

	if (p == NULL)
		return;
	if (arena.open)
		for (struct chunk *c = arena.head; c != NULL; c = c->next)
			if (b >= c->data && b < c->data + c->size)
				return;
	free(p);
}

void
jarena_init(void)
{
	json_set_alloc_funcs(ja_malloc, ja_free);
}

void
jarena_open(void)
{
	assert(!arena.open);
	arena.head = NULL;
	arena.open = true;
}

void
jarena_close(void)
{
	struct chunk *c, *next;

	assert(arena.open);
	arena.open = false;
	for (c = arena.head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	arena.head = NULL;
}
