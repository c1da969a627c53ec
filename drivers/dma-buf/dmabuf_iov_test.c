// SPDX-License-Identifier: GPL-2.0-only
/*
 * A test importer of the PCI IOV mapping type: imports a dma-buf as the
 * physical function of the virtual function that exported it, the way a
 * PF driver would, and tells user space the ranges it got.
 *
 * debugfs: dma_buf_iov_test/import. Each open file holds at most one
 * attachment. Commands, one per write:
 *
 *   attach DDDD:BB:DD.F FD MASK [GRANULE]
 *                  attach the dma-buf FD from the PCI function
 *                  DDDD:BB:DD.F, accepting the VF BARs of MASK in GRANULE
 *                  (hex, 0 or left out for a page), and map it
 *   attach_va DDDD:BB:DD.F ADDR MASK [GRANULE]
 *                  the same for the dma-buf behind the user address ADDR
 *                  (hex) of the writer, such as a VFIO BAR mmap
 *   map            map the attachment again
 *   info           tell what the offer says, without a map
 *   keep           until the next detach, keep the ranges when revoked,
 *                  as a PF that does not stop in time would
 *   own            make the import one of the PF driver below (the PF
 *                  must be bound to it): its callback takes the PF
 *                  driver's lock, and the driver detaches it when SR-IOV
 *                  is disabled ("detached: sriov_configure" or
 *                  "detached: remove")
 *   detach         unmap and detach
 *
 * A read from offset 0 returns the result of the last command: "bar N vf V
 * ranges K bar_size S align A" (V is the VF's number as pci_iov_vf_id()
 * gives it, S the BAR's size and A the alignment of the ranges, both hex)
 * and one "OFFSET LENGTH" line (hex) per range; "bar N vf V bar_size S
 * align A pf DDDD:BB:DD.F" for info; "detached"; or "error E" with a
 * negative errno. If the exporter has invalidated the mappings since then (and the
 * importer gave the ranges back), it returns "invalidated:" and, for each
 * notification, " revoked" or " live": whether a map tried from the
 * callback failed with -ENODEV or worked. A revoke is notified through
 * invalidate_mappings, its end through mappings_available.
 *
 * The module is also a PF driver, "dmabuf_iov_test", without IDs of its
 * own (bind a PF through new_id or driver_override): it enables and
 * disables SR-IOV through sriov_numvfs as pci-pf-stub does, and follows
 * the rule of the PCI IOV type for its own imports: it detaches them
 * before it disables SR-IOV, and does not hold the lock that their
 * callback takes while it disables it.
 */
#include <linux/debugfs.h>
#include <linux/dma-buf-mapping.h>
#include <linux/dma-resv.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define RESULT_SIZE	SZ_64K

struct iov_test {
	/* Serializes the commands and reads of one open file */
	struct mutex lock;
	/* The open file's, and the PF driver's while it detaches it */
	struct kref ref;
	/* On iov_test_owned while @own */
	struct list_head owned_elm;
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct pci_dev *pf;
	/* Under the reservation lock */
	const struct dma_buf_iov_list *list;
	bool keep;
	bool own;
	char events[64];
	char *result;
	size_t result_len;
};

static struct dentry *iov_test_dir;
static struct pci_driver iov_test_pf_driver;

/*
 * The PF driver's lock, which the callbacks of its own imports take (a PF
 * driver's callback would take such a lock to stop its engines); it is
 * not held when SR-IOV is disabled.
 */
static DEFINE_MUTEX(iov_test_pf_lock);
/* The PF driver's own imports */
static DEFINE_MUTEX(iov_test_owned_lock);
static LIST_HEAD(iov_test_owned);

static void iov_test_free(struct kref *ref)
{
	struct iov_test *t = container_of(ref, struct iov_test, ref);

	mutex_destroy(&t->lock);
	kvfree(t->result);
	kfree(t);
}

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
	bool locked = false;

	dma_resv_assert_held(attach->dmabuf->resv);
	/*
	 * A PF driver's callback takes the driver's own lock (killable: a
	 * PF driver that breaks the rule leaves a task to kill, not a hung
	 * machine).
	 */
	if (t->own)
		locked = !mutex_lock_killable(&iov_test_pf_lock);
	/* The PF stops every use of the ranges here, then gives them back. */
	if (t->list && !t->keep) {
		dma_buf_iov_unmap(attach, t->list);
		t->list = NULL;
	}
	iov_test_probe(t, attach);
	if (locked)
		mutex_unlock(&iov_test_pf_lock);
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
	const struct dma_buf_iov_info *info;
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
	info = t->attach->map_offer.iov.info;
	iov_test_printf(t, "bar %u vf %u ranges %zu bar_size %llx align %llx\n",
			list->bar, info->vf_id, list->nr_ranges, info->bar_size,
			1ULL << info->align_shift);
	for (i = 0; i < list->nr_ranges; i++)
		iov_test_printf(t, "%llx %llx\n", list->ranges[i].offset,
				list->ranges[i].len);
out:
	dma_resv_unlock(t->dmabuf->resv);
}

/*
 * What the offer says, read without the reservation lock and without a
 * map: it stays valid while the dma-buf is held, also after the VF is
 * gone.
 */
static void iov_test_info(struct iov_test *t)
{
	const struct dma_buf_iov_info *info = t->attach->map_offer.iov.info;

	iov_test_printf(t, "bar %u vf %u bar_size %llx align %llx pf %04x:%02x:%02x.%x\n",
			info->bar, info->vf_id, info->bar_size,
			1ULL << info->align_shift, info->pf_domain,
			PCI_BUS_NUM(info->pf_rid), PCI_SLOT(info->pf_rid & 0xff),
			PCI_FUNC(info->pf_rid & 0xff));
}

static void iov_test_detach(struct iov_test *t)
{
	if (!t->attach)
		return;
	mutex_lock(&iov_test_owned_lock);
	list_del_init(&t->owned_elm);
	mutex_unlock(&iov_test_owned_lock);
	dma_resv_lock(t->dmabuf->resv, NULL);
	if (t->list) {
		dma_buf_iov_unmap(t->attach, t->list);
		t->list = NULL;
	}
	dma_resv_unlock(t->dmabuf->resv);
	dma_buf_detach(t->dmabuf, t->attach);
	dma_buf_put(t->dmabuf);
	pci_dev_put(t->pf);
	t->keep = false;
	t->own = false;
	t->attach = NULL;
	t->dmabuf = NULL;
	t->pf = NULL;
}

/* The dma-buf that the writer has mmapped at @addr */
static struct dma_buf *iov_test_get_from_va(unsigned long addr)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct dma_buf *dmabuf;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	dmabuf = vma ? dma_buf_get_from_vma(vma) : ERR_PTR(-EFAULT);
	mmap_read_unlock(mm);
	return dmabuf;
}

/* "attach" with a dma-buf fd, or "attach_va" (@va) with a user address */
static int iov_test_attach(struct iov_test *t, const char *args, bool va)
{
	unsigned int domain, bus, slot, fn, mask, granule = 0;
	struct dma_buf_mapping_accept accept;
	struct dma_buf_attachment *attach;
	struct dma_buf *dmabuf;
	unsigned long addr;
	struct pci_dev *pf;
	int fd = -1, n;

	if (t->attach)
		return -EBUSY;
	if (va)
		n = sscanf(args, "%x:%x:%x.%x %lx %x %x", &domain, &bus, &slot,
			   &fn, &addr, &mask, &granule);
	else
		n = sscanf(args, "%x:%x:%x.%x %d %x %x", &domain, &bus, &slot,
			   &fn, &fd, &mask, &granule);
	if (n < 6 || slot > 0x1f || fn > 7)
		return -EINVAL;
	pf = pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(slot, fn));
	if (!pf)
		return -ENODEV;
	dmabuf = va ? iov_test_get_from_va(addr) : dma_buf_get(fd);
	if (IS_ERR(dmabuf)) {
		pci_dev_put(pf);
		return PTR_ERR(dmabuf);
	}
	accept = DMA_BUF_IOV_ACCEPT(pf, mask, granule);
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

/* Make the import one of the PF driver's, whose PF it must be bound to */
static int iov_test_own(struct iov_test *t)
{
	if (!t->attach)
		return -ENOENT;
	/*
	 * Not under the PF's device lock, which sriov_configure() holds when
	 * it takes @t->lock: a test binds the PF before it imports, and an
	 * import made "own" while the PF is unbound stays attached until it
	 * is detached or its file closed.
	 */
	if (READ_ONCE(t->pf->driver) != &iov_test_pf_driver)
		return -EINVAL;
	dma_resv_lock(t->dmabuf->resv, NULL);
	t->own = true;
	dma_resv_unlock(t->dmabuf->resv);
	mutex_lock(&iov_test_owned_lock);
	list_add_tail(&t->owned_elm, &iov_test_owned);
	mutex_unlock(&iov_test_owned_lock);
	iov_test_printf(t, "owned\n");
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
	if (!strncmp(cmd, "attach_va ", 10)) {
		ret = iov_test_attach(t, cmd + 10, true);
	} else if (!strncmp(cmd, "attach ", 7)) {
		ret = iov_test_attach(t, cmd + 7, false);
	} else if (!strncmp(cmd, "map", 3)) {
		if (t->attach)
			iov_test_map(t);
		else
			ret = -ENOENT;
	} else if (!strncmp(cmd, "info", 4)) {
		if (t->attach)
			iov_test_info(t);
		else
			ret = -ENOENT;
	} else if (!strncmp(cmd, "keep", 4)) {
		if (t->attach) {
			dma_resv_lock(t->dmabuf->resv, NULL);
			t->keep = true;
			dma_resv_unlock(t->dmabuf->resv);
			iov_test_printf(t, "keeping\n");
		} else {
			ret = -ENOENT;
		}
	} else if (!strncmp(cmd, "own", 3)) {
		ret = iov_test_own(t);
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
	kref_init(&t->ref);
	INIT_LIST_HEAD(&t->owned_elm);
	file->private_data = t;
	return 0;
}

static int iov_test_release(struct inode *inode, struct file *file)
{
	struct iov_test *t = file->private_data;

	mutex_lock(&t->lock);
	iov_test_detach(t);
	mutex_unlock(&t->lock);
	kref_put(&t->ref, iov_test_free);
	return 0;
}

static const struct file_operations iov_test_fops = {
	.owner = THIS_MODULE,
	.open = iov_test_open,
	.release = iov_test_release,
	.read = iov_test_read,
	.write = iov_test_write,
};

/*
 * Detach every import that the PF driver owns of @pdev's VFs; @why goes
 * into the importer's result. Takes each import's lock with no other
 * lock held.
 */
static void iov_test_pf_detach_all(struct pci_dev *pdev, const char *why)
{
	struct iov_test *t, *found;

	for (;;) {
		found = NULL;
		mutex_lock(&iov_test_owned_lock);
		list_for_each_entry(t, &iov_test_owned, owned_elm) {
			if (t->pf == pdev) {
				found = t;
				list_del_init(&t->owned_elm);
				kref_get(&t->ref);
				break;
			}
		}
		mutex_unlock(&iov_test_owned_lock);
		if (!found)
			return;
		mutex_lock(&found->lock);
		if (found->pf == pdev) {
			iov_test_detach(found);
			found->result_len = 0;
			iov_test_printf(found, "detached: %s\n", why);
		}
		mutex_unlock(&found->lock);
		kref_put(&found->ref, iov_test_free);
	}
}

static int iov_test_pf_probe(struct pci_dev *pdev,
			     const struct pci_device_id *id)
{
	return pci_sriov_get_totalvfs(pdev) ? 0 : -ENODEV;
}

/* As the rule asks: imports detached, then SR-IOV disabled, no lock held */
static int iov_test_pf_sriov_configure(struct pci_dev *pdev, int nr_virtfn)
{
	if (!nr_virtfn)
		iov_test_pf_detach_all(pdev, "sriov_configure");
	return pci_sriov_configure_simple(pdev, nr_virtfn);
}

static void iov_test_pf_remove(struct pci_dev *pdev)
{
	iov_test_pf_detach_all(pdev, "remove");
	pci_disable_sriov(pdev);
}

static struct pci_driver iov_test_pf_driver = {
	.name = "dmabuf_iov_test",
	.probe = iov_test_pf_probe,
	.remove = iov_test_pf_remove,
	.sriov_configure = iov_test_pf_sriov_configure,
};

static int __init iov_test_init(void)
{
	int ret;

	ret = pci_register_driver(&iov_test_pf_driver);
	if (ret)
		return ret;
	iov_test_dir = debugfs_create_dir("dma_buf_iov_test", NULL);
	debugfs_create_file("import", 0600, iov_test_dir, NULL, &iov_test_fops);
	return 0;
}

static void __exit iov_test_exit(void)
{
	debugfs_remove_recursive(iov_test_dir);
	pci_unregister_driver(&iov_test_pf_driver);
}
module_init(iov_test_init);
module_exit(iov_test_exit);
MODULE_DESCRIPTION("Test importer of the dma-buf PCI IOV mapping type");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("DMA_BUF");
