# Thin wrapper: every target is a script in ci/.
.PHONY: help run shell vmm check mutate bench kunit htmldocs base apply export overlay-check build selftests clean

help:
	@echo "make run            build the patched kernel and show the feature in QEMU"
	@echo "make shell          a shell in the test guest (devices bound, selftests in PATH)"
	@echo "make vmm            QEMU 10 in the test guest as the VMM of its devices, its monitor on the terminal"
	@echo "make check          every check of every patch; ends with 'N passed, N failed'"
	@echo "make mutate         break the series' kernel code on purpose (ci/mutations): every break must fail a test"
	@echo "make bench          the series against the base in guest instructions, and type1"
	@echo "make kunit          the dma-buf KUnit suites with kunit.py, on the kernel of 'make build'"
	@echo "make htmldocs       the pages the series touches, built at the base and the tip"
	@echo "make base|apply|export|overlay-check|build|selftests   single steps (see ci/)"

run:
	ci/run
shell:
	ci/shell
vmm:
	ci/shell -t vmm
check:
	ci/check
mutate:
	ci/mutate
bench:
	ci/bench
kunit:
	ci/kunit
htmldocs:
	ci/htmldocs
base:
	ci/base
apply:
	ci/apply
export:
	ci/export
overlay-check:
	ci/overlay-check
build:
	ci/build
selftests:
	ci/selftests
clean:
	rm -rf build
