#!/usr/bin/env bash
# A throwaway single-node Ceph cluster answering S3 (RADOS Gateway), for the S3 driver tests.
#   1 mon + 1 memstore OSD + radosgw (beast), auth none, one S3 user.
#
# Usage: test/services/ceph-rgw.sh start DIR   (prints the endpoint; DIR is wiped first)
#        test/services/ceph-rgw.sh stop DIR    (kills what start left in DIR/run, then removes DIR; KEEP=1 keeps it)
# Needs (Debian 12): apt-get install --no-install-recommends radosgw ceph-mon ceph-osd
#
# Ports: mon 7001 (v2) and 7002 (v1), daemons bind in 7010-7049, S3 on 127.0.0.1:7050 (override with
# CEPH_RGW_PORT). Credentials: access key testaccesskey, secret testsecretkey123; path-style addressing.
#
# Differences from a default cluster that the tests rely on:
# - rgw_multipart_min_part_size = 64 KiB (S3 says 5 MiB) so that uploads of more than 1,000 parts stay small;
# - deleted objects are garbage collected within seconds, so memstore memory does not pile up over a run.
set -euo pipefail

cmd=${1:-}
D=${2:-}
if [ -z "$cmd" ] || [ -z "$D" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
case "$D" in /*) ;; *) D="$PWD/$D" ;; esac

MON_V2=${CEPH_MON_PORT:-7001}
MON_V1=$((MON_V2 + 1))
RGW_PORT=${CEPH_RGW_PORT:-7050}
ACCESS=testaccesskey
SECRET=testsecretkey123
MIN_PART=${CEPH_RGW_MIN_PART_SIZE:-65536}

alive () { local st; st=$(ps -o stat= -p "$1" 2>/dev/null || true); [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }

stop () {
  # SIGKILL on purpose: a memstore OSD spends ~10 s writing its RAM to disk on SIGTERM.
  # Only the pids this script recorded, never processes found by name.
  local f p i
  for f in "$D"/run/client.rgw.a.pid "$D"/run/osd.*.pid "$D"/run/mon.a.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    [ -n "$p" ] || continue
    kill -9 "$p" 2>/dev/null || true
    for i in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
  done
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$D"; fi
}

T0=$(date +%s%N)
say () { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '[ceph-rgw %3d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*"; }
fail () {
  echo "ceph-rgw: $*" >&2
  for f in "$D"/log/*.log "$D"/log/*.err; do [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 20 "$f" >&2; }; done
  KEEP=1 stop
  exit 1
}

start () {
  for bin in monmaptool ceph-mon ceph-osd radosgw radosgw-admin ceph curl; do
    command -v "$bin" >/dev/null 2>&1 || { echo "ceph-rgw: $bin not found; apt-get install --no-install-recommends radosgw ceph-mon ceph-osd" >&2; exit 1; }
  done
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$RGW_PORT/"; then
    echo "ceph-rgw: something already answers on 127.0.0.1:$RGW_PORT; stop it first" >&2
    exit 1
  fi

  # A previous run with the same DIR may still be alive.
  [ -d "$D/run" ] && stop
  rm -rf "$D"
  mkdir -p "$D"/{mon,osd,run,log,rgw}
  local fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$D/ceph.conf" <<CONF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
public_network = 127.0.0.0/8
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# radosgw is a client-type daemon and defaults to 'secure' mode, which auth=none cannot do
ms_mon_client_mode = crc
ms_client_mode = crc
ms_bind_port_min = $((MON_V2 + 9))
ms_bind_port_max = $((RGW_PORT - 1))
run_dir = $D/run
admin_socket = $D/run/\$name.asok
log_file = $D/log/\$name.log
pid_file = $D/run/\$name.pid
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_allow_pool_delete = true
mon_max_pg_per_osd = 1000
# a throwaway cluster: commit quickly
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
mon_osd_prime_pg_temp = false
osd_pool_default_pg_autoscale_mode = off
mon_warn_on_insecure_global_id_reclaim_allowed = false
[mon]
mon_data = $D/mon/\$cluster-\$id
[osd]
osd_data = $D/osd/\$cluster-\$id
osd_objectstore = memstore
memstore_device_bytes = 2147483648
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
osd_mon_report_interval = 1
osd_beacon_report_interval = 5
[client.rgw.a]
rgw_data = $D/rgw
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw_enable_usage_log = false
# tests upload more than 1,000 parts: let them be small
rgw_multipart_min_part_size = $MIN_PART
# reclaim deleted objects quickly (memstore keeps everything in RAM)
rgw_gc_obj_min_wait = 5
rgw_gc_processor_period = 5
rgw_gc_processor_max_time = 5
CONF
  local C="-c $D/ceph.conf"

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" "$D/monmap" >/dev/null
  ceph-mon $C --mkfs -i a --monmap "$D/monmap" 2>"$D/log/mon-mkfs.err" || fail "ceph-mon --mkfs failed"
  setsid ceph-mon $C -i a </dev/null >/dev/null 2>"$D/log/mon.err" || fail "ceph-mon did not start"
  timeout 30 ceph $C mon stat >/dev/null 2>&1 || fail "the mon did not answer within 30 s"
  say "mon up"

  local uuid id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(timeout 30 ceph $C osd new "$uuid") || fail "ceph osd new failed"
  mkdir -p "$D/osd/ceph-$id"
  timeout 120 ceph-osd $C -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>"$D/log/osd-mkfs.err" || fail "ceph-osd --mkfs failed"
  setsid ceph-osd $C -i "$id" </dev/null >/dev/null 2>"$D/log/osd.err" || fail "ceph-osd did not start"
  local i up=0
  for i in $(seq 1 120); do
    if timeout 10 ceph $C osd dump 2>/dev/null | grep -q "^osd.$id up"; then up=1; break; fi
    sleep 0.5
  done
  [ "$up" = 1 ] || fail "osd.$id not up within 60 s"
  say "osd.$id up"

  setsid radosgw $C -n client.rgw.a </dev/null >/dev/null 2>"$D/log/rgw.err" || fail "radosgw did not start"
  up=0
  for i in $(seq 1 240); do
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$RGW_PORT/"; then up=1; break; fi
    sleep 0.25
  done
  [ "$up" = 1 ] || fail "radosgw not answering on 127.0.0.1:$RGW_PORT within 60 s"
  say "radosgw answering"
  timeout 60 radosgw-admin $C -n client.rgw.a --admin-socket="" user create --uid=test --display-name=test \
    --access-key="$ACCESS" --secret-key="$SECRET" >/dev/null 2>"$D/log/user-create.err" || fail "radosgw-admin user create failed"
  say "S3 ready at http://127.0.0.1:$RGW_PORT (access key $ACCESS, pids mon=$(cat "$D/run/mon.a.pid") osd=$(cat "$D/run/osd.$id.pid") rgw=$(cat "$D/run/client.rgw.a.pid"))"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
