#!/bin/sh
# E2E_BACKEND=proof: a stand-in for vtpmback used only to develop the harness
# (not the product, not the default).  Polls backend/vtpm; for each new device
# starts one swtpm (TPM 1.2 or 2.0 from tpm-family.<uuid> in the config) and
# mini-vtpmback.c, which maps the grant, binds the event channel and forwards
# commands.  On Closing (libxl's removal) it stops both and writes Closed.
# It does not re-attach after a restart, save/restore or keep per-uuid state
# the way the product must.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
CONF=$1
B=/local/domain/0/backend/vtpm
W=/run/proof; mkdir -p $W
up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "proof $(up) $*"; }
family() { f=$(sed -n "s/^tpm-family\.$1 *= *//p" $CONF); echo ${f:-$(sed -n 's/^default-tpm-family *= *//p' $CONF)}; }
say "serving backend domain 0 (proof backend)"
trap 'say stopping; for p in $W/*.pids; do [ -f "$p" ] && kill $(cat $p) 2>/dev/null; done; exit 0' TERM INT
while :; do
  for d in $(xenstore-list $B 2>/dev/null); do
    for i in $(xenstore-list $B/$d 2>/dev/null); do
      b=$B/$d/$i; k=$d-$i
      st=$(xenstore-read $b/state 2>/dev/null)
      if [ "$st" = 1 ] && [ ! -e $W/$k.pids ]; then
        uuid=$(xenstore-read $b/uuid 2>/dev/null); fam=$(family $uuid)
        [ "$fam" = 2.0 ] && flag=--tpm2 || flag=
        mkdir -p $W/$k; rm -f $W/$k/sock
        swtpm socket $flag --tpmstate dir=$W/$k --server type=unixio,path=$W/$k/sock \
          --flags not-need-init,startup-clear --log file=$W/$k/swtpm.log,level=1 &
        sp=$!
        j=0; while [ ! -S $W/$k/sock ] && [ $j -lt 50 ]; do sleep 0.1; j=$((j+1)); done
        /e2e/proof/mini-vtpmback $d $i $W/$k/sock &
        echo "$sp $!" > $W/$k.pids
        say "$d/$i uuid $uuid: swtpm TPM $fam pid $sp, mini-vtpmback pid $!"
      elif [ "$st" = 5 ] && [ -e $W/$k.pids ]; then
        kill $(cat $W/$k.pids) 2>/dev/null; rm -f $W/$k.pids
        xenstore-write $b/state 6
        say "$d/$i: Closing -> released, backend state Closed (6)"
      fi
    done
  done
  for p in $W/*.pids; do
    [ -f "$p" ] || continue
    k=$(basename $p .pids); d=${k%-*}; i=${k#*-}
    if ! xenstore-read $B/$d/$i/state >/dev/null 2>&1; then
      kill $(cat $p) 2>/dev/null; rm -f $p; say "$d/$i: device gone, released"
    fi
  done
  sleep 0.3
done
