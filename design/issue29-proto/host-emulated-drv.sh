#!/bin/busybox sh
# qtest driver experiment (busybox ash, FIFOs)
Q=$1; shift
rm -f in out; mkfifo in out
"$Q" "$@" -qtest stdio -qtest-log /dev/null <in >out 2>qemu.err &
QP=$!
exec 3>in 4<out
cmd() { echo "$*" >&3; read -r r <&4; echo "$r"; }
cfg() { # bus dev fn off
  echo $(( 0x80000000 | ($1<<16) | ($2<<11) | ($3<<8) | ($4 & 0xfc) )); }
cfgr() { cmd outl 0xcf8 $(cfg $1 $2 $3 $4) >/dev/null; cmd inl 0xcfc; }
cfgw() { cmd outl 0xcf8 $(cfg $1 $2 $3 $4) >/dev/null; cmd outl 0xcfc $5; }
t0=$(date +%s.%N)
echo "ivshmem id: $(cfgr 0 4 0 0)  edu id: $(cfgr 0 5 0 0)"
cfgw 0 4 0 0x18 0xffffffff; echo "ivshmem BAR2 size probe: $(cfgr 0 4 0 0x18)"
cfgw 0 4 0 0x18 0xc000000c; cfgw 0 4 0 0x1c 0
cfgw 0 5 0 0x10 0xc1000000
cfgw 0 4 0 0x04 0x6; cfgw 0 5 0 0x04 0x6
echo "edu id reg: $(cmd readl 0xc1000000)"
# pattern into RAM
pat=$(i=0; while [ $i -lt 256 ]; do printf '%02x' $(( (i*7+3) & 255 )); i=$((i+1)); done)
cmd write 0x100000 256 0x$pat
cmd writeq 0xc1000080 0x100000; cmd writeq 0xc1000088 0x40000; cmd writeq 0xc1000090 256; cmd writeq 0xc1000098 1
n=0; while :; do v=$(cmd readl 0xc1000098); [ $(( ${v#OK } & 1 )) -eq 0 ] && break; n=$((n+1)); sleep 0.02; done; echo "dma1 done after $n polls"
cmd writeq 0xc1000080 0x40000; cmd writeq 0xc1000088 0xc0001000; cmd writeq 0xc1000090 256; cmd writeq 0xc1000098 3
n=0; while :; do v=$(cmd readl 0xc1000098); [ $(( ${v#OK } & 1 )) -eq 0 ] && break; n=$((n+1)); sleep 0.02; done; echo "dma2 done after $n polls"
got=$(cmd read 0xc0001000 256)
[ "$got" = "OK 0x$pat" ] && echo "BYTES MATCH" || echo "MISMATCH: $got"
# system reset through RST_CNT
cmd outb 0xcf9 0x6
echo "after reset: ivshmem BAR2 $(cfgr 0 4 0 0x18) cmd $(cfgr 0 4 0 0x04)"
t1=$(date +%s.%N); echo "elapsed $(echo "$t1 - $t0" | bc 2>/dev/null || echo "$t0 $t1")"
exec 3>&-; wait $QP; echo "qemu rc $?"; cat qemu.err
