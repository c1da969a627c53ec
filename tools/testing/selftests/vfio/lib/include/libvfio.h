/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef SELFTESTS_VFIO_LIB_INCLUDE_LIBVFIO_H
#define SELFTESTS_VFIO_LIB_INCLUDE_LIBVFIO_H

#include <libvfio/assert.h>
#include <libvfio/iommu.h>
#include <libvfio/iova_allocator.h>
#include <libvfio/sysfs.h>
#include <libvfio/vfio_pci_device.h>
#include <libvfio/vfio_pci_driver.h>

/*
 * Return the BDF string of the device that the test should use.
 *
 * If a BDF string is provided by the user on the command line (as the last
 * element of argv[]), then this function will return that and decrement argc
 * by 1.
 *
 * Otherwise this function will attempt to use the environment variable
 * $VFIO_SELFTESTS_BDF.
 *
 * If BDF cannot be determined then the test will exit with KSFT_SKIP.
 */
const char *vfio_selftests_get_bdf(int *argc, char *argv[]);
char **vfio_selftests_get_bdfs(int *argc, char *argv[], int *nr_bdfs);

/*
 * Reserve virtual address space of size at an address satisfying
 * (vaddr % align) == offset.
 *
 * Returns the reserved vaddr. The caller is responsible for unmapping
 * the returned region.
 */
void *mmap_reserve(size_t size, size_t align, size_t offset);

/*
 * Read the 32-bit word at addr, catching SIGBUS. Returns true if the read
 * raised SIGBUS (a device mapping that is revoked, or has nothing behind
 * it), false if it read. read_word_sigbus() stores the word it read in
 * *val. One thread at a time: the SIGBUS handler is the process's, and
 * the jump buffer is static.
 */
bool read_sigbus(void *addr);
bool read_word_sigbus(void *addr, u32 *val);

/*
 * What a test writes into the BAR of a device whose BAR the host can read
 * (QEMU's ivshmem: a file): pattern_byte() is the byte written with @seed
 * at BAR offset @off, and host_check() reports a range so written (a CPU
 * "fill", a DMA that must be "present" or "absent") on stdout, as a line
 * "# p2p-host-check WHAT 0xOFFSET 0xLENGTH 0xSEED" that the host compares
 * with the BAR's file after the run (see vfio_pci_p2p_dmabuf_test.c).
 */
u8 pattern_byte(u8 seed, u64 off);
void host_check(const char *what, u64 bar_off, u64 len, u8 seed);

/*
 * Fault injection through /proc/thread-self/fail-nth (see libvfio.c):
 * fail_nth_setup() configures it (false where the kernel has no failslab
 * and fail_page_alloc in debugfs); it changes their global knobs for the
 * rest of the boot, as iommufd's fail-nth test does (sleeping allocations
 * are injected too, nothing is logged). fail_nth_open() opens the calling
 * thread's file, fail_nth_set() makes its Nth injection point from now on
 * fail, and fail_nth_injected() stops injecting and says whether the
 * failure was injected.
 */
bool fail_nth_setup(void);
int fail_nth_open(void);
void fail_nth_set(int fd, int nth);
bool fail_nth_injected(int fd);

#endif /* SELFTESTS_VFIO_LIB_INCLUDE_LIBVFIO_H */
