/* Byte readers and writers for wire formats (network byte order).
 * Parsers read fields with these, never by casting structs onto buffers. */
#ifndef TERN_UTIL_BYTES_H
#define TERN_UTIL_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
/* Round a STUN attribute length up to its 4-byte boundary. */
static inline size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

#endif
