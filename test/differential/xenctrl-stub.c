/*
 * Stand-in for libxenctrl.so.4.17, which Debian's kexec binary is linked against (its Xen support) but which
 * the differential test never uses: on a machine without /proc/xen, kexec-tools takes the native kexec_load
 * path and calls none of these. Every function here fails as libxenctrl does without a hypervisor
 * (xc_interface_open returns NULL, the rest -1 with ENOSYS), so a call the test did not expect cannot pass
 * silently. Built by the test with a version script that gives the symbols their VERS_4.17.0 node.
 */
#include <errno.h>
#include <stddef.h>

/* xc_hypercall_buffer_t is 0x28 bytes (the size Debian's kexec copy-relocates). */
struct xc_hypercall_buffer_stub { unsigned char bytes[0x28]; };
struct xc_hypercall_buffer_stub xc__hypercall_buffer_HYPERCALL_BUFFER_NULL;

#define FAIL_INT(name) int name(void) { errno = ENOSYS; return -1; }
void *xc_interface_open(void *logger, void *dombuild_logger, unsigned flags)
{
	(void)logger; (void)dombuild_logger; (void)flags;
	errno = ENOSYS;
	return NULL;
}
int xc_interface_close(void *xch) { (void)xch; return 0; }
void *xc__hypercall_buffer_array_alloc(void) { errno = ENOSYS; return NULL; }
void *xc_hypercall_buffer_array_create(void) { errno = ENOSYS; return NULL; }
void xc_hypercall_buffer_array_destroy(void) { }
FAIL_INT(xc_get_machine_memory_map)
FAIL_INT(xc_get_max_cpus)
FAIL_INT(xc_kexec_exec)
FAIL_INT(xc_kexec_get_range)
FAIL_INT(xc_kexec_load)
FAIL_INT(xc_kexec_status)
FAIL_INT(xc_kexec_unload)
FAIL_INT(xc_version)
