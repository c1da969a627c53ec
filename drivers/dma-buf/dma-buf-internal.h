/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Functions of the dma-buf core that are not for drivers: called from
 * another file of the core, or only by its KUnit tests.
 */
#ifndef _DMA_BUF_INTERNAL_H
#define _DMA_BUF_INTERNAL_H

#include <linux/types.h>

struct device;
struct dma_buf_attachment;
struct p2pdma_provider;
struct pci_dev;

void dma_buf_iov_call(struct dma_buf_attachment *attach,
		      void (*cb)(struct dma_buf_attachment *attach));

#if IS_ENABLED(CONFIG_KUNIT)
bool dma_buf_p2p_reachable(struct p2pdma_provider *provider,
			   struct device *dev);
void dma_buf_iov_pci_id(struct pci_dev *pdev, u32 *domain, u16 *rid);
int dma_buf_iov_vf_id(struct pci_dev *vf);
#endif

#endif /* _DMA_BUF_INTERNAL_H */
