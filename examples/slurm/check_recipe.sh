#!/bin/bash
# Runs examples/slurm/hpstudy-workers.sbatch for real: a single-node SLURM cluster from Debian's
# packages (munge, slurmctld, slurmd) on this host, a 2-task job array of hpstudy workers against
# a fresh database on the local PostgreSQL, then a check that every grid point is complete exactly
# once. Needs root (it runs the daemons and apt-get) and a PostgreSQL that trusts local users.
#
#   bash examples/slurm/check_recipe.sh [SPEC]     # SPEC: a spec file; default a 4-point design
#
# Everything it starts is stopped on exit, and its folder and database are removed. Exit 0 when
# the grid is complete exactly once; otherwise the job logs and the status are printed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
say() { printf 'slurm-recipe: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "needs root: it starts munged, slurmctld and slurmd and may apt-get install them"; exit 2
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
   || ! command -v sbatch >/dev/null; then
  say "installing munge, slurmctld, slurmd and slurm-client from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client >/dev/null
fi

WORK=$(mktemp -d /tmp/hpstudy-slurm.XXXXXX)
chmod 755 "$WORK"
DB="hpstudy_slurm_$$"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "DROP DATABASE IF EXISTS $DB" \
    >/dev/null 2>&1 || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# munge: its own key, socket and pid file in $WORK, so a host's munged is left alone.
mkdir -p "$WORK/munge" "$WORK/spool" "$WORK/state" "$WORK/logs"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 700 "$WORK/munge"; chmod 400 "$WORK/munge/munge.key"
MUNGE_SOCKET="$WORK/munge/munge.socket"
munged --force --key-file="$WORK/munge/munge.key" --socket="$MUNGE_SOCKET" \
  --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/logs/munged.log" \
  --seed-file="$WORK/munge/munge.seed"
PIDS+=("$(cat "$WORK/munge/munged.pid")")

HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
PORT_BASE=$((20000 + $$ % 20000))
export SLURM_CONF="$WORK/slurm.conf"
cat > "$SLURM_CONF" <<EOF
ClusterName=hpstudy-check
SlurmctldHost=$HOST
SlurmctldPort=$PORT_BASE
SlurmdPort=$((PORT_BASE + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/logs/slurmctld.log
SlurmdLogFile=$WORK/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
GresTypes=gpu
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:2 State=UNKNOWN
PartitionName=check Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
# Two stand-in GPU device files (character devices like /dev/null): the recipe's `--gres=gpu:1` is
# scheduled as written, and `--device auto` then finds no CUDA device and trains on the CPU.
mknod "$WORK/gpu0" c 1 3; mknod "$WORK/gpu1" c 1 3
echo "NodeName=$HOST Name=gpu File=$WORK/gpu[0-1]" > "$WORK/gres.conf"
slurmctld -f "$SLURM_CONF" -i
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$WORK/slurmctld.pid" ] && [ -s "$WORK/slurmd.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$WORK/slurmd.pid")" "$(cat "$WORK/slurmctld.pid")")
for _ in $(seq 150); do
  sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed)' && break; sleep 0.2
done
if ! sinfo -h -o '%T' | grep -qE '^(idle|mixed)'; then
  say "the node did not come up:"; sinfo >&2 || true; tail -n 20 "$WORK/logs/"*.log >&2; exit 1
fi
say "single-node cluster up ($HOST, $CPUS CPUs)"

psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "CREATE DATABASE $DB" >/dev/null
export HPSTUDY_STORAGE="postgresql+psycopg://$PG_USER@$PG_HOST:$PG_PORT/$DB"
SPEC=${1:-}
if [ -z "$SPEC" ]; then  # smoke's model on one fraction with two factors: 4 points, seconds each
  SPEC="$WORK/slurmcheck.toml"
  cat > "$SPEC" <<'SPEC'
arch = "resnet18"
pretrained = false
batch_size = 64
image_size = 16
frozen_epochs = 1
unfrozen_epochs = 1
fractions = [0.2]
[baseline]
lr_mult = 1.0
divisor = 10
wd = 0.1
beta2 = 0.99
ps = 0.5
[factors]
lr_mult = [0.1, 10.0]
wd = [0.0]
[lr_find]
start_lr = 1e-5
end_lr = 1.0
num_it = 10
loss = "train"
SPEC
fi
export HPSTUDY_CACHE="$WORK/cache"

# 1. prepare once, as the recipe says: creates the study, runs the lr finder, fills the queue.
hpstudy run --dataset digits --study "$SPEC" --workers 0 >"$WORK/logs/prepare.log" 2>&1 \
  || { say "prepare failed:"; cat "$WORK/logs/prepare.log" >&2; exit 1; }
# 2. the recipe's job array, unchanged, as a 2-task array; its CPU and memory requests are sized
#    down to this node on the command line, as a user sizes them to theirs.
sbatch --wait --array=0-1 --cpus-per-task=1 --mem=2G --time=30 \
  --output="$WORK/logs/hpstudy-%A_%a.log" "$ROOT/examples/slurm/hpstudy-workers.sbatch" \
  digits "$SPEC" >"$WORK/logs/sbatch.log" 2>&1 \
  || { say "the job array failed:"; cat "$WORK/logs/"*.log >&2; exit 1; }
# 3. every grid point complete exactly once, by two tasks.
hpstudy status --json >"$WORK/status.json"
python - "$WORK/status.json" "$WORK/logs" <<'EOF'
import json, pathlib, sys
status = json.loads(pathlib.Path(sys.argv[1]).read_text())
(s,) = status
logs = sorted(pathlib.Path(sys.argv[2]).glob("hpstudy-*_*.log"))
ok = (s["complete"] == s["grid_size"] and s["duplicates"] == 0 and s["running"] == 0
      and s["waiting"] == 0 and s["failed"] == 0 and len(logs) == 2)
keys = ("study", "grid_size", "complete", "duplicates", "running", "waiting", "failed", "attempts_failed")
summary = {k: s[k] for k in keys}
print(json.dumps({"ok": ok, **summary, "array_tasks": len(logs),
                  "task_log_lines": [len(p.read_text().splitlines()) for p in logs]}))
for p in logs:
    if "Traceback" in p.read_text():
        ok = False
        print(p.read_text(), file=sys.stderr)
if not ok:
    for p in logs:
        print(f"--- {p.name}\n{p.read_text()}", file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
