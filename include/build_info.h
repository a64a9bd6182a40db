/* build_info.h - the build the binary came from: compiler, flags, instruction set and
 * source revision, as recorded in every manifest.json. Results reproduce bit for bit
 * only for the same source revision built with the same compiler, flags and
 * instruction set (README, "Reproducibility").
 */
#ifndef MNISTSEC_BUILD_INFO_H
#define MNISTSEC_BUILD_INFO_H

#define MNISTSEC_VERSION "0.1.0"

const char *build_compiler(void);
const char *build_cflags(void);
/* "avx512", "avx2", "sse2", or "portable" (the plain-C vector fallback). */
const char *build_isa(void);
/* git revision (with "-dirty" for uncommitted changes), or "unknown". */
const char *build_revision(void);

#endif
