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
 */
struct vfio_pci_dma_buf {
	struct dma_buf *dmabuf;
	struct vfio_pci_core_device *vdev;
	struct list_head dmabufs_elm;
	size_t size;
	struct dma_buf_phys_list *pal;
	struct dma_buf_mapping_offer offers[2];
	u8 nr_offers;
	struct kref kref;
	struct completion comp;
	/*
	 * Written under the reservation lock and memory_lock; the attach
	 * path reads it without them.
	 */
	bool revoked;
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

static int vfio_pci_dma_buf_attach(struct dma_buf *dmabuf,
				   struct dma_buf_attachment *attachment)
{
	struct vfio_pci_dma_buf *priv = dmabuf->priv;

	if (READ_ONCE(priv->revoked))
		return -ENODEV;

	if (!dma_buf_attach_revocable(attachment))
		return -EOPNOTSUPP;

	return 0;
}

static void vfio_pci_dma_buf_done(struct kref *kref)
{
	struct vfio_pci_dma_buf *priv =
		container_of(kref, struct vfio_pci_dma_buf, kref);

	complete(&priv->comp);
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

static void vfio_pci_dma_buf_release(struct dma_buf *dmabuf)
{
	struct vfio_pci_dma_buf *priv = dmabuf->priv;

	/*
	 * Either this or vfio_pci_dma_buf_cleanup() will remove from the list.
	 * The refcount prevents both.
	 */
	if (priv->vdev) {
		down_write(&priv->vdev->memory_lock);
		list_del_init(&priv->dmabufs_elm);
		up_write(&priv->vdev->memory_lock);
		vfio_device_put_registration(&priv->vdev->vdev);
	}
	kvfree(priv->pal);
	kfree(priv);
}

static const struct dma_buf_ops vfio_pci_dmabuf_ops = {
	.get_mapping_offers = vfio_pci_dma_buf_get_offers,
	.attach = vfio_pci_dma_buf_attach,
	.map_dma_buf = vfio_pci_dma_buf_map,
	.unmap_dma_buf = vfio_pci_dma_buf_unmap,
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

int vfio_pci_core_feature_dma_buf(struct vfio_pci_core_device *vdev, u32 flags,
				  struct vfio_device_feature_dma_buf __user *arg,
				  size_t argsz)
{
	struct vfio_device_feature_dma_buf get_dma_buf = {};
	struct vfio_region_dma_range *dma_ranges;
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct p2pdma_provider *provider;
	struct vfio_pci_dma_buf *priv;
	const char *why;
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
		goto err_free_ranges;

	priv = kzalloc_obj(*priv);
	if (!priv) {
		ret = -ENOMEM;
		goto err_free_ranges;
	}
	priv->pal = kvzalloc(struct_size(priv->pal, ranges, get_dma_buf.nr_ranges),
			     GFP_KERNEL_ACCOUNT);
	if (!priv->pal) {
		ret = -ENOMEM;
		goto err_free_priv;
	}

	priv->vdev = vdev;
	priv->pal->nr_ranges = get_dma_buf.nr_ranges;
	priv->size = length;
	ret = vdev->pci_ops->get_dmabuf_phys(vdev, &provider,
					     get_dma_buf.region_index,
					     priv->pal->ranges, dma_ranges,
					     priv->pal->nr_ranges);
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
	if (!ret)
		priv->offers[priv->nr_offers++] =
			dma_buf_pal_offer(&vfio_pci_dma_buf_pal_ops);
	priv->offers[priv->nr_offers++] = DMA_BUF_SGT_OFFER(provider);

	kfree(dma_ranges);
	dma_ranges = NULL;

	if (!vfio_device_try_get_registration(&vdev->vdev)) {
		ret = -ENODEV;
		goto err_free_phys;
	}

	exp_info.ops = &vfio_pci_dmabuf_ops;
	exp_info.size = priv->size;
	exp_info.flags = get_dma_buf.open_flags;
	exp_info.priv = priv;

	priv->dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(priv->dmabuf)) {
		ret = PTR_ERR(priv->dmabuf);
		goto err_dev_put;
	}

	kref_init(&priv->kref);
	init_completion(&priv->comp);

	/* dma_buf_put() now frees priv */
	INIT_LIST_HEAD(&priv->dmabufs_elm);
	down_write(&vdev->memory_lock);
	dma_resv_lock(priv->dmabuf->resv, NULL);
	WRITE_ONCE(priv->revoked, !__vfio_pci_memory_enabled(vdev));
	list_add_tail(&priv->dmabufs_elm, &vdev->dmabufs);
	dma_resv_unlock(priv->dmabuf->resv);
	up_write(&vdev->memory_lock);

	/*
	 * dma_buf_fd() consumes the reference, when the file closes the dmabuf
	 * will be released.
	 */
	ret = dma_buf_fd(priv->dmabuf, get_dma_buf.open_flags);
	if (ret < 0)
		dma_buf_put(priv->dmabuf);

	return ret;

err_dev_put:
	vfio_device_put_registration(&vdev->vdev);
err_free_phys:
	kvfree(priv->pal);
err_free_priv:
	kfree(priv);
err_free_ranges:
	kfree(dma_ranges);
	return ret;
}

void vfio_pci_dma_buf_move(struct vfio_pci_core_device *vdev, bool revoked)
{
	struct vfio_pci_dma_buf *priv;
	struct vfio_pci_dma_buf *tmp;

	lockdep_assert_held_write(&vdev->memory_lock);

	list_for_each_entry_safe(priv, tmp, &vdev->dmabufs, dmabufs_elm) {
		if (!get_file_active(&priv->dmabuf->file))
			continue;

		if (priv->revoked != revoked) {
			dma_resv_lock(priv->dmabuf->resv, NULL);
			if (revoked)
				WRITE_ONCE(priv->revoked, true);
			dma_buf_invalidate_mappings(priv->dmabuf);
			dma_resv_wait_timeout(priv->dmabuf->resv,
					      DMA_RESV_USAGE_BOOKKEEP, false,
					      MAX_SCHEDULE_TIMEOUT);
			dma_resv_unlock(priv->dmabuf->resv);
			if (revoked) {
				kref_put(&priv->kref, vfio_pci_dma_buf_done);
				wait_for_completion(&priv->comp);
				/*
				 * Re-arm the registered kref reference and the
				 * completion so the post-revoke state matches the
				 * post-creation state.  An un-revoke followed by a
				 * new mapping needs the kref to be non-zero before
				 * kref_get(), and vfio_pci_dma_buf_cleanup()
				 * delegates its drain back through this revoke
				 * path on a possibly-already-revoked dma-buf.
				 */
				kref_init(&priv->kref);
				reinit_completion(&priv->comp);
			} else {
				dma_resv_lock(priv->dmabuf->resv, NULL);
				WRITE_ONCE(priv->revoked, false);
				dma_resv_unlock(priv->dmabuf->resv);
			}
		}
		fput(priv->dmabuf->file);
	}
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

	list_for_each_entry_safe(priv, tmp, &vdev->dmabufs, dmabufs_elm) {
		if (!get_file_active(&priv->dmabuf->file))
			continue;

		list_del_init(&priv->dmabufs_elm);
		priv->vdev = NULL;
		vfio_device_put_registration(&vdev->vdev);
		fput(priv->dmabuf->file);
	}
	up_write(&vdev->memory_lock);
}
