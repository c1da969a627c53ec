// SPDX-License-Identifier: GPL-2.0-only
/*
 * DMA BUF Mapping Helpers
 *
 */
#include <linux/dma-buf-mapping.h>
#include <linux/dma-resv.h>
#include <linux/overflow.h>
#include <linux/align.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/pci.h>

#define MAX_SG_ENT_SZ ALIGN_DOWN(UINT_MAX, PAGE_SIZE)

static struct scatterlist *fill_sg_entry(struct scatterlist *sgl, size_t length,
					 dma_addr_t addr)
{
	size_t len;

	while (length) {
		len = min(length, MAX_SG_ENT_SZ);
		length -= len;
		/*
		 * DMABUF abuses scatterlist to create a scatterlist
		 * that does not have any CPU list, only the DMA list.
		 * Always set the page related values to NULL to ensure
		 * importers can't use it. The phys_addr based DMA API
		 * does not require the CPU list for mapping or unmapping.
		 */
		sg_set_page(sgl, NULL, 0, 0);
		sg_dma_address(sgl) = addr;
		sg_dma_len(sgl) = len;
		addr += len;
		/* Unconditionally advance. On last segment, this becomes NULL */
		sgl = sg_next(sgl);
	}

	return sgl;
}

static unsigned int calc_sg_nents(struct dma_iova_state *state,
				  struct phys_vec *phys_vec, size_t nr_ranges,
				  size_t size)
{
	unsigned int nents = 0;
	size_t i;

	if (!state || !dma_use_iova(state)) {
		for (i = 0; i < nr_ranges; i++) {
			unsigned int added = DIV_ROUND_UP(phys_vec[i].len, MAX_SG_ENT_SZ);

			if (check_add_overflow(nents, added, &nents))
				return 0;
		}
	} else {
		/*
		 * In IOVA case, there is only one SG entry which spans
		 * for whole IOVA address space, but we need to make sure
		 * that it fits sg->length, maybe we need more.
		 */
		nents = DIV_ROUND_UP(size, MAX_SG_ENT_SZ);
	}

	return nents;
}

/**
 * struct dma_buf_dma - holds DMA mapping information
 * @sgt:    Scatter-gather table
 * @state:  DMA IOVA state relevant in IOMMU-based DMA
 * @size:   Total size of DMA transfer
 */
struct dma_buf_dma {
	struct sg_table sgt;
	struct dma_iova_state *state;
	size_t size;
};

/**
 * dma_buf_phys_vec_to_sgt - Returns the scatterlist table of the attachment
 * from arrays of physical vectors. This funciton is intended for MMIO memory
 * only.
 * @attach:	[in]	attachment whose scatterlist is to be returned
 * @provider:	[in]	p2pdma provider
 * @phys_vec:	[in]	array of physical vectors
 * @nr_ranges:	[in]	number of entries in phys_vec array
 * @size:	[in]	total size of phys_vec
 * @dir:	[in]	direction of DMA transfer
 *
 * Returns sg_table containing the scatterlist to be returned; returns ERR_PTR
 * on error. May return -EINTR if it is interrupted by a signal.
 *
 * On success, the DMA addresses and lengths in the returned scatterlist are
 * PAGE_SIZE aligned.
 *
 * A mapping must be unmapped by using dma_buf_free_sgt().
 *
 * NOTE: This function is intended for exporters. If direct traffic routing is
 * mandatory exporter should call routing pci_p2pdma_map_type() before calling
 * this function.
 */
struct sg_table *dma_buf_phys_vec_to_sgt(struct dma_buf_attachment *attach,
					 struct p2pdma_provider *provider,
					 struct phys_vec *phys_vec,
					 size_t nr_ranges, size_t size,
					 enum dma_data_direction dir)
{
	struct dma_buf_dma *dma;
	struct scatterlist *sgl;
	size_t mapped_len = 0;
	unsigned int nents;
	dma_addr_t addr;
	size_t i;
	int ret;

	dma_resv_assert_held(attach->dmabuf->resv);

	if (WARN_ON(!attach || !attach->dmabuf || !provider))
		/* This function is supposed to work on MMIO memory only */
		return ERR_PTR(-EINVAL);

	dma = kzalloc_obj(*dma);
	if (!dma)
		return ERR_PTR(-ENOMEM);

	switch (pci_p2pdma_map_type(provider, attach->dev)) {
	case PCI_P2PDMA_MAP_BUS_ADDR:
		/*
		 * There is no need in IOVA at all for this flow.
		 */
		break;
	case PCI_P2PDMA_MAP_THRU_HOST_BRIDGE:
		dma->state = kzalloc_obj(*dma->state);
		if (!dma->state) {
			ret = -ENOMEM;
			goto err_free_dma;
		}

		dma_iova_try_alloc(attach->dev, dma->state, 0, size);
		break;
	default:
		ret = -EINVAL;
		goto err_free_dma;
	}

	nents = calc_sg_nents(dma->state, phys_vec, nr_ranges, size);

	/* sg_alloc_table will cleanly fail and return -EINVAL if nents == 0 */
	ret = sg_alloc_table(&dma->sgt, nents, GFP_KERNEL | __GFP_ZERO);
	if (ret)
		goto err_free_iova;

	sgl = dma->sgt.sgl;

	for (i = 0; i < nr_ranges; i++) {
		if (!dma->state) {
			addr = pci_p2pdma_bus_addr_map(provider,
						       phys_vec[i].paddr);
		} else if (dma_use_iova(dma->state)) {
			/* Each range after the ones before it */
			ret = dma_iova_link(attach->dev, dma->state,
					    phys_vec[i].paddr, mapped_len,
					    phys_vec[i].len, dir,
					    DMA_ATTR_MMIO);
			if (ret)
				goto err_unmap_dma;

			mapped_len += phys_vec[i].len;
		} else {
			addr = dma_map_phys(attach->dev, phys_vec[i].paddr,
					    phys_vec[i].len, dir,
					    DMA_ATTR_MMIO);
			ret = dma_mapping_error(attach->dev, addr);
			if (ret)
				goto err_unmap_dma;
		}

		if (!dma->state || !dma_use_iova(dma->state))
			sgl = fill_sg_entry(sgl, phys_vec[i].len, addr);
	}

	if (dma->state && dma_use_iova(dma->state)) {
		WARN_ON_ONCE(mapped_len != size);
		ret = dma_iova_sync(attach->dev, dma->state, 0, mapped_len);
		if (ret)
			goto err_unmap_dma;

		sgl = fill_sg_entry(sgl, mapped_len, dma->state->addr);
	}

	dma->size = size;

	/*
	 * No CPU list included — set orig_nents = 0 so others can detect
	 * this via SG table (use nents only).
	 */
	dma->sgt.orig_nents = 0;


	/*
	 * SGL must be NULL to indicate that SGL is the last one
	 * and we allocated correct number of entries in sg_alloc_table()
	 */
	WARN_ON_ONCE(sgl);
	return &dma->sgt;

err_unmap_dma:
	if (!dma->state) {
		; /* Bus addresses, nothing was mapped */
	} else if (dma_use_iova(dma->state)) {
		if (mapped_len)
			dma_iova_unlink(attach->dev, dma->state, 0, mapped_len,
					dir, DMA_ATTR_MMIO);
	} else {
		struct scatterlist *s;

		/* Only the entries filled before the range that failed */
		for_each_sgtable_dma_sg(&dma->sgt, s, i) {
			if (s == sgl)
				break;
			dma_unmap_phys(attach->dev, sg_dma_address(s),
				       sg_dma_len(s), dir, DMA_ATTR_MMIO);
		}
	}
	sg_free_table(&dma->sgt);
err_free_iova:
	if (dma->state && dma_use_iova(dma->state))
		dma_iova_free(attach->dev, dma->state);
	kfree(dma->state);
err_free_dma:
	kfree(dma);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_NS_GPL(dma_buf_phys_vec_to_sgt, "DMA_BUF");

/**
 * dma_buf_free_sgt- unmaps the buffer
 * @attach:	[in]	attachment to unmap buffer from
 * @sgt:	[in]	scatterlist info of the buffer to unmap
 * @dir:	[in]	direction of DMA transfer
 *
 * This unmaps a DMA mapping for @attached obtained
 * by dma_buf_phys_vec_to_sgt().
 */
void dma_buf_free_sgt(struct dma_buf_attachment *attach, struct sg_table *sgt,
		      enum dma_data_direction dir)
{
	struct dma_buf_dma *dma = container_of(sgt, struct dma_buf_dma, sgt);
	int i;

	dma_resv_assert_held(attach->dmabuf->resv);

	if (!dma->state) {
		; /* Do nothing */
	} else if (dma_use_iova(dma->state)) {
		dma_iova_destroy(attach->dev, dma->state, dma->size, dir,
				 DMA_ATTR_MMIO);
	} else {
		struct scatterlist *sgl;

		for_each_sgtable_dma_sg(sgt, sgl, i)
			dma_unmap_phys(attach->dev, sg_dma_address(sgl),
				       sg_dma_len(sgl), dir, DMA_ATTR_MMIO);
	}

	sg_free_table(sgt);
	kfree(dma->state);
	kfree(dma);

}
EXPORT_SYMBOL_NS_GPL(dma_buf_free_sgt, "DMA_BUF");

/**
 * DOC: physical address list mapping type
 *
 * &dma_buf_mapping_pal hands the importer the CPU physical addresses of the
 * buffer as a &struct dma_buf_phys_list, and the PCI P2P provider they
 * belong to. It exists for an importer that maps the memory into an IOMMU
 * itself, iommufd, and for memory without struct pages such as a PCI BAR.
 * The type describes MMIO only: every list names its provider, and
 * importers map the ranges as device memory (iommufd maps them with
 * IOMMU_MMIO and without IOMMU_CACHE). Memory with struct pages has the
 * scatterlist type. One exporter does not fit yet: nvgrace-gpu's device
 * memory, which vfio-pci exports with the provider of BAR 0, is cacheable,
 * and iommufd maps it as MMIO, as it did before this type existed; a
 * memory kind in the list can come with the importer that needs it.
 *
 * Raw physical addresses bypass every check that the DMA API makes, so the
 * type is restricted: the map and unmap functions and the type itself are
 * exported to iommufd only, dma_buf_pal_offer() to the exporters that use it
 * (vfio-pci; iommufd's test exporter builds its offer from the type itself);
 * the dma-buf KUnit tests get both. Only attachments that honour revoke
 * match. An exporter whose layout may break the rules below checks it with
 * dma_buf_pal_check() and does not offer the type then. The exporter's
 * &dma_buf_pal_exp_ops are reached through dma_buf_pal_map() and
 * dma_buf_pal_unmap() only, which check that the attachment is of the type
 * and validate every list the exporter returns before the importer sees it.
 * A bad list fails the map with -EINVAL and a warning, printed once, that
 * names the exporter.
 *
 * Revoke is the contract that makes raw addresses safe to hand out. The
 * exporter revokes with dma_buf_invalidate_mappings(), under the
 * reservation lock. For an attachment of this type, the importer's
 * &dma_buf_attach_ops.invalidate_mappings callback means: the addresses of
 * every list it holds are dead. Before the callback returns, the importer
 * stops every DMA to them (for iommufd: unmaps them from every IOMMU
 * domain, so that a device's access faults) and gives each list back with
 * dma_buf_pal_unmap(). It may use the buffer again only through a new
 * dma_buf_pal_map(), which fails while the buffer is revoked. The
 * exporter, for its part, must not let the memory change owner (reset the
 * device, reassign the BAR) before every list it handed out has come
 * back, and must not hand out a list while revoked.
 *
 * A revoke is announced once: the exporter does not call
 * dma_buf_invalidate_mappings() again when the buffer is usable again.
 * It lifts the revoke (dma_buf_pal_map() works again) and then calls
 * dma_buf_notify_available(): an importer that provides
 * &dma_buf_attach_ops.mappings_available may map the buffer from that
 * callback, which runs from the core's work item under the reservation
 * lock and none of the exporter's locks; an importer that does not keeps
 * the buffer unmapped until it is asked to map it again. Whether a revoke
 * is temporary (a reset) or for good (the device is closed) is the
 * exporter's business: after a final revoke it refuses every map with
 * -ENODEV and notifies nothing.
 *
 * An exporter of this type that lets the buffer be mmapped and implements
 * &dma_buf_ops.vma_offset can be mapped by user address: an importer given
 * one (iommufd's IOMMU_IOAS_MAP) finds the buffer with
 * dma_buf_get_from_vma(), asks dma_buf_vma_offset() where the VMA starts
 * in it, and maps the part of it that the address range covers.
 */

static int dma_buf_pal_match(struct dma_buf_attachment *attach,
			     const struct dma_buf_mapping_offer *offer,
			     const struct dma_buf_mapping_accept *accept)
{
	return dma_buf_attach_revocable(attach) ? 0 : -EOPNOTSUPP;
}

/**
 * var dma_buf_mapping_pal - the physical address list mapping type
 *
 * Exporters offer it with dma_buf_pal_offer(); importers accept it with
 * DMA_BUF_PAL_ACCEPT() and map with dma_buf_pal_map().
 */
const struct dma_buf_mapping_type dma_buf_mapping_pal = {
	.name = "pal",
	.match = dma_buf_pal_match,
};
EXPORT_SYMBOL_FOR_MODULES(dma_buf_mapping_pal, "iommufd,dmabuf_kunit");

/**
 * dma_buf_pal_offer - offer of the physical address list mapping type
 * @ops: the exporter's PAL operations, which must outlive the dma-buf.
 *
 * For the array that &dma_buf_ops.get_mapping_offers returns.
 *
 * Returns: the offer.
 */
struct dma_buf_mapping_offer
dma_buf_pal_offer(const struct dma_buf_pal_exp_ops *ops)
{
	return (struct dma_buf_mapping_offer){
		.type = &dma_buf_mapping_pal,
		.exp_ops = ops,
	};
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_pal_offer, "vfio_pci_core,dmabuf_kunit");

static int dma_buf_phys_vec_cmp(const void *a, const void *b)
{
	const struct phys_vec *x = a, *y = b;

	if (x->paddr == y->paddr)
		return 0;
	return x->paddr < y->paddr ? -1 : 1;
}

/**
 * dma_buf_pal_check - validate a physical address list
 * @size: size of the dma-buf in bytes
 * @pal: the list
 * @why: set to a short description of the first problem found
 *
 * The checks dma_buf_pal_map() makes on every list an exporter returns.
 * An exporter whose layout comes from userspace can run them when it
 * builds the list: if the list would be refused, it does not offer the
 * physical address list type for that dma-buf (it may still offer the
 * others).
 *
 * Returns: 0 if @pal is a valid list for a dma-buf of @size bytes,
 * -EINVAL if it is not, -ENOMEM if the overlap check could not allocate.
 */
int dma_buf_pal_check(size_t size, const struct dma_buf_phys_list *pal,
		      const char **why)
{
	struct phys_vec *sorted;
	phys_addr_t last;
	size_t total = 0;
	size_t i;
	int ret = 0;

	if (!pal->provider) {
		*why = "no P2P provider";
		return -EINVAL;
	}
	if (!pal->nr_ranges) {
		*why = "no range";
		return -EINVAL;
	}
	for (i = 0; i < pal->nr_ranges; i++) {
		const struct phys_vec *r = &pal->ranges[i];

		if (!r->len) {
			*why = "empty range";
			return -EINVAL;
		}
		if (!PAGE_ALIGNED(r->paddr) || !PAGE_ALIGNED(r->len)) {
			*why = "range not page aligned";
			return -EINVAL;
		}
		if (check_add_overflow(r->paddr, (phys_addr_t)(r->len - 1),
				       &last)) {
			*why = "range past the end of the address space";
			return -EINVAL;
		}
		if (check_add_overflow(total, r->len, &total) || total > size) {
			*why = "ranges larger than the dma-buf";
			return -EINVAL;
		}
	}
	if (total != size) {
		*why = "ranges smaller than the dma-buf";
		return -EINVAL;
	}
	/*
	 * A list in address order, as exporters usually build them, needs
	 * no copy and no sort: each range must start past the last byte of
	 * the one before it (which the loop above showed does not wrap).
	 */
	for (i = 1; i < pal->nr_ranges; i++) {
		const struct phys_vec *prev = &pal->ranges[i - 1];

		if (pal->ranges[i].paddr <= prev->paddr + (prev->len - 1))
			break;
	}
	if (i >= pal->nr_ranges)
		return 0;

	sorted = kvmalloc_array(pal->nr_ranges, sizeof(*sorted), GFP_KERNEL);
	if (!sorted) {
		*why = "no memory";
		return -ENOMEM;
	}
	memcpy(sorted, pal->ranges, pal->nr_ranges * sizeof(*sorted));
	sort(sorted, pal->nr_ranges, sizeof(*sorted), dma_buf_phys_vec_cmp,
	     NULL);
	for (i = 1; i < pal->nr_ranges; i++) {
		if (sorted[i].paddr - sorted[i - 1].paddr < sorted[i - 1].len) {
			*why = "overlapping ranges";
			ret = -EINVAL;
			break;
		}
	}
	kvfree(sorted);
	return ret;
}
EXPORT_SYMBOL_NS_GPL(dma_buf_pal_check, "DMA_BUF");

/**
 * dma_buf_pal_map - get the physical address list of an attachment
 * @attach: an attachment of the &dma_buf_mapping_pal type
 *
 * Must be called with the reservation lock of the dma-buf held. The list
 * is valid until dma_buf_pal_unmap() or until the exporter revokes the
 * buffer (&dma_buf_attach_ops.invalidate_mappings), whichever comes
 * first; the importer must stop using the addresses and call
 * dma_buf_pal_unmap() from its invalidate_mappings callback.
 *
 * Returns: the validated list, or an error pointer: -EINVAL for an
 * attachment of another type or a list that fails validation, -ENOMEM
 * when the validation could not allocate, or the exporter's error
 * (-ENODEV while the buffer is revoked).
 */
const struct dma_buf_phys_list *
dma_buf_pal_map(struct dma_buf_attachment *attach)
{
	const struct dma_buf_pal_exp_ops *ops;
	const struct dma_buf_phys_list *pal;
	const char *why;
	int ret;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (WARN_ON_ONCE(!dma_buf_attachment_is_type(attach,
						     &dma_buf_mapping_pal)))
		return ERR_PTR(-EINVAL);

	ops = attach->map_offer.exp_ops;
	pal = ops->map(attach);
	if (IS_ERR(pal))
		return pal;
	if (!pal) {
		pr_warn_once("dma-buf: exporter %s returned no physical address list\n",
			     attach->dmabuf->exp_name);
		return ERR_PTR(-EINVAL);
	}

	ret = dma_buf_pal_check(attach->dmabuf->size, pal, &why);
	if (ret) {
		if (ret == -EINVAL)
			pr_warn_once("dma-buf: exporter %s returned a bad physical address list: %s\n",
				     attach->dmabuf->exp_name, why);
		ops->unmap(attach, pal);
		return ERR_PTR(ret);
	}
	return pal;
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_pal_map, "iommufd,dmabuf_kunit");

/**
 * dma_buf_pal_unmap - end the use of a physical address list
 * @attach: the attachment the list was mapped for
 * @pal: the list dma_buf_pal_map() returned
 *
 * Must be called with the reservation lock of the dma-buf held.
 */
void dma_buf_pal_unmap(struct dma_buf_attachment *attach,
		       const struct dma_buf_phys_list *pal)
{
	const struct dma_buf_pal_exp_ops *ops = attach->map_offer.exp_ops;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (WARN_ON_ONCE(!dma_buf_attachment_is_type(attach,
						     &dma_buf_mapping_pal)))
		return;
	ops->unmap(attach, pal);
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_pal_unmap, "iommufd,dmabuf_kunit");

/**
 * DOC: PCI IOV mapping type
 *
 * &dma_buf_mapping_pci_iov hands the importer a BAR of an SR-IOV virtual
 * function (VF) and the ranges of the buffer in that BAR, as a &struct
 * dma_buf_iov_list. It exists for the driver of the physical function
 * (PF) that owns the VF: a GPU's PF driver given a dma-buf that VFIO
 * exported from its VF's slice of device memory knows where that BAR of
 * the VF lies in its own device, and wants locations in the device, not
 * CPU physical or DMA addresses. Nothing is mapped for DMA.
 *
 * The exporter offers the type with dma_buf_iov_offer(), naming the VF and
 * the BAR. The importer accepts it with DMA_BUF_IOV_ACCEPT(), naming itself
 * (the PF, whose &pci_dev.dev is the device of the attachment) and the VF
 * BARs it understands. They match when the exporter's device is a VF whose
 * pci_physfn() is the importer, the BAR is one the importer accepted, and
 * the attachment honours revoke (dma_buf_attach_revocable()). Anybody else
 * gets the exporter's next offer.
 *
 * The map and unmap functions are exported to the PF drivers that use the
 * type and to its tests only: an offset in a VF BAR is only meaningful to
 * the PF, and a list that the core did not check would let a PF driver
 * reach outside the VF's memory. dma_buf_iov_map() checks every list the
 * exporter returns before the importer sees it (see &struct
 * dma_buf_iov_list) and fails with -EINVAL and a warning, printed once,
 * for a bad one.
 *
 * Revoke works as for the physical address list type: the exporter calls
 * dma_buf_invalidate_mappings() under the reservation lock, and before the
 * importer's &dma_buf_attach_ops.invalidate_mappings returns, the PF has
 * stopped every use of the ranges (no engine of the device reads or
 * writes them any more) and has given the list back with
 * dma_buf_iov_unmap(). The exporter waits for that before the memory
 * changes owner (the VF is reset or removed). When the revoke is lifted
 * the exporter calls dma_buf_notify_available(), and the importer may map
 * once more, from &dma_buf_attach_ops.mappings_available or later. There
 * is an unmap because the exporter counts the lists it handed out, as for
 * the other types.
 *
 * The pointers of the offer, the VF among them, are only to be followed
 * while the attachment is mapped: a VF can be removed (sriov_numvfs set to
 * 0) while its PF holds an attachment, after its exporter has revoked the
 * buffer.
 *
 * The exporter calls invalidate_mappings with its own locks held and
 * waits for the lists to come back before a reset or a removal of the VF
 * goes on (VFIO does so under the VF's memory lock, and the removal of a
 * VF waits for VFIO to release it). The PF's callback must therefore not
 * wait for anything that the PF driver holds while it disables SR-IOV or
 * resets the VF, and an importer unmaps every list before it detaches.
 *
 * A PF driver imports a buffer and finds it in its device like this (the
 * device memory behind VF BAR 2 here; error handling shortened)::
 *
 *	static void pf_invalidate(struct dma_buf_attachment *attach)
 *	{
 *		struct pf_import *imp = attach->importer_priv;
 *
 *		if (imp->list) {
 *			pf_stop_engines(imp);	// no access after this
 *			dma_buf_iov_unmap(attach, imp->list);
 *			imp->list = NULL;
 *		}
 *	}
 *
 *	static const struct dma_buf_attach_ops pf_attach_ops = {
 *		.invalidate_mappings = pf_invalidate,
 *	};
 *
 *	accept = DMA_BUF_IOV_ACCEPT(pf_pdev, BIT(2));
 *	attach = dma_buf_mapping_attach(dmabuf, &pf_pdev->dev, &accept, 1,
 *					&pf_attach_ops, imp);
 *	dma_resv_lock(dmabuf->resv, NULL);
 *	list = dma_buf_iov_map(attach);
 *	if (!IS_ERR(list)) {
 *		vf = pci_iov_vf_id(attach->map_offer.iov.vf);
 *		for (i = 0; i < list->nr_ranges; i++)
 *			pf_use(imp, vf, list->ranges[i].offset,
 *			       list->ranges[i].len);
 *		imp->list = list;
 *	}
 *	dma_resv_unlock(dmabuf->resv);
 *
 * The offsets are those of the VF's BAR: where that BAR lies in the PF's
 * view (the VF BAR base of the PF's SR-IOV capability plus the VF number
 * times the size of one VF's BAR), or which slice of device memory the PF
 * gave that VF, is the PF driver's knowledge.
 */

static int dma_buf_iov_match(struct dma_buf_attachment *attach,
			     const struct dma_buf_mapping_offer *offer,
			     const struct dma_buf_mapping_accept *accept)
{
	struct pci_dev *vf = offer->iov.vf, *pf = accept->iov.pf;

	if (!vf || !pf || attach->dev != &pf->dev)
		return -EOPNOTSUPP;
	if (!vf->is_virtfn || pci_physfn(vf) != pf)
		return -EOPNOTSUPP;
	if (offer->iov.bar >= PCI_STD_NUM_BARS ||
	    !(accept->iov.bars & BIT(offer->iov.bar)))
		return -EOPNOTSUPP;
	return dma_buf_attach_revocable(attach) ? 0 : -EOPNOTSUPP;
}

/**
 * var dma_buf_mapping_pci_iov - the PCI IOV mapping type
 *
 * Exporters offer it with dma_buf_iov_offer(); importers accept it with
 * DMA_BUF_IOV_ACCEPT() and map with dma_buf_iov_map().
 */
const struct dma_buf_mapping_type dma_buf_mapping_pci_iov = {
	.name = "pci_iov",
	.match = dma_buf_iov_match,
};
EXPORT_SYMBOL_FOR_MODULES(dma_buf_mapping_pci_iov, "dmabuf_kunit,dmabuf_iov_test");

/**
 * dma_buf_iov_offer - offer of the PCI IOV mapping type
 * @ops: the exporter's IOV operations, which must outlive the dma-buf.
 * @vf: the virtual function whose BAR holds the buffer.
 * @bar: that BAR.
 *
 * For the array that &dma_buf_ops.get_mapping_offers returns.
 *
 * Returns: the offer.
 */
struct dma_buf_mapping_offer
dma_buf_iov_offer(const struct dma_buf_iov_exp_ops *ops, struct pci_dev *vf,
		  unsigned int bar)
{
	return (struct dma_buf_mapping_offer){
		.type = &dma_buf_mapping_pci_iov,
		.exp_ops = ops,
		.iov.vf = vf,
		.iov.bar = bar,
	};
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_iov_offer, "vfio_pci_core,dmabuf_kunit");

static int dma_buf_iov_range_cmp(const void *a, const void *b)
{
	const struct dma_buf_iov_range *x = a, *y = b;

	if (x->offset == y->offset)
		return 0;
	return x->offset < y->offset ? -1 : 1;
}

/**
 * dma_buf_iov_check - validate a list of VF BAR ranges
 * @size: size of the dma-buf in bytes
 * @vf: the virtual function of the offer
 * @bar: the BAR of the offer
 * @list: the list
 * @why: set to a short description of the first problem found
 *
 * The checks dma_buf_iov_map() makes on every list an exporter returns.
 * An exporter whose layout comes from userspace can run them when it
 * builds the list, and not offer the PCI IOV type for a list that would
 * be refused.
 *
 * Returns: 0 if @list is a valid list for a dma-buf of @size bytes in BAR
 * @bar of @vf, -EINVAL if it is not, -ENOMEM if the overlap check could
 * not allocate.
 */
int dma_buf_iov_check(size_t size, struct pci_dev *vf, unsigned int bar,
		      const struct dma_buf_iov_list *list, const char **why)
{
	u64 bar_len, end, total = 0;
	struct dma_buf_iov_range *sorted;
	int ret = 0;
	size_t i;

	if (bar >= PCI_STD_NUM_BARS || list->bar != bar) {
		*why = "not the BAR of the offer";
		return -EINVAL;
	}
	if (!list->nr_ranges || list->nr_ranges > DMA_BUF_IOV_MAX_RANGES) {
		*why = "no range, or too many";
		return -EINVAL;
	}
	bar_len = pci_resource_len(vf, bar);
	for (i = 0; i < list->nr_ranges; i++) {
		const struct dma_buf_iov_range *r = &list->ranges[i];

		if (!r->len) {
			*why = "empty range";
			return -EINVAL;
		}
		if (!PAGE_ALIGNED(r->offset) || !PAGE_ALIGNED(r->len)) {
			*why = "range not page aligned";
			return -EINVAL;
		}
		if (check_add_overflow(r->offset, r->len, &end) ||
		    end > bar_len) {
			*why = "range outside the BAR";
			return -EINVAL;
		}
		if (check_add_overflow(total, r->len, &total) ||
		    total > size) {
			*why = "ranges larger than the dma-buf";
			return -EINVAL;
		}
	}
	if (total != size) {
		*why = "ranges smaller than the dma-buf";
		return -EINVAL;
	}
	if (list->nr_ranges == 1)
		return 0;

	sorted = kvmalloc_array(list->nr_ranges, sizeof(*sorted), GFP_KERNEL);
	if (!sorted) {
		*why = "no memory";
		return -ENOMEM;
	}
	memcpy(sorted, list->ranges, list->nr_ranges * sizeof(*sorted));
	sort(sorted, list->nr_ranges, sizeof(*sorted), dma_buf_iov_range_cmp,
	     NULL);
	for (i = 1; i < list->nr_ranges; i++) {
		if (sorted[i].offset - sorted[i - 1].offset < sorted[i - 1].len) {
			*why = "overlapping ranges";
			ret = -EINVAL;
			break;
		}
	}
	kvfree(sorted);
	return ret;
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_iov_check, "vfio_pci_core,dmabuf_kunit");

/**
 * dma_buf_iov_map - get the VF BAR ranges of an attachment
 * @attach: an attachment of the &dma_buf_mapping_pci_iov type
 *
 * Must be called with the reservation lock of the dma-buf held. The list
 * is valid until dma_buf_iov_unmap() or until the exporter revokes the
 * buffer (&dma_buf_attach_ops.invalidate_mappings), whichever comes
 * first; the importer must stop using the ranges and call
 * dma_buf_iov_unmap() from its invalidate_mappings callback.
 *
 * Returns: the validated list, or an error pointer: -EINVAL for an
 * attachment of another type or a list that fails validation, -ENOMEM
 * when the validation could not allocate, or the exporter's error
 * (-ENODEV while the buffer is revoked).
 */
const struct dma_buf_iov_list *
dma_buf_iov_map(struct dma_buf_attachment *attach)
{
	const struct dma_buf_iov_exp_ops *ops;
	const struct dma_buf_iov_list *list;
	const char *why;
	int ret;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (WARN_ON_ONCE(!dma_buf_attachment_is_type(attach,
						     &dma_buf_mapping_pci_iov)))
		return ERR_PTR(-EINVAL);

	ops = attach->map_offer.exp_ops;
	list = ops->map(attach);
	if (IS_ERR(list))
		return list;
	if (!list) {
		pr_warn_once("dma-buf: exporter %s returned no VF BAR ranges\n",
			     attach->dmabuf->exp_name);
		return ERR_PTR(-EINVAL);
	}

	/* The VF is live: the buffer is not revoked under the lock. */
	ret = dma_buf_iov_check(attach->dmabuf->size, attach->map_offer.iov.vf,
				attach->map_offer.iov.bar, list, &why);
	if (ret) {
		if (ret == -EINVAL)
			pr_warn_once("dma-buf: exporter %s returned bad VF BAR ranges: %s\n",
				     attach->dmabuf->exp_name, why);
		ops->unmap(attach, list);
		return ERR_PTR(ret);
	}
	return list;
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_iov_map, "dmabuf_kunit,dmabuf_iov_test");

/**
 * dma_buf_iov_unmap - end the use of VF BAR ranges
 * @attach: the attachment the list was mapped for
 * @list: the list dma_buf_iov_map() returned
 *
 * Must be called with the reservation lock of the dma-buf held.
 */
void dma_buf_iov_unmap(struct dma_buf_attachment *attach,
		       const struct dma_buf_iov_list *list)
{
	const struct dma_buf_iov_exp_ops *ops = attach->map_offer.exp_ops;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (WARN_ON_ONCE(!dma_buf_attachment_is_type(attach,
						     &dma_buf_mapping_pci_iov)))
		return;
	ops->unmap(attach, list);
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_iov_unmap, "dmabuf_kunit,dmabuf_iov_test");
