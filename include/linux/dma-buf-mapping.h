/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * DMA BUF Mapping Helpers and mapping types
 *
 */
#ifndef __DMA_BUF_MAPPING_H__
#define __DMA_BUF_MAPPING_H__
#include <linux/dma-buf.h>

struct sg_table *dma_buf_phys_vec_to_sgt(struct dma_buf_attachment *attach,
					 struct p2pdma_provider *provider,
					 struct phys_vec *phys_vec,
					 size_t nr_ranges, size_t size,
					 enum dma_data_direction dir);
void dma_buf_free_sgt(struct dma_buf_attachment *attach, struct sg_table *sgt,
		      enum dma_data_direction dir);

/**
 * struct dma_buf_phys_list - CPU physical address list of a dma-buf
 * @provider: the PCI P2P provider whose MMIO the ranges are. Required: the
 *	      type describes MMIO, which importers map as device memory.
 * @nr_ranges: number of entries in @ranges.
 * @ranges: the ranges, in the order of the bytes of the dma-buf: byte 0 of
 *	    the dma-buf is at the physical address of the first range. Each
 *	    &phys_vec.len is a length in bytes.
 *
 * What an attachment of the &dma_buf_mapping_pal type maps to. Before an
 * importer sees a list, dma_buf_pal_map() checks that it names a provider
 * and has at least one range, that every range is page aligned and not
 * empty, that no range wraps around the physical address space or
 * overlaps another, and that the lengths add up to the size of the
 * dma-buf.
 */
struct dma_buf_phys_list {
	struct p2pdma_provider *provider;
	size_t nr_ranges;
	struct phys_vec ranges[] __counted_by(nr_ranges);
};

/**
 * struct dma_buf_pal_exp_ops - exporter operations of the PAL mapping type
 * @map: returns the physical address list of the dma-buf for @attach, or
 *	 an error pointer (-ENODEV while the buffer is revoked). Called with
 *	 the reservation lock held. The list stays owned by the exporter and
 *	 must not change until @unmap.
 * @unmap: ends the use of a list returned by @map. Called with the
 *	   reservation lock held.
 *
 * An exporter offers the type with dma_buf_pal_offer(). Only attachments
 * that honour revoke (dma_buf_attach_revocable()) get it: once
 * &dma_buf_attach_ops.invalidate_mappings has been called, the addresses
 * of every list mapped before are dead until the importer maps again, and
 * the importer gives the lists back from that callback. While revoked,
 * @map fails; before the memory changes owner, or the revoke is lifted,
 * the exporter waits until every list it handed out came back through
 * @unmap. See `DMA-BUF Mapping Types`_.
 */
struct dma_buf_pal_exp_ops {
	const struct dma_buf_phys_list *(*map)(struct dma_buf_attachment *attach);
	void (*unmap)(struct dma_buf_attachment *attach,
		      const struct dma_buf_phys_list *pal);
};

extern const struct dma_buf_mapping_type dma_buf_mapping_pal;

/**
 * DMA_BUF_PAL_ACCEPT - accept of the physical address list mapping type
 */
#define DMA_BUF_PAL_ACCEPT()						\
	((struct dma_buf_mapping_accept){ .type = &dma_buf_mapping_pal })

struct dma_buf_mapping_offer
dma_buf_pal_offer(const struct dma_buf_pal_exp_ops *ops);
const struct dma_buf_phys_list *
dma_buf_pal_map(struct dma_buf_attachment *attach);
void dma_buf_pal_unmap(struct dma_buf_attachment *attach,
		       const struct dma_buf_phys_list *pal);
int dma_buf_pal_check(size_t size, const struct dma_buf_phys_list *pal,
		      const char **why);

/**
 * struct dma_buf_iov_range - a range of a BAR of an SR-IOV virtual function
 * @offset: offset of the range in the BAR, in bytes.
 * @len: length of the range, in bytes.
 */
struct dma_buf_iov_range {
	u64 offset;
	u64 len;
};

/**
 * struct dma_buf_iov_list - where a dma-buf lies in a BAR of a VF
 * @bar: the BAR, the one of the exporter's offer.
 * @nr_ranges: number of entries in @ranges.
 * @ranges: the ranges, in the order of the bytes of the dma-buf.
 *
 * What an attachment of the &dma_buf_mapping_pci_iov type maps to: offsets
 * in a BAR of the exporter's virtual function, which its physical
 * function, the importer, translates into locations of its own device.
 * No DMA address and no CPU physical address is involved. The exporter
 * owns the list; dma_buf_iov_init() checks once that it is for the BAR of
 * the offer, has at least one range, that every range is page aligned,
 * not empty and inside the BAR, and that the lengths add up to the size of
 * the dma-buf. Ranges may overlap.
 */
struct dma_buf_iov_list {
	unsigned int bar;
	size_t nr_ranges;
	struct dma_buf_iov_range ranges[] __counted_by(nr_ranges);
};

/**
 * struct dma_buf_iov_info - a dma-buf of ranges of a VF's BAR, by value
 * @list: the ranges, checked by dma_buf_iov_init().
 * @bar_size: size of the BAR in bytes.
 * @pf_domain: PCI domain of the physical function of the VF.
 * @pf_rid: routing ID (bus and devfn) of the physical function.
 * @vf_id: number of the VF among the VFs of its PF, from 0, as
 *	   pci_iov_vf_id() gives it. Once the buffer is revoked for good, a
 *	   VF of that number may be a new one.
 * @bar: the BAR, 0 to %PCI_STD_NUM_BARS - 1.
 * @align_shift: log2 of the largest power of two that every offset and
 *		 length of @list is a multiple of.
 *
 * Filled in by dma_buf_iov_init() when the dma-buf is exported, owned by
 * the exporter and unchanged while the dma-buf lives; the offer points to
 * it. An importer reads it through &dma_buf_attachment.map_offer for as
 * long as it holds the dma-buf, also after the VF is gone: nothing in it
 * points to a &struct pci_dev.
 */
struct dma_buf_iov_info {
	const struct dma_buf_iov_list *list;
	u64 bar_size;
	u32 pf_domain;
	u16 pf_rid;
	u16 vf_id;
	u8 bar;
	u8 align_shift;
};

/**
 * struct dma_buf_iov_exp_ops - exporter operations of the PCI IOV type
 * @map: returns 0 if the importer may use the list of the dma-buf now, or
 *	 an error (-ENODEV while the buffer is revoked). Called with the
 *	 reservation lock held.
 * @unmap: ends the use of the list, one call for each successful @map.
 *	   Called with the reservation lock held.
 *
 * The exporter hands out no list of its own: dma_buf_iov_map() returns the
 * one of the offer's &struct dma_buf_iov_info. The revoke rules are those
 * of &struct dma_buf_pal_exp_ops, but that the exporter waits for the
 * lists %DMA_BUF_IOV_REVOKE_TIMEOUT_MS at most and may then cut the import
 * off: @map fails with -EIO and @unmap does nothing for it from then on.
 */
struct dma_buf_iov_exp_ops {
	int (*map)(struct dma_buf_attachment *attach);
	void (*unmap)(struct dma_buf_attachment *attach);
};

/**
 * DMA_BUF_IOV_REVOKE_TIMEOUT_MS - how long a PF may keep VF BAR ranges
 *
 * An importer of the PCI IOV type gives back every list within this many
 * milliseconds of a revoke (its &dma_buf_attach_ops.invalidate_mappings
 * call). After that the exporter may cut the import off; see the DOC of
 * the type. Five seconds is also xe's default job timeout: a PF driver
 * whose engines may run a job for longer must preempt it, or reset the
 * engine, within the bound.
 */
#define DMA_BUF_IOV_REVOKE_TIMEOUT_MS	5000

extern const struct dma_buf_mapping_type dma_buf_mapping_pci_iov;

/**
 * DMA_BUF_IOV_ACCEPT - accept of the PCI IOV mapping type
 * @_pf: the importing physical function, whose &pci_dev.dev attaches.
 * @_bars: the BARs of its virtual functions it can use, a mask of BIT(bar).
 * @_granule: the size, a power of two of at least %PAGE_SIZE, to which
 *	      every offset and length must be aligned for the importer to
 *	      use the ranges, or 0 for %PAGE_SIZE. Another value fails the
 *	      attach with -EINVAL.
 */
#define DMA_BUF_IOV_ACCEPT(_pf, _bars, _granule)			\
	((struct dma_buf_mapping_accept){				\
		.type = &dma_buf_mapping_pci_iov,			\
		.iov.pf = (_pf),					\
		.iov.bars = (_bars),					\
		.iov.granule = (_granule),				\
	})

int dma_buf_iov_init(struct dma_buf_iov_info *info, struct pci_dev *vf,
		     unsigned int bar, size_t size,
		     const struct dma_buf_iov_list *list, const char **why);
struct dma_buf_mapping_offer
dma_buf_iov_offer(const struct dma_buf_iov_exp_ops *ops,
		  const struct dma_buf_iov_info *info);
const struct dma_buf_iov_list *
dma_buf_iov_map(struct dma_buf_attachment *attach);
void dma_buf_iov_unmap(struct dma_buf_attachment *attach,
		       const struct dma_buf_iov_list *list);
void dma_buf_iov_might_wait_for_pf(void);
#endif
