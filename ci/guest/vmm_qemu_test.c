// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmm_qemu_test: QEMU itself as the VMM of the test guest's devices. Each
 * case starts QEMU 10 (unpacked into the guest under /opt/qemu10 by
 * ci/qemu10 -g) with ivshmem, edu and a second ivshmem assigned through
 * vfio-pci, drives its guest side over the qtest protocol (config cycles,
 * MMIO and guest RAM; the vCPU halts at the reset vector), and makes edu
 * DMA into an ivshmem BAR at the guest-physical address QEMU's memory
 * listener mapped: with IOMMU_IOAS_MAP of the BAR's mmap (-object iommufd)
 * or VFIO_IOMMU_MAP_DMA (the legacy container, iommufd's VFIO emulation on
 * this kernel). Nothing here calls VFIO or iommufd: what is tested is that
 * QEMU's own code gets P2P, and keeps it across what a guest does to a
 * BAR (decode off and on, sizing, a move) and across QEMU's resets.
 *
 * usage: vmm_qemu_test [harness options] IVSHMEM EDU IVSHMEM2
 *
 * IVSHMEM and EDU are functions 0 and 1 of one slot (one dev_set: QEMU's
 * system reset resets them with VFIO_DEVICE_PCI_HOT_RESET); IVSHMEM2 is
 * alone below a root port, so that VFIO_DEVICE_RESET works on it (a bus
 * reset below that port), and QEMU places it below a root port of its own
 * whose secondary bus reset the VMM's guest triggers.
 *
 * A DMA into IVSHMEM's BAR 2 is reported as "# p2p-host-check" lines for
 * ci/p2p-host-check, which compares them with the host's ivshmem file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define QEMU_DIR	"/opt/qemu10"
#define QEMU_BIN	QEMU_DIR "/qemu-system-x86_64"
#define PIDFILE		"/tmp/vmm-qemu.pid"

/* Where the VMM's guest places the BARs (below 4 GiB, above its RAM). */
#define BAR2_GPA	0xc0000000ULL	/* ivshmem BAR 2 (4 MiB) */
#define BAR2_MOVED	0xc0400000ULL
#define EDU_GPA		0xc1000000ULL	/* edu BAR 0 (1 MiB) */
#define BAR2B_GPA	0xc2000000ULL	/* the second ivshmem's BAR 2 */
#define RAM_SRC		0x100000ULL	/* guest RAM the DMAs read */
#define RAM_DST		0x200000ULL	/* guest RAM the DMAs back write */

/* Slots of the VMM's root bus; the second ivshmem is on bus 1. */
#define SLOT_IVSHMEM	4
#define SLOT_EDU	5
#define SLOT_PORT	6

#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_COUNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_DMA_START	0x1
#define EDU_DMA_TO_RAM	0x2
#define EDU_BUFFER	0x40000

#define DMA_LEN		256
#define LINE_MAX_LEN	(2 * DMA_LEN + 64)

static const char *ivshmem, *edu, *ivshmem2;

FIXTURE(vmm) {
	bool started;		/* QEMU was started: the teardown stops it */
	pid_t pid;		/* QEMU, until reaped (then 0) */
	int status;		/* its wait status, once reaped */
	int to, from;		/* qtest: our ends of its FIFOs */
	char qfifo[64], mfifo[64];	/* their names, without .in/.out */
	char err[64], trace[64];
	char line[LINE_MAX_LEN];	/* the last answer */
	char buf[LINE_MAX_LEN];		/* read from QEMU, not yet answered */
	size_t len;
};

FIXTURE_VARIANT(vmm) {
	bool iommufd;
};

FIXTURE_VARIANT_ADD(vmm, iommufd) {
	.iommufd = true,
};

FIXTURE_VARIANT_ADD(vmm, container) {
	.iommufd = false,
};

/* The bytes of the host check (ci/p2p-host-check, libvfio's pattern_byte()) */
static uint8_t pattern_byte(uint8_t seed, uint64_t off)
{
	return seed + off * 7 + (off >> 8) * 3 + (off >> 12) * 13;
}

static void host_check(const char *what, uint64_t bar_off, uint8_t seed)
{
	printf("# p2p-host-check %s 0x%llx 0x%x 0x%02x\n", what,
	       (unsigned long long)bar_off, DMA_LEN, seed);
	fflush(stdout);
}

/* The hex string of DMA_LEN pattern bytes for BAR offset @off. */
static void pattern_hex(char *buf, uint8_t seed, uint64_t off)
{
	int i;

	for (i = 0; i < DMA_LEN; i++)
		sprintf(buf + 2 * i, "%02x", pattern_byte(seed, off + i));
}

/*
 * QEMU has exited (reaped here, its status kept); a QEMU that is still
 * running gets @wait_s seconds, then SIGKILL when @kill.
 */
static bool vmm_exited(FIXTURE_DATA(vmm) *self, int wait_s, bool kill_it)
{
	int i;

	for (i = 0; self->pid > 0; i++) {
		if (waitpid(self->pid, &self->status, WNOHANG) == self->pid) {
			self->pid = 0;
			break;
		}
		if (i == wait_s * 10) {
			if (!kill_it)
				return false;
			kill(self->pid, SIGKILL);
			waitpid(self->pid, &self->status, 0);
			self->pid = 0;
			break;
		}
		usleep(100000);
	}
	return true;
}

/*
 * One qtest command and its answer: "OK" or "OK VALUE". Returns false
 * (and prints the exchange) on anything else, on QEMU's exit, and after
 * 30 s without an answer. We hold the answer FIFO open for writing too
 * (see fifo_open()), so QEMU's exit is seen by waitpid(), not by EOF.
 */
static bool qt(FIXTURE_DATA(vmm) *self, const char *fmt, ...)
{
	char cmd[LINE_MAX_LEN];
	struct pollfd p = { .fd = self->from, .events = POLLIN };
	int n, waited = 0;
	char *nl;
	va_list ap;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd) - 1, fmt, ap);
	va_end(ap);
	cmd[n++] = '\n';
	if (self->pid <= 0 || write(self->to, cmd, n) != n) {
		ksft_print_msg("qtest: \"%.40s\": QEMU is gone\n", cmd);
		return false;
	}
	/* One line: what follows it stays for the next answer. */
	while (!(nl = memchr(self->buf, '\n', self->len))) {
		ssize_t r;

		if (self->len == sizeof(self->buf)) {
			ksft_print_msg("qtest: \"%.40s\": answer too long\n", cmd);
			return false;
		}
		if (poll(&p, 1, 1000) <= 0) {
			if (vmm_exited(self, 0, false) || ++waited == 30) {
				ksft_print_msg("qtest: \"%.40s\": no answer%s\n", cmd,
					       self->pid ? " in 30 s" : " (QEMU exited)");
				return false;
			}
			continue;
		}
		r = read(self->from, self->buf + self->len,
			 sizeof(self->buf) - self->len);
		if (r <= 0) {
			ksft_print_msg("qtest: \"%.40s\": read: %s\n", cmd,
				       r ? strerror(errno) : "EOF");
			return false;
		}
		self->len += r;
	}
	n = nl - self->buf;
	memcpy(self->line, self->buf, n);
	self->line[n] = 0;
	self->len -= n + 1;
	memmove(self->buf, nl + 1, self->len);
	if (strncmp(self->line, "OK", 2)) {
		ksft_print_msg("qtest: \"%.40s\": %.80s\n", cmd, self->line);
		return false;
	}
	return true;
}

/* The value of the last answer ("OK 0x..."). */
static uint64_t qt_val(FIXTURE_DATA(vmm) *self)
{
	return strtoull(self->line + 2, NULL, 0);
}

static uint32_t cfg_addr(int bus, int slot, int reg)
{
	return 0x80000000u | bus << 16 | slot << 11 | reg;
}

static bool cfg_write(FIXTURE_DATA(vmm) *self, int bus, int slot, int reg,
		      uint32_t val)
{
	return qt(self, "outl 0xcf8 0x%x", cfg_addr(bus, slot, reg)) &&
	       qt(self, "outl 0xcfc 0x%x", val);
}

static bool cfg_read(FIXTURE_DATA(vmm) *self, int bus, int slot, int reg,
		     uint32_t *val)
{
	if (!qt(self, "outl 0xcf8 0x%x", cfg_addr(bus, slot, reg)) ||
	    !qt(self, "inl 0xcfc"))
		return false;
	*val = qt_val(self);
	return true;
}

/*
 * Memory decode of one function on or off (bus master stays on; never
 * INTx: QEMU disables the BAR mmaps while an INTx is pending).
 */
static bool decode(FIXTURE_DATA(vmm) *self, int bus, int slot, bool on)
{
	return cfg_write(self, bus, slot, 0x04, on ? 0x6 : 0x4);
}

/* Place ivshmem's BAR 2 at @gpa (64-bit BAR, low and high dwords). */
static bool place_bar2(FIXTURE_DATA(vmm) *self, int bus, int slot,
		       uint64_t gpa)
{
	return cfg_write(self, bus, slot, 0x18, (uint32_t)gpa) &&
	       cfg_write(self, bus, slot, 0x1c, gpa >> 32);
}

/*
 * What firmware does: BARs placed, decode on (ivshmem first), edu's BAR 0,
 * and the VMM's root port routing bus 1 with a window for the second
 * ivshmem's BAR 2 (base and limit in bits 31:20 of the address).
 */
static bool setup_guest(FIXTURE_DATA(vmm) *self, uint64_t bar2)
{
	uint32_t base = BAR2B_GPA >> 16, limit = (BAR2B_GPA + 0xf00000) >> 16;

	return place_bar2(self, 0, SLOT_IVSHMEM, bar2) &&
	       cfg_write(self, 0, SLOT_EDU, 0x10, EDU_GPA) &&
	       decode(self, 0, SLOT_IVSHMEM, true) &&
	       decode(self, 0, SLOT_EDU, true) &&
	       cfg_write(self, 0, SLOT_PORT, 0x18, 0x00010100) &&
	       cfg_write(self, 0, SLOT_PORT, 0x20, limit << 16 | base) &&
	       decode(self, 0, SLOT_PORT, true) &&
	       place_bar2(self, 1, 0, BAR2B_GPA) &&
	       decode(self, 1, 0, true);
}

static bool edu_wait(FIXTURE_DATA(vmm) *self)
{
	int i;

	/* edu's DMA takes 100 ms of QEMU's virtual clock: 20 s is plenty. */
	for (i = 0; i < 400; i++) {
		if (!qt(self, "readl 0x%llx", EDU_GPA + EDU_DMA_CMD))
			return false;
		if (!(qt_val(self) & EDU_DMA_START))
			return true;
		usleep(50000);
	}
	ksft_print_msg("edu: the DMA did not complete\n");
	return false;
}

static bool edu_dma(FIXTURE_DATA(vmm) *self, uint64_t src, uint64_t dst,
		    bool to_ram)
{
	return qt(self, "writeq 0x%llx 0x%llx", EDU_GPA + EDU_DMA_SRC, src) &&
	       qt(self, "writeq 0x%llx 0x%llx", EDU_GPA + EDU_DMA_DST, dst) &&
	       qt(self, "writeq 0x%llx 0x%x", EDU_GPA + EDU_DMA_COUNT, DMA_LEN) &&
	       qt(self, "writeq 0x%llx 0x%x", EDU_GPA + EDU_DMA_CMD,
		  EDU_DMA_START | (to_ram ? EDU_DMA_TO_RAM : 0)) &&
	       edu_wait(self);
}

/*
 * The VMM's CPU writes the pattern of @seed at BAR offset @off to @gpa:
 * its RAM, or a BAR through QEMU's mapping.
 */
static bool fill(FIXTURE_DATA(vmm) *self, uint64_t gpa, uint8_t seed,
		 uint64_t off)
{
	char hex[2 * DMA_LEN + 1];

	pattern_hex(hex, seed, off);
	return qt(self, "write 0x%llx 0x%x 0x%s", gpa, DMA_LEN, hex);
}

/*
 * edu copies DMA_LEN pattern bytes (seed @seed, for BAR offset @off) from
 * the VMM's RAM into the BAR at guest-physical @gpa: two DMAs through
 * edu's buffer. The second one goes through the test guest's vIOMMU to the
 * address QEMU's listener mapped.
 */
static bool dma_to_bar(FIXTURE_DATA(vmm) *self, uint64_t gpa, uint8_t seed,
		       uint64_t off)
{
	return fill(self, RAM_SRC, seed, off) &&
	       edu_dma(self, RAM_SRC, EDU_BUFFER, false) &&
	       edu_dma(self, EDU_BUFFER, gpa, true);
}

/*
 * What the VMM's guest reads at @gpa is the pattern of @seed at BAR
 * offset @off (false too when the read fails).
 */
static bool holds(FIXTURE_DATA(vmm) *self, uint64_t gpa, uint8_t seed,
		  uint64_t off)
{
	char hex[2 * DMA_LEN + 1];

	pattern_hex(hex, seed, off);
	if (!qt(self, "read 0x%llx 0x%x", gpa, DMA_LEN))
		return false;
	if (!strncmp(self->line, "OK 0x", 5) && !strcmp(self->line + 5, hex))
		return true;
	ksft_print_msg("0x%llx does not hold the pattern of seed 0x%02x\n",
		       (unsigned long long)gpa, seed);
	return false;
}

/* dma_to_bar(), then the bytes are there. */
static bool lands(FIXTURE_DATA(vmm) *self, uint64_t gpa, uint8_t seed,
		  uint64_t off)
{
	return dma_to_bar(self, gpa, seed, off) && holds(self, gpa, seed, off);
}

/* Lines of a file that contain every one of the strings (NULL-ended). */
static int count_lines(const char *path, ...)
{
	char buf[512];
	int n = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f)) {
		const char *s;
		bool all = true;
		va_list ap;

		va_start(ap, path);
		while ((s = va_arg(ap, const char *)))
			all = all && strstr(buf, s);
		va_end(ap);
		n += all;
	}
	fclose(f);
	return n;
}

static void print_file(const char *what, const char *path)
{
	char buf[512];
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(buf, sizeof(buf), f))
		ksft_print_msg("%s: %s", what, buf);
	fclose(f);
}

/* The two FIFOs of QEMU's "pipe:" character device @base. */
static bool fifo_make(const char *base)
{
	char path[80];

	snprintf(path, sizeof(path), "%s.in", base);
	unlink(path);
	if (mkfifo(path, 0600))
		return false;
	snprintf(path, sizeof(path), "%s.out", base);
	unlink(path);
	return !mkfifo(path, 0600);
}

/*
 * Open our ends of QEMU's FIFOs @base: .in to write, .out read-write (a
 * writer of our own: no EOF, QEMU's exit is seen by waitpid()). QEMU opens
 * its ends (read-write, .in first) as it starts; until it has, a write
 * end cannot be opened (ENXIO). Not blocking on that: QEMU may exit
 * before (a bad device, say). The FIFOs stay until vmm_stop(): QEMU may
 * not have opened .out yet when .in opens, and with .out gone it falls
 * back to opening @base itself and exits (seen once in 2026-12).
 */
static bool fifo_open(FIXTURE_DATA(vmm) *self, const char *base, int *to,
		      int *from)
{
	char in[80], out[80];
	int i;

	snprintf(in, sizeof(in), "%s.in", base);
	snprintf(out, sizeof(out), "%s.out", base);
	*from = -1;
	*to = -1;
	for (i = 0; i < 600 && *to < 0 && !vmm_exited(self, 0, false); i++) {
		*to = open(in, O_WRONLY | O_NONBLOCK);
		if (*to < 0)
			usleep(100000);
	}
	if (*to >= 0) {
		fcntl(*to, F_SETFL, 0);
		*from = open(out, O_RDWR);
	}
	return *from >= 0;
}

/* Remove the FIFOs of fifo_make(@base). */
static void fifo_remove(const char *base)
{
	char path[80];

	if (!base[0])
		return;
	snprintf(path, sizeof(path), "%s.in", base);
	unlink(path);
	snprintf(path, sizeof(path), "%s.out", base);
	unlink(path);
}

/*
 * The QEMU of an earlier case (its pid in PIDFILE) is gone, or made to
 * go: a case that its harness timed out is killed with its QEMU
 * (PR_SET_PDEATHSIG), which may still be releasing the devices when the
 * next case starts. Gone is no /proc entry, or a zombie (its files are
 * closed): orphans go to the guest's init, which does not reap them.
 */
static void earlier_vmm_gone(void)
{
	char path[64], stat[256];
	int i, pid = 0;
	FILE *f;

	f = fopen(PIDFILE, "r");
	if (!f)
		return;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; pid > 0 && i < 100; i++) {
		f = fopen(path, "r");
		if (!f)
			break;
		stat[0] = 0;
		if (!fgets(stat, sizeof(stat), f))
			stat[0] = 0;
		fclose(f);
		/* "PID (comm) S ...": only QEMU, and not a zombie. */
		if (!strstr(stat, "(qemu-system-x86") || strstr(stat, ") Z "))
			break;
		if (!i)
			ksft_print_msg("QEMU %d of an earlier case still runs: killed\n", pid);
		kill(pid, SIGKILL);
		usleep(100000);
	}
	unlink(PIDFILE);
}

/*
 * Stop QEMU: SIGTERM (it exits with 0 and prints nothing), SIGKILL after
 * 10 s; print its stderr if it printed anything. Returns whether it
 * exited with 0 on its own.
 */
static bool vmm_stop(FIXTURE_DATA(vmm) *self)
{
	struct stat st;

	if (self->pid > 0)
		kill(self->pid, SIGTERM);
	vmm_exited(self, 10, true);
	if (self->to >= 0)
		close(self->to);
	if (self->from >= 0)
		close(self->from);
	self->to = -1;
	self->from = -1;
	if (!stat(self->err, &st) && st.st_size)
		print_file("QEMU stderr", self->err);
	fifo_remove(self->qfifo);
	fifo_remove(self->mfifo);
	unlink(PIDFILE);
	return WIFEXITED(self->status) && !WEXITSTATUS(self->status);
}

/*
 * Start QEMU with the devices assigned, the backend's object if @iommufd,
 * and qtest on two FIFOs (/tmp/vmm-PID.qtest.in and .out); its stdout and
 * stderr go to self->err. With @mon its human monitor is on two more
 * FIFOs (/tmp/vmm-PID.mon.*), opened into @mon. Returns once QEMU has
 * answered a first command: its devices are realized.
 */
static bool vmm_start(FIXTURE_DATA(vmm) *self, bool iommufd, int *mon)
{
	char dev[3][96], qtest[72], mdev[80];
	char *qfifo = self->qfifo, *mfifo = self->mfifo;
	FILE *f;
	int i;

	earlier_vmm_gone();
	self->to = -1;
	self->from = -1;

	snprintf(self->err, sizeof(self->err), "/tmp/vmm-%d.err", getpid());
	snprintf(self->trace, sizeof(self->trace), "/tmp/vmm-%d.trace", getpid());
	snprintf(qfifo, sizeof(self->qfifo), "/tmp/vmm-%d.qtest", getpid());
	snprintf(mfifo, sizeof(self->mfifo), "/tmp/vmm-%d.mon", getpid());
	snprintf(qtest, sizeof(qtest), "pipe:%s", qfifo);
	snprintf(mdev, sizeof(mdev), "pipe:%s", mfifo);
	if (!fifo_make(qfifo) || (mon && !fifo_make(mfifo))) {
		ksft_print_msg("mkfifo in /tmp: %s\n", strerror(errno));
		return false;
	}
	for (i = 0; i < 3; i++) {
		static const char * const where[] = {
			"addr=4", "addr=5", "bus=vrp,addr=0" };
		const char *host[] = { ivshmem, edu, ivshmem2 };

		snprintf(dev[i], sizeof(dev[i]), "vfio-pci,host=%s,%s%s", host[i],
			 where[i], iommufd ? ",iommufd=ifd" : "");
	}
	self->status = -1;
	self->pid = fork();
	if (self->pid < 0)
		return false;
	self->started = true;
	if (!self->pid) {
		/*
		 * hlt.bin: the vCPU halts at the reset vector and never runs
		 * again; QEMU still serves qtest with -accel tcg (Debian has
		 * no qtest accelerator module). vapic=off: no option ROM.
		 */
		const char *argv[48] = {
			QEMU_BIN, "-M", "q35", "-accel", "tcg,tb-size=16",
			"-bios", QEMU_DIR "/hlt.bin", "-nodefaults",
			"-display", "none", "-m", "32M",
			"-global", "apic-common.vapic=off",
			"-trace", "vfio_pci_hot_reset_result",
			"-trace", "vfio_pci_reset*",
			"-trace", "iommufd_backend_map_dma",
			"-trace", "vfio_listener_region_add_no_dma_map",
			"-trace", "vfio_listener_region_add_ram",
			"-D", self->trace, "-qtest", qtest,
			"-qtest-log", "/dev/null",
			"-device", "pcie-root-port,id=vrp,chassis=1,addr=6",
		};
		int n = 0, fd;

		while (argv[n])
			n++;
		/* The backend's object before the devices that name it. */
		if (iommufd) {
			argv[n++] = "-object";
			argv[n++] = "iommufd,id=ifd";
		}
		for (i = 0; i < 3; i++) {
			argv[n++] = "-device";
			argv[n++] = dev[i];
		}
		if (mon) {
			argv[n++] = "-monitor";
			argv[n++] = mdev;
		}
		/*
		 * A case that its harness kills (a timeout) must not leave
		 * QEMU holding the devices for the next one.
		 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(self->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		fd = open("/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0)
			_exit(127);
		setenv("LD_LIBRARY_PATH", QEMU_DIR "/lib", 1);
		execv(QEMU_BIN, (char **)argv);
		_exit(127);
	}
	f = fopen(PIDFILE, "w");
	if (f) {
		fprintf(f, "%d\n", self->pid);
		fclose(f);
	}
	if (fifo_open(self, qfifo, &self->to, &self->from) &&
	    (!mon || fifo_open(self, mfifo, &mon[0], &mon[1])) &&
	    qt(self, "outl 0xcf8 0x80000000"))
		return true;
	ksft_print_msg("QEMU did not answer on %s\n", qfifo);
	vmm_stop(self);
	return false;
}

FIXTURE_SETUP(vmm)
{
	if (access(QEMU_BIN, X_OK))
		SKIP(return, "no QEMU in this guest (%s)", QEMU_BIN);
	/* A write to QEMU after it died fails the case, not the program. */
	signal(SIGPIPE, SIG_IGN);
	ASSERT_TRUE(vmm_start(self, variant->iommufd, NULL));
	/* The teardown does not run after a failed setup. */
	ASSERT_TRUE(setup_guest(self, BAR2_GPA)) {
		vmm_stop(self);
	}
}

/*
 * IOMMU_IOAS_MAP calls QEMU traced at the BARs' addresses (a mapping at
 * 0xc0000, the VGA window's ROM, is not one), and how many returned 0.
 */
static int bar_maps(const char *trace, int *ok)
{
	static const char * const iova[] = {
		"iova=0xc0000000 ", "iova=0xc0400000 ", "iova=0xc1000000 ",
		"iova=0xc2000000 " };
	int i, n = 0;

	*ok = 0;
	for (i = 0; i < 4; i++) {
		n += count_lines(trace, "iommufd_backend_map_dma ", iova[i], NULL);
		*ok += count_lines(trace, "iommufd_backend_map_dma ", iova[i],
				   " (0)\n", NULL);
	}
	return n;
}

/*
 * Every case: QEMU exits cleanly when asked and printed nothing (no
 * "vfio_container_dma_map(...) = -14" for a BAR, no "PCI peer-to-peer
 * transactions on BARs are not supported"); its listener was given
 * ivshmem's BAR 2 and left no region unmapped for its alignment; with
 * iommufd, every IOMMU_IOAS_MAP at a BAR's address returned 0. (A case
 * that fails its setup or times out fails without these.)
 */
FIXTURE_TEARDOWN(vmm)
{
	struct stat st;
	int maps, ok;

	if (!self->started)
		return;
	EXPECT_TRUE(vmm_stop(self)) {
		ksft_print_msg("QEMU: wait status 0x%x\n", self->status);
	}
	EXPECT_FALSE(!stat(self->err, &st) && st.st_size);
	EXPECT_GT(count_lines(self->trace, "region_add [ram] 0xc0000000 - ", NULL), 0);
	EXPECT_EQ(count_lines(self->trace, "vfio_listener_region_add_no_dma_map", NULL), 0);
	if (variant->iommufd) {
		maps = bar_maps(self->trace, &ok);
		EXPECT_GT(maps, 0);
		EXPECT_EQ(ok, maps);
	}
	if (_metadata->exit_code)
		print_file("QEMU trace", self->trace);
	unlink(self->err);
	unlink(self->trace);
}

/* edu DMAs into the BAR at the address QEMU mapped, and back out of it. */
TEST_F_TIMEOUT(vmm, p2p, 60)
{
	ASSERT_TRUE(lands(self, BAR2_GPA + 0x1000, 0x11, 0x1000));
	host_check("present", 0x1000, 0x11);
	/*
	 * The BAR as a DMA source, back into the VMM's RAM: edu's buffer
	 * and the RAM it goes to hold other bytes first.
	 */
	ASSERT_TRUE(fill(self, RAM_SRC, 0x99, 0));
	ASSERT_TRUE(fill(self, RAM_DST, 0x99, 0));
	ASSERT_TRUE(edu_dma(self, RAM_SRC, EDU_BUFFER, false));
	ASSERT_TRUE(edu_dma(self, BAR2_GPA + 0x1000, EDU_BUFFER, false));
	ASSERT_TRUE(edu_dma(self, EDU_BUFFER, RAM_DST, true));
	ASSERT_TRUE(holds(self, RAM_DST, 0x11, 0x1000));
	/* And into the second ivshmem, below the VMM's root port. */
	ASSERT_TRUE(lands(self, BAR2B_GPA + 0x1000, 0x12, 0x1000));
}

/*
 * The guest turns decode off and sizes the BAR as firmware does: QEMU
 * unmaps it, a DMA to its address does not land; decode on, it lands.
 */
TEST_F_TIMEOUT(vmm, decode_off, 60)
{
	uint32_t size;

	ASSERT_TRUE(fill(self, BAR2_GPA + 0x2000, 0x21, 0x2000));
	host_check("fill", 0x2000, 0x21);
	ASSERT_TRUE(decode(self, 0, SLOT_IVSHMEM, false));
	ASSERT_TRUE(cfg_write(self, 0, SLOT_IVSHMEM, 0x18, 0xffffffff));
	ASSERT_TRUE(cfg_read(self, 0, SLOT_IVSHMEM, 0x18, &size));
	ASSERT_EQ(size & ~0xfu, 0xffc00000u);	/* 4 MiB */
	ASSERT_TRUE(place_bar2(self, 0, SLOT_IVSHMEM, BAR2_GPA));
	ASSERT_TRUE(dma_to_bar(self, BAR2_GPA + 0x2000, 0x22, 0x2000));
	host_check("absent", 0x2000, 0x22);
	ASSERT_TRUE(decode(self, 0, SLOT_IVSHMEM, true));
	ASSERT_TRUE(holds(self, BAR2_GPA + 0x2000, 0x21, 0x2000));
	/* Elsewhere: the host checks the blocked range's bytes at the end. */
	ASSERT_TRUE(lands(self, BAR2_GPA + 0x2800, 0x23, 0x2800));
	host_check("present", 0x2800, 0x23);
}

/* The guest moves the BAR: DMA lands at the new address, not the old. */
TEST_F_TIMEOUT(vmm, bar_moved, 60)
{

	ASSERT_TRUE(fill(self, BAR2_GPA + 0x3000, 0x31, 0x3000));
	host_check("fill", 0x3000, 0x31);
	ASSERT_TRUE(decode(self, 0, SLOT_IVSHMEM, false));
	ASSERT_TRUE(place_bar2(self, 0, SLOT_IVSHMEM, BAR2_MOVED));
	ASSERT_TRUE(decode(self, 0, SLOT_IVSHMEM, true));
	ASSERT_TRUE(lands(self, BAR2_MOVED + 0x1000, 0x32, 0x1000));
	host_check("present", 0x1000, 0x32);
	/* The old address: nothing there any more. */
	ASSERT_TRUE(dma_to_bar(self, BAR2_GPA + 0x3000, 0x33, 0x3000));
	host_check("absent", 0x3000, 0x33);
	ASSERT_TRUE(holds(self, BAR2_MOVED + 0x3000, 0x31, 0x3000));
}

/* Wait until a reset has cleared the function's command register. */
static bool wait_reset(FIXTURE_DATA(vmm) *self, int bus, int slot)
{
	uint32_t cmd = 0;
	int i;

	for (i = 0; i < 200; i++) {
		if (!cfg_read(self, bus, slot, 0x04, &cmd))
			return false;
		if (!(cmd & 0xffff))
			return true;
		usleep(100000);
	}
	ksft_print_msg("the command register still 0x%x after the reset\n", cmd);
	return false;
}

/*
 * The VMM's system reset: QEMU hot resets the slot's dev_set
 * (VFIO_DEVICE_PCI_HOT_RESET, with group fds or with the iommufd devices)
 * and resets the second ivshmem (VFIO_DEVICE_RESET). Firmware sets the
 * BARs up again: P2P DMA lands in both.
 */
TEST_F_TIMEOUT(vmm, system_reset, 60)
{
	int hot, flr;

	hot = count_lines(self->trace, "hot reset: Success", NULL);
	flr = count_lines(self->trace, "vfio_pci_reset_flr", ivshmem2, NULL);
	ASSERT_TRUE(qt(self, "outb 0xcf9 0x6"));
	ASSERT_TRUE(wait_reset(self, 0, SLOT_IVSHMEM));
	ASSERT_GT(count_lines(self->trace, "hot reset: Success", NULL), hot);
	ASSERT_GT(count_lines(self->trace, "vfio_pci_reset_flr", ivshmem2, NULL), flr);
	ASSERT_TRUE(setup_guest(self, BAR2_GPA));
	ASSERT_TRUE(lands(self, BAR2_GPA + 0x4000, 0x41, 0x4000));
	host_check("present", 0x4000, 0x41);
	ASSERT_TRUE(lands(self, BAR2B_GPA + 0x4000, 0x42, 0x4000));
}

/*
 * The VMM's guest resets the bus below its root port (the secondary bus
 * reset bit of the bridge control register): QEMU resets the second
 * ivshmem with VFIO_DEVICE_RESET, which the test guest's kernel does as a
 * bus reset below its own root port. The guest sets the BAR up again.
 */
TEST_F_TIMEOUT(vmm, bus_reset, 60)
{
	uint32_t ctl;
	int flr, hot;

	ASSERT_TRUE(lands(self, BAR2B_GPA + 0x5000, 0x51, 0x5000));
	flr = count_lines(self->trace, "vfio_pci_reset_flr", ivshmem2, NULL);
	hot = count_lines(self->trace, "hot reset: Success", NULL);
	ASSERT_TRUE(cfg_read(self, 0, SLOT_PORT, 0x3c, &ctl));
	ASSERT_TRUE(cfg_write(self, 0, SLOT_PORT, 0x3c, ctl | 0x400000));
	ASSERT_TRUE(cfg_write(self, 0, SLOT_PORT, 0x3c, ctl & ~0x400000u));
	ASSERT_TRUE(wait_reset(self, 1, 0));
	ASSERT_GT(count_lines(self->trace, "vfio_pci_reset_flr", ivshmem2, NULL), flr);
	ASSERT_EQ(count_lines(self->trace, "hot reset: Success", NULL), hot);
	ASSERT_TRUE(place_bar2(self, 1, 0, BAR2B_GPA));
	ASSERT_TRUE(decode(self, 1, 0, true));
	ASSERT_TRUE(lands(self, BAR2B_GPA + 0x6000, 0x52, 0x6000));
	/* The slot's devices were not reset: their P2P still lands. */
	ASSERT_TRUE(lands(self, BAR2_GPA + 0x5000, 0x53, 0x5000));
	host_check("present", 0x5000, 0x53);
}

/*
 * Between this terminal and QEMU's monitor until QEMU exits; the end of
 * the input is "quit". A terminal is raw meanwhile: the monitor echoes
 * and edits the line itself.
 */
static void relay(FIXTURE_DATA(vmm) *self, const int *mon)
{
	struct pollfd p[2] = { { .fd = 0, .events = POLLIN },
			       { .fd = mon[1], .events = POLLIN } };
	struct termios saved, raw;
	bool tty = !tcgetattr(0, &saved);
	char buf[4096];
	ssize_t n;

	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
	}
	while (!vmm_exited(self, 0, false)) {
		if (poll(p, 2, 200) <= 0)
			continue;
		if (p[0].revents) {
			n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				p[0].fd = -1;
				n = sprintf(buf, "quit\n");
			}
			if (write(mon[0], buf, n) != n)
				break;
		}
		if (p[1].revents) {
			n = read(mon[1], buf, sizeof(buf));
			if (n <= 0 || write(1, buf, n) != n)
				break;
		}
	}
	if (tty)
		tcsetattr(0, TCSANOW, &saved);
}

/*
 * "--vmm iommufd|container": the VMM for a person to look at (make vmm):
 * QEMU started as the cases start it, its BARs placed, one P2P DMA done,
 * then its monitor on this terminal until "quit".
 */
static int interactive(const char *backend)
{
	FIXTURE_DATA(vmm) vmm = {}, *self = &vmm;
	bool landed;
	int mon[2];

	if (strcmp(backend, "iommufd") && strcmp(backend, "container")) {
		fprintf(stderr, "--vmm iommufd or --vmm container\n");
		return KSFT_FAIL;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!vmm_start(self, !strcmp(backend, "iommufd"), mon))
		return KSFT_FAIL;
	if (!setup_guest(self, BAR2_GPA)) {
		vmm_stop(self);
		return KSFT_FAIL;
	}
	landed = lands(self, BAR2_GPA + 0x1000, 0x11, 0x1000);
	printf("QEMU (%s backend, pid %d): ivshmem %s at 00:04.0 (BAR 2 at 0x%llx),\n"
	       "edu %s at 00:05.0 (BAR 0 at 0x%llx), ivshmem %s at 01:00.0 below\n"
	       "its root port 00:06.0 (BAR 2 at 0x%llx). edu DMAed 256 bytes into\n"
	       "ivshmem's BAR 2 at 0x%llx: %s. The vCPU is halted. Monitor commands:\n"
	       "  info pci, info mtree -f                     where QEMU put the BARs\n"
	       "  xp /8xb 0x%llx                          the bytes edu wrote\n"
	       "  o /l 0xcf8 0x80002004, o /l 0xcfc 0x4      ivshmem's decode off (0x6: on)\n"
	       "  system_reset                                a hot reset of the slot\n"
	       "  quit                                        back to the shell\n"
	       "QEMU's stderr: %s, its trace: %s\n",
	       backend, self->pid, ivshmem, BAR2_GPA, edu, EDU_GPA, ivshmem2,
	       BAR2B_GPA, BAR2_GPA + 0x1000, landed ? "landed" : "did NOT land",
	       BAR2_GPA + 0x1000, self->err, self->trace);
	fflush(stdout);
	relay(self, mon);
	return vmm_stop(self) ? 0 : KSFT_FAIL;
}

int main(int argc, char *argv[])
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s [harness options] IVSHMEM EDU IVSHMEM2\n"
			"       %s --vmm iommufd|container IVSHMEM EDU IVSHMEM2\n",
			argv[0], argv[0]);
		return KSFT_FAIL;
	}
	ivshmem = argv[argc - 3];
	edu = argv[argc - 2];
	ivshmem2 = argv[argc - 1];
	if (argc == 6 && !strcmp(argv[1], "--vmm"))
		return interactive(argv[2]);
	return test_harness_run(argc - 3, argv);
}
