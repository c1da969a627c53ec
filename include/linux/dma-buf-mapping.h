/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * DMA BUF Mapping Helpers and mapping types
 *
 */
#ifndef __DMA_BUF_MAPPING_H__
#define __DMA_BUF_MAPPING_H__
#include <linux/dma-buf.h>
#include <linux/sizes.h>

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
 * DMA_BUF_IOV_MAX_RANGES - the most ranges a &struct dma_buf_iov_list has
 */
#define DMA_BUF_IOV_MAX_RANGES	SZ_64K

/**
 * struct dma_buf_iov_list - where a dma-buf lies in a BAR of a VF
 * @bar: the BAR, the one of the exporter's offer.
 * @nr_ranges: number of entries in @ranges, at most
 *	       %DMA_BUF_IOV_MAX_RANGES.
 * @ranges: the ranges, in the order of the bytes of the dma-buf.
 *
 * What an attachment of the &dma_buf_mapping_pci_iov type maps to: offsets
 * in a BAR of the exporter's virtual function, which its physical
 * function, the importer, translates into locations of its own device.
 * No DMA address and no CPU physical address is involved. Before an
 * importer sees a list, dma_buf_iov_map() checks that it is for the BAR
 * of the offer, has between one and %DMA_BUF_IOV_MAX_RANGES ranges, that
 * every range is page aligned, not empty, inside the BAR and overlaps no
 * other, and that the lengths add up to the size of the dma-buf.
 */
struct dma_buf_iov_list {
	unsigned int bar;
	size_t nr_ranges;
	struct dma_buf_iov_range ranges[] __counted_by(nr_ranges);
};

/**
 * struct dma_buf_iov_exp_ops - exporter operations of the PCI IOV type
 * @map: returns the ranges of the dma-buf for @attach, or an error pointer
 *	 (-ENODEV while the buffer is revoked). Called with the reservation
 *	 lock held. The list stays owned by the exporter and must not change
 *	 until @unmap.
 * @unmap: ends the use of a list returned by @map. Called with the
 *	   reservation lock held.
 *
 * The revoke rules are those of &struct dma_buf_pal_exp_ops.
 */
struct dma_buf_iov_exp_ops {
	const struct dma_buf_iov_list *(*map)(struct dma_buf_attachment *attach);
	void (*unmap)(struct dma_buf_attachment *attach,
		      const struct dma_buf_iov_list *list);
};

extern const struct dma_buf_mapping_type dma_buf_mapping_pci_iov;

/**
 * DMA_BUF_IOV_ACCEPT - accept of the PCI IOV mapping type
 * @_pf: the importing physical function, whose &pci_dev.dev attaches.
 * @_bars: the BARs of its virtual functions it can use, a mask of BIT(bar).
 */
#define DMA_BUF_IOV_ACCEPT(_pf, _bars)					\
	((struct dma_buf_mapping_accept){				\
		.type = &dma_buf_mapping_pci_iov,			\
		.iov.pf = (_pf),					\
		.iov.bars = (_bars),					\
	})

struct dma_buf_mapping_offer
dma_buf_iov_offer(const struct dma_buf_iov_exp_ops *ops, struct pci_dev *vf,
		  unsigned int bar);
const struct dma_buf_iov_list *
dma_buf_iov_map(struct dma_buf_attachment *attach);
void dma_buf_iov_unmap(struct dma_buf_attachment *attach,
		       const struct dma_buf_iov_list *list);
int dma_buf_iov_check(size_t size, struct pci_dev *vf, unsigned int bar,
		      const struct dma_buf_iov_list *list, const char **why);
#endif
