#!/bin/sh
# prototype qtest driver for QEMU 10 as a VMM inside the test guest
# usage: vmm.sh MODE (iommufd|container|subpage)
mode=$1
Q=/opt/q/qemu-system-x86_64
up() { cut -d' ' -f1 /proc/uptime; }
be=""; dv=""
case $mode in iommufd|subpage) be="-object iommufd,id=ifd"; dv=",iommufd=ifd" ;; esac
rm -f /tmp/in /tmp/out; mkfifo /tmp/in /tmp/out
t0=$(up)
LD_LIBRARY_PATH=/opt/q/lib $Q -bios /opt/q/hlt.bin -M q35 -accel tcg,tb-size=16 -nodefaults -display none -m 32M $be \
  -device vfio-pci,host=$IVSHMEM,addr=4$dv -device vfio-pci,host=$EDU,addr=5$dv \
  -trace vfio_listener_region_add_ram -trace vfio_listener_region_del -trace 'iommufd_backend_*map_dma*' \
  -trace vfio_pci_hot_reset_result -trace 'vfio_pci_reset*' -trace vfio_reset_handler -trace vfio_listener_region_add_no_dma_map \
  -D /tmp/trace-$mode.log -qtest stdio -qtest-log /dev/null </tmp/in >/tmp/out 2>/tmp/err-$mode &
QP=$!
exec 3>/tmp/in 4</tmp/out
cmd() { echo "$*" >&3; read -r r <&4; }
cfga() { echo $(( 0x80000000 | ($1<<11) | $2 )); }
cfgr() { cmd outl 0xcf8 $(cfga $1 $2); cmd inl 0xcfc; }
cfgw() { cmd outl 0xcf8 $(cfga $1 $2); cmd outl 0xcfc $3; }
cmd outl 0xcf8 0x80000000
t1=$(up); echo "PROTO $mode qemu-start $t0 -> $t1"
EDUB=0xc1000000
pat() { awk -v t=$1 'BEGIN{for(i=0;i<256;i++) printf "%02x", (i*7+t)%256}'; }
edu_wait() { n=0; while :; do cmd readl $((EDUB+0x98)); [ $(( ${r#OK } & 1 )) -eq 0 ] && return 0; n=$((n+1)); [ $n -gt 200 ] && return 1; sleep 0.05; done; }
# dma TAG GPA: RAM -> edu -> GPA
dma() { p=$(pat $1); cmd write 0x100000 256 0x$p
  cmd writeq $((EDUB+0x80)) 0x100000; cmd writeq $((EDUB+0x88)) 0x40000; cmd writeq $((EDUB+0x90)) 256; cmd writeq $((EDUB+0x98)) 1; edu_wait || echo "PROTO $mode edu-timeout1"
  cmd writeq $((EDUB+0x80)) 0x40000; cmd writeq $((EDUB+0x88)) $2; cmd writeq $((EDUB+0x90)) 256; cmd writeq $((EDUB+0x98)) 3; edu_wait || echo "PROTO $mode edu-timeout2"; }
landed() { cmd read $2 256; [ "$r" = "OK 0x$(pat $1)" ]; }
check() { # name expect(yes|no) tag readgpa
  if landed $3 $4; then got=yes; else got=no; fi
  [ $got = $2 ] && res=PASS || res=FAIL
  echo "PROTO $mode $1 expect=$2 got=$got $res t=$(up)"; }
setup() { # ivshmem BAR2, edu BAR0, decode on (ivshmem first)
  cfgw 4 0x18 $1; cfgw 4 0x1c 0; cfgw 5 0x10 $EDUB
  [ $mode = subpage ] && cfgw 4 0x10 0xc2000000
  cfgw 4 0x04 0x6; cfgw 5 0x04 0x6; }
B=0xc0000000
setup $B
cfgr 4 0x18; echo "PROTO $mode bar2=$r"
dma 11 $((B+0x1000)); check initial yes 11 $((B+0x1000))
cfgw 4 0x04 0x4; dma 12 $((B+0x2000)); cfgw 4 0x04 0x6; check decode-off-dma no 12 $((B+0x2000))
dma 13 $((B+0x2000)); check decode-on-again yes 13 $((B+0x2000))
cfgw 4 0x04 0x4; cfgw 4 0x18 0xc0400000; cfgw 4 0x04 0x6; N=0xc0400000
dma 14 $((N+0x1000)); check moved-new yes 14 $((N+0x1000))
dma 15 $((B+0x3000)); check moved-old no 15 $((N+0x3000))
cmd outb 0xcf9 0x6
i=0; while :; do cfgr 4 0x04; [ "$r" = "OK 0x00000000" ] && break; i=$((i+1)); [ $i -gt 50 ] && break; sleep 0.1; done; echo "PROTO $mode after-reset cmd=$r"
setup $B
dma 16 $((B+0x1000)); check after-system-reset yes 16 $((B+0x1000))
t2=$(up); echo "PROTO $mode events-done $t2"
kill -TERM $QP; wait $QP; echo "PROTO $mode qemu-exit $?"
exec 3>&- 4<&-
echo "PROTO-STDERR-BEGIN $mode"; cat /tmp/err-$mode; echo "PROTO-STDERR-END $mode"
echo "PROTO-TRACE-BEGIN $mode"; sed 's/^[0-9]*@[0-9.]*://' /tmp/trace-$mode.log | head -80; echo "PROTO-TRACE-END $mode"
