// SPDX-License-Identifier: GPL-2.0-only

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <linux/align.h>
#include <linux/io.h>

#include "../../../kselftest.h"
#include <libvfio.h>

static bool is_bdf(const char *str)
{
	unsigned int s, b, d, f;
	int length, count;

	count = sscanf(str, "%4x:%2x:%2x.%2x%n", &s, &b, &d, &f, &length);
	return count == 4 && length == strlen(str);
}

static char **get_bdfs_cmdline(int *argc, char *argv[], int *nr_bdfs)
{
	int i;

	for (i = *argc - 1; i > 0 && is_bdf(argv[i]); i--)
		continue;

	i++;
	*nr_bdfs = *argc - i;
	*argc -= *nr_bdfs;

	return *nr_bdfs ? &argv[i] : NULL;
}

static char *get_bdf_env(void)
{
	char *bdf;

	bdf = getenv("VFIO_SELFTESTS_BDF");
	if (!bdf)
		return NULL;

	VFIO_ASSERT_TRUE(is_bdf(bdf), "Invalid BDF: %s\n", bdf);
	return bdf;
}

char **vfio_selftests_get_bdfs(int *argc, char *argv[], int *nr_bdfs)
{
	static char *env_bdf;
	char **bdfs;

	bdfs = get_bdfs_cmdline(argc, argv, nr_bdfs);
	if (bdfs)
		return bdfs;

	env_bdf = get_bdf_env();
	if (env_bdf) {
		*nr_bdfs = 1;
		return &env_bdf;
	}

	fprintf(stderr, "Unable to determine which device(s) to use, skipping test.\n");
	fprintf(stderr, "\n");
	fprintf(stderr, "To pass the device address via environment variable:\n");
	fprintf(stderr, "\n");
	fprintf(stderr, "    export VFIO_SELFTESTS_BDF=\"segment:bus:device.function\"\n");
	fprintf(stderr, "    %s [options]\n", argv[0]);
	fprintf(stderr, "\n");
	fprintf(stderr, "To pass the device address(es) via argv:\n");
	fprintf(stderr, "\n");
	fprintf(stderr, "    %s [options] segment:bus:device.function ...\n", argv[0]);
	fprintf(stderr, "\n");
	exit(KSFT_SKIP);
}

const char *vfio_selftests_get_bdf(int *argc, char *argv[])
{
	int nr_bdfs;

	return vfio_selftests_get_bdfs(argc, argv, &nr_bdfs)[0];
}

void *mmap_reserve(size_t size, size_t align, size_t offset)
{
	void *map_base, *map_align;
	size_t delta;

	VFIO_ASSERT_GT(align, offset);
	delta = align - offset;

	map_base = mmap(NULL, size + align, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	VFIO_ASSERT_NE(map_base, MAP_FAILED);

	map_align = (void *)(ALIGN((uintptr_t)map_base + delta, align) - delta);

	if (map_align > map_base)
		VFIO_ASSERT_EQ(munmap(map_base, map_align - map_base), 0);

	VFIO_ASSERT_EQ(munmap(map_align + size, map_base + align - map_align), 0);

	return map_align;
}

static sigjmp_buf sigbus_jmp;

static void sigbus_handler(int sig)
{
	siglongjmp(sigbus_jmp, 1);
}

bool read_word_sigbus(void *addr, u32 *val)
{
	struct sigaction sa = { .sa_handler = sigbus_handler }, old;
	bool faulted;

	sigemptyset(&sa.sa_mask);
	VFIO_ASSERT_EQ(sigaction(SIGBUS, &sa, &old), 0);
	/* Set after sigsetjmp() returns, so that it survives siglongjmp(). */
	if (sigsetjmp(sigbus_jmp, 1)) {
		faulted = true;
	} else {
		*val = readl(addr);
		faulted = false;
	}
	VFIO_ASSERT_EQ(sigaction(SIGBUS, &old, NULL), 0);
	return faulted;
}

bool read_sigbus(void *addr)
{
	u32 val;

	return read_word_sigbus(addr, &val);
}

u8 pattern_byte(u8 seed, u64 off)
{
	return seed + off * 7 + (off >> 8) * 3 + (off >> 12) * 13;
}

void host_check(const char *what, u64 bar_off, u64 len, u8 seed)
{
	printf("# p2p-host-check %s 0x%llx 0x%llx 0x%02x\n", what,
	       (unsigned long long)bar_off, (unsigned long long)len, seed);
	fflush(stdout);
}

/*
 * Fault injection: the Nth fault injection point this thread reaches
 * (failslab, fail_page_alloc, and iommufd's own when it is built for
 * tests) fails, through /proc/thread-self/fail-nth. Sleeping allocations
 * are not spared (ignore-gfp-wait N, as iommufd_fail_nth sets it), and no
 * injected failure is logged. fail_page_alloc keeps its min-order (1 by
 * default): allocations of a single page are never failed, so a page
 * table page of the IOMMU is not among the points. False where the
 * kernel has no fault injection in debugfs.
 */
bool fail_nth_setup(void)
{
	static const char * const knobs[][2] = {
		{ "failslab/ignore-gfp-wait", "N" },
		{ "fail_page_alloc/ignore-gfp-wait", "N" },
		{ "fail_page_alloc/ignore-gfp-highmem", "N" },
	};
	char path[300];
	struct dirent *d;
	size_t i;
	DIR *dir;
	int fd;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/%s", knobs[i][0]);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		if (write(fd, knobs[i][1], 1) != 1) {
			close(fd);
			return false;
		}
		close(fd);
	}
	dir = opendir("/sys/kernel/debug");
	if (!dir)
		return false;
	while ((d = readdir(dir))) {
		if (strncmp(d->d_name, "fail", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/debug/%s/verbose", d->d_name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* Quiet is all this is for: a failed write changes nothing else. */
		(void)!write(fd, "0", 1);
		close(fd);
	}
	closedir(dir);
	return true;
}

/* The calling thread's fail-nth file, open. */
int fail_nth_open(void)
{
	return open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
}

/* Fail the @nth fault injection point of the thread from now on (0: none). */
void fail_nth_set(int fd, int nth)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", nth);

	VFIO_ASSERT_EQ(pwrite(fd, buf, len, 0), len);
}

/*
 * Stop injecting. True if the failure was injected (the counter ran
 * down to 0), false if the thread reached fewer points than N since
 * fail_nth_set().
 */
bool fail_nth_injected(int fd)
{
	char buf[16] = "";

	VFIO_ASSERT_GT(pread(fd, buf, sizeof(buf) - 1, 0), 0);
	fail_nth_set(fd, 0);
	return atoi(buf) == 0;
}
