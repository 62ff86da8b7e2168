/* jarena: jansson's allocations taken from a per-thread arena.
 *
 * Parsing a batch of messages makes some twenty small allocations a
 * message (objects, hash tables, keys, strings), each freed again when
 * the request is answered. Between jarena_open() and jarena_close() on
 * a thread, jansson allocates from a chunk of memory instead, frees
 * nothing one by one, and jarena_close() drops the whole chunk at once.
 *
 * The rule that goes with it: every jansson value made on the thread
 * while the arena is open is gone (decref'd) before jarena_close(), and
 * no memory that jansson hands out to be freed with free(3) is asked for
 * meanwhile: use json_dumpb or json_dump_callback, never json_dumps.
 * Nor does a value made before the arena opened take in anything while
 * it is open (a new key, a longer array), which would leave it holding
 * the arena's memory.
 * Outside an arena, and for values made before it opened, jansson uses
 * malloc(3) and free(3) as usual. Under AddressSanitizer the unused
 * rest of a chunk is poisoned, and a closed arena's memory is freed, so a
 * value that outlives its arena is found. */
#ifndef CHAT_JARENA_H
#define CHAT_JARENA_H

/* Route jansson's allocations through here; once, before any jansson
 * call and before other threads start. */
void jarena_init(void);
/* Open this thread's arena; arenas do not nest. */
void jarena_open(void);
/* Close it, dropping everything allocated in it. */
void jarena_close(void);

#endif
