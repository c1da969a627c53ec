// SPDX-License-Identifier: GPL-2.0-only
/*
 * DMA BUF Mapping Helpers
 *
 */
#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <linux/dma-buf-mapping.h>
#include <linux/dma-resv.h>
#include <linux/overflow.h>
#include <linux/align.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/pci.h>
#include <linux/lockdep.h>

#include "dma-buf-internal.h"

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
 * The exporter describes the buffer once, when it exports it: it fills a
 * &struct dma_buf_iov_info with dma_buf_iov_init(), which checks the list
 * of ranges and records, by value, what the match and the importer need:
 * the PF's PCI domain and routing ID, the VF's number, the BAR, its size
 * and the alignment of the ranges. It then offers the type with
 * dma_buf_iov_offer(). The importer accepts it with DMA_BUF_IOV_ACCEPT(),
 * naming itself (the PF, whose &pci_dev.dev is the device of the
 * attachment), the VF BARs it understands, and the granule in which it
 * maps device memory. They match when the importer is the PF recorded in
 * the offer, the BAR is one it accepted, every range is aligned to its
 * granule, and the attachment honours revoke (dma_buf_attach_revocable()).
 * Anybody else, and a PF whose granule the ranges do not fit, goes on to
 * its next accept and then to the exporter's next offer, such as a
 * scatterlist. A granule that is not a power of two of at least
 * %PAGE_SIZE fails the attach with -EINVAL, when an exporter offers the
 * type (an exporter that does not offer it never looks at the accept).
 *
 * The offer holds no pointer to a &struct pci_dev. A VF can go while its
 * PF holds an attachment (a hot unplug, a sysfs remove of the VF, or a PF
 * driver that breaks the rule below), after its exporter has revoked the
 * buffer for good; the info lives as long as the dma-buf, so the importer
 * can read it for as long as it holds the dma-buf. The PF's domain and
 * routing ID name the VF's PF function whenever an attachment is
 * matched: the exporter offers only while the buffer is not revoked, and
 * a VF's buffer is revoked for good before the VF goes, so the VF is
 * there, and its PF function at those IDs (a PF whose &struct pci_dev
 * was removed and found again by a rescan while its VFs stayed is the
 * same function under the same IDs). Once the buffer is revoked for
 * good, a VF with the same number may be a new one: the VF number means
 * the buffer's VF only while a list is mapped and the import is not cut
 * off.
 *
 * The map and unmap functions are exported to the PF drivers that use the
 * type and to its tests only: an offset in a VF BAR is only meaningful to
 * the PF. The list is checked once, by dma_buf_iov_init(), and does not
 * change while the dma-buf lives: dma_buf_iov_map() asks the exporter
 * whether the buffer may be used now and returns the checked list, so a
 * map costs the same for one range as for many. Ranges may overlap (the
 * VFIO uAPI allows it): each of them lies in the VF's BAR, so an alias
 * gives the PF nothing that it does not own already.
 *
 * Revoke works as for the physical address list type, with a bound. The
 * exporter calls dma_buf_invalidate_mappings() under the reservation lock
 * and waits for the buffer's fences, which signal in bounded time by the
 * rules of dma-fences; the PF stops every use of the ranges (no engine of
 * the device reads or writes them any more) and gives the list back with
 * dma_buf_iov_unmap(), from its &dma_buf_attach_ops.invalidate_mappings
 * or later under the reservation lock, within
 * %DMA_BUF_IOV_REVOKE_TIMEOUT_MS of the callback. The callback never
 * blocks on anything that the revoke can be waiting for. The exporter
 * waits for the lists before the VF is reset or removed, or its memory
 * given to another user, but no longer than that: a guest can reset its
 * VF at any time, and the reset must not hang on the PF. When the time
 * is up, the exporter may cut the import off: it logs an error, stops
 * counting the attachment's lists, ignores their late unmap, and fails
 * every later map of the attachment with -EIO; the importer still
 * unmaps and detaches as usual, and attaches anew to use the buffer
 * again. The cut ends the wait of the VF's user, not the PF's use of the
 * memory: a PF that goes on with the ranges may write memory that the
 * VF's next user, or another VF, owns by then. It is a bug of the PF
 * driver, which owns that device memory and is trusted with every VF's
 * part of it anyway; the exporter cannot stop the PF's engines. The other
 * mapping types keep an unbounded wait, as their importers, a device that
 * user space programs or a DMA mapping, are not the memory's owner.
 * When the revoke is lifted the exporter calls
 * dma_buf_notify_available(), and the importer may map once more, from
 * &dma_buf_attach_ops.mappings_available or later. There is an unmap
 * because the exporter counts the lists it handed out, as for the other
 * types.
 *
 * The exporter calls invalidate_mappings with its own locks held and
 * waits for the lists to come back before a reset or a removal of the VF
 * goes on (VFIO does so under the VF's memory lock, and the removal of a
 * VF waits for VFIO to release it); it may also wait for
 * mappings_available (VFIO's accesses that lift a revoke do). Neither
 * callback may therefore wait for anything that the PF driver holds while
 * it disables SR-IOV or resets the VF, and an importer unmaps every list
 * before it detaches. A
 * PF driver detaches its imports of its VFs' buffers before it calls
 * pci_disable_sriov(), from its &pci_driver.sriov_configure and its
 * remove, and holds no lock there that its callback takes; nor does the
 * callback take the PF's device lock or pci_lock_rescan_remove(), which
 * the sysfs write of sriov_numvfs holds. The exporter calls
 * dma_buf_iov_might_wait_for_pf() before such a wait, and both callbacks
 * run inside a lockdep map that it takes: lockdep reports a callback
 * that takes a lock held there, the PF driver's own locks and
 * pci_lock_rescan_remove(), once the callback has taken it and a VF has
 * been removed with it held, in the same boot, in either order. Lockdep
 * does not validate device locks, so a callback that takes the PF's
 * device lock goes unreported. The map is one for every PF driver.
 *
 * A PF driver imports a buffer and finds it in its device like this (the
 * device memory behind VF BAR 2 here, in 64 KiB pages; error handling
 * shortened)::
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
 *	accepts[0] = DMA_BUF_IOV_ACCEPT(pf_pdev, BIT(2), SZ_64K);
 *	accepts[1] = DMA_BUF_SGT_ACCEPT(true);
 *	attach = dma_buf_mapping_attach(dmabuf, &pf_pdev->dev, accepts, 2,
 *					&pf_attach_ops, imp);
 *	if (!dma_buf_attachment_is_type(attach, &dma_buf_mapping_pci_iov))
 *		return pf_import_sgt(imp, attach);
 *	info = attach->map_offer.iov.info;
 *	dma_resv_lock(dmabuf->resv, NULL);
 *	list = dma_buf_iov_map(attach);
 *	if (!IS_ERR(list)) {
 *		for (i = 0; i < list->nr_ranges; i++)
 *			pf_use(imp, info->vf_id, list->ranges[i].offset,
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

#ifdef CONFIG_LOCKDEP
/*
 * The callbacks of PCI IOV importers and the waits that they can block:
 * the removal of a VF waits for the users of its exporter, whose close
 * revokes the buffer and calls the PF's invalidate_mappings, and whose
 * accesses that lift a revoke wait for its mappings_available. A PF driver that
 * disables SR-IOV with a lock held that its callback takes would hang
 * there; lockdep tells, from any earlier revoke, without the hang (for
 * the locks lockdep validates: not device locks). As for
 * dma_fence_begin_signalling(), the callback section takes the map as a
 * read trylock, so the locks held around it are not recorded.
 */
static struct lockdep_map dma_buf_iov_revoke_map = {
	.name = "dma_buf_iov_revoke",
};
#endif

/*
 * Calls @cb, the invalidate_mappings or mappings_available callback of a
 * PCI IOV importer, for the dma-buf core: both can be waited for by what
 * the removal of a VF waits for.
 */
void dma_buf_iov_call(struct dma_buf_attachment *attach,
		      void (*cb)(struct dma_buf_attachment *attach))
{
	lock_acquire(&dma_buf_iov_revoke_map, 0, 1, 1, 1, NULL, _RET_IP_);
	cb(attach);
	lock_release(&dma_buf_iov_revoke_map, _RET_IP_);
}

/**
 * dma_buf_iov_might_wait_for_pf - annotate a wait that a PF's callback blocks
 *
 * For exporters of VF BAR buffers: called where the removal of a VF is
 * about to wait for what revokes the buffer (VFIO: the release of the
 * VF's device by its user), with the locks of the removal held. With
 * lockdep, it reports a PF driver whose PCI IOV callback takes a lock
 * that is held there, such as one that the PF holds while it calls
 * pci_disable_sriov(), as soon as the callback has been called once; not
 * the device locks, which lockdep does not validate.
 *
 * Context: Process context; may sleep.
 */
void dma_buf_iov_might_wait_for_pf(void)
{
	might_sleep();
	lock_map_acquire(&dma_buf_iov_revoke_map);
	lock_map_release(&dma_buf_iov_revoke_map);
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_iov_might_wait_for_pf, "vfio_pci_core");

/*
 * The PCI domain and routing ID of @pdev. The KUnit tests replace it, as
 * their made-up functions have no bus.
 */
VISIBLE_IF_KUNIT void dma_buf_iov_pci_id(struct pci_dev *pdev, u32 *domain,
					 u16 *rid)
{
	KUNIT_STATIC_STUB_REDIRECT(dma_buf_iov_pci_id, pdev, domain, rid);
	*domain = pci_domain_nr(pdev->bus);
	*rid = pci_dev_id(pdev);
}
EXPORT_SYMBOL_IF_KUNIT(dma_buf_iov_pci_id);

/* The number of VF @vf of its PF; replaced by the KUnit tests, as above. */
VISIBLE_IF_KUNIT int dma_buf_iov_vf_id(struct pci_dev *vf)
{
	KUNIT_STATIC_STUB_REDIRECT(dma_buf_iov_vf_id, vf);
	/*
	 * The VF Stride of a PF with one VF need not be set, and
	 * pci_iov_vf_id() divides by it.
	 */
	if (pci_num_vf(pci_physfn(vf)) == 1)
		return 0;
	return pci_iov_vf_id(vf);
}
EXPORT_SYMBOL_IF_KUNIT(dma_buf_iov_vf_id);

static int dma_buf_iov_match(struct dma_buf_attachment *attach,
			     const struct dma_buf_mapping_offer *offer,
			     const struct dma_buf_mapping_accept *accept)
{
	const struct dma_buf_iov_info *info = offer->iov.info;
	struct pci_dev *pf = accept->iov.pf;
	u32 granule = accept->iov.granule ?: PAGE_SIZE;
	u32 domain;
	u16 rid;

	if (!is_power_of_2(granule) || granule < PAGE_SIZE)
		return -EINVAL;
	if (!info || !pf || attach->dev != &pf->dev || !pf->is_physfn)
		return -EOPNOTSUPP;
	dma_buf_iov_pci_id(pf, &domain, &rid);
	if (domain != info->pf_domain || rid != info->pf_rid)
		return -EOPNOTSUPP;
	if (!(accept->iov.bars & BIT(info->bar)))
		return -EOPNOTSUPP;
	if (info->align_shift < ilog2(granule))
		return -EOPNOTSUPP;
	return dma_buf_attach_revocable(attach) ? 0 : -EOPNOTSUPP;
}

/**
 * var dma_buf_mapping_pci_iov - the PCI IOV mapping type
 *
 * Exporters describe the buffer with dma_buf_iov_init() and offer it with
 * dma_buf_iov_offer(); importers accept it with DMA_BUF_IOV_ACCEPT() and
 * map with dma_buf_iov_map().
 */
const struct dma_buf_mapping_type dma_buf_mapping_pci_iov = {
	.name = "pci_iov",
	.match = dma_buf_iov_match,
};
EXPORT_SYMBOL_FOR_MODULES(dma_buf_mapping_pci_iov, "dmabuf_kunit,dmabuf_iov_test");

/*
 * Checks @list against BAR @bar of @bar_size bytes and a dma-buf of @size
 * bytes. Returns the OR of every offset and length, which is not 0 for a
 * valid list, or 0 with @why set.
 */
static u64 dma_buf_iov_check(size_t size, unsigned int bar, u64 bar_size,
			     const struct dma_buf_iov_list *list,
			     const char **why)
{
	u64 end, bits = 0, total = 0;
	size_t i;

	if (list->bar != bar) {
		*why = "not the BAR of the offer";
		return 0;
	}
	if (!list->nr_ranges) {
		*why = "no range";
		return 0;
	}
	for (i = 0; i < list->nr_ranges; i++) {
		const struct dma_buf_iov_range *r = &list->ranges[i];

		if (!r->len) {
			*why = "empty range";
			return 0;
		}
		if (!PAGE_ALIGNED(r->offset) || !PAGE_ALIGNED(r->len)) {
			*why = "range not page aligned";
			return 0;
		}
		if (check_add_overflow(r->offset, r->len, &end) ||
		    end > bar_size) {
			*why = "range outside the BAR";
			return 0;
		}
		if (check_add_overflow(total, r->len, &total) ||
		    total > size) {
			*why = "ranges larger than the dma-buf";
			return 0;
		}
		bits |= r->offset | r->len;
	}
	if (total != size) {
		*why = "ranges smaller than the dma-buf";
		return 0;
	}
	return bits;
}

/**
 * dma_buf_iov_init - describe a dma-buf of ranges of a VF's BAR
 * @info: filled in; owned by the exporter, it must live as long as the
 *	  dma-buf and not change.
 * @vf: the virtual function whose BAR holds the buffer; held by the caller
 *	during the call only.
 * @bar: that BAR.
 * @size: size of the dma-buf in bytes.
 * @list: the ranges, owned by the exporter like @info; dma_buf_iov_map()
 *	  hands it to the importer.
 * @why: set to a short description of the problem when -EINVAL is
 *	 returned.
 *
 * Checks @list once, so that no map has to: it is for @bar, has at least
 * one range, every range is page aligned, not empty and inside the BAR,
 * and the lengths add up to @size. Ranges may overlap. Records the PF's
 * PCI domain and routing ID, the VF's number, the BAR's size and the
 * largest power of two that every offset and length is a multiple of.
 *
 * Context: Process context. Allocates nothing.
 *
 * Returns: 0, or -EINVAL if @vf is not a virtual function, @bar is not a
 * BAR of it, or @list is not a valid list of it.
 */
int dma_buf_iov_init(struct dma_buf_iov_info *info, struct pci_dev *vf,
		     unsigned int bar, size_t size,
		     const struct dma_buf_iov_list *list, const char **why)
{
	u64 bar_size, bits;
	int vf_id;

	if (!vf->is_virtfn) {
		*why = "not a virtual function";
		return -EINVAL;
	}
	if (bar >= PCI_STD_NUM_BARS || !pci_resource_len(vf, bar)) {
		*why = "not a BAR of the virtual function";
		return -EINVAL;
	}
	vf_id = dma_buf_iov_vf_id(vf);
	if (vf_id < 0 || vf_id > U16_MAX) {
		*why = "no number of the virtual function";
		return -EINVAL;
	}
	bar_size = pci_resource_len(vf, bar);
	bits = dma_buf_iov_check(size, bar, bar_size, list, why);
	if (!bits)
		return -EINVAL;

	*info = (struct dma_buf_iov_info){
		.list = list,
		.bar_size = bar_size,
		.vf_id = vf_id,
		.bar = bar,
		.align_shift = __ffs64(bits),
	};
	dma_buf_iov_pci_id(pci_physfn(vf), &info->pf_domain, &info->pf_rid);
	return 0;
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_iov_init, "vfio_pci_core,dmabuf_kunit");

/**
 * dma_buf_iov_offer - offer of the PCI IOV mapping type
 * @ops: the exporter's IOV operations, which must outlive the dma-buf.
 * @info: the buffer, as dma_buf_iov_init() described it.
 *
 * For the array that &dma_buf_ops.get_mapping_offers returns. The
 * exporter must not offer the type once the VF can have gone: the match
 * trusts the PF's IDs that @info recorded to name the live PF. VFIO
 * offers nothing for a buffer that is revoked, and revokes it for good
 * before its VF goes.
 *
 * Returns: the offer.
 */
struct dma_buf_mapping_offer
dma_buf_iov_offer(const struct dma_buf_iov_exp_ops *ops,
		  const struct dma_buf_iov_info *info)
{
	return (struct dma_buf_mapping_offer){
		.type = &dma_buf_mapping_pci_iov,
		.exp_ops = ops,
		.iov.info = info,
	};
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_iov_offer, "vfio_pci_core,dmabuf_kunit");

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
 * Returns: the list that dma_buf_iov_init() checked, or an error pointer:
 * -EINVAL for an attachment of another type, or the exporter's error
 * (-ENODEV while the buffer is revoked, -EIO for good once the exporter
 * cut the import off after the PF was late for a revoke: see the DOC).
 */
const struct dma_buf_iov_list *
dma_buf_iov_map(struct dma_buf_attachment *attach)
{
	const struct dma_buf_iov_exp_ops *ops;
	int ret;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (WARN_ON_ONCE(!dma_buf_attachment_is_type(attach,
						     &dma_buf_mapping_pci_iov)))
		return ERR_PTR(-EINVAL);

	ops = attach->map_offer.exp_ops;
	ret = ops->map(attach);
	if (ret)
		return ERR_PTR(ret);
	return attach->map_offer.iov.info->list;
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_iov_map, "dmabuf_kunit,dmabuf_iov_test");

/**
 * dma_buf_iov_unmap - end the use of VF BAR ranges
 * @attach: the attachment the list was mapped for
 * @list: the list dma_buf_iov_map() returned
 *
 * Must be called with the reservation lock of the dma-buf held, for every
 * list that dma_buf_iov_map() returned, also after the exporter cut the
 * import off (it then does nothing) and before the importer detaches.
 */
void dma_buf_iov_unmap(struct dma_buf_attachment *attach,
		       const struct dma_buf_iov_list *list)
{
	const struct dma_buf_iov_exp_ops *ops = attach->map_offer.exp_ops;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (WARN_ON_ONCE(!dma_buf_attachment_is_type(attach,
						     &dma_buf_mapping_pci_iov) ||
			 list != attach->map_offer.iov.info->list))
		return;
	ops->unmap(attach);
}
EXPORT_SYMBOL_FOR_MODULES(dma_buf_iov_unmap, "dmabuf_kunit,dmabuf_iov_test");
