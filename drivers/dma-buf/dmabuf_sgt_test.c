// SPDX-License-Identifier: GPL-2.0-only
/*
 * A test importer of dma-bufs through the scatterlist API: a driver for
 * QEMU's "edu" device that imports a dma-buf the way the driver of a DMA
 * engine (a GPU, an RDMA NIC) does, with dma_buf_dynamic_attach() and
 * dma_buf_map_attachment(), and has the device DMA to and from the
 * addresses it got. With the BAR of another device behind the dma-buf,
 * that is peer-to-peer DMA as such drivers do it.
 *
 * It binds to an edu device only through driver_override. Each bound
 * device has a debugfs directory dma_buf_sgt_test/DDDD:BB:DD.F/ with two
 * files:
 *
 *   buf  the 2 KiB of RAM that the transfers copy from and into
 *   ctl  commands, one per write:
 *
 *     attach FD [nop2p|static]    attach the dma-buf FD as a dynamic
 *                          importer that allows P2P and is notified
 *                          by invalidate_mappings; "nop2p" does not
 *                          allow P2P, "static" has no invalidate_mappings
 *                          (an importer that cannot be revoked)
 *     map                  map the attachment (the old mapping, if any,
 *                          is unmapped first)
 *     to OFF LEN           DMA LEN bytes from buf into the dma-buf at
 *                          offset OFF
 *     from OFF LEN         DMA LEN bytes from the dma-buf at OFF into buf
 *     stale OFF LEN        as "to", at the address that OFF had in the
 *                          last mapping, even when that mapping is gone:
 *                          what a device does that was not stopped
 *     detach               unmap and detach
 *     fence FD             add a fence of this importer to the reservation
 *                          object of the dma-buf FD (bookkeeping usage, as
 *                          a job that still uses the buffer), unsignaled:
 *                          an exporter that revokes the buffer waits for it
 *     signal               signal that fence
 *
 * A read of ctl returns the result of the last command: "ok", "mapped N"
 * and one "ADDRESS LENGTH" line (hex) for each of the N DMA segments, or
 * "error E" with a negative errno (the write of a command succeeds
 * whatever its result). It starts with "invalidated N" when the exporter
 * called invalidate_mappings N times since that command.
 * The importer unmaps in the callback, before it returns: the simplest
 * way to meet the callback's contract (stop using the mapping and unmap
 * it within a bounded time).
 *
 * The transfers hold the dma-buf's reservation lock instead of publishing
 * fences: an exporter that revokes the buffer waits for a transfer in
 * progress, and none starts while it revokes. A transfer that edu does
 * not finish in time leaves the device unusable ("error -5" from then
 * on): it might still write after the lock is dropped.
 */
#include <linux/debugfs.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/iopoll.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

/* QEMU's edu */
#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8
#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_COUNT		0x90
#define EDU_DMA_CMD		0x98
#define  EDU_DMA_CMD_START	0x1
#define  EDU_DMA_CMD_TO_PCI	0x2	/* buffer to the address; else from it */
/* The device's address of its DMA buffer */
#define EDU_BUFFER_ADDR		0x40000
/* Half of edu's 4 KiB buffer: QEMU 7.2 refuses a transfer of all of it. */
#define SGT_TEST_BUF_SIZE	SZ_2K
/* Each transfer ends on a 100 ms QEMU timer. */
#define EDU_DMA_TIMEOUT_US	(5 * USEC_PER_SEC)

#define SGT_TEST_MAX_SEGS	16
#define SGT_TEST_RESULT_SIZE	SZ_4K

/**
 * struct sgt_test - one edu device bound to the test importer
 * @pdev: the device
 * @mmio: its BAR 0
 * @dir: its debugfs directory
 * @lock: serializes the commands, the transfers and the result
 * @buf: the RAM the transfers copy from and into
 * @buf_dma: @buf's DMA address
 * @dmabuf: the attached dma-buf, holding a reference
 * @attach: the attachment
 * @sgt: the mapping; under the reservation lock
 * @segs: the DMA segments of the last mapping, also after it is unmapped
 * @nr_segs: the number of @segs
 * @invalidations: calls of invalidate_mappings since the last command;
 *	under the reservation lock
 * @dead: a transfer did not end in time: no more transfers
 * @fence: the fence of "fence", until "signal"
 * @result: the result of the last command
 * @result_len: its length
 */
struct sgt_test {
	struct pci_dev *pdev;
	void __iomem *mmio;
	struct dentry *dir;
	struct mutex lock;	/* commands, transfers, the result */
	void *buf;
	dma_addr_t buf_dma;
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	struct {
		dma_addr_t addr;
		u64 len;
	} segs[SGT_TEST_MAX_SEGS];
	unsigned int nr_segs;
	unsigned int invalidations;
	bool dead;
	struct dma_fence *fence;
	char result[SGT_TEST_RESULT_SIZE];
	size_t result_len;
};

static struct dentry *sgt_test_root;

static __printf(2, 3) void sgt_test_printf(struct sgt_test *t,
					   const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	t->result_len += vscnprintf(t->result + t->result_len,
				    sizeof(t->result) - t->result_len, fmt, args);
	va_end(args);
}

/*
 * @attach is t->attach, passed in: invalidate_mappings can run before
 * dma_buf_dynamic_attach() has returned it.
 */
static void sgt_test_unmap(struct sgt_test *t,
			   struct dma_buf_attachment *attach)
{
	dma_resv_assert_held(attach->dmabuf->resv);
	if (t->sgt) {
		dma_buf_unmap_attachment(attach, t->sgt, DMA_BIDIRECTIONAL);
		t->sgt = NULL;
	}
}

static void sgt_test_invalidate(struct dma_buf_attachment *attach)
{
	struct sgt_test *t = attach->importer_priv;

	/* No transfer runs: they hold the reservation lock too. */
	sgt_test_unmap(t, attach);
	t->invalidations++;
}

static const struct dma_buf_attach_ops sgt_test_p2p_ops = {
	.allow_peer2peer = true,
	.invalidate_mappings = sgt_test_invalidate,
};

static const struct dma_buf_attach_ops sgt_test_nop2p_ops = {
	.invalidate_mappings = sgt_test_invalidate,
};

/* P2P, and nothing that lets the exporter revoke the mapping. */
static const struct dma_buf_attach_ops sgt_test_static_ops = {
	.allow_peer2peer = true,
};

/* One transfer between edu's buffer and @addr, waited for. */
static int sgt_test_edu_dma(struct sgt_test *t, dma_addr_t addr, u32 len,
			    bool to_addr)
{
	u32 cmd = EDU_DMA_CMD_START;

	if (to_addr) {
		writeq(EDU_BUFFER_ADDR, t->mmio + EDU_DMA_SRC);
		writeq(addr, t->mmio + EDU_DMA_DST);
		cmd |= EDU_DMA_CMD_TO_PCI;
	} else {
		writeq(addr, t->mmio + EDU_DMA_SRC);
		writeq(EDU_BUFFER_ADDR, t->mmio + EDU_DMA_DST);
	}
	writeq(len, t->mmio + EDU_DMA_COUNT);
	writel(cmd, t->mmio + EDU_DMA_CMD);
	if (readl_poll_timeout(t->mmio + EDU_DMA_CMD, cmd,
			       !(cmd & EDU_DMA_CMD_START), 1000,
			       EDU_DMA_TIMEOUT_US)) {
		pci_err(t->pdev, "DMA did not end in %lu us\n", EDU_DMA_TIMEOUT_US);
		t->dead = true;
		return -EIO;
	}
	return 0;
}

/*
 * The DMA address of dma-buf offset @off in the last mapping, if @len
 * bytes from there are in one segment and below the device's DMA mask
 * (edu would clamp an address above it, and write somewhere else).
 */
static int sgt_test_addr(struct sgt_test *t, u64 off, u32 len,
			 dma_addr_t *addr)
{
	unsigned int i;

	for (i = 0; i < t->nr_segs; i++) {
		if (off < t->segs[i].len) {
			if (len > t->segs[i].len - off)
				return -ERANGE;
			*addr = t->segs[i].addr + off;
			if (*addr + len - 1 > dma_get_mask(&t->pdev->dev))
				return -ERANGE;
			return 0;
		}
		off -= t->segs[i].len;
	}
	return -ERANGE;
}

/* "to", "from" and "stale": two transfers, through edu's buffer. */
static int sgt_test_transfer(struct sgt_test *t, const char *args,
			     bool to_dmabuf, bool stale)
{
	dma_addr_t addr;
	u64 off;
	u32 len;
	int ret;

	if (sscanf(args, "%llx %x", &off, &len) != 2 || !len ||
	    len > SGT_TEST_BUF_SIZE)
		return -EINVAL;
	if (!t->attach)
		return -ENOENT;
	if (t->dead)
		return -EIO;

	dma_resv_lock(t->dmabuf->resv, NULL);
	if (!t->sgt && !stale) {
		ret = -ENODEV;
		goto out;
	}
	ret = sgt_test_addr(t, off, len, &addr);
	if (ret)
		goto out;
	if (to_dmabuf) {
		ret = sgt_test_edu_dma(t, t->buf_dma, len, false);
		if (!ret)
			ret = sgt_test_edu_dma(t, addr, len, true);
	} else {
		ret = sgt_test_edu_dma(t, addr, len, false);
		if (!ret)
			ret = sgt_test_edu_dma(t, t->buf_dma, len, true);
	}
out:
	dma_resv_unlock(t->dmabuf->resv);
	if (!ret)
		sgt_test_printf(t, "ok\n");
	return ret;
}

static int sgt_test_map(struct sgt_test *t)
{
	struct scatterlist *sg;
	struct sg_table *sgt;
	unsigned int i;
	int ret = 0;

	if (!t->attach)
		return -ENOENT;

	dma_resv_lock(t->dmabuf->resv, NULL);
	sgt_test_unmap(t, t->attach);
	sgt = dma_buf_map_attachment(t->attach, DMA_BIDIRECTIONAL);
	if (IS_ERR(sgt)) {
		ret = PTR_ERR(sgt);
		goto out;
	}
	if (sgt->nents > SGT_TEST_MAX_SEGS) {
		dma_buf_unmap_attachment(t->attach, sgt, DMA_BIDIRECTIONAL);
		ret = -E2BIG;
		goto out;
	}
	t->sgt = sgt;
	t->nr_segs = 0;
	sgt_test_printf(t, "mapped %u\n", sgt->nents);
	for_each_sgtable_dma_sg(sgt, sg, i) {
		t->segs[i].addr = sg_dma_address(sg);
		t->segs[i].len = sg_dma_len(sg);
		t->nr_segs++;
		sgt_test_printf(t, "%llx %llx\n", (u64)t->segs[i].addr,
				t->segs[i].len);
	}
out:
	dma_resv_unlock(t->dmabuf->resv);
	return ret;
}

static void sgt_test_detach(struct sgt_test *t)
{
	if (!t->attach)
		return;
	dma_resv_lock(t->dmabuf->resv, NULL);
	sgt_test_unmap(t, t->attach);
	dma_resv_unlock(t->dmabuf->resv);
	dma_buf_detach(t->dmabuf, t->attach);
	dma_buf_put(t->dmabuf);
	t->attach = NULL;
	t->dmabuf = NULL;
	t->nr_segs = 0;
}

static int sgt_test_attach(struct sgt_test *t, const char *args)
{
	const struct dma_buf_attach_ops *ops = &sgt_test_p2p_ops;
	struct dma_buf_attachment *attach;
	struct dma_buf *dmabuf;
	char opt[8] = "";
	char extra;
	int fd, n;

	if (t->attach)
		return -EBUSY;
	/* One option at most: each is an importer of its own */
	n = sscanf(args, "%d %7s %c", &fd, opt, &extra);
	if (n < 1 || n > 2)
		return -EINVAL;
	if (n == 2) {
		if (!strcmp(opt, "nop2p"))
			ops = &sgt_test_nop2p_ops;
		else if (!strcmp(opt, "static"))
			ops = &sgt_test_static_ops;
		else
			return -EINVAL;
	}

	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	/* Nothing is attached: no invalidate_mappings can count */
	t->invalidations = 0;
	attach = dma_buf_dynamic_attach(dmabuf, &t->pdev->dev, ops, t);
	if (IS_ERR(attach)) {
		dma_buf_put(dmabuf);
		return PTR_ERR(attach);
	}
	t->dmabuf = dmabuf;
	t->attach = attach;
	sgt_test_printf(t, "ok\n");
	return 0;
}

static const char *sgt_test_fence_name(struct dma_fence *fence)
{
	return "dma_buf_sgt_test";
}

/*
 * A fence outlives the device in the reservation objects that hold it:
 * it carries its own lock. The default release frees it (base first).
 */
struct sgt_test_fence {
	struct dma_fence base;
	spinlock_t lock;	/* of @base */
};

static const struct dma_fence_ops sgt_test_fence_ops = {
	.get_driver_name = sgt_test_fence_name,
	.get_timeline_name = sgt_test_fence_name,
};

/* "fence FD": a job of this importer that has not finished */
static int sgt_test_fence(struct sgt_test *t, const char *args)
{
	struct sgt_test_fence *f;
	struct dma_fence *fence;
	struct dma_buf *dmabuf;
	int fd, ret;
	char extra;

	if (t->fence)
		return -EBUSY;
	if (sscanf(args, "%d %c", &fd, &extra) != 1)
		return -EINVAL;
	f = kzalloc_obj(*f);
	if (!f)
		return -ENOMEM;
	spin_lock_init(&f->lock);
	fence = &f->base;
	dma_fence_init(fence, &sgt_test_fence_ops, &f->lock,
		       dma_fence_context_alloc(1), 1);

	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf)) {
		dma_fence_put(fence);
		return PTR_ERR(dmabuf);
	}
	dma_resv_lock(dmabuf->resv, NULL);
	ret = dma_resv_reserve_fences(dmabuf->resv, 1);
	if (!ret)
		dma_resv_add_fence(dmabuf->resv, fence,
				   DMA_RESV_USAGE_BOOKKEEP);
	dma_resv_unlock(dmabuf->resv);
	dma_buf_put(dmabuf);
	if (ret) {
		dma_fence_put(fence);
		return ret;
	}
	t->fence = fence;
	sgt_test_printf(t, "ok\n");
	return 0;
}

/* "signal": the job is done; also at unbind */
static void sgt_test_signal(struct sgt_test *t)
{
	if (!t->fence)
		return;
	dma_fence_signal(t->fence);
	dma_fence_put(t->fence);
	t->fence = NULL;
}

static ssize_t sgt_test_ctl_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	struct sgt_test *t = file->private_data;
	char cmd[64];
	int ret;

	if (count >= sizeof(cmd))
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, count))
		return -EFAULT;
	cmd[count] = 0;
	strim(cmd);

	mutex_lock(&t->lock);
	t->result_len = 0;
	if (t->dmabuf) {
		dma_resv_lock(t->dmabuf->resv, NULL);
		t->invalidations = 0;
		dma_resv_unlock(t->dmabuf->resv);
	}
	if (!strncmp(cmd, "attach ", 7)) {
		ret = sgt_test_attach(t, cmd + 7);
	} else if (!strcmp(cmd, "map")) {
		ret = sgt_test_map(t);
	} else if (!strncmp(cmd, "to ", 3)) {
		ret = sgt_test_transfer(t, cmd + 3, true, false);
	} else if (!strncmp(cmd, "from ", 5)) {
		ret = sgt_test_transfer(t, cmd + 5, false, false);
	} else if (!strncmp(cmd, "stale ", 6)) {
		ret = sgt_test_transfer(t, cmd + 6, true, true);
	} else if (!strcmp(cmd, "detach")) {
		sgt_test_detach(t);
		sgt_test_printf(t, "ok\n");
		ret = 0;
	} else if (!strncmp(cmd, "fence ", 6)) {
		ret = sgt_test_fence(t, cmd + 6);
	} else if (!strcmp(cmd, "signal")) {
		ret = t->fence ? 0 : -EINVAL;
		sgt_test_signal(t);
		if (!ret)
			sgt_test_printf(t, "ok\n");
	} else {
		ret = -EINVAL;
	}
	if (ret) {
		t->result_len = 0;
		sgt_test_printf(t, "error %d\n", ret);
	}
	mutex_unlock(&t->lock);
	return count;
}

static ssize_t sgt_test_ctl_read(struct file *file, char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct sgt_test *t = file->private_data;
	unsigned int invalidations = 0;
	char head[32] = "";
	ssize_t ret;
	size_t len;
	char *out;

	mutex_lock(&t->lock);
	if (t->dmabuf) {
		dma_resv_lock(t->dmabuf->resv, NULL);
		invalidations = t->invalidations;
		dma_resv_unlock(t->dmabuf->resv);
	}
	if (invalidations)
		snprintf(head, sizeof(head), "invalidated %u\n", invalidations);
	len = strlen(head) + t->result_len;
	out = kmalloc(len + 1, GFP_KERNEL);
	if (!out) {
		mutex_unlock(&t->lock);
		return -ENOMEM;
	}
	snprintf(out, len + 1, "%s%.*s", head, (int)t->result_len, t->result);
	mutex_unlock(&t->lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, out, len);
	kfree(out);
	return ret;
}

static const struct file_operations sgt_test_ctl_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = sgt_test_ctl_read,
	.write = sgt_test_ctl_write,
};

static ssize_t sgt_test_buf_read(struct file *file, char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct sgt_test *t = file->private_data;
	ssize_t ret;

	mutex_lock(&t->lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, t->buf,
				      SGT_TEST_BUF_SIZE);
	mutex_unlock(&t->lock);
	return ret;
}

static ssize_t sgt_test_buf_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	struct sgt_test *t = file->private_data;
	ssize_t ret;

	mutex_lock(&t->lock);
	ret = simple_write_to_buffer(t->buf, SGT_TEST_BUF_SIZE, ppos, ubuf,
				     count);
	mutex_unlock(&t->lock);
	return ret;
}

static const struct file_operations sgt_test_buf_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = sgt_test_buf_read,
	.write = sgt_test_buf_write,
	.llseek = default_llseek,
};

static int sgt_test_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct sgt_test *t;
	int ret;

	/*
	 * No ID table, so that nothing but driver_override binds the driver
	 * (and no module alias is published); driver_override binds any
	 * device: take an edu only.
	 */
	if (pdev->vendor != EDU_VENDOR || pdev->device != EDU_DEVICE)
		return -ENODEV;

	t = devm_kzalloc(&pdev->dev, sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t->pdev = pdev;
	ret = devm_mutex_init(&pdev->dev, &t->lock);
	if (ret)
		return ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	t->mmio = pcim_iomap_region(pdev, 0, KBUILD_MODNAME);
	if (IS_ERR(t->mmio))
		return PTR_ERR(t->mmio);
	/* edu's own default: 28 bits */
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(28));
	if (ret)
		return ret;
	t->buf = dmam_alloc_coherent(&pdev->dev, SGT_TEST_BUF_SIZE,
				     &t->buf_dma, GFP_KERNEL);
	if (!t->buf)
		return -ENOMEM;
	pci_set_master(pdev);

	t->dir = debugfs_create_dir(pci_name(pdev), sgt_test_root);
	debugfs_create_file("ctl", 0600, t->dir, t, &sgt_test_ctl_fops);
	debugfs_create_file_size("buf", 0600, t->dir, t, &sgt_test_buf_fops,
				 SGT_TEST_BUF_SIZE);
	pci_set_drvdata(pdev, t);
	return 0;
}

static void sgt_test_remove(struct pci_dev *pdev)
{
	struct sgt_test *t = pci_get_drvdata(pdev);

	/* No command runs once the files are gone. */
	debugfs_remove_recursive(t->dir);
	sgt_test_detach(t);
	sgt_test_signal(t);
	pci_clear_master(pdev);
}

static struct pci_driver sgt_test_driver = {
	.name = "dmabuf_sgt_test",
	.probe = sgt_test_probe,
	.remove = sgt_test_remove,
};

static int __init sgt_test_init(void)
{
	int ret;

	sgt_test_root = debugfs_create_dir("dma_buf_sgt_test", NULL);
	ret = pci_register_driver(&sgt_test_driver);
	if (ret)
		debugfs_remove_recursive(sgt_test_root);
	return ret;
}

static void __exit sgt_test_exit(void)
{
	pci_unregister_driver(&sgt_test_driver);
	debugfs_remove_recursive(sgt_test_root);
}

module_init(sgt_test_init);
module_exit(sgt_test_exit);
MODULE_DESCRIPTION("Test importer of dma-bufs with P2P DMA by QEMU's edu device");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("DMA_BUF");
