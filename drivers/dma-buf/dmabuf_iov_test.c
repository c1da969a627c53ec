// SPDX-License-Identifier: GPL-2.0-only
/*
 * A test importer of the PCI IOV mapping type: imports a dma-buf as the
 * physical function of the virtual function that exported it, the way a
 * PF driver would, and tells user space the ranges it got.
 *
 * debugfs: dma_buf_iov_test/import. Each open file holds at most one
 * attachment. Commands, one per write:
 *
 *   attach DDDD:BB:DD.F FD MASK  attach the dma-buf FD from the PCI
 *                                function DDDD:BB:DD.F, accepting the VF
 *                                BARs of MASK, and map it
 *   map                          map the attachment again
 *   detach                       unmap and detach
 *
 * A read from offset 0 returns the result of the last command: "bar N vf V
 * ranges K" (V is the VF's number, pci_iov_vf_id()) and one "OFFSET
 * LENGTH" line (hex) per range, "detached", or "error E" with a negative
 * errno. If the exporter has invalidated the mappings since then (and the
 * importer gave the ranges back), it returns "invalidated:" and, for each
 * notification, " revoked" or " live": whether a map tried from the
 * callback failed with -ENODEV or worked. A revoke is notified through
 * invalidate_mappings, its end through mappings_available.
 */
#include <linux/debugfs.h>
#include <linux/dma-buf-mapping.h>
#include <linux/dma-resv.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define RESULT_SIZE	SZ_64K

struct iov_test {
	/* Serializes the commands and reads of one open file */
	struct mutex lock;
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct pci_dev *pf;
	/* Under the reservation lock */
	const struct dma_buf_iov_list *list;
	char events[64];
	char *result;
	size_t result_len;
};

static struct dentry *iov_test_dir;

/* Is the buffer revoked, or usable again, at this notification? */
static void iov_test_probe(struct iov_test *t, struct dma_buf_attachment *attach)
{
	const struct dma_buf_iov_list *probe;

	probe = dma_buf_iov_map(attach);
	if (!IS_ERR(probe))
		dma_buf_iov_unmap(attach, probe);
	strlcat(t->events, !IS_ERR(probe) ? " live" :
		PTR_ERR(probe) == -ENODEV ? " revoked" : " error",
		sizeof(t->events));
}

static void iov_test_invalidate(struct dma_buf_attachment *attach)
{
	struct iov_test *t = attach->importer_priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	/* The PF stops every use of the ranges here, then gives them back. */
	if (t->list) {
		dma_buf_iov_unmap(attach, t->list);
		t->list = NULL;
	}
	iov_test_probe(t, attach);
}

static void iov_test_available(struct dma_buf_attachment *attach)
{
	struct iov_test *t = attach->importer_priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	iov_test_probe(t, attach);
}

static const struct dma_buf_attach_ops iov_test_importer_ops = {
	.invalidate_mappings = iov_test_invalidate,
	.mappings_available = iov_test_available,
};

static __printf(2, 3) void iov_test_printf(struct iov_test *t, const char *fmt,
					   ...)
{
	va_list args;

	va_start(args, fmt);
	t->result_len += vscnprintf(t->result + t->result_len,
				    RESULT_SIZE - t->result_len, fmt, args);
	va_end(args);
}

/* Map the attachment and write the ranges into the result. */
static void iov_test_map(struct iov_test *t)
{
	const struct dma_buf_iov_list *list;
	size_t i;
	int err;

	dma_resv_lock(t->dmabuf->resv, NULL);
	if (t->list) {
		dma_buf_iov_unmap(t->attach, t->list);
		t->list = NULL;
	}
	t->events[0] = 0;
	list = dma_buf_iov_map(t->attach);
	if (IS_ERR(list)) {
		/* The errno as a number: tests compare it ("error -19") */
		err = PTR_ERR(list);
		iov_test_printf(t, "error %d\n", err);
		goto out;
	}
	t->list = list;
	/* The offer's VF may be followed while the list is mapped. */
	iov_test_printf(t, "bar %u vf %d ranges %zu\n", list->bar,
			pci_iov_vf_id(t->attach->map_offer.iov.vf),
			list->nr_ranges);
	for (i = 0; i < list->nr_ranges; i++)
		iov_test_printf(t, "%llx %llx\n", list->ranges[i].offset,
				list->ranges[i].len);
out:
	dma_resv_unlock(t->dmabuf->resv);
}

static void iov_test_detach(struct iov_test *t)
{
	if (!t->attach)
		return;
	dma_resv_lock(t->dmabuf->resv, NULL);
	if (t->list) {
		dma_buf_iov_unmap(t->attach, t->list);
		t->list = NULL;
	}
	dma_resv_unlock(t->dmabuf->resv);
	dma_buf_detach(t->dmabuf, t->attach);
	dma_buf_put(t->dmabuf);
	pci_dev_put(t->pf);
	t->attach = NULL;
	t->dmabuf = NULL;
	t->pf = NULL;
}

static int iov_test_attach(struct iov_test *t, const char *args)
{
	unsigned int domain, bus, slot, fn, mask;
	struct dma_buf_mapping_accept accept;
	struct dma_buf_attachment *attach;
	struct dma_buf *dmabuf;
	struct pci_dev *pf;
	int fd;

	if (t->attach)
		return -EBUSY;
	if (sscanf(args, "%x:%x:%x.%x %d %x", &domain, &bus, &slot, &fn, &fd,
		   &mask) != 6 || slot > 0x1f || fn > 7)
		return -EINVAL;
	pf = pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(slot, fn));
	if (!pf)
		return -ENODEV;
	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf)) {
		pci_dev_put(pf);
		return PTR_ERR(dmabuf);
	}
	accept = DMA_BUF_IOV_ACCEPT(pf, mask);
	attach = dma_buf_mapping_attach(dmabuf, &pf->dev, &accept, 1,
					&iov_test_importer_ops, t);
	if (IS_ERR(attach)) {
		dma_buf_put(dmabuf);
		pci_dev_put(pf);
		return PTR_ERR(attach);
	}
	t->pf = pf;
	t->dmabuf = dmabuf;
	t->attach = attach;
	iov_test_map(t);
	return 0;
}

static ssize_t iov_test_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	struct iov_test *t = file->private_data;
	char cmd[64];
	int ret = 0;

	if (count >= sizeof(cmd))
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, count))
		return -EFAULT;
	cmd[count] = 0;

	mutex_lock(&t->lock);
	t->result_len = 0;
	if (!strncmp(cmd, "attach ", 7)) {
		ret = iov_test_attach(t, cmd + 7);
	} else if (!strncmp(cmd, "map", 3)) {
		if (t->attach)
			iov_test_map(t);
		else
			ret = -ENOENT;
	} else if (!strncmp(cmd, "detach", 6)) {
		iov_test_detach(t);
		iov_test_printf(t, "detached\n");
	} else {
		ret = -EINVAL;
	}
	if (ret)
		iov_test_printf(t, "error %d\n", ret);
	mutex_unlock(&t->lock);
	return count;
}

static ssize_t iov_test_read(struct file *file, char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	struct iov_test *t = file->private_data;
	ssize_t ret;

	mutex_lock(&t->lock);
	if (t->attach) {
		/* A revoke since the last command shows on the next read. */
		dma_resv_lock(t->dmabuf->resv, NULL);
		if (t->events[0] && !t->list) {
			t->result_len = 0;
			iov_test_printf(t, "invalidated:%s\n", t->events);
		}
		dma_resv_unlock(t->dmabuf->resv);
	}
	ret = simple_read_from_buffer(ubuf, count, ppos, t->result,
				      t->result_len);
	mutex_unlock(&t->lock);
	return ret;
}

static int iov_test_open(struct inode *inode, struct file *file)
{
	struct iov_test *t;

	t = kzalloc_obj(*t);
	if (!t)
		return -ENOMEM;
	t->result = kvzalloc(RESULT_SIZE, GFP_KERNEL);
	if (!t->result) {
		kfree(t);
		return -ENOMEM;
	}
	mutex_init(&t->lock);
	file->private_data = t;
	return 0;
}

static int iov_test_release(struct inode *inode, struct file *file)
{
	struct iov_test *t = file->private_data;

	iov_test_detach(t);
	mutex_destroy(&t->lock);
	kvfree(t->result);
	kfree(t);
	return 0;
}

static const struct file_operations iov_test_fops = {
	.owner = THIS_MODULE,
	.open = iov_test_open,
	.release = iov_test_release,
	.read = iov_test_read,
	.write = iov_test_write,
};

static int __init iov_test_init(void)
{
	iov_test_dir = debugfs_create_dir("dma_buf_iov_test", NULL);
	debugfs_create_file("import", 0600, iov_test_dir, NULL, &iov_test_fops);
	return 0;
}

static void __exit iov_test_exit(void)
{
	debugfs_remove_recursive(iov_test_dir);
}

module_init(iov_test_init);
module_exit(iov_test_exit);
MODULE_DESCRIPTION("Test importer of the dma-buf PCI IOV mapping type");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("DMA_BUF");
