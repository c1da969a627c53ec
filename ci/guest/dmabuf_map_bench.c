// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_map_bench: time IOMMU_IOAS_MAP_FILE + IOMMU_IOAS_UNMAP of a VFIO
 * PCI BAR dma-buf, count the IOPTEs the mapping used and the kernel
 * memory it held, and time a revoke.
 *
 * usage: dmabuf_map_bench [-m MODE] [-r ROUNDS] [-i ITERS] [-c CASE] BDF
 *
 * The device (an ivshmem-plain; its BAR2 of at least 64 MiB for the map
 * and ranges modes) must be bound to vfio-pci. The program binds it to a
 * fresh iommufd through its VFIO cdev, attaches it to an IOAS and, for
 * every case of the mode, exports the slice as a dma-buf once, then maps
 * it at a fixed IOVA and unmaps it ITERS times per round. Rounds go
 * round-robin over the cases so that a slow phase of the emulator spreads
 * over all of them. Only the uAPI of the base kernel is used: the same
 * binary runs on the base and on the series, and a case the kernel
 * refuses prints its errno.
 *
 * Modes:
 *   map      (default) two references first: two IOMMU_IOAS_IOVA_RANGES
 *            ioctls, which map nothing (how fast the kernel enters and
 *            leaves iommufd), and a page of a memfd mapped and unmapped
 *            (the same ioctls and IOMMU work without a dma-buf); then
 *            slices of 4 KiB, 2 MiB and 64 MiB in one range and in 16.
 *   bar      the whole BAR in one range, at an IOVA aligned to its size.
 *   ranges   1, 16, 256 and 4096 ranges of one page each, a page apart
 *            in the BAR (so that no two can share an IOPTE).
 *   revoke   a dma-buf of 1 or 4096 such ranges mapped into 1 or 4
 *            IOASes (the device's, and mock domains of the iommufd test
 *            module for the others); the time of the config write that
 *            turns memory decode off, which returns once every importer
 *            has unmapped (invalidate_mappings), then the time of the
 *            write that turns decode on (the lift), unmap, map again;
 *            references: a write that changes nothing, and decode off
 *            and on with only a page of the BAR mmapped (ref-mmap).
 *   fault    CPU faults of the BAR mmap()ed through the device file, as a
 *            VMM maps it: fault-4K reads one word of each page of 16 MiB
 *            mapped 4 KiB off a 2 MiB boundary (every fault maps a page),
 *            fault-2M one word of each 2 MiB of the BAR mapped at a 2 MiB
 *            boundary (a fault maps 2 MiB where the kernel can); the time
 *            of the first read of each, per read, mapped again for every
 *            sample. No IOMMU mapping is made. fault-4K-toggle: fault-4K
 *            while a second thread turns memory decode off and on without
 *            a pause; a read that finds decode off (SIGBUS on both
 *            kernels) yields and reads again. Its figure is the faulting
 *            thread's CPU time per read (CLOCK_THREAD_CPUTIME_ID: the
 *            toggling thread's time is not in it, the time spent on the
 *            reads that raised SIGBUS is), then the time per read on the
 *            clock, and per sample the toggles done and the SIGBUS taken.
 *   profile  one map + unmap of CASE (of the map, ranges or bar mode) ITERS times
 *            between two marker functions, for the insn-profile QEMU
 *            plugin (ci/insn-profile.c) to count the instructions of;
 *            CASE fault-4K: the reads of fault-4K, ITERS times.
 *
 * Output, one line per case, for ci/bench to compare:
 *   BENCH-TIME <case> <bytes> <ranges> <samples> <map ns> <unmap ns> <sum ns>
 *   BENCH-IOPTE <case> <4K> <2M> <1G> <min 4K> <min 2M> <min 1G>
 *   BENCH-MEM <case> <bytes of kernel memory held while mapped>
 *   BENCH-REVOKE <case> <ranges> <ioases> <samples> <revoke ns> <lift ns>
 *   BENCH-FAULT <case> <reads> <samples> <ns per read>
 *               [<clock ns per read> <toggles> <SIGBUS>] (fault-4K-toggle)
 *   BENCH-ERR <case> <errno name>
 * Times are medians of the per-iteration values. The IOPTE counts are
 * the leaves of the device's second-stage table in the IOVA window, read
 * from the intel-iommu debugfs; the minimum is what the best page sizes
 * the IOMMU supports allow for the physical layout of the slice. Memory
 * is the growth of Slab + SecPageTables + VmallocUsed of /proc/meminfo
 * (the IOMMU's page tables are in SecPageTables) over the first map of
 * the case, the per-CPU counters folded first (vm.stat_refresh).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "bench.h"
#include "iommufd_test.h"

#define SZ_4K		0x1000ULL
#define SZ_8K		0x2000ULL
#define SZ_64K		0x10000ULL
#define SZ_2M		0x200000ULL
#define SZ_64M		0x4000000ULL
#define SZ_1G		0x40000000ULL
#define BENCH_IOVA	SZ_1G
#define BAR		VFIO_PCI_BAR2_REGION_INDEX
#define MAX_IOAS	4

struct bench_case {
	const char *name;
	uint64_t size;		/* bytes in the dma-buf; 0: the whole BAR */
	unsigned int nr_ranges;
	uint64_t stride;	/* BAR distance of two ranges; 0: adjacent */
	bool reversed;		/* ranges listed from the end of the slice */
	bool memfd;		/* the reference: a memfd, not a dma-buf */
	bool null;		/* two ioctls that map nothing */
	unsigned int nr_ioas;	/* revoke: the IOASes it is mapped into */
	uint64_t iova;		/* 0: BENCH_IOVA */
	/* filled in at run time */
	int dmabuf_fd;
	int err;
	long long mem;
	uint64_t *map_ns, *unmap_ns;
	unsigned int samples, max_samples;
};

static struct bench_case map_cases[] = {
	{ .name = "ref-ioctl", .size = SZ_4K, .nr_ranges = 1, .null = true },
	{ .name = "ref-memfd", .size = SZ_4K, .nr_ranges = 1, .memfd = true },
	{ .name = "4K", .size = SZ_4K, .nr_ranges = 1 },
	{ .name = "2M", .size = SZ_2M, .nr_ranges = 1 },
	{ .name = "64M", .size = SZ_64M, .nr_ranges = 1 },
	{ .name = "64K-x16", .size = SZ_64K, .nr_ranges = 16 },
	{ .name = "2M-x16", .size = SZ_2M, .nr_ranges = 16 },
	{ .name = "64M-x16", .size = SZ_64M, .nr_ranges = 16 },
	{ .name = "64K-x16r", .size = SZ_64K, .nr_ranges = 16, .reversed = true },
	{ .name = "2M-x16r", .size = SZ_2M, .nr_ranges = 16, .reversed = true },
	{ .name = "64M-x16r", .size = SZ_64M, .nr_ranges = 16, .reversed = true },
};

static struct bench_case bar_cases[] = {
	{ .name = "bar", .size = 0, .nr_ranges = 1 },
};

/* Each at its own IOVA, so that each first map builds its own tables. */
static struct bench_case range_cases[] = {
	{ .name = "pages-1", .size = SZ_4K, .nr_ranges = 1, .stride = SZ_8K,
	  .iova = 1 * SZ_1G },
	{ .name = "pages-16", .size = 16 * SZ_4K, .nr_ranges = 16,
	  .stride = SZ_8K, .iova = 2 * SZ_1G },
	{ .name = "pages-256", .size = 256 * SZ_4K, .nr_ranges = 256,
	  .stride = SZ_8K, .iova = 3 * SZ_1G },
	{ .name = "pages-4096", .size = 4096 * SZ_4K, .nr_ranges = 4096,
	  .stride = SZ_8K, .iova = 4 * SZ_1G },
};

static struct bench_case revoke_cases[] = {
	{ .name = "revoke-1x1", .size = SZ_4K, .nr_ranges = 1, .stride = SZ_8K,
	  .nr_ioas = 1 },
	{ .name = "revoke-1x4", .size = SZ_4K, .nr_ranges = 1, .stride = SZ_8K,
	  .nr_ioas = 4 },
	{ .name = "revoke-4096x1", .size = 4096 * SZ_4K, .nr_ranges = 4096,
	  .stride = SZ_8K, .nr_ioas = 1 },
	{ .name = "revoke-4096x4", .size = 4096 * SZ_4K, .nr_ranges = 4096,
	  .stride = SZ_8K, .nr_ioas = 4 },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct bench_case *cases;
static unsigned int nr_cases;
static const char *bdf;
static int iommufd, devfd;
static uint32_t ioas_id;
static uint64_t bar_phys, bar_size;
static off_t bar_offset;		/* the BAR's region in the device file */
static off_t cmd_offset;	/* PCI_COMMAND in the config region */
static uint16_t cmd_on;		/* PCI_COMMAND with memory decode on */

static void open_device(void)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char path[512];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir)
		die(path);
	while ((de = readdir(dir)) && strncmp(de->d_name, "vfio", 4))
		;
	if (!de) {
		errno = ENODEV;
		die("no VFIO cdev");
	}
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", de->d_name);
	closedir(dir);

	devfd = open(path, O_RDWR);
	if (devfd < 0)
		die(path);
	iommufd = open("/dev/iommu", O_RDWR);
	if (iommufd < 0)
		die("/dev/iommu");
	bind.iommufd = iommufd;
	if (ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		die("VFIO_DEVICE_BIND_IOMMUFD");
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc))
		die("IOMMU_IOAS_ALLOC");
	ioas_id = alloc.out_ioas_id;
	attach.pt_id = ioas_id;
	if (ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		die("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
}

/* BAR size from VFIO, BAR address from sysfs, memory decode on. */
static void probe_bar(void)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg),
					.index = VFIO_PCI_CONFIG_REGION_INDEX };
	struct vfio_region_info info = { .argsz = sizeof(info), .index = BAR };
	unsigned long long start, end, flags;
	char path[256];
	uint16_t cmd;
	FILE *f;
	int i;

	if (ioctl(devfd, VFIO_DEVICE_GET_REGION_INFO, &info))
		die("VFIO_DEVICE_GET_REGION_INFO");
	bar_size = info.size;
	bar_offset = info.offset;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	f = fopen(path, "r");
	if (!f)
		die(path);
	for (i = 0; i <= BAR; i++)
		if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3)
			die("parse resource");
	fclose(f);
	bar_phys = start;

	if (ioctl(devfd, VFIO_DEVICE_GET_REGION_INFO, &cfg))
		die("config region");
	if (pread(devfd, &cmd, 2, cfg.offset + PCI_COMMAND) != 2)
		die("read PCI_COMMAND");
	cmd |= PCI_COMMAND_MEMORY;
	if (pwrite(devfd, &cmd, 2, cfg.offset + PCI_COMMAND) != 2)
		die("write PCI_COMMAND");
	cmd_offset = cfg.offset + PCI_COMMAND;
	cmd_on = cmd;
}

static uint64_t case_iova(const struct bench_case *c)
{
	return c->iova ? c->iova : BENCH_IOVA;
}

/*
 * The BAR offset of the i-th range of a case, in the order the ranges are
 * given to VFIO (and so the IOVA order).
 */
static uint64_t range_offset(const struct bench_case *c, unsigned int i)
{
	uint64_t len = c->size / c->nr_ranges;
	uint64_t stride = c->stride ? c->stride : len;

	return (c->reversed ? c->nr_ranges - 1 - i : i) * stride;
}

static int export(struct bench_case *c)
{
	size_t sz = sizeof(struct vfio_device_feature) +
		    sizeof(struct vfio_device_feature_dma_buf) +
		    c->nr_ranges * sizeof(struct vfio_region_dma_range);
	struct vfio_device_feature_dma_buf *db;
	struct vfio_device_feature *feat;
	unsigned int i;
	int fd;

	if (c->null)
		return 0;
	if (c->memfd) {
		fd = memfd_create("bench", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, c->size))
			die("memfd");
		return fd;
	}
	feat = calloc(1, sz);
	if (!feat)
		die("calloc");
	feat->argsz = sz;
	feat->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	db = (void *)feat->data;
	db->region_index = BAR;
	db->open_flags = O_RDWR | O_CLOEXEC;
	db->nr_ranges = c->nr_ranges;
	for (i = 0; i < c->nr_ranges; i++) {
		db->dma_ranges[i].offset = range_offset(c, i);
		db->dma_ranges[i].length = c->size / c->nr_ranges;
	}
	fd = ioctl(devfd, VFIO_DEVICE_FEATURE, feat);
	free(feat);
	return fd < 0 ? -errno : fd;
}

/* IOMMU_IOAS_IOVA_RANGES: an iommufd ioctl that does next to nothing. */
static int null_ioctl(void)
{
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
	};

	if (!ioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, &cmd) || errno == EMSGSIZE)
		return 0;
	return -errno;
}

static int map_into(struct bench_case *c, uint32_t ioas)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.fd = c->dmabuf_fd,
		.length = c->size,
		.iova = case_iova(c),
	};

	if (c->null)
		return null_ioctl();
	return ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &cmd) ? -errno : 0;
}

static void unmap_from(struct bench_case *c, uint32_t ioas)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.iova = case_iova(c),
		.length = c->size,
	};

	if (c->null) {
		if (null_ioctl())
			die("IOMMU_IOAS_IOVA_RANGES");
		return;
	}
	if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd))
		die("IOMMU_IOAS_UNMAP");
}

static int map(struct bench_case *c)
{
	return map_into(c, ioas_id);
}

static void unmap(struct bench_case *c)
{
	unmap_from(c, ioas_id);
}

/*
 * Kernel memory that a mapping can hold, in bytes: slab, the IOMMU's page
 * tables (SecPageTables) and vmalloc.
 */
static long long kmem(void)
{
	char line[128];
	long long sum = 0, kb;
	FILE *f;
	int fd;

	/*
	 * The counters are per CPU and reach the global ones in batches:
	 * fold them first, or a few dozen pages go unseen.
	 */
	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1)
		die("/proc/sys/vm/stat_refresh");
	close(fd);
	f = fopen("/proc/meminfo", "r");
	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if ((sscanf(line, "Slab: %lld", &kb) == 1) ||
		    (sscanf(line, "SecPageTables: %lld", &kb) == 1) ||
		    (sscanf(line, "VmallocUsed: %lld", &kb) == 1))
			sum += kb;
	fclose(f);
	return sum * 1024;
}

/*
 * Second-stage super page sizes from the DMAR capability register: the
 * guest's intel-iommu is in legacy mode (ci/boot), where DMA domains use
 * the second-stage table.
 */
static uint64_t iommu_page_sizes(void)
{
	uint64_t sizes = SZ_4K, cap = 0;
	char line[256], name[64];
	unsigned int off;
	FILE *f;

	f = fopen("/sys/kernel/debug/iommu/intel/iommu_regset", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		uint64_t val;

		if (sscanf(line, "%63s 0x%x 0x%" SCNx64, name, &off, &val) == 3 &&
		    !strcmp(name, "CAP")) {
			cap = val;
			break;
		}
	}
	fclose(f);
	if ((cap >> 34) & 1)
		sizes |= SZ_2M;
	if ((cap >> 35) & 1)
		sizes |= SZ_1G;
	return sizes;
}

/*
 * The fewest IOPTEs that can map the slice: each physically contiguous
 * run of IOVA split greedily into the largest pages that both addresses
 * are aligned to.
 */
static void min_ioptes(const struct bench_case *c, uint64_t sizes,
		       unsigned long count[3])
{
	static const uint64_t pg[3] = { SZ_4K, SZ_2M, SZ_1G };
	uint64_t iova = case_iova(c), len = c->size / c->nr_ranges;
	unsigned int i = 0, j;

	while (i < c->nr_ranges) {
		uint64_t phys = bar_phys + range_offset(c, i);
		uint64_t run = len;

		while (++i < c->nr_ranges &&
		       bar_phys + range_offset(c, i) == phys + run)
			run += len;
		while (run) {
			for (j = 2; j > 0; j--)
				if ((sizes & pg[j]) && !(iova % pg[j]) &&
				    !(phys % pg[j]) && run >= pg[j])
					break;
			count[j]++;
			iova += pg[j];
			phys += pg[j];
			run -= pg[j];
		}
	}
}

/*
 * Count the leaves of the device's table inside the IOVA window. A leaf
 * line of the debugfs dump is the IOVA PFN, "|", then one entry per level
 * from PML5E down: three entries for a 1 GiB page, four for 2 MiB, five
 * for 4 KiB.
 */
static int count_ioptes(const struct bench_case *c, unsigned long count[3])
{
	char path[256], line[512];
	unsigned long long pfn;
	int fields, n;
	char *p;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/kernel/debug/iommu/intel/%s/domain_translation_struct",
		 bdf);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "0x%llx |%n", &pfn, &n) != 1)
			continue;
		if (pfn < case_iova(c) / SZ_4K ||
		    pfn >= (case_iova(c) + c->size) / SZ_4K)
			continue;
		fields = 0;
		for (p = strtok(line + n, " \t\n"); p; p = strtok(NULL, " \t\n"))
			fields++;
		if (fields >= 3 && fields <= 5)
			count[5 - fields]++;
	}
	fclose(f);
	return 0;
}

static const char *errname(int err)
{
	switch (err) {
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EINVAL: return "EINVAL";
	case ENODEV: return "ENODEV";
	case ENOMEM: return "ENOMEM";
	case ENOSPC: return "skipped-BAR-too-small";
	default: return strerror(err);
	}
}

/*
 * The markers of the profile mode: the insn-profile plugin counts from the
 * first instruction of the first to the first of the second. Different
 * bodies, so that the compiler cannot fold them into one.
 */
static volatile unsigned int marker_hits;

__attribute__((noinline)) void bench_profile_start(void)
{
	marker_hits += 1;
}

__attribute__((noinline)) void bench_profile_stop(void)
{
	marker_hits += 2;
}

/* A mock domain of the iommufd test module, attached to a new IOAS. */
static uint32_t mock_ioas(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
	};

	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc))
		die("IOMMU_IOAS_ALLOC");
	cmd.id = alloc.out_ioas_id;
	if (ioctl(iommufd, IOMMU_TEST_CMD, &cmd))
		return 0;
	return alloc.out_ioas_id;
}

static void set_decode(bool on)
{
	uint16_t cmd = on ? cmd_on : cmd_on & ~PCI_COMMAND_MEMORY;

	if (pwrite(devfd, &cmd, 2, cmd_offset) != 2)
		die("write PCI_COMMAND");
}

/* Time the config write that turns decode off, then the one that turns it on. */
static void time_toggle(uint64_t *off_ns, uint64_t *on_ns)
{
	uint64_t t0;

	t0 = now_ns();
	set_decode(false);
	*off_ns = now_ns() - t0;
	t0 = now_ns();
	set_decode(true);
	*on_ns = now_ns() - t0;
}

/*
 * Map the case into its IOASes, turn decode off (the revoke: the write
 * returns after every importer's invalidate_mappings), turn it on (the
 * lift: on the series the write returns once the importers were told that
 * the buffer can be mapped again), unmap and start again. The references:
 * the same config write that changes nothing, and decode off and on with
 * no dma-buf but a page of the BAR mmapped through the device (the
 * dma-buf under it has no importer).
 */
static void run_revoke(unsigned int samples)
{
	static uint32_t ioas[MAX_IOAS];
	uint64_t *ns, *lift, *ref, t0;
	void *page;
	unsigned int k, i, j;
	bool no_mock = false;
	int ret;

	ns = calloc(samples, sizeof(*ns));
	lift = calloc(samples, sizeof(*lift));
	ref = calloc(samples, sizeof(*ref));
	if (!ns || !lift || !ref)
		die("calloc");
	for (i = 0; i < samples; i++) {
		t0 = now_ns();
		set_decode(true);
		ref[i] = now_ns() - t0;
	}
	printf("BENCH-REVOKE ref-write 0 0 %u %llu %llu\n", samples,
	       (unsigned long long)median(ref, samples),
	       (unsigned long long)median(ref, samples));

	page = mmap(NULL, SZ_4K, PROT_READ, MAP_SHARED, devfd, bar_offset);
	if (page == MAP_FAILED)
		die("mmap BAR");
	for (i = 0; i < samples; i++)
		time_toggle(&ns[i], &lift[i]);
	if (munmap(page, SZ_4K))
		die("munmap");
	printf("BENCH-REVOKE ref-mmap 0 0 %u %llu %llu\n", samples,
	       (unsigned long long)median(ns, samples),
	       (unsigned long long)median(lift, samples));

	ioas[0] = ioas_id;
	for (j = 1; j < MAX_IOAS; j++) {
		ioas[j] = mock_ioas();
		if (!ioas[j]) {
			no_mock = true;
			break;
		}
	}
	for (k = 0; k < nr_cases; k++) {
		struct bench_case *c = &cases[k];

		if (c->err) {
			printf("BENCH-ERR %s %s\n", c->name, errname(c->err));
			continue;
		}
		if (c->nr_ioas > 1 && no_mock) {
			printf("BENCH-ERR %s no-mock-domain\n", c->name);
			continue;
		}
		ret = 0;
		for (i = 0; i < samples; i++) {
			for (j = 0; j < c->nr_ioas; j++) {
				ret = map_into(c, ioas[j]);
				if (ret)
					break;
			}
			if (ret) {
				while (j--)
					unmap_from(c, ioas[j]);
				break;
			}
			time_toggle(&ns[i], &lift[i]);
			for (j = 0; j < c->nr_ioas; j++)
				unmap_from(c, ioas[j]);
		}
		if (ret)
			printf("BENCH-ERR %s %s\n", c->name, errname(-ret));
		else
			printf("BENCH-REVOKE %s %u %u %u %llu %llu\n", c->name,
			       c->nr_ranges, c->nr_ioas, samples,
			       (unsigned long long)median(ns, samples),
			       (unsigned long long)median(lift, samples));
	}
	free(ns);
	free(lift);
	free(ref);
}

/*
 * Map @len bytes of the BAR at @skip bytes past a 2 MiB boundary, in an
 * area of @len + 4 MiB reserved first (*@area, to munmap()); returns the
 * address of the BAR's first byte.
 */
static char *map_bar_at(size_t len, size_t skip, char **area)
{
	const size_t align = 2 << 20;
	char *at;

	*area = mmap(NULL, len + 2 * align, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*area == MAP_FAILED)
		die("mmap reserve");
	at = (char *)(((uintptr_t)*area + align - 1) & ~(uintptr_t)(align - 1)) +
	     skip;
	if (mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 devfd, bar_offset) != at)
		die("mmap BAR");
	return at;
}

/*
 * Map @len bytes of the BAR at @skip bytes past a 2 MiB boundary, read a
 * word every @step bytes, and return the time per read; the mapping is
 * gone on return.
 */
static uint64_t fault_once(size_t len, size_t skip, size_t step)
{
	volatile uint32_t *p;
	uint64_t t0, t;
	char *area, *at;
	size_t off;

	at = map_bar_at(len, skip, &area);
	t0 = now_ns();
	for (off = 0; off < len; off += step) {
		p = (volatile uint32_t *)(at + off);
		(void)*p;
	}
	t = now_ns() - t0;
	if (munmap(area, len + 2 * SZ_2M))
		die("munmap");
	return t / (len / step);
}

/*
 * fault-4K between the profile markers, @iters times: the faults of 16 MiB
 * of the BAR mmapped 4 KiB off a 2 MiB boundary, one per page.
 */
static void run_fault_profile(unsigned int iters)
{
	const size_t len = 16 << 20;
	char *area, *at;
	unsigned int i;
	size_t off;

	if (len > bar_size) {
		printf("BENCH-ERR fault-4K bar-too-small\n");
		return;
	}
	for (i = 0; i < iters; i++) {
		at = map_bar_at(len, 4096, &area);
		bench_profile_start();
		for (off = 0; off < len; off += 4096)
			(void)*(volatile uint32_t *)(at + off);
		bench_profile_stop();
		if (munmap(area, len + 2 * SZ_2M))
			die("munmap");
	}
	printf("BENCH-PROFILE fault-4K %zu\n", iters * (len / 4096));
}

static uint64_t thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static sigjmp_buf toggle_jmp;

static void toggle_sigbus(int sig)
{
	(void)sig;
	siglongjmp(toggle_jmp, 1);
}

struct toggler {
	bool stop;
	unsigned long toggles;
};

/* Decode off and on until told to stop; it ends on. */
static void *toggle_decode(void *arg)
{
	struct toggler *t = arg;

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		set_decode(false);
		set_decode(true);
		__atomic_add_fetch(&t->toggles, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

struct toggle_sample {
	uint64_t cpu_ns, clock_ns;
	unsigned long toggles, sigbus;
};

/*
 * fault_once() while another thread toggles decode: the reads, and every
 * read again after a SIGBUS, until each of @len / @step reads has read.
 */
static void fault_toggle_once(size_t len, size_t skip, size_t step,
			      struct toggle_sample *s)
{
	struct sigaction sa = { .sa_handler = toggle_sigbus }, old;
	struct toggler t = { 0 };
	volatile unsigned long sigbus = 0;
	volatile size_t off = 0;
	uint64_t c0, w0;
	pthread_t thread;
	char *area, *at;

	at = map_bar_at(len, skip, &area);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old))
		die("sigaction");
	if (pthread_create(&thread, NULL, toggle_decode, &t))
		die("pthread_create");
	c0 = thread_ns();
	w0 = now_ns();
	if (sigsetjmp(toggle_jmp, 1)) {
		sigbus = sigbus + 1;
		sched_yield();
	}
	for (; off < len; off = off + step)
		(void)*(volatile uint32_t *)(at + off);
	s->cpu_ns = (thread_ns() - c0) / (len / step);
	s->clock_ns = (now_ns() - w0) / (len / step);
	__atomic_store_n(&t.stop, true, __ATOMIC_RELEASE);
	if (pthread_join(thread, NULL))
		die("pthread_join");
	if (sigaction(SIGBUS, &old, NULL))
		die("sigaction");
	s->toggles = t.toggles;
	s->sigbus = sigbus;
	if (munmap(area, len + 2 * SZ_2M))
		die("munmap");
}

static void run_fault_toggle(unsigned int samples)
{
	const size_t len = 16 << 20, skip = 4096, step = 4096;
	struct toggle_sample s;
	uint64_t *cpu, *clk, *tog, *bus;
	unsigned int i;

	if (len > bar_size) {
		printf("BENCH-ERR fault-4K-toggle bar-too-small\n");
		return;
	}
	cpu = calloc(samples, sizeof(*cpu));
	clk = calloc(samples, sizeof(*clk));
	tog = calloc(samples, sizeof(*tog));
	bus = calloc(samples, sizeof(*bus));
	if (!cpu || !clk || !tog || !bus)
		die("calloc");
	for (i = 0; i < samples; i++) {
		fault_toggle_once(len, skip, step, &s);
		cpu[i] = s.cpu_ns;
		clk[i] = s.clock_ns;
		tog[i] = s.toggles;
		bus[i] = s.sigbus;
	}
	printf("BENCH-FAULT fault-4K-toggle %zu %u %llu %llu %llu %llu\n",
	       len / step, samples,
	       (unsigned long long)median(cpu, samples),
	       (unsigned long long)median(clk, samples),
	       (unsigned long long)median(tog, samples),
	       (unsigned long long)median(bus, samples));
	free(cpu);
	free(clk);
	free(tog);
	free(bus);
}

static void run_fault(unsigned int samples)
{
	static const struct {
		const char *name;
		size_t len, skip, step;
	} fc[] = {
		{ "fault-4K", 16 << 20, 4096, 4096 },
		{ "fault-2M", 0, 0, 2 << 20 },
	};
	uint64_t *ns;
	unsigned int k, i;
	size_t len;

	ns = calloc(samples, sizeof(*ns));
	if (!ns)
		die("calloc");
	for (k = 0; k < ARRAY_SIZE(fc); k++) {
		len = fc[k].len ? fc[k].len : bar_size;
		if (len > bar_size) {
			printf("BENCH-ERR %s bar-too-small\n", fc[k].name);
			continue;
		}
		for (i = 0; i < samples; i++)
			ns[i] = fault_once(len, fc[k].skip, fc[k].step);
		printf("BENCH-FAULT %s %zu %u %llu\n", fc[k].name,
		       len / fc[k].step, samples,
		       (unsigned long long)median(ns, samples));
	}
	free(ns);
	run_fault_toggle(samples);
}

static void run_profile(struct bench_case *c, unsigned int iters)
{
	unsigned int i;

	if (c->err) {
		printf("BENCH-ERR %s %s\n", c->name, errname(c->err));
		return;
	}
	bench_profile_start();
	for (i = 0; i < iters; i++) {
		if (map(c))
			die("IOMMU_IOAS_MAP_FILE");
		unmap(c);
	}
	bench_profile_stop();
	printf("BENCH-PROFILE %s %u\n", c->name, iters);
}

/*
 * Export every case, map it once: whether the kernel takes it at all, and
 * the memory that first mapping holds. The first map of a case that takes
 * more than 20 ms (a large BAR mapped page by page) leaves it 3 samples.
 */
static void prepare(unsigned int samples, bool timed)
{
	unsigned int k;
	uint64_t t0, t;
	long long m0;
	int ret;

	for (k = 0; k < nr_cases; k++) {
		struct bench_case *c = &cases[k];

		c->err = 0;
		/* The whole BAR, at an IOVA aligned to its size */
		if (!c->size) {
			c->size = bar_size;
			c->iova = bar_size > SZ_1G ? bar_size : SZ_1G;
		}
		if (range_offset(c, c->reversed ? 0 : c->nr_ranges - 1) +
		    c->size / c->nr_ranges > bar_size) {
			c->err = ENOSPC;
			continue;
		}
		ret = export(c);
		if (ret < 0) {
			c->err = -ret;
			continue;
		}
		c->dmabuf_fd = ret;
		if (!timed)
			continue;
		m0 = kmem();
		t0 = now_ns();
		ret = map(c);
		t = now_ns() - t0;
		if (ret) {
			c->err = -ret;
			continue;
		}
		c->mem = kmem() - m0;
		unmap(c);
		c->max_samples = samples;
		if (t > 20000000ULL && samples > 3)
			c->max_samples = 3;
		c->map_ns = calloc(c->max_samples, sizeof(uint64_t));
		c->unmap_ns = calloc(c->max_samples, sizeof(uint64_t));
		if (!c->map_ns || !c->unmap_ns)
			die("calloc");
	}
}

static void run_timed(unsigned int rounds, unsigned int iters)
{
	unsigned int r, k, i;
	int ret;

	for (r = 0; r < rounds; r++) {
		for (k = 0; k < nr_cases; k++) {
			struct bench_case *c = &cases[k];

			if (c->err)
				continue;
			for (i = 0; i < iters; i++) {
				uint64_t t0, t1, t2;

				/* A slow case (see prepare()) is full. */
				if (c->samples == c->max_samples)
					break;
				t0 = now_ns();
				ret = map(c);
				t1 = now_ns();
				if (ret) {
					errno = -ret;
					die("IOMMU_IOAS_MAP_FILE");
				}
				unmap(c);
				t2 = now_ns();
				c->map_ns[c->samples] = t1 - t0;
				c->unmap_ns[c->samples++] = t2 - t1;
			}
		}
	}
}

static void report(uint64_t sizes)
{
	unsigned int k, i;
	int ret;

	for (k = 0; k < nr_cases; k++) {
		struct bench_case *c = &cases[k];
		unsigned long have[3] = {}, want[3] = {};
		uint64_t *sum;

		if (c->err) {
			printf("BENCH-ERR %s %s\n", c->name, errname(c->err));
			continue;
		}
		sum = calloc(c->samples, sizeof(*sum));
		if (!sum)
			die("calloc");
		for (i = 0; i < c->samples; i++)
			sum[i] = c->map_ns[i] + c->unmap_ns[i];
		printf("BENCH-TIME %s %llu %u %u %llu %llu %llu\n", c->name,
		       (unsigned long long)c->size, c->nr_ranges, c->samples,
		       (unsigned long long)median(c->map_ns, c->samples),
		       (unsigned long long)median(c->unmap_ns, c->samples),
		       (unsigned long long)median(sum, c->samples));
		free(sum);

		if (c->memfd || c->null)
			continue;
		printf("BENCH-MEM %s %lld\n", c->name, c->mem);
		if (map(c))
			die("IOMMU_IOAS_MAP_FILE");
		ret = count_ioptes(c, have);
		unmap(c);
		if (ret || !sizes) {
			printf("BENCH-IOPTE %s unavailable\n", c->name);
			continue;
		}
		min_ioptes(c, sizes, want);
		printf("BENCH-IOPTE %s %lu %lu %lu %lu %lu %lu\n", c->name,
		       have[0], have[1], have[2], want[0], want[1], want[2]);
	}
}

int main(int argc, char **argv)
{
	unsigned int rounds = 10, iters = 100, k;
	const char *mode = "map", *pcase = "4K";
	uint64_t sizes;
	int opt;

	while ((opt = getopt(argc, argv, "m:r:i:c:")) != -1) {
		switch (opt) {
		case 'm': mode = optarg; break;
		case 'r': rounds = atoi(optarg); break;
		case 'i': iters = atoi(optarg); break;
		case 'c': pcase = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || !rounds || !iters)
		goto usage;
	bdf = argv[optind];

	if (!strcmp(mode, "map") || !strcmp(mode, "profile")) {
		cases = map_cases;
		nr_cases = ARRAY_SIZE(map_cases);
	} else if (!strcmp(mode, "bar")) {
		cases = bar_cases;
		nr_cases = ARRAY_SIZE(bar_cases);
	} else if (!strcmp(mode, "ranges")) {
		cases = range_cases;
		nr_cases = ARRAY_SIZE(range_cases);
	} else if (!strcmp(mode, "revoke")) {
		cases = revoke_cases;
		nr_cases = ARRAY_SIZE(revoke_cases);
	} else if (strcmp(mode, "fault")) {
		goto usage;
	}

	open_device();
	probe_bar();
	sizes = iommu_page_sizes();
	printf("BENCH-INFO mode=%s bar_phys=0x%llx bar_size=0x%llx page_sizes=0x%llx rounds=%u iters=%u\n",
	       mode, (unsigned long long)bar_phys,
	       (unsigned long long)bar_size, (unsigned long long)sizes,
	       rounds, iters);

	if (!strcmp(mode, "profile") && !strcmp(pcase, "fault-4K")) {
		run_fault_profile(iters);
		return 0;
	}
	if (!strcmp(mode, "profile")) {
		for (k = 0; k < nr_cases; k++)
			if (!strcmp(cases[k].name, pcase))
				break;
		if (k == nr_cases) {
			cases = range_cases;
			nr_cases = ARRAY_SIZE(range_cases);
			for (k = 0; k < nr_cases; k++)
				if (!strcmp(cases[k].name, pcase))
					break;
		}
		if (k == nr_cases && !strcmp(pcase, "bar")) {
			cases = bar_cases;
			nr_cases = ARRAY_SIZE(bar_cases);
			k = 0;
		}
		if (k == nr_cases)
			goto usage;
		cases += k;
		nr_cases = 1;
		prepare(1, true);
		run_profile(cases, iters);
		return 0;
	}
	if (!strcmp(mode, "fault")) {
		run_fault(rounds * iters);
		return 0;
	}
	if (!strcmp(mode, "revoke")) {
		prepare(0, false);
		run_revoke(rounds * iters);
		return 0;
	}
	prepare(rounds * iters, true);
	run_timed(rounds, iters);
	report(sizes);
	return 0;

usage:
	fprintf(stderr, "usage: %s [-m map|bar|ranges|revoke|fault|profile] [-r ROUNDS] [-i ITERS] [-c CASE] BDF\n",
		argv[0]);
	return 2;
}
