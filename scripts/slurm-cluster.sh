#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, from Debian's packages: munge, the controller
# (slurmctld) and one node daemon (slurmd), configured without cgroups or accounting, so it runs
# in a container as well as on a workstation. For trying `harness sweep --emit slurm --submit`
# and for the cluster tests in `.ci/run`.
#
#   scripts/slurm-cluster.sh start    install what is missing (apt, as root), write the config,
#                                     start the daemons, wait for the node; prints the
#                                     `export SLURM_CONF=...` line the client commands need
#   scripts/slurm-cluster.sh stop     stop the daemons started by `start`
#   scripts/slurm-cluster.sh status   sinfo
#
# State (config, spool, logs) lives in $LOTTERY_SLURM_DIR (default /tmp/lottery-slurm).
set -euo pipefail

state="${LOTTERY_SLURM_DIR:-/tmp/lottery-slurm}"
conf="$state/slurm.conf"

install_missing() {
  local need=()
  command -v munged >/dev/null 2>&1 || need+=(munge)
  command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
  command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
  command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
  [ ${#need[@]} -eq 0 ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need[*]} with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  else
    echo "error: missing ${need[*]}; install them (sudo apt-get install ${need[*]}) and rerun" >&2
    exit 1
  fi
}

write_config() {
  local host cpus mem user
  host=$(hostname -s 2>/dev/null || cut -d. -f1 /proc/sys/kernel/hostname)
  cpus=$(nproc)
  # Leave a quarter of the memory to the system; Slurm refuses a node claiming more than it has.
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4 ))
  user=$(id -un)
  mkdir -p "$state/spool/ctld" "$state/spool/d" "$state/log"
  cat > "$conf" <<CONF
ClusterName=lottery
SlurmctldHost=$host
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
# No cgroups: processes are tracked through /proc and tasks are not bound to cores.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
# Jobs share the node by cores and memory, as on a real cluster.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SchedulerType=sched/backfill
# Preemption and requeue as users meet them. A requeued job waits out its credential's lifetime
# before it starts again (120 s by default); 10 s keeps the requeue test short.
JobRequeue=1
AuthInfo=cred_expire=10
MinJobAge=300
KillWait=30
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  install_missing
  write_config
  # munged authenticates the daemons and the client commands to each other.
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge
    chown munge:munge /run/munge 2>/dev/null || true
    if [ "$(id -u)" = 0 ]; then
      runuser -u munge -- /usr/sbin/munged
    else
      /usr/sbin/munged
    fi
  fi
  stop_daemons quiet
  slurmctld -f "$conf"
  slurmd -f "$conf"
  export SLURM_CONF="$conf"
  for _ in $(seq 1 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
      echo "export SLURM_CONF=$conf"
      return 0
    fi
    sleep 1
  done
  echo "error: the Slurm node did not come up in 60 s; see $state/log/slurmctld.log and $state/log/slurmd.log" >&2
  sinfo -N -l >&2 || true
  exit 1
}

stop_daemons() {
  for daemon in slurmd slurmctld; do
    local pidfile="$state/$daemon.pid" pid
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      [ "${1:-}" = quiet ] || echo "stopped $daemon" >&2
    fi
    rm -f "$pidfile"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop_daemons ;;
  status) SLURM_CONF="$conf" sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
