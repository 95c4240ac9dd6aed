/* Polled output on an 8250/16550 UART (register layout of the PC's COM ports). */
#include "purgatory.h"

/* Register offsets from the port base; DLL/DLM replace THR/IER while LCR.DLAB is set. */
#define UART_THR 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5

#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define MCR_DTR_RTS 0x03
#define LSR_THRE 0x20 /* transmit holding register empty */
#define LSR_TEMT 0x40 /* transmitter completely idle */

#define UART_CLOCK_BAUD 115200 /* 1.8432 MHz / 16 */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* 8N1, no interrupts, FIFO off. baud 0 keeps the divisor the firmware or the old kernel left
 * (kexec-tools' purgatory does the same when --serial-baud is not given). */
void serial_init(uint16_t base, uint32_t baud)
{
	outb(base + UART_IER, 0);
	if (baud) {
		uint32_t divisor = UART_CLOCK_BAUD / baud;

		if (divisor == 0)
			divisor = 1;
		outb(base + UART_LCR, LCR_DLAB);
		outb(base + UART_DLL, (uint8_t)divisor);
		outb(base + UART_DLM, (uint8_t)(divisor >> 8));
	}
	outb(base + UART_LCR, LCR_8N1);
	outb(base + UART_FCR, 0);
	outb(base + UART_MCR, MCR_DTR_RTS);
}

/* An absent UART reads 0xff, so neither wait can spin forever on a machine without the port. */
void serial_putc(uint16_t base, char c)
{
	if (c == '\n')
		serial_putc(base, '\r');
	while (!(inb(base + UART_LSR) & LSR_THRE))
		;
	outb(base + UART_THR, (uint8_t)c);
}

void serial_puts(uint16_t base, const char *s)
{
	while (*s)
		serial_putc(base, *s++);
}

void serial_hex(uint16_t base, const uint8_t *bytes, unsigned int n)
{
	static const char digits[] = "0123456789abcdef";
	unsigned int i;

	for (i = 0; i < n; i++) {
		serial_putc(base, digits[bytes[i] >> 4]);
		serial_putc(base, digits[bytes[i] & 15]);
	}
}

/* Before halting for good: let the last byte leave the shift register. */
void serial_drain(uint16_t base)
{
	while (!(inb(base + UART_LSR) & LSR_TEMT))
		;
}
