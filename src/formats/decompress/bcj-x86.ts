// The x86 branch/call/jump filter (xz filter id 0x04) in the decoding direction. The encoder turned the
// relative targets of E8 (call) / E9 (jmp) rel32 instructions into absolute ones so that repeated calls to one
// function compress well; decoding turns them back. Written from the filter's description in the .xz format
// specification and xz-utils' documentation of the algorithm: a 5-byte window, a mask of recently seen
// E8/E9 bytes that vetoes conversions inside what was probably not an instruction boundary, and a
// target whose high byte must be 0x00 or 0xFF (a near address).

const ALLOWED = [true, true, true, false, true, false, false, false];
const BIT_NUMBER = [0, 1, 2, 2, 3, 3, 3, 3];

const nearByte = (b: number) => b === 0x00 || b === 0xff;

/**
 * Decodes `buf` in place as one filtered unit (an .xz block) whose first byte sits at `startOffset` in the
 * filter's address space. The last four bytes can never start a convertible instruction and stay as they are.
 */
export function bcjX86Decode(buf: Uint8Array, startOffset = 0): void {
  let prevMask = 0;
  let prevPos = -5;
  const limit = buf.length - 5;
  // The next E8 and E9 at or after i, found by indexOf() (a native scan) rather than a byte loop.
  let e8 = buf.indexOf(0xe8);
  let e9 = buf.indexOf(0xe9);
  let i = 0;
  for (;;) {
    if (e8 !== -1 && e8 < i) e8 = buf.indexOf(0xe8, i);
    if (e9 !== -1 && e9 < i) e9 = buf.indexOf(0xe9, i);
    i = e8 === -1 ? e9 : e9 === -1 ? e8 : Math.min(e8, e9);
    if (i === -1 || i > limit) break;
    const gap = i - prevPos;
    prevPos = i;
    if (gap > 5) {
      prevMask = 0;
    } else {
      for (let k = 0; k < gap; k++) prevMask = (prevMask & 0x77) << 1;
    }
    const high = buf[i + 4];
    if (nearByte(high) && ALLOWED[(prevMask >>> 1) & 7] && prevMask >>> 1 < 0x10) {
      let src = (buf[i + 1] | (buf[i + 2] << 8) | (buf[i + 3] << 16) | (high << 24)) >>> 0;
      let dest: number;
      for (;;) {
        dest = (src - (startOffset + i + 5)) >>> 0;
        if (prevMask === 0) break;
        const shift = BIT_NUMBER[prevMask >>> 1] * 8;
        if (!nearByte((dest >>> (24 - shift)) & 0xff)) break;
        src = (dest ^ ((1 << (32 - shift)) - 1)) >>> 0;
      }
      // Keep 25 bits and sign-extend bit 24 into the top byte.
      dest &= 0x01ffffff;
      if (dest & 0x01000000) dest |= 0xff000000;
      buf[i + 1] = dest & 0xff;
      buf[i + 2] = (dest >>> 8) & 0xff;
      buf[i + 3] = (dest >>> 16) & 0xff;
      buf[i + 4] = (dest >>> 24) & 0xff;
      i += 5;
      prevMask = 0;
    } else {
      i++;
      prevMask |= 1;
      if (nearByte(high)) prevMask |= 0x10;
    }
  }
}
