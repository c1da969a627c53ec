// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for DMA-buf mapping types: how the core picks the mapping type
 * of an attachment from the exporter's offers and the importer's accepts,
 * how legacy exporters and importers keep the scatterlist type, and what
 * happens when a callback fails.
 */
#include <kunit/device.h>
#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <kunit/test-bug.h>
#include <linux/dma-buf.h>
#include <linux/dma-buf-mapping.h>
#include <linux/dma-resv.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#include "dma-buf-internal.h"

MODULE_IMPORT_NS("DMA_BUF");
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");

/* Room for one offer more than the core takes. */
#define MT_MAX_OFFERS (DMA_BUF_MAX_OFFERS + 1)

/* Two mapping types that exist in this test only. */
static int mt_match(struct dma_buf_attachment *attach,
		    const struct dma_buf_mapping_offer *offer,
		    const struct dma_buf_mapping_accept *accept);

static const struct dma_buf_mapping_type mt_type_a = {
	.name = "test-a",
	.match = mt_match,
};

static const struct dma_buf_mapping_type mt_type_b = {
	.name = "test-b",
	.match = mt_match,
};

/* What a test offer or accept carries in its priv pointer. */
struct mt_data {
	int id;
	int match_ret;
};

struct mt_ctx {
	struct kunit *test;
	struct device *dev;
	struct dma_buf *dmabuf;

	struct dma_buf_mapping_offer offers[MT_MAX_OFFERS];
	int nr_offers;		/* or the error get_mapping_offers returns */
	bool offers_unset;	/* get_mapping_offers does not set its array */

	int attach_ret;		/* what the exporter's attach returns */
	int fail_at;		/* fail the Nth fallible step with -ENOMEM */
	int steps;

	int offer_calls;
	int match_calls;
	int attach_calls;
	int detach_calls;
	int maps;
	int unmaps;
	int live_privs;

	/* What the callbacks saw. */
	bool resv_held_in_offers;
	bool resv_held_in_match;
	bool on_list_in_offers;
	bool priv_set_in_offers;
	const struct dma_buf_mapping_type *type_in_attach;

	/* Calls of the P2P reachability check, when it is stubbed. */
	int reach_calls;
	struct p2pdma_provider *reach_provider;
	struct device *reach_dev;

	/* The PAL exporter. */
	struct dma_buf_phys_list *pal;
	int pal_map_ret;
	int pal_maps;
	int pal_unmaps;

	/* The PCI IOV exporter, and the functions its stubs know. */
	struct dma_buf_iov_list *iov;
	struct dma_buf_iov_info iov_info;
	struct mt_iov_devs *iov_devs;
	int iov_map_ret;
	int iov_maps;
	int iov_unmaps;

	/* The importer's invalidate_mappings, when it keeps a list. */
	struct dma_buf_attachment *held_attach;
	const struct dma_buf_iov_list *held;
	int invalidates;

	/* The importer's mappings_available. */
	int available_calls;
	bool resv_held_in_available;
	struct task_struct *available_task;
};

struct mt_iov_devs;

static struct mt_ctx *mt_ctx(struct dma_buf_attachment *attach)
{
	return attach->dmabuf->priv;
}

/* A fault injection point: true when this step is the one to fail. */
static bool mt_fail(struct mt_ctx *ctx)
{
	return ctx->fail_at && ++ctx->steps == ctx->fail_at;
}

static int mt_match(struct dma_buf_attachment *attach,
		    const struct dma_buf_mapping_offer *offer,
		    const struct dma_buf_mapping_accept *accept)
{
	const struct mt_data *o = offer->priv, *a = accept->priv;
	struct mt_ctx *ctx = mt_ctx(attach);

	ctx->match_calls++;
	ctx->resv_held_in_match = dma_resv_is_locked(attach->dmabuf->resv);
	if (mt_fail(ctx))
		return -ENOMEM;
	if (o && o->match_ret)
		return o->match_ret;
	return a ? a->match_ret : 0;
}

static int mt_get_offers(struct dma_buf_attachment *attach,
			 const struct dma_buf_mapping_offer **offers)
{
	struct mt_ctx *ctx = mt_ctx(attach);
	struct dma_buf_attachment *other;

	ctx->offer_calls++;
	/* The core holds the reservation lock, which protects the list. */
	ctx->resv_held_in_offers = dma_resv_is_locked(attach->dmabuf->resv);
	list_for_each_entry(other, &attach->dmabuf->attachments, node)
		if (other == attach)
			ctx->on_list_in_offers = true;
	ctx->priv_set_in_offers = !!attach->priv;

	if (mt_fail(ctx))
		return -ENOMEM;
	if (!ctx->offers_unset)
		*offers = ctx->offers;
	return ctx->nr_offers;
}

static int mt_attach(struct dma_buf *dmabuf, struct dma_buf_attachment *attach)
{
	struct mt_ctx *ctx = dmabuf->priv;

	ctx->attach_calls++;
	ctx->type_in_attach = attach->map_offer.type;
	if (ctx->attach_ret)
		return ctx->attach_ret;
	if (mt_fail(ctx))
		return -ENOMEM;
	attach->priv = kzalloc(1, GFP_KERNEL);
	if (!attach->priv)
		return -ENOMEM;
	ctx->live_privs++;
	return 0;
}

static void mt_detach(struct dma_buf *dmabuf, struct dma_buf_attachment *attach)
{
	struct mt_ctx *ctx = dmabuf->priv;

	ctx->detach_calls++;
	kfree(attach->priv);
	ctx->live_privs--;
}

static struct sg_table *mt_map(struct dma_buf_attachment *attach,
			       enum dma_data_direction dir)
{
	struct mt_ctx *ctx = mt_ctx(attach);
	struct sg_table *sgt;

	if (mt_fail(ctx))
		return ERR_PTR(-ENOMEM);
	sgt = kzalloc_obj(*sgt);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	if (sg_alloc_table(sgt, 1, GFP_KERNEL)) {
		kfree(sgt);
		return ERR_PTR(-ENOMEM);
	}
	sg_dma_address(sgt->sgl) = 0;
	sg_dma_len(sgt->sgl) = PAGE_SIZE;
	ctx->maps++;
	return sgt;
}

static void mt_unmap(struct dma_buf_attachment *attach, struct sg_table *sgt,
		     enum dma_data_direction dir)
{
	mt_ctx(attach)->unmaps++;
	sg_free_table(sgt);
	kfree(sgt);
}

/* The buffer outlives the test (the last fput is deferred): no ctx here. */
static void mt_release(struct dma_buf *dmabuf)
{
}

static const struct dma_buf_ops mt_typed_ops = {
	.get_mapping_offers = mt_get_offers,
	.attach = mt_attach,
	.detach = mt_detach,
	.map_dma_buf = mt_map,
	.unmap_dma_buf = mt_unmap,
	.release = mt_release,
};

static const struct dma_buf_ops mt_legacy_ops = {
	.attach = mt_attach,
	.detach = mt_detach,
	.map_dma_buf = mt_map,
	.unmap_dma_buf = mt_unmap,
	.release = mt_release,
};

static void mt_invalidate(struct dma_buf_attachment *attach)
{
}

static const struct dma_buf_attach_ops mt_p2p_importer = {
	.allow_peer2peer = true,
	.invalidate_mappings = mt_invalidate,
};

static const struct dma_buf_attach_ops mt_plain_importer = {
	.invalidate_mappings = mt_invalidate,
};

/* A dma-buf of @size bytes exported with @ops, imported by @dev. */
static struct mt_ctx *mt_export_size(struct kunit *test,
				     const struct dma_buf_ops *ops,
				     struct device *dev, size_t size)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct mt_ctx *ctx;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	ctx->test = test;
	ctx->dev = dev;

	exp_info.ops = ops;
	exp_info.size = size;
	exp_info.priv = ctx;
	ctx->dmabuf = dma_buf_export(&exp_info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ctx->dmabuf);
	return ctx;
}

/* A page-sized dma-buf exported with @ops, imported by @dev. */
static struct mt_ctx *mt_export(struct kunit *test, const struct dma_buf_ops *ops,
				struct device *dev)
{
	return mt_export_size(test, ops, dev, PAGE_SIZE);
}

/* The test's dma-buf, put back by mt_exit(). */
static struct mt_ctx *mt_setup(struct kunit *test, const struct dma_buf_ops *ops)
{
	struct device *dev = kunit_device_register(test, "dma-buf-mapping-test");
	struct mt_ctx *ctx;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	ctx = mt_export(test, ops, dev);
	test->priv = ctx;
	return ctx;
}

static void mt_expect_clean(struct mt_ctx *ctx);

static void mt_exit(struct kunit *test)
{
	struct mt_ctx *ctx = test->priv;

	if (!ctx || IS_ERR_OR_NULL(ctx->dmabuf))
		return;
	mt_expect_clean(ctx);
	dma_buf_put(ctx->dmabuf);
}

static void mt_offer(struct mt_ctx *ctx, const struct dma_buf_mapping_type *type,
		     const struct mt_data *data)
{
	struct dma_buf_mapping_offer *o = &ctx->offers[ctx->nr_offers++];

	o->type = type;
	o->priv = data;
}

static struct dma_buf_mapping_accept mt_accept(const struct dma_buf_mapping_type *type,
					       const struct mt_data *data)
{
	return (struct dma_buf_mapping_accept){ .type = type, .priv = data };
}

/* Attach, check the attachment is usable and on the list, return it. */
static struct dma_buf_attachment *
mt_attach_ok(struct mt_ctx *ctx, const struct dma_buf_mapping_accept *accepts,
	     unsigned int nr)
{
	struct kunit *test = ctx->test;
	struct dma_buf_attachment *attach, *other;
	bool found = false;

	attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, accepts, nr,
					&mt_plain_importer, NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	list_for_each_entry(other, &ctx->dmabuf->attachments, node)
		found |= other == attach;
	dma_resv_unlock(ctx->dmabuf->resv);
	KUNIT_EXPECT_TRUE(test, found);
	KUNIT_EXPECT_PTR_EQ(test, ctx->type_in_attach, attach->map_offer.type);
	KUNIT_EXPECT_PTR_EQ(test, attach->map_offer.type, attach->map_accept.type);
	return attach;
}

/* A failed attach leaves nothing behind. */
static void mt_expect_clean(struct mt_ctx *ctx)
{
	struct kunit *test = ctx->test;

	KUNIT_EXPECT_TRUE(test, list_empty(&ctx->dmabuf->attachments));
	KUNIT_EXPECT_EQ(test, ctx->live_privs, 0);
	KUNIT_EXPECT_EQ(test, ctx->maps, ctx->unmaps);
}

static void mt_map_unmap(struct mt_ctx *ctx, struct dma_buf_attachment *attach)
{
	struct sg_table *sgt;

	sgt = dma_buf_map_attachment_unlocked(attach, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(ctx->test, sgt);
	dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_BIDIRECTIONAL);
}

static void dma_buf_mapping_legacy_exporter_legacy_importer(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_legacy_ops);
	struct dma_buf_attachment *attach;

	attach = dma_buf_attach(ctx->dmabuf, ctx->dev);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	KUNIT_EXPECT_TRUE(test, dma_buf_attachment_is_type(attach, &dma_buf_mapping_sgt));
	KUNIT_EXPECT_PTR_EQ(test, ctx->type_in_attach, &dma_buf_mapping_sgt);
	KUNIT_EXPECT_FALSE(test, attach->peer2peer);
	mt_map_unmap(ctx, attach);
	KUNIT_EXPECT_EQ(test, ctx->maps, 1);
	dma_buf_detach(ctx->dmabuf, attach);
	KUNIT_EXPECT_EQ(test, ctx->detach_calls, 1);
}

static void dma_buf_mapping_legacy_exporter_p2p_importer(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_legacy_ops);
	struct dma_buf_attachment *attach;

	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev, &mt_p2p_importer,
					ctx);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	KUNIT_EXPECT_TRUE(test, dma_buf_attachment_is_type(attach, &dma_buf_mapping_sgt));
	KUNIT_EXPECT_TRUE(test, attach->peer2peer);
	KUNIT_EXPECT_PTR_EQ(test, attach->importer_priv, (void *)ctx);
	mt_map_unmap(ctx, attach);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_legacy_exporter_null_importer_ops(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_legacy_ops);
	struct dma_buf_attachment *attach;

	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev, NULL, NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	KUNIT_EXPECT_TRUE(test, dma_buf_attachment_is_type(attach, &dma_buf_mapping_sgt));
	KUNIT_EXPECT_FALSE(test, attach->peer2peer);
	KUNIT_EXPECT_NULL(test, attach->importer_ops);
	mt_map_unmap(ctx, attach);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_legacy_exporter_typed_importer(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_legacy_ops);
	struct dma_buf_mapping_accept accepts[] = {
		mt_accept(&mt_type_a, NULL),
		DMA_BUF_SGT_ACCEPT(true),
	};
	struct dma_buf_attachment *attach;

	attach = mt_attach_ok(ctx, accepts, ARRAY_SIZE(accepts));
	KUNIT_EXPECT_TRUE(test, dma_buf_attachment_is_type(attach, &dma_buf_mapping_sgt));
	KUNIT_EXPECT_TRUE(test, attach->peer2peer);
	KUNIT_EXPECT_EQ(test, ctx->match_calls, 0);
	mt_map_unmap(ctx, attach);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_legacy_exporter_private_importer(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_legacy_ops);
	struct dma_buf_mapping_accept accept = mt_accept(&mt_type_a, NULL);
	struct dma_buf_attachment *attach;

	attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, &accept, 1,
					&mt_plain_importer, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, ctx->attach_calls, 0);
	mt_expect_clean(ctx);
}

static void dma_buf_mapping_typed_exporter_legacy_importer(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_attachment *attach;

	mt_offer(ctx, &mt_type_a, NULL);
	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(NULL);

	attach = dma_buf_attach(ctx->dmabuf, ctx->dev);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	KUNIT_EXPECT_TRUE(test, dma_buf_attachment_is_type(attach, &dma_buf_mapping_sgt));
	KUNIT_EXPECT_FALSE(test, attach->peer2peer);
	KUNIT_EXPECT_EQ(test, ctx->offer_calls, 1);
	mt_map_unmap(ctx, attach);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_exporter_order_wins(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accepts[] = {
		mt_accept(&mt_type_b, NULL),
		mt_accept(&mt_type_a, NULL),
	};
	struct dma_buf_attachment *attach;

	mt_offer(ctx, &mt_type_a, NULL);
	mt_offer(ctx, &mt_type_b, NULL);
	attach = mt_attach_ok(ctx, accepts, ARRAY_SIZE(accepts));
	KUNIT_EXPECT_TRUE(test, dma_buf_attachment_is_type(attach, &mt_type_a));
	KUNIT_EXPECT_EQ(test, ctx->match_calls, 1);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_importer_order_breaks_ties(struct kunit *test)
{
	static const struct mt_data first = { .id = 1 }, second = { .id = 2 };
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accepts[] = {
		mt_accept(&mt_type_b, NULL),
		mt_accept(&mt_type_a, &first),
		mt_accept(&mt_type_a, &second),
	};
	struct dma_buf_attachment *attach;

	mt_offer(ctx, &mt_type_a, NULL);
	attach = mt_attach_ok(ctx, accepts, ARRAY_SIZE(accepts));
	KUNIT_EXPECT_TRUE(test, dma_buf_attachment_is_type(attach, &mt_type_a));
	KUNIT_EXPECT_PTR_EQ(test, attach->map_accept.priv, (const void *)&first);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_eopnotsupp_tries_next_accept(struct kunit *test)
{
	static const struct mt_data no = { .id = 1, .match_ret = -EOPNOTSUPP };
	static const struct mt_data yes = { .id = 2 };
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accepts[] = {
		mt_accept(&mt_type_a, &no),
		mt_accept(&mt_type_a, &yes),
	};
	struct dma_buf_attachment *attach;

	mt_offer(ctx, &mt_type_a, NULL);
	attach = mt_attach_ok(ctx, accepts, ARRAY_SIZE(accepts));
	KUNIT_EXPECT_PTR_EQ(test, attach->map_accept.priv, (const void *)&yes);
	KUNIT_EXPECT_EQ(test, ctx->match_calls, 2);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_eopnotsupp_tries_next_offer(struct kunit *test)
{
	static const struct mt_data no = { .id = 1, .match_ret = -EOPNOTSUPP };
	static const struct mt_data yes = { .id = 2 };
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accepts[] = {
		mt_accept(&mt_type_b, NULL),
		mt_accept(&mt_type_a, NULL),
	};
	struct dma_buf_attachment *attach;

	mt_offer(ctx, &mt_type_a, &no);
	mt_offer(ctx, &mt_type_b, &yes);
	attach = mt_attach_ok(ctx, accepts, ARRAY_SIZE(accepts));
	KUNIT_EXPECT_TRUE(test, dma_buf_attachment_is_type(attach, &mt_type_b));
	KUNIT_EXPECT_PTR_EQ(test, attach->map_offer.priv, (const void *)&yes);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_match_error_aborts(struct kunit *test)
{
	static const struct mt_data broken = { .match_ret = -EIO };
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accepts[] = {
		mt_accept(&mt_type_a, NULL),
		mt_accept(&mt_type_b, NULL),
	};
	struct dma_buf_attachment *attach;

	mt_offer(ctx, &mt_type_a, &broken);
	mt_offer(ctx, &mt_type_b, NULL);
	attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, accepts,
					ARRAY_SIZE(accepts), &mt_plain_importer,
					NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EIO);
	KUNIT_EXPECT_EQ(test, ctx->match_calls, 1);
	KUNIT_EXPECT_EQ(test, ctx->attach_calls, 0);
	mt_expect_clean(ctx);
}

static void dma_buf_mapping_offers_error_aborts(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_attachment *attach;

	ctx->nr_offers = -ENODEV;
	attach = dma_buf_attach(ctx->dmabuf, ctx->dev);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -ENODEV);
	KUNIT_EXPECT_EQ(test, ctx->attach_calls, 0);
	mt_expect_clean(ctx);
}

static void dma_buf_mapping_no_offers(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_attachment *attach;

	attach = dma_buf_attach(ctx->dmabuf, ctx->dev);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EOPNOTSUPP);
	mt_expect_clean(ctx);
}

static void dma_buf_mapping_no_common_type(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accepts[] = {
		mt_accept(&mt_type_b, NULL),
		DMA_BUF_SGT_ACCEPT(true),
	};
	struct dma_buf_attachment *attach;

	mt_offer(ctx, &mt_type_a, NULL);
	attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, accepts,
					ARRAY_SIZE(accepts), &mt_plain_importer,
					NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, ctx->match_calls, 0);
	KUNIT_EXPECT_EQ(test, ctx->attach_calls, 0);
	mt_expect_clean(ctx);
}

static void dma_buf_mapping_bad_arguments(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accepts[] = {
		DMA_BUF_SGT_ACCEPT(false),
		{ .type = NULL },
	};
	struct dma_buf_attachment *attach;

	mt_offer(ctx, &mt_type_a, NULL);
	kunit_warning_suppress(test) {
		attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, accepts,
						0, NULL, NULL);
		KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EINVAL);
		attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, NULL,
						1, NULL, NULL);
		KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EINVAL);
		attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, accepts,
						ARRAY_SIZE(accepts), NULL, NULL);
		KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EINVAL);
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 3);
	}
	KUNIT_EXPECT_EQ(test, ctx->offer_calls, 0);
	mt_expect_clean(ctx);
}

static void dma_buf_mapping_offer_without_type(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_attachment *attach;

	ctx->nr_offers = 1;		/* offers[0] is all zero */
	kunit_warning_suppress(test) {
		attach = dma_buf_attach(ctx->dmabuf, ctx->dev);
		KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EINVAL);
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 1);
	}
	mt_expect_clean(ctx);
}

/*
 * An offers callback that returns a count without its array, or more
 * offers than the core takes, is refused before the core reads an offer:
 * with the cap gone, the first of these offers would match.
 */
static void dma_buf_mapping_bad_offer_count(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accept = mt_accept(&mt_type_a, NULL);
	struct dma_buf_attachment *attach;
	int i;

	mt_offer(ctx, &mt_type_a, NULL);
	ctx->offers_unset = true;
	kunit_warning_suppress(test) {
		attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, &accept,
						1, NULL, NULL);
		KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EINVAL);
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 1);
	}

	ctx->offers_unset = false;
	for (i = 1; i < DMA_BUF_MAX_OFFERS + 1; i++)
		mt_offer(ctx, &mt_type_a, NULL);
	KUNIT_ASSERT_EQ(test, ctx->nr_offers, DMA_BUF_MAX_OFFERS + 1);
	kunit_warning_suppress(test) {
		attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, &accept,
						1, NULL, NULL);
		KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EINVAL);
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 1);
	}
	KUNIT_EXPECT_EQ(test, ctx->match_calls, 0);
	KUNIT_EXPECT_EQ(test, ctx->attach_calls, 0);
	mt_expect_clean(ctx);
}

/* Stand-ins for the PCI P2P distance check, which needs PCI devices. */
static bool mt_p2p_check(struct p2pdma_provider *provider, struct device *dev,
			 bool reachable)
{
	struct mt_ctx *ctx = kunit_get_current_test()->priv;

	ctx->reach_calls++;
	ctx->reach_provider = provider;
	ctx->reach_dev = dev;
	return reachable;
}

static bool mt_p2p_reachable(struct p2pdma_provider *provider,
			     struct device *dev)
{
	return mt_p2p_check(provider, dev, true);
}

static bool mt_p2p_unreachable(struct p2pdma_provider *provider,
			       struct device *dev)
{
	return mt_p2p_check(provider, dev, false);
}

static void dma_buf_mapping_sgt_p2p_only_needs_p2p_importer(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct p2pdma_provider provider = { .owner = ctx->dev };
	struct dma_buf_attachment *attach;

	kunit_activate_static_stub(test, dma_buf_p2p_reachable,
				   mt_p2p_reachable);
	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(&provider);
	attach = dma_buf_attach(ctx->dmabuf, ctx->dev);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EOPNOTSUPP);
	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev,
					&mt_plain_importer, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, ctx->attach_calls, 0);
	/* Refused for not taking P2P, before the topology was asked. */
	KUNIT_EXPECT_EQ(test, ctx->reach_calls, 0);
	mt_expect_clean(ctx);

	/* An importer that takes P2P and can reach the provider. */
	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev,
					&mt_p2p_importer, NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	KUNIT_EXPECT_EQ(test, ctx->reach_calls, 1);
	KUNIT_EXPECT_PTR_EQ(test, ctx->reach_provider, &provider);
	KUNIT_EXPECT_PTR_EQ(test, ctx->reach_dev, ctx->dev);
	KUNIT_EXPECT_PTR_EQ(test, attach->map_offer.sgt.p2p_provider, &provider);
	KUNIT_EXPECT_TRUE(test, attach->peer2peer);
	mt_map_unmap(ctx, attach);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_sgt_p2p_only_needs_reachable_peer(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct p2pdma_provider provider = { .owner = ctx->dev };
	struct dma_buf_attachment *attach;

	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(&provider);
	/* The real check: neither device is a PCI device here. */
	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev,
					&mt_p2p_importer, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EOPNOTSUPP);

	kunit_activate_static_stub(test, dma_buf_p2p_reachable,
				   mt_p2p_unreachable);
	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev,
					&mt_p2p_importer, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, ctx->reach_calls, 1);
	KUNIT_EXPECT_EQ(test, ctx->attach_calls, 0);
	mt_expect_clean(ctx);
}

static void dma_buf_mapping_sgt_p2p_refusal_tries_next_offer(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct p2pdma_provider provider = { .owner = ctx->dev };
	struct dma_buf_attachment *attach;

	kunit_activate_static_stub(test, dma_buf_p2p_reachable,
				   mt_p2p_unreachable);
	/* MMIO first; an exporter that can also migrate to pages. */
	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(&provider);
	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(NULL);
	attach = dma_buf_attach(ctx->dmabuf, ctx->dev);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	KUNIT_EXPECT_NULL(test, attach->map_offer.sgt.p2p_provider);
	KUNIT_EXPECT_FALSE(test, attach->peer2peer);
	mt_map_unmap(ctx, attach);
	dma_buf_detach(ctx->dmabuf, attach);

	/* A P2P importer the topology keeps away also gets the pages. */
	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev,
					&mt_p2p_importer, NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	KUNIT_EXPECT_EQ(test, ctx->reach_calls, 1);
	KUNIT_EXPECT_NULL(test, attach->map_offer.sgt.p2p_provider);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_sgt_offer_keeps_peer2peer(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_attachment *attach;

	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(NULL);
	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev,
					&mt_p2p_importer, NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	KUNIT_EXPECT_TRUE(test, attach->peer2peer);
	KUNIT_EXPECT_TRUE(test, attach->map_accept.sgt.allow_p2p);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_wrong_type_map_refused(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accept = mt_accept(&mt_type_a, NULL);
	struct dma_buf_attachment *attach;
	struct sg_table *sgt, dummy = {};

	mt_offer(ctx, &mt_type_a, NULL);
	attach = mt_attach_ok(ctx, &accept, 1);
	kunit_warning_suppress(test) {
		sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
		KUNIT_EXPECT_EQ(test, PTR_ERR(sgt), -EINVAL);
		dma_buf_unmap_attachment_unlocked(attach, &dummy, DMA_TO_DEVICE);
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 2);
	}
	KUNIT_EXPECT_EQ(test, ctx->maps, 0);
	KUNIT_EXPECT_EQ(test, ctx->unmaps, 0);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_private_type_end_to_end(struct kunit *test)
{
	static const struct mt_data exp = { .id = 7 }, imp = { .id = 9 };
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accept = mt_accept(&mt_type_b, &imp);
	struct dma_buf_attachment *attach;

	mt_offer(ctx, &mt_type_b, &exp);
	attach = mt_attach_ok(ctx, &accept, 1);
	KUNIT_EXPECT_STREQ(test, attach->map_offer.type->name, "test-b");
	KUNIT_EXPECT_EQ(test, ((const struct mt_data *)attach->map_offer.priv)->id, 7);
	KUNIT_EXPECT_EQ(test, ((const struct mt_data *)attach->map_accept.priv)->id, 9);
	/* The offer array is the exporter's; the attachment has a copy. */
	ctx->offers[0].type = &mt_type_a;
	KUNIT_EXPECT_TRUE(test, dma_buf_attachment_is_type(attach, &mt_type_b));
	dma_buf_detach(ctx->dmabuf, attach);
	KUNIT_EXPECT_EQ(test, ctx->detach_calls, 1);
}

static void dma_buf_mapping_offers_callback_context(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accept = mt_accept(&mt_type_a, NULL);
	struct dma_buf_attachment *first, *second;

	mt_offer(ctx, &mt_type_a, NULL);
	first = mt_attach_ok(ctx, &accept, 1);
	second = mt_attach_ok(ctx, &accept, 1);
	KUNIT_EXPECT_EQ(test, ctx->offer_calls, 2);
	KUNIT_EXPECT_TRUE(test, ctx->resv_held_in_offers);
	KUNIT_EXPECT_TRUE(test, ctx->resv_held_in_match);
	KUNIT_EXPECT_FALSE(test, ctx->on_list_in_offers);
	KUNIT_EXPECT_FALSE(test, ctx->priv_set_in_offers);
	dma_buf_detach(ctx->dmabuf, second);
	dma_buf_detach(ctx->dmabuf, first);
}

static void dma_buf_mapping_exporter_attach_error(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accept = mt_accept(&mt_type_a, NULL);
	struct dma_buf_attachment *attach;

	mt_offer(ctx, &mt_type_a, NULL);
	ctx->attach_ret = -EBUSY;
	attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, &accept, 1,
					NULL, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EBUSY);
	KUNIT_EXPECT_PTR_EQ(test, ctx->type_in_attach, &mt_type_a);
	KUNIT_EXPECT_EQ(test, ctx->detach_calls, 0);
	mt_expect_clean(ctx);
}

/*
 * One attach + map + unmap + detach with the @fail_at'th fallible step
 * failing (INT_MAX: none fails, the steps are only counted). Returns the
 * error the importer saw, 0 if none.
 */
static int mt_fault_cycle(struct mt_ctx *ctx,
			  const struct dma_buf_mapping_accept *accepts,
			  size_t nr_accepts, int fail_at)
{
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	int ret = 0;

	ctx->fail_at = fail_at;
	ctx->steps = 0;
	attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, accepts,
					nr_accepts, NULL, NULL);
	if (IS_ERR(attach))
		return PTR_ERR(attach);
	sgt = dma_buf_map_attachment_unlocked(attach, DMA_FROM_DEVICE);
	if (IS_ERR(sgt))
		ret = PTR_ERR(sgt);
	else
		dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_FROM_DEVICE);
	dma_buf_detach(ctx->dmabuf, attach);
	return ret;
}

/*
 * Fail each fallible step of attach + map + unmap + detach in turn (the
 * exporter's offers, a match check, the exporter's attach, the map) with
 * -ENOMEM and check that the error comes back, that nothing runs after
 * it and that nothing is left behind. The steps are those a run without
 * a fault takes: every call of a callback that can fail is one.
 */
static void dma_buf_mapping_fault_injection(struct kunit *test)
{
	static const struct mt_data decline = { .match_ret = -EOPNOTSUPP };
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accepts[] = {
		mt_accept(&mt_type_a, NULL),
		DMA_BUF_SGT_ACCEPT(false),
	};
	int calls, steps, step;

	mt_offer(ctx, &mt_type_a, &decline);
	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(NULL);

	calls = -(ctx->offer_calls + ctx->match_calls + ctx->attach_calls +
		  ctx->maps);
	KUNIT_ASSERT_EQ(test, mt_fault_cycle(ctx, accepts, ARRAY_SIZE(accepts),
					     INT_MAX), 0);
	calls += ctx->offer_calls + ctx->match_calls + ctx->attach_calls +
		 ctx->maps;
	steps = ctx->steps;
	mt_expect_clean(ctx);
	/* Each of the four callbacks ran, and each call was a step. */
	KUNIT_EXPECT_GE(test, steps, 4);
	KUNIT_EXPECT_EQ(test, steps, calls);

	for (step = 1; step <= steps; step++) {
		KUNIT_EXPECT_EQ_MSG(test, mt_fault_cycle(ctx, accepts,
							 ARRAY_SIZE(accepts), step),
				    -ENOMEM, "step %d of %d", step, steps);
		KUNIT_EXPECT_EQ_MSG(test, ctx->steps, step,
				    "steps taken after step %d failed", step);
		mt_expect_clean(ctx);
	}
	KUNIT_EXPECT_EQ(test, ctx->detach_calls, ctx->attach_calls - 1);
}

static const struct dma_buf_phys_list *mt_pal_map(struct dma_buf_attachment *attach)
{
	struct mt_ctx *ctx = mt_ctx(attach);

	if (ctx->pal_map_ret)
		return ERR_PTR(ctx->pal_map_ret);
	ctx->pal_maps++;
	return ctx->pal;
}

static void mt_pal_unmap(struct dma_buf_attachment *attach,
			 const struct dma_buf_phys_list *pal)
{
	struct mt_ctx *ctx = mt_ctx(attach);

	KUNIT_EXPECT_PTR_EQ(ctx->test, pal, (const struct dma_buf_phys_list *)ctx->pal);
	ctx->pal_unmaps++;
}

static const struct dma_buf_pal_exp_ops mt_pal_ops = {
	.map = mt_pal_map,
	.unmap = mt_pal_unmap,
};

/* The provider of the test's lists: the check only needs one to be named. */
static struct p2pdma_provider mt_pal_provider;

/* A list of @n ranges of @len bytes, @stride bytes apart. */
static struct dma_buf_phys_list *mt_pal(struct kunit *test, size_t n,
					phys_addr_t start, size_t len,
					s64 stride)
{
	struct dma_buf_phys_list *pal;
	size_t i;

	pal = kunit_kzalloc(test, struct_size(pal, ranges, n), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pal);
	pal->provider = &mt_pal_provider;
	pal->nr_ranges = n;
	for (i = 0; i < n; i++) {
		pal->ranges[i].paddr = start + i * stride;
		pal->ranges[i].len = len;
	}
	return pal;
}

struct mt_pal_case {
	const char *desc;
	size_t size;		/* of the dma-buf, in pages */
	size_t n;
	struct phys_vec ranges[4];
	const char *why;	/* the reason the check gives, NULL if valid */
	bool no_provider;
};

#define P(x) ((x) * PAGE_SIZE)
#define TOP_PAGE ((phys_addr_t)~(phys_addr_t)0 & PAGE_MASK)

/*
 * Each bad list is refused by one rule before any other sees it, and the
 * check must name that rule: a list refused for another reason would hide
 * a rule that no longer works.
 */
static const struct mt_pal_case mt_pal_cases[] = {
	{ "one range", 4, 1, { { P(16), P(4) } }, NULL },
	{ "adjacent ranges", 4, 2, { { P(16), P(2) }, { P(18), P(2) } }, NULL },
	{ "disjoint ranges, descending", 4, 3,
	  { { P(40), P(1) }, { P(20), P(2) }, { P(2), P(1) } }, NULL },
	{ "last page of the address space", 1, 1, { { TOP_PAGE, P(1) } }, NULL },
	{ "no provider", 4, 1, { { P(16), P(4) } }, "no P2P provider", true },
	{ "no range", 4, 0, {}, "no range" },
	{ "empty range", 4, 2, { { P(16), P(4) }, { P(32), 0 } }, "empty range" },
	{ "unaligned start", 4, 1, { { P(16) + 1, P(4) } },
	  "range not page aligned" },
	{ "unaligned length", 4, 2,
	  { { P(16), P(4) - 1 }, { P(32), 1 } }, "range not page aligned" },
	{ "past the end of the address space", 2, 1,
	  { { TOP_PAGE, P(2) } }, "range past the end of the address space" },
	{ "same range twice", 4, 2, { { P(16), P(2) }, { P(16), P(2) } },
	  "overlapping ranges" },
	{ "overlap by one page", 4, 2,
	  { { P(17), P(2) }, { P(16), P(2) } }, "overlapping ranges" },
	{ "range inside another", 4, 2,
	  { { P(16), P(3) }, { P(17), P(1) } }, "overlapping ranges" },
	{ "ascending, then an overlap", 4, 3,
	  { { P(2), P(1) }, { P(20), P(2) }, { P(21), P(1) } },
	  "overlapping ranges" },
	{ "ascending, then a lower range", 4, 3,
	  { { P(20), P(1) }, { P(40), P(2) }, { P(2), P(1) } }, NULL },
	{ "total one page short", 4, 1, { { P(16), P(3) } },
	  "ranges smaller than the dma-buf" },
	{ "total one page long", 4, 2,
	  { { P(16), P(4) }, { P(32), P(1) } }, "ranges larger than the dma-buf" },
	/*
	 * The sum wraps to three pages, less than the dma-buf: without the
	 * overflow check the list would be refused as too small. (A list
	 * that passes the other rules cannot wrap: ranges that do not
	 * overlap add up to at most the address space.)
	 */
	{ "total wraps around", 4, 2,
	  { { P(16), P(4) }, { 0, SIZE_MAX & PAGE_MASK } },
	  "ranges larger than the dma-buf" },
};

static void mt_pal_case_desc(const struct mt_pal_case *c, char *desc)
{
	strscpy(desc, c->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(mt_pal_check, mt_pal_cases, mt_pal_case_desc);

static void dma_buf_mapping_pal_check(struct kunit *test)
{
	const struct mt_pal_case *c = test->param_value;
	struct dma_buf_phys_list *pal;
	const char *why = NULL;
	int ret;

	pal = kunit_kzalloc(test, struct_size(pal, ranges, c->n ?: 1),
			    GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pal);
	pal->provider = c->no_provider ? NULL : &mt_pal_provider;
	pal->nr_ranges = c->n;
	memcpy(pal->ranges, c->ranges, c->n * sizeof(c->ranges[0]));
	ret = dma_buf_pal_check(P(c->size), pal, &why);
	KUNIT_EXPECT_EQ_MSG(test, ret, c->why ? -EINVAL : 0, "%s: %s",
			    c->desc, why ?: "valid");
	if (c->why)
		KUNIT_EXPECT_STREQ(test, why ?: "valid", c->why);
	else
		KUNIT_EXPECT_NULL(test, why);
}

static void dma_buf_mapping_pal_needs_revocable_importer(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accept = DMA_BUF_PAL_ACCEPT();
	static const struct dma_buf_attach_ops pinned = {
		.allow_peer2peer = true,
	};
	struct dma_buf_attachment *attach;

	ctx->offers[ctx->nr_offers++] = dma_buf_pal_offer(&mt_pal_ops);
	attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, &accept, 1,
					&pinned, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EOPNOTSUPP);
	attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, &accept, 1,
					NULL, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(attach), -EOPNOTSUPP);
	mt_expect_clean(ctx);
}

static void dma_buf_mapping_pal_falls_back_to_sgt(struct kunit *test)
{
	static const struct dma_buf_attach_ops pinned = {
		.allow_peer2peer = true,
	};
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_mapping_accept accepts[] = {
		DMA_BUF_PAL_ACCEPT(),
		DMA_BUF_SGT_ACCEPT(true),
	};
	struct dma_buf_attachment *attach;

	/* A pinned importer cannot take PAL: the next offer is used. */
	ctx->offers[ctx->nr_offers++] = dma_buf_pal_offer(&mt_pal_ops);
	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(NULL);
	attach = dma_buf_mapping_attach(ctx->dmabuf, ctx->dev, accepts,
					ARRAY_SIZE(accepts), &pinned, NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	KUNIT_EXPECT_TRUE(test, dma_buf_attachment_is_type(attach, &dma_buf_mapping_sgt));
	dma_buf_detach(ctx->dmabuf, attach);
}

static struct dma_buf_attachment *mt_pal_attach(struct mt_ctx *ctx)
{
	struct dma_buf_mapping_accept accept = DMA_BUF_PAL_ACCEPT();
	struct dma_buf_attachment *attach;

	ctx->offers[ctx->nr_offers++] = dma_buf_pal_offer(&mt_pal_ops);
	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(NULL);
	attach = mt_attach_ok(ctx, &accept, 1);
	KUNIT_EXPECT_TRUE(ctx->test, dma_buf_attachment_is_type(attach, &dma_buf_mapping_pal));
	return attach;
}

static void dma_buf_mapping_pal_map_unmap(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	const struct dma_buf_phys_list *pal;
	struct dma_buf_attachment *attach;

	attach = mt_pal_attach(ctx);
	ctx->pal = mt_pal(test, 1, P(16), PAGE_SIZE, 0);
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	pal = dma_buf_pal_map(attach);
	KUNIT_EXPECT_PTR_EQ(test, pal, (const struct dma_buf_phys_list *)ctx->pal);
	if (!IS_ERR(pal))
		dma_buf_pal_unmap(attach, pal);
	dma_resv_unlock(ctx->dmabuf->resv);
	KUNIT_EXPECT_EQ(test, ctx->pal_maps, 1);
	KUNIT_EXPECT_EQ(test, ctx->pal_unmaps, 1);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_pal_map_refuses_bad_list(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	const struct dma_buf_phys_list *pal;
	struct dma_buf_attachment *attach;

	attach = mt_pal_attach(ctx);
	/* A list without a range. */
	ctx->pal = mt_pal(test, 1, P(16), PAGE_SIZE, 0);
	ctx->pal->nr_ranges = 0;
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	pal = dma_buf_pal_map(attach);
	dma_resv_unlock(ctx->dmabuf->resv);
	KUNIT_EXPECT_EQ(test, PTR_ERR(pal), -EINVAL);
	/* The exporter got its list back. */
	KUNIT_EXPECT_EQ(test, ctx->pal_maps, 1);
	KUNIT_EXPECT_EQ(test, ctx->pal_unmaps, 1);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_pal_map_passes_exporter_error(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	const struct dma_buf_phys_list *pal;
	struct dma_buf_attachment *attach;

	attach = mt_pal_attach(ctx);
	ctx->pal_map_ret = -ENODEV;
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	pal = dma_buf_pal_map(attach);
	dma_resv_unlock(ctx->dmabuf->resv);
	KUNIT_EXPECT_EQ(test, PTR_ERR(pal), -ENODEV);
	KUNIT_EXPECT_EQ(test, ctx->pal_unmaps, 0);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_pal_map_wrong_type(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_legacy_ops);
	const struct dma_buf_phys_list *pal;
	struct dma_buf_attachment *attach;

	attach = dma_buf_attach(ctx->dmabuf, ctx->dev);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	kunit_warning_suppress(test) {
		pal = dma_buf_pal_map(attach);
		KUNIT_EXPECT_EQ(test, PTR_ERR(pal), -EINVAL);
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 1);
	}
	dma_resv_unlock(ctx->dmabuf->resv);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void mt_available(struct dma_buf_attachment *attach)
{
	struct mt_ctx *ctx = attach->importer_priv;

	ctx->available_calls++;
	ctx->resv_held_in_available = dma_resv_is_locked(attach->dmabuf->resv);
	ctx->available_task = current;
}

static const struct dma_buf_attach_ops mt_available_importer = {
	.invalidate_mappings = mt_invalidate,
	.mappings_available = mt_available,
};

/*
 * The end of a revoke: dma_buf_notify_available() reaches the importers
 * that provide mappings_available, from the core's work (not the caller),
 * under the reservation lock; the others are not called. Notifications
 * that come before the delivery may merge (never more calls than
 * notifications), and none reaches an importer that detached.
 */
static void dma_buf_mapping_notify_available(struct kunit *test)
{
	struct dma_buf_attachment *attach, *plain;
	struct mt_ctx *ctx = mt_setup(test, &mt_legacy_ops);

	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev,
					&mt_available_importer, ctx);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	plain = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev,
				       &mt_plain_importer, NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, plain);

	dma_resv_lock(ctx->dmabuf->resv, NULL);
	dma_buf_notify_available(ctx->dmabuf);
	dma_resv_unlock(ctx->dmabuf->resv);
	dma_buf_flush_available(ctx->dmabuf);
	KUNIT_EXPECT_EQ(test, ctx->available_calls, 1);
	KUNIT_EXPECT_TRUE(test, ctx->resv_held_in_available);
	KUNIT_EXPECT_PTR_NE(test, ctx->available_task, current);

	/*
	 * Held off by the reservation lock: two notifications, one or two
	 * calls (the work may have been running when the first came)
	 */
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	dma_buf_notify_available(ctx->dmabuf);
	dma_buf_notify_available(ctx->dmabuf);
	dma_resv_unlock(ctx->dmabuf->resv);
	dma_buf_flush_available(ctx->dmabuf);
	KUNIT_EXPECT_GE(test, ctx->available_calls, 2);
	KUNIT_EXPECT_LE(test, ctx->available_calls, 3);

	dma_buf_detach(ctx->dmabuf, attach);
	ctx->available_calls = 0;
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	dma_buf_notify_available(ctx->dmabuf);
	dma_resv_unlock(ctx->dmabuf->resv);
	dma_buf_flush_available(ctx->dmabuf);
	KUNIT_EXPECT_EQ(test, ctx->available_calls, 0);
	dma_buf_detach(ctx->dmabuf, plain);
}

/*
 * A queued notification holds a reference on the buffer's file until it
 * is delivered: the exporter may notify and let go of the buffer at once.
 * A buffer with no attachment queues nothing.
 */
static void dma_buf_mapping_notify_available_holds_file(struct kunit *test)
{
	struct dma_buf_attachment *attach;
	struct mt_ctx *ctx = mt_setup(test, &mt_legacy_ops);
	long count;

	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev,
					&mt_available_importer, ctx);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	count = file_count(ctx->dmabuf->file);

	/* The work waits for the reservation lock, holding its reference */
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	dma_buf_notify_available(ctx->dmabuf);
	KUNIT_EXPECT_EQ(test, file_count(ctx->dmabuf->file), count + 1);
	dma_buf_notify_available(ctx->dmabuf);
	KUNIT_EXPECT_LE(test, file_count(ctx->dmabuf->file), count + 2);
	dma_resv_unlock(ctx->dmabuf->resv);
	dma_buf_flush_available(ctx->dmabuf);
	KUNIT_EXPECT_EQ(test, file_count(ctx->dmabuf->file), count);
	KUNIT_EXPECT_GE(test, ctx->available_calls, 1);
	dma_buf_detach(ctx->dmabuf, attach);

	/* Nobody to tell: nothing is queued, no reference taken */
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	dma_buf_notify_available(ctx->dmabuf);
	KUNIT_EXPECT_EQ(test, file_count(ctx->dmabuf->file), count);
	dma_resv_unlock(ctx->dmabuf->resv);
	dma_buf_flush_available(ctx->dmabuf);
}

/*
 * The PCI IOV type needs pci_devs that are VFs of a PF (pci_physfn()),
 * which CONFIG_PCI_IOV provides.
 */
#if IS_ENABLED(CONFIG_PCI_IOV)
static int mt_iov_map(struct dma_buf_attachment *attach)
{
	struct mt_ctx *ctx = mt_ctx(attach);

	if (ctx->iov_map_ret)
		return ctx->iov_map_ret;
	ctx->iov_maps++;
	return 0;
}

static void mt_iov_unmap(struct dma_buf_attachment *attach)
{
	mt_ctx(attach)->iov_unmaps++;
}

static const struct dma_buf_iov_exp_ops mt_iov_ops = {
	.map = mt_iov_map,
	.unmap = mt_iov_unmap,
};

/*
 * PCI functions for the IOV type, never registered: two PFs and a VF of
 * each, a PF in another PCI domain with the routing ID of the first, and
 * a function without SR-IOV. Every VF has a BAR 2 of MT_IOV_BAR_PAGES
 * pages. Only what the type looks at is set; the domains, routing IDs and
 * VF numbers come from the stubs below, as the functions have no bus.
 */
#define MT_IOV_BAR		2
#define MT_IOV_BAR_PAGES	16

struct mt_iov_devs {
	struct pci_dev pf, vf, pf2, vf2, pf_other_domain, plain;
	/* When set, the VF to use instead of @vf (allocated on its own) */
	struct pci_dev *vf_alloc;
};

static void mt_iov_pci_id(struct pci_dev *pdev, u32 *domain, u16 *rid)
{
	struct mt_ctx *ctx = kunit_get_current_test()->priv;
	struct mt_iov_devs *devs = ctx->iov_devs;

	*domain = 0;
	if (pdev == &devs->pf) {
		*rid = 0x0800;
	} else if (pdev == &devs->pf2) {
		*rid = 0x0900;
	} else if (pdev == &devs->pf_other_domain) {
		*domain = 1;
		*rid = 0x0800;
	} else {
		/* Nothing asks for the ID of another function. */
		KUNIT_FAIL(ctx->test, "routing ID of %s asked", pci_name(pdev));
		*rid = 0xffff;
	}
}

static int mt_iov_vf_id(struct pci_dev *vf)
{
	struct mt_ctx *ctx = kunit_get_current_test()->priv;
	struct mt_iov_devs *devs = ctx->iov_devs;

	if (vf == &devs->vf2)
		return 1;
	return vf == &devs->vf || vf == devs->vf_alloc ? 3 : -EINVAL;
}

static void mt_iov_pdev(struct pci_dev *pdev, const char *name,
			struct pci_dev *physfn)
{
	struct resource *res = &pdev->resource[MT_IOV_BAR];

	pdev->dev.init_name = name;
	if (physfn) {
		pdev->is_virtfn = 1;
		pdev->physfn = physfn;
		physfn->is_physfn = 1;
	}
	res->start = SZ_1G;
	res->end = SZ_1G + MT_IOV_BAR_PAGES * PAGE_SIZE - 1;
	res->flags = IORESOURCE_MEM;
}

/* The made-up functions, with the ID stubs on; @ctx is test->priv. */
static struct mt_iov_devs *mt_iov_make_devs(struct kunit *test, struct mt_ctx *ctx)
{
	struct mt_iov_devs *devs;

	devs = kunit_kzalloc(test, sizeof(*devs), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, devs);
	mt_iov_pdev(&devs->pf, "mt-pf", NULL);
	mt_iov_pdev(&devs->vf, "mt-vf", &devs->pf);
	mt_iov_pdev(&devs->pf2, "mt-pf2", NULL);
	mt_iov_pdev(&devs->vf2, "mt-vf2", &devs->pf2);
	mt_iov_pdev(&devs->pf_other_domain, "mt-pf-other-domain", NULL);
	devs->pf_other_domain.is_physfn = 1;
	mt_iov_pdev(&devs->plain, "mt-plain", NULL);
	ctx->iov_devs = devs;
	kunit_activate_static_stub(test, dma_buf_iov_pci_id, mt_iov_pci_id);
	kunit_activate_static_stub(test, dma_buf_iov_vf_id, mt_iov_vf_id);
	return devs;
}

/* The test's dma-buf of @pages pages, imported by the first PF. */
static struct mt_ctx *mt_iov_setup(struct kunit *test, size_t pages,
				   struct mt_iov_devs **devsp)
{
	struct mt_ctx *ctx;

	ctx = mt_export_size(test, &mt_typed_ops, NULL, pages * PAGE_SIZE);
	test->priv = ctx;
	*devsp = mt_iov_make_devs(test, ctx);
	ctx->dev = &(*devsp)->pf.dev;
	return ctx;
}

/* A list of @n ranges of BAR 2 of @len bytes, @stride bytes apart. */
static struct dma_buf_iov_list *mt_iov(struct kunit *test, size_t n,
				       u64 start, u64 len, s64 stride)
{
	struct dma_buf_iov_list *list;
	size_t i;

	list = kunit_kzalloc(test, struct_size(list, ranges, n), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, list);
	list->bar = MT_IOV_BAR;
	list->nr_ranges = n;
	for (i = 0; i < n; i++) {
		list->ranges[i].offset = start + i * stride;
		list->ranges[i].len = len;
	}
	return list;
}

/* Describe the test's buffer as @list in @vf's BAR 2 and offer IOV. */
static void mt_iov_offer(struct mt_ctx *ctx, struct pci_dev *vf,
			 struct dma_buf_iov_list *list)
{
	const char *why = NULL;

	ctx->iov = list;
	KUNIT_ASSERT_EQ_MSG(ctx->test,
			    dma_buf_iov_init(&ctx->iov_info, vf, MT_IOV_BAR,
					     ctx->dmabuf->size, list, &why),
			    0, "%s", why ?: "");
	ctx->offers[ctx->nr_offers++] = dma_buf_iov_offer(&mt_iov_ops,
							  &ctx->iov_info);
}

static const struct dma_buf_attach_ops mt_pinned_importer = {
	.allow_peer2peer = true,
};

struct mt_iov_match_case {
	const char *desc;
	bool other_vf;		/* the other PF's VF exports */
	int importer;		/* 0: the first PF, 1: the PF of another domain */
	u32 bars;		/* the importer's mask */
	bool from_pf2;		/* attach from the other PF, naming the first */
	bool pinned;		/* an importer that cannot be revoked */
	bool accept_pal;	/* the importer takes PAL too */
	const struct dma_buf_mapping_type *want;
};

#define MT_IOV	(&dma_buf_mapping_pci_iov)
#define MT_SGT	(&dma_buf_mapping_sgt)
#define MT_PAL	(&dma_buf_mapping_pal)
#define MT_BAR	BIT(MT_IOV_BAR)

static const struct mt_iov_match_case mt_iov_match_cases[] = {
	{ "own VF", false, 0, MT_BAR, false, false, false, MT_IOV },
	{ "own VF, all BARs", false, 0, 0x3f, false, false, false, MT_IOV },
	{ "another PF's VF", true, 0, MT_BAR, false, false, false, MT_SGT },
	{ "same RID, other domain", false, 1, MT_BAR, false, false, false, MT_SGT },
	{ "BAR not accepted", false, 0, BIT(0) | BIT(4), false, false, false, MT_SGT },
	{ "attach from another device", false, 0, MT_BAR, true, false, false, MT_SGT },
	{ "importer not revocable", false, 0, MT_BAR, false, true, false, MT_SGT },
	{ "own VF, IOV and PAL", false, 0, MT_BAR, false, false, true, MT_IOV },
	{ "another PF's VF, IOV and PAL", true, 0, MT_BAR, false, false, true, MT_PAL },
};

static void mt_iov_match_case_desc(const struct mt_iov_match_case *c, char *desc)
{
	strscpy(desc, c->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(mt_iov_match, mt_iov_match_cases, mt_iov_match_case_desc);

/*
 * The exporter offers IOV, PAL and a scatterlist; the importer, a PF,
 * accepts IOV (and PAL) and a scatterlist. Only the PF of the exporting VF
 * gets IOV, for a BAR it accepts and as a revocable importer.
 */
static void dma_buf_mapping_iov_match(struct kunit *test)
{
	const struct mt_iov_match_case *c = test->param_value;
	struct dma_buf_mapping_accept accepts[3];
	struct dma_buf_attachment *attach;
	struct mt_iov_devs *devs;
	struct pci_dev *pf;
	struct mt_ctx *ctx;
	unsigned int n = 0;

	ctx = mt_iov_setup(test, 1, &devs);
	pf = c->importer ? &devs->pf_other_domain : &devs->pf;
	mt_iov_offer(ctx, c->other_vf ? &devs->vf2 : &devs->vf,
		     mt_iov(test, 1, 0, PAGE_SIZE, 0));
	ctx->offers[ctx->nr_offers++] = dma_buf_pal_offer(&mt_pal_ops);
	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(NULL);
	accepts[n++] = DMA_BUF_IOV_ACCEPT(pf, c->bars, 0);
	if (c->accept_pal)
		accepts[n++] = DMA_BUF_PAL_ACCEPT();
	accepts[n++] = DMA_BUF_SGT_ACCEPT(true);

	attach = dma_buf_mapping_attach(ctx->dmabuf,
					c->from_pf2 ? &devs->pf2.dev : &pf->dev,
					accepts, n,
					c->pinned ? &mt_pinned_importer : &mt_plain_importer,
					NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	KUNIT_EXPECT_PTR_EQ(test, attach->map_offer.type, c->want);
	KUNIT_EXPECT_PTR_EQ(test, attach->map_accept.type, c->want);
	dma_buf_detach(ctx->dmabuf, attach);
}

struct mt_iov_granule_case {
	const char *desc;
	u64 offset, len;	/* the one range, in bytes */
	u32 granules[2];	/* the importer's IOV accepts, 0 for none */
	int want;		/* the accept that matches, -1 for the SGT */
	int err;		/* the attach's error */
};

static const struct mt_iov_granule_case mt_iov_granule_cases[] = {
	{ "64K ranges, 64K granule", SZ_64K, SZ_64K, { SZ_64K }, 0 },
	{ "4K aligned, 64K granule", SZ_64K + PAGE_SIZE, SZ_64K, { SZ_64K }, -1 },
	{ "length 4K aligned, 64K granule", 0, SZ_64K - PAGE_SIZE, { SZ_64K }, -1 },
	{ "2M then 64K granule", SZ_64K, SZ_64K, { SZ_2M, SZ_64K }, 1 },
	{ "granule 0 is a page", PAGE_SIZE, PAGE_SIZE, { 0 }, 0 },
	{ "granule not a power of two", 0, SZ_64K, { 3 * PAGE_SIZE }, -1, -EINVAL },
	{ "granule below a page", 0, SZ_64K, { PAGE_SIZE / 2 }, -1, -EINVAL },
};

static void mt_iov_granule_case_desc(const struct mt_iov_granule_case *c,
				     char *desc)
{
	strscpy(desc, c->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(mt_iov_granule, mt_iov_granule_cases,
		  mt_iov_granule_case_desc);

/*
 * A PF that maps device memory in a granule gets the type only for ranges
 * aligned to it, and goes on to its next accept otherwise: another IOV
 * accept, or the scatterlist. A granule that cannot be one fails the
 * attach.
 */
static void dma_buf_mapping_iov_granule(struct kunit *test)
{
	const struct mt_iov_granule_case *c = test->param_value;
	struct dma_buf_mapping_accept accepts[3];
	struct dma_buf_attachment *attach;
	struct mt_iov_devs *devs;
	struct mt_ctx *ctx;
	unsigned int i, n = 0;

	ctx = mt_export_size(test, &mt_typed_ops, NULL, c->len);
	test->priv = ctx;
	devs = mt_iov_make_devs(test, ctx);
	/* A BAR of 4 MiB */
	devs->vf.resource[MT_IOV_BAR].end = SZ_1G + SZ_4M - 1;
	mt_iov_offer(ctx, &devs->vf, mt_iov(test, 1, c->offset, c->len, 0));
	ctx->offers[ctx->nr_offers++] = DMA_BUF_SGT_OFFER(NULL);
	for (i = 0; i < ARRAY_SIZE(c->granules) && (!i || c->granules[i]); i++)
		accepts[n++] = DMA_BUF_IOV_ACCEPT(&devs->pf, MT_BAR,
						  c->granules[i]);
	accepts[n++] = DMA_BUF_SGT_ACCEPT(true);

	attach = dma_buf_mapping_attach(ctx->dmabuf, &devs->pf.dev, accepts, n,
					&mt_plain_importer, NULL);
	if (c->err) {
		KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(attach), c->err);
		return;
	}
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	if (c->want < 0) {
		KUNIT_EXPECT_PTR_EQ(test, attach->map_accept.type, MT_SGT);
	} else {
		KUNIT_EXPECT_PTR_EQ(test, attach->map_accept.type, MT_IOV);
		KUNIT_EXPECT_EQ(test, attach->map_accept.iov.granule,
				c->granules[c->want]);
	}
	dma_buf_detach(ctx->dmabuf, attach);
}

struct mt_iov_case {
	const char *desc;
	size_t size;		/* of the dma-buf, in pages */
	size_t n;
	struct dma_buf_iov_range ranges[4];
	const char *why;	/* the reason the check gives, NULL if valid */
	unsigned int bar;	/* of the list, 0 for MT_IOV_BAR */
	u64 align;		/* of a valid list */
};

/*
 * As for the PAL list: each bad list breaks one rule, and the check must
 * name that rule. The VF's BAR has MT_IOV_BAR_PAGES pages. Overlaps are
 * allowed: every range lies in the VF's BAR.
 */
static const struct mt_iov_case mt_iov_cases[] = {
	{ "one range", 4, 1, { { P(0), P(4) } }, NULL, 0, P(4) },
	{ "the last pages of the BAR", 4, 1, { { P(12), P(4) } }, NULL, 0, P(4) },
	{ "adjacent ranges", 4, 2, { { P(4), P(2) }, { P(6), P(2) } }, NULL, 0,
	  P(2) },
	{ "ranges descending", 4, 3,
	  { { P(15), P(1) }, { P(8), P(2) }, { P(0), P(1) } }, NULL, 0, P(1) },
	{ "same range twice", 4, 2, { { P(2), P(2) }, { P(2), P(2) } }, NULL, 0,
	  P(2) },
	{ "overlap by one page", 4, 2, { { P(3), P(2) }, { P(2), P(2) } }, NULL,
	  0, P(1) },
	{ "another BAR", 4, 1, { { P(0), P(4) } }, "not the BAR of the offer", 1 },
	{ "no range", 4, 0, {}, "no range" },
	{ "empty range", 4, 2, { { P(0), P(4) }, { P(8), 0 } }, "empty range" },
	{ "unaligned offset", 4, 1, { { P(1) + 8, P(4) } },
	  "range not page aligned" },
	{ "unaligned length", 4, 2, { { P(0), P(4) - 1 }, { P(8), 1 } },
	  "range not page aligned" },
	{ "past the end of the BAR", 4, 1, { { P(13), P(4) } },
	  "range outside the BAR" },
	{ "offset past the BAR", 1, 1, { { P(16), P(1) } },
	  "range outside the BAR" },
	{ "wraps around", 2, 1, { { U64_MAX & ~(u64)(PAGE_SIZE - 1), P(2) } },
	  "range outside the BAR" },
	{ "total one page short", 4, 1, { { P(0), P(3) } },
	  "ranges smaller than the dma-buf" },
	{ "total one page long", 4, 2, { { P(0), P(4) }, { P(8), P(1) } },
	  "ranges larger than the dma-buf" },
};

static void mt_iov_case_desc(const struct mt_iov_case *c, char *desc)
{
	strscpy(desc, c->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(mt_iov_init, mt_iov_cases, mt_iov_case_desc);

/*
 * The list is checked once, when the exporter describes the buffer, and
 * the description records the BAR's size, the IDs and the alignment.
 */
static void dma_buf_mapping_iov_init(struct kunit *test)
{
	const struct mt_iov_case *c = test->param_value;
	struct dma_buf_iov_info info = {};
	struct dma_buf_iov_list *list;
	struct mt_iov_devs *devs;
	const char *why = NULL;
	struct mt_ctx *ctx;
	int ret;

	ctx = mt_setup(test, &mt_typed_ops);
	devs = mt_iov_make_devs(test, ctx);
	list = kunit_kzalloc(test, struct_size(list, ranges, c->n ?: 1),
			     GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, list);
	list->bar = c->bar ?: MT_IOV_BAR;
	list->nr_ranges = c->n;
	memcpy(list->ranges, c->ranges, c->n * sizeof(c->ranges[0]));
	ret = dma_buf_iov_init(&info, &devs->vf, MT_IOV_BAR, P(c->size), list,
			       &why);
	KUNIT_EXPECT_EQ_MSG(test, ret, c->why ? -EINVAL : 0, "%s: %s",
			    c->desc, why ?: "valid");
	if (c->why) {
		KUNIT_EXPECT_STREQ(test, why ?: "valid", c->why);
		return;
	}
	KUNIT_EXPECT_NULL(test, why);
	KUNIT_EXPECT_PTR_EQ(test, info.list,
			    (const struct dma_buf_iov_list *)list);
	KUNIT_EXPECT_EQ(test, info.bar, MT_IOV_BAR);
	KUNIT_EXPECT_EQ(test, info.bar_size, P(MT_IOV_BAR_PAGES));
	KUNIT_EXPECT_EQ(test, info.vf_id, 3);
	KUNIT_EXPECT_EQ(test, info.pf_domain, 0);
	KUNIT_EXPECT_EQ(test, info.pf_rid, 0x0800);
	KUNIT_EXPECT_EQ(test, 1ULL << info.align_shift, c->align);
}

/* Only a VF's BAR can be described. */
static void dma_buf_mapping_iov_init_refuses_function(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_iov_info info = {};
	struct dma_buf_iov_list *list;
	struct mt_iov_devs *devs;
	const char *why;

	devs = mt_iov_make_devs(test, ctx);
	list = mt_iov(test, 1, 0, PAGE_SIZE, 0);
	why = NULL;
	KUNIT_EXPECT_EQ(test, dma_buf_iov_init(&info, &devs->pf, MT_IOV_BAR,
					       PAGE_SIZE, list, &why), -EINVAL);
	KUNIT_EXPECT_STREQ(test, why ?: "valid", "not a virtual function");
	why = NULL;
	KUNIT_EXPECT_EQ(test, dma_buf_iov_init(&info, &devs->plain, MT_IOV_BAR,
					       PAGE_SIZE, list, &why), -EINVAL);
	KUNIT_EXPECT_STREQ(test, why ?: "valid", "not a virtual function");
	why = NULL;
	KUNIT_EXPECT_EQ(test, dma_buf_iov_init(&info, &devs->vf, PCI_STD_NUM_BARS,
					       PAGE_SIZE, list, &why), -EINVAL);
	KUNIT_EXPECT_STREQ(test, why ?: "valid",
			   "not a BAR of the virtual function");
	/* BAR 1 has no resource */
	list->bar = 1;
	why = NULL;
	KUNIT_EXPECT_EQ(test, dma_buf_iov_init(&info, &devs->vf, 1, PAGE_SIZE,
					       list, &why), -EINVAL);
	KUNIT_EXPECT_STREQ(test, why ?: "valid",
			   "not a BAR of the virtual function");
}

/* No cap on the number of ranges: a list is checked once, in one pass. */
static void dma_buf_mapping_iov_init_many_ranges(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_typed_ops);
	struct dma_buf_iov_info info = {};
	struct dma_buf_iov_list *list;
	struct mt_iov_devs *devs;
	const char *why = NULL;
	size_t i, n = SZ_64K + 1;

	devs = mt_iov_make_devs(test, ctx);
	list = kvzalloc(struct_size(list, ranges, n), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, list);
	list->bar = MT_IOV_BAR;
	list->nr_ranges = n;
	for (i = 0; i < n; i++) {
		list->ranges[i].offset = P(i % MT_IOV_BAR_PAGES);
		list->ranges[i].len = PAGE_SIZE;
	}
	KUNIT_EXPECT_EQ_MSG(test, dma_buf_iov_init(&info, &devs->vf, MT_IOV_BAR,
						   P(n), list, &why),
			    0, "%s", why ?: "");
	kvfree(list);
}

static struct dma_buf_attachment *mt_iov_attach(struct mt_ctx *ctx,
						struct mt_iov_devs *devs,
						const struct dma_buf_attach_ops *ops)
{
	struct dma_buf_mapping_accept accept =
		DMA_BUF_IOV_ACCEPT(&devs->pf, BIT(MT_IOV_BAR), 0);
	struct dma_buf_attachment *attach;

	attach = dma_buf_mapping_attach(ctx->dmabuf, &devs->pf.dev, &accept, 1,
					ops, ctx);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(ctx->test, attach);
	KUNIT_EXPECT_TRUE(ctx->test,
			  dma_buf_attachment_is_type(attach, &dma_buf_mapping_pci_iov));
	return attach;
}

/* A map hands out the list that was checked; the exporter counts it. */
static void dma_buf_mapping_iov_map_unmap(struct kunit *test)
{
	const struct dma_buf_iov_list *list;
	struct dma_buf_attachment *attach;
	struct mt_iov_devs *devs;
	struct mt_ctx *ctx;

	ctx = mt_iov_setup(test, 4, &devs);
	mt_iov_offer(ctx, &devs->vf,
		     mt_iov(test, 4, P(12), PAGE_SIZE, -(s64)PAGE_SIZE));
	attach = mt_iov_attach(ctx, devs, &mt_plain_importer);
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	list = dma_buf_iov_map(attach);
	KUNIT_EXPECT_PTR_EQ(test, list, (const struct dma_buf_iov_list *)ctx->iov);
	if (!IS_ERR(list))
		dma_buf_iov_unmap(attach, list);
	dma_resv_unlock(ctx->dmabuf->resv);
	KUNIT_EXPECT_EQ(test, ctx->iov_maps, 1);
	KUNIT_EXPECT_EQ(test, ctx->iov_unmaps, 1);
	dma_buf_detach(ctx->dmabuf, attach);
}

/* An unmap of a list that is not the attachment's reaches no exporter. */
static void dma_buf_mapping_iov_unmap_wrong_list(struct kunit *test)
{
	const struct dma_buf_iov_list *list;
	struct dma_buf_attachment *attach;
	struct mt_iov_devs *devs;
	struct mt_ctx *ctx;

	ctx = mt_iov_setup(test, 1, &devs);
	mt_iov_offer(ctx, &devs->vf, mt_iov(test, 1, 0, PAGE_SIZE, 0));
	attach = mt_iov_attach(ctx, devs, &mt_plain_importer);
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	list = dma_buf_iov_map(attach);
	KUNIT_ASSERT_FALSE(test, IS_ERR(list));
	kunit_warning_suppress(test) {
		dma_buf_iov_unmap(attach, mt_iov(test, 1, 0, PAGE_SIZE, 0));
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 1);
	}
	KUNIT_EXPECT_EQ(test, ctx->iov_unmaps, 0);
	dma_buf_iov_unmap(attach, list);
	dma_resv_unlock(ctx->dmabuf->resv);
	KUNIT_EXPECT_EQ(test, ctx->iov_unmaps, 1);
	dma_buf_detach(ctx->dmabuf, attach);
}

/* A refused map passes the exporter's error on and hands out nothing. */
static void dma_buf_mapping_iov_map_passes_exporter_error(struct kunit *test)
{
	struct dma_buf_attachment *attach;
	struct mt_iov_devs *devs;
	struct mt_ctx *ctx;

	ctx = mt_iov_setup(test, 1, &devs);
	mt_iov_offer(ctx, &devs->vf, mt_iov(test, 1, 0, PAGE_SIZE, 0));
	attach = mt_iov_attach(ctx, devs, &mt_plain_importer);
	ctx->iov_map_ret = -ENODEV;
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(dma_buf_iov_map(attach)), -ENODEV);
	dma_resv_unlock(ctx->dmabuf->resv);
	KUNIT_EXPECT_EQ(test, ctx->iov_unmaps, 0);
	dma_buf_detach(ctx->dmabuf, attach);
}

static void dma_buf_mapping_iov_map_wrong_type(struct kunit *test)
{
	struct mt_ctx *ctx = mt_setup(test, &mt_legacy_ops);
	const struct dma_buf_iov_list *list;
	struct dma_buf_attachment *attach;

	attach = dma_buf_attach(ctx->dmabuf, ctx->dev);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	kunit_warning_suppress(test) {
		list = dma_buf_iov_map(attach);
		KUNIT_EXPECT_EQ(test, PTR_ERR(list), -EINVAL);
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 1);
	}
	dma_resv_unlock(ctx->dmabuf->resv);
	dma_buf_detach(ctx->dmabuf, attach);
}

/*
 * The offer holds values, not the VF: once the VF is freed (its memory
 * poisoned first, so that a read of it would be seen even without KASAN),
 * the importer still reads what the offer says, and a new attachment of
 * the PF still matches.
 */
static void dma_buf_mapping_iov_offer_outlives_vf(struct kunit *test)
{
	const struct dma_buf_iov_info *info;
	struct dma_buf_attachment *attach, *again;
	const struct dma_buf_iov_list *list;
	struct mt_iov_devs *devs;
	struct pci_dev *vf;
	struct mt_ctx *ctx;

	ctx = mt_iov_setup(test, 8, &devs);
	vf = kzalloc_obj(*vf);
	KUNIT_ASSERT_NOT_NULL(test, vf);
	mt_iov_pdev(vf, "mt-vf-alloc", &devs->pf);
	devs->vf_alloc = vf;
	mt_iov_offer(ctx, vf, mt_iov(test, 2, P(8), P(4), -(s64)P(8)));
	attach = mt_iov_attach(ctx, devs, &mt_plain_importer);
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	list = dma_buf_iov_map(attach);
	KUNIT_ASSERT_FALSE(test, IS_ERR(list));
	dma_resv_unlock(ctx->dmabuf->resv);

	memset(vf, 0x6b, sizeof(*vf));
	kfree(vf);

	info = attach->map_offer.iov.info;
	KUNIT_EXPECT_EQ(test, info->vf_id, 3);
	KUNIT_EXPECT_EQ(test, info->bar, MT_IOV_BAR);
	KUNIT_EXPECT_EQ(test, info->bar_size, P(MT_IOV_BAR_PAGES));
	KUNIT_EXPECT_EQ(test, info->pf_rid, 0x0800);
	KUNIT_EXPECT_EQ(test, 1ULL << info->align_shift, P(4));
	again = mt_iov_attach(ctx, devs, &mt_plain_importer);
	dma_buf_detach(ctx->dmabuf, again);

	dma_resv_lock(ctx->dmabuf->resv, NULL);
	dma_buf_iov_unmap(attach, list);
	dma_resv_unlock(ctx->dmabuf->resv);
	dma_buf_detach(ctx->dmabuf, attach);
}

/*
 * Not a test but a figure: what a map and unmap of the IOV type cost, for
 * a list of one range and of 4096 ranges (in a VF BAR of 8192 pages),
 * and their ratio, measured in the same run. The list was checked when
 * the buffer was described, so the two should cost the same.
 */
static void dma_buf_mapping_iov_map_cost(struct kunit *test)
{
	static const size_t sizes[] = { 1, 4096 };
	u64 ns[ARRAY_SIZE(sizes)];
	const struct dma_buf_iov_list *list;
	struct dma_buf_attachment *attach;
	unsigned int i, j, k, loops = 1024;
	struct mt_iov_devs *devs;
	struct mt_ctx *ctx;
	u64 t0 = 0;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		ctx = mt_iov_setup(test, sizes[i], &devs);
		devs->vf.resource[MT_IOV_BAR].end = SZ_1G + P(8192) - 1;
		mt_iov_offer(ctx, &devs->vf,
			     mt_iov(test, sizes[i], 0, PAGE_SIZE, P(2)));
		attach = mt_iov_attach(ctx, devs, &mt_plain_importer);
		dma_resv_lock(ctx->dmabuf->resv, NULL);
		/* Timed the second time round, warm */
		for (k = 0; k < 2; k++) {
			t0 = ktime_get_ns();
			for (j = 0; j < loops; j++) {
				list = dma_buf_iov_map(attach);
				if (IS_ERR(list))
					break;
				dma_buf_iov_unmap(attach, list);
			}
		}
		ns[i] = (ktime_get_ns() - t0) / loops;
		dma_resv_unlock(ctx->dmabuf->resv);
		KUNIT_EXPECT_EQ(test, ctx->iov_maps, 2 * loops);
		dma_buf_detach(ctx->dmabuf, attach);
		if (i + 1 < ARRAY_SIZE(sizes)) {
			/* The next round's buffer: this one is put here */
			mt_exit(test);
			test->priv = NULL;
		}
		kunit_info(test, "map+unmap of %zu ranges: %llu ns\n", sizes[i],
			   ns[i]);
	}
	kunit_info(test, "4096 ranges / 1 range: %llu.%03llu\n",
		   ns[1] / max(ns[0], 1ULL),
		   ns[1] % max(ns[0], 1ULL) * 1000 / max(ns[0], 1ULL));
}

/* An importer that keeps its list, and gives it back when revoked. */
static void mt_iov_invalidate(struct dma_buf_attachment *attach)
{
	struct mt_ctx *ctx = attach->importer_priv;

	ctx->invalidates++;
	if (ctx->held) {
		dma_buf_iov_unmap(attach, ctx->held);
		ctx->held = NULL;
	}
}

static const struct dma_buf_attach_ops mt_iov_importer = {
	.invalidate_mappings = mt_iov_invalidate,
	.mappings_available = mt_available,
};

/*
 * Revoke: the importer gives the list back from invalidate_mappings, and
 * maps fail with the exporter's -ENODEV until the revoke is lifted, which
 * reaches the importer through mappings_available, not a second
 * invalidate_mappings.
 */
static void dma_buf_mapping_iov_revoke(struct kunit *test)
{
	const struct dma_buf_iov_list *list;
	struct dma_buf_attachment *attach;
	struct mt_iov_devs *devs;
	struct mt_ctx *ctx;

	ctx = mt_iov_setup(test, 4, &devs);
	mt_iov_offer(ctx, &devs->vf, mt_iov(test, 2, P(0), P(2), P(8)));
	attach = mt_iov_attach(ctx, devs, &mt_iov_importer);
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	list = dma_buf_iov_map(attach);
	KUNIT_ASSERT_FALSE(test, IS_ERR(list));
	ctx->held = list;

	ctx->iov_map_ret = -ENODEV;
	dma_buf_invalidate_mappings(ctx->dmabuf);
	KUNIT_EXPECT_EQ(test, ctx->invalidates, 1);
	KUNIT_EXPECT_NULL(test, ctx->held);
	KUNIT_EXPECT_EQ(test, ctx->iov_unmaps, 1);
	KUNIT_EXPECT_EQ(test, PTR_ERR(dma_buf_iov_map(attach)), -ENODEV);

	ctx->iov_map_ret = 0;
	dma_buf_notify_available(ctx->dmabuf);
	dma_resv_unlock(ctx->dmabuf->resv);
	dma_buf_flush_available(ctx->dmabuf);
	KUNIT_EXPECT_EQ(test, ctx->invalidates, 1);
	KUNIT_EXPECT_EQ(test, ctx->available_calls, 1);
	dma_resv_lock(ctx->dmabuf->resv, NULL);
	list = dma_buf_iov_map(attach);
	KUNIT_EXPECT_PTR_EQ(test, list, (const struct dma_buf_iov_list *)ctx->iov);
	if (!IS_ERR(list))
		dma_buf_iov_unmap(attach, list);
	dma_resv_unlock(ctx->dmabuf->resv);
	KUNIT_EXPECT_EQ(test, ctx->iov_maps, 2);
	KUNIT_EXPECT_EQ(test, ctx->iov_unmaps, 2);
	dma_buf_detach(ctx->dmabuf, attach);
}

#endif /* CONFIG_PCI_IOV */

static struct kunit_case dma_buf_mapping_cases[] = {
	KUNIT_CASE(dma_buf_mapping_legacy_exporter_legacy_importer),
	KUNIT_CASE(dma_buf_mapping_legacy_exporter_p2p_importer),
	KUNIT_CASE(dma_buf_mapping_legacy_exporter_null_importer_ops),
	KUNIT_CASE(dma_buf_mapping_legacy_exporter_typed_importer),
	KUNIT_CASE(dma_buf_mapping_legacy_exporter_private_importer),
	KUNIT_CASE(dma_buf_mapping_typed_exporter_legacy_importer),
	KUNIT_CASE(dma_buf_mapping_exporter_order_wins),
	KUNIT_CASE(dma_buf_mapping_importer_order_breaks_ties),
	KUNIT_CASE(dma_buf_mapping_eopnotsupp_tries_next_accept),
	KUNIT_CASE(dma_buf_mapping_eopnotsupp_tries_next_offer),
	KUNIT_CASE(dma_buf_mapping_match_error_aborts),
	KUNIT_CASE(dma_buf_mapping_offers_error_aborts),
	KUNIT_CASE(dma_buf_mapping_no_offers),
	KUNIT_CASE(dma_buf_mapping_no_common_type),
	KUNIT_CASE(dma_buf_mapping_bad_arguments),
	KUNIT_CASE(dma_buf_mapping_offer_without_type),
	KUNIT_CASE(dma_buf_mapping_bad_offer_count),
	KUNIT_CASE(dma_buf_mapping_sgt_p2p_only_needs_p2p_importer),
	KUNIT_CASE(dma_buf_mapping_sgt_p2p_only_needs_reachable_peer),
	KUNIT_CASE(dma_buf_mapping_sgt_p2p_refusal_tries_next_offer),
	KUNIT_CASE(dma_buf_mapping_sgt_offer_keeps_peer2peer),
	KUNIT_CASE(dma_buf_mapping_wrong_type_map_refused),
	KUNIT_CASE(dma_buf_mapping_private_type_end_to_end),
	KUNIT_CASE(dma_buf_mapping_offers_callback_context),
	KUNIT_CASE(dma_buf_mapping_exporter_attach_error),
	KUNIT_CASE(dma_buf_mapping_fault_injection),
	KUNIT_CASE_PARAM(dma_buf_mapping_pal_check, mt_pal_check_gen_params),
	KUNIT_CASE(dma_buf_mapping_pal_needs_revocable_importer),
	KUNIT_CASE(dma_buf_mapping_pal_falls_back_to_sgt),
	KUNIT_CASE(dma_buf_mapping_pal_map_unmap),
	KUNIT_CASE(dma_buf_mapping_pal_map_refuses_bad_list),
	KUNIT_CASE(dma_buf_mapping_pal_map_passes_exporter_error),
	KUNIT_CASE(dma_buf_mapping_pal_map_wrong_type),
	KUNIT_CASE(dma_buf_mapping_notify_available),
	KUNIT_CASE(dma_buf_mapping_notify_available_holds_file),
#if IS_ENABLED(CONFIG_PCI_IOV)
	KUNIT_CASE_PARAM(dma_buf_mapping_iov_match, mt_iov_match_gen_params),
	KUNIT_CASE_PARAM(dma_buf_mapping_iov_granule, mt_iov_granule_gen_params),
	KUNIT_CASE_PARAM(dma_buf_mapping_iov_init, mt_iov_init_gen_params),
	KUNIT_CASE(dma_buf_mapping_iov_init_refuses_function),
	KUNIT_CASE(dma_buf_mapping_iov_init_many_ranges),
	KUNIT_CASE(dma_buf_mapping_iov_map_unmap),
	KUNIT_CASE(dma_buf_mapping_iov_unmap_wrong_list),
	KUNIT_CASE(dma_buf_mapping_iov_map_passes_exporter_error),
	KUNIT_CASE(dma_buf_mapping_iov_map_wrong_type),
	KUNIT_CASE(dma_buf_mapping_iov_offer_outlives_vf),
	KUNIT_CASE(dma_buf_mapping_iov_revoke),
	KUNIT_CASE(dma_buf_mapping_iov_map_cost),
#endif
	{}
};

static struct kunit_suite dma_buf_mapping_test_suite = {
	.name = "dma-buf-mapping",
	.exit = mt_exit,
	.test_cases = dma_buf_mapping_cases,
};

kunit_test_suite(dma_buf_mapping_test_suite);
