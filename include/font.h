/* font.h - a built-in 5x9 bitmap font for labelling pictures (digit grids, PNG).
 *
 * Every printable ASCII character (0x20..0x7E) has a glyph of FONT_GLYPH_W x
 * FONT_GLYPH_H pixels: capitals and digits are 7 rows tall (rows 0..6, row 6 the
 * baseline), lower case has a 5-row x-height with ascenders from row 0 and
 * descenders in rows 7..8. Characters advance FONT_ADVANCE pixels (one pixel of
 * space), lines FONT_LINE pixels. Other bytes are drawn as '?'.
 *
 * Images are row-major, interleaved: img[(y * w + x) * channels + c], channels 1
 * (grey) or 3 (RGB), 8 bits per sample.
 */
#ifndef MNISTSEC_FONT_H
#define MNISTSEC_FONT_H

#include <stddef.h>
#include <stdint.h>

#define FONT_GLYPH_W 5
#define FONT_GLYPH_H 9
#define FONT_ADVANCE 6
#define FONT_LINE 11

/* Draws text with its top-left corner at (x, y), each font pixel as a scale x scale
 * square (scale < 1 is taken as 1). '\n' starts a new line at x. Pixels outside the
 * w x h image are clipped, so any x, y is safe. On a grey image (channels 1) the
 * colour is drawn as its luma (0.299 R + 0.587 G + 0.114 B); on RGB as given.
 * Nothing is drawn for channels other than 1 and 3, or a NULL img or text. */
void font_draw(uint8_t *img, size_t w, size_t h, int channels, size_t x, size_t y,
               const char *text, const uint8_t color[3], int scale);

/* Width in pixels of the widest line of text at this scale, without the trailing
 * space of its last character (0 for ""). Saturates at SIZE_MAX. */
size_t font_text_width(const char *text, int scale);

/* Height in pixels of text at this scale: FONT_GLYPH_H rows for one line, plus
 * FONT_LINE per further line. */
size_t font_text_height(const char *text, int scale);

/* The glyph of byte c: FONT_GLYPH_H rows, bit 4 of each the leftmost pixel. Bytes
 * outside 0x20..0x7E give the glyph of '?'. */
const uint8_t *font_glyph(unsigned char c);

#endif
