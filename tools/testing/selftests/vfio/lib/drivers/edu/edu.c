// SPDX-License-Identifier: GPL-2.0-only
/*
 * Driver for QEMU's "edu" device, an educational PCI device with a DMA
 * engine, so that the VFIO selftests that need DMA run on any QEMU.
 *
 * The engine moves data between guest memory (an IOVA) and a 4 KiB buffer
 * inside the device, one transfer at a time. A memcpy is two transfers:
 * source to buffer, then buffer to destination.
 *
 * QEMU masks every address the engine puts on the bus with the device's
 * dma_mask property, 28 bits unless the command line sets it: an IOVA
 * above the mask is cut, not refused, and the transfer goes elsewhere
 * with no error the guest can see (QEMU only logs "clamping" on its own
 * console). The tests choose their IOVAs (or the IOVA allocator does),
 * not this driver, so the guest must give edu a mask that covers them,
 * e.g. "-device edu,dma_mask=0xffffffffff".
 */
#include <stdint.h>
#include <unistd.h>

#include <linux/errno.h>
#include <linux/io.h>
#include <linux/sizes.h>

#include <libvfio.h>

#define PCI_VENDOR_ID_QEMU		0x1234
#define PCI_DEVICE_ID_QEMU_EDU		0x11e8

/* BAR 0 registers */
#define EDU_IDENT			0x00	/* 0xRRrr00ed: major, minor */
#define EDU_LIVENESS			0x04	/* reads back the inverse */
#define EDU_IRQ_STATUS			0x24
#define EDU_IRQ_RAISE			0x60
#define EDU_IRQ_ACK			0x64
#define EDU_DMA_SRC			0x80
#define EDU_DMA_DST			0x88
#define EDU_DMA_COUNT			0x90
#define EDU_DMA_CMD			0x98
#define  EDU_DMA_CMD_START		0x1
#define  EDU_DMA_CMD_TO_RAM		0x2	/* buffer to RAM; else RAM to buffer */
#define  EDU_DMA_CMD_IRQ		0x4

/* The device's own address of its DMA buffer, and the buffer's size. */
#define EDU_BUFFER_ADDR			0x40000
#define EDU_BUFFER_SIZE			SZ_4K

/*
 * QEMU 7.2 stops the whole VM ("hardware error ... out of bounds") for a
 * transfer of exactly EDU_BUFFER_SIZE bytes: its bounds check is off by
 * one. Half the buffer is safe on every QEMU version.
 */
#define EDU_MAX_MEMCPY_SIZE		(EDU_BUFFER_SIZE / 2)

/*
 * Each transfer completes on a 100 ms QEMU timer: keep the storm of the
 * driver test short.
 */
#define EDU_MAX_MEMCPY_COUNT		8

/* The interrupt status bit this driver raises for send_msi(). */
#define EDU_MSI_STATUS			0x1

struct edu_state {
	iova_t src;
	iova_t dst;
	u64 size;
	u64 count;
};

static void *edu_bar(struct vfio_pci_device *device)
{
	return device->bars[0].vaddr;
}

static struct edu_state *to_edu_state(struct vfio_pci_device *device)
{
	return device->driver.region.vaddr;
}

static int edu_probe(struct vfio_pci_device *device)
{
	u32 ident;

	if (!vfio_pci_device_match(device, PCI_VENDOR_ID_QEMU,
				   PCI_DEVICE_ID_QEMU_EDU))
		return -EINVAL;

	VFIO_ASSERT_NOT_NULL(edu_bar(device));

	ident = readl(edu_bar(device) + EDU_IDENT);
	if ((ident & 0xff) != 0xed) {
		dev_err(device, "edu: unexpected ident 0x%x\n", ident);
		return -EINVAL;
	}

	/* The liveness register answers with the inverse of what it got. */
	writel(0x5a5aa5a5, edu_bar(device) + EDU_LIVENESS);
	if (readl(edu_bar(device) + EDU_LIVENESS) != ~0x5a5aa5a5u) {
		dev_err(device, "edu: liveness check failed\n");
		return -EINVAL;
	}
	return 0;
}

static void edu_dma_wait(struct vfio_pci_device *device)
{
	/* A transfer takes about 100 ms; give it 10 s. */
	int attempts = 10000;

	while (readl(edu_bar(device) + EDU_DMA_CMD) & EDU_DMA_CMD_START) {
		VFIO_ASSERT_GT(--attempts, 0, "edu: DMA did not complete\n");
		usleep(1000);
	}
}

/* Start a transfer; it completes about 100 ms later. */
static void edu_dma_start(struct vfio_pci_device *device, u64 src, u64 dst,
			  u64 size, u32 cmd)
{
	void *bar = edu_bar(device);

	writeq(src, bar + EDU_DMA_SRC);
	writeq(dst, bar + EDU_DMA_DST);
	writeq(size, bar + EDU_DMA_COUNT);
	writel(cmd | EDU_DMA_CMD_START, bar + EDU_DMA_CMD);
}

static void edu_dma(struct vfio_pci_device *device, u64 src, u64 dst,
		    u64 size, u32 cmd)
{
	edu_dma_start(device, src, dst, size, cmd);
	edu_dma_wait(device);
}

static void edu_init(struct vfio_pci_device *device)
{
	struct edu_state *edu = to_edu_state(device);

	VFIO_ASSERT_GE(device->driver.region.size, sizeof(*edu));

	vfio_pci_config_writew(device, PCI_COMMAND,
			       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			       PCI_COMMAND_INTX_DISABLE);

	/* A transfer a previous user left running must not land later. */
	edu_dma_wait(device);
	writel(readl(edu_bar(device) + EDU_IRQ_STATUS),
	       edu_bar(device) + EDU_IRQ_ACK);

	vfio_pci_msi_enable(device, 0, 1);

	device->driver.msi = 0;
	device->driver.max_memcpy_size = EDU_MAX_MEMCPY_SIZE;
	device->driver.max_memcpy_count = EDU_MAX_MEMCPY_COUNT;
}

static void edu_remove(struct vfio_pci_device *device)
{
	edu_dma_wait(device);
	vfio_pci_msi_disable(device);
}

/*
 * The engine has no queue and copies through its own buffer:
 * memcpy_start() records the request, does the first DMA read of @src
 * into the buffer and starts the DMA write of the buffer to @dst, which
 * is still in flight when it returns (for about 100 ms: a test can act
 * on the target while the write is pending); memcpy_wait() waits for it
 * and does the rest.
 */
static void edu_memcpy_start(struct vfio_pci_device *device,
			     iova_t src, iova_t dst, u64 size, u64 count)
{
	struct edu_state *edu = to_edu_state(device);

	*edu = (struct edu_state) {
		.src = src, .dst = dst, .size = size, .count = count,
	};
	edu_dma(device, src, EDU_BUFFER_ADDR, size, 0);
	edu_dma_start(device, EDU_BUFFER_ADDR, dst, size, EDU_DMA_CMD_TO_RAM);
}

static int edu_memcpy_wait(struct vfio_pci_device *device)
{
	struct edu_state *edu = to_edu_state(device);
	u64 i;

	edu_dma_wait(device);
	for (i = 1; i < edu->count; i++) {
		edu_dma(device, edu->src, EDU_BUFFER_ADDR, edu->size, 0);
		edu_dma(device, EDU_BUFFER_ADDR, edu->dst, edu->size,
			EDU_DMA_CMD_TO_RAM);
	}
	/* edu does not report DMA faults: nothing to check. */
	return 0;
}

static void edu_send_msi(struct vfio_pci_device *device)
{
	void *bar = edu_bar(device);

	writel(EDU_MSI_STATUS, bar + EDU_IRQ_RAISE);
	writel(EDU_MSI_STATUS, bar + EDU_IRQ_ACK);
}

const struct vfio_pci_driver_ops edu_ops = {
	.name = "edu",
	.probe = edu_probe,
	.init = edu_init,
	.remove = edu_remove,
	.memcpy_start = edu_memcpy_start,
	.memcpy_wait = edu_memcpy_wait,
	.send_msi = edu_send_msi,
};
