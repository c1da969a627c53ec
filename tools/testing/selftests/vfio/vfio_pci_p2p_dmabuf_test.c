// SPDX-License-Identifier: GPL-2.0-only
/*
 * End-to-end peer-to-peer DMA through a dma-buf.
 *
 * A memory BAR of one device (the exporter) is exported with
 * VFIO_DEVICE_FEATURE_DMA_BUF and mapped into an IOAS with
 * IOMMU_IOAS_MAP_FILE. A second device with a libvfio driver (the DMA
 * engine) is attached to the same IOAS and copies between the BAR and RAM
 * through that IOVA. Then the exporter revokes the dma-buf in every way it
 * can, and the test checks that the DMA engine no longer reaches the BAR.
 *
 * usage: vfio_pci_p2p_dmabuf_test EXPORTER_BDF ENGINE_BDF
 *
 * In QEMU the exporter is ivshmem-plain, whose BAR 2 is a file on the
 * host, and the engine is edu. Every write into the BAR, and every DMA
 * write that must not land, is also reported on stdout, in the order they
 * happen, as a TAP comment line:
 *
 *   # p2p-host-check fill|present|absent 0xOFFSET 0xLENGTH 0xSEED
 *
 * "fill" is a write by the CPU through the BAR's mmap, "present" a DMA
 * write that the engine completed, "absent" a DMA write that the engine
 * completed through a revoked mapping and that must not have landed (its
 * bytes were filled with another pattern first). OFFSET is an offset in
 * the BAR, and the bytes are pattern_byte(SEED, offset) for each offset of
 * the range. From these lines the host can rebuild what the whole BAR must
 * hold after the run and compare every byte of that file. No byte of the
 * BAR is the target of more than one DMA in the whole run.
 *
 * The hot reset tests need the two devices in one dev_set, where
 * VFIO_DEVICE_PCI_HOT_RESET resets both (in QEMU: functions 0 and 1 of one
 * slot below a root port); elsewhere they are skipped.
 *
 * The storm case runs for DMABUF_STORM_S seconds (20 without it).
 *
 * A second fixture, vfio_pci_sgt_dmabuf_test, gives the engine to a kernel
 * importer that uses the dma-buf's scatterlist, as the driver of a DMA
 * engine does (CONFIG_DMABUF_SGT_TEST, for edu), and needs
 * DMABUF_SGT_REACH in the environment (see there).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <linux/io.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/sizes.h>
#include <linux/vfio.h>

#include <libvfio.h>

#include "kselftest_harness.h"

/*
 * IOVAs, all below 256 MiB for DMA engines with a 28 bit DMA mask (edu's
 * default) as long as the BAR is 128 MiB or smaller.
 */
#define RAM_IOVA	SZ_16M
#define RAM_SIZE	SZ_64K
#define DRIVER_IOVA	SZ_32M
#define DRIVER_SIZE	SZ_2M
/* Where the test tries to map a revoked dma-buf. */
#define PROBE_IOVA	SZ_64M
/* hot_reset_open: a slot of the BAR mapped by address, and the engine's BAR */
#define VA_IOVA		(SZ_64M + SZ_16M)
#define ENGINE_IOVA	(SZ_64M + SZ_32M)
#define BAR_IOVA	SZ_128M

/*
 * Each test writes into its own 64 KiB slot of the BAR; the last page of
 * the BAR is shared out in quarters between the tests that use it.
 */
#define SLOT_SIZE	SZ_64K
enum {
	SLOT_READ = 1,
	SLOT_WRITE,
	SLOT_MULTI_RANGE,
	SLOT_MEMORY_DECODE,
	SLOT_RESET,
	SLOT_CLOSE,
	SLOT_UNBIND,
	SLOT_NO_REMAP,
	SLOT_IN_FLIGHT,
	SLOT_UNBIND_RACE,
	SLOT_DESCENDING,
	SLOT_MANY_RANGES,
	SLOT_MAP_VA,
	SLOT_MAP_VA_NO_RESTORE,
	SLOT_HOT_RESET,
	SLOT_HOT_RESET_CLOSED,
	SLOT_LOW_POWER,
	SLOT_LOW_POWER_WAKEUP,
	SLOT_SGT,
	SLOT_SGT_REVOKE,
	SLOT_STORM,
	NR_SLOTS,
};

#define LAST_PAGE_READ	0x000
#define LAST_PAGE_WRITE	0x400
#define LAST_PAGE_WHOLE	0x800

/*
 * In a revoke test: the DMA that shows the path works, the DMA that the
 * revoke must block, and the DMA after the dma-buf is mapped again.
 */
#define BEFORE_OFF	0x0000
#define BLOCKED_OFF	0x1000
#define AFTER_OFF	0x2000
/* hot_reset_open: the DMA through the mapping by address */
#define VA_OFF		0x3000
#define REVOKE_LEN	0x200

#define MIN_BAR_SIZE	(2 * NR_SLOTS * SLOT_SIZE)

/* many_ranges: a slot cut in pages, listed in a scrambled order. */
#define MANY_RANGES	(SLOT_SIZE / SZ_4K)

static const char *exporter_bdf;
static const char *engine_bdf;

static void fill_pattern(u8 *buf, u64 bar_off, u64 len, u8 seed)
{
	u64 i;

	for (i = 0; i < len; i++)
		buf[i] = pattern_byte(seed, bar_off + i);
}

/* The offset in @buf of the first byte that is not the pattern, or -1. */
static long pattern_mismatch(const u8 *buf, u64 bar_off, u64 len, u8 seed)
{
	u64 i;

	for (i = 0; i < len; i++) {
		if (buf[i] != pattern_byte(seed, bar_off + i))
			return i;
	}
	return -1;
}

static u64 now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ull + ts.tv_nsec / 1000;
}

static int dmabuf_get(int device_fd, u32 bar,
		      const struct vfio_region_dma_range *ranges, u32 nr)
{
	struct {
		struct vfio_device_feature hdr;
		struct vfio_device_feature_dma_buf get;
		struct vfio_region_dma_range ranges[MANY_RANGES];
	} req = {};

	VFIO_ASSERT_LE(nr, ARRAY_SIZE(req.ranges));
	req.hdr.argsz = sizeof(req.hdr) + sizeof(req.get) +
			nr * sizeof(req.ranges[0]);
	req.hdr.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	req.get.region_index = bar;
	req.get.open_flags = O_RDWR | O_CLOEXEC;
	req.get.nr_ranges = nr;
	memcpy(req.ranges, ranges, nr * sizeof(*ranges));

	return ioctl(device_fd, VFIO_DEVICE_FEATURE, &req);
}

static void region_setup(struct iommu *iommu, struct dma_region *region,
			 iova_t iova, u64 size)
{
	region->vaddr = mmap(NULL, size, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	VFIO_ASSERT_NE(region->vaddr, MAP_FAILED);
	region->iova = iova;
	region->size = size;
	iommu_map(iommu, region);
}

static void write_sysfs(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	VFIO_ASSERT_GE(fd, 0, "open(%s) failed\n", path);
	VFIO_ASSERT_EQ(write(fd, val, strlen(val)), (ssize_t)strlen(val),
		       "writing \"%s\" to %s failed\n", val, path);
	VFIO_ASSERT_EQ(close(fd), 0);
}

static bool bound_to_vfio_pci(const char *bdf)
{
	char *driver = sysfs_driver_get(bdf);
	bool ret = driver && !strcmp(driver, "vfio-pci");

	free(driver);
	return ret;
}

/* Bind @bdf to vfio-pci again after the test unbound it. */
static void bind_vfio_pci(const char *bdf)
{
	char path[128];

	snprintf_assert(path, sizeof(path),
			"/sys/bus/pci/devices/%s/driver_override", bdf);
	write_sysfs(path, "vfio-pci");
	write_sysfs("/sys/bus/pci/drivers_probe", bdf);
}

/* unbind_race: a thread that maps and unmaps a dma-buf until told to stop. */
struct map_race {
	struct iommu *iommu;
	int dmabuf;
	bool stop;
	unsigned long maps;
	unsigned long revoked;
	unsigned long errors;
	int err;
};

/* The state of a test, for the helpers. */
struct p2p {
	struct iommu *iommu;
	struct vfio_pci_device *exporter;
	struct vfio_pci_device *engine;
	struct dma_region ram;
	u32 bar;
	u64 bar_size;
	/* The dma-buf of the whole BAR, mapped at BAR_IOVA. */
	int dmabuf;
	/* unbind_race's mapping thread, stopped by the teardown if running */
	struct map_race race;
	pthread_t mapper;
	bool mapper_running;
};

/* Stop and join unbind_race's mapping thread if it runs. */
static void stop_mapper(struct p2p *p2p)
{
	if (!p2p->mapper_running)
		return;
	__atomic_store_n(&p2p->race.stop, true, __ATOMIC_RELEASE);
	VFIO_ASSERT_EQ(pthread_join(p2p->mapper, NULL), 0);
	p2p->mapper_running = false;
}

FIXTURE(vfio_pci_p2p_dmabuf_test) {
	struct p2p p2p;
};

static void open_exporter(struct __test_metadata *_metadata, struct p2p *p2p)
{
	struct vfio_region_info *info;

	p2p->exporter = vfio_pci_device_init(exporter_bdf, p2p->iommu);
	info = &p2p->exporter->bars[p2p->bar].info;
	ASSERT_TRUE(info->flags & VFIO_REGION_INFO_FLAG_MMAP);
	ASSERT_EQ(p2p->bar_size, info->size);
}

FIXTURE_SETUP(vfio_pci_p2p_dmabuf_test)
{
	struct p2p *p2p = &self->p2p;
	struct vfio_pci_driver *driver;
	int i;

	p2p->dmabuf = -1;
	p2p->iommu = iommu_init(MODE_IOMMUFD);
	p2p->exporter = vfio_pci_device_init(exporter_bdf, p2p->iommu);
	p2p->engine = vfio_pci_device_init(engine_bdf, p2p->iommu);
	driver = &p2p->engine->driver;
	if (!driver->ops)
		SKIP(return, "no libvfio driver for %s\n", engine_bdf);

	/* The largest BAR that vfio-pci can mmap, for the guest's checks. */
	p2p->bar = PCI_STD_NUM_BARS;
	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct vfio_region_info *info = &p2p->exporter->bars[i].info;

		if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP))
			continue;
		if (p2p->bar == PCI_STD_NUM_BARS || info->size > p2p->bar_size) {
			p2p->bar = i;
			p2p->bar_size = info->size;
		}
	}
	if (p2p->bar == PCI_STD_NUM_BARS || p2p->bar_size < MIN_BAR_SIZE)
		SKIP(return, "%s has no mmap-able BAR of %d bytes or more\n",
		     exporter_bdf, MIN_BAR_SIZE);

	region_setup(p2p->iommu, &p2p->ram, RAM_IOVA, RAM_SIZE);
	region_setup(p2p->iommu, &driver->region, DRIVER_IOVA, DRIVER_SIZE);
	vfio_pci_driver_init(p2p->engine);
}

FIXTURE_TEARDOWN(vfio_pci_p2p_dmabuf_test)
{
	struct p2p *p2p = &self->p2p;

	stop_mapper(p2p);

	if (p2p->engine)
		vfio_pci_device_cleanup(p2p->engine);
	if (p2p->exporter)
		vfio_pci_device_cleanup(p2p->exporter);
	if (p2p->dmabuf >= 0)
		close(p2p->dmabuf);
	iommu_cleanup(p2p->iommu);

	/* Leave the exporter to the next test even if this one failed. */
	if (!bound_to_vfio_pci(exporter_bdf))
		bind_vfio_pci(exporter_bdf);
}

static u8 *bar_vaddr(struct p2p *p2p)
{
	return p2p->exporter->bars[p2p->bar].vaddr;
}

/* Write @len bytes of the BAR with the CPU, through the BAR's mmap. */
static void bar_fill(struct p2p *p2p, u64 bar_off, u64 len, u8 seed)
{
	u8 *bar = bar_vaddr(p2p);
	u64 i;

	for (i = 0; i < len; i++)
		writeb(pattern_byte(seed, bar_off + i), bar + bar_off + i);
	host_check("fill", bar_off, len, seed);
}

/*
 * Check through the BAR's mmap that @len bytes at @bar_off are the pattern
 * of @seed.
 */
static void __bar_check(struct __test_metadata *_metadata,
			struct p2p *p2p, u64 bar_off, u64 len, u8 seed,
			const char *what)
{
	const u8 *bar = bar_vaddr(p2p) + bar_off;
	u8 buf[SZ_2K];
	u64 j;
	long i;

	ASSERT_GE(sizeof(buf), len);
	for (j = 0; j < len; j++)
		buf[j] = readb(bar + j);
	i = pattern_mismatch(buf, bar_off, len, seed);
	if (i >= 0)
		TH_LOG("%s: BAR offset 0x%llx has 0x%02x, not 0x%02x (seed 0x%02x)",
		       what, (unsigned long long)bar_off + i, buf[i],
		       pattern_byte(seed, bar_off + i), seed);
	ASSERT_EQ(-1, i);
}

#define bar_check(_p2p, _off, _len, _seed, _what) \
	__bar_check(_metadata, _p2p, _off, _len, _seed, _what)

/*
 * Have the engine DMA the pattern of @seed for @len bytes at BAR offset
 * @bar_off from RAM to @iova, and report the bytes to the host as
 * @expect ("present" or "absent").
 */
static void dma_to_bar(struct p2p *p2p, iova_t iova, u64 bar_off, u64 len,
		       u8 seed, const char *expect)
{
	VFIO_ASSERT_LE(len, RAM_SIZE);
	fill_pattern(p2p->ram.vaddr, bar_off, len, seed);
	/*
	 * A transfer to an IOVA that the IOMMU blocks completes all the same
	 * (the engine is not told), so this returns for blocked DMAs too.
	 */
	VFIO_ASSERT_EQ(vfio_pci_driver_memcpy(p2p->engine, RAM_IOVA, iova, len), 0);
	host_check(expect, bar_off, len, seed);
}

/* A DMA write through the whole-BAR mapping that must land. */
static void __p2p_write(struct __test_metadata *_metadata, struct p2p *p2p,
			u64 bar_off, u64 len, u8 seed)
{
	/* Make sure the bytes are not there already. */
	bar_fill(p2p, bar_off, len, ~seed);
	dma_to_bar(p2p, BAR_IOVA + bar_off, bar_off, len, seed, "present");
	__bar_check(_metadata, p2p, bar_off, len, seed, "P2P write");
}

#define p2p_write(_p2p, _off, _len, _seed) \
	__p2p_write(_metadata, _p2p, _off, _len, _seed)

/* A DMA read through the whole-BAR mapping: BAR to RAM. */
static void __p2p_read(struct __test_metadata *_metadata, struct p2p *p2p,
		       u64 bar_off, u64 len, u8 seed)
{
	const u8 *ram = p2p->ram.vaddr;
	long i;

	ASSERT_GE(RAM_SIZE, len);
	bar_fill(p2p, bar_off, len, seed);
	memset(p2p->ram.vaddr, 0, len);
	ASSERT_EQ(0, vfio_pci_driver_memcpy(p2p->engine, BAR_IOVA + bar_off,
					    RAM_IOVA, len));
	i = pattern_mismatch(ram, bar_off, len, seed);
	if (i >= 0)
		TH_LOG("P2P read: RAM has 0x%02x for BAR offset 0x%llx, not 0x%02x",
		       ram[i], (unsigned long long)bar_off + i,
		       pattern_byte(seed, bar_off + i));
	ASSERT_EQ(-1, i);
}

#define p2p_read(_p2p, _off, _len, _seed) \
	__p2p_read(_metadata, _p2p, _off, _len, _seed)

/* Export the whole BAR as p2p->dmabuf and map it at BAR_IOVA. */
static void __map_bar(struct __test_metadata *_metadata, struct p2p *p2p)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = p2p->bar_size };

	if (p2p->dmabuf >= 0)
		ASSERT_EQ(0, close(p2p->dmabuf));
	p2p->dmabuf = dmabuf_get(p2p->exporter->fd, p2p->bar, &r, 1);
	ASSERT_LE(0, p2p->dmabuf);
	ASSERT_EQ(0, __iommu_map_file(p2p->iommu, p2p->dmabuf, 0, p2p->bar_size,
				      BAR_IOVA));
}

#define map_bar(_p2p) __map_bar(_metadata, _p2p)

/*
 * MAP_FILE of a revoked dma-buf fails with ENODEV: vfio-pci refuses to
 * attach a dma-buf while it is revoked, and one whose device was closed
 * stays revoked.
 */
#define ASSERT_MAP_REVOKED(_p2p, _fd) do {				\
	ASSERT_EQ(-ENODEV, __iommu_map_file((_p2p)->iommu, (_fd), 0,	\
					    SZ_4K, PROBE_IOVA))		\
		TH_LOG("MAP_FILE of a revoked dma-buf succeeded");	\
	ASSERT_EQ(ENODEV, errno);					\
} while (0)

static u64 slot(unsigned int n)
{
	return n * SLOT_SIZE;
}

TEST_F(vfio_pci_p2p_dmabuf_test, p2p_read)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_READ);

	map_bar(p2p);
	/* Page aligned, the engine's largest transfer. */
	p2p_read(p2p, base, SZ_2K, 0x11);
	/* Across a page boundary of the BAR. */
	p2p_read(p2p, base + 0x1f80, 0x100, 0x12);
	/* The middle and the last page of the BAR. */
	p2p_read(p2p, p2p->bar_size / 2 + 0x40, 0x300, 0x13);
	p2p_read(p2p, p2p->bar_size - SZ_4K + LAST_PAGE_READ, 0x400, 0x14);
	ASSERT_EQ(p2p->bar_size, iommu_unmap_range(p2p->iommu, BAR_IOVA, p2p->bar_size));
}

TEST_F(vfio_pci_p2p_dmabuf_test, p2p_write)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_WRITE);

	map_bar(p2p);
	p2p_write(p2p, base, SZ_2K, 0x21);
	p2p_write(p2p, base + 0x1f80, 0x100, 0x22);
	p2p_write(p2p, p2p->bar_size / 2 + SZ_4K + 0x40, 0x300, 0x23);
	p2p_write(p2p, p2p->bar_size - SZ_4K + LAST_PAGE_WRITE, 0x400, 0x24);
	ASSERT_EQ(p2p->bar_size, iommu_unmap_range(p2p->iommu, BAR_IOVA, p2p->bar_size));
}

/*
 * DMA of 2 * @half bytes through @iova, which is @half bytes before the
 * end of the dma-buf range that maps BAR offset @end_off - @half and
 * @half bytes into the next one, which starts at BAR offset @next_off:
 * both halves land, each in its own range, and read back the same.
 */
static void __dma_across(struct __test_metadata *_metadata, struct p2p *p2p,
			 iova_t iova, u64 end_off, u64 next_off, u64 half,
			 u8 seed)
{
	u64 first = end_off - half;
	u8 *ram = p2p->ram.vaddr;

	bar_fill(p2p, first, half, ~seed);
	bar_fill(p2p, next_off, half, ~seed);
	fill_pattern(ram, first, half, seed);
	fill_pattern(ram + half, next_off, half, seed);
	ASSERT_EQ(0, vfio_pci_driver_memcpy(p2p->engine, RAM_IOVA, iova,
					    2 * half));
	host_check("present", first, half, seed);
	host_check("present", next_off, half, seed);
	__bar_check(_metadata, p2p, first, half, seed, "write across ranges");
	__bar_check(_metadata, p2p, next_off, half, seed,
		    "write across ranges");

	memset(ram, 0, 2 * half);
	ASSERT_EQ(0, vfio_pci_driver_memcpy(p2p->engine, iova, RAM_IOVA,
					    2 * half));
	ASSERT_EQ(-1, pattern_mismatch(ram, first, half, seed));
	ASSERT_EQ(-1, pattern_mismatch(ram + half, next_off, half, seed));
}

/*
 * A dma-buf of two slices of the BAR that are not adjacent, mapped at
 * BAR_IOVA: the IOVA range is contiguous, the BAR ranges are not.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, multi_range)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_MULTI_RANGE);
	struct vfio_region_dma_range r[2] = {
		{ .offset = base, .length = SZ_4K },
		{ .offset = base + SZ_32K, .length = SZ_4K },
	};
	/* 0x100 bytes at the end of the first slice, 0x100 of the second. */
	const u64 half = 0x100;

	p2p->dmabuf = dmabuf_get(p2p->exporter->fd, p2p->bar, r, 2);
	ASSERT_LE(0, p2p->dmabuf);
	ASSERT_EQ(0, __iommu_map_file(p2p->iommu, p2p->dmabuf, 0, 2 * SZ_4K,
				      BAR_IOVA));
	__dma_across(_metadata, p2p, BAR_IOVA + SZ_4K - half, base + SZ_4K,
		     base + SZ_32K, half, 0x31);
	ASSERT_EQ(2 * SZ_4K, iommu_unmap_range(p2p->iommu, BAR_IOVA, 2 * SZ_4K));
}

/*
 * Two slices listed in descending BAR order: byte 0 of the dma-buf is in
 * the slice that is higher in the BAR.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, multi_range_descending)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_DESCENDING);
	struct vfio_region_dma_range r[2] = {
		{ .offset = base + SZ_32K, .length = SZ_4K },
		{ .offset = base, .length = SZ_4K },
	};
	const u64 half = 0x100;

	p2p->dmabuf = dmabuf_get(p2p->exporter->fd, p2p->bar, r, 2);
	ASSERT_LE(0, p2p->dmabuf);
	ASSERT_EQ(0, __iommu_map_file(p2p->iommu, p2p->dmabuf, 0, 2 * SZ_4K,
				      BAR_IOVA));
	__dma_across(_metadata, p2p, BAR_IOVA + SZ_4K - half,
		     base + SZ_32K + SZ_4K, base, half, 0x38);
	ASSERT_EQ(2 * SZ_4K, iommu_unmap_range(p2p->iommu, BAR_IOVA, 2 * SZ_4K));
}

/*
 * A slot cut in MANY_RANGES ranges of a page, listed in a scrambled order
 * (page i of the dma-buf is page 5 * i mod MANY_RANGES of the slot), with
 * a DMA across every boundary between two of them.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, many_ranges)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_MANY_RANGES);
	struct vfio_region_dma_range r[MANY_RANGES];
	const u64 half = 0x40;
	unsigned int i;

	for (i = 0; i < MANY_RANGES; i++) {
		r[i].offset = base + (5 * i % MANY_RANGES) * SZ_4K;
		r[i].length = SZ_4K;
	}
	p2p->dmabuf = dmabuf_get(p2p->exporter->fd, p2p->bar, r, MANY_RANGES);
	ASSERT_LE(0, p2p->dmabuf);
	ASSERT_EQ(0, __iommu_map_file(p2p->iommu, p2p->dmabuf, 0, SLOT_SIZE,
				      BAR_IOVA));
	for (i = 0; i + 1 < MANY_RANGES; i++)
		__dma_across(_metadata, p2p,
			     BAR_IOVA + (i + 1) * SZ_4K - half,
			     r[i].offset + SZ_4K, r[i + 1].offset, half,
			     0x40 + i);
	ASSERT_EQ(SLOT_SIZE, iommu_unmap_range(p2p->iommu, BAR_IOVA, SLOT_SIZE));
}

/*
 * The first steps of every revoke test: the BAR is mapped and a DMA write
 * lands, and the bytes that the DMA after the revoke will target hold a
 * pattern the test knows.
 */
static void __revoke_prepare(struct __test_metadata *_metadata,
			     struct p2p *p2p, u64 base, u8 seed)
{
	__map_bar(_metadata, p2p);
	__p2p_write(_metadata, p2p, base + BEFORE_OFF, REVOKE_LEN, seed);
	bar_fill(p2p, base + BLOCKED_OFF, REVOKE_LEN, ~seed);
}

#define revoke_prepare(_p2p, _base, _seed) \
	__revoke_prepare(_metadata, _p2p, _base, _seed)

/* A DMA write through the revoked mapping: it must not land. */
static void revoke_blocked_dma(struct p2p *p2p, u64 base, u8 seed)
{
	dma_to_bar(p2p, BAR_IOVA + base + BLOCKED_OFF, base + BLOCKED_OFF,
		   REVOKE_LEN, seed + 1, "absent");
}

/*
 * With the exporter decoding memory again: the blocked DMA left the BAR as
 * it was, and unmap + map of @fd (or of a new dma-buf when @fd is -1)
 * makes DMA land again.
 */
static void __revoke_restore(struct __test_metadata *_metadata,
			     struct p2p *p2p, u64 base, u8 seed, int fd)
{
	__bar_check(_metadata, p2p, base + BLOCKED_OFF, REVOKE_LEN, ~seed,
		    "blocked DMA");
	ASSERT_EQ(p2p->bar_size, iommu_unmap_range(p2p->iommu, BAR_IOVA, p2p->bar_size));
	if (fd < 0)
		__map_bar(_metadata, p2p);
	else
		ASSERT_EQ(0, __iommu_map_file(p2p->iommu, fd, 0, p2p->bar_size,
					      BAR_IOVA));
	__p2p_write(_metadata, p2p, base + AFTER_OFF, REVOKE_LEN, seed + 2);
}

#define revoke_restore(_p2p, _base, _seed, _fd) \
	__revoke_restore(_metadata, _p2p, _base, _seed, _fd)

/*
 * Memory decode off revokes the dma-buf: iommufd unmaps it from the IOMMU
 * and DMA faults. Once decode is on again, the same dma-buf can be mapped
 * again.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, revoke_memory_decode)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_MEMORY_DECODE);
	const u8 seed = 0x40;

	revoke_prepare(p2p, base, seed);
	vfio_pci_cmd_clear(p2p->exporter, PCI_COMMAND_MEMORY);
	revoke_blocked_dma(p2p, base, seed);
	ASSERT_MAP_REVOKED(p2p, p2p->dmabuf);

	vfio_pci_cmd_set(p2p->exporter, PCI_COMMAND_MEMORY);
	revoke_restore(p2p, base, seed, p2p->dmabuf);
}

/*
 * Low power (VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY) revokes the dma-buf as
 * decode off does, a config write that turns decode off and on while in
 * low power (and runtime suspended, where the kernel has runtime PM)
 * leaves it revoked, and LOW_POWER_EXIT lets it be mapped again. The
 * blocked DMA shows the IOMMU revoke because the exporter keeps decoding
 * (ivshmem has no PM capability, so it stays in D0): on a device in D3hot
 * the write would be dropped either way.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, revoke_low_power)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_LOW_POWER);
	const u8 seed = 0xd0;

	revoke_prepare(p2p, base, seed);
	vfio_pci_low_power_entry(p2p->exporter, -1);
	if (!sysfs_runtime_suspended_wait(exporter_bdf))
		TH_LOG("%s did not runtime suspend: the config writes find it active",
		       exporter_bdf);
	vfio_pci_cmd_clear(p2p->exporter, PCI_COMMAND_MEMORY);
	vfio_pci_cmd_set(p2p->exporter, PCI_COMMAND_MEMORY);
	revoke_blocked_dma(p2p, base, seed);
	ASSERT_MAP_REVOKED(p2p, p2p->dmabuf);

	vfio_pci_low_power_exit(p2p->exporter);
	revoke_restore(p2p, base, seed, p2p->dmabuf);
}

/*
 * A wake-up from LOW_POWER_ENTRY_WITH_WAKEUP ends low power from the
 * exporter's runtime resume, and a BAR mapped by address with
 * IOMMU_IOAS_MAP_RESTORE comes back at its IOVA, with nothing from user
 * space but the access that woke the device (which returns once the
 * mapping is back): a DMA in low power does not land, one after the
 * wake-up does.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, revoke_low_power_wakeup)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_LOW_POWER_WAKEUP);
	struct dma_region region = {
		.vaddr = bar_vaddr(p2p) + base,
		.size = SLOT_SIZE,
		.iova = BAR_IOVA + base,
	};
	const u8 seed = 0xd8;
	u64 count;
	int efd;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	/* IOVA BAR_IOVA + x is BAR offset x, as the helpers expect. */
	ASSERT_EQ(0, __iommu_map_restore(p2p->iommu, &region));
	p2p_write(p2p, base + BEFORE_OFF, REVOKE_LEN, seed);
	bar_fill(p2p, base + BLOCKED_OFF, REVOKE_LEN, ~seed);

	/* No ioctl on the exporter from here to the wake-up: it would wake it. */
	vfio_pci_low_power_entry(p2p->exporter, efd);
	if (!sysfs_runtime_suspended_wait(exporter_bdf)) {
		vfio_pci_low_power_exit(p2p->exporter);
		iommu_unmap(p2p->iommu, &region);
		SKIP(return, "%s does not runtime suspend (no CONFIG_PM?)\n",
		     exporter_bdf);
	}
	dma_to_bar(p2p, BAR_IOVA + base + BLOCKED_OFF, base + BLOCKED_OFF,
		   REVOKE_LEN, seed + 1, "absent");

	(void)vfio_pci_config_readw(p2p->exporter, PCI_VENDOR_ID);
	ASSERT_EQ(sizeof(count), read(efd, &count, sizeof(count)))
		TH_LOG("the wake-up eventfd was not signalled");
	bar_check(p2p, base + BLOCKED_OFF, REVOKE_LEN, ~seed, "DMA in low power");
	p2p_write(p2p, base + AFTER_OFF, REVOKE_LEN, seed + 2);
	iommu_unmap(p2p->iommu, &region);
	ASSERT_EQ(0, close(efd));
}

/*
 * revoke_in_flight: edu completes each transfer on a QEMU timer, about
 * 100 ms after it was started, and memcpy_start() does a read of the
 * source and then starts the write: the write cannot land before 200 ms
 * after memcpy_start() was called. A revoke that returned before
 * IN_FLIGHT_MAX_US from that call returned before the write landed.
 */
#define IN_FLIGHT_MAX_US	180000

/*
 * Revoke while a DMA write into the BAR is in flight: the engine has
 * started it and completes it about 100 ms later. The revoke returns
 * before that, so no byte may land.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, revoke_in_flight)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_IN_FLIGHT);
	const u64 off = base + BLOCKED_OFF;
	const u8 seed = 0x90;
	u64 started, revoked;

	/* Other engines complete a transfer before memcpy_start() returns. */
	if (strcmp(p2p->engine->driver.ops->name, "edu"))
		SKIP(return, "needs edu's slow DMA, not %s\n",
		     p2p->engine->driver.ops->name);

	revoke_prepare(p2p, base, seed);
	fill_pattern(p2p->ram.vaddr, off, REVOKE_LEN, seed + 1);
	started = now_us();
	vfio_pci_driver_memcpy_start(p2p->engine, RAM_IOVA, BAR_IOVA + off,
				     REVOKE_LEN, 1);
	vfio_pci_cmd_clear(p2p->exporter, PCI_COMMAND_MEMORY);
	revoked = now_us();
	ASSERT_EQ(0, vfio_pci_driver_memcpy_wait(p2p->engine));
	host_check("absent", off, REVOKE_LEN, seed + 1);
	printf("# p2p-timing revoke_in_flight %llu\n",
	       (unsigned long long)(revoked - started));
	ASSERT_GT(IN_FLIGHT_MAX_US, revoked - started)
		TH_LOG("start and revoke took %llu us: the write may have landed first",
		       (unsigned long long)(revoked - started));

	vfio_pci_cmd_set(p2p->exporter, PCI_COMMAND_MEMORY);
	revoke_restore(p2p, base, seed, p2p->dmabuf);
}

/*
 * VFIO_DEVICE_RESET revokes the dma-bufs of the device for the time of the
 * reset. The mapping stays revoked afterwards, but the dma-buf itself is
 * usable again as soon as the ioctl returns.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, revoke_reset)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_RESET);
	const u8 seed = 0x50;

	if (!(p2p->exporter->info.flags & VFIO_DEVICE_FLAGS_RESET))
		SKIP(return, "%s has no reset method (no FLR, PM or bus reset)\n",
		     exporter_bdf);

	revoke_prepare(p2p, base, seed);
	ASSERT_EQ(0, ioctl(p2p->exporter->fd, VFIO_DEVICE_RESET, NULL));
	revoke_blocked_dma(p2p, base, seed);

	/* The dma-buf was revoked during the reset only. */
	ASSERT_EQ(0, __iommu_map_file(p2p->iommu, p2p->dmabuf, 0, SZ_4K, PROBE_IOVA));
	ASSERT_EQ(SZ_4K, iommu_unmap_range(p2p->iommu, PROBE_IOVA, SZ_4K));

	revoke_restore(p2p, base, seed, p2p->dmabuf);
}

/*
 * Closing the exporter's device fd revokes its dma-bufs for good, while the
 * engine stays open and attached to the IOAS and keeps issuing DMA. Opening
 * the device again does not bring the old dma-buf back: a new one has to be
 * exported and mapped.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, revoke_close_device)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_CLOSE);
	const u8 seed = 0x60;

	revoke_prepare(p2p, base, seed);
	vfio_pci_device_cleanup(p2p->exporter);
	p2p->exporter = NULL;

	revoke_blocked_dma(p2p, base, seed);
	ASSERT_MAP_REVOKED(p2p, p2p->dmabuf);

	open_exporter(_metadata, p2p);
	ASSERT_MAP_REVOKED(p2p, p2p->dmabuf);
	revoke_restore(p2p, base, seed, -1);
}

/*
 * VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE takes only a dma-buf of the device it
 * is issued on: the engine cannot revoke the exporter's dma-buf (ENODEV),
 * the exporter can, and the dma-buf then cannot be mapped again.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, revoke_other_device)
{
	struct p2p *p2p = &self->p2p;
	struct {
		struct vfio_device_feature hdr;
		struct vfio_device_feature_dma_buf_revoke revoke;
	} req = {
		.hdr.argsz = sizeof(req),
		.hdr.flags = VFIO_DEVICE_FEATURE_SET |
			     VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE,
	};

	map_bar(p2p);
	req.revoke.dmabuf_fd = p2p->dmabuf;
	ASSERT_EQ(-1, ioctl(p2p->engine->fd, VFIO_DEVICE_FEATURE, &req));
	ASSERT_EQ(ENODEV, errno);
	ASSERT_EQ(IOMMU_IOAS_MAP_STATE_MAPPED,
		  iommu_map_state(p2p->iommu, BAR_IOVA));

	ASSERT_EQ(0, ioctl(p2p->exporter->fd, VFIO_DEVICE_FEATURE, &req));
	ASSERT_EQ(IOMMU_IOAS_MAP_STATE_REVOKED,
		  iommu_map_state(p2p->iommu, BAR_IOVA));
	ASSERT_MAP_REVOKED(p2p, p2p->dmabuf);
	ASSERT_EQ(p2p->bar_size, iommu_unmap_range(p2p->iommu, BAR_IOVA,
						   p2p->bar_size));
}

struct unbind_args {
	const char *bdf;
	int ret;
	int err;
};

static void *unbind_thread(void *data)
{
	struct unbind_args *args = data;
	size_t len = strlen(args->bdf);
	int fd;

	fd = open("/sys/bus/pci/drivers/vfio-pci/unbind", O_WRONLY);
	if (fd < 0) {
		args->ret = -1;
		args->err = errno;
		return NULL;
	}
	/* Blocks until the device's last fd is closed. */
	args->ret = write(fd, args->bdf, len) == (ssize_t)len ? 0 : -1;
	args->err = errno;
	close(fd);
	return NULL;
}

/* Have vfio-pci signal an eventfd when it wants the device back. */
static int request_eventfd(struct vfio_pci_device *device)
{
	size_t argsz = sizeof(struct vfio_irq_set) + sizeof(int);
	struct vfio_irq_set *irq = calloc_assert(1, argsz);
	int fd = eventfd(0, EFD_CLOEXEC);

	VFIO_ASSERT_GE(fd, 0);
	irq->argsz = argsz;
	irq->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	irq->index = VFIO_PCI_REQ_IRQ_INDEX;
	irq->count = 1;
	memcpy(irq->data, &fd, sizeof(fd));
	ioctl_assert(device->fd, VFIO_DEVICE_SET_IRQS, irq);
	free(irq);
	return fd;
}

/*
 * Unbinding the exporter from vfio-pci: the unbind waits for the device to
 * be released and asks its user to do so. The test honours the request by
 * closing the device, which revokes the dma-buf. Binding the device to
 * vfio-pci again does not bring the old dma-buf back.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, revoke_unbind)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_UNBIND);
	struct unbind_args args = { .bdf = exporter_bdf };
	struct pollfd pfd = { .events = POLLIN };
	const u8 seed = 0x70;
	pthread_t thread;
	bool requested;
	u64 count;

	revoke_prepare(p2p, base, seed);
	pfd.fd = request_eventfd(p2p->exporter);
	ASSERT_EQ(0, pthread_create(&thread, NULL, unbind_thread, &args));

	/*
	 * Release the device even if the request does not come: the unbind
	 * thread cannot finish otherwise.
	 */
	requested = poll(&pfd, 1, 10000) == 1 &&
		    read(pfd.fd, &count, sizeof(count)) == sizeof(count);
	vfio_pci_device_cleanup(p2p->exporter);
	p2p->exporter = NULL;
	ASSERT_EQ(0, close(pfd.fd));
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_TRUE(requested) TH_LOG("vfio-pci did not signal the request eventfd");
	ASSERT_EQ(0, args.ret) TH_LOG("unbind failed: %s", strerror(args.err));
	ASSERT_FALSE(bound_to_vfio_pci(exporter_bdf));

	revoke_blocked_dma(p2p, base, seed);
	ASSERT_MAP_REVOKED(p2p, p2p->dmabuf);

	bind_vfio_pci(exporter_bdf);
	ASSERT_TRUE(bound_to_vfio_pci(exporter_bdf));
	open_exporter(_metadata, p2p);
	ASSERT_MAP_REVOKED(p2p, p2p->dmabuf);
	revoke_restore(p2p, base, seed, -1);
}

static void *map_race_thread(void *data)
{
	struct map_race *r = data;
	u64 unmapped;
	int ret;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		ret = __iommu_map_file(r->iommu, r->dmabuf, 0, SZ_4K, PROBE_IOVA);
		if (!ret)
			ret = __iommu_unmap_range(r->iommu, PROBE_IOVA, SZ_4K,
						  &unmapped);
		if (!ret)
			__atomic_add_fetch(&r->maps, 1, __ATOMIC_RELEASE);
		else if (ret == -ENODEV)
			__atomic_add_fetch(&r->revoked, 1, __ATOMIC_RELEASE);
		else if (!r->errors++)
			r->err = -ret;
	}
	return NULL;
}

/* Wait up to 10 s for *@counter to reach @n. */
static bool wait_count(unsigned long *counter, unsigned long n)
{
	int i;

	for (i = 0; i < 10000; i++) {
		if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) >= n)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * Unbind racing attach: a thread maps and unmaps the dma-buf in a loop
 * (each map attaches to the dma-buf) while the exporter's device is
 * closed, which revokes the dma-buf, unbound from vfio-pci, which frees
 * its P2P state, and bound again. Every map either works or fails with
 * ENODEV, and none works once the device was closed. Each wait is bounded
 * (10 s), and so is the whole case.
 */
TEST_F_TIMEOUT(vfio_pci_p2p_dmabuf_test, unbind_race, 90)
{
	struct p2p *p2p = &self->p2p;
	struct unbind_args args = { .bdf = exporter_bdf };
	struct pollfd pfd = { .events = POLLIN };
	struct map_race *race = &p2p->race;
	pthread_t unbinder;
	unsigned long maps;
	u64 count;

	map_bar(p2p);
	race->iommu = p2p->iommu;
	race->dmabuf = p2p->dmabuf;
	ASSERT_EQ(0, pthread_create(&p2p->mapper, NULL, map_race_thread, race));
	p2p->mapper_running = true;
	ASSERT_TRUE(wait_count(&race->maps, 20));

	pfd.fd = request_eventfd(p2p->exporter);
	ASSERT_EQ(0, pthread_create(&unbinder, NULL, unbind_thread, &args));
	if (poll(&pfd, 1, 10000) == 1)
		ASSERT_EQ(sizeof(count), read(pfd.fd, &count, sizeof(count)));
	vfio_pci_device_cleanup(p2p->exporter);
	p2p->exporter = NULL;
	ASSERT_EQ(0, close(pfd.fd));
	ASSERT_EQ(0, pthread_join(unbinder, NULL));
	ASSERT_EQ(0, args.ret) TH_LOG("unbind failed: %s", strerror(args.err));
	/*
	 * Maps go on against the revoked dma-buf, then across the bind: from
	 * here on (20 refusals after the revoke, so no map that started
	 * before it is still running), none may work.
	 */
	ASSERT_TRUE(wait_count(&race->revoked, 20));
	maps = __atomic_load_n(&race->maps, __ATOMIC_ACQUIRE);
	bind_vfio_pci(exporter_bdf);
	open_exporter(_metadata, p2p);
	count = __atomic_load_n(&race->revoked, __ATOMIC_ACQUIRE);
	ASSERT_TRUE(wait_count(&race->revoked, count + 20));

	stop_mapper(p2p);
	ASSERT_EQ(0, race->errors)
		TH_LOG("%lu maps failed, the first with %s", race->errors,
		       strerror(race->err));
	ASSERT_EQ(maps, race->maps)
		TH_LOG("%lu maps of the revoked dma-buf worked",
		       race->maps - maps);
	printf("# unbind_race: %lu maps, %lu refused as revoked\n", race->maps,
	       race->revoked);
	ASSERT_MAP_REVOKED(p2p, p2p->dmabuf);

	/* The device works again through a new dma-buf. */
	ASSERT_EQ(p2p->bar_size, iommu_unmap_range(p2p->iommu, BAR_IOVA, p2p->bar_size));
	map_bar(p2p);
	p2p_write(p2p, slot(SLOT_UNBIND_RACE), REVOKE_LEN, 0xa0);
}

/*
 * iommufd does not map a dma-buf again when the exporter stops revoking
 * it: after memory decode is back on, DMA still does not land until
 * userspace unmaps and maps.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, no_automatic_remap)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_NO_REMAP);
	const u8 seed = 0x80;

	revoke_prepare(p2p, base, seed);
	vfio_pci_cmd_clear(p2p->exporter, PCI_COMMAND_MEMORY);
	vfio_pci_cmd_set(p2p->exporter, PCI_COMMAND_MEMORY);
	revoke_blocked_dma(p2p, base, seed);
	revoke_restore(p2p, base, seed, p2p->dmabuf);
}

/*
 * Map a BAR mmap by address, as a VMM maps a BAR for its guest, with the
 * IOMMU interface of p2p->iommu (iommufd's own with IOMMU_IOAS_MAP_RESTORE,
 * which a VFIO container always implies): iommufd maps the dma-buf that
 * vfio-pci puts under the mmap, DMA lands through it, memory decode off
 * revokes it as it revokes a MAP_FILE of a dma-buf, and decode on and a
 * reset bring it back at the same IOVA with nothing from user space, as a
 * guest sizing a BAR or resetting its device needs; through iommufd,
 * IOMMU_IOAS_MAP_STATE says so as soon as the config write or the reset
 * returns. The mmap is of
 * the test's slot only, with its first page unmapped again, so that the
 * VMA starts a page into its dma-buf and the dma-buf a slot into the BAR:
 * every byte has to land where the offsets of both say.
 *
 * Closing the exporter, with the mapping left in place, is final: a DMA
 * after that is reported to the host as @after_close, "absent" through
 * iommufd, "present" with VFIO type1, which keeps the stale mapping.
 */
static void __map_va_flow(struct __test_metadata *_metadata, struct p2p *p2p,
			  u8 seed, const char *after_close)
{
	const u64 base = slot(SLOT_MAP_VA);
	const u64 blocked = base + 3 * SZ_4K;
	struct dma_region region = {
		.size = SLOT_SIZE - SZ_4K,
		.iova = BAR_IOVA + base + SZ_4K,
	};
	u8 *va;

	va = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		  p2p->exporter->fd,
		  p2p->exporter->bars[p2p->bar].info.offset + base);
	ASSERT_NE(MAP_FAILED, va);
	ASSERT_EQ(0, munmap(va, SZ_4K));
	region.vaddr = va + SZ_4K;

	/* IOVA BAR_IOVA + x is BAR offset x, as the helpers expect. */
	ASSERT_EQ(0, __iommu_map_restore(p2p->iommu, &region));
	p2p_write(p2p, base + SZ_4K, REVOKE_LEN, seed);
	p2p_read(p2p, base + 2 * SZ_4K + 0x80, REVOKE_LEN, seed + 3);
	bar_fill(p2p, blocked, REVOKE_LEN, ~seed);

	vfio_pci_cmd_clear(p2p->exporter, PCI_COMMAND_MEMORY);
	if (p2p->iommu->iommufd)
		ASSERT_EQ(IOMMU_IOAS_MAP_STATE_REVOKED,
			  iommu_map_state(p2p->iommu, region.iova));
	dma_to_bar(p2p, BAR_IOVA + blocked, blocked, REVOKE_LEN, seed + 1,
		   "absent");
	vfio_pci_cmd_set(p2p->exporter, PCI_COMMAND_MEMORY);
	/* The config write returns once the mapping is back */
	if (p2p->iommu->iommufd)
		ASSERT_EQ(IOMMU_IOAS_MAP_STATE_MAPPED,
			  iommu_map_state(p2p->iommu, region.iova));
	bar_check(p2p, blocked, REVOKE_LEN, ~seed, "blocked DMA");
	p2p_write(p2p, base + SLOT_SIZE - REVOKE_LEN, REVOKE_LEN, seed + 2);

	/* A reset revokes the dma-buf for its duration only. */
	if (p2p->exporter->info.flags & VFIO_DEVICE_FLAGS_RESET) {
		ASSERT_EQ(0, ioctl(p2p->exporter->fd, VFIO_DEVICE_RESET, NULL));
		if (p2p->iommu->iommufd)
			ASSERT_EQ(IOMMU_IOAS_MAP_STATE_MAPPED,
				  iommu_map_state(p2p->iommu, region.iova));
		p2p_write(p2p, base + SLOT_SIZE - 2 * REVOKE_LEN, REVOKE_LEN,
			  seed + 4);
	}

	ASSERT_EQ(0, munmap(va + SZ_4K, SLOT_SIZE - SZ_4K));
	vfio_pci_device_cleanup(p2p->exporter);
	p2p->exporter = NULL;
	dma_to_bar(p2p, BAR_IOVA + blocked, blocked, REVOKE_LEN, seed + 5,
		   after_close);
	iommu_unmap(p2p->iommu, &region);
}

#define map_va_flow(_p2p, _seed, _after_close) \
	__map_va_flow(_metadata, _p2p, _seed, _after_close)

TEST_F(vfio_pci_p2p_dmabuf_test, map_va)
{
	map_va_flow(&self->p2p, 0xb0, "absent");
}

static bool one_group(void)
{
	return sysfs_iommu_group_get(exporter_bdf) ==
	       sysfs_iommu_group_get(engine_bdf);
}

/*
 * Without IOMMU_IOAS_MAP_RESTORE a BAR mapped by address through iommufd's
 * own interface stays unmapped after decode off and on, as a MAP_FILE of a
 * dma-buf does, until user space maps it again: the DMA after decode on
 * does not land, the one after the new map does.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, map_va_no_restore)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_MAP_VA_NO_RESTORE);
	const u8 seed = 0xb8;
	struct dma_region region = {
		.vaddr = bar_vaddr(p2p) + base,
		.size = SLOT_SIZE,
		.iova = BAR_IOVA + base,
	};

	if (!p2p->iommu->iommufd)
		SKIP(return, "a VFIO container always restores\n");
	ASSERT_EQ(0, __iommu_map(p2p->iommu, &region));
	p2p_write(p2p, base + BEFORE_OFF, REVOKE_LEN, seed);
	bar_fill(p2p, base + BLOCKED_OFF, REVOKE_LEN, ~seed);

	vfio_pci_cmd_clear(p2p->exporter, PCI_COMMAND_MEMORY);
	vfio_pci_cmd_set(p2p->exporter, PCI_COMMAND_MEMORY);
	ASSERT_EQ(IOMMU_IOAS_MAP_STATE_REVOKED,
		  iommu_map_state(p2p->iommu, region.iova));
	revoke_blocked_dma(p2p, base, seed);
	bar_check(p2p, base + BLOCKED_OFF, REVOKE_LEN, ~seed,
		  "DMA after decode on, without the restore");

	iommu_unmap(p2p->iommu, &region);
	ASSERT_EQ(0, __iommu_map(p2p->iommu, &region));
	p2p_write(p2p, base + AFTER_OFF, REVOKE_LEN, seed + 2);
	iommu_unmap(p2p->iommu, &region);
}

static sigjmp_buf fault_jmp;
/* Static: a siglongjmp() back into the loop keeps their values */
static unsigned long reset_reads, reset_sigbus, reset_next;

static void fault_sigbus(int sig)
{
	siglongjmp(fault_jmp, 1);
}

struct resetter {
	int fd;
	unsigned int resets;
	int err;
	bool done;
};

static void *reset_loop(void *arg)
{
	struct resetter *r = arg;
	unsigned int i;

	for (i = 0; i < r->resets && !r->err; i++)
		if (ioctl(r->fd, VFIO_DEVICE_RESET, NULL))
			r->err = errno;
	__atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A fault of a BAR mmap during a reset waits for the reset and then maps
 * the page, as when faults took memory_lock, instead of raising SIGBUS: a
 * vCPU of a VMM that touches the BAR while another thread resets the
 * device must not die. One thread resets the exporter a few times; this
 * one reads the BAR meanwhile, page after page, so that the reads after
 * each reset's zap fault.
 */
TEST_F_TIMEOUT(vfio_pci_p2p_dmabuf_test, fault_during_reset, 90)
{
	struct p2p *p2p = &self->p2p;
	struct resetter r = { .fd = p2p->exporter->fd, .resets = 5 };
	struct sigaction sa = { .sa_handler = fault_sigbus }, old;
	const u8 *bar = bar_vaddr(p2p);
	pthread_t thread;
	const u32 *word;

	if (!(p2p->exporter->info.flags & VFIO_DEVICE_FLAGS_RESET))
		SKIP(return, "%s has no reset method\n", exporter_bdf);
	reset_reads = 0;
	reset_sigbus = 0;
	reset_next = 0;
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, &old));
	ASSERT_EQ(0, pthread_create(&thread, NULL, reset_loop, &r));
	while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE)) {
		if (sigsetjmp(fault_jmp, 1)) {
			reset_sigbus++;
			continue;
		}
		word = (const u32 *)(bar + (reset_next++ * SZ_4K) %
					   p2p->bar_size);
		/* One read of the BAR, which the compiler keeps */
		(void)__atomic_load_n(word, __ATOMIC_RELAXED);
		reset_reads++;
	}
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_EQ(0, sigaction(SIGBUS, &old, NULL));
	ASSERT_EQ(0, r.err);
	ASSERT_EQ(0, reset_sigbus)
		TH_LOG("%lu of %lu reads of the BAR raised SIGBUS during resets",
		       reset_sigbus, reset_sigbus + reset_reads);
	ASSERT_LT(0, reset_reads);
}

/*
 * Close the devices and the IOMMU of the fixture and open them again
 * through a VFIO container of @mode, as QEMU's container backend does.
 */
static void reopen_container(struct p2p *p2p, const char *mode)
{
	struct vfio_pci_driver *driver;
	void *old_region = p2p->engine->driver.region.vaddr;

	vfio_pci_device_cleanup(p2p->engine);
	vfio_pci_device_cleanup(p2p->exporter);
	iommu_cleanup(p2p->iommu);
	VFIO_ASSERT_EQ(munmap(old_region, DRIVER_SIZE), 0);

	p2p->iommu = iommu_init(mode);
	p2p->exporter = vfio_pci_device_init(exporter_bdf, p2p->iommu);
	p2p->engine = vfio_pci_device_init(engine_bdf, p2p->iommu);
	driver = &p2p->engine->driver;
	iommu_map(p2p->iommu, &p2p->ram);
	region_setup(p2p->iommu, &driver->region, DRIVER_IOVA, DRIVER_SIZE);
	vfio_pci_driver_init(p2p->engine);
}

/*
 * The same through iommufd's VFIO container, VFIO_IOMMU_MAP_DMA of the BAR
 * mmap: what a VMM built for VFIO type1 does, and gets from iommufd when
 * the kernel has no type1 (IOMMUFD_VFIO_CONTAINER).
 */
TEST_F(vfio_pci_p2p_dmabuf_test, map_va_compat)
{
	/* libvfio opens a group per device: not two devices of one group. */
	if (one_group())
		SKIP(return, "both devices are in one IOMMU group\n");
	reopen_container(&self->p2p, MODE_IOMMUFD_COMPAT_TYPE1V2);
	map_va_flow(&self->p2p, 0xc0, "absent");
}

/*
 * The same with VFIO type1 where the kernel has it (VFIO_CONTAINER): it
 * maps the BAR's PFNs and keeps them after the exporter was closed, so the
 * last DMA lands in the BAR of a device that is no longer open. Shown for
 * comparison; iommufd's own container answers no to VFIO_UPDATE_VADDR,
 * and without type1 the test is skipped.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, map_va_type1)
{
	struct p2p *p2p = &self->p2p;

	if (one_group())
		SKIP(return, "both devices are in one IOMMU group\n");
	reopen_container(p2p, MODE_VFIO_TYPE1V2_IOMMU);
	if (ioctl(p2p->iommu->container_fd, VFIO_CHECK_EXTENSION,
		  VFIO_UPDATE_VADDR) != 1)
		SKIP(return, "/dev/vfio/vfio is iommufd's, not VFIO type1\n");
	map_va_flow(p2p, 0xd0, "present");
}

/*
 * Map the whole BAR, time the map and unmap, and DMA into its last page.
 * The figures are printed as "# p2p-timing map_file|unmap BYTES USEC".
 */
TEST_F(vfio_pci_p2p_dmabuf_test, whole_bar)
{
	struct p2p *p2p = &self->p2p;
	struct vfio_region_dma_range r = { .offset = 0, .length = p2p->bar_size };
	u64 t0, t1;

	p2p->dmabuf = dmabuf_get(p2p->exporter->fd, p2p->bar, &r, 1);
	ASSERT_LE(0, p2p->dmabuf);

	t0 = now_us();
	ASSERT_EQ(0, __iommu_map_file(p2p->iommu, p2p->dmabuf, 0, p2p->bar_size,
				      BAR_IOVA));
	t1 = now_us();
	printf("# p2p-timing map_file %llu %llu\n",
	       (unsigned long long)p2p->bar_size, (unsigned long long)(t1 - t0));

	p2p_write(p2p, p2p->bar_size - SZ_4K + LAST_PAGE_WHOLE, 0x400, 0x90);

	t0 = now_us();
	ASSERT_EQ(p2p->bar_size, iommu_unmap_range(p2p->iommu, BAR_IOVA, p2p->bar_size));
	t1 = now_us();
	printf("# p2p-timing unmap %llu %llu\n",
	       (unsigned long long)p2p->bar_size, (unsigned long long)(t1 - t0));
	fflush(stdout);
}

/*
 * Whether a hot reset through @device_fd resets the exporter too, with
 * every device it resets in the caller's hands: the exporter's address is
 * among the devices VFIO_DEVICE_GET_PCI_HOT_RESET_INFO lists and, for a
 * device bound to iommufd (@cdev), the kernel reports them all owned by
 * its iommufd context. False where there is no bus or slot reset (the
 * root bus: ENODEV).
 */
static bool hot_reset_takes_exporter(int device_fd, bool cdev)
{
	struct vfio_pci_hot_reset_info head = { .argsz = sizeof(head) };
	struct vfio_pci_hot_reset_info *info;
	unsigned int seg, bus, dev, fn;
	bool found = false;
	size_t size;
	u32 i;
	int n;

	n = sscanf(exporter_bdf, "%x:%x:%x.%x", &seg, &bus, &dev, &fn);
	VFIO_ASSERT_EQ(n, 4, "not a PCI address: %s\n", exporter_bdf);
	/* Too small for any device: the kernel says how many there are. */
	if (!ioctl(device_fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &head) ||
	    errno != ENOSPC)
		return false;
	size = sizeof(*info) + head.count * sizeof(info->devices[0]);
	info = calloc(1, size);
	VFIO_ASSERT_NOT_NULL(info);
	info->argsz = size;
	VFIO_ASSERT_EQ(ioctl(device_fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info), 0);
	for (i = 0; i < info->count; i++) {
		struct vfio_pci_dependent_device *d = &info->devices[i];

		if (d->segment == seg && d->bus == bus &&
		    d->devfn == ((dev << 3) | fn))
			found = true;
	}
	if (cdev && !(info->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED))
		found = false;
	free(info);
	return found;
}

/*
 * VFIO_DEVICE_PCI_HOT_RESET through @device_fd, with @group_fd as the proof
 * of ownership, or none (-1) for a device bound to iommufd: its iommufd
 * context is the proof.
 */
static int hot_reset(int device_fd, int group_fd)
{
	struct {
		struct vfio_pci_hot_reset reset;
		__s32 group_fds[1];
	} req = {
		.reset.argsz = sizeof(req),
		.reset.count = group_fd >= 0,
		.group_fds = { group_fd },
	};

	return ioctl(device_fd, VFIO_DEVICE_PCI_HOT_RESET, &req) ? -errno : 0;
}

/*
 * A hot reset through the engine resets the exporter's function too. It
 * revokes the dma-bufs of both devices for the time of the reset, as
 * VFIO_DEVICE_RESET does for one: afterwards a MAP_FILE of the exporter's
 * dma-buf stays revoked until it is mapped again, while its BAR mmap and
 * the IOMMU mapping of that mmap by address (with IOMMU_IOAS_MAP_RESTORE)
 * work again with nothing from user space. Of the revokes, only the one of the exporter's MAP_FILE
 * mapping shows (its DMA does not land); the rest shows that both devices
 * are usable after the reset: the engine's BAR mmap (the engine is
 * programmed through it), and a dma-buf of its BAR, mapped with MAP_FILE
 * before the reset, maps again after it.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, hot_reset_open)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_HOT_RESET);
	const u8 seed = 0xa0;
	struct vfio_region_info *info = &p2p->engine->bars[0].info;
	struct vfio_region_dma_range r = { .offset = 0, .length = info->size };
	struct dma_region va = {
		.vaddr = bar_vaddr(p2p) + base,
		.size = SLOT_SIZE,
		.iova = VA_IOVA,
	};
	int engine_buf;

	if (!hot_reset_takes_exporter(p2p->engine->fd, true))
		SKIP(return, "a hot reset through %s does not reset %s\n",
		     engine_bdf, exporter_bdf);
	/* Between ENGINE_IOVA and BAR_IOVA */
	if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP) || info->size > SZ_32M)
		SKIP(return, "%s's BAR 0 is not a BAR of 32 MiB or less to export\n",
		     engine_bdf);

	revoke_prepare(p2p, base, seed);
	ASSERT_EQ(0, __iommu_map_restore(p2p->iommu, &va));
	engine_buf = dmabuf_get(p2p->engine->fd, 0, &r, 1);
	ASSERT_LE(0, engine_buf);
	ASSERT_EQ(0, __iommu_map_file(p2p->iommu, engine_buf, 0, info->size,
				      ENGINE_IOVA));
	bar_fill(p2p, base + VA_OFF, REVOKE_LEN, ~(seed + 3));

	ASSERT_EQ(0, hot_reset(p2p->engine->fd, -1));

	revoke_blocked_dma(p2p, base, seed);
	dma_to_bar(p2p, VA_IOVA + VA_OFF, base + VA_OFF, REVOKE_LEN, seed + 3,
		   "present");
	bar_check(p2p, base + VA_OFF, REVOKE_LEN, seed + 3,
		  "DMA through the mapping by address");
	ASSERT_EQ(0, __iommu_map_file(p2p->iommu, engine_buf, 0, SZ_4K,
				      PROBE_IOVA));
	ASSERT_EQ(SZ_4K, iommu_unmap_range(p2p->iommu, PROBE_IOVA, SZ_4K));
	ASSERT_EQ(info->size, iommu_unmap_range(p2p->iommu, ENGINE_IOVA,
						info->size));
	ASSERT_EQ(0, close(engine_buf));
	iommu_unmap(p2p->iommu, &va);

	revoke_restore(p2p, base, seed, p2p->dmabuf);
}

/*
 * A hot reset while the exporter is closed leaves nothing revoked for its
 * next user: opened again, its BAR mmap reads and writes, and a new
 * dma-buf maps and takes DMA.
 */
TEST_F(vfio_pci_p2p_dmabuf_test, hot_reset_closed)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_HOT_RESET_CLOSED);
	const u8 seed = 0xb0;

	vfio_pci_device_cleanup(p2p->exporter);
	p2p->exporter = NULL;
	/* A closed device is owned through its group: one group for both. */
	if (!hot_reset_takes_exporter(p2p->engine->fd, true))
		SKIP(return, "a hot reset through %s cannot reset the closed %s\n",
		     engine_bdf, exporter_bdf);
	ASSERT_EQ(0, hot_reset(p2p->engine->fd, -1));

	open_exporter(_metadata, p2p);
	ASSERT_FALSE(read_sigbus(bar_vaddr(p2p) + base))
		TH_LOG("the BAR mmap of a device opened after a hot reset faults");
	bar_fill(p2p, base + BEFORE_OFF, REVOKE_LEN, seed);
	bar_check(p2p, base + BEFORE_OFF, REVOKE_LEN, seed, "CPU write");
	map_bar(p2p);
	p2p_write(p2p, base + AFTER_OFF, REVOKE_LEN, seed + 1);
	ASSERT_EQ(p2p->bar_size, iommu_unmap_range(p2p->iommu, BAR_IOVA, p2p->bar_size));
}

/* The largest BAR of @device_fd that can be mmapped (the fixture's pick). */
static int largest_mmap_bar(int device_fd, struct vfio_region_info *info)
{
	struct vfio_region_info r;
	int i, bar = -1;

	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		r = (struct vfio_region_info) { .argsz = sizeof(r), .index = i };
		if (ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, &r) ||
		    !(r.flags & VFIO_REGION_INFO_FLAG_MMAP))
			continue;
		if (bar < 0 || r.size > info->size) {
			*info = r;
			bar = i;
		}
	}
	return bar;
}

/*
 * The same through the group interface: both devices in one group behind
 * /dev/vfio/vfio (iommufd's VFIO container, or VFIO's own where the
 * kernel has it), the group fd as the proof of ownership. libvfio opens
 * one group per device, so this opens the group itself. After the reset
 * the exporter's BAR mmap, and a mmap of a new dma-buf of it, read what
 * was written.
 */
TEST(hot_reset_closed_group)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_region_dma_range r = { .offset = 0, .length = SZ_4K };
	struct vfio_region_info info = {};
	int group, container, engine, exporter, buf, bar;
	const u8 seed = 0xc0;
	char path[32];
	u8 *va, *map;
	u8 word[4];
	u32 val;

	group = sysfs_iommu_group_get(engine_bdf);
	if (group != sysfs_iommu_group_get(exporter_bdf))
		SKIP(return, "the devices are in different IOMMU groups\n");
	snprintf_assert(path, sizeof(path), "/dev/vfio/%d", group);
	group = open(path, O_RDWR);
	container = open("/dev/vfio/vfio", O_RDWR);
	if (group < 0 || container < 0)
		SKIP(return, "no VFIO group interface (%s, /dev/vfio/vfio)\n", path);
	ASSERT_EQ(0, ioctl(group, VFIO_GROUP_GET_STATUS, &status));
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		SKIP(return, "%s is not viable\n", path);
	ASSERT_EQ(0, ioctl(group, VFIO_GROUP_SET_CONTAINER, &container));
	ASSERT_EQ(0, ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	engine = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, engine_bdf);
	ASSERT_LE(0, engine);
	if (!hot_reset_takes_exporter(engine, false))
		SKIP(return, "a hot reset through %s does not reset %s\n",
		     engine_bdf, exporter_bdf);

	ASSERT_EQ(0, hot_reset(engine, group));

	exporter = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, exporter_bdf);
	ASSERT_LE(0, exporter);
	bar = largest_mmap_bar(exporter, &info);
	ASSERT_LE(0, bar);
	va = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED, exporter,
		  info.offset);
	ASSERT_NE(MAP_FAILED, va);
	ASSERT_FALSE(read_sigbus(va))
		TH_LOG("the BAR mmap of a device opened after a hot reset faults");
	/* At offset 0: the BAR's first slot is no other test's. */
	fill_pattern(word, 0, sizeof(word), seed);
	memcpy(&val, word, sizeof(val));
	writel(val, va);
	host_check("fill", 0, sizeof(word), seed);
	ASSERT_EQ(val, readl(va));

	buf = dmabuf_get(exporter, bar, &r, 1);
	ASSERT_LE(0, buf);
	map = mmap(NULL, SZ_4K, PROT_READ, MAP_SHARED, buf, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_FALSE(read_sigbus(map))
		TH_LOG("a dma-buf made after a hot reset is revoked");
	ASSERT_EQ(val, readl(map));

	ASSERT_EQ(0, munmap(map, SZ_4K));
	ASSERT_EQ(0, munmap(va, SZ_4K));
	ASSERT_EQ(0, close(buf));
	ASSERT_EQ(0, close(exporter));
	ASSERT_EQ(0, close(engine));
	ASSERT_EQ(0, close(group));
	ASSERT_EQ(0, close(container));
}

/*
 * storm: the exporter's BAR mapped and unmapped as fast as it goes, with
 * IOMMU_IOAS_MAP_FILE of a dma-buf in one thread and with IOMMU_IOAS_MAP
 * of a BAR mmap by address in another (every other time with
 * IOMMU_IOAS_MAP_RESTORE, so that restores race too), while a third
 * toggles memory
 * decode and a fourth resets the device (VFIO_DEVICE_RESET where it has
 * a reset method, and VFIO_DEVICE_PCI_HOT_RESET where a hot reset takes
 * it, in turn). Each map works or finds the BAR revoked (ENODEV), each
 * reset works or finds the device busy (EAGAIN, EBUSY).
 *
 * The main thread watches: when a thread's count has not moved for
 * STORM_STALL_S seconds, it prints the kernel stack of each thread of the
 * test and its state (/proc/self/task), asks the kernel to log its blocked
 * tasks (SysRq w), and fails the case, so that a hang is reported with
 * where it is rather than by the harness's timeout.
 */
#define STORM_STALL_S	15
#define STORM_FILE_IOVA	PROBE_IOVA
#define STORM_VA_IOVA	VA_IOVA

enum { STORM_MAP_FILE, STORM_MAP_VA, STORM_DECODE, STORM_RESET, STORM_THREADS };

static const char * const storm_names[STORM_THREADS] = {
	"maps by file", "maps by address", "decode toggles", "resets",
};

struct storm {
	struct p2p *p2p;
	int dmabuf;
	u8 *va;
	bool reset;
	bool hot_reset;
	bool stop;
	/* Per thread: rounds, rounds refused (revoked, busy), other errors */
	unsigned long ops[STORM_THREADS];
	unsigned long refused[STORM_THREADS];
	unsigned long hot_resets;
	unsigned long errors[STORM_THREADS];
	int err[STORM_THREADS];
};

struct storm_thread {
	struct storm *storm;
	int n;
};

static bool storm_stopped(struct storm *st)
{
	return __atomic_load_n(&st->stop, __ATOMIC_ACQUIRE);
}

/*
 * One round of thread @n: 0 done, 1 refused (a map of the revoked BAR,
 * a reset of a busy device), -errno failed.
 */
static int storm_round(struct storm *st, int n, unsigned long round)
{
	struct iommu *iommu = st->p2p->iommu;
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = iommu->ioas_id,
		.user_va = (uintptr_t)st->va,
		.length = 2 * SZ_4K,
		.iova = STORM_VA_IOVA,
	};
	int fd = st->p2p->exporter->fd;
	u64 unmapped;
	int ret;

	switch (n) {
	case STORM_MAP_FILE:
		ret = __iommu_map_file(iommu, st->dmabuf, 0, 2 * SZ_4K,
				       STORM_FILE_IOVA);
		if (ret)
			return ret == -ENODEV ? 1 : ret;
		break;
	case STORM_MAP_VA:
		/* Every other map restores: restores race the revokes too */
		if (round & 1)
			map.flags |= IOMMU_IOAS_MAP_RESTORE;
		if (ioctl(iommu->iommufd, IOMMU_IOAS_MAP, &map))
			return errno == ENODEV ? 1 : -errno;
		break;
	case STORM_DECODE:
		vfio_pci_cmd_clear(st->p2p->exporter, PCI_COMMAND_MEMORY);
		vfio_pci_cmd_set(st->p2p->exporter, PCI_COMMAND_MEMORY);
		return 0;
	default:
		/* A hot reset every fourth round where there is one. */
		if (st->hot_reset && (round % 4 == 3 || !st->reset)) {
			ret = hot_reset(fd, -1);
			if (!ret)
				__atomic_add_fetch(&st->hot_resets, 1, __ATOMIC_RELAXED);
		} else {
			ret = ioctl(fd, VFIO_DEVICE_RESET, NULL) ? -errno : 0;
		}
		return ret == -EAGAIN || ret == -EBUSY ? 1 : ret;
	}

	/* What was mapped unmaps, whole, revoked or not. */
	ret = __iommu_unmap_range(iommu, n == STORM_MAP_FILE ? STORM_FILE_IOVA :
				  STORM_VA_IOVA, 2 * SZ_4K, &unmapped);
	if (ret)
		return ret;
	return unmapped == 2 * SZ_4K ? 0 : -ERANGE;
}

static void *storm_thread(void *data)
{
	struct storm_thread *t = data;
	struct storm *st = t->storm;
	unsigned long round;
	int n = t->n, ret;

	for (round = 0; !storm_stopped(st); round++) {
		ret = storm_round(st, n, round);
		if (ret > 0)
			st->refused[n]++;
		else if (ret && !st->errors[n]++)
			st->err[n] = -ret;
		__atomic_add_fetch(&st->ops[n], 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Print the file @path line by line, after @prefix. */
static void storm_print_file(const char *prefix, const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	if (!f) {
		printf("# storm: %s%s: %s\n", prefix, path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f))
		printf("# storm: %s%s", prefix, line);
	fclose(f);
}

/* Where each thread of the test is in the kernel, and the blocked tasks. */
static void storm_dump(void)
{
	char path[64], prefix[32];
	struct dirent *d;
	DIR *dir;
	int fd;

	dir = opendir("/proc/self/task");
	if (!dir) {
		printf("# storm: /proc/self/task: %s\n", strerror(errno));
		return;
	}
	while ((d = readdir(dir))) {
		int tid = atoi(d->d_name);

		if (tid <= 0)
			continue;
		snprintf(prefix, sizeof(prefix), "thread %d: ", tid);
		snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
		storm_print_file(prefix, path);
		snprintf(path, sizeof(path), "/proc/self/task/%d/stack", tid);
		storm_print_file(prefix, path);
	}
	closedir(dir);
	fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!write(fd, "w", 1);
		close(fd);
	}
	fflush(stdout);
}

/* DMABUF_STORM_S, 1 to 60 (the case's timeout is 120 s), or 20. */
static unsigned int storm_seconds(void)
{
	const char *s = getenv("DMABUF_STORM_S");
	unsigned long secs = s ? strtoul(s, NULL, 0) : 20;

	return secs >= 1 && secs <= 60 ? secs : 20;
}

TEST_F_TIMEOUT(vfio_pci_p2p_dmabuf_test, storm, 120)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_STORM);
	struct vfio_region_dma_range r[] = {
		{ .offset = base + SZ_4K, .length = SZ_4K },
		{ .offset = base, .length = SZ_4K },
	};
	struct storm_thread t[STORM_THREADS];
	u64 last[STORM_THREADS], moved[STORM_THREADS];
	pthread_t threads[STORM_THREADS];
	unsigned int secs = storm_seconds();
	struct storm st = { .p2p = p2p };
	bool stalled = false;
	u64 start, now;
	int n, i;

	st.reset = p2p->exporter->info.flags & VFIO_DEVICE_FLAGS_RESET;
	st.hot_reset = hot_reset_takes_exporter(p2p->exporter->fd, true);
	st.dmabuf = dmabuf_get(p2p->exporter->fd, p2p->bar, r, ARRAY_SIZE(r));
	ASSERT_LE(0, st.dmabuf);
	st.va = mmap(NULL, 2 * SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED,
		     p2p->exporter->fd,
		     p2p->exporter->bars[p2p->bar].info.offset + base);
	ASSERT_NE(MAP_FAILED, st.va);

	start = now_us();
	for (n = 0; n < STORM_THREADS; n++) {
		if (n == STORM_RESET && !st.reset && !st.hot_reset)
			break;
		t[n] = (struct storm_thread) { .storm = &st, .n = n };
		ASSERT_EQ(0, pthread_create(&threads[n], NULL, storm_thread, &t[n]));
		last[n] = 0;
		moved[n] = start;
	}
	for (now = start; now - start < secs * 1000000ull; now = now_us()) {
		usleep(100000);
		for (i = 0; i < n; i++) {
			u64 ops = __atomic_load_n(&st.ops[i], __ATOMIC_ACQUIRE);

			if (ops != last[i]) {
				last[i] = ops;
				moved[i] = now;
			} else if (now - moved[i] > STORM_STALL_S * 1000000ull) {
				stalled = true;
			}
		}
		if (stalled)
			break;
	}
	if (stalled) {
		__atomic_store_n(&st.stop, true, __ATOMIC_RELEASE);
		for (i = 0; i < n; i++)
			printf("# storm: %s: %lu, the last %llu ms ago\n", storm_names[i],
			       st.ops[i], (unsigned long long)(now - moved[i]) / 1000);
		storm_dump();
		/*
		 * A thread stuck in the kernel cannot be joined, and the
		 * teardown would free what the others still use: end the
		 * case here, failed, without it.
		 */
		printf("# storm: the storm stopped making progress\n");
		fflush(stdout);
		_exit(KSFT_FAIL);
	}
	__atomic_store_n(&st.stop, true, __ATOMIC_RELEASE);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, pthread_join(threads[i], NULL));

	printf("# storm: %u s: %lu maps by file (%lu revoked), ", secs,
	       st.ops[STORM_MAP_FILE], st.refused[STORM_MAP_FILE]);
	printf("%lu maps by address (%lu revoked), %lu decode toggles, ",
	       st.ops[STORM_MAP_VA], st.refused[STORM_MAP_VA],
	       st.ops[STORM_DECODE]);
	if (n > STORM_RESET)
		printf("%lu resets (%lu hot, %lu busy)\n", st.ops[STORM_RESET],
		       st.hot_resets, st.refused[STORM_RESET]);
	else
		printf("no reset (the device has none)\n");
	for (i = 0; i < n; i++) {
		EXPECT_LT(0, st.ops[i]) TH_LOG("no %s", storm_names[i]);
		EXPECT_EQ(0, st.errors[i])
			TH_LOG("%lu of the %s failed, the first with %s",
			       st.errors[i], storm_names[i], strerror(st.err[i]));
	}

	/* After the storm: both ways of mapping work, and DMA lands. */
	vfio_pci_cmd_set(p2p->exporter, PCI_COMMAND_MEMORY);
	ASSERT_EQ(0, __iommu_map_file(p2p->iommu, st.dmabuf, 0, 2 * SZ_4K,
				      STORM_FILE_IOVA));
	ASSERT_EQ(2 * SZ_4K, iommu_unmap_range(p2p->iommu, STORM_FILE_IOVA, 2 * SZ_4K));
	ASSERT_EQ(0, munmap(st.va, 2 * SZ_4K));
	ASSERT_EQ(0, close(st.dmabuf));
	map_bar(p2p);
	p2p_write(p2p, base + 2 * SZ_4K, REVOKE_LEN, 0xd0);
}

/*
 * The scatterlist importer: the engine, an edu, bound to the kernel's test
 * importer (CONFIG_DMABUF_SGT_TEST) instead of vfio-pci, imports the
 * exporter's dma-buf with dma_buf_dynamic_attach() and
 * dma_buf_map_attachment(), as the driver of a DMA engine does, and DMAs
 * through the addresses it got. Whether the engine can reach the BAR is
 * for pci_p2pdma_map_type() to say, from the topology and the machine:
 * DMABUF_SGT_REACH=yes or no in the environment says which the test
 * machine must give, and the cases of the other answer are skipped (all
 * of them without the variable).
 */
#define SGT_DEBUGFS	"/sys/kernel/debug/dma_buf_sgt_test"
#define SGT_LEN		0x200

FIXTURE(vfio_pci_sgt_dmabuf_test) {
	struct p2p p2p;
	bool reach;
	/* The engine was taken from vfio-pci. */
	bool moved;
	int ctl;
	int buf;
};

/*
 * Write @val to the sysfs file @path; say so and return false when that
 * fails. For the moves of the engine between drivers, which must not end
 * the process half way (the parent's teardown is one of them).
 */
static bool try_write_sysfs(const char *path, const char *val)
{
	ssize_t len = strlen(val);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0) {
		ksft_print_msg("open(%s): %s\n", path, strerror(errno));
		return false;
	}
	ok = write(fd, val, len) == len;
	if (!ok)
		ksft_print_msg("writing \"%s\" to %s: %s\n", val, path,
			       strerror(errno));
	close(fd);
	return ok;
}

/* Unbind @bdf from its driver, if it has one. */
static bool unbind_driver(const char *bdf)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
	return access(path, W_OK) || try_write_sysfs(path, bdf);
}

/* Whether @bdf is bound to the driver called @driver (no assertion). */
static bool bound_to(const char *bdf, const char *driver)
{
	char path[128], link[256];
	const char *name;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = 0;
	name = strrchr(link, '/');
	return name && !strcmp(name + 1, driver);
}

/* Give @bdf to the driver called @driver; false if it did not take it. */
static bool move_to_driver(const char *bdf, const char *driver)
{
	char path[128];

	if (!unbind_driver(bdf))
		return false;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	if (!try_write_sysfs(path, driver))
		return false;
	/* A probe that takes nothing is no error of drivers_probe's. */
	(void)try_write_sysfs("/sys/bus/pci/drivers_probe", bdf);
	return bound_to(bdf, driver);
}

/* Give the engine back to vfio-pci. */
static void sgt_restore_engine(void)
{
	if (!move_to_driver(engine_bdf, "vfio-pci"))
		ksft_print_msg("%s could not be given back to vfio-pci\n", engine_bdf);
}

FIXTURE_SETUP(vfio_pci_sgt_dmabuf_test)
{
	const char *reach = getenv("DMABUF_SGT_REACH");
	struct p2p *p2p = &self->p2p;
	struct vfio_region_info info;
	char ctl[128], buf[128];
	int bar;

	self->ctl = -1;
	self->buf = -1;
	p2p->dmabuf = -1;
	if (!reach)
		SKIP(return, "DMABUF_SGT_REACH (yes or no) is not set\n");
	self->reach = !strcmp(reach, "yes");
	/* The engine cannot have a kernel driver while VFIO has its group. */
	if (one_group())
		SKIP(return, "%s and %s are in one IOMMU group\n", exporter_bdf,
		     engine_bdf);

	p2p->iommu = iommu_init(MODE_IOMMUFD);
	p2p->exporter = vfio_pci_device_init(exporter_bdf, p2p->iommu);
	bar = largest_mmap_bar(p2p->exporter->fd, &info);
	if (bar < 0 || info.size < MIN_BAR_SIZE)
		SKIP(return, "%s has no mmap-able BAR of %d bytes or more\n",
		     exporter_bdf, MIN_BAR_SIZE);
	p2p->bar = bar;
	p2p->bar_size = info.size;
	snprintf_assert(ctl, sizeof(ctl), "%s/%s/ctl", SGT_DEBUGFS, engine_bdf);
	snprintf_assert(buf, sizeof(buf), "%s/%s/buf", SGT_DEBUGFS, engine_bdf);

	/*
	 * The engine moves from vfio-pci to the test importer, last and
	 * without an assertion: the harness runs no teardown after a setup
	 * that skips or fails, so each way out of here from now on puts
	 * the engine back first.
	 */
	self->moved = true;
	if (move_to_driver(engine_bdf, "dmabuf_sgt_test")) {
		self->ctl = open(ctl, O_RDWR | O_CLOEXEC);
		self->buf = open(buf, O_RDWR | O_CLOEXEC);
	}
	if (self->ctl < 0 || self->buf < 0) {
		sgt_restore_engine();
		SKIP(return, "%s: no dma_buf_sgt_test (CONFIG_DMABUF_SGT_TEST, an edu)\n",
		     engine_bdf);
	}
}

/*
 * In the parent, also after the test died on an assertion (VFIO_ASSERT
 * exits): the test's process is gone, and with it its file descriptors,
 * so only the engine's driver is left to put back. Unbinding the
 * importer detaches it from the dma-buf. Nothing here asserts: the
 * engine must go back even when a step fails. A test killed on its
 * timeout gets no teardown at all (the harness kills its process
 * group): main() puts the engine back before the next run.
 */
FIXTURE_TEARDOWN_PARENT(vfio_pci_sgt_dmabuf_test)
{
	if (self->moved)
		sgt_restore_engine();
}

/*
 * Give the importer a command and return what it answers: "ok",
 * "mapped N" and the segments, or "error E", after "invalidated N" when
 * the exporter invalidated the mapping since the last command.
 */
static const char *sgt_cmd(int ctl, const char *fmt, ...)
{
	static char answer[4096];
	char cmd[64];
	va_list args;
	ssize_t n;

	va_start(args, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, args);
	va_end(args);
	VFIO_ASSERT_EQ(pwrite(ctl, cmd, strlen(cmd), 0), (ssize_t)strlen(cmd));
	n = pread(ctl, answer, sizeof(answer) - 1, 0);
	VFIO_ASSERT_GE(n, 0);
	answer[n] = 0;
	return answer;
}

/* What the importer answers now, without a command. */
static const char *sgt_answer(int ctl)
{
	static char answer[4096];
	ssize_t n;

	n = pread(ctl, answer, sizeof(answer) - 1, 0);
	VFIO_ASSERT_GE(n, 0);
	answer[n] = 0;
	return answer;
}

#define ASSERT_ANSWER(_prefix, _answer) do {				\
	const char *__a = (_answer), *__p = (_prefix);			\
	ASSERT_EQ(0, strncmp(__a, __p, strlen(__p)))			\
		TH_LOG("the importer answered \"%s\", not \"%s...\"",	\
		       __a, __p);						\
} while (0)

/*
 * Have the importer DMA @len bytes of the pattern of @seed (for BAR offset
 * @bar_off) from its RAM into dma-buf offset @off: "to", or "stale" (the
 * address of the last mapping, mapped or not). Reported to the host as
 * @expect.
 */
static void __sgt_dma_to(struct __test_metadata *_metadata, int ctl, int buf,
			 const char *cmd, u64 off, u64 bar_off, u8 seed,
			 const char *expect)
{
	u8 data[SGT_LEN];

	fill_pattern(data, bar_off, sizeof(data), seed);
	ASSERT_EQ(sizeof(data), pwrite(buf, data, sizeof(data), 0));
	ASSERT_ANSWER("ok", sgt_cmd(ctl, "%s %llx %x", cmd,
				    (unsigned long long)off, SGT_LEN));
	host_check(expect, bar_off, sizeof(data), seed);
}

#define sgt_dma_to(_cmd, _off, _bar_off, _seed, _expect) \
	__sgt_dma_to(_metadata, self->ctl, self->buf, _cmd, _off, _bar_off, \
		     _seed, _expect)

/*
 * "map": the answer must list at least one DMA segment, and the segments
 * must add up to the dma-buf's @size.
 */
static void __sgt_map(struct __test_metadata *_metadata, int ctl, u64 size)
{
	const char *a = sgt_cmd(ctl, "map");
	unsigned long long addr, len, sum = 0;
	unsigned int n, i;
	int used, ret;

	ret = sscanf(a, "mapped %u\n%n", &n, &used);
	ASSERT_EQ(1, ret) TH_LOG("the importer answered \"%s\" to map", a);
	ASSERT_LE(1, n);
	for (i = 0; i < n; i++) {
		a += used;
		ret = sscanf(a, "%llx %llx\n%n", &addr, &len, &used);
		ASSERT_EQ(2, ret);
		sum += len;
	}
	ASSERT_EQ(size, sum);
}

#define sgt_map(_size) __sgt_map(_metadata, self->ctl, _size)

/*
 * Whether the engine's DMA goes through IOMMU translation (a DMA API
 * domain): only then does a stale address fault once it is unmapped.
 */
static bool engine_translated(void)
{
	char path[128], type[16] = "";
	FILE *f;

	snprintf_assert(path, sizeof(path),
			"/sys/bus/pci/devices/%s/iommu_group/type", engine_bdf);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(type, sizeof(type), f))
		type[0] = 0;
	fclose(f);
	return !strcmp(type, "DMA\n") || !strcmp(type, "DMA-FQ\n");
}

/* A two-range dma-buf of slot @n: its second half first. */
static int sgt_dmabuf(struct p2p *p2p, unsigned int n)
{
	struct vfio_region_dma_range r[] = {
		{ .offset = slot(n) + SLOT_SIZE / 2, .length = SLOT_SIZE / 2 },
		{ .offset = slot(n), .length = SLOT_SIZE / 2 },
	};

	return dmabuf_get(p2p->exporter->fd, p2p->bar, r, ARRAY_SIZE(r));
}

/*
 * An importer that allows P2P and can reach the BAR maps the dma-buf and
 * DMAs to and from the BAR through the scatterlist's addresses: in each
 * of the dma-buf's two ranges, which lie in the other order in the BAR.
 */
TEST_F(vfio_pci_sgt_dmabuf_test, sgt_p2p)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_SGT);
	const u8 seed = 0xe0;
	u8 data[SGT_LEN];
	long i;
	int fd;

	if (!self->reach)
		SKIP(return, "the importer cannot reach the BAR here\n");
	fd = sgt_dmabuf(p2p, SLOT_SGT);
	ASSERT_LE(0, fd);
	ASSERT_ANSWER("ok", sgt_cmd(self->ctl, "attach %d", fd));
	ASSERT_EQ(0, close(fd));
	sgt_map(SLOT_SIZE);

	/* dma-buf offset 0 is the slot's second half, and the other way. */
	bar_fill(p2p, base + SLOT_SIZE / 2, SGT_LEN, ~seed);
	sgt_dma_to("to", 0, base + SLOT_SIZE / 2, seed, "present");
	bar_check(p2p, base + SLOT_SIZE / 2, SGT_LEN, seed, "DMA to dma-buf offset 0");
	bar_fill(p2p, base + 0x1000, SGT_LEN, ~seed);
	sgt_dma_to("to", SLOT_SIZE / 2 + 0x1000, base + 0x1000, seed + 1, "present");
	bar_check(p2p, base + 0x1000, SGT_LEN, seed + 1, "DMA into the second range");

	bar_fill(p2p, base + 0x2000, SGT_LEN, seed + 2);
	ASSERT_ANSWER("ok", sgt_cmd(self->ctl, "from %x %x",
				    SLOT_SIZE / 2 + 0x2000, SGT_LEN));
	ASSERT_EQ(sizeof(data), pread(self->buf, data, sizeof(data), 0));
	i = pattern_mismatch(data, base + 0x2000, sizeof(data), seed + 2);
	if (i >= 0)
		TH_LOG("DMA from the BAR: byte %ld is 0x%02x", i, data[i]);
	ASSERT_EQ(-1, i);
	ASSERT_ANSWER("ok", sgt_cmd(self->ctl, "detach"));
}

/*
 * A revoke while the importer has the dma-buf mapped: its
 * invalidate_mappings runs (and unmaps), a map fails with ENODEV (from
 * vfio-pci) while the revoke lasts, and a DMA to the address the mapping
 * had does not land, even once the BAR is back: the importer's unmap took
 * the address out of the IOMMU. Mapped again, DMA lands.
 *
 * The importer's unmap (dma_iova_unlink() and dma_iova_free() in
 * dma_buf_free_sgt()) flushes the IOTLB before it returns, also in a
 * lazily flushed domain (DMA-FQ): no window is left for the stale DMA.
 */
TEST_F(vfio_pci_sgt_dmabuf_test, sgt_revoke)
{
	struct p2p *p2p = &self->p2p;
	const u64 base = slot(SLOT_SGT_REVOKE);
	const u8 seed = 0xf0;
	int fd;

	if (!self->reach)
		SKIP(return, "the importer cannot reach the BAR here\n");
	if (!engine_translated())
		SKIP(return, "%s's DMA is not translated: a stale address may land\n",
		     engine_bdf);
	fd = sgt_dmabuf(p2p, SLOT_SGT_REVOKE);
	ASSERT_LE(0, fd);
	ASSERT_ANSWER("ok", sgt_cmd(self->ctl, "attach %d", fd));
	sgt_map(SLOT_SIZE);
	bar_fill(p2p, base + SLOT_SIZE / 2, SGT_LEN, ~seed);
	sgt_dma_to("to", 0, base + SLOT_SIZE / 2, seed, "present");
	bar_check(p2p, base + SLOT_SIZE / 2, SGT_LEN, seed, "DMA before the revoke");

	bar_fill(p2p, base + SLOT_SIZE / 2 + 0x1000, SGT_LEN, ~seed);
	vfio_pci_cmd_clear(p2p->exporter, PCI_COMMAND_MEMORY);
	ASSERT_ANSWER("invalidated ", sgt_answer(self->ctl));
	ASSERT_ANSWER("error -19", sgt_cmd(self->ctl, "map"));
	/* The importer's own refusal: it has no mapping. */
	ASSERT_ANSWER("error -19", sgt_cmd(self->ctl, "to 1000 %x", SGT_LEN));

	vfio_pci_cmd_set(p2p->exporter, PCI_COMMAND_MEMORY);
	sgt_dma_to("stale", 0x1000, base + SLOT_SIZE / 2 + 0x1000, seed + 1, "absent");
	bar_check(p2p, base + SLOT_SIZE / 2 + 0x1000, SGT_LEN, ~seed,
		  "DMA through the unmapped address");

	sgt_map(SLOT_SIZE);
	bar_fill(p2p, base + SLOT_SIZE / 2 + 0x2000, SGT_LEN, ~seed);
	sgt_dma_to("to", 0x2000, base + SLOT_SIZE / 2 + 0x2000, seed + 2, "present");
	bar_check(p2p, base + SLOT_SIZE / 2 + 0x2000, SGT_LEN, seed + 2,
		  "DMA after the revoke");
	ASSERT_ANSWER("ok", sgt_cmd(self->ctl, "detach"));
	ASSERT_EQ(0, close(fd));
}

struct stall {
	struct vfio_pci_device *exporter;
	int ctl;		/* the watchdog's own fd of the importer */
	pid_t revoker;		/* the thread that revokes, once known */
	bool revoked;		/* its config write returned */
	bool stop;		/* the watchdog may go */
	/*
	 * The watchdog's command, in memory that is mapped already: a page
	 * fault could wait behind the mmap() that holds the mmap_lock.
	 */
	char signal[8];
};

/* Turn decode off: the revoke waits for the importer's fence. */
static void *stall_revoke(void *arg)
{
	struct stall *s = arg;

	__atomic_store_n(&s->revoker, (pid_t)syscall(SYS_gettid),
			 __ATOMIC_RELEASE);
	vfio_pci_cmd_clear(s->exporter, PCI_COMMAND_MEMORY);
	__atomic_store_n(&s->revoked, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Signal the fence after 10 s, so that a stalled mmap() fails the test. */
static void *stall_watchdog(void *arg)
{
	struct stall *s = arg;
	int i;

	for (i = 0; i < 100 && !__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE); i++)
		usleep(100 * 1000);
	if (i == 100 && pwrite(s->ctl, s->signal, strlen(s->signal), 0) < 0)
		ksft_print_msg("the watchdog's signal: %s\n", strerror(errno));
	return NULL;
}

/* Whether thread @tid of this process sleeps uninterruptibly (in the kernel). */
static bool thread_in_d_state(pid_t tid)
{
	char path[64], stat[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return false;
	stat[n] = 0;
	p = strrchr(stat, ')');
	return p && p[1] == ' ' && p[2] == 'D';
}

/*
 * A revoke waits for the importers' fences, with memory_lock held; a
 * mmap() of a BAR, which makes a dma-buf with the mmap_lock held, must not
 * wait with it (v9 before this test: the revoke held the device's dma-buf
 * list lock across the wait, and the mmap() waited for the fence). The
 * importer publishes a fence it does not signal on a dma-buf of one slot;
 * a thread turns decode off and sleeps in the revoke; a mmap() of a page of
 * another slot returns while it does; the revoke ends once the fence is
 * signaled. A watchdog signals after 10 s: a stalled mmap() fails the test
 * instead of hanging it.
 */
TEST_F(vfio_pci_sgt_dmabuf_test, sgt_mmap_during_revoke)
{
	struct p2p *p2p = &self->p2p;
	struct stall s = { .exporter = p2p->exporter, .signal = "signal" };
	pthread_t revoker, watchdog;
	bool revoking;
	char ctl[128];
	pid_t tid;
	void *va;
	int fd, i;

	fd = sgt_dmabuf(p2p, SLOT_SGT);
	ASSERT_LE(0, fd);
	ASSERT_ANSWER("ok", sgt_cmd(self->ctl, "fence %d", fd));
	snprintf_assert(ctl, sizeof(ctl), "%s/%s/ctl", SGT_DEBUGFS, engine_bdf);
	s.ctl = open(ctl, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, s.ctl);
	ASSERT_EQ(0, pthread_create(&watchdog, NULL, stall_watchdog, &s));
	ASSERT_EQ(0, pthread_create(&revoker, NULL, stall_revoke, &s));

	/* Until the revoke sleeps on the fence (or the watchdog fired) */
	for (i = 0; i < 100; i++) {
		tid = __atomic_load_n(&s.revoker, __ATOMIC_ACQUIRE);
		if (tid && thread_in_d_state(tid))
			break;
		usleep(50 * 1000);
	}
	va = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED,
		  p2p->exporter->fd,
		  p2p->exporter->bars[p2p->bar].info.offset +
			  slot(SLOT_SGT_REVOKE));
	revoking = !__atomic_load_n(&s.revoked, __ATOMIC_ACQUIRE);

	sgt_cmd(self->ctl, "signal");
	ASSERT_EQ(0, pthread_join(revoker, NULL));
	__atomic_store_n(&s.stop, true, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(watchdog, NULL));
	ASSERT_NE(MAP_FAILED, va);
	ASSERT_EQ(0, munmap(va, SZ_4K));
	ASSERT_LT(i, 100) TH_LOG("the revoke never slept on the fence");
	ASSERT_TRUE(revoking) TH_LOG("mmap() returned only after the revoke ended");

	vfio_pci_cmd_set(p2p->exporter, PCI_COMMAND_MEMORY);
	ASSERT_EQ(0, close(s.ctl));
	ASSERT_EQ(0, close(fd));
}

/*
 * vfio-pci's dma-bufs are MMIO that it can revoke: an importer that does
 * not allow P2P, or that has no invalidate_mappings, is refused at attach
 * with EOPNOTSUPP (where the engine can reach the BAR at all: elsewhere
 * every attach is), and an attach while the buffer is revoked with ENODEV.
 */
TEST_F(vfio_pci_sgt_dmabuf_test, sgt_refusals)
{
	struct p2p *p2p = &self->p2p;
	int fd;

	fd = sgt_dmabuf(p2p, SLOT_SGT);
	ASSERT_LE(0, fd);
	/* The importer's own check: its two options do not go together. */
	ASSERT_ANSWER("error -22", sgt_cmd(self->ctl, "attach %d nop2p static", fd));
	vfio_pci_cmd_clear(p2p->exporter, PCI_COMMAND_MEMORY);
	ASSERT_ANSWER("error -19", sgt_cmd(self->ctl, "attach %d", fd));
	vfio_pci_cmd_set(p2p->exporter, PCI_COMMAND_MEMORY);
	if (self->reach) {
		ASSERT_ANSWER("error -95", sgt_cmd(self->ctl, "attach %d nop2p", fd));
		ASSERT_ANSWER("error -95", sgt_cmd(self->ctl, "attach %d static", fd));
		ASSERT_ANSWER("ok", sgt_cmd(self->ctl, "attach %d", fd));
		ASSERT_ANSWER("ok", sgt_cmd(self->ctl, "detach"));
	}
	ASSERT_EQ(0, close(fd));
}

/*
 * Where pci_p2pdma_map_type() finds that the engine cannot reach the BAR
 * (on QEMU's root bus: no common switch, a host bridge that is not known
 * to forward P2P, a CPU that is not one that does), the attach is refused
 * with EOPNOTSUPP rather than a map failing later.
 */
TEST_F(vfio_pci_sgt_dmabuf_test, sgt_unreachable)
{
	struct p2p *p2p = &self->p2p;
	int fd;

	if (self->reach)
		SKIP(return, "the importer can reach the BAR here\n");
	fd = sgt_dmabuf(p2p, SLOT_SGT);
	ASSERT_LE(0, fd);
	ASSERT_ANSWER("error -95", sgt_cmd(self->ctl, "attach %d", fd));
	ASSERT_EQ(0, close(fd));
}

int main(int argc, char *argv[])
{
	char **bdfs;
	int nr;

	bdfs = vfio_selftests_get_bdfs(&argc, argv, &nr);
	if (nr != 2) {
		fprintf(stderr, "usage: %s [options] EXPORTER_BDF ENGINE_BDF\n",
			argv[0]);
		return KSFT_SKIP;
	}
	exporter_bdf = bdfs[0];
	engine_bdf = bdfs[1];
	/* Left with the test importer by a run killed on its timeout */
	if (bound_to(engine_bdf, "dmabuf_sgt_test"))
		sgt_restore_engine();
	return test_harness_run(argc, argv);
}
