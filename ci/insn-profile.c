// SPDX-License-Identifier: GPL-2.0-only
/*
 * insn-profile: a QEMU TCG plugin that counts the guest instructions
 * executed per translation block between two marker addresses, for
 * ci/bench's attribution of a per-operation cost to kernel functions.
 *
 *   -plugin insn-profile.so,start=ADDR,stop=ADDR,out=FILE
 *
 * ADDR are virtual addresses (hex) of two functions of the guest
 * benchmark program (a static, non-PIE binary, so they are known before
 * it runs): counting is on from the first instruction of start= until
 * the first of stop=, whatever runs on any vCPU in between. At exit FILE
 * gets one line per translation block that ran while counting:
 *
 *   <guest vaddr> <instructions in the block> <times it ran>
 *
 * ci/insn-attrib maps the addresses to kernel symbols (System.map).
 * Counts are exact only when the vCPUs run in one thread, as under
 * -icount; ci/bench uses the plugin with -icount only.
 *
 * Only the few entry points of QEMU's plugin API that this needs are
 * declared here, from the API's documentation, so that no QEMU headers
 * are needed to build it (Debian ships none).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct {
	const char *target_name;
	struct {
		int min;
		int cur;
	} version;
	/* more fields follow; not used */
} qemu_info_t;

enum qemu_plugin_cb_flags {
	QEMU_PLUGIN_CB_NO_REGS,
};

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
	void (*cb)(unsigned int vcpu_index, void *userdata),
	enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, void *userdata), void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_outs(const char *string);

/* The API version this plugin was written against (QEMU 9.0 and later). */
__attribute__((visibility("default"))) int qemu_plugin_version = 2;

struct block {
	uint64_t vaddr;
	uint64_t count;
	unsigned int insns;
	struct block *next;
};

static struct block *blocks;
static uint64_t start_addr, stop_addr;
static const char *out_path;
static bool counting;
static unsigned long windows;

static void block_exec(unsigned int vcpu, void *data)
{
	struct block *b = data;

	(void)vcpu;
	if (counting)
		b->count++;
}

static void start_exec(unsigned int vcpu, void *data)
{
	(void)vcpu;
	(void)data;
	counting = true;
	windows++;
}

static void stop_exec(unsigned int vcpu, void *data)
{
	(void)vcpu;
	(void)data;
	counting = false;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
	struct block *b;

	(void)id;
	/*
	 * The markers first: the start block itself is counted, the stop
	 * block is not.
	 */
	if (vaddr == stop_addr)
		qemu_plugin_register_vcpu_tb_exec_cb(tb, stop_exec,
						     QEMU_PLUGIN_CB_NO_REGS, NULL);
	if (vaddr == start_addr)
		qemu_plugin_register_vcpu_tb_exec_cb(tb, start_exec,
						     QEMU_PLUGIN_CB_NO_REGS, NULL);
	b = calloc(1, sizeof(*b));
	if (!b)
		abort();
	b->vaddr = vaddr;
	b->insns = qemu_plugin_tb_n_insns(tb);
	/* Translation runs in one thread at a time (the TB lock). */
	b->next = blocks;
	blocks = b;
	qemu_plugin_register_vcpu_tb_exec_cb(tb, block_exec,
					     QEMU_PLUGIN_CB_NO_REGS, b);
}

static void at_exit(qemu_plugin_id_t id, void *data)
{
	struct block *b;
	FILE *f;

	(void)id;
	(void)data;
	f = fopen(out_path, "w");
	if (!f) {
		qemu_plugin_outs("insn-profile: cannot write the output file\n");
		return;
	}
	fprintf(f, "# windows %lu\n", windows);
	for (b = blocks; b; b = b->next)
		if (b->count)
			fprintf(f, "%" PRIx64 " %u %" PRIu64 "\n", b->vaddr,
				b->insns, b->count);
	fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
			int argc, char **argv)
{
	int i;

	(void)info;
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "start=", 6))
			start_addr = strtoull(argv[i] + 6, NULL, 16);
		else if (!strncmp(argv[i], "stop=", 5))
			stop_addr = strtoull(argv[i] + 5, NULL, 16);
		else if (!strncmp(argv[i], "out=", 4))
			out_path = argv[i] + 4;
		else
			return -1;
	}
	if (!start_addr || !stop_addr || !out_path)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
