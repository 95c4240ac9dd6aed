/* SHA-256 as specified in FIPS 180-4 section 6.2. Also compiled into the probe kernel and built for the host by
 * the tests, so it must stay plain C with only <stdint.h>. */
#include "sha256.h"

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * The block function is shaped for the CPU that runs it at `vkexec -e`, QEMU's TCG, where every guest
 * instruction costs several host ones: sixteen rounds are written out so that the eight working variables
 * rotate by renaming instead of by seven moves a round, and the message schedule is a window of 16 words whose
 * indices are constants. bench/sha256-tcg.sh, 64 MiB under qemu-x86_64: 0.50 s of CPU against 0.65 s for the
 * plain loop of FIPS 180-4 6.2.2 (2026-12-06); full unrolling gains no more and would not fit kexec's
 * purgatory footprint.
 */
#define CH(e, f, g) ((g) ^ ((e) & ((f) ^ (g))))
#define MAJ(a, b, c) (((a) & (b)) | ((c) & ((a) | (b))))
#define BSIG0(x) (ror(x, 2) ^ ror(x, 13) ^ ror(x, 22))
#define BSIG1(x) (ror(x, 6) ^ ror(x, 11) ^ ror(x, 25))
#define SSIG0(x) (ror(x, 7) ^ ror(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ror(x, 17) ^ ror(x, 19) ^ ((x) >> 10))

/* Message word j (0-15) of the 16 rounds from i: read from the block in the first 16 rounds, then the schedule. */
#define WLOAD(i, j) (w[j] = load_be32(p + 4 * (j)))
#define WNEXT(i, j) (w[j] += SSIG1(w[((j) + 14) & 15]) + w[((j) + 9) & 15] + SSIG0(w[((j) + 1) & 15]))

/* One round: d becomes the new e and h the new a, so the next round names the variables one place on. */
#define ROUND(a, b, c, d, e, f, g, h, i, j, W) do { \
	uint32_t t1 = h + BSIG1(e) + CH(e, f, g) + K[(i) + (j)] + W(i, j); \
	d += t1; \
	h = t1 + BSIG0(a) + MAJ(a, b, c); \
} while (0)

#define ROUNDS16(i, W) do { \
	ROUND(a, b, c, d, e, f, g, h, i, 0, W); ROUND(h, a, b, c, d, e, f, g, i, 1, W); \
	ROUND(g, h, a, b, c, d, e, f, i, 2, W); ROUND(f, g, h, a, b, c, d, e, i, 3, W); \
	ROUND(e, f, g, h, a, b, c, d, i, 4, W); ROUND(d, e, f, g, h, a, b, c, i, 5, W); \
	ROUND(c, d, e, f, g, h, a, b, i, 6, W); ROUND(b, c, d, e, f, g, h, a, i, 7, W); \
	ROUND(a, b, c, d, e, f, g, h, i, 8, W); ROUND(h, a, b, c, d, e, f, g, i, 9, W); \
	ROUND(g, h, a, b, c, d, e, f, i, 10, W); ROUND(f, g, h, a, b, c, d, e, i, 11, W); \
	ROUND(e, f, g, h, a, b, c, d, i, 12, W); ROUND(d, e, f, g, h, a, b, c, i, 13, W); \
	ROUND(c, d, e, f, g, h, a, b, i, 14, W); ROUND(b, c, d, e, f, g, h, a, i, 15, W); \
} while (0)

static void sha256_block(uint32_t st[8], const uint8_t *p)
{
	uint32_t w[16];
	uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
	unsigned int i;

	ROUNDS16(0, WLOAD);
	for (i = 16; i < 64; i += 16)
		ROUNDS16(i, WNEXT);
	st[0] += a; st[1] += b; st[2] += c; st[3] += d;
	st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

void sha256_init(struct sha256_ctx *ctx)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	unsigned int i;

	for (i = 0; i < 8; i++)
		ctx->h[i] = iv[i];
	ctx->total = 0;
	ctx->used = 0;
}

void sha256_update(struct sha256_ctx *ctx, const uint8_t *data, uint64_t len)
{
	ctx->total += len;

	/* Top up a partial block first; whole blocks are then hashed straight from memory. */
	if (ctx->used) {
		while (len && ctx->used < 64) {
			ctx->block[ctx->used++] = *data++;
			len--;
		}
		if (ctx->used < 64)
			return;
		sha256_block(ctx->h, ctx->block);
		ctx->used = 0;
	}
	while (len >= 64) {
		sha256_block(ctx->h, data);
		data += 64;
		len -= 64;
	}
	while (len) {
		ctx->block[ctx->used++] = *data++;
		len--;
	}
}

void sha256_final(struct sha256_ctx *ctx, uint8_t out[32])
{
	uint64_t bits = ctx->total << 3;
	unsigned int i;

	/* Padding: 0x80, zeros up to 56 mod 64, then the bit length big-endian (FIPS 180-4 5.1.1). */
	ctx->block[ctx->used++] = 0x80;
	if (ctx->used > 56) {
		while (ctx->used < 64)
			ctx->block[ctx->used++] = 0;
		sha256_block(ctx->h, ctx->block);
		ctx->used = 0;
	}
	while (ctx->used < 56)
		ctx->block[ctx->used++] = 0;
	store_be32(ctx->block + 56, (uint32_t)(bits >> 32));
	store_be32(ctx->block + 60, (uint32_t)bits);
	sha256_block(ctx->h, ctx->block);

	for (i = 0; i < 8; i++)
		store_be32(out + 4 * i, ctx->h[i]);
}
