/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Functions of the dma-buf core that only its KUnit tests call from
 * outside dma-buf.c.
 */
#ifndef _DMA_BUF_INTERNAL_H
#define _DMA_BUF_INTERNAL_H

#include <linux/types.h>

struct device;
struct p2pdma_provider;

#if IS_ENABLED(CONFIG_KUNIT)
bool dma_buf_p2p_reachable(struct p2pdma_provider *provider,
			   struct device *dev);
#endif

#endif /* _DMA_BUF_INTERNAL_H */
