// SPDX-License-Identifier: GPL-2.0-only
/*
 * uAPI test for VFIO_DEVICE_FEATURE_DMA_BUF: exporting slices of a PCI BAR
 * as dma-bufs, every refusal with its errno, and what happens to the
 * dma-buf when the device stops decoding memory or is closed.
 *
 * The device must have a memory BAR of at least DMABUF_MIN_BAR bytes that
 * vfio-pci can mmap (QEMU's ivshmem-plain BAR 2 is one).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <linux/align.h>
#include <linux/io.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/sizes.h>
#include <linux/vfio.h>

#include <libvfio.h>

#include "kselftest_harness.h"

#define DMABUF_MIN_BAR (4 * SZ_4K)
#define MAX_TEST_RANGES 4
/* An IOVA the tests map dma-bufs at; below 256 MiB for 28 bit DMA masks. */
#define TEST_IOVA SZ_128M

static const char *device_bdf;

struct dmabuf_req {
	struct vfio_device_feature hdr;
	struct vfio_device_feature_dma_buf get;
	struct vfio_region_dma_range ranges[MAX_TEST_RANGES];
};

/*
 * Issue VFIO_DEVICE_FEATURE with a dma-buf request. @argsz is the
 * feature's argsz; 0 means the size that exactly covers @nr ranges.
 * Returns the ioctl's return value (a dma-buf fd on success).
 */
static int __dmabuf_get(int device_fd, u32 feature_flags, u32 region,
			u32 open_flags, u32 flags,
			const struct vfio_region_dma_range *ranges, u32 nr,
			u32 argsz)
{
	struct dmabuf_req req = {};

	req.hdr.argsz = argsz ? argsz : sizeof(req.hdr) + sizeof(req.get) +
					nr * sizeof(req.ranges[0]);
	req.hdr.flags = feature_flags;
	req.get.region_index = region;
	req.get.open_flags = open_flags;
	req.get.flags = flags;
	req.get.nr_ranges = nr;
	/* Callers that pass a larger nr_ranges also pass a short argsz. */
	if (ranges)
		memcpy(req.ranges, ranges,
		       min_t(u32, nr, MAX_TEST_RANGES) * sizeof(*ranges));

	return ioctl(device_fd, VFIO_DEVICE_FEATURE, &req);
}

static int dmabuf_get(int device_fd, u32 region,
		      const struct vfio_region_dma_range *ranges, u32 nr)
{
	return __dmabuf_get(device_fd,
			    VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF,
			    region, O_RDWR | O_CLOEXEC, 0, ranges, nr, 0);
}

/* The value of a "key:\tvalue" line of /proc/self/fdinfo/@fd, or -1. */
static long long fdinfo_value(int fd, const char *key)
{
	char path[64], line[256];
	long long val = -1;
	size_t len = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, len) && line[len] == ':') {
			val = strtoll(line + len + 1, NULL, 0);
			break;
		}
	}
	fclose(f);
	return val;
}

FIXTURE(vfio_pci_dmabuf_test) {
	struct iommu *iommu;
	struct vfio_pci_device *device;
	u32 bar;
	u64 bar_size;
};

FIXTURE_SETUP(vfio_pci_dmabuf_test)
{
	int i;

	self->iommu = iommu_init(MODE_IOMMUFD);
	self->device = vfio_pci_device_init(device_bdf, self->iommu);

	/* Use the largest mmap-able memory BAR. */
	self->bar = PCI_STD_NUM_BARS;
	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct vfio_region_info *info = &self->device->bars[i].info;

		if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP))
			continue;
		if (self->bar == PCI_STD_NUM_BARS ||
		    info->size > self->bar_size) {
			self->bar = i;
			self->bar_size = info->size;
		}
	}
	if (self->bar == PCI_STD_NUM_BARS || self->bar_size < DMABUF_MIN_BAR)
		SKIP(return, "%s has no mmap-able BAR of %d bytes or more\n",
		     device_bdf, DMABUF_MIN_BAR);
}

FIXTURE_TEARDOWN(vfio_pci_dmabuf_test)
{
	vfio_pci_device_cleanup(self->device);
	iommu_cleanup(self->iommu);
}

/* Export @ranges of BAR @bar and check that the dma-buf size is their sum. */
static int export_and_check_size(struct __test_metadata *_metadata,
				 int device_fd, u32 bar,
				 const struct vfio_region_dma_range *ranges,
				 u32 nr)
{
	u64 total = 0;
	int fd;
	u32 i;

	for (i = 0; i < nr; i++)
		total += ranges[i].length;

	fd = dmabuf_get(device_fd, bar, ranges, nr);
	EXPECT_LE(0, fd);
	if (fd < 0)
		return fd;
	EXPECT_EQ(total, lseek(fd, 0, SEEK_END));
	EXPECT_EQ(total, fdinfo_value(fd, "size"));
	return fd;
}

TEST_F(vfio_pci_dmabuf_test, whole_bar)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = self->bar_size };
	char link[64], path[64];
	struct stat st;
	int fd;

	fd = export_and_check_size(_metadata, self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);

	/* It is a dma-buf: fdinfo has the dma-buf fields, the file is anon. */
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(self->bar_size, st.st_size);
	ASSERT_LE(0, fdinfo_value(fd, "count"));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ASSERT_LT(0, readlink(path, link, sizeof(link) - 1));
	ASSERT_NE(NULL, strstr(link, "dmabuf"));

	/* O_CLOEXEC and O_RDWR of open_flags are honoured. */
	ASSERT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD));
	ASSERT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
	ASSERT_EQ(0, close(fd));
}

TEST_F(vfio_pci_dmabuf_test, slice)
{
	struct vfio_region_dma_range r = { .offset = SZ_4K, .length = 2 * SZ_4K };
	int fd;

	fd = export_and_check_size(_metadata, self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
}

TEST_F(vfio_pci_dmabuf_test, last_page)
{
	struct vfio_region_dma_range r = {
		.offset = self->bar_size - SZ_4K, .length = SZ_4K,
	};
	int fd;

	fd = export_and_check_size(_metadata, self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
}

TEST_F(vfio_pci_dmabuf_test, several_ranges)
{
	struct vfio_region_dma_range r[3] = {
		{ .offset = 3 * SZ_4K, .length = SZ_4K },
		{ .offset = 0, .length = SZ_4K },
		{ .offset = self->bar_size - SZ_4K, .length = SZ_4K },
	};
	int fd;

	fd = export_and_check_size(_metadata, self->device->fd, self->bar, r, 3);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
}

/*
 * The uAPI does not look for overlap: the same BAR page may appear in
 * several ranges, and the dma-buf is as large as the sum of the ranges.
 */
TEST_F(vfio_pci_dmabuf_test, overlapping_ranges)
{
	struct vfio_region_dma_range r[2] = {
		{ .offset = 0, .length = 2 * SZ_4K },
		{ .offset = SZ_4K, .length = 2 * SZ_4K },
	};
	int fd;

	fd = export_and_check_size(_metadata, self->device->fd, self->bar, r, 2);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
}

/* open_flags bits other than O_ACCMODE, O_NONBLOCK, O_CLOEXEC are ignored. */
TEST_F(vfio_pci_dmabuf_test, open_flags_other_bits)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	int fd;

	fd = __dmabuf_get(self->device->fd,
			  VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF,
			  self->bar, O_RDONLY | O_TRUNC | O_APPEND | O_NONBLOCK,
			  0, &r, 1, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fcntl(fd, F_GETFD));
	ASSERT_EQ(O_RDONLY | O_NONBLOCK,
		  fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK | O_TRUNC | O_APPEND));
	ASSERT_EQ(0, close(fd));
}

/*
 * The number of dma-buf attachments of the physical address list mapping
 * type in debugfs, or -1 when debugfs is not there to tell.
 */
static int pal_attachments(void)
{
	FILE *f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "r");
	char line[256];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !!strstr(line, "mapping type pal");
	fclose(f);
	return n;
}

TEST_F(vfio_pci_dmabuf_test, map_file)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = self->bar_size };
	int fd;

	fd = dmabuf_get(self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, 0, self->bar_size, TEST_IOVA));
	/* The IOVA range is taken now. */
	ASSERT_NE(0, __iommu_map_file(self->iommu, fd, 0, SZ_4K, TEST_IOVA));
	ASSERT_EQ(EEXIST, errno);
	/* A window of the dma-buf can be mapped too. */
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, SZ_4K, SZ_4K,
				      TEST_IOVA + self->bar_size));
	/* But not past its end. */
	ASSERT_NE(0, __iommu_map_file(self->iommu, fd, self->bar_size, SZ_4K,
				      TEST_IOVA + 2 * self->bar_size));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(self->bar_size, iommu_unmap_range(self->iommu, TEST_IOVA, self->bar_size));
	ASSERT_EQ(SZ_4K, iommu_unmap_range(self->iommu, TEST_IOVA + self->bar_size, SZ_4K));
	ASSERT_EQ(0, close(fd));
}

/*
 * Each mapping of a VFIO dma-buf is an attachment of the physical address
 * list type while it lasts, as bufinfo in debugfs shows.
 */
TEST_F(vfio_pci_dmabuf_test, map_file_attachments)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = self->bar_size };
	int fd, pal = pal_attachments();

	if (pal < 0)
		SKIP(return, "no dma_buf/bufinfo in debugfs to count attachments\n");

	fd = dmabuf_get(self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, 0, self->bar_size, TEST_IOVA));
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, SZ_4K, SZ_4K,
				      TEST_IOVA + self->bar_size));
	ASSERT_EQ(pal + 2, pal_attachments());
	ASSERT_EQ(self->bar_size, iommu_unmap_range(self->iommu, TEST_IOVA, self->bar_size));
	ASSERT_EQ(pal + 1, pal_attachments());
	ASSERT_EQ(SZ_4K, iommu_unmap_range(self->iommu, TEST_IOVA + self->bar_size, SZ_4K));
	ASSERT_EQ(pal, pal_attachments());
	ASSERT_EQ(0, close(fd));
}

/*
 * A dma-buf of several ranges maps into one contiguous IOVA range, whole
 * or in part. One whose ranges overlap is offered as a scatterlist only,
 * which iommufd does not take.
 */
TEST_F(vfio_pci_dmabuf_test, map_file_several_ranges)
{
	struct vfio_region_dma_range r[3] = {
		{ .offset = 2 * SZ_4K, .length = SZ_4K },
		{ .offset = 0, .length = SZ_4K },
		{ .offset = 3 * SZ_4K, .length = SZ_4K },
	};
	int fd;

	fd = dmabuf_get(self->device->fd, self->bar, r, 3);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, 0, 3 * SZ_4K, TEST_IOVA));
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, SZ_4K, SZ_4K,
				      TEST_IOVA + 4 * SZ_4K));
	ASSERT_EQ(3 * SZ_4K, iommu_unmap_range(self->iommu, TEST_IOVA, 3 * SZ_4K));
	ASSERT_EQ(SZ_4K, iommu_unmap_range(self->iommu, TEST_IOVA + 4 * SZ_4K, SZ_4K));
	ASSERT_EQ(0, close(fd));

	r[1].offset = 2 * SZ_4K;
	fd = dmabuf_get(self->device->fd, self->bar, r, 2);
	ASSERT_LE(0, fd);
	ASSERT_NE(0, __iommu_map_file(self->iommu, fd, 0, 2 * SZ_4K, TEST_IOVA));
	ASSERT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(0, close(fd));
}

/* Each refusal: what is wrong with the request and the errno it gets. */
#define EXPECT_REFUSED(_errno, _call) do {				\
		int __fd = (_call);					\
									\
		EXPECT_EQ(-1, __fd);					\
		if (__fd >= 0)						\
			close(__fd);					\
		else							\
			EXPECT_EQ(_errno, errno);			\
	} while (0)

TEST_F(vfio_pci_dmabuf_test, refuse_flags)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	const u32 get = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	int fd = self->device->fd;

	EXPECT_REFUSED(EINVAL, __dmabuf_get(fd, get, self->bar, O_RDWR, 1, &r, 1, 0));
	EXPECT_REFUSED(EINVAL, __dmabuf_get(fd, get, self->bar, O_RDWR, 1u << 31, &r, 1, 0));
}

TEST_F(vfio_pci_dmabuf_test, refuse_region)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	int i;

	/* The ROM, config space and VGA regions are not BARs. */
	EXPECT_REFUSED(ENODEV, dmabuf_get(self->device->fd,
					  VFIO_PCI_ROM_REGION_INDEX, &r, 1));
	EXPECT_REFUSED(ENODEV, dmabuf_get(self->device->fd,
					  VFIO_PCI_CONFIG_REGION_INDEX, &r, 1));
	EXPECT_REFUSED(ENODEV, dmabuf_get(self->device->fd,
					  VFIO_PCI_VGA_REGION_INDEX, &r, 1));
	EXPECT_REFUSED(ENODEV, dmabuf_get(self->device->fd, 1000, &r, 1));
	EXPECT_REFUSED(ENODEV, dmabuf_get(self->device->fd, ~0u, &r, 1));

	/* A BAR the device does not implement. */
	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		if (self->device->bars[i].info.size)
			continue;
		EXPECT_REFUSED(ENODEV, dmabuf_get(self->device->fd, i, &r, 1));
	}
}

/* A BAR smaller than a page cannot hold a page aligned range. */
TEST_F(vfio_pci_dmabuf_test, refuse_small_bar)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	int i, tested = 0;

	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		u64 size = self->device->bars[i].info.size;

		if (!size || size >= SZ_4K)
			continue;
		EXPECT_REFUSED(EINVAL, dmabuf_get(self->device->fd, i, &r, 1));
		tested++;
	}
	if (!tested)
		SKIP(return, "no BAR smaller than a page\n");
}

TEST_F(vfio_pci_dmabuf_test, refuse_nr_ranges)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	const u32 get = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	const u32 one_range = sizeof(struct vfio_device_feature) +
			      sizeof(struct vfio_device_feature_dma_buf) + sizeof(r);
	const u32 argsz = sizeof(struct dmabuf_req);
	int fd = self->device->fd;

	EXPECT_REFUSED(EINVAL, dmabuf_get(fd, self->bar, &r, 0));
	/*
	 * argsz must cover every range: a huge nr_ranges with a buffer for
	 * a few ranges is refused before the kernel allocates anything.
	 */
	EXPECT_REFUSED(EINVAL, __dmabuf_get(fd, get, self->bar, O_RDWR, 0, &r, 1000000, argsz));
	EXPECT_REFUSED(EINVAL, __dmabuf_get(fd, get, self->bar, O_RDWR, 0, &r, ~0u, argsz));
	/* One range more than argsz holds. */
	EXPECT_REFUSED(EINVAL, __dmabuf_get(fd, get, self->bar, O_RDWR, 0, &r, 2, one_range));
}

TEST_F(vfio_pci_dmabuf_test, refuse_ranges)
{
	const u64 bar = self->bar_size;
	const struct {
		u64 offset, length;
		int err;
	} cases[] = {
		{ 0, 0, EINVAL },			/* zero length */
		{ 0, bar + SZ_4K, EINVAL },		/* longer than the BAR */
		{ bar, SZ_4K, EINVAL },			/* starts at its end */
		{ bar - SZ_4K, 2 * SZ_4K, EINVAL },	/* runs past its end */
		{ 1, SZ_4K, EINVAL },			/* offset unaligned */
		{ SZ_4K / 2, SZ_4K, EINVAL },
		{ 0, SZ_4K + 1, EINVAL },		/* length unaligned */
		{ 0, SZ_4K - 1, EINVAL },
		/* BAR address + offset wraps */
		{ ~0ull & ~(u64)(SZ_4K - 1), SZ_4K, EOVERFLOW },
		/* BAR address + offset fits, + length wraps */
		{ 3ull << 62, 1ull << 62, EOVERFLOW },
		/*
		 * A dma-buf of 2^63 bytes or more is refused whatever the
		 * BAR (EINVAL), before the range's own check would see that
		 * its end wraps (EOVERFLOW).
		 */
		{ SZ_4K, ~0ull & ~(u64)(SZ_4K - 1), EINVAL },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vfio_region_dma_range r = {
			.offset = cases[i].offset, .length = cases[i].length,
		};

		TH_LOG("range %u: offset 0x%llx length 0x%llx", i,
		       (unsigned long long)r.offset, (unsigned long long)r.length);
		EXPECT_REFUSED(cases[i].err,
			       dmabuf_get(self->device->fd, self->bar, &r, 1));
	}
}

TEST_F(vfio_pci_dmabuf_test, refuse_total_overflow)
{
	/*
	 * The lengths add up to 2^64, which wraps to 0. The sum is checked
	 * before each range is placed in the BAR, where the first range
	 * would get EOVERFLOW (its start wraps): EINVAL shows that the sum
	 * was refused. (On x86-64 with 4 KiB pages the kernel copies at
	 * most 4 MiB of ranges, 2^18 of them: ranges whose sum wraps never
	 * all fit in a BAR smaller than 2^46 bytes, and on such a BAR the
	 * sum check refuses early what the range checks would refuse
	 * anyway.) The offset assumes 4 KiB pages, as the whole test does.
	 */
	struct vfio_region_dma_range r[2] = {
		{ .offset = ~0ull & ~(u64)(SZ_4K - 1), .length = 1ull << 63 },
		{ .offset = 0, .length = 1ull << 63 },
	};

	EXPECT_REFUSED(EINVAL, dmabuf_get(self->device->fd, self->bar, r, 2));
}

/* A bad range anywhere in the list refuses the whole request. */
TEST_F(vfio_pci_dmabuf_test, refuse_one_bad_range)
{
	struct vfio_region_dma_range r[3] = {
		{ .offset = 0, .length = SZ_4K },
		{ .offset = SZ_4K, .length = SZ_4K },
		{ .offset = self->bar_size, .length = SZ_4K },
	};

	EXPECT_REFUSED(EINVAL, dmabuf_get(self->device->fd, self->bar, r, 3));
}

TEST_F(vfio_pci_dmabuf_test, feature_flags)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	int fd = self->device->fd;

	/* PROBE reports that the feature exists and GET is supported. */
	ASSERT_EQ(0, __dmabuf_get(fd, VFIO_DEVICE_FEATURE_PROBE |
				  VFIO_DEVICE_FEATURE_DMA_BUF,
				  self->bar, O_RDWR, 0, &r, 1, 0));
	ASSERT_EQ(0, __dmabuf_get(fd, VFIO_DEVICE_FEATURE_PROBE |
				  VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_DMA_BUF,
				  self->bar, O_RDWR, 0, &r, 1, 0));
	/* SET is not supported, with or without PROBE. */
	EXPECT_REFUSED(EINVAL, __dmabuf_get(fd, VFIO_DEVICE_FEATURE_PROBE |
					    VFIO_DEVICE_FEATURE_SET |
					    VFIO_DEVICE_FEATURE_DMA_BUF,
					    self->bar, O_RDWR, 0, &r, 1, 0));
	EXPECT_REFUSED(EINVAL, __dmabuf_get(fd, VFIO_DEVICE_FEATURE_SET |
					    VFIO_DEVICE_FEATURE_DMA_BUF,
					    self->bar, O_RDWR, 0, &r, 1, 0));
	/* Neither GET nor SET nor PROBE. */
	EXPECT_REFUSED(EINVAL, __dmabuf_get(fd, VFIO_DEVICE_FEATURE_DMA_BUF,
					    self->bar, O_RDWR, 0, &r, 1, 0));
	/* argsz shorter than struct vfio_device_feature_dma_buf. */
	EXPECT_REFUSED(EINVAL, __dmabuf_get(fd, VFIO_DEVICE_FEATURE_GET |
					    VFIO_DEVICE_FEATURE_DMA_BUF,
					    self->bar, O_RDWR, 0, &r, 1,
					    sizeof(struct vfio_device_feature) +
					    sizeof(struct vfio_device_feature_dma_buf) - 1));
	/* argsz shorter than struct vfio_device_feature itself. */
	EXPECT_REFUSED(EINVAL, __dmabuf_get(fd, VFIO_DEVICE_FEATURE_GET |
					    VFIO_DEVICE_FEATURE_DMA_BUF,
					    self->bar, O_RDWR, 0, &r, 1, 4));
}

static void set_memory_decode(struct vfio_pci_device *device, bool on)
{
	if (on)
		vfio_pci_cmd_set(device, PCI_COMMAND_MEMORY);
	else
		vfio_pci_cmd_clear(device, PCI_COMMAND_MEMORY);
}

/*
 * Memory decode off revokes the dma-buf: it cannot be mapped, and what was
 * mapped stays in the IOAS as a revoked area until userspace unmaps it.
 * Decode on makes the dma-buf usable again, with a new map.
 */
TEST_F(vfio_pci_dmabuf_test, memory_decode)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = self->bar_size };
	int fd;

	fd = dmabuf_get(self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, 0, self->bar_size, TEST_IOVA));

	set_memory_decode(self->device, false);
	ASSERT_NE(0, __iommu_map_file(self->iommu, fd, 0, self->bar_size,
				      TEST_IOVA + self->bar_size));
	ASSERT_EQ(ENODEV, errno);
	/* Still a dma-buf file of the same size. */
	ASSERT_EQ(self->bar_size, lseek(fd, 0, SEEK_END));

	set_memory_decode(self->device, true);
	ASSERT_EQ(self->bar_size, iommu_unmap_range(self->iommu, TEST_IOVA, self->bar_size));
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, 0, self->bar_size, TEST_IOVA));
	ASSERT_EQ(self->bar_size, iommu_unmap_range(self->iommu, TEST_IOVA, self->bar_size));
	ASSERT_EQ(0, close(fd));
}

/* A dma-buf exported while decode is off is born revoked. */
TEST_F(vfio_pci_dmabuf_test, export_while_decode_off)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	int fd;

	set_memory_decode(self->device, false);
	fd = dmabuf_get(self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	ASSERT_NE(0, __iommu_map_file(self->iommu, fd, 0, SZ_4K, TEST_IOVA));
	ASSERT_EQ(ENODEV, errno);

	set_memory_decode(self->device, true);
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, 0, SZ_4K, TEST_IOVA));
	ASSERT_EQ(SZ_4K, iommu_unmap_range(self->iommu, TEST_IOVA, SZ_4K));
	ASSERT_EQ(0, close(fd));
}

/*
 * Closing the device revokes its dma-bufs for good. The dma-buf file stays
 * a valid file, its mappings can be unmapped, and it cannot be mapped
 * again.
 */
TEST_F(vfio_pci_dmabuf_test, close_device)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = self->bar_size };
	int fd;

	fd = dmabuf_get(self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, 0, self->bar_size, TEST_IOVA));

	/* Unmap the BARs first: their mmaps hold the device file open. */
	for (int i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct vfio_pci_bar *bar = &self->device->bars[i];
		size_t len = ALIGN(bar->info.size, getpagesize());

		if (!bar->vaddr)
			continue;
		ASSERT_EQ(0, munmap(bar->vaddr, len));
		bar->vaddr = NULL;
	}
	ASSERT_EQ(0, close(self->device->fd));
	/* The fixture closes this one instead. */
	self->device->fd = open("/dev/null", O_RDONLY);
	ASSERT_LE(0, self->device->fd);

	ASSERT_EQ(self->bar_size, lseek(fd, 0, SEEK_END));
	ASSERT_NE(0, __iommu_map_file(self->iommu, fd, 0, self->bar_size,
				      TEST_IOVA + self->bar_size));
	ASSERT_EQ(ENODEV, errno);
	ASSERT_EQ(self->bar_size, iommu_unmap_range(self->iommu, TEST_IOVA, self->bar_size));
	ASSERT_EQ(0, close(fd));
}

/*
 * A dma-buf of BAR pages can be mapped with mmap(): its pages are the BAR
 * pages of its ranges, in the order of the ranges.
 */
TEST_F(vfio_pci_dmabuf_test, mmap_dmabuf)
{
	struct vfio_region_dma_range r[] = {
		{ .offset = 3 * SZ_4K, .length = SZ_4K },
		{ .offset = SZ_4K, .length = SZ_4K },
	};
	u32 *bar = self->device->bars[self->bar].vaddr;
	u32 *buf, old[3];
	int fd;

	fd = dmabuf_get(self->device->fd, self->bar, r, 2);
	ASSERT_LE(0, fd);
	buf = mmap(NULL, 2 * SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, buf);
	/* Put the words back at the end: the BAR is the P2P test's too. */
	old[0] = readl(buf);
	old[1] = readl(buf + SZ_4K / 4 + 1);
	old[2] = readl(buf + 2);

	writel(0x1badcafe, buf);
	writel(0x2badcafe, buf + SZ_4K / 4 + 1);
	ASSERT_EQ(0x1badcafe, readl(bar + 3 * SZ_4K / 4));
	ASSERT_EQ(0x2badcafe, readl(bar + SZ_4K / 4 + 1));
	writel(0x3badcafe, bar + 3 * SZ_4K / 4 + 2);
	ASSERT_EQ(0x3badcafe, readl(buf + 2));
	writel(old[0], buf);
	writel(old[1], buf + SZ_4K / 4 + 1);
	writel(old[2], buf + 2);
	ASSERT_EQ(0, munmap(buf, 2 * SZ_4K));

	/* Past the end, and private mappings, are refused. */
	ASSERT_EQ(MAP_FAILED, mmap(NULL, SZ_4K, PROT_READ, MAP_SHARED, fd,
				   2 * SZ_4K));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, SZ_4K, PROT_READ, MAP_PRIVATE, fd, 0));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, close(fd));
}

/*
 * With memory decode off, a read through the BAR's mmap and through a
 * dma-buf's mmap raises SIGBUS; with decode on again both read.
 */
TEST_F(vfio_pci_dmabuf_test, mmap_memory_decode)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	u32 *bar = self->device->bars[self->bar].vaddr;
	u32 *buf;
	int fd;

	fd = dmabuf_get(self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	buf = mmap(NULL, SZ_4K, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_FALSE(read_sigbus(buf));
	ASSERT_FALSE(read_sigbus(bar));

	set_memory_decode(self->device, false);
	ASSERT_TRUE(read_sigbus(buf));
	ASSERT_TRUE(read_sigbus(bar));

	set_memory_decode(self->device, true);
	ASSERT_FALSE(read_sigbus(buf));
	ASSERT_FALSE(read_sigbus(bar));
	ASSERT_EQ(0, munmap(buf, SZ_4K));
	ASSERT_EQ(0, close(fd));
}

/*
 * IOMMU_IOAS_MAP of a BAR's mmap maps the dma-buf that vfio-pci puts under
 * it, as MAP_FILE of that dma-buf would: a slice or the whole BAR (also
 * with IOMMU_IOAS_MAP_RESTORE), and a mmap of a dma-buf fd the same way.
 */
TEST_F(vfio_pci_dmabuf_test, map_va)
{
	struct vfio_region_dma_range r = { .offset = SZ_4K, .length = SZ_4K };
	u8 *bar = self->device->bars[self->bar].vaddr;
	struct dma_region region = {
		.vaddr = bar,
		.size = self->bar_size,
		.iova = TEST_IOVA,
	};
	void *buf;
	int fd;

	ASSERT_EQ(0, __iommu_map(self->iommu, &region));
	iommu_unmap(self->iommu, &region);
	ASSERT_EQ(0, __iommu_map_restore(self->iommu, &region));
	iommu_unmap(self->iommu, &region);

	region.vaddr = bar + SZ_4K;
	region.size = 2 * SZ_4K;
	ASSERT_EQ(0, __iommu_map(self->iommu, &region));
	iommu_unmap(self->iommu, &region);

	fd = dmabuf_get(self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	buf = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, buf);
	region.vaddr = buf;
	region.size = SZ_4K;
	ASSERT_EQ(0, __iommu_map(self->iommu, &region));
	iommu_unmap(self->iommu, &region);
	ASSERT_EQ(0, munmap(buf, SZ_4K));
	ASSERT_EQ(0, close(fd));
}

/*
 * Ranges of a BAR's mmap that IOMMU_IOAS_MAP refuses: part of a page,
 * past the end of the mmap, memory and BAR in one range, the BAR while
 * memory decode is off, and the mmap of a BAR smaller than a page, which
 * vfio-pci maps without a dma-buf.
 */
TEST_F(vfio_pci_dmabuf_test, map_va_refused)
{
	u8 *bar = self->device->bars[self->bar].vaddr;
	struct dma_region region = { .iova = TEST_IOVA };
	u8 *area;
	int i;

	region.vaddr = bar + 64;
	region.size = SZ_4K;
	ASSERT_EQ(-EINVAL, __iommu_map(self->iommu, &region));
	region.vaddr = bar;
	region.size = SZ_4K - 64;
	ASSERT_EQ(-EINVAL, __iommu_map(self->iommu, &region));

	/* A page of the BAR between two pages of memory. */
	area = mmap(NULL, 3 * SZ_4K, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	ASSERT_EQ(area + SZ_4K, mmap(area + SZ_4K, SZ_4K, PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_FIXED, self->device->fd,
				     self->device->bars[self->bar].info.offset));
	region.vaddr = area;
	region.size = 2 * SZ_4K;
	ASSERT_EQ(-EINVAL, __iommu_map(self->iommu, &region));
	region.vaddr = area + SZ_4K;
	ASSERT_EQ(-EINVAL, __iommu_map(self->iommu, &region));
	region.size = SZ_4K;
	ASSERT_EQ(0, __iommu_map(self->iommu, &region));
	iommu_unmap(self->iommu, &region);
	ASSERT_EQ(0, munmap(area, 3 * SZ_4K));

	set_memory_decode(self->device, false);
	region.vaddr = bar;
	region.size = SZ_4K;
	ASSERT_EQ(-ENODEV, __iommu_map(self->iommu, &region));
	set_memory_decode(self->device, true);

	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct vfio_pci_bar *small = &self->device->bars[i];

		if (!small->vaddr || !small->info.size ||
		    small->info.size >= SZ_4K)
			continue;
		region.vaddr = small->vaddr;
		ASSERT_EQ(-EFAULT, __iommu_map(self->iommu, &region));
	}
}

/*
 * Read the first, middle and last page of every 2 MiB of the @len bytes
 * at @addr (of all of them when shorter): where a huge mapping begins
 * and ends, and where a split one would. Returns the offset of the first
 * of those pages whose read faults (SIGBUS) when @faults is false, or does
 * not fault when it is true; -1 when every read did as expected.
 */
static long first_unexpected_page(u8 *addr, u64 len, bool faults)
{
	u64 block, off, pages[3];
	int i;

	for (block = 0; block < len; block += SZ_2M) {
		u64 size = min_t(u64, SZ_2M, len - block);

		pages[0] = block;
		pages[1] = block + ALIGN_DOWN(size / 2, SZ_4K);
		pages[2] = block + size - SZ_4K;
		for (i = 0; i < 3; i++) {
			off = pages[i];
			if (read_sigbus(addr + off) != faults)
				return off;
		}
	}
	return -1;
}

/*
 * A mapping of @len bytes of @fd at @offset, aligned to @align (at most
 * 1 GiB) and marked for huge pages, as libvfio maps BARs. Whether the
 * kernel then maps it with huge pages depends on its THP setting and on
 * PMD/PUD PFN maps (x86_64 has them): the tests below that rely on huge
 * mappings prove nothing more than the 4 KiB ones without them.
 */
static void *mmap_aligned(int fd, u64 len, u64 offset, u64 align, int prot)
{
	void *area = mmap_reserve(len, min_t(u64, align, SZ_1G), 0);
	void *va;

	va = mmap(area, len, prot, MAP_SHARED | MAP_FIXED, fd, offset);
	if (va == MAP_FAILED)
		munmap(area, len);
	else
		madvise(va, len, MADV_HUGEPAGE);
	return va;
}

/*
 * A revoke zaps every page of a BAR's mmap and of a dma-buf's mmap, not
 * only the pages that were touched: with memory decode off no page reads,
 * with decode on every page reads again. Both mappings are aligned to 2
 * MiB or more, so that the kernel can map them with huge pages, and the
 * pages checked are faulted in before the revoke.
 */
TEST_F(vfio_pci_dmabuf_test, mmap_revoke_every_page)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = self->bar_size };
	u8 *bar = self->device->bars[self->bar].vaddr;
	u8 *buf;
	int fd;

	if (getpagesize() != SZ_4K)
		SKIP(return, "the page size is %d, not 4 KiB\n", getpagesize());

	fd = dmabuf_get(self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	buf = mmap_aligned(fd, self->bar_size, 0,
			   max_t(u64, SZ_2M, self->bar_size), PROT_READ);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(-1, first_unexpected_page(bar, self->bar_size, false));
	ASSERT_EQ(-1, first_unexpected_page(buf, self->bar_size, false));

	set_memory_decode(self->device, false);
	ASSERT_EQ(-1, first_unexpected_page(bar, self->bar_size, true))
		TH_LOG("a page of the BAR mmap reads with memory decode off");
	ASSERT_EQ(-1, first_unexpected_page(buf, self->bar_size, true))
		TH_LOG("a page of the dma-buf mmap reads with memory decode off");

	set_memory_decode(self->device, true);
	ASSERT_EQ(-1, first_unexpected_page(bar, self->bar_size, false));
	ASSERT_EQ(-1, first_unexpected_page(buf, self->bar_size, false));
	ASSERT_EQ(0, munmap(buf, self->bar_size));
	ASSERT_EQ(0, close(fd));
}

/*
 * For each i, a word written through the BAR's own mmap (libvfio's, a
 * VMA of its own) at BAR offset @bar_off[i] must read back through @map
 * at @map_off[i]. With a @seed, the word is the pattern of @seed there
 * and stays, reported to the host, which finds it at that offset of the
 * BAR's file or fails the run: the offsets are the BAR's, not only those
 * of another mapping. Without one (0), each word is put back before the
 * next, even when the read through @map faults: offsets that the P2P
 * test's checks of the whole BAR may cover.
 */
static void same_words(struct __test_metadata *_metadata, u8 *bar, u8 *map,
		       const u64 *bar_off, const u64 *map_off, int n, u8 seed)
{
	int i, k;

	for (i = 0; i < n; i++) {
		u32 want = 0x5e000000 + i * 0x10101 + (bar_off[i] >> 12);
		u32 old = readl(bar + bar_off[i]);
		u8 bytes[4];
		u32 got = 0;
		bool faulted;

		if (seed) {
			for (k = 0; k < 4; k++)
				bytes[k] = pattern_byte(seed, bar_off[i] + k);
			memcpy(&want, bytes, sizeof(want));
		}
		writel(want, bar + bar_off[i]);
		faulted = read_word_sigbus(map + map_off[i], &got);
		if (seed)
			host_check("fill", bar_off[i], sizeof(want), seed);
		else
			writel(old, bar + bar_off[i]);
		EXPECT_FALSE(faulted)
			TH_LOG("mapping offset 0x%llx faults", (unsigned long long)map_off[i]);
		if (!faulted && got != want)
			TH_LOG("mapping offset 0x%llx: 0x%08x, not 0x%08x (BAR offset 0x%llx)",
			       (unsigned long long)map_off[i], got, want,
			       (unsigned long long)bar_off[i]);
		EXPECT_EQ(want, got);
	}
}

/*
 * A mmap of a dma-buf at an offset into it maps the pages from that
 * offset on, and no mmap reaches past the dma-buf's end.
 */
TEST_F(vfio_pci_dmabuf_test, mmap_dmabuf_offset)
{
	struct vfio_region_dma_range r = { .offset = 4 * SZ_4K, .length = 4 * SZ_4K };
	static const u64 bar_off[] = { 6 * SZ_4K, 7 * SZ_4K + 4, 8 * SZ_4K - 4 };
	static const u64 map_off[] = { 0, SZ_4K + 4, 2 * SZ_4K - 4 };
	u8 *bar = self->device->bars[self->bar].vaddr;
	u8 *buf;
	int fd;

	if (getpagesize() != SZ_4K)
		SKIP(return, "the page size is %d, not 4 KiB\n", getpagesize());
	if (self->bar_size < 8 * SZ_4K)
		SKIP(return, "a BAR of 8 pages or more is needed\n");
	fd = dmabuf_get(self->device->fd, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	buf = mmap(NULL, 2 * SZ_4K, PROT_READ, MAP_SHARED, fd, 2 * SZ_4K);
	ASSERT_NE(MAP_FAILED, buf);
	same_words(_metadata, bar, buf, bar_off, map_off, ARRAY_SIZE(bar_off), 0x31);
	ASSERT_EQ(0, munmap(buf, 2 * SZ_4K));

	ASSERT_EQ(MAP_FAILED, mmap(NULL, 2 * SZ_4K, PROT_READ, MAP_SHARED, fd,
				   3 * SZ_4K));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, close(fd));
}

/*
 * A BAR mmap split in three VMAs (a page unmapped in the middle, the last
 * page made read-only): each piece still maps its own BAR pages, and a
 * revoke zaps every piece.
 */
TEST_F(vfio_pci_dmabuf_test, mmap_bar_split)
{
	static const u64 bar_off[] = { 8 * SZ_4K, 10 * SZ_4K + 8, 11 * SZ_4K + 12 };
	static const u64 map_off[] = { 0, 2 * SZ_4K + 8, 3 * SZ_4K + 12 };
	u8 *bar = self->device->bars[self->bar].vaddr;
	u8 *va;

	if (getpagesize() != SZ_4K)
		SKIP(return, "the page size is %d, not 4 KiB\n", getpagesize());
	if (self->bar_size < 12 * SZ_4K)
		SKIP(return, "a BAR of 12 pages or more is needed\n");
	va = mmap(NULL, 4 * SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED,
		  self->device->fd,
		  self->device->bars[self->bar].info.offset + 8 * SZ_4K);
	ASSERT_NE(MAP_FAILED, va);
	ASSERT_EQ(0, munmap(va + SZ_4K, SZ_4K));
	ASSERT_EQ(0, mprotect(va + 3 * SZ_4K, SZ_4K, PROT_READ));
	same_words(_metadata, bar, va, bar_off, map_off, ARRAY_SIZE(bar_off), 0x32);

	set_memory_decode(self->device, false);
	ASSERT_TRUE(read_sigbus(va));
	ASSERT_TRUE(read_sigbus(va + 2 * SZ_4K));
	ASSERT_TRUE(read_sigbus(va + 3 * SZ_4K));
	set_memory_decode(self->device, true);
	same_words(_metadata, bar, va, bar_off, map_off, ARRAY_SIZE(bar_off), 0x32);

	ASSERT_EQ(0, munmap(va, SZ_4K));
	ASSERT_EQ(0, munmap(va + 2 * SZ_4K, 2 * SZ_4K));
}

/*
 * Export the @nr ranges @r of BAR @bar, mmap the dma-buf whole at a 2 MiB
 * aligned address and check the @n words of same_words() through it.
 */
static void mmap_dmabuf_whole(struct __test_metadata *_metadata,
			      struct vfio_pci_device *device, u32 bar,
			      const struct vfio_region_dma_range *r, u32 nr,
			      const u64 *bar_off, const u64 *map_off, int n)
{
	u64 len = 0;
	u8 *buf;
	int fd;
	u32 i;

	for (i = 0; i < nr; i++)
		len += r[i].length;
	fd = dmabuf_get(device->fd, bar, r, nr);
	ASSERT_LE(0, fd);
	buf = mmap_aligned(fd, len, 0, SZ_2M, PROT_READ);
	ASSERT_NE(MAP_FAILED, buf);
	same_words(_metadata, device->bars[bar].vaddr, buf, bar_off, map_off, n,
		   0);
	ASSERT_EQ(0, munmap(buf, len));
	ASSERT_EQ(0, close(fd));
}

/*
 * A dma-buf whose ranges are in another order than the BAR's, mmapped
 * whole at a 2 MiB aligned address: with 2 MiB ranges each huge page of
 * the mapping is one range; with 1 MiB ranges no mapping, huge or not,
 * may run from one range into the next, which lies elsewhere in the BAR.
 */
TEST_F(vfio_pci_dmabuf_test, mmap_dmabuf_huge_ranges)
{
	struct vfio_region_dma_range r2[] = {
		{ .offset = SZ_2M, .length = SZ_2M },
		{ .offset = 0, .length = SZ_2M },
	};
	/*
	 * The first and third ranges start 2 MiB aligned in the BAR: a huge
	 * mapping of them would be aligned, and would run into the BAR's
	 * next MiB instead of the dma-buf's next range.
	 */
	struct vfio_region_dma_range r1[] = {
		{ .offset = 0, .length = SZ_1M },
		{ .offset = 3 * SZ_1M, .length = SZ_1M },
		{ .offset = 2 * SZ_1M, .length = SZ_1M },
		{ .offset = SZ_1M, .length = SZ_1M },
	};
	static const u64 bar2_off[] = { SZ_2M, SZ_4M - 4, 0, SZ_2M - 4 };
	static const u64 map2_off[] = { 0, SZ_2M - 4, SZ_2M, SZ_4M - 4 };
	static const u64 bar1_off[] = {
		0, SZ_1M - 4, 3 * SZ_1M, SZ_4M - 4,
		SZ_2M, 3 * SZ_1M - 4, SZ_1M, SZ_2M - 4,
	};
	static const u64 map1_off[] = {
		0, SZ_1M - 4, SZ_1M, SZ_2M - 4,
		SZ_2M, 3 * SZ_1M - 4, 3 * SZ_1M, SZ_4M - 4,
	};

	if (getpagesize() != SZ_4K)
		SKIP(return, "the page size is %d, not 4 KiB\n", getpagesize());
	if (self->bar_size < SZ_4M)
		SKIP(return, "a BAR of 4 MiB or more is needed\n");

	mmap_dmabuf_whole(_metadata, self->device, self->bar, r2, ARRAY_SIZE(r2),
			  bar2_off, map2_off, ARRAY_SIZE(bar2_off));
	mmap_dmabuf_whole(_metadata, self->device, self->bar, r1, ARRAY_SIZE(r1),
			  bar1_off, map1_off, ARRAY_SIZE(bar1_off));
}

/*
 * While the device is in low power: no read through the BAR's mmap or
 * through @buf (a mmap of @fd), no IOMMU mapping of @fd or of the BAR by
 * address, and with @export a new dma-buf is born revoked (the export is
 * an ioctl on the device, which wakes up a device that can be woken).
 */
static void check_low_power_revoked(struct __test_metadata *_metadata,
				    struct iommu *iommu,
				    struct vfio_pci_device *device, u32 bar_idx,
				    int fd, u8 *buf, bool export)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	u8 *bar = device->bars[bar_idx].vaddr;
	struct dma_region region = {
		.vaddr = bar,
		.size = SZ_4K,
		.iova = TEST_IOVA + SZ_1M,
	};
	int fd2;

	ASSERT_TRUE(read_sigbus(bar)) TH_LOG("the BAR mmap reads in low power");
	ASSERT_TRUE(read_sigbus(buf)) TH_LOG("the dma-buf mmap reads in low power");
	ASSERT_EQ(-ENODEV, __iommu_map_file(iommu, fd, 0, SZ_4K,
					    TEST_IOVA + SZ_2M));
	ASSERT_EQ(-ENODEV, __iommu_map(iommu, &region));
	if (!export)
		return;

	fd2 = dmabuf_get(device->fd, bar_idx, &r, 1);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(-ENODEV, __iommu_map_file(iommu, fd2, 0, SZ_4K,
					    TEST_IOVA + SZ_2M))
		TH_LOG("a dma-buf exported in low power is not revoked");
	ASSERT_EQ(0, close(fd2));
}

/*
 * Once low power has ended, both mmaps read and @fd and the BAR map into
 * the IOAS again. The MAP_FILE mapping made before low power, at
 * TEST_IOVA, is unmapped.
 */
static void check_low_power_ended(struct __test_metadata *_metadata,
				  struct iommu *iommu,
				  struct vfio_pci_device *device, u32 bar_idx,
				  int fd, u8 *buf)
{
	u8 *bar = device->bars[bar_idx].vaddr;
	struct dma_region region = {
		.vaddr = bar,
		.size = SZ_4K,
		.iova = TEST_IOVA + SZ_1M,
	};

	ASSERT_FALSE(read_sigbus(bar));
	ASSERT_FALSE(read_sigbus(buf));
	ASSERT_EQ(0, __iommu_map_file(iommu, fd, 0, SZ_4K, TEST_IOVA + SZ_2M));
	ASSERT_EQ(SZ_4K, iommu_unmap_range(iommu, TEST_IOVA + SZ_2M, SZ_4K));
	ASSERT_EQ(0, __iommu_map(iommu, &region));
	iommu_unmap(iommu, &region);
	ASSERT_EQ(SZ_4K, iommu_unmap_range(iommu, TEST_IOVA, SZ_4K));
}

/*
 * What the low power tests watch: a dma-buf of the first page of @bar,
 * mmapped (in *@buf) and mapped with IOMMU_IOAS_MAP_FILE at TEST_IOVA.
 * Returns the dma-buf.
 */
static int low_power_importers(struct __test_metadata *_metadata,
			       struct iommu *iommu,
			       struct vfio_pci_device *device, u32 bar,
			       u8 **buf)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	int fd;

	fd = dmabuf_get(device->fd, bar, &r, 1);
	ASSERT_LE(0, fd);
	*buf = mmap(NULL, SZ_4K, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, *buf);
	ASSERT_EQ(0, __iommu_map_file(iommu, fd, 0, SZ_4K, TEST_IOVA));
	return fd;
}

/*
 * VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY revokes the device's dma-bufs and
 * BAR mmaps until LOW_POWER_EXIT, also when a config write turns memory
 * decode off and on again in between: the device is runtime suspended by
 * then (where the kernel has runtime PM), each write resumes it for the
 * access, and the write that turns decode on must not end the revoke.
 */
TEST_F(vfio_pci_dmabuf_test, low_power)
{
	u8 *buf;
	int fd;

	fd = low_power_importers(_metadata, self->iommu, self->device,
				 self->bar, &buf);

	vfio_pci_low_power_entry(self->device, -1);
	check_low_power_revoked(_metadata, self->iommu, self->device,
				self->bar, fd, buf, true);
	/* A second entry is refused; the device stays in low power. */
	ASSERT_EQ(-EINVAL, __vfio_pci_low_power_entry(self->device, -1));

	if (!sysfs_runtime_suspended_wait(device_bdf))
		TH_LOG("%s did not runtime suspend: the config writes find it active",
		       device_bdf);
	set_memory_decode(self->device, false);
	set_memory_decode(self->device, true);
	check_low_power_revoked(_metadata, self->iommu, self->device,
				self->bar, fd, buf, true);

	vfio_pci_low_power_exit(self->device);
	check_low_power_ended(_metadata, self->iommu, self->device, self->bar,
			      fd, buf);
	ASSERT_EQ(0, munmap(buf, SZ_4K));
	ASSERT_EQ(0, close(fd));
}

/*
 * LOW_POWER_ENTRY_WITH_WAKEUP revokes the same way until the device is
 * woken up: an access that resumes it (here a read of its config space)
 * signals the eventfd and ends low power, and the dma-bufs and BAR mmaps
 * are usable again without LOW_POWER_EXIT, which may still follow. Before
 * the wake-up the test makes no ioctl on the device (an export, a decode
 * toggle): each would wake it.
 */
TEST_F(vfio_pci_dmabuf_test, low_power_wakeup)
{
	u64 count;
	u8 *buf;
	int fd, efd;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	fd = low_power_importers(_metadata, self->iommu, self->device,
				 self->bar, &buf);

	vfio_pci_low_power_entry(self->device, efd);
	if (!sysfs_runtime_suspended_wait(device_bdf)) {
		vfio_pci_low_power_exit(self->device);
		SKIP(return, "%s does not runtime suspend (no CONFIG_PM?)\n",
		     device_bdf);
	}
	/* Faults and IOMMU maps do not wake the device up. */
	check_low_power_revoked(_metadata, self->iommu, self->device,
				self->bar, fd, buf, false);
	ASSERT_EQ(-1, read(efd, &count, sizeof(count)));
	ASSERT_EQ(EAGAIN, errno);

	(void)vfio_pci_config_readw(self->device, PCI_VENDOR_ID);
	ASSERT_EQ(sizeof(count), read(efd, &count, sizeof(count)))
		TH_LOG("the wake-up eventfd was not signalled");
	ASSERT_EQ(1, count);
	check_low_power_ended(_metadata, self->iommu, self->device, self->bar,
			      fd, buf);

	vfio_pci_low_power_exit(self->device);
	ASSERT_FALSE(read_sigbus(buf));
	ASSERT_EQ(0, munmap(buf, SZ_4K));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, close(efd));
}

/*
 * A wake-up ends low power but not a revoke for memory decode: with decode
 * off before the entry, the dma-bufs and BAR mmaps stay revoked after the
 * wake-up, until decode is turned on.
 */
TEST_F(vfio_pci_dmabuf_test, low_power_wakeup_decode_off)
{
	u64 count;
	u8 *buf;
	int fd, efd;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	fd = low_power_importers(_metadata, self->iommu, self->device,
				 self->bar, &buf);

	set_memory_decode(self->device, false);
	vfio_pci_low_power_entry(self->device, efd);
	if (!sysfs_runtime_suspended_wait(device_bdf)) {
		vfio_pci_low_power_exit(self->device);
		set_memory_decode(self->device, true);
		SKIP(return, "%s does not runtime suspend (no CONFIG_PM?)\n",
		     device_bdf);
	}
	(void)vfio_pci_config_readw(self->device, PCI_VENDOR_ID);
	ASSERT_EQ(sizeof(count), read(efd, &count, sizeof(count)))
		TH_LOG("the wake-up eventfd was not signalled");
	check_low_power_revoked(_metadata, self->iommu, self->device,
				self->bar, fd, buf, true);

	set_memory_decode(self->device, true);
	check_low_power_ended(_metadata, self->iommu, self->device, self->bar,
			      fd, buf);
	ASSERT_EQ(0, munmap(buf, SZ_4K));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, close(efd));
}

/* What a pass of p2p_setup() made, for p2p_undo(). */
struct p2p_setup {
	int dmabuf;
	bool map_file;
	void *va;
	/* On libvfio's list of mappings while it is mapped. */
	struct dma_region region;
	bool map_va;
	int done;
};

/*
 * What user space does to use a BAR for P2P: export a dma-buf of two
 * ranges and map it with IOMMU_IOAS_MAP_FILE; mmap a page of the BAR
 * (vfio-pci puts a dma-buf under it) and map that by address with
 * IOMMU_IOAS_MAP. A step that fails is not followed by the step that
 * needs it; @st->done counts the steps that worked.
 */
static void p2p_setup(struct iommu *iommu, struct vfio_pci_device *device,
		      u32 bar, struct p2p_setup *st)
{
	struct vfio_region_dma_range r[] = {
		{ .offset = SZ_4K, .length = SZ_4K },
		{ .offset = 0, .length = SZ_4K },
	};
	*st = (struct p2p_setup) {
		.dmabuf = -1,
		.va = MAP_FAILED,
		.region = { .size = SZ_4K, .iova = TEST_IOVA + SZ_1M },
	};
	st->dmabuf = dmabuf_get(device->fd, bar, r, ARRAY_SIZE(r));
	if (st->dmabuf >= 0) {
		st->done++;
		st->map_file = !__iommu_map_file(iommu, st->dmabuf, 0, 2 * SZ_4K,
						 TEST_IOVA);
		st->done += st->map_file;
	}
	st->va = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED,
		      device->fd, device->bars[bar].info.offset);
	if (st->va != MAP_FAILED) {
		st->done++;
		st->region.vaddr = st->va;
		st->map_va = !__iommu_map(iommu, &st->region);
		st->done += st->map_va;
	}
}

/* Undo what p2p_setup() made, with no fault injected. */
static void p2p_undo(struct iommu *iommu, struct p2p_setup *st)
{
	if (st->map_file)
		VFIO_ASSERT_EQ(iommu_unmap_range(iommu, TEST_IOVA, 2 * SZ_4K),
			       2 * SZ_4K);
	if (st->dmabuf >= 0)
		VFIO_ASSERT_EQ(close(st->dmabuf), 0);
	if (st->map_va)
		iommu_unmap(iommu, &st->region);
	if (st->va != MAP_FAILED)
		VFIO_ASSERT_EQ(munmap(st->va, SZ_4K), 0);
}

/*
 * Fail each fault injection point of p2p_setup() in turn, the first,
 * then the second, and so on until a pass reaches no more points than
 * the one before failed: every step either works or fails cleanly, and
 * after the sweep the whole setup works. What a failed step would leak
 * shows after the program: a dma-buf in the count ci/results takes,
 * memory in kmemleak (the sanitizer kernel's boot), a reference on the
 * device in the unbind of the P2P test that runs later.
 */
TEST_F(vfio_pci_dmabuf_test, p2p_setup_fail_nth)
{
	struct p2p_setup st;
	int fd, nth, failed = 0;

	if (!fail_nth_setup())
		SKIP(return, "no fault injection in debugfs (FAILSLAB, FAIL_PAGE_ALLOC)\n");
	fd = fail_nth_open();
	ASSERT_LE(0, fd);
	for (nth = 1; nth < 1000; nth++) {
		bool injected;

		fail_nth_set(fd, nth);
		p2p_setup(self->iommu, self->device, self->bar, &st);
		injected = fail_nth_injected(fd);
		p2p_undo(self->iommu, &st);
		if (!injected) {
			ASSERT_EQ(4, st.done)
				TH_LOG("with no failure injected, %d of 4 steps worked", st.done);
			break;
		}
		failed += st.done < 4;
	}
	ASSERT_GT(1000, nth) TH_LOG("the setup reached 1000 fault injection points");
	printf("# p2p_setup_fail_nth: %d fault injection points, %d failed a step\n",
	       nth - 1, failed);
	ASSERT_LT(0, failed) TH_LOG("no injected failure made a step fail");
	p2p_setup(self->iommu, self->device, self->bar, &st);
	ASSERT_EQ(4, st.done);
	p2p_undo(self->iommu, &st);
	ASSERT_EQ(0, close(fd));
}

/*
 * VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE of @dmabuf_fd through @device_fd;
 * @argsz 0 is the size of the request.
 */
static int __dmabuf_revoke(int device_fd, u32 feature_flags, int dmabuf_fd,
			   u32 argsz)
{
	struct {
		struct vfio_device_feature hdr;
		struct vfio_device_feature_dma_buf_revoke revoke;
	} req = {
		.hdr.argsz = argsz ? argsz : sizeof(req),
		.hdr.flags = feature_flags | VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE,
		.revoke.dmabuf_fd = dmabuf_fd,
	};

	return ioctl(device_fd, VFIO_DEVICE_FEATURE, &req);
}

static int dmabuf_revoke(int device_fd, int dmabuf_fd)
{
	return __dmabuf_revoke(device_fd, VFIO_DEVICE_FEATURE_SET, dmabuf_fd, 0);
}

/* The revoke fails (it returns 0 on success, never a file). */
#define ASSERT_REVOKE_REFUSED(_errno, _call) do {			\
		ASSERT_EQ(-1, (_call));					\
		ASSERT_EQ(_errno, errno);				\
	} while (0)

/* The feature's refusals, before anything is revoked. */
TEST_F(vfio_pci_dmabuf_test, revoke_refused)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	int dev = self->device->fd;
	int fd;

	fd = dmabuf_get(dev, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, __dmabuf_revoke(dev, VFIO_DEVICE_FEATURE_PROBE |
				     VFIO_DEVICE_FEATURE_SET, -1, 0));
	/* GET is not supported; argsz must cover the fd. */
	ASSERT_REVOKE_REFUSED(EINVAL,
			      __dmabuf_revoke(dev, VFIO_DEVICE_FEATURE_GET, fd, 0));
	ASSERT_REVOKE_REFUSED(EINVAL,
			      __dmabuf_revoke(dev, VFIO_DEVICE_FEATURE_SET, fd,
					      sizeof(struct vfio_device_feature) +
					      sizeof(__s32) - 1));
	/* Not a file, and a file that is not a dma-buf. */
	ASSERT_REVOKE_REFUSED(EBADF, dmabuf_revoke(dev, -1));
	ASSERT_REVOKE_REFUSED(EINVAL, dmabuf_revoke(dev, dev));
	/* Nothing was revoked: the dma-buf maps. */
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, 0, SZ_4K, TEST_IOVA));
	ASSERT_EQ(SZ_4K, iommu_unmap_range(self->iommu, TEST_IOVA, SZ_4K));
	ASSERT_EQ(0, close(fd));
}

/*
 * VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE revokes one dma-buf for good: its
 * iommufd mapping is removed and not restored, also one made with
 * IOMMU_IOAS_MAP_RESTORE, it cannot be mapped or mmapped again, a mmap of
 * it raises SIGBUS, and neither memory decode off and on nor a reset ends
 * any of that, while both end the revoke of the device's other dma-bufs.
 * A second revoke fails with EBADFD; a dma-buf that decode off holds
 * revoked can be revoked for good.
 */
TEST_F(vfio_pci_dmabuf_test, revoke_for_good)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	struct dma_region gone = { .size = SZ_4K, .iova = TEST_IOVA };
	struct dma_region kept = { .size = SZ_4K, .iova = TEST_IOVA + SZ_1M };
	u32 *bar = self->device->bars[self->bar].vaddr;
	int dev = self->device->fd;
	int fd, other;

	fd = dmabuf_get(dev, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	other = dmabuf_get(dev, self->bar, &r, 1);
	ASSERT_LE(0, other);
	gone.vaddr = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED,
			  fd, 0);
	ASSERT_NE(MAP_FAILED, gone.vaddr);
	kept.vaddr = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED,
			  other, 0);
	ASSERT_NE(MAP_FAILED, kept.vaddr);
	ASSERT_EQ(0, __iommu_map_restore(self->iommu, &gone));
	ASSERT_EQ(0, __iommu_map_restore(self->iommu, &kept));

	ASSERT_EQ(0, dmabuf_revoke(dev, fd));
	ASSERT_EQ(IOMMU_IOAS_MAP_STATE_REVOKED,
		  iommu_map_state(self->iommu, gone.iova));
	ASSERT_TRUE(read_sigbus(gone.vaddr));
	ASSERT_EQ(-ENODEV, __iommu_map_file(self->iommu, fd, 0, SZ_4K,
					    TEST_IOVA + SZ_2M));
	ASSERT_REVOKE_REFUSED(EBADFD, dmabuf_revoke(dev, fd));
	ASSERT_EQ(MAP_FAILED, mmap(NULL, SZ_4K, PROT_READ, MAP_SHARED, fd, 0));
	ASSERT_EQ(ENODEV, errno);
	/* The other dma-buf and the BAR are untouched. */
	ASSERT_EQ(IOMMU_IOAS_MAP_STATE_MAPPED,
		  iommu_map_state(self->iommu, kept.iova));
	ASSERT_FALSE(read_sigbus(kept.vaddr));
	ASSERT_FALSE(read_sigbus(bar));

	/* Decode off and on: the other mapping comes back, this one not. */
	set_memory_decode(self->device, false);
	ASSERT_EQ(IOMMU_IOAS_MAP_STATE_REVOKED,
		  iommu_map_state(self->iommu, kept.iova));
	set_memory_decode(self->device, true);
	ASSERT_EQ(IOMMU_IOAS_MAP_STATE_MAPPED,
		  iommu_map_state(self->iommu, kept.iova));
	ASSERT_FALSE(read_sigbus(kept.vaddr));
	ASSERT_EQ(IOMMU_IOAS_MAP_STATE_REVOKED,
		  iommu_map_state(self->iommu, gone.iova));
	ASSERT_TRUE(read_sigbus(gone.vaddr));
	ASSERT_EQ(-ENODEV, __iommu_map_file(self->iommu, fd, 0, SZ_4K,
					    TEST_IOVA + SZ_2M));
	ASSERT_REVOKE_REFUSED(EBADFD, dmabuf_revoke(dev, fd));

	/* The same after a reset, where the device has one. */
	if (!__vfio_pci_device_reset(self->device)) {
		ASSERT_EQ(IOMMU_IOAS_MAP_STATE_MAPPED,
			  iommu_map_state(self->iommu, kept.iova));
		ASSERT_EQ(IOMMU_IOAS_MAP_STATE_REVOKED,
			  iommu_map_state(self->iommu, gone.iova));
		ASSERT_TRUE(read_sigbus(gone.vaddr));
	}

	/* Revoked for good while decode off holds it revoked. */
	set_memory_decode(self->device, false);
	ASSERT_EQ(0, dmabuf_revoke(dev, other));
	set_memory_decode(self->device, true);
	ASSERT_EQ(IOMMU_IOAS_MAP_STATE_REVOKED,
		  iommu_map_state(self->iommu, kept.iova));
	ASSERT_TRUE(read_sigbus(kept.vaddr));
	ASSERT_EQ(-ENODEV, __iommu_map_file(self->iommu, other, 0, SZ_4K,
					    TEST_IOVA + SZ_2M));
	ASSERT_FALSE(read_sigbus(bar));

	/* The mappings can still be unmapped, the files closed. */
	iommu_unmap(self->iommu, &gone);
	iommu_unmap(self->iommu, &kept);
	ASSERT_EQ(0, munmap(gone.vaddr, SZ_4K));
	ASSERT_EQ(0, munmap(kept.vaddr, SZ_4K));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, close(other));

	/* A new dma-buf of the same range maps. */
	fd = dmabuf_get(dev, self->bar, &r, 1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, __iommu_map_file(self->iommu, fd, 0, SZ_4K, TEST_IOVA));
	ASSERT_EQ(SZ_4K, iommu_unmap_range(self->iommu, TEST_IOVA, SZ_4K));
	ASSERT_EQ(0, close(fd));
}

int main(int argc, char *argv[])
{
	device_bdf = vfio_selftests_get_bdf(&argc, argv);
	return test_harness_run(argc, argv);
}
