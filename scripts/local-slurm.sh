#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the cluster tests and for trying
# `lossbench sweep --launcher slurm` without a real cluster.
#
#   eval "$(scripts/local-slurm.sh start --env)"   # start it and set SLURM_CONF in this shell
#   scripts/local-slurm.sh start    # prints `export SLURM_CONF=...` (stdout) and how to eval it (stderr)
#   scripts/local-slurm.sh status   # exit 0 when the cluster runs, 3 when it does not
#   scripts/local-slurm.sh stop     # cancels its jobs, ends the daemons it started (by pid)
#
# It installs nothing: it needs Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge)
# and root (slurmd starts jobs as their user). All state (munge key and socket, slurm.conf, spool,
# logs, pids) lives in LOSSBENCH_SLURM_DIR (default /tmp/lossbench-slurm), so the system's own
# munge/slurm setup is neither read nor changed. Every command that talks to this cluster must
# see SLURM_CONF=$LOSSBENCH_SLURM_DIR/slurm.conf.
# Other settings: LOSSBENCH_SLURM_PORT (slurmctld port, slurmd uses the next one; default 6817),
# LOSSBENCH_SLURM_WAIT (seconds to wait for the node to become idle; default 30).
set -euo pipefail

STATE_DIR=${LOSSBENCH_SLURM_DIR:-/tmp/lossbench-slurm}
PORT=${LOSSBENCH_SLURM_PORT:-6817}
WAIT_S=${LOSSBENCH_SLURM_WAIT:-30}
CONF=$STATE_DIR/slurm.conf
MUNGE_SOCKET=$STATE_DIR/munge/munge.socket.2
# Stopped in this order: slurmd first so that no node outlives its controller, munged last.
DAEMONS=(slurmd slurmctld munged)

die() { echo "local-slurm: error: $*" >&2; exit 1; }
say() { echo "local-slurm: $*" >&2; }

pid_file() { echo "$STATE_DIR/pids/$1.pid"; }

# The pid recorded for daemon $1 if that process is still alive and still is that daemon
# (guards against a recycled pid); empty otherwise.
live_pid() {
    local file pid
    file=$(pid_file "$1")
    [[ -f $file ]] || return 0
    pid=$(<"$file")
    if [[ -n $pid && -r /proc/$pid/comm && $(</proc/"$pid"/comm) == "$1" ]]; then
        echo "$pid"
    fi
}

check_binaries() {
    local missing=() cmd
    for cmd in munged slurmctld slurmd sbatch sinfo scontrol scancel; do
        command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] || missing+=("$cmd")
    done
    if ((${#missing[@]})); then
        die "missing ${missing[*]}; install them with: apt-get install -y slurm-wlm munge"
    fi
    [[ $(id -u) == 0 ]] || die "must run as root (slurmd starts jobs as their owner); try: sudo $0 start"
}

# Memory in MB as slurmd sees it: a RealMemory above that would drain the node.
real_memory_mb() {
    local mem
    mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1)
    [[ -n $mem ]] || mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    echo "$mem"
}

# The CPUs this machine gives us. nproc obeys OMP_NUM_THREADS, which test runs set to 1: a node of
# one CPU could never start a 2-task job (`srun -n 2`), which would wait forever.
cpu_count() { env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc; }

write_config() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(cpu_count)
    mem=$(real_memory_mb)
    mkdir -p "$STATE_DIR"/{munge,spool,state,log,pids} 2>/dev/null \
        || die "cannot create the state directory $STATE_DIR (set LOSSBENCH_SLURM_DIR to another)"
    # munged wants its socket's directory searchable by all; the key file itself is 0600.
    chmod 755 "$STATE_DIR" "$STATE_DIR/munge"
    # munged refuses a key that others can read, or one shorter than 32 bytes.
    if [[ ! -s $STATE_DIR/munge/munge.key ]]; then
        (umask 077 && head -c 1024 /dev/urandom >"$STATE_DIR/munge/munge.key")
    fi
    cat >"$CONF" <<EOF
# Written by scripts/local-slurm.sh for one-node tests; rewritten on every start.
ClusterName=lossbench-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=10
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/pids/slurmctld.daemon.pid
SlurmdPidFile=$STATE_DIR/pids/slurmd.daemon.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
# No cgroups: the test machines are containers.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
# Consumable CPUs: two one-CPU jobs run side by side on a 2-CPU node.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Accounting off: no slurmdbd (so sacct has no data; squeue/scontrol do).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Requeue allowed (scontrol requeue, and preemption/time-limit requeue by submitit).
JobRequeue=1
ReturnToService=2
SchedulerType=sched/backfill
# Schedule every second (defaults: 60 s / 30 s), so a requeued job starts again promptly.
SchedulerParameters=sched_interval=1,bf_interval=1
# Short timers: the tests wait on them.
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

# Start daemon $1 in the foreground of its own session, logs to the state dir, and record its pid.
# Run in the foreground (-F/-D) so that the pid we record is the daemon's own.
launch() {
    local name=$1
    shift
    setsid "$@" </dev/null >>"$STATE_DIR/log/$name.out" 2>&1 &
    echo $! >"$(pid_file "$name")"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

node_idle() { [[ $(SLURM_CONF=$CONF sinfo -h -N -o '%T' 2>/dev/null) == idle ]]; }

fail_start() {  # show the daemons' logs, stop what started, end with one line saying why
    local log fatal
    for log in munged slurmctld slurmd; do
        if [[ -s $STATE_DIR/log/$log.log ]]; then
            say "--- last lines of $STATE_DIR/log/$log.log"
            tail -n 6 "$STATE_DIR/log/$log.log" >&2
        fi
    done
    fatal=$(grep -h -m1 -E 'fatal|Error: ' "$STATE_DIR"/log/*.log 2>/dev/null | head -n1 || true)
    stop_daemons
    die "$1${fatal:+ (first fatal log line: $fatal)}"
}

# Poll until the node is idle; give up early when a daemon has died, or after WAIT_S seconds.
wait_until_idle() {
    local deadline=$((SECONDS + WAIT_S)) name
    until node_idle; do
        for name in "${DAEMONS[@]}"; do
            [[ -n $(live_pid "$name") ]] || fail_start "$name exited during start-up"
        done
        ((SECONDS < deadline)) || fail_start "the node did not become idle within ${WAIT_S}s (sinfo: $(
            SLURM_CONF=$CONF sinfo -h -N -o '%N %T %E' 2>&1 | head -n1))"
        sleep 0.5
    done
}

start() {
    check_binaries
    local all_alive=1 name
    for name in "${DAEMONS[@]}"; do
        [[ -n $(live_pid "$name") ]] || all_alive=0
    done
    if ((all_alive)); then
        say "already running (state in $STATE_DIR)"
        echo "export SLURM_CONF=$CONF"
        return 0
    fi
    stop_daemons  # a partial cluster from an earlier start: begin again cleanly
    rm -rf "$STATE_DIR/state" "$STATE_DIR/spool" "$STATE_DIR/log"
    write_config

    launch munged munged --foreground --force --socket="$MUNGE_SOCKET" \
        --key-file="$STATE_DIR/munge/munge.key" --pid-file="$STATE_DIR/pids/munged.daemon.pid" \
        --seed-file="$STATE_DIR/munge/munged.seed" --log-file="$STATE_DIR/log/munged.log"
    wait_for 10 munged test -S "$MUNGE_SOCKET" || fail_start "munged did not create $MUNGE_SOCKET"

    # -c: start with no saved jobs; -i: ignore state from an older config.
    launch slurmctld slurmctld -D -c -i -f "$CONF"
    launch slurmd slurmd -D -f "$CONF"
    wait_until_idle
    say "cluster up: node $(hostname -s), $(cpu_count) CPUs, partition debug (state in $STATE_DIR)"
    echo "export SLURM_CONF=$CONF"
}

# start, then on stdout only the export line; without --env, also tell a person (stderr) that sbatch,
# sinfo and lossbench reach this cluster only with SLURM_CONF set.
start_command() {
    case ${1:-} in
        --env) start ;;
        "") start
            say "sbatch, sinfo and lossbench find this cluster only through SLURM_CONF; set it in your shell with:"
            say "  eval \"\$($0 start --env)\"" ;;
        *) echo "usage: $0 start [--env]|stop|status" >&2; exit 2 ;;
    esac
}

stop_daemons() {
    local name pid pids=() deadline
    # Jobs first, while the controller still runs: slurmstepd processes outlive slurmd otherwise.
    if [[ -n $(live_pid slurmctld) && -f $CONF ]]; then
        SLURM_CONF=$CONF scancel --quiet --user="$(id -un)" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while [[ -n $(SLURM_CONF=$CONF squeue -h -t running,completing -o %i 2>/dev/null) ]] \
            && ((SECONDS < deadline)); do
            sleep 0.5
        done
    fi
    for name in "${DAEMONS[@]}"; do
        pid=$(live_pid "$name")
        if [[ -n $pid ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    deadline=$((SECONDS + 5))
    for pid in "${pids[@]}"; do
        while [[ -d /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.2; done
        [[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null || true
    done
    rm -f "$STATE_DIR"/pids/*.pid "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
}

stop() {
    if [[ ! -d $STATE_DIR/pids ]]; then
        say "not running (no pids recorded in $STATE_DIR/pids)"
        return 0
    fi
    stop_daemons
    # Keep the logs for a post-mortem; everything else goes.
    rm -rf "$STATE_DIR/state" "$STATE_DIR/spool" "$STATE_DIR/pids" "$STATE_DIR/munge" "$CONF"
    say "stopped (logs kept in $STATE_DIR/log)"
}

status() {
    local name pid running=1
    for name in "${DAEMONS[@]}"; do
        pid=$(live_pid "$name")
        if [[ -n $pid ]]; then
            echo "$name: running (pid $pid)"
        else
            echo "$name: not running"
            running=0
        fi
    done
    if ((running)); then
        SLURM_CONF=$CONF sinfo -N -o '%N %P %T %c'
        echo "export SLURM_CONF=$CONF"
        return 0
    fi
    return 3
}

case ${1:-} in
    start) shift; start_command "$@" ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start [--env]|stop|status" >&2; exit 2 ;;
esac
