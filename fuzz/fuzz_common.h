/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz target in fuzz/ shares: the CHECK() abort macro, the
 * log callback that drops the library's lines, the byte reader over the
 * input, the standalone mode's random generator, the libFuzzer
 * initialisation and the prototype of the entry point.
 *
 * Each target defines FUZZ_NAME (its program name, a string literal)
 * before including this header; CHECK() messages start with it.  The
 * header is included by exactly one file per program (the target), so it
 * may also define LLVMFuzzerInitialize() for the libFuzzer build.
 */
#ifndef VQCORE_FUZZ_COMMON_H
#define VQCORE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <vqcore/vqcore.h>

#ifndef FUZZ_NAME
#error "define FUZZ_NAME (the target's name) before including fuzz_common.h"
#endif

/* A failed check: say which one, then abort so that libFuzzer (or the
 * smoke test) stops at the input that broke it. */
#define CHECK(c)                                                                 \
	do {                                                                     \
		if (!(c)) {                                                      \
			fprintf(stderr, FUZZ_NAME ": %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #c);                         \
			abort();                                                 \
		}                                                                \
	} while (0)

static inline void quiet(int level, const char *msg, void *opaque)
{
	(void)level;
	(void)msg;
	(void)opaque;
}

/* Keep only errors, and drop those too: both builds run with this. */
static inline void fuzz_quiet_log(void)
{
	vqcore_set_log_fn(quiet, NULL, VQCORE_LOG_ERROR);
}

/* ---- input reader ---- */

struct in {
	const uint8_t *p;
	size_t n;
};

/* The next input byte; 0 once the input is used up. */
static inline uint8_t get8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

#ifndef VQCORE_LIBFUZZER
/* The standalone mode's generator (xorshift64): one step of @x, whose
 * seed each target keeps, so that its inputs are the same on every run. */
static inline void xorshift64(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
}
#endif

/*
 * FUZZ_NOCOV marks the harness's own checking code (model bookkeeping,
 * comparisons that pass unless the library is wrong).  In the libFuzzer
 * build it is compiled without coverage instrumentation: its edges and
 * comparisons say nothing about the input, they only cost time on every
 * step and fill libFuzzer's table of compared values with the harness's
 * loop bounds.  ASan and UBSan still instrument it.  noinline keeps it
 * from being inlined into (and instrumented as part of) its callers.
 */
#if defined(VQCORE_LIBFUZZER) && defined(__clang__) && __clang_major__ >= 13
#define FUZZ_NOCOV __attribute__((no_sanitize("coverage"), noinline))
#else
#define FUZZ_NOCOV
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef VQCORE_LIBFUZZER
/* The library's log lines (a broken queue, a refused message) would cost
 * more than the input itself: drop them, as the standalone mode does. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_log();
	return 0;
}
#endif

#endif /* VQCORE_FUZZ_COMMON_H */
