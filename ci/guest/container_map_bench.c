// SPDX-License-Identifier: GPL-2.0-only
/*
 * container_map_bench: time VFIO_IOMMU_MAP_DMA + VFIO_IOMMU_UNMAP_DMA of a
 * VFIO PCI BAR mmap through a VFIO container, VFIO type1 (/dev/vfio/vfio
 * on a kernel with VFIO_CONTAINER) against iommufd's emulation of it
 * (/dev/iommu), in the same boot.
 *
 * usage: container_map_bench [-r ROUNDS] [-i ITERS] BDF
 *
 * The device (an ivshmem-plain with a BAR2 of at least 64 MiB) must be
 * bound to vfio-pci. Every round opens its group through each container
 * in turn, mmaps the first 64 MiB of BAR2 through the device fd, as a VMM
 * does, and maps that address range at a fixed IOVA and unmaps it ITERS
 * times, then closes everything: the containers take turns, so that a slow
 * phase of the emulator spreads over both.
 *
 * Output, for ci/bench:
 *   BENCH-TIME <case> <bytes> 1 <samples> <map ns> <unmap ns> <sum ns>
 *   BENCH-ERR <case> <reason>
 * with the cases type1-64M and compat-64M, medians of the per-iteration
 * values. type1-64M is "not-type1" when /dev/vfio/vfio is iommufd's
 * (it answers no to VFIO_UPDATE_VADDR, which type1 supports).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/vfio.h>

#include "bench.h"

#define SZ_64M		0x4000000ULL
#define BENCH_IOVA	0x40000000ULL
#define BAR		VFIO_PCI_BAR2_REGION_INDEX

struct container_case {
	const char *name;
	const char *path;
	uint64_t *map_ns, *unmap_ns, *sum_ns;
	unsigned int n;
	char err[32];
};

static struct container_case cases[] = {
	{ .name = "type1-64M", .path = "/dev/vfio/vfio" },
	{ .name = "compat-64M", .path = "/dev/iommu" },
};

static const char *bdf;
static char group_path[64];

static void find_group(void)
{
	char link[512], target[512];
	ssize_t len;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	len = readlink(link, target, sizeof(target) - 1);
	if (len < 0)
		die(link);
	target[len] = 0;
	snprintf(group_path, sizeof(group_path), "/dev/vfio/%s", basename(target));
}

/* One round of @iters map + unmap through the container of @c. */
static void run_round(struct container_case *c, unsigned int iters)
{
	struct vfio_region_info info = { .argsz = sizeof(info), .index = BAR };
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = BENCH_IOVA, .size = SZ_64M,
	};
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .iova = BENCH_IOVA, .size = SZ_64M,
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
	};
	int container, group, device;
	uint64_t t0, t1, t2;
	unsigned int i;
	void *va;

	container = open(c->path, O_RDWR);
	if (container < 0) {
		snprintf(c->err, sizeof(c->err), "no-container");
		return;
	}
	group = open(group_path, O_RDWR);
	if (group < 0)
		die(group_path);
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		die("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("VFIO_SET_IOMMU");
	if (!strcmp(c->path, "/dev/vfio/vfio") &&
	    ioctl(container, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR) != 1) {
		snprintf(c->err, sizeof(c->err), "not-type1");
		goto out_group;
	}
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (device < 0)
		die("VFIO_GROUP_GET_DEVICE_FD");
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &info))
		die("VFIO_DEVICE_GET_REGION_INFO");
	if (info.size < SZ_64M) {
		errno = ENOSPC;
		die("BAR2 smaller than 64 MiB");
	}
	va = mmap(NULL, SZ_64M, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		  info.offset);
	if (va == MAP_FAILED)
		die("mmap of BAR2");
	map.vaddr = (uintptr_t)va;

	for (i = 0; i < iters; i++) {
		t0 = now_ns();
		if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map)) {
			snprintf(c->err, sizeof(c->err), "map-errno-%d", errno);
			break;
		}
		t1 = now_ns();
		unmap.size = SZ_64M;
		if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) ||
		    unmap.size != SZ_64M)
			die("VFIO_IOMMU_UNMAP_DMA");
		t2 = now_ns();
		c->map_ns[c->n] = t1 - t0;
		c->unmap_ns[c->n] = t2 - t1;
		c->sum_ns[c->n] = t2 - t0;
		c->n++;
	}
	munmap(va, SZ_64M);
	close(device);
out_group:
	close(group);
	close(container);
}

int main(int argc, char **argv)
{
	unsigned int rounds = 5, iters = 10, r, k;
	int opt;

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
	find_group();

	for (k = 0; k < 2; k++) {
		cases[k].map_ns = calloc(rounds * iters, sizeof(uint64_t));
		cases[k].unmap_ns = calloc(rounds * iters, sizeof(uint64_t));
		cases[k].sum_ns = calloc(rounds * iters, sizeof(uint64_t));
		if (!cases[k].map_ns || !cases[k].unmap_ns || !cases[k].sum_ns)
			die("calloc");
	}
	printf("BENCH-INFO containers rounds=%u iters=%u group=%s\n", rounds,
	       iters, group_path);
	for (r = 0; r < rounds; r++)
		for (k = 0; k < 2; k++)
			if (!cases[(r + k) % 2].err[0])
				run_round(&cases[(r + k) % 2], iters);

	for (k = 0; k < 2; k++) {
		struct container_case *c = &cases[k];

		if (c->err[0] || !c->n) {
			printf("BENCH-ERR %s %s\n", c->name,
			       c->err[0] ? c->err : "no-samples");
			continue;
		}
		printf("BENCH-TIME %s %llu 1 %u %llu %llu %llu\n", c->name,
		       SZ_64M, c->n,
		       (unsigned long long)median(c->map_ns, c->n),
		       (unsigned long long)median(c->unmap_ns, c->n),
		       (unsigned long long)median(c->sum_ns, c->n));
	}
	return 0;
usage:
	fprintf(stderr, "usage: %s [-r ROUNDS] [-i ITERS] BDF\n", argv[0]);
	return 2;
}
