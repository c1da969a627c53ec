// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_map_bench: time IOMMU_IOAS_MAP_FILE + IOMMU_IOAS_UNMAP of a VFIO
 * PCI BAR dma-buf, and count the IOPTEs the mapping used.
 *
 * usage: dmabuf_map_bench [-r ROUNDS] [-i ITERS] BDF
 *
 * The device (an ivshmem-plain with a BAR2 of at least 64 MiB) must be
 * bound to vfio-pci. The program binds it to a fresh iommufd through its
 * VFIO cdev, attaches it to an IOAS and, for every case below, exports the
 * slice as a dma-buf once, then maps it at a fixed IOVA and unmaps it
 * ITERS times per round. Rounds go round-robin over the cases so that a
 * slow phase of the emulator spreads over all of them. Only the uAPI of
 * the base kernel is used: the same binary runs on the base and on the
 * series, and a case the kernel refuses prints its errno.
 *
 * Two references come first: two IOMMU_IOAS_IOVA_RANGES ioctls, which
 * map nothing (how fast the kernel enters and leaves iommufd), and a page
 * of a memfd mapped and unmapped (the same ioctls and IOMMU work without
 * a dma-buf), which the dma-buf cases are divided by to take out how fast
 * the emulator runs in one boot.
 *
 * Output, one line per case, for ci/bench to compare:
 *   BENCH-TIME <case> <bytes> <ranges> <samples> <map ns> <unmap ns> <sum ns>
 *   BENCH-IOPTE <case> <4K> <2M> <1G> <min 4K> <min 2M> <min 1G>
 *   BENCH-ERR <case> <errno name>
 * Times are medians of the per-iteration values. The IOPTE counts are
 * the leaves of the device's second-stage table in the IOVA window, read
 * from the intel-iommu debugfs; the minimum is what the best page sizes
 * the IOMMU supports allow for the physical layout of the slice.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#define SZ_4K		0x1000ULL
#define SZ_64K		0x10000ULL
#define SZ_2M		0x200000ULL
#define SZ_64M		0x4000000ULL
#define SZ_1G		0x40000000ULL
#define BENCH_IOVA	SZ_1G
#define BAR		VFIO_PCI_BAR2_REGION_INDEX
#define MAX_RANGES	16

struct bench_case {
	const char *name;
	uint64_t size;
	unsigned int nr_ranges;
	bool reversed;		/* ranges listed from the end of the slice */
	bool memfd;		/* the reference: a memfd, not a dma-buf */
	bool null;		/* two ioctls that map nothing */
	/* filled in at run time */
	int dmabuf_fd;
	int err;
	uint64_t *map_ns, *unmap_ns;
	unsigned int samples;
};

static struct bench_case cases[] = {
	{ .name = "ref-ioctl", .size = SZ_4K, .nr_ranges = 1, .null = true },
	{ .name = "ref-memfd", .size = SZ_4K, .nr_ranges = 1, .memfd = true },
	{ .name = "4K", .size = SZ_4K, .nr_ranges = 1, .reversed = false },
	{ .name = "2M", .size = SZ_2M, .nr_ranges = 1, .reversed = false },
	{ .name = "64M", .size = SZ_64M, .nr_ranges = 1, .reversed = false },
	{ .name = "64K-x16", .size = SZ_64K, .nr_ranges = 16, .reversed = false },
	{ .name = "2M-x16", .size = SZ_2M, .nr_ranges = 16, .reversed = false },
	{ .name = "64M-x16", .size = SZ_64M, .nr_ranges = 16, .reversed = false },
	{ .name = "64K-x16r", .size = SZ_64K, .nr_ranges = 16, .reversed = true },
	{ .name = "2M-x16r", .size = SZ_2M, .nr_ranges = 16, .reversed = true },
	{ .name = "64M-x16r", .size = SZ_64M, .nr_ranges = 16, .reversed = true },
};
#define NR_CASES (sizeof(cases) / sizeof(cases[0]))

static const char *bdf;
static int iommufd, devfd;
static uint32_t ioas_id;
static uint64_t bar_phys, bar_size;

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
}

/*
 * The BAR offset of the i-th range of a case, in the order the ranges are
 * given to VFIO (and so the IOVA order).
 */
static uint64_t range_offset(const struct bench_case *c, unsigned int i)
{
	uint64_t len = c->size / c->nr_ranges;

	return (c->reversed ? c->nr_ranges - 1 - i : i) * len;
}

static int export(struct bench_case *c)
{
	size_t sz = sizeof(struct vfio_device_feature) +
		    sizeof(struct vfio_device_feature_dma_buf) +
		    MAX_RANGES * sizeof(struct vfio_region_dma_range);
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

static int map(struct bench_case *c)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas_id,
		.fd = c->dmabuf_fd,
		.length = c->size,
		.iova = BENCH_IOVA,
	};

	if (c->null)
		return null_ioctl();
	return ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &cmd) ? -errno : 0;
}

static void unmap(struct bench_case *c)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = BENCH_IOVA,
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
	uint64_t iova = BENCH_IOVA, len = c->size / c->nr_ranges;
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
		if (pfn < BENCH_IOVA / SZ_4K ||
		    pfn >= (BENCH_IOVA + c->size) / SZ_4K)
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
	default: return strerror(err);
	}
}

int main(int argc, char **argv)
{
	unsigned int rounds = 10, iters = 100, r, k, i;
	uint64_t sizes;
	int opt, ret;

	while ((opt = getopt(argc, argv, "r:i:")) != -1) {
		switch (opt) {
		case 'r': rounds = atoi(optarg); break;
		case 'i': iters = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || !rounds || !iters)
		goto usage;
	bdf = argv[optind];

	open_device();
	probe_bar();
	sizes = iommu_page_sizes();
	printf("BENCH-INFO bar_phys=0x%llx bar_size=0x%llx iova=0x%llx page_sizes=0x%llx rounds=%u iters=%u\n",
	       (unsigned long long)bar_phys, (unsigned long long)bar_size,
	       (unsigned long long)BENCH_IOVA, (unsigned long long)sizes,
	       rounds, iters);

	for (k = 0; k < NR_CASES; k++) {
		struct bench_case *c = &cases[k];

		c->err = 0;
		if (c->size > bar_size) {
			c->err = ENOSPC;
			continue;
		}
		ret = export(c);
		if (ret < 0) {
			c->err = -ret;
			continue;
		}
		c->dmabuf_fd = ret;
		/* One map decides whether the kernel takes this case at all. */
		ret = map(c);
		if (ret) {
			c->err = -ret;
			continue;
		}
		unmap(c);
		c->map_ns = calloc(rounds * iters, sizeof(uint64_t));
		c->unmap_ns = calloc(rounds * iters, sizeof(uint64_t));
		if (!c->map_ns || !c->unmap_ns)
			die("calloc");
	}

	for (r = 0; r < rounds; r++) {
		for (k = 0; k < NR_CASES; k++) {
			struct bench_case *c = &cases[k];

			if (c->err)
				continue;
			for (i = 0; i < iters; i++) {
				uint64_t t0 = now_ns(), t1, t2;

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

	for (k = 0; k < NR_CASES; k++) {
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
	return 0;

usage:
	fprintf(stderr, "usage: %s [-r ROUNDS] [-i ITERS] BDF\n", argv[0]);
	return 2;
}
