// SPDX-License-Identifier: GPL-2.0-only
/*
 * End-to-end test of the dma-buf PCI IOV mapping type: the dma-buf of a
 * VF's BAR, exported by vfio-pci, is imported by the VF's own PF through
 * the test importer of CONFIG_DMABUF_IOV_TEST (debugfs
 * dma_buf_iov_test/import, attaching from the PF's struct device), which
 * reports the BAR and the (offset, length) ranges it got.
 *
 * Arguments: the PF (an SR-IOV device with at least two VFs whose BAR 0
 * is memory of four pages or more, bound to a driver that can enable VFs,
 * such as pci-pf-stub or the test importer's own PF driver,
 * dmabuf_iov_test; QEMU's igb is one) and a device that is not a VF,
 * bound to vfio-pci, with a memory BAR that can be exported. The test
 * enables two VFs and binds them to vfio-pci. The case of the PF
 * driver's rule for disabling SR-IOV needs the PF bound to
 * dmabuf_iov_test.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <linux/pci_regs.h>
#include <linux/sizes.h>
#include <linux/vfio.h>

#include <libvfio.h>

#include "kselftest_harness.h"

#define IMPORTER "/sys/kernel/debug/dma_buf_iov_test/import"
#define NR_VFS 2
#define VF_BAR 0
/* The PF's first IOV resource in its sysfs "resource" file */
#define PCI_IOV_RES 7
/* DMA_BUF_IOV_REVOKE_TIMEOUT_MS of include/linux/dma-buf-mapping.h */
#define IOV_REVOKE_TIMEOUT_MS 5000

static const char *pf_bdf, *other_bdf;
static char *vf_bdfs[NR_VFS];
static pid_t main_pid;
static u64 pg;

struct dmabuf_req {
	struct vfio_device_feature hdr;
	struct vfio_device_feature_dma_buf get;
	struct vfio_region_dma_range ranges[2];
};

/* Export @nr ranges of BAR @bar of the device as a dma-buf. */
static int dmabuf_get(int device_fd, u32 bar,
		      const struct vfio_region_dma_range *ranges, u32 nr)
{
	struct dmabuf_req req = {};

	req.hdr.argsz = sizeof(req.hdr) + sizeof(req.get) +
			nr * sizeof(req.ranges[0]);
	req.hdr.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	req.get.region_index = bar;
	req.get.open_flags = O_RDWR | O_CLOEXEC;
	req.get.nr_ranges = nr;
	memcpy(req.ranges, ranges, nr * sizeof(*ranges));
	return ioctl(device_fd, VFIO_DEVICE_FEATURE, &req);
}

/* The importer's state: the answer to the last command, or "revoked". */
static void importer_read(int imp, char *out, size_t size)
{
	ssize_t n = pread(imp, out, size - 1, 0);

	VFIO_ASSERT_GE(n, 0);
	out[n] = 0;
}

/* Send @cmd to the importer and read its answer into @out. */
static void importer_cmd(int imp, const char *cmd, char *out, size_t size)
{
	VFIO_ASSERT_EQ(write(imp, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
	importer_read(imp, out, size);
}

/*
 * "attach PF FD MASK GRANULE": the importer attaches from @importer_bdf,
 * for ranges aligned to @granule bytes (0 for a page).
 */
static void importer_attach_granule(int imp, const char *importer_bdf, int fd,
				    u32 bars, u64 granule, char *out,
				    size_t size)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "attach %s %d %x %llx", importer_bdf, fd,
		 bars, (unsigned long long)granule);
	importer_cmd(imp, cmd, out, size);
}

static void importer_attach(int imp, const char *importer_bdf, int fd,
			    u32 bars, char *out, size_t size)
{
	importer_attach_granule(imp, importer_bdf, fd, bars, 0, out, size);
}

static u32 pf_config_readl(int cfg, off_t off)
{
	u32 val;

	VFIO_ASSERT_EQ(pread(cfg, &val, sizeof(val), off), (ssize_t)sizeof(val));
	return val;
}

/* Offset of the SR-IOV capability in the PF's extended config space. */
static off_t sriov_cap(int cfg)
{
	off_t pos = PCI_CFG_SPACE_SIZE;
	int loops = 0;

	while (pos && loops++ < 480) {
		u32 hdr = pf_config_readl(cfg, pos);

		if (PCI_EXT_CAP_ID(hdr) == PCI_EXT_CAP_ID_SRIOV)
			return pos;
		pos = PCI_EXT_CAP_NEXT(hdr);
	}
	return 0;
}

static u64 resource_start(const char *bdf, int bar)
{
	unsigned long long start = 0, end, flags;
	char path[128];
	FILE *f;
	int i, n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	f = fopen(path, "r");
	VFIO_ASSERT_NOT_NULL(f);
	for (i = 0; i <= bar; i++) {
		n = fscanf(f, "%llx %llx %llx", &start, &end, &flags);
		VFIO_ASSERT_EQ(n, 3);
	}
	fclose(f);
	return start;
}

/*
 * Where VF @vf's BAR VF_BAR starts, computed as the PF decodes it from its
 * SR-IOV capability: the VF BAR base register plus @vf times the size of
 * one VF's BAR. Also checks that @bdf is the routing ID the capability
 * gives VF @vf (First VF Offset and VF Stride). The register holds a bus
 * address, which is the CPU's address on x86 (the PF's IOV resource is
 * compared too).
 */
static u64 vf_bar_from_pf(struct __test_metadata *_metadata, const char *bdf,
			  int vf, u64 vf_bar_size)
{
	unsigned int dom, bus, dev, fn, pdom, pbus, pdev, pfn;
	u32 lo, hi = 0, offset_stride;
	char path[128];
	u16 rid, pf_rid;
	off_t cap;
	int cfg, n;
	u64 base;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", pf_bdf);
	cfg = open(path, O_RDONLY);
	VFIO_ASSERT_GE(cfg, 0);
	cap = sriov_cap(cfg);
	VFIO_ASSERT_NE(cap, 0);
	lo = pf_config_readl(cfg, cap + PCI_SRIOV_BAR + 4 * VF_BAR);
	if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64)
		hi = pf_config_readl(cfg, cap + PCI_SRIOV_BAR + 4 * (VF_BAR + 1));
	offset_stride = pf_config_readl(cfg, cap + PCI_SRIOV_VF_OFFSET);
	close(cfg);
	base = ((u64)hi << 32) | (lo & PCI_BASE_ADDRESS_MEM_MASK);

	n = sscanf(pf_bdf, "%x:%x:%x.%x", &pdom, &pbus, &pdev, &pfn);
	VFIO_ASSERT_EQ(n, 4);
	n = sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn);
	VFIO_ASSERT_EQ(n, 4);
	pf_rid = pbus << 8 | pdev << 3 | pfn;
	rid = pf_rid + (offset_stride & 0xffff) + vf * (offset_stride >> 16);
	EXPECT_EQ(pdom, dom);
	EXPECT_EQ(rid, bus << 8 | dev << 3 | fn);

	return base + vf * vf_bar_size;
}

FIXTURE(iov_dmabuf) {
	struct iommu *iommu;
	struct vfio_pci_device *vf[NR_VFS];
	u64 bar_size;
	int importer;
	char out[4096];
};

FIXTURE_SETUP(iov_dmabuf)
{
	int i;

	self->iommu = iommu_init(MODE_IOMMUFD);
	for (i = 0; i < NR_VFS; i++)
		self->vf[i] = vfio_pci_device_init(vf_bdfs[i], self->iommu);
	self->bar_size = self->vf[0]->bars[VF_BAR].info.size;
	if (self->bar_size < 4 * pg)
		SKIP(return, "VF BAR %d is %llu bytes\n", VF_BAR,
		     (unsigned long long)self->bar_size);
	self->importer = open(IMPORTER, O_RDWR);
	if (self->importer < 0)
		SKIP(return, "no %s (CONFIG_DMABUF_IOV_TEST)\n", IMPORTER);
}

FIXTURE_TEARDOWN(iov_dmabuf)
{
	int i;

	if (self->importer >= 0)
		close(self->importer);
	for (i = 0; i < NR_VFS; i++)
		if (self->vf[i])
			vfio_pci_device_cleanup(self->vf[i]);
	iommu_cleanup(self->iommu);
}

/*
 * The PF gets the VF's number, its BAR and the ranges of the dma-buf in
 * it, in the dma-buf's order; the VF's BAR lies where the PF's SR-IOV
 * capability and the PF's IOV resource put that VF's BAR.
 */
TEST_F(iov_dmabuf, pf_imports_vf_bar)
{
	struct vfio_region_dma_range r[2] = {
		{ .offset = 3 * pg, .length = pg },
		{ .offset = 0, .length = 2 * pg },
	};
	unsigned long long off, len, bar_size, align;
	unsigned int bar, nr, vf;
	char *line;
	int i, n, v, fd;

	for (v = 0; v < NR_VFS; v++) {
		u64 pf_view = vf_bar_from_pf(_metadata, vf_bdfs[v], v,
					     self->bar_size);

		/* The VF's BAR is where the PF decodes it. */
		ASSERT_EQ(resource_start(vf_bdfs[v], VF_BAR), pf_view);
		ASSERT_EQ(resource_start(pf_bdf, PCI_IOV_RES + VF_BAR) +
			  v * self->bar_size, pf_view);

		fd = dmabuf_get(self->vf[v]->fd, VF_BAR, r, 2);
		ASSERT_LE(0, fd);
		importer_attach(self->importer, pf_bdf, fd, 1 << VF_BAR,
				self->out, sizeof(self->out));
		printf("VF %d (%s), BAR %d at %#llx in the PF's view: %s", v,
		       vf_bdfs[v], VF_BAR, (unsigned long long)pf_view,
		       self->out);
		n = sscanf(self->out, "bar %u vf %u ranges %u bar_size %llx align %llx",
			   &bar, &vf, &nr, &bar_size, &align);
		ASSERT_EQ(5, n);
		ASSERT_EQ(VF_BAR, bar);
		ASSERT_EQ(v, vf);
		ASSERT_EQ(2, nr);
		ASSERT_EQ(self->bar_size, bar_size);
		/* Offsets 3 and 0 pages, lengths 1 and 2 pages */
		ASSERT_EQ(pg, align);
		line = self->out;
		for (i = 0; i < 2; i++) {
			line = strchr(line, '\n');
			ASSERT_NE(NULL, line);
			line++;
			n = sscanf(line, "%llx %llx", &off, &len);
			ASSERT_EQ(2, n);
			ASSERT_EQ(r[i].offset, off);
			ASSERT_EQ(r[i].length, len);
		}
		importer_cmd(self->importer, "detach", self->out,
			     sizeof(self->out));
		ASSERT_STREQ("detached\n", self->out);
		ASSERT_EQ(0, close(fd));
	}
}

/* Only the VF's own PF, and only for a BAR it accepted, gets the type. */
TEST_F(iov_dmabuf, refusals)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = pg };
	struct vfio_pci_device *other;
	int fd, other_fd, bar;

	fd = dmabuf_get(self->vf[0]->fd, VF_BAR, &r, 1);
	ASSERT_LE(0, fd);

	/* A BAR the importer does not accept. */
	importer_attach(self->importer, pf_bdf, fd, 1 << 3, self->out,
			sizeof(self->out));
	ASSERT_STREQ("error -95\n", self->out);
	/* A sibling VF is not the PF. */
	importer_attach(self->importer, vf_bdfs[1], fd, 1 << VF_BAR, self->out,
			sizeof(self->out));
	ASSERT_STREQ("error -95\n", self->out);
	/* Neither is a device that is not the VF's PF. */
	importer_attach(self->importer, other_bdf, fd, 0x3f, self->out,
			sizeof(self->out));
	ASSERT_STREQ("error -95\n", self->out);
	/* The same dma-buf, from the PF for its BAR: accepted. */
	importer_attach(self->importer, pf_bdf, fd, 1 << VF_BAR, self->out,
			sizeof(self->out));
	ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 1 ", 20));
	importer_cmd(self->importer, "detach", self->out, sizeof(self->out));
	ASSERT_EQ(0, close(fd));

	/*
	 * A PF that maps device memory in a granule larger than the ranges'
	 * alignment does not get the type (and would go on to its next
	 * accept); one that is not a power of two, or below a page, is an
	 * error. Two pages at offset 0 fit a granule of two pages.
	 */
	r.length = 2 * pg;
	fd = dmabuf_get(self->vf[0]->fd, VF_BAR, &r, 1);
	ASSERT_LE(0, fd);
	importer_attach_granule(self->importer, pf_bdf, fd, 1 << VF_BAR,
				4 * pg, self->out, sizeof(self->out));
	ASSERT_STREQ("error -95\n", self->out);
	importer_attach_granule(self->importer, pf_bdf, fd, 1 << VF_BAR,
				3 * pg, self->out, sizeof(self->out));
	ASSERT_STREQ("error -22\n", self->out);
	importer_attach_granule(self->importer, pf_bdf, fd, 1 << VF_BAR,
				pg / 2, self->out, sizeof(self->out));
	ASSERT_STREQ("error -22\n", self->out);
	importer_attach_granule(self->importer, pf_bdf, fd, 1 << VF_BAR,
				2 * pg, self->out, sizeof(self->out));
	ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 1 ", 20));
	importer_cmd(self->importer, "detach", self->out, sizeof(self->out));
	ASSERT_EQ(0, close(fd));
	r.length = pg;

	/* The dma-buf of a device that is not a VF. */
	other = vfio_pci_device_init(other_bdf, self->iommu);
	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		struct vfio_region_info *info = &other->bars[bar].info;

		if ((info->flags & VFIO_REGION_INFO_FLAG_MMAP) &&
		    info->size >= pg)
			break;
	}
	ASSERT_LT(bar, PCI_STD_NUM_BARS);
	other_fd = dmabuf_get(other->fd, bar, &r, 1);
	ASSERT_LE(0, other_fd);
	importer_attach(self->importer, pf_bdf, other_fd, 0x3f, self->out,
			sizeof(self->out));
	ASSERT_STREQ("error -95\n", self->out);
	ASSERT_EQ(0, close(other_fd));
	vfio_pci_device_cleanup(other);
}

/*
 * The uAPI lets ranges overlap. The PF gets them as they are: each lies in
 * its VF's BAR. (The physical address list type refuses overlaps; the PF
 * must not be handed a scatterlist of its own VF's BAR instead.)
 */
TEST_F(iov_dmabuf, overlapping_ranges)
{
	struct vfio_region_dma_range r[2] = {
		{ .offset = 0, .length = 2 * pg },
		{ .offset = pg, .length = 2 * pg },
	};
	unsigned long long off, len;
	char *line;
	int fd, i, n;

	fd = dmabuf_get(self->vf[0]->fd, VF_BAR, r, 2);
	ASSERT_LE(0, fd);
	importer_attach(self->importer, pf_bdf, fd, 1 << VF_BAR, self->out,
			sizeof(self->out));
	ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 2 ", 20));
	line = self->out;
	for (i = 0; i < 2; i++) {
		line = strchr(line, '\n');
		ASSERT_NE(NULL, line);
		line++;
		n = sscanf(line, "%llx %llx", &off, &len);
		ASSERT_EQ(2, n);
		ASSERT_EQ(r[i].offset, off);
		ASSERT_EQ(r[i].length, len);
	}
	importer_cmd(self->importer, "detach", self->out, sizeof(self->out));
	ASSERT_STREQ("detached\n", self->out);
	ASSERT_EQ(0, close(fd));
}

/* "attach_va PF ADDR MASK": the dma-buf behind this process's @addr. */
static void importer_attach_va(int imp, const char *importer_bdf, void *addr,
			       u32 bars, char *out, size_t size)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "attach_va %s %lx %x", importer_bdf,
		 (unsigned long)addr, bars);
	importer_cmd(imp, cmd, out, size);
}

/*
 * The dma-buf behind a BAR mmap of the VF can only be reached through the
 * VMA, by iommufd: it is not offered to the PF (which accepts nothing
 * else here). A mmap of a dma-buf fd of the same BAR is.
 */
TEST_F(iov_dmabuf, bar_mmap_not_offered)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = pg };
	void *bar = self->vf[0]->bars[VF_BAR].vaddr, *p;
	int fd;

	ASSERT_NE(NULL, bar);
	importer_attach_va(self->importer, pf_bdf, bar, 1 << VF_BAR, self->out,
			   sizeof(self->out));
	ASSERT_STREQ("error -95\n", self->out);

	fd = dmabuf_get(self->vf[0]->fd, VF_BAR, &r, 1);
	ASSERT_LE(0, fd);
	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	importer_attach_va(self->importer, pf_bdf, p, 1 << VF_BAR, self->out,
			   sizeof(self->out));
	ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 1 ", 20));
	importer_cmd(self->importer, "detach", self->out, sizeof(self->out));
	ASSERT_STREQ("detached\n", self->out);
	ASSERT_EQ(0, munmap(p, pg));
	ASSERT_EQ(0, close(fd));
}

/*
 * A reset of the VF revokes the buffer: the PF is notified while the
 * buffer is revoked (a map from its callback fails with -ENODEV) and gives
 * the ranges back, is notified again once the reset is done (a map works),
 * and maps the same ranges again.
 */
TEST_F(iov_dmabuf, revoke_reset)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = pg };
	char first[256];
	int fd;

	if (!(self->vf[0]->info.flags & VFIO_DEVICE_FLAGS_RESET))
		SKIP(return, "%s cannot be reset\n", vf_bdfs[0]);
	fd = dmabuf_get(self->vf[0]->fd, VF_BAR, &r, 1);
	ASSERT_LE(0, fd);
	importer_attach(self->importer, pf_bdf, fd, 1 << VF_BAR, first,
			sizeof(first));
	ASSERT_EQ(0, strncmp(first, "bar 0 vf 0 ranges 1 ", 20));

	ASSERT_EQ(0, ioctl(self->vf[0]->fd, VFIO_DEVICE_RESET));
	importer_read(self->importer, self->out, sizeof(self->out));
	ASSERT_STREQ("invalidated: revoked live\n", self->out);
	importer_cmd(self->importer, "map", self->out, sizeof(self->out));
	ASSERT_STREQ(first, self->out);
	ASSERT_EQ(0, close(fd));
}

/* Whether /dev/kmsg from @kmsg on has a line with @a and @b in it. */
static bool kmsg_has(int kmsg, const char *a, const char *b)
{
	char rec[1024];
	ssize_t n;

	for (;;) {
		n = read(kmsg, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			return false;
		rec[n] = 0;
		if (strstr(rec, a) && strstr(rec, b))
			return true;
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A PF that keeps its ranges after a revoke holds the VF's reset up for
 * DMA_BUF_IOV_REVOKE_TIMEOUT_MS and no longer: vfio-pci then cuts the
 * import off and logs it; the import's maps fail with -EIO, its detach
 * works, and a new import maps. If the reset still waits well after the bound, the
 * importer lets go, which ends the wait, and the case fails.
 */
TEST_F_TIMEOUT(iov_dmabuf, revoke_importer_stuck, 120)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = pg };
	double start, took = 0;
	int fd, kmsg, status;
	bool done = false;
	pid_t pid;

	if (!(self->vf[0]->info.flags & VFIO_DEVICE_FLAGS_RESET))
		SKIP(return, "%s cannot be reset\n", vf_bdfs[0]);
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, kmsg);
	ASSERT_LE(0, lseek(kmsg, 0, SEEK_END));
	fd = dmabuf_get(self->vf[0]->fd, VF_BAR, &r, 1);
	ASSERT_LE(0, fd);
	importer_attach(self->importer, pf_bdf, fd, 1 << VF_BAR, self->out,
			sizeof(self->out));
	ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 1 ", 20));
	importer_cmd(self->importer, "keep", self->out, sizeof(self->out));
	ASSERT_STREQ("keeping\n", self->out);

	start = now();
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(ioctl(self->vf[0]->fd, VFIO_DEVICE_RESET) ? 1 : 0);
	while (now() - start < IOV_REVOKE_TIMEOUT_MS / 1000.0 + 15) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			done = true;
			took = now() - start;
			break;
		}
		usleep(50 * 1000);
	}
	if (!done) {
		importer_cmd(self->importer, "detach", self->out,
			     sizeof(self->out));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(done) TH_LOG("the reset still waited %.1f s later",
					 now() - start);
	}
	printf("the reset waited %.2f s for the PF\n", took);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_LE(IOV_REVOKE_TIMEOUT_MS / 1000.0 - 0.5, took);
	ASSERT_TRUE(kmsg_has(kmsg, "import cut", pf_bdf));

	/* Cut off for good: a map fails with -EIO until it attaches anew */
	importer_cmd(self->importer, "map", self->out, sizeof(self->out));
	ASSERT_STREQ("error -5\n", self->out);
	importer_cmd(self->importer, "detach", self->out, sizeof(self->out));
	ASSERT_STREQ("detached\n", self->out);
	importer_attach(self->importer, pf_bdf, fd, 1 << VF_BAR, self->out,
			sizeof(self->out));
	ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 1 ", 20));
	importer_cmd(self->importer, "detach", self->out, sizeof(self->out));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, close(kmsg));
}

/*
 * Closing the VF revokes the buffer for good: one notification, while
 * revoked; the map fails with -ENODEV and the detach works.
 */
TEST_F(iov_dmabuf, revoke_close)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = pg };
	int fd;

	fd = dmabuf_get(self->vf[0]->fd, VF_BAR, &r, 1);
	ASSERT_LE(0, fd);
	importer_attach(self->importer, pf_bdf, fd, 1 << VF_BAR, self->out,
			sizeof(self->out));
	ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 1 ", 20));

	vfio_pci_device_cleanup(self->vf[0]);
	self->vf[0] = NULL;
	importer_read(self->importer, self->out, sizeof(self->out));
	ASSERT_STREQ("invalidated: revoked\n", self->out);
	importer_cmd(self->importer, "map", self->out, sizeof(self->out));
	ASSERT_STREQ("error -19\n", self->out);
	importer_cmd(self->importer, "detach", self->out, sizeof(self->out));
	ASSERT_STREQ("detached\n", self->out);
	ASSERT_EQ(0, close(fd));
}

/*
 * Fault injection into the IOV offer: the Nth fault injection point that
 * the export of a VF's dma-buf and its import by the PF (the export's
 * allocations, the attach and vfio-pci's state of the import, the
 * negotiation of the type; the map allocates nothing) reach fails, for
 * N from 1 until a pass reaches fewer points (libvfio's fail-nth
 * helpers). Each step works or fails with an errno, what worked is undone
 * with injection off, and afterwards the import works. A dma-buf that a
 * failed step keeps shows in the dma-buf count CI takes after the
 * program, memory in kmemleak on the sanitizer kernel.
 */
TEST_F(iov_dmabuf, fail_nth)
{
	struct vfio_region_dma_range r[2] = {
		{ .offset = 3 * pg, .length = pg },
		{ .offset = 0, .length = 2 * pg },
	};
	int nth, nfd, fd, failed = 0;
	bool injected, ok;
	char cmd[64];

	if (!fail_nth_setup())
		SKIP(return, "no fault injection in debugfs (FAILSLAB, FAIL_PAGE_ALLOC)\n");
	nfd = fail_nth_open();
	ASSERT_LE(0, nfd);
	for (nth = 1; nth < 1000; nth++) {
		ok = false;
		fail_nth_set(nfd, nth);
		fd = dmabuf_get(self->vf[0]->fd, VF_BAR, r, 2);
		if (fd >= 0) {
			snprintf(cmd, sizeof(cmd), "attach %s %d %x", pf_bdf, fd,
				 1 << VF_BAR);
			ok = write(self->importer, cmd, strlen(cmd)) ==
			     (ssize_t)strlen(cmd);
		}
		injected = fail_nth_injected(nfd);
		if (ok) {
			importer_read(self->importer, self->out, sizeof(self->out));
			ok = !strncmp(self->out, "bar 0 vf 0 ranges 2 ", 20);
			if (!ok)
				ASSERT_EQ(0, strncmp(self->out, "error -", 7))
					TH_LOG("point %d: the importer answered \"%s\"",
					       nth, self->out);
		}
		importer_cmd(self->importer, "detach", self->out, sizeof(self->out));
		ASSERT_STREQ("detached\n", self->out);
		if (fd >= 0)
			ASSERT_EQ(0, close(fd));
		if (!injected) {
			ASSERT_TRUE(ok) TH_LOG("with no failure injected the import failed");
			break;
		}
		failed += !ok;
	}
	ASSERT_GT(1000, nth) TH_LOG("the import reached 1000 fault injection points");
	printf("# fail_nth: %d fault injection points, %d failed a step\n",
	       nth - 1, failed);
	ASSERT_LT(0, failed) TH_LOG("no injected failure made a step fail");
	ASSERT_EQ(0, close(nfd));
}

static void vfs_enable(void);

/*
 * Remove the VFs from another program image: this program run again with
 * REMOVE_VFS, which holds none of the devices whose close the removal
 * waits for. A thread of the test would share its descriptors, a forked
 * copy its BAR mmaps: had the test been killed (its timeout) before it
 * closed the VFs, those would only go away when the thread or the copy
 * exits, which waits for them, and neither could ever end.
 */
#define REMOVE_VFS "--remove-vfs"

static pid_t remove_vfs(void)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	if (close_range(3, ~0U, 0))
		_exit(126);
	execl("/proc/self/exe", "vfio_pci_iov_dmabuf_test", REMOVE_VFS, pf_bdf,
	      NULL);
	perror("execl");
	_exit(127);
}

/*
 * Start the removal of the VFs, with the request eventfd of VF 0 in
 * @req: vfio-pci signals it when the removal waits for the VF's release.
 */
static pid_t vfs_start_removal(struct __test_metadata *_metadata,
			       struct vfio_pci_device *vf0, struct pollfd *req)
{
	pid_t pid;

	req->fd = eventfd(0, 0);
	ASSERT_LE(0, req->fd);
	vfio_pci_irq_set(vf0, VFIO_PCI_REQ_IRQ_INDEX, 0, 1, &req->fd);
	pid = remove_vfs();
	ASSERT_LT(0, pid);
	return pid;
}

/*
 * Release the VFs, as their user does when the removal that @pid runs
 * asks for them, and check that the removal then ends with no VF left.
 */
static void vfs_release_for_removal(struct __test_metadata *_metadata,
				    struct vfio_pci_device **vf, pid_t pid)
{
	int i, status;

	for (i = 0; i < NR_VFS; i++) {
		vfio_pci_device_cleanup(vf[i]);
		vf[i] = NULL;
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, sysfs_sriov_numvfs_get(pf_bdf));
}

/*
 * Removing the VFs (sriov_numvfs = 0) while the PF holds an attachment:
 * the removal waits for the VF to be closed, whose close revokes the
 * buffer first; the dma-buf and the attachment outlive the VF.
 */
TEST_F(iov_dmabuf, revoke_vf_removal)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = pg };
	struct pollfd req = { .events = POLLIN };
	char path[128];
	int fd, status;
	pid_t pid;

	fd = dmabuf_get(self->vf[0]->fd, VF_BAR, &r, 1);
	ASSERT_LE(0, fd);
	importer_attach(self->importer, pf_bdf, fd, 1 << VF_BAR, self->out,
			sizeof(self->out));
	ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 1 ", 20));

	pid = vfs_start_removal(_metadata, self->vf[0], &req);
	/*
	 * The removal waits for VF 0 to be closed and asks for it: then the
	 * write has not returned, the VFs are there and the PF still has
	 * its ranges.
	 */
	ASSERT_EQ(1, poll(&req, 1, 10000));
	ASSERT_EQ(0, waitpid(pid, &status, WNOHANG));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", vf_bdfs[0]);
	ASSERT_EQ(0, access(path, F_OK));
	importer_read(self->importer, self->out, sizeof(self->out));
	ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 1 ", 20));
	vfs_release_for_removal(_metadata, self->vf, pid);

	importer_read(self->importer, self->out, sizeof(self->out));
	ASSERT_STREQ("invalidated: revoked\n", self->out);
	importer_cmd(self->importer, "map", self->out, sizeof(self->out));
	ASSERT_STREQ("error -19\n", self->out);
	/*
	 * The VFs are gone (freed, under KASAN poisoned): the offer still
	 * tells which VF of which PF the buffer was.
	 */
	importer_cmd(self->importer, "info", self->out, sizeof(self->out));
	snprintf(path, sizeof(path), "bar 0 vf 0 bar_size %llx align %llx pf %s\n",
		 (unsigned long long)self->bar_size, (unsigned long long)pg,
		 pf_bdf);
	ASSERT_STREQ(path, self->out);
	importer_cmd(self->importer, "detach", self->out, sizeof(self->out));
	ASSERT_STREQ("detached\n", self->out);
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, close(req.fd));
	vfs_enable();
}

/*
 * The PF driver of the test importer detaches its own imports of its
 * VFs' buffers in sriov_configure(0), before it disables SR-IOV, and
 * holds no lock across the disable that its callback takes (the reset
 * first runs the callback, so lockdep would report the wrong order): the
 * removal of the VFs waits only for the VFs' user.
 */
TEST_F(iov_dmabuf, sriov_disable_detaches)
{
	struct vfio_region_dma_range r = { .offset = 0, .length = pg };
	struct pollfd req = { .events = POLLIN };
	char *driver = sysfs_driver_get(pf_bdf);
	bool ours = driver && !strcmp(driver, "dmabuf_iov_test");
	pid_t pid;
	int fd;

	free(driver);
	if (!ours)
		SKIP(return, "%s is not bound to dmabuf_iov_test\n", pf_bdf);
	fd = dmabuf_get(self->vf[0]->fd, VF_BAR, &r, 1);
	ASSERT_LE(0, fd);
	importer_attach(self->importer, pf_bdf, fd, 1 << VF_BAR, self->out,
			sizeof(self->out));
	ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 1 ", 20));
	importer_cmd(self->importer, "own", self->out, sizeof(self->out));
	ASSERT_STREQ("owned\n", self->out);
	if (self->vf[0]->info.flags & VFIO_DEVICE_FLAGS_RESET) {
		ASSERT_EQ(0, ioctl(self->vf[0]->fd, VFIO_DEVICE_RESET));
		importer_read(self->importer, self->out, sizeof(self->out));
		ASSERT_STREQ("invalidated: revoked live\n", self->out);
		importer_cmd(self->importer, "map", self->out,
			     sizeof(self->out));
		ASSERT_EQ(0, strncmp(self->out, "bar 0 vf 0 ranges 1 ", 20));
	}

	pid = vfs_start_removal(_metadata, self->vf[0], &req);
	/* The PF driver let go before the removal asked for the VFs */
	ASSERT_EQ(1, poll(&req, 1, 10000));
	importer_read(self->importer, self->out, sizeof(self->out));
	ASSERT_STREQ("detached: sriov_configure\n", self->out);
	vfs_release_for_removal(_metadata, self->vf, pid);
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, close(req.fd));
	vfs_enable();
}

static void bind_vfio_pci(const char *bdf)
{
	char path[128];
	char *driver;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	fd = open(path, O_WRONLY);
	VFIO_ASSERT_GE(fd, 0);
	VFIO_ASSERT_EQ(write(fd, "vfio-pci", 8), 8);
	close(fd);
	fd = open("/sys/bus/pci/drivers_probe", O_WRONLY);
	VFIO_ASSERT_GE(fd, 0);
	VFIO_ASSERT_EQ(write(fd, bdf, strlen(bdf)), (ssize_t)strlen(bdf));
	close(fd);
	driver = sysfs_driver_get(bdf);
	VFIO_ASSERT_NOT_NULL(driver);
	VFIO_ASSERT_EQ(strcmp(driver, "vfio-pci"), 0);
	free(driver);
}

static void vfs_enable(void)
{
	char path[128];
	int i, fd;

	/* No VF driver (igbvf, say) may take the VFs before vfio-pci. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_drivers_autoprobe",
		 pf_bdf);
	fd = open(path, O_WRONLY);
	VFIO_ASSERT_GE(fd, 0);
	VFIO_ASSERT_EQ(write(fd, "0", 1), 1);
	close(fd);
	sysfs_sriov_numvfs_set(pf_bdf, NR_VFS);
	for (i = 0; i < NR_VFS; i++) {
		free(vf_bdfs[i]);
		vf_bdfs[i] = sysfs_sriov_vf_bdf_get(pf_bdf, i);
		bind_vfio_pci(vf_bdfs[i]);
	}
}

static void vfs_disable(void)
{
	char path[128];
	int fd;

	/* The harness's children inherit the handler: the parent only. */
	if (getpid() != main_pid)
		return;
	sysfs_sriov_numvfs_set(pf_bdf, 0);
	/* Back to the default, which vfs_enable() turned off */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_drivers_autoprobe",
		 pf_bdf);
	fd = open(path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			perror(path);
		close(fd);
	}
}

int main(int argc, char *argv[])
{
	char **bdfs;
	int nr;

	if (argc == 3 && !strcmp(argv[1], REMOVE_VFS)) {
		sysfs_sriov_numvfs_set(argv[2], 0);
		return 0;
	}
	bdfs = vfio_selftests_get_bdfs(&argc, argv, &nr);
	if (nr != 2)
		ksft_exit_fail_msg("usage: %s PF_BDF OTHER_BDF\n", argv[0]);
	pf_bdf = bdfs[0];
	other_bdf = bdfs[1];
	pg = getpagesize();
	if (sysfs_sriov_totalvfs_get(pf_bdf) < NR_VFS)
		ksft_exit_skip("%s cannot enable %d VFs\n", pf_bdf, NR_VFS);
	if (sysfs_sriov_numvfs_get(pf_bdf))
		ksft_exit_skip("%s has VFs already\n", pf_bdf);
	main_pid = getpid();
	VFIO_ASSERT_EQ(atexit(vfs_disable), 0);
	vfs_enable();
	printf("PF %s, VFs %s %s, other device %s\n", pf_bdf, vf_bdfs[0],
	       vf_bdfs[1], other_bdf);

	return test_harness_run(argc, argv);
}
