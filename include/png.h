/* png.h - PNG encoding of 8-bit grey and RGB images, C library only.
 *
 * Pixels are row-major and interleaved: pixels[(y * width + x) * channels + c], with
 * channels 1 (grey, PNG colour type 0) or 3 (RGB, colour type 2), 8 bits per sample,
 * no alpha, no interlacing. The file is: signature, IHDR, one or more IDAT chunks
 * (PNG_IDAT_MAX bytes each at most) holding one zlib stream (RFC 1950), IEND; every
 * chunk carries its CRC-32 (crc32.h).
 *
 * The zlib stream is DEFLATE (RFC 1951) in blocks of at most 65535 input bytes, each
 * block either fixed-Huffman (BTYPE 01) with LZ77 matches found through a hash chain,
 * or stored (BTYPE 00), whichever is shorter, so random pixels cost only the stored
 * blocks' 5 bytes per 65535. Each row is filtered with None or Up (PNG filter types 0
 * and 2), whichever has the smaller sum of absolute filtered values.
 */
#ifndef MNISTSEC_PNG_H
#define MNISTSEC_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "status.h"

/* Largest width or height accepted. */
#define PNG_MAX_DIM 16384u
/* Largest image accepted, in bytes of pixels (width * height * channels). */
#define PNG_MAX_BYTES (256u * 1024u * 1024u)
/* Largest IDAT chunk written, in bytes of data. */
#define PNG_IDAT_MAX 8192u

/* Encodes the image into a new malloc'd buffer *out of *len bytes (the whole PNG
 * file). MS_EINTERNAL, and *out = NULL, for a NULL argument, channels other than 1 or
 * 3, a zero width or height, a side over PNG_MAX_DIM, an image over PNG_MAX_BYTES, or
 * when memory runs out. */
ms_status png_encode(const uint8_t *pixels, size_t width, size_t height, int channels,
                     uint8_t **out, size_t *len, ms_err *err);

/* Encodes the image and writes it as `path` through the output set (fileio.h): the
 * file appears when the set commits. Errors name the path: those of png_encode,
 * MS_ECANTCREAT if the temporary file cannot be created, MS_EIO on a write error. */
ms_status png_write(outset *os, const char *path, const uint8_t *pixels, size_t width,
                    size_t height, int channels, ms_err *err);

#endif
