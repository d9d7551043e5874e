#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing `prefixlab reproduce --slurm`:
#   scripts/slurm-local.sh start    starts munged, slurmctld and slurmd in the background and prints
#                                   the line to export (SLURM_CONF=...) for sbatch, squeue and scontrol
#   scripts/slurm-local.sh stop     stops them by their pids and removes the state folder
#   scripts/slurm-local.sh env      prints the export line of a running cluster
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) and root (slurmd runs jobs as
# their users). Everything lives in one folder, $SLURM_LOCAL_DIR (default /tmp/prefixlab-slurm): the
# munge key and socket, slurm.conf, state, spool and logs. No cgroups: processes are tracked through
# /proc (proctrack/linuxproc) and tasks are not bound (task/none), so it also runs in a container.
set -euo pipefail
dir="${SLURM_LOCAL_DIR:-/tmp/prefixlab-slurm}"
node="$(hostname -s)"

fail() { echo "slurm-local: $*" >&2; exit 2; }

stop_pid() { # stop the daemon whose pid is in $1, waiting until it is gone
  local file="$1" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

case "${1:-}" in
start)
  for tool in munged slurmctld slurmd sbatch; do
    command -v "$tool" >/dev/null || fail "$tool is missing: apt-get install slurm-wlm munge"
  done
  [ "$(id -u)" = 0 ] || fail "start needs root (slurmd runs each job as its user)"
  [ ! -f "$dir/slurmctld.pid" ] || fail "a cluster is already running in $dir (scripts/slurm-local.sh stop first)"
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  chmod 700 "$dir" "$dir/munge"
  [ -f "$dir/munge/munge.key" ] || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$dir/munge/munge.key"
  munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" --force
  cat >"$dir/slurm.conf" <<EOF
ClusterName=prefixlab-local
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits this long before it starts again (default 120 s).
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
SlurmctldPort=${SLURM_LOCAL_PORT:-6817}
SlurmdPort=$(( ${SLURM_LOCAL_PORT:-6817} + 1 ))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Schedule often: the test's jobs are seconds long, and each level waits for the one before it.
SchedulerParameters=sched_interval=2,sched_min_interval=100000,defer_batch
MinJobAge=600
NodeName=$node CPUs=2 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  # Foreground daemons (-D) put in the background here, so their pids are ours to stop.
  nohup slurmctld -D -i -f "$SLURM_CONF" >>"$dir/slurmctld.out" 2>&1 &
  echo $! >"$dir/slurmctld.pid"
  nohup slurmd -D -f "$SLURM_CONF" >>"$dir/slurmd.out" 2>&1 &
  echo $! >"$dir/slurmd.pid"
  for _ in $(seq 100); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "export SLURM_CONF=$SLURM_CONF"
      exit 0
    fi
    sleep 0.2
  done
  echo "slurm-local: the node did not come up in 20 s; logs:" >&2
  tail -n 5 "$dir/slurmctld.log" "$dir/slurmd.log" "$dir/slurmctld.out" "$dir/slurmd.out" >&2 2>/dev/null || true
  "$0" stop
  exit 1
  ;;
stop)
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munge/munged.pid"
  rm -rf "$dir"
  ;;
env)
  [ -f "$dir/slurm.conf" ] || fail "no cluster in $dir (scripts/slurm-local.sh start)"
  echo "export SLURM_CONF=$dir/slurm.conf"
  ;;
*)
  echo "usage: scripts/slurm-local.sh start|stop|env" >&2
  exit 2
  ;;
esac
