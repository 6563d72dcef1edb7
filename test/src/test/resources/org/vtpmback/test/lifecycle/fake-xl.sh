#!/bin/sh
# A stand-in for xl 4.17 in tests (xl is not installed here). It logs each call's arguments to
# calls.log next to itself and prints what real xl prints for the commands vtpmback runs.
# Its world: "domains" (lines "<domid> <name>") are listed once "restore" has run (or at once if
# "listed" exists); restore-rc / unpause-rc hold exit codes to fail with.
dir=$(dirname "$0")
echo "$*" >> "$dir/calls.log"
case "$1" in
  list)
    printf 'Name                                        ID   Mem VCPUs\tState\tTime(s)\n'
    printf 'Domain-0                                     0  1024     2     r-----      12.3\n'
    if [ -e "$dir/restored" ] || [ -e "$dir/listed" ]; then
      while read -r id name; do
        printf '%-40s %5s   512     1     --p---       0.0\n' "$name" "$id"
      done < "$dir/domains"
    fi
    ;;
  restore)
    for last; do :; done
    echo "Loading new save file $last (new xl fmt info 0x3/0x0/1402)" >&2
    echo " Savefile contains xl domain config in JSON format" >&2
    if [ -s "$dir/restore-rc" ]; then
      echo "libxl: error: libxl_stream_read.c:852:libxl__xc_domain_restore_done: restoring domain: Invalid argument" >&2
      exit "$(cat "$dir/restore-rc")"
    fi
    touch "$dir/restored"
    ;;
  unpause)
    if [ -s "$dir/unpause-rc" ]; then
      echo "libxl: error: libxl_domain.c:628:libxl_domain_unpause: Domain $2:Unpausing domain: No such process" >&2
      exit "$(cat "$dir/unpause-rc")"
    fi
    ;;
  domid)
    id=$(awk -v n="$2" '$2 == n { print $1 }' "$dir/domains")
    if [ -z "$id" ]; then
      echo "Can't get domid of domain name '$2', maybe this domain does not exist." >&2
      exit 1
    fi
    echo "$id"
    ;;
  *)
    echo "fake xl: unexpected command: $*" >&2
    exit 2
    ;;
esac
