// SPDX-License-Identifier: GPL-2.0-only
/* Copyright (c) 2025, NVIDIA CORPORATION & AFFILIATES.
 */
#include <linux/dma-buf-mapping.h>
#include <linux/pci-p2pdma.h>
#include <linux/dma-resv.h>

#include "vfio_pci_priv.h"

MODULE_IMPORT_NS("DMA_BUF");

/*
 * The dma-buf outlives the VFIO device: vfio_pci_dma_buf_cleanup() revokes
 * it and clears @vdev when the device is closed, before vfio-pci can
 * unbind. The P2P provider in @pal belongs to the binding of vfio-pci and
 * goes away at unbind: it is only used under the reservation lock while
 * the buffer is not revoked (offers, map), or by an importer that mapped
 * the list and gives it back when the buffer is revoked.
 *
 * A dma-buf of BAR ranges can be mapped to user space (cpu_mmap): faults
 * insert the PFNs with fault_rwsem held for read while the buffer is not
 * revoked, and revoke zaps the dma-buf's mappings with it held for write. A
 * mmap() of a BAR through the VFIO device makes such a dma-buf of the
 * mapped slice and puts it under the VMA; each of its VMAs then holds a
 * reference on the VFIO device file (vfio_file), as the VMA did before, so
 * the device stays open while the BAR is mapped.
 */
struct vfio_pci_dma_buf {
	struct dma_buf *dmabuf;
	struct vfio_pci_core_device *vdev;
	struct list_head dmabufs_elm;
	size_t size;
	struct dma_buf_phys_list *pal;
	/*
	 * The ranges as offsets in the BAR, for the PF of a VF, and what the
	 * IOV offer tells the PF, by value: no reference on the VF is kept.
	 */
	struct dma_buf_iov_list *iov;
	struct dma_buf_iov_info iov_info;
	struct dma_buf_mapping_offer offers[3];
	u8 nr_offers;
	bool cpu_mmap;
	struct file *vfio_file;
	struct kref kref;
	struct completion comp;
	/* On the list of buffers that a move() changes; under memory_lock */
	struct list_head revoke_elm;
	/* Faults of CPU mappings read @revoked under it, shared */
	struct rw_semaphore fault_rwsem;
	/*
	 * Written by vfio_pci_dma_buf_revoke_start() and move() under
	 * memory_lock, the reservation lock and fault_rwsem, and by creation
	 * before the buffer can be attached or mapped; the attach path reads
	 * it without them.
	 */
	bool revoked;
	/*
	 * Set by VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE, under memory_lock and
	 * dmabufs_lock, never cleared: the buffer stays revoked, a lift
	 * passes it by, and mmap() of its fd fails (which reads it without
	 * the locks).
	 */
	bool revoked_for_good;
	/*
	 * Under dmabufs_lock: the device's dmabufs_lifted when the delivery
	 * of this buffer's notifications was last waited for.
	 */
	unsigned long synced;
};

static int vfio_pci_dma_buf_get_offers(struct dma_buf_attachment *attachment,
				       const struct dma_buf_mapping_offer **offers)
{
	struct vfio_pci_dma_buf *priv = attachment->dmabuf->priv;

	/*
	 * Called under the reservation lock, which revoke takes: a buffer
	 * that is not revoked has a live provider until the lock is dropped.
	 */
	dma_resv_assert_held(priv->dmabuf->resv);
	if (priv->revoked)
		return -ENODEV;
	*offers = priv->offers;
	return priv->nr_offers;
}

/*
 * The exporter's state of an attachment of the PCI IOV type, under the
 * reservation lock: the lists its PF holds (each holds a reference on
 * the buffer's kref), and whether a revoke cut the import off because
 * the PF kept them for longer than DMA_BUF_IOV_REVOKE_TIMEOUT_MS.
 */
struct vfio_pci_dma_buf_iov_import {
	unsigned int mapped;
	bool cut;
};

static const struct dma_buf_iov_exp_ops vfio_pci_dma_buf_iov_ops;

static int vfio_pci_dma_buf_attach(struct dma_buf *dmabuf,
				   struct dma_buf_attachment *attachment)
{
	struct vfio_pci_dma_buf *priv = dmabuf->priv;

	if (READ_ONCE(priv->revoked))
		return -ENODEV;

	if (!dma_buf_attach_revocable(attachment))
		return -EOPNOTSUPP;

	if (attachment->map_offer.exp_ops == &vfio_pci_dma_buf_iov_ops) {
		attachment->priv =
			kzalloc_obj(struct vfio_pci_dma_buf_iov_import,
				    GFP_KERNEL_ACCOUNT);
		if (!attachment->priv)
			return -ENOMEM;
	}
	return 0;
}

static void vfio_pci_dma_buf_done(struct kref *kref)
{
	struct vfio_pci_dma_buf *priv =
		container_of(kref, struct vfio_pci_dma_buf, kref);

	complete(&priv->comp);
}

static void vfio_pci_dma_buf_detach(struct dma_buf *dmabuf,
				    struct dma_buf_attachment *attachment)
{
	struct vfio_pci_dma_buf_iov_import *import = attachment->priv;
	struct vfio_pci_dma_buf *priv = dmabuf->priv;

	/*
	 * A PF that detaches with lists still mapped is broken: give back
	 * their references, or the next revoke would wait for them for ever.
	 * The attachment is off the list, so no revoke or map reaches it.
	 */
	if (import && WARN_ON_ONCE(import->mapped)) {
		for (; import->mapped; import->mapped--)
			kref_put(&priv->kref, vfio_pci_dma_buf_done);
	}
	kfree(import);
}

static struct sg_table *
vfio_pci_dma_buf_map(struct dma_buf_attachment *attachment,
		     enum dma_data_direction dir)
{
	struct vfio_pci_dma_buf *priv = attachment->dmabuf->priv;
	struct sg_table *ret;

	dma_resv_assert_held(priv->dmabuf->resv);

	if (priv->revoked)
		return ERR_PTR(-ENODEV);

	ret = dma_buf_phys_vec_to_sgt(attachment, priv->pal->provider,
				      priv->pal->ranges, priv->pal->nr_ranges,
				      priv->size, dir);
	if (IS_ERR(ret))
		return ret;

	kref_get(&priv->kref);
	return ret;
}

static void vfio_pci_dma_buf_unmap(struct dma_buf_attachment *attachment,
				   struct sg_table *sgt,
				   enum dma_data_direction dir)
{
	struct vfio_pci_dma_buf *priv = attachment->dmabuf->priv;

	dma_resv_assert_held(priv->dmabuf->resv);

	dma_buf_free_sgt(attachment, sgt, dir);
	kref_put(&priv->kref, vfio_pci_dma_buf_done);
}

static const struct dma_buf_pal_exp_ops vfio_pci_dma_buf_pal_ops;

static const struct dma_buf_phys_list *
vfio_pci_dma_buf_pal_map(struct dma_buf_attachment *attachment)
{
	struct vfio_pci_dma_buf *priv = attachment->dmabuf->priv;

	dma_resv_assert_held(priv->dmabuf->resv);

	if (attachment->map_offer.exp_ops != &vfio_pci_dma_buf_pal_ops)
		return ERR_PTR(-EINVAL);

	if (priv->revoked)
		return ERR_PTR(-ENODEV);

	kref_get(&priv->kref);
	return priv->pal;
}

static void vfio_pci_dma_buf_pal_unmap(struct dma_buf_attachment *attachment,
				       const struct dma_buf_phys_list *pal)
{
	struct vfio_pci_dma_buf *priv = attachment->dmabuf->priv;

	dma_resv_assert_held(priv->dmabuf->resv);

	kref_put(&priv->kref, vfio_pci_dma_buf_done);
}

static const struct dma_buf_pal_exp_ops vfio_pci_dma_buf_pal_ops = {
	.map = vfio_pci_dma_buf_pal_map,
	.unmap = vfio_pci_dma_buf_pal_unmap,
};

static int vfio_pci_dma_buf_iov_map(struct dma_buf_attachment *attachment)
{
	struct vfio_pci_dma_buf_iov_import *import = attachment->priv;
	struct vfio_pci_dma_buf *priv = attachment->dmabuf->priv;

	dma_resv_assert_held(priv->dmabuf->resv);

	if (attachment->map_offer.exp_ops != &vfio_pci_dma_buf_iov_ops)
		return -EINVAL;

	/* Cut off by a revoke it was late for: for good, until it detaches */
	if (import->cut)
		return -EIO;
	if (priv->revoked)
		return -ENODEV;

	import->mapped++;
	kref_get(&priv->kref);
	return 0;
}

static void vfio_pci_dma_buf_iov_unmap(struct dma_buf_attachment *attachment)
{
	struct vfio_pci_dma_buf_iov_import *import = attachment->priv;
	struct vfio_pci_dma_buf *priv = attachment->dmabuf->priv;

	dma_resv_assert_held(priv->dmabuf->resv);

	/* A cut import's lists were given back for it */
	if (import->cut || WARN_ON_ONCE(!import->mapped))
		return;
	import->mapped--;
	kref_put(&priv->kref, vfio_pci_dma_buf_done);
}

/*
 * Cut off every PCI IOV import of @priv that still holds lists after a
 * revoke waited DMA_BUF_IOV_REVOKE_TIMEOUT_MS for them: its lists stop
 * counting, its later unmaps are ignored and its maps fail with -EIO
 * until it detaches. This ends the wait of the VF's user, not the PF's
 * use of the memory: a PF driver that gets here has a bug, which is
 * logged as an error. Called after the wait, with the buffer revoked.
 */
static void vfio_pci_dma_buf_cut_iov(struct vfio_pci_dma_buf *priv)
{
	struct dma_buf_attachment *attachment;

	dma_resv_lock(priv->dmabuf->resv, NULL);
	list_for_each_entry(attachment, &priv->dmabuf->attachments, node) {
		struct vfio_pci_dma_buf_iov_import *import = attachment->priv;

		if (attachment->map_offer.exp_ops != &vfio_pci_dma_buf_iov_ops ||
		    !import->mapped)
			continue;
		pci_err(priv->vdev->pdev,
			"dma-buf: %s kept VF BAR ranges %u ms after a revoke; import cut\n",
			dev_name(attachment->dev),
			DMA_BUF_IOV_REVOKE_TIMEOUT_MS);
		import->cut = true;
		for (; import->mapped; import->mapped--)
			kref_put(&priv->kref, vfio_pci_dma_buf_done);
	}
	dma_resv_unlock(priv->dmabuf->resv);
}

static const struct dma_buf_iov_exp_ops vfio_pci_dma_buf_iov_ops = {
	.map = vfio_pci_dma_buf_iov_map,
	.unmap = vfio_pci_dma_buf_iov_unmap,
};

/* Finds the PFN at @offset of the buffer if @len bytes from there are in one range. */
static bool vfio_pci_dma_buf_find_pfn(struct vfio_pci_dma_buf *priv, u64 offset,
				      size_t len, unsigned long *pfn)
{
	size_t i;

	for (i = 0; i < priv->pal->nr_ranges; i++) {
		const struct phys_vec *range = &priv->pal->ranges[i];

		if (offset < range->len) {
			if (len > range->len - offset)
				return false;
			*pfn = PHYS_PFN(range->paddr + offset);
			return true;
		}
		offset -= range->len;
	}
	return false;
}

/*
 * Inlined into both handlers, so that the 4 KiB one, which takes most of
 * the faults, is compiled for order 0.
 */
static __always_inline vm_fault_t
vfio_pci_dma_buf_fault(struct vm_fault *vmf, unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vfio_pci_dma_buf *priv = vma->vm_private_data;
	unsigned long addr = ALIGN_DOWN(vmf->address, PAGE_SIZE << order);
	vm_fault_t ret = VM_FAULT_FALLBACK;
	bool waited = false;
	unsigned long pfn;
	u64 offset;

	if (!is_aligned_for_order(vma, addr, 0, order))
		return VM_FAULT_FALLBACK;

	offset = ((u64)vma->vm_pgoff << PAGE_SHIFT) + (addr - vma->vm_start);
	if (!vfio_pci_dma_buf_find_pfn(priv, offset, PAGE_SIZE << order, &pfn))
		return order ? VM_FAULT_FALLBACK : VM_FAULT_SIGBUS;
	if (!IS_ALIGNED(pfn, 1 << order))
		return VM_FAULT_FALLBACK;

	/*
	 * Revoke sets the flag and zaps with fault_rwsem held for write: a
	 * PFN is only inserted while the BAR is enabled and the device is
	 * bound. Faults share it, as they shared memory_lock before.
	 */
	down_read(&priv->fault_rwsem);
	if (priv->revoked && priv->vfio_file) {
		/*
		 * A BAR mmap, whose VMA keeps the device open: a revoke for a
		 * reset or a wake-up lasts as long as memory_lock is held for
		 * write, and faults waited for it, not failed, when they took
		 * memory_lock. Wait the same way, then look again.
		 */
		up_read(&priv->fault_rwsem);
		down_read(&priv->vdev->memory_lock);
		down_read(&priv->fault_rwsem);
		waited = true;
	}
	if (priv->revoked)
		ret = VM_FAULT_SIGBUS;
	else if (!order)
		ret = vmf_insert_pfn(vma, vmf->address, pfn);
	else if (IS_ENABLED(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP) &&
		 order == PMD_ORDER)
		ret = vmf_insert_pfn_pmd(vmf, pfn, false);
	else if (IS_ENABLED(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP) &&
		 order == PUD_ORDER)
		ret = vmf_insert_pfn_pud(vmf, pfn, false);
	up_read(&priv->fault_rwsem);
	if (waited)
		up_read(&priv->vdev->memory_lock);

	return ret;
}

static vm_fault_t vfio_pci_dma_buf_page_fault(struct vm_fault *vmf)
{
	return vfio_pci_dma_buf_fault(vmf, 0);
}

#ifdef CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP
static vm_fault_t vfio_pci_dma_buf_huge_fault(struct vm_fault *vmf,
					      unsigned int order)
{
	return vfio_pci_dma_buf_fault(vmf, order);
}
#endif

static void vfio_pci_dma_buf_vm_open(struct vm_area_struct *vma)
{
	struct vfio_pci_dma_buf *priv = vma->vm_private_data;

	if (priv->vfio_file)
		get_file(priv->vfio_file);
}

static void vfio_pci_dma_buf_vm_close(struct vm_area_struct *vma)
{
	struct vfio_pci_dma_buf *priv = vma->vm_private_data;

	if (priv->vfio_file)
		fput(priv->vfio_file);
}

static const struct vm_operations_struct vfio_pci_dma_buf_vm_ops = {
	.open = vfio_pci_dma_buf_vm_open,
	.close = vfio_pci_dma_buf_vm_close,
	.fault = vfio_pci_dma_buf_page_fault,
#ifdef CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP
	.huge_fault = vfio_pci_dma_buf_huge_fault,
#endif
};

/* The same attributes as a mmap() of the BAR through the device. */
static void vfio_pci_dma_buf_setup_vma(struct vfio_pci_dma_buf *priv,
				       struct vm_area_struct *vma)
{
	vma->vm_private_data = priv;
	vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	vma->vm_page_prot = pgprot_decrypted(vma->vm_page_prot);
	vm_flags_set(vma, VM_ALLOW_ANY_UNCACHED | VM_IO | VM_PFNMAP |
			VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &vfio_pci_dma_buf_vm_ops;
}

static int vfio_pci_dma_buf_mmap(struct dma_buf *dmabuf,
				 struct vm_area_struct *vma)
{
	struct vfio_pci_dma_buf *priv = dmabuf->priv;

	/*
	 * The dma-buf of a BAR mmap has no fd; its VMAs hold the device file
	 * and no other mapping of it may be made.
	 */
	/* A mmap() racing the revoke is zapped by it, like any other */
	if (READ_ONCE(priv->revoked_for_good))
		return -ENODEV;
	if (!priv->cpu_mmap || priv->vfio_file)
		return -EINVAL;
	/* VM_SHARED is clear for MAP_SHARED of a read-only file. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;

	vfio_pci_dma_buf_setup_vma(priv, vma);
	return 0;
}

static void vfio_pci_dma_buf_release(struct dma_buf *dmabuf)
{
	struct vfio_pci_dma_buf *priv = dmabuf->priv;

	/*
	 * Either this or vfio_pci_dma_buf_cleanup() will remove from the list.
	 * The refcount prevents both.
	 */
	if (priv->vdev) {
		mutex_lock(&priv->vdev->dmabufs_lock);
		list_del_init(&priv->dmabufs_elm);
		mutex_unlock(&priv->vdev->dmabufs_lock);
		vfio_device_put_registration(&priv->vdev->vdev);
	}
	kvfree(priv->iov);
	kvfree(priv->pal);
	kfree(priv);
}

static const struct dma_buf_ops vfio_pci_dmabuf_ops = {
	.get_mapping_offers = vfio_pci_dma_buf_get_offers,
	.attach = vfio_pci_dma_buf_attach,
	.detach = vfio_pci_dma_buf_detach,
	.map_dma_buf = vfio_pci_dma_buf_map,
	.unmap_dma_buf = vfio_pci_dma_buf_unmap,
	.mmap = vfio_pci_dma_buf_mmap,
	/* vm_pgoff is the page offset in the buffer, 0 for BAR mmaps */
	.vma_offset = dma_buf_vma_offset_pgoff,
	.release = vfio_pci_dma_buf_release,
};

int vfio_pci_core_fill_phys_vec(struct phys_vec *phys_vec,
				struct vfio_region_dma_range *dma_ranges,
				size_t nr_ranges, phys_addr_t start,
				phys_addr_t len)
{
	phys_addr_t max_addr;
	unsigned int i;

	max_addr = start + len;
	for (i = 0; i < nr_ranges; i++) {
		phys_addr_t end;

		if (!dma_ranges[i].length)
			return -EINVAL;

		if (check_add_overflow(start, dma_ranges[i].offset,
				       &phys_vec[i].paddr) ||
		    check_add_overflow(phys_vec[i].paddr,
				       dma_ranges[i].length, &end))
			return -EOVERFLOW;
		if (end > max_addr)
			return -EINVAL;

		phys_vec[i].len = dma_ranges[i].length;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(vfio_pci_core_fill_phys_vec);

int vfio_pci_core_get_dmabuf_phys(struct vfio_pci_core_device *vdev,
				  struct p2pdma_provider **provider,
				  unsigned int region_index,
				  struct phys_vec *phys_vec,
				  struct vfio_region_dma_range *dma_ranges,
				  size_t nr_ranges)
{
	struct pci_dev *pdev = vdev->pdev;

	*provider = pcim_p2pdma_provider(pdev, region_index);
	if (!*provider)
		return -EINVAL;

	return vfio_pci_core_fill_phys_vec(
		phys_vec, dma_ranges, nr_ranges,
		pci_resource_start(pdev, region_index),
		pci_resource_len(pdev, region_index));
}
EXPORT_SYMBOL_GPL(vfio_pci_core_get_dmabuf_phys);

static int validate_dmabuf_input(struct vfio_device_feature_dma_buf *dma_buf,
				 struct vfio_region_dma_range *dma_ranges,
				 size_t *lengthp)
{
	size_t length = 0;
	u32 i;

	for (i = 0; i < dma_buf->nr_ranges; i++) {
		u64 offset = dma_ranges[i].offset;
		u64 len = dma_ranges[i].length;

		if (!len || !PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len))
			return -EINVAL;

		if (check_add_overflow(length, len, &length))
			return -EINVAL;
	}

	/*
	 * dma_iova_try_alloc() will WARN on if userspace proposes a size that
	 * is too big, eg with lots of ranges.
	 */
	if ((u64)(length) & DMA_IOVA_USE_SWIOTLB)
		return -EINVAL;

	*lengthp = length;
	return 0;
}

/*
 * The BAR can be used while memory decode is on and user space has not put
 * the device into low power: a dma-buf is revoked otherwise. That state
 * changes under memory_lock, which a new dma-buf cannot take (see
 * vfio_pci_dma_buf_create()).
 */
static bool vfio_pci_dma_buf_usable(struct vfio_pci_core_device *vdev)
{
	lockdep_assert_held(&vdev->dmabufs_lock);

	return !vdev->pm_runtime_engaged && __vfio_pci_memory_enabled(vdev);
}

static bool vfio_pci_dma_buf_in_bar(struct vfio_pci_core_device *vdev,
				    unsigned int bar,
				    const struct dma_buf_phys_list *pal)
{
	phys_addr_t start = pci_resource_start(vdev->pdev, bar);
	phys_addr_t end = pci_resource_end(vdev->pdev, bar);
	size_t i;

	for (i = 0; i < pal->nr_ranges; i++) {
		if (pal->ranges[i].paddr < start ||
		    pal->ranges[i].paddr + pal->ranges[i].len - 1 > end)
			return false;
	}
	return true;
}

/* The physical ranges of @priv, which lie in BAR @bar, as offsets in it. */
static int vfio_pci_dma_buf_make_iov(struct vfio_pci_dma_buf *priv,
				     unsigned int bar)
{
	resource_size_t start = pci_resource_start(priv->vdev->pdev, bar);
	size_t i;

	priv->iov = kvzalloc(struct_size(priv->iov, ranges,
					 priv->pal->nr_ranges),
			     GFP_KERNEL_ACCOUNT);
	if (!priv->iov)
		return -ENOMEM;
	priv->iov->bar = bar;
	priv->iov->nr_ranges = priv->pal->nr_ranges;
	for (i = 0; i < priv->pal->nr_ranges; i++) {
		priv->iov->ranges[i].offset = priv->pal->ranges[i].paddr - start;
		priv->iov->ranges[i].len = priv->pal->ranges[i].len;
	}
	return 0;
}

/*
 * Makes a dma-buf of validated @dma_ranges of BAR @region_index. The
 * physical ranges come from the driver, or from the BAR's resource if
 * @bar_only. The caller owns the dma-buf reference.
 */
static struct vfio_pci_dma_buf *
vfio_pci_dma_buf_create(struct vfio_pci_core_device *vdev, bool bar_only,
			unsigned int region_index,
			struct vfio_region_dma_range *dma_ranges,
			u32 nr_ranges, size_t length, u32 open_flags)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct p2pdma_provider *provider;
	struct vfio_pci_dma_buf *priv;
	const char *why;
	bool pal_ok;
	int ret;

	priv = kzalloc_obj(*priv);
	if (!priv)
		return ERR_PTR(-ENOMEM);
	priv->pal = kvzalloc(struct_size(priv->pal, ranges, nr_ranges),
			     GFP_KERNEL_ACCOUNT);
	if (!priv->pal) {
		ret = -ENOMEM;
		goto err_free_priv;
	}

	priv->vdev = vdev;
	priv->pal->nr_ranges = nr_ranges;
	priv->size = length;
	if (bar_only)
		ret = vfio_pci_core_get_dmabuf_phys(vdev, &provider,
						    region_index,
						    priv->pal->ranges,
						    dma_ranges, nr_ranges);
	else
		ret = vdev->pci_ops->get_dmabuf_phys(vdev, &provider,
						     region_index,
						     priv->pal->ranges,
						     dma_ranges, nr_ranges);
	if (ret)
		goto err_free_phys;

	/*
	 * iommufd takes the physical list; DMA API importers get a
	 * scatterlist if they take MMIO and can reach the BAR.
	 */
	priv->pal->provider = provider;
	/*
	 * The uAPI lets ranges overlap; the physical address list type does
	 * not. Such a dma-buf is offered as a scatterlist only.
	 */
	ret = dma_buf_pal_check(priv->size, priv->pal, &why);
	if (ret == -ENOMEM)
		goto err_free_phys;
	pal_ok = !ret;
	/*
	 * The PF of a VF gets the ranges as offsets in the VF's BAR, first:
	 * every other importer goes on to the next offer. Not for the
	 * dma-buf of a BAR mmap, which no PF can get hold of. The ranges
	 * were checked against the BAR above, so the IOV check refuses none
	 * of them (overlaps included); if it did, the export fails rather
	 * than leave the PF a scatterlist of its own VF's BAR.
	 */
	if (!bar_only && vdev->pdev->is_virtfn &&
	    vfio_pci_dma_buf_in_bar(vdev, region_index, priv->pal)) {
		ret = vfio_pci_dma_buf_make_iov(priv, region_index);
		if (ret)
			goto err_free_phys;
		ret = dma_buf_iov_init(&priv->iov_info, vdev->pdev,
				       region_index, priv->size, priv->iov,
				       &why);
		if (ret) {
			pci_dbg(vdev->pdev, "dma-buf: VF BAR ranges refused: %s\n",
				why);
			goto err_free_phys;
		}
		priv->offers[priv->nr_offers++] =
			dma_buf_iov_offer(&vfio_pci_dma_buf_iov_ops,
					  &priv->iov_info);
	}
	if (pal_ok)
		priv->offers[priv->nr_offers++] =
			dma_buf_pal_offer(&vfio_pci_dma_buf_pal_ops);
	priv->offers[priv->nr_offers++] = DMA_BUF_SGT_OFFER(provider);

	/*
	 * User space may map the ranges that a mmap() of the BAR through the
	 * device could map, not memory that a variant driver supplies with
	 * attributes of its own. A variant driver with a mmap() of its own
	 * may refuse parts of a BAR that vfio-pci would map: only the BAR
	 * mmaps that it hands to vfio_pci_core_mmap() are mapped then.
	 */
	priv->cpu_mmap = vdev->bar_mmap_supported[region_index] &&
			 vfio_pci_dma_buf_in_bar(vdev, region_index, priv->pal) &&
			 (bar_only || vdev->vdev.ops->mmap == vfio_pci_core_mmap);

	if (!vfio_device_try_get_registration(&vdev->vdev)) {
		ret = -ENODEV;
		goto err_free_phys;
	}

	exp_info.ops = &vfio_pci_dmabuf_ops;
	exp_info.size = priv->size;
	exp_info.flags = open_flags;
	exp_info.priv = priv;

	priv->dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(priv->dmabuf)) {
		ret = PTR_ERR(priv->dmabuf);
		goto err_dev_put;
	}

	kref_init(&priv->kref);
	init_completion(&priv->comp);
	init_rwsem(&priv->fault_rwsem);

	/*
	 * dma_buf_put() now frees priv. A mmap() of a BAR gets here with the
	 * mmap_lock held for write, and nvgrace-gpu copies to user space under
	 * memory_lock: memory_lock is not taken here, and the BAR's state
	 * cannot be read. Every change of that state that makes the BAR
	 * unusable comes after a revoke, vfio_pci_dma_buf_move(true), and
	 * every change that makes it usable is followed by
	 * vfio_pci_dma_buf_move(false); move() records the revoke in
	 * dmabufs_revoked under dmabufs_lock. A new dma-buf is revoked from
	 * a revoke until the move(false) that follows the BAR's return, and
	 * while the BAR is not usable without a revoke (decode off from the
	 * start).
	 */
	INIT_LIST_HEAD(&priv->dmabufs_elm);
	mutex_lock(&vdev->dmabufs_lock);
	dma_resv_lock(priv->dmabuf->resv, NULL);
	WRITE_ONCE(priv->revoked,
		   vdev->dmabufs_revoked || !vfio_pci_dma_buf_usable(vdev));
	/* Nothing of this buffer to wait for until the next lift */
	priv->synced = READ_ONCE(vdev->dmabufs_lifted);
	list_add_tail(&priv->dmabufs_elm, &vdev->dmabufs);
	dma_resv_unlock(priv->dmabuf->resv);
	mutex_unlock(&vdev->dmabufs_lock);

	return priv;

err_dev_put:
	vfio_device_put_registration(&vdev->vdev);
err_free_phys:
	kvfree(priv->iov);
	kvfree(priv->pal);
err_free_priv:
	kfree(priv);
	return ERR_PTR(ret);
}

int vfio_pci_core_feature_dma_buf(struct vfio_pci_core_device *vdev, u32 flags,
				  struct vfio_device_feature_dma_buf __user *arg,
				  size_t argsz)
{
	struct vfio_device_feature_dma_buf get_dma_buf = {};
	struct vfio_region_dma_range *dma_ranges;
	struct vfio_pci_dma_buf *priv;
	size_t length;
	int ret;

	if (!vdev->pci_ops || !vdev->pci_ops->get_dmabuf_phys)
		return -EOPNOTSUPP;

	ret = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_GET,
				 sizeof(get_dma_buf));
	if (ret != 1)
		return ret;

	if (copy_from_user(&get_dma_buf, arg, sizeof(get_dma_buf)))
		return -EFAULT;

	if (!get_dma_buf.nr_ranges || get_dma_buf.flags)
		return -EINVAL;

	/* The ranges are part of the argument: argsz has to cover them. */
	if (argsz < struct_size(&get_dma_buf, dma_ranges, get_dma_buf.nr_ranges))
		return -EINVAL;

	/*
	 * For PCI the region_index is the BAR number like everything
	 * else.  Check that PCI resources have been claimed for it.
	 */
	if (get_dma_buf.region_index >= VFIO_PCI_ROM_REGION_INDEX ||
	    IS_ERR(vfio_pci_core_get_iomap(vdev, get_dma_buf.region_index)))
		return -ENODEV;

	dma_ranges = memdup_array_user(&arg->dma_ranges, get_dma_buf.nr_ranges,
				       sizeof(*dma_ranges));
	if (IS_ERR(dma_ranges))
		return PTR_ERR(dma_ranges);

	ret = validate_dmabuf_input(&get_dma_buf, dma_ranges, &length);
	if (ret)
		goto out_free_ranges;

	priv = vfio_pci_dma_buf_create(vdev, false, get_dma_buf.region_index, dma_ranges,
				       get_dma_buf.nr_ranges, length,
				       get_dma_buf.open_flags);
	if (IS_ERR(priv)) {
		ret = PTR_ERR(priv);
		goto out_free_ranges;
	}

	/*
	 * dma_buf_fd() consumes the reference, when the file closes the dmabuf
	 * will be released.
	 */
	ret = dma_buf_fd(priv->dmabuf, get_dma_buf.open_flags);
	if (ret < 0)
		dma_buf_put(priv->dmabuf);

out_free_ranges:
	kfree(dma_ranges);
	return ret;
}

/**
 * vfio_pci_dma_buf_mmap_bar() - Map a slice of a BAR through a dma-buf
 * @vdev: the device, its BAR @bar claimed by the caller
 * @vma: a VMA of a mmap() of the VFIO device file, vm_pgoff not yet used
 * @bar: the BAR
 * @start: offset of the slice in the BAR, page aligned
 * @len: length of the slice, page aligned, the length of @vma
 *
 * Makes a dma-buf of the slice and puts it under @vma: the VMA's file
 * becomes the dma-buf's file and its vm_pgoff the offset in the dma-buf, as
 * for a mmap() of the dma-buf itself, so that an importer given the user
 * address (iommufd) maps the dma-buf, revocably, and not the PFNs. The VMA
 * keeps a reference on the device file, as before.
 *
 * Return: 0, -EOPNOTSUPP if the device cannot export the BAR (the caller
 * maps it without a dma-buf), or an error.
 */
int vfio_pci_dma_buf_mmap_bar(struct vfio_pci_core_device *vdev,
			      struct vm_area_struct *vma, unsigned int bar,
			      u64 start, u64 len)
{
	struct vfio_region_dma_range range = {
		.offset = start,
		.length = len,
	};
	struct vfio_pci_dma_buf *priv;

	/*
	 * Devices that do not export dma-bufs, and the page beyond the end of
	 * a BAR smaller than a page, keep the mapping without a dma-buf.
	 */
	if (!vdev->pci_ops || !vdev->pci_ops->get_dmabuf_phys ||
	    !pcim_p2pdma_provider(vdev->pdev, bar) ||
	    start + len > pci_resource_len(vdev->pdev, bar))
		return -EOPNOTSUPP;

	priv = vfio_pci_dma_buf_create(vdev, true, bar, &range, 1, len, O_RDWR);
	if (IS_ERR(priv))
		return PTR_ERR(priv);

	/* The reference of the VMA on the device file passes to the VMA ops. */
	priv->vfio_file = get_file(vma->vm_file);
	vma_set_file(vma, priv->dmabuf->file);
	vma->vm_pgoff = 0;
	vfio_pci_dma_buf_setup_vma(priv, vma);
	dma_buf_put(priv->dmabuf);
	return 0;
}

/*
 * The first half of a revoke of one buffer: faults stop finding it
 * usable, its CPU mappings are zapped, its importers are told, their
 * fences waited for, and the registered reference on the kref is
 * dropped. Under memory_lock, held for write, which keeps every other
 * revoke and lift of the buffer out, with a reference on the buffer's
 * file. vfio_pci_dma_buf_revoke_wait() finishes it.
 */
static void vfio_pci_dma_buf_revoke_start(struct vfio_pci_dma_buf *priv)
{
	lockdep_assert_held_write(&priv->vdev->memory_lock);

	dma_resv_lock(priv->dmabuf->resv, NULL);
	down_write(&priv->fault_rwsem);
	WRITE_ONCE(priv->revoked, true);
	if (priv->cpu_mmap)
		unmap_mapping_range(priv->dmabuf->file->f_mapping, 0,
				    priv->size, true);
	up_write(&priv->fault_rwsem);
	dma_buf_invalidate_mappings(priv->dmabuf);
	dma_resv_wait_timeout(priv->dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP,
			      false, MAX_SCHEDULE_TIMEOUT);
	dma_resv_unlock(priv->dmabuf->resv);
	kref_put(&priv->kref, vfio_pci_dma_buf_done);
}

/*
 * The second half: wait until the importers have given back every
 * mapping, for as long as it takes but for the VF BAR ranges of a PF,
 * whose imports are cut off at @deadline (in jiffies; a reset of a VF
 * must not wait on its PF without end). One deadline serves every buffer
 * of a move(), so that the bound does not grow with their number.
 */
static void vfio_pci_dma_buf_revoke_wait(struct vfio_pci_dma_buf *priv,
					 unsigned long deadline)
{
	long left = (long)(deadline - jiffies);

	if (!wait_for_completion_timeout(&priv->comp, max(left, 0L))) {
		vfio_pci_dma_buf_cut_iov(priv);
		wait_for_completion(&priv->comp);
	}
	/*
	 * Re-arm the registered kref reference and the completion so the
	 * post-revoke state matches the post-creation state.  An un-revoke
	 * followed by a new mapping needs the kref to be non-zero before
	 * kref_get(), and vfio_pci_dma_buf_cleanup() delegates its drain
	 * back through this revoke path on a possibly-already-revoked
	 * dma-buf.
	 */
	kref_init(&priv->kref);
	reinit_completion(&priv->comp);
}

/* Revoke one buffer, both halves; see vfio_pci_dma_buf_revoke_start(). */
static void vfio_pci_dma_buf_revoke(struct vfio_pci_dma_buf *priv)
{
	vfio_pci_dma_buf_revoke_start(priv);
	vfio_pci_dma_buf_revoke_wait(priv, jiffies +
				     msecs_to_jiffies(DMA_BUF_IOV_REVOKE_TIMEOUT_MS));
}

/*
 * Revoke or lift the revoke of every dma-buf of the device. Under
 * dmabufs_lock the device's state is recorded and the buffers to change are
 * taken, with a file reference; the importers are called and waited for
 * after it is dropped, under memory_lock alone: a mmap() of a BAR takes
 * dmabufs_lock, with the mmap_lock held, to make its dma-buf, and must not
 * wait for importers. memory_lock, held for write, keeps any other move()
 * and cleanup out until this one is done; a buffer made meanwhile starts
 * in the new state.
 */
void vfio_pci_dma_buf_move(struct vfio_pci_core_device *vdev, bool revoked)
{
	struct vfio_pci_dma_buf *priv;
	struct vfio_pci_dma_buf *tmp;
	LIST_HEAD(moving);

	lockdep_assert_held_write(&vdev->memory_lock);

	scoped_guard(mutex, &vdev->dmabufs_lock) {
		/*
		 * A config write can turn decode on while the device is in low
		 * power, and a wake-up ends low power with decode off: both
		 * stay revoked.
		 */
		if (!revoked && !vfio_pci_dma_buf_usable(vdev))
			return;
		vdev->dmabufs_revoked = revoked;

		list_for_each_entry(priv, &vdev->dmabufs, dmabufs_elm) {
			if (priv->revoked == revoked ||
			    (!revoked && priv->revoked_for_good) ||
			    !get_file_active(&priv->dmabuf->file))
				continue;
			list_add_tail(&priv->revoke_elm, &moving);
		}
	}

	/*
	 * Importers hear of a revoke only: no map is possible until it is
	 * lifted, and lifting it is told apart. Every buffer is revoked
	 * before the first is waited for.
	 */
	if (revoked) {
		unsigned long deadline;

		list_for_each_entry(priv, &moving, revoke_elm)
			vfio_pci_dma_buf_revoke_start(priv);
		deadline = jiffies +
			   msecs_to_jiffies(DMA_BUF_IOV_REVOKE_TIMEOUT_MS);
		list_for_each_entry(priv, &moving, revoke_elm)
			vfio_pci_dma_buf_revoke_wait(priv, deadline);
	}

	list_for_each_entry_safe(priv, tmp, &moving, revoke_elm) {
		list_del(&priv->revoke_elm);
		if (!revoked) {
			dma_resv_lock(priv->dmabuf->resv, NULL);
			down_write(&priv->fault_rwsem);
			WRITE_ONCE(priv->revoked, false);
			up_write(&priv->fault_rwsem);
			/*
			 * Importers that map the buffer again do so from the
			 * core's work, outside these locks;
			 * vfio_pci_dma_buf_sync() waits for it. Queued in the
			 * section that lifted the revoke, and counted once
			 * queued: a sync that reads the count (acquire) sees
			 * the work queued and waits for it.
			 */
			dma_buf_notify_available(priv->dmabuf);
			dma_resv_unlock(priv->dmabuf->resv);
			/* Pairs with the acquire in vfio_pci_dma_buf_sync() */
			smp_store_release(&vdev->dmabufs_lifted,
					  vdev->dmabufs_lifted + 1);
		}
		fput(priv->dmabuf->file);
	}
}

/*
 * Wait until the importers of every dma-buf whose revoke was lifted have
 * been told (dma_buf_flush_available()), so that the config write, reset
 * or low power exit that lifted it returns with the buffers mapped again
 * by the importers that map them by themselves (iommufd, for mappings
 * that asked for it). A lift from a runtime resume is waited for by the
 * access that woke the device, if it came through the device fd, and by
 * any later call of this. Called without memory_lock.
 *
 * Each lift counts in dmabufs_lifted; a caller waits for every buffer
 * that has not been waited for since the count it read, also for the
 * buffers another caller is waiting for at the same time (flush_work()
 * lets both wait), and records the count as done only afterwards.
 */
void vfio_pci_dma_buf_sync(struct vfio_pci_core_device *vdev)
{
	struct vfio_pci_dma_buf *priv, *found, *prev = NULL;
	unsigned long lifted;

	/* Pairs with the release in move(): the works counted are queued */
	lifted = smp_load_acquire(&vdev->dmabufs_lifted);
	/* Pairs with the release below: the restores are seen done */
	if (smp_load_acquire(&vdev->dmabufs_synced) == lifted)
		return;

	do {
		found = NULL;
		scoped_guard(mutex, &vdev->dmabufs_lock) {
			/*
			 * Go on after the buffer waited for last (its file
			 * reference keeps it allocated), or from the start if
			 * it left the list: one walk for the whole list.
			 */
			priv = prev && !list_empty(&prev->dmabufs_elm) ?
			       prev : NULL;
			priv = list_prepare_entry(priv, &vdev->dmabufs,
						  dmabufs_elm);
			list_for_each_entry_continue(priv, &vdev->dmabufs,
						     dmabufs_elm) {
				if ((long)(priv->synced - lifted) >= 0)
					continue;
				/* A dying buffer has no delivery queued */
				if (!get_file_active(&priv->dmabuf->file)) {
					priv->synced = lifted;
					continue;
				}
				found = priv;
				break;
			}
			if (!found &&
			    (long)(vdev->dmabufs_synced - lifted) < 0) {
				/* The waits are done: pairs with the acquire */
				smp_store_release(&vdev->dmabufs_synced, lifted);
			}
		}
		if (prev)
			dma_buf_put(prev->dmabuf);
		prev = found;
		if (!found)
			break;
		/* Not under dmabufs_lock, which move() and mmap() take */
		dma_buf_flush_available(found->dmabuf);
		scoped_guard(mutex, &vdev->dmabufs_lock) {
			if ((long)(found->synced - lifted) < 0)
				found->synced = lifted;
		}
	} while (found);
}

/*
 * VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE: revoke a dma-buf of this device for
 * good. Its importers are told as for any revoke, and waited for; a lift
 * passes it by from then on, so nobody maps it again: attach and map fail
 * with -ENODEV, and faults of its CPU mappings raise SIGBUS. A buffer
 * that a temporary revoke already holds only changes its kind.
 */
int vfio_pci_core_feature_dma_buf_revoke(struct vfio_pci_core_device *vdev,
					 u32 flags,
					 struct vfio_device_feature_dma_buf_revoke __user *arg,
					 size_t argsz)
{
	struct vfio_device_feature_dma_buf_revoke revoke;
	struct vfio_pci_dma_buf *priv = NULL, *iter;
	struct dma_buf *dmabuf;
	int ret;

	if (!vdev->pci_ops || !vdev->pci_ops->get_dmabuf_phys)
		return -EOPNOTSUPP;

	ret = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_SET,
				 sizeof(revoke));
	if (ret != 1)
		return ret;

	if (copy_from_user(&revoke, arg, sizeof(revoke)))
		return -EFAULT;

	dmabuf = dma_buf_get(revoke.dmabuf_fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);

	/*
	 * memory_lock keeps every move() and the cleanup of the device out:
	 * the buffer cannot leave the device's list, nor change state, until
	 * the revoke below is done.
	 */
	down_write(&vdev->memory_lock);
	scoped_guard(mutex, &vdev->dmabufs_lock) {
		/*
		 * Only a buffer on this device's list: one of another device,
		 * another exporter's, or one this device exported before it
		 * was last closed is not this device's to revoke.
		 */
		list_for_each_entry(iter, &vdev->dmabufs, dmabufs_elm) {
			if (iter->dmabuf == dmabuf) {
				priv = iter;
				break;
			}
		}
		if (!priv) {
			ret = -ENODEV;
		} else if (priv->revoked_for_good) {
			ret = -EBADFD;
		} else {
			WRITE_ONCE(priv->revoked_for_good, true);
			ret = 0;
		}
	}
	if (!ret && !priv->revoked)
		vfio_pci_dma_buf_revoke(priv);
	up_write(&vdev->memory_lock);

	dma_buf_put(dmabuf);
	return ret;
}

/*
 * Called by the removal of the device before it waits for the device's
 * user, whose close revokes the dma-bufs and so, for a VF, calls the PCI
 * IOV callbacks of its PF: lockdep then reports a PF driver that removes
 * its VFs with a lock held that its callback takes, instead of a hang.
 */
void vfio_pci_dma_buf_might_wait_for_pf(struct vfio_pci_core_device *vdev)
{
	if (vdev->pdev->is_virtfn)
		dma_buf_iov_might_wait_for_pf();
}

void vfio_pci_dma_buf_cleanup(struct vfio_pci_core_device *vdev)
{
	struct vfio_pci_dma_buf *priv;
	struct vfio_pci_dma_buf *tmp;

	down_write(&vdev->memory_lock);

	/*
	 * Drain any active mappings via the revoke path.  The move is
	 * idempotent for dma-bufs already in the revoked state and
	 * leaves every priv with the kref re-armed and the completion
	 * ready, so cleanup itself does not need to participate in kref
	 * bookkeeping.
	 */
	vfio_pci_dma_buf_move(vdev, true);

	mutex_lock(&vdev->dmabufs_lock);
	list_for_each_entry_safe(priv, tmp, &vdev->dmabufs, dmabufs_elm) {
		if (!get_file_active(&priv->dmabuf->file))
			continue;

		list_del_init(&priv->dmabufs_elm);
		priv->vdev = NULL;
		vfio_device_put_registration(&vdev->vdev);
		fput(priv->dmabuf->file);
	}
	/* The next open starts from the state of the BAR. */
	vdev->dmabufs_revoked = false;
	mutex_unlock(&vdev->dmabufs_lock);
	up_write(&vdev->memory_lock);
}
