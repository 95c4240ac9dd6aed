/* SHA-256 (FIPS 180-4), freestanding: no libc, no floating point, no 64-bit division. */
#ifndef VKEXEC_SHA256_H
#define VKEXEC_SHA256_H

#include <stdint.h>

struct sha256_ctx {
	uint32_t h[8];
	uint64_t total;      /* bytes hashed so far */
	uint8_t block[64];   /* partial block */
	uint32_t used;       /* bytes in block */
};

void sha256_init(struct sha256_ctx *ctx);
void sha256_update(struct sha256_ctx *ctx, const uint8_t *data, uint64_t len);
void sha256_final(struct sha256_ctx *ctx, uint8_t out[32]);

#endif
