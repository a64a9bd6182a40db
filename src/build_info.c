/* build_info.c - the build the binary came from (see build_info.h). The Makefile
 * passes MNISTSEC_CFLAGS and MNISTSEC_REVISION when it compiles this file. */
#include "build_info.h"

#ifndef MNISTSEC_CFLAGS
#define MNISTSEC_CFLAGS "unknown"
#endif
#ifndef MNISTSEC_REVISION
#define MNISTSEC_REVISION "unknown"
#endif

const char *build_compiler(void)
{
#if defined(__VERSION__)
    return __VERSION__;
#else
    return "unknown";
#endif
}

const char *build_cflags(void)
{
    return MNISTSEC_CFLAGS;
}

const char *build_isa(void)
{
    /* The kernels' vector code follows the widest instruction set the compiler may use. */
#if defined(MS_PORTABLE_VECTORS)
    return "portable";
#elif defined(__AVX512F__)
    return "avx512";
#elif defined(__AVX2__)
    return "avx2";
#elif defined(__SSE2__)
    return "sse2";
#else
    return "portable";
#endif
}

const char *build_revision(void)
{
    return MNISTSEC_REVISION;
}
