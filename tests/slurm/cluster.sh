#!/usr/bin/env bash
# A one-node SLURM cluster on this machine for the tests: munge, slurmctld and slurmd started by hand (no systemd),
# no accounting (jobs are polled with squeue), and a fake `gpu` GRES so that GPU rules schedule.
# The config goes to SLURM's default place, /etc/slurm/slurm.conf, and nowhere else (the SLURM executor's job steps
# drop SLURM_CONF, so srun inside a job finds only that): every client, the tests' included, reads it from there
# (`conf` prints the path). A config there that this script did not write is never touched. State, pid files and
# logs: $WBRAD_SLURM_DIR (/tmp/wbrad-slurm).
#
#   tests/slurm/cluster.sh install   apt-get install slurm-wlm munge (root; idempotent)
#   tests/slurm/cluster.sh start     write the config and start the daemons (idempotent)
#   tests/slurm/cluster.sh status    exit 0 if the cluster is up and its node takes jobs, else say why (within ~10 s)
#   tests/slurm/cluster.sh stop      stop only the daemons this script started (their pid files)
#   tests/slurm/cluster.sh conf      print the config's path
set -euo pipefail

DIR=${WBRAD_SLURM_DIR:-/tmp/wbrad-slurm}
CONF=/etc/slurm/slurm.conf
export SLURM_CONF=$CONF  # a SLURM_CONF from the caller's environment (another cluster's) must not redirect us
MARK="# written by wbrad tests/slurm/cluster.sh"
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

install() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q slurm-wlm munge >/dev/null \
        || { timeout 300 apt-get update -q >/dev/null && \
             DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q slurm-wlm munge >/dev/null; }
}

write_config() {
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$(dirname "$CONF")"
    if [[ -f "$CONF" ]] && ! grep -qx "$MARK" "$CONF"; then
        echo "$CONF exists and is not ours: use that cluster, or move it away" >&2
        return 1
    fi
    cat >"$CONF" <<EOF
$MARK
ClusterName=wbrad
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${WBRAD_SLURM_PORT:-6917}
SlurmdPort=$(( ${WBRAD_SLURM_PORT:-6917} + 1 ))
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=300
GresTypes=gpu
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=wbrad Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
    # A GPU without a device file: SLURM schedules it; nothing on this machine uses it.
    printf '%s\nNodeName=%s Name=gpu Count=1 File=/dev/null\n' "$MARK" "$HOST" >"$(dirname "$CONF")/gres.conf"
}

running() { [[ -f "$DIR/$1.pid" ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

start() {
    install
    write_config
    if ! pgrep -x munged >/dev/null; then
        mkdir -p /run/munge && chown munge: /run/munge 2>/dev/null || true
        if [[ $(id -u) == 0 ]]; then runuser -u munge -- munged; else munged; fi
        touch "$DIR/munged.ours"
    fi
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done  # daemons need munge at start
    running slurmctld || slurmctld -c
    running slurmd || slurmd
    for _ in $(seq 50); do
        timeout -k 1 5 sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)' && return 0
        scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
        sleep 0.2
    done
    echo "SLURM did not come up; logs in $DIR/log" >&2
    sinfo >&2 || true
    return 1
}

status() {
    command -v sinfo >/dev/null || { echo "SLURM is not installed (as root: $0 install; $0 start)"; return 1; }
    [[ -f "$CONF" ]] || { echo "no $CONF: the cluster was never started ($0 start)"; return 1; }
    grep -qx "$MARK" "$CONF" || { echo "$CONF was not written by $0: not the test cluster"; return 1; }
    running slurmctld || { echo "slurmctld is not running, the cluster is stopped ($0 start)"; return 1; }
    local state
    if ! state=$(timeout -k 2 10 sinfo -h -o %t 2>&1); then
        echo "sinfo failed or did not answer within 10 s: ${state:-no output} (logs in $DIR/log)"
        return 1
    fi
    grep -qE '^(idle|mix|alloc)' <<<"$state" || { echo "the node takes no jobs (sinfo: $state; logs in $DIR/log)"; return 1; }
}

stop() {
    for daemon in slurmd slurmctld; do
        running "$daemon" && kill "$(cat "$DIR/$daemon.pid")" || true
    done
    if [[ -f "$DIR/munged.ours" ]]; then
        pid=$(pgrep -x munged || true)
        [[ -n "$pid" ]] && kill "$pid"
        rm -f "$DIR/munged.ours"
    fi
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    conf) echo "$CONF" ;;
    *) echo "usage: $0 install|start|status|stop|conf" >&2; exit 2 ;;
esac
