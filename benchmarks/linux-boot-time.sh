#!/usr/bin/env bash
# Time from start to the Linux guest's shell prompt: jitvm on the JIT (auto) and on the interpreter, and
# qemu-system-i386 (TCG), on the same kernel and initramfs (tools/fetch-guest.sh), N runs each (default 5, taken in
# round robin), printing every run, the median per runner and each runner's ratio to QEMU. The moment measured is
# when the guest's /init prints its banner ("JitVm guest: ...") on the serial console, right before it starts the
# shell; the runner is then stopped.
#
#   benchmarks/linux-boot-time.sh [--runs N] [--runners "auto interp qemu"] [--memory 256M] [--timeout SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
runners="auto interp qemu"
memory=256M
limit=900
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --runners) runners="$2"; shift 2 ;;
        --memory) memory="$2"; shift 2 ;;
        --timeout) limit="$2"; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument $1" >&2; exit 2 ;;
    esac
done
tools/fetch-guest.sh >/dev/null
dotnet build src/JitVm.Cli -c Release --nologo -v quiet >/dev/null
jitvm="src/JitVm.Cli/bin/Release/net10.0/jitvm"
append="console=ttyS0 panic=-1"

command_for() {
    case "$1" in
        qemu) echo "qemu-system-i386 -m $memory -cpu pentium3 -nographic -no-reboot -kernel guest/vmlinuz -initrd guest/initrd.gz -append '$append'" ;;
        *) echo "$jitvm run --engine $1 --memory $memory --kernel guest/vmlinuz --initrd guest/initrd.gz --append '$append' --serial stdio --debugcon none --no-reboot" ;;
    esac
}

# Seconds from start until the banner appears on the runner's output (or "timeout").
time_one() {
    local cmd="$1" log fifo start pid line result="timeout"
    log=$(mktemp); fifo=$(mktemp -u); mkfifo "$fifo"
    start=$(date +%s.%N)
    bash -c "exec $cmd" < /dev/null > "$fifo" 2>/dev/null &
    pid=$!
    while IFS= read -r -t "$limit" line; do
        printf '%s\n' "$line" >> "$log"
        if [[ "$line" == *"JitVm guest:"* ]]; then
            result=$(awk -v now="$(date +%s.%N)" -v start="$start" 'BEGIN { printf "%.3f", now - start }')
            break
        fi
    done < "$fifo"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$fifo" "$log"
    echo "$result"
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# Round robin (run 1 of every runner, then run 2, ...): the host's speed drifts over minutes, and runs of one runner
# taken back to back would see a different host from the others'.
declare -A medians times
active=""
for r in $runners; do
    if [[ $r == qemu ]] && ! command -v qemu-system-i386 >/dev/null; then
        echo "$r: qemu-system-i386 is not installed (Debian package qemu-system-x86)"; continue
    fi
    active="$active $r"
done
for ((i = 1; i <= runs; i++)); do
    for r in $active; do
        t=$(time_one "$(command_for "$r")")
        printf '%-7s run %d: %s s\n' "$r" "$i" "$t"
        [[ $t != timeout ]] && times[$r]="${times[$r]:-} $t"
    done
done
for r in $active; do medians[$r]=$(printf '%s\n' ${times[$r]:-} | median); done
echo
printf '%-7s %s\n' runner "median seconds to the shell"
for r in $runners; do printf '%-7s %s\n' "$r" "${medians[$r]:--}"; done
if [[ -n ${medians[qemu]:-} && ${medians[qemu]} != - ]]; then
    for r in $active; do
        [[ $r == qemu || ${medians[$r]:--} == - ]] && continue
        awk -v a="${medians[$r]}" -v q="${medians[qemu]}" -v r="$r" 'BEGIN { printf "%s / qemu: %.2fx\n", r, a / q }'
    done
fi
