// SPDX-License-Identifier: GPL-2.0-only
/*
 * p2p_demo: the narrated demonstration of `make run`. A PCI BAR is
 * exported as a dma-buf, mapped into an iommufd IOAS, a DMA engine writes
 * into it through the IOMMU, the BAR is revoked (memory decode off) and
 * the next DMA is blocked, then the dma-buf is mapped again.
 *
 * usage: p2p_demo BAR_BDF EDU_BDF
 *
 * BAR_BDF is an ivshmem-plain (BAR 2, a file on the host), EDU_BDF QEMU's
 * edu device, both bound to vfio-pci. Each step prints one or two plain
 * sentences and its figures on lines that start with "DEMO "; a line
 * "DEMO-HOST <offset> <length> <what>" asks ci/run to show those bytes of
 * the host's ivshmem file after the guest powers off.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_COUNT		0x90
#define EDU_DMA_CMD		0x98
#define EDU_DMA_START		0x1
#define EDU_DMA_TO_RAM		0x2	/* edu's buffer to the address */
#define EDU_BUFFER		0x40000

#define RAM_IOVA		0x10000000ULL
#define BAR_IOVA		0x40000000ULL
#define RANGE_LEN		0x10000ULL	/* each range of the dma-buf */
#define MSG_LEN			64

struct dev {
	const char *bdf;
	int fd;
	off_t cfg;		/* offset of the config region */
};

static int iommufd;
static uint32_t ioas;

static void die(const char *what)
{
	fprintf(stderr, "p2p_demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void say(const char *fmt, ...)
{
	va_list ap;

	printf("DEMO ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void open_dev(struct dev *d)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg),
					.index = VFIO_PCI_CONFIG_REGION_INDEX };
	char path[512];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", d->bdf);
	dir = opendir(path);
	if (!dir)
		die(path);
	while ((de = readdir(dir)) && strncmp(de->d_name, "vfio", 4))
		;
	if (!de)
		die("no VFIO cdev");
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", de->d_name);
	closedir(dir);
	d->fd = open(path, O_RDWR);
	if (d->fd < 0)
		die(path);
	bind.iommufd = iommufd;
	if (ioctl(d->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		die("VFIO_DEVICE_BIND_IOMMUFD");
	at.pt_id = ioas;
	if (ioctl(d->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		die("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &cfg))
		die("config region");
	d->cfg = cfg.offset;
}

static uint16_t command(struct dev *d)
{
	uint16_t cmd;

	if (pread(d->fd, &cmd, 2, d->cfg + PCI_COMMAND) != 2)
		die("read PCI_COMMAND");
	return cmd;
}

static void set_command(struct dev *d, uint16_t cmd)
{
	if (pwrite(d->fd, &cmd, 2, d->cfg + PCI_COMMAND) != 2)
		die("write PCI_COMMAND");
}

static void *map_region(struct dev *d, unsigned int index, uint64_t *size,
			uint64_t *phys)
{
	struct vfio_region_info info = { .argsz = sizeof(info), .index = index };
	unsigned long long start;
	char path[256];
	void *p;
	FILE *f;
	unsigned int i;

	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &info))
		die("VFIO_DEVICE_GET_REGION_INFO");
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		 info.offset);
	if (p == MAP_FAILED)
		die("mmap BAR");
	*size = info.size;
	if (phys) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource",
			 d->bdf);
		f = fopen(path, "r");
		if (!f)
			die(path);
		for (i = 0; i <= index; i++)
			if (fscanf(f, "%llx %*x %*x", &start) != 1)
				die("resource");
		fclose(f);
		*phys = start;
	}
	return p;
}

/* The dma-buf of two ranges of BAR 2, the second one first. */
static int export(struct dev *d)
{
	size_t sz = sizeof(struct vfio_device_feature) +
		    sizeof(struct vfio_device_feature_dma_buf) +
		    2 * sizeof(struct vfio_region_dma_range);
	struct vfio_device_feature_dma_buf *db;
	struct vfio_device_feature *feat;
	int fd;

	feat = calloc(1, sz);
	if (!feat)
		die("calloc");
	feat->argsz = sz;
	feat->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	db = (void *)feat->data;
	db->region_index = VFIO_PCI_BAR2_REGION_INDEX;
	db->open_flags = O_RDWR | O_CLOEXEC;
	db->nr_ranges = 2;
	db->dma_ranges[0].offset = 0x100000;
	db->dma_ranges[0].length = RANGE_LEN;
	db->dma_ranges[1].offset = 0;
	db->dma_ranges[1].length = RANGE_LEN;
	fd = ioctl(d->fd, VFIO_DEVICE_FEATURE, feat);
	if (fd < 0)
		die("VFIO_DEVICE_FEATURE_DMA_BUF");
	free(feat);
	return fd;
}

static int map_file(int fd)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.fd = fd,
		.length = 2 * RANGE_LEN,
		.iova = BAR_IOVA,
	};

	return ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &cmd) ? -errno : 0;
}

static void unmap_iova(uint64_t iova, uint64_t len)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.iova = iova,
		.length = len,
	};

	if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd))
		die("IOMMU_IOAS_UNMAP");
}

/*
 * The leaves of the edu device's I/O page table in the dma-buf's IOVA
 * window (intel-iommu debugfs): one line per IOPTE, the IOVA and the
 * physical address it points to. Returns how many.
 */
static int show_ioptes(struct dev *d, bool print)
{
	char path[256], line[512], *last, *p;
	unsigned long long pfn, pte;
	int n = 0, k;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/kernel/debug/iommu/intel/%s/domain_translation_struct",
		 d->bdf);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "0x%llx |%n", &pfn, &k) != 1)
			continue;
		if (pfn < BAR_IOVA >> 12 || pfn >= (BAR_IOVA + 2 * RANGE_LEN) >> 12)
			continue;
		last = NULL;
		for (p = strtok(line + k, " \t\n"); p; p = strtok(NULL, " \t\n"))
			last = p;
		if (!last || sscanf(last, "0x%llx", &pte) != 1)
			continue;
		if (print && (n < 2 || pfn == ((BAR_IOVA + 2 * RANGE_LEN) >> 12) - 1))
			say("  IOVA 0x%llx -> physical 0x%llx", pfn << 12,
			    pte & 0x000ffffffffff000ULL);
		else if (print && n == 2)
			say("  ...");
		n++;
	}
	fclose(f);
	return n;
}

static void edu_dma(volatile uint8_t *edu, uint64_t src, uint64_t dst,
		    uint32_t len, uint32_t cmd)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	*(volatile uint64_t *)(edu + EDU_DMA_SRC) = src;
	*(volatile uint64_t *)(edu + EDU_DMA_DST) = dst;
	*(volatile uint64_t *)(edu + EDU_DMA_COUNT) = len;
	*(volatile uint64_t *)(edu + EDU_DMA_CMD) = cmd | EDU_DMA_START;
	for (i = 0; i < 500; i++) {
		if (!(*(volatile uint64_t *)(edu + EDU_DMA_CMD) & EDU_DMA_START))
			return;
		nanosleep(&ts, NULL);
	}
	errno = ETIMEDOUT;
	die("edu DMA");
}

/* The IOMMU's fault reports the kernel printed since the last call. */
static int show_faults(int kmsg)
{
	char rec[1024], *msg;
	int n = 0;
	ssize_t r;

	while ((r = read(kmsg, rec, sizeof(rec) - 1)) > 0) {
		rec[r] = 0;
		msg = strchr(rec, ';');
		if (!msg || !strstr(msg, "fault addr"))
			continue;
		rec[strcspn(rec, "\n")] = 0;
		say("  kernel: %s", msg + 1);
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_ioas_map ram_map = { .size = sizeof(ram_map) };
	struct dev bar = { 0 }, edu = { 0 };
	uint64_t bar_size, bar_phys, edu_size;
	volatile uint8_t *bar2, *edu0;
	char msg[MSG_LEN];
	char *ram;
	int dmabuf, kmsg, n, ret;

	if (argc != 3) {
		fprintf(stderr, "usage: %s BAR_BDF EDU_BDF\n", argv[0]);
		return 2;
	}
	bar.bdf = argv[1];
	edu.bdf = argv[2];
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg < 0)
		die("/dev/kmsg");
	lseek(kmsg, 0, SEEK_END);

	iommufd = open("/dev/iommu", O_RDWR);
	if (iommufd < 0)
		die("/dev/iommu");
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc))
		die("IOMMU_IOAS_ALLOC");
	ioas = alloc.out_ioas_id;
	open_dev(&bar);
	open_dev(&edu);
	set_command(&bar, command(&bar) | PCI_COMMAND_MEMORY);
	set_command(&edu, command(&edu) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	bar2 = map_region(&bar, VFIO_PCI_BAR2_REGION_INDEX, &bar_size, &bar_phys);
	edu0 = map_region(&edu, VFIO_PCI_BAR0_REGION_INDEX, &edu_size, NULL);
	say("Two PCI devices in one iommufd IOAS: the exporter %s (ivshmem, BAR 2 of %llu MiB at physical 0x%llx, a file on the host) and the DMA engine %s (QEMU's edu).",
	    bar.bdf, (unsigned long long)bar_size >> 20,
	    (unsigned long long)bar_phys, edu.bdf);

	/* 1. export */
	dmabuf = export(&bar);
	say("");
	say("1. VFIO exports two ranges of BAR 2 as one dma-buf (fd %d), the later range first:",
	    dmabuf);
	say("  range 0: BAR offset 0x100000, 64 KiB (physical 0x%llx)",
	    (unsigned long long)bar_phys + 0x100000);
	say("  range 1: BAR offset 0x0, 64 KiB (physical 0x%llx)",
	    (unsigned long long)bar_phys);

	/* 2. map */
	ret = map_file(dmabuf);
	if (ret) {
		errno = -ret;
		die("IOMMU_IOAS_MAP_FILE");
	}
	say("");
	say("2. iommufd maps the dma-buf at IOVA 0x%llx with IOMMU_IOAS_MAP_FILE: it asks for the physical address list mapping type, and the IOMMU now has these entries for the engine:",
	    (unsigned long long)BAR_IOVA);
	n = show_ioptes(&edu, true);
	say("  %d IOPTEs of 4 KiB: the two ranges are not contiguous in the BAR.", n);

	/* 3. DMA into the BAR */
	ram = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap");
	memset(msg, 0, sizeof(msg));
	snprintf(msg, sizeof(msg), "written by edu through the IOMMU");
	memcpy(ram, msg, sizeof(msg));
	ram_map.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			IOMMU_IOAS_MAP_WRITEABLE;
	ram_map.ioas_id = ioas;
	ram_map.user_va = (uintptr_t)ram;
	ram_map.length = 4096;
	ram_map.iova = RAM_IOVA;
	if (ioctl(iommufd, IOMMU_IOAS_MAP, &ram_map))
		die("IOMMU_IOAS_MAP");
	edu_dma(edu0, RAM_IOVA, EDU_BUFFER, MSG_LEN, 0);
	edu_dma(edu0, EDU_BUFFER, BAR_IOVA + 0x100, MSG_LEN, EDU_DMA_TO_RAM);
	say("");
	say("3. edu copies %d bytes from RAM to IOVA 0x%llx (range 0, so BAR offset 0x100100). Read back through the BAR's mmap in the guest:",
	    MSG_LEN, (unsigned long long)BAR_IOVA + 0x100);
	say("  \"%.*s\"", MSG_LEN, (const char *)(bar2 + 0x100100));
	printf("DEMO-HOST 0x100100 %d the DMA of step 3\n", MSG_LEN);

	/* 4. revoke */
	set_command(&bar, command(&bar) & ~PCI_COMMAND_MEMORY);
	say("");
	say("4. Memory decode of the exporter is turned off: VFIO revokes the dma-buf, and iommufd removes its IOPTEs before the config write returns: %d left.",
	    show_ioptes(&edu, false));
	show_faults(kmsg);
	edu_dma(edu0, EDU_BUFFER, BAR_IOVA + 0x200, MSG_LEN, EDU_DMA_TO_RAM);
	usleep(200000);
	n = show_faults(kmsg);
	say("  edu's next DMA, to IOVA 0x%llx, is blocked: the IOMMU reported %d fault%s (above), and the BAR is not written (see the host's file below).",
	    (unsigned long long)BAR_IOVA + 0x200, n, n == 1 ? "" : "s");
	printf("DEMO-HOST 0x100200 %d the blocked DMA of step 4 (zeros: never written)\n",
	       MSG_LEN);

	/* 5. map again */
	set_command(&bar, command(&bar) | PCI_COMMAND_MEMORY);
	ret = map_file(dmabuf);
	say("");
	say("5. Decode on again. An IOMMU_IOAS_MAP_FILE mapping is not restored by itself (user space decides): %s.",
	    ret == -EEXIST ? "mapping the same IOVA again fails with EEXIST while the old, revoked area is there" :
	    "the revoked area is still in the IOAS");
	unmap_iova(BAR_IOVA, 2 * RANGE_LEN);
	ret = map_file(dmabuf);
	if (ret) {
		errno = -ret;
		die("IOMMU_IOAS_MAP_FILE again");
	}
	n = show_ioptes(&edu, false);
	memset(msg, 0, sizeof(msg));
	snprintf(msg, sizeof(msg), "written again after the revoke ended");
	memcpy(ram, msg, sizeof(msg));
	edu_dma(edu0, RAM_IOVA, EDU_BUFFER, MSG_LEN, 0);
	edu_dma(edu0, EDU_BUFFER, BAR_IOVA + 0x10300, MSG_LEN, EDU_DMA_TO_RAM);
	say("  Unmapped and mapped again: %d IOPTEs, and edu's DMA to IOVA 0x%llx (range 1, BAR offset 0x300) lands:",
	    n, (unsigned long long)BAR_IOVA + 0x10300);
	say("  \"%.*s\"", MSG_LEN, (const char *)(bar2 + 0x300));
	printf("DEMO-HOST 0x300 %d the DMA of step 5\n", MSG_LEN);
	return 0;
}
