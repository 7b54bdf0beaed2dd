#!/usr/bin/env bash
# Runs the project's benchmark kernels on qemu-system-i386 (TCG) and on jitvm (each available engine), side by side
# in one run, and prints wall-clock times, the jitvm/QEMU ratio and whether the guest output matched.
#
#   benchmarks/qemu-side-by-side.sh [--scale F] [--out DIR] [--engines "interp jit auto"] [--no-install]
#
# Builds the kernels with benchmarks/JitVm.Workloads and jitvm in Release, installs Debian's qemu-system-x86 when
# qemu-system-i386 is missing (apt-get, as root or through sudo; skipped with a message when that is impossible).
# "startup" is each runner on a one-iteration kernel (process start, firmware, loading); "net" is wall minus that,
# and the ratio is taken on net times. Exit status: 0 when every output matched, 1 otherwise, 2 on setup errors.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1
out=""
engines="interp jit auto"
install=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --scale) scale="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --engines) engines="$2"; shift 2 ;;
        --no-install) install=0; shift ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -n "$out" ]] || out="$(mktemp -d "${TMPDIR:-/tmp}/jitvm-side-by-side.XXXXXX")"
mkdir -p "$out/kernels" "$out/startup" "$out/logs"

# ---- QEMU ----
qemu=""
if command -v qemu-system-i386 >/dev/null 2>&1; then
    qemu="$(command -v qemu-system-i386)"
elif [[ $install -eq 1 ]]; then
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
    fi
    if [[ $(id -u) -eq 0 || -n "$sudo" ]] && command -v apt-get >/dev/null 2>&1; then
        echo "installing qemu-system-x86 from Debian (apt-get)..." >&2
        if $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends qemu-system-x86 >&2; then
            qemu="$(command -v qemu-system-i386 || true)"
        fi
    fi
fi
if [[ -z "$qemu" ]]; then
    if [[ $install -eq 0 ]]; then
        echo "note: qemu-system-i386 is not installed (--no-install given); running jitvm only." >&2
    else
        echo "note: qemu-system-i386 is not installed and cannot be installed here (needs apt-get as root or passwordless sudo);" >&2
        echo "      running jitvm only. Install Debian's qemu-system-x86 package to compare." >&2
    fi
fi
qemu_args=(-display none -serial none -debugcon stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -accel tcg -cpu pentium -no-reboot)

# ---- build ----
echo "building jitvm and the workloads (Release)..." >&2
if ! dotnet build src/JitVm.Cli -c Release --nologo >"$out/logs/build.log" 2>&1; then
    cat "$out/logs/build.log" >&2
    echo "error: build failed" >&2
    exit 2
fi
jitvm=(dotnet src/JitVm.Cli/bin/Release/net10.0/jitvm.dll)
workloads=(dotnet src/JitVm.Cli/bin/Release/net10.0/jitvm-workloads.dll)
"${workloads[@]}" "$out/kernels" --scale "$scale" >&2
one=()
for k in "$out"/kernels/*.elf; do one+=(--iterations "$(basename "$k" .elf)=1"); done
"${workloads[@]}" "$out/startup" "${one[@]}" >/dev/null

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
less_than() { awk "BEGIN { exit !($1 < $2) }"; }
# run NAME OUTFILE CMD...: runs the command, stdout to OUTFILE, stderr to logs/NAME.err; prints "wall status".
run() {
    local name="$1" file="$2"; shift 2
    local t0 t1 rc=0
    t0=$(now)
    timeout 900 "$@" >"$file" 2>"$out/logs/$name.err" || rc=$?
    t1=$(now)
    echo "$(calc "$t1 - $t0") $rc"
}

# Which jitvm engines exist (an unavailable engine exits with status 2 and says so).
available=()
probe="$out/startup/integer-loop.elf"
for e in $engines; do
    r=$(run "probe-$e" "$out/logs/probe-$e.out" "${jitvm[@]}" run --kernel "$probe" --engine "$e" --serial none)
    if [[ "${r#* }" == 1 ]]; then available+=("$e"); else echo "note: jitvm engine '$e' skipped: $(head -c 200 "$out/logs/probe-$e.err")" >&2; fi
done
[[ ${#available[@]} -gt 0 ]] || { echo "error: no jitvm engine runs the kernels" >&2; exit 2; }

runners=()
[[ -n "$qemu" ]] && runners+=(qemu)
for e in "${available[@]}"; do runners+=("jitvm-$e"); done

command_for() {  # runner kernel -> the array cmd
    case "$1" in
        qemu) cmd=("$qemu" -kernel "$2" "${qemu_args[@]}") ;;
        jitvm-*) cmd=("${jitvm[@]}" run --kernel "$2" --engine "${1#jitvm-}" --serial none) ;;
    esac
}

# Start-up cost of each runner: the one-iteration integer loop, best of three.
declare -A startup
for r in "${runners[@]}"; do
    best=""
    for _ in 1 2 3; do
        command_for "$r" "$out/startup/integer-loop.elf"
        res=$(run "startup-$r" "$out/logs/startup-$r.out" "${cmd[@]}")
        w="${res% *}"
        if [[ -z "$best" ]] || less_than "$w" "$best"; then best="$w"; fi
    done
    startup[$r]="$best"
done

printf '%-16s %-14s %8s %8s %8s %10s  %s\n' workload runner wall-s net-s guest-s "vs-qemu" output
status=0
for k in "$out"/kernels/*.elf; do
    name="$(basename "$k" .elf)"
    declare -A net=()
    ref=""
    for r in "${runners[@]}"; do
        command_for "$r" "$k"
        res=$(run "$name-$r" "$out/logs/$name-$r.out" "${cmd[@]}")
        wall="${res% *}" rc="${res#* }"
        n=$(calc "$wall - ${startup[$r]}")
        if less_than "$n" 0.001; then n=0.001; fi
        net[$r]="$n"
        guest="-"
        if [[ "$r" == jitvm-* ]]; then
            guest=$(grep -o 'seconds=[0-9.]*' "$out/logs/$name-$r.err" | tail -1 | cut -d= -f2 || true)
            [[ -n "$guest" ]] || guest="-"
        fi
        ratio="-"
        if [[ -n "$qemu" && "$r" != qemu ]]; then ratio="$(calc "${net[$r]} / ${net[qemu]}" | awk '{ printf "%.2fx", $1 }')"; fi
        [[ -n "$ref" ]] || ref="$r"
        if [[ $rc -ne 1 ]]; then
            verdict="FAILED (exit status $rc, see $out/logs/$name-$r.err)"
            status=1
        elif [[ "$r" == "$ref" ]]; then
            verdict="reference"
        elif cmp -s "$out/logs/$name-$ref.out" "$out/logs/$name-$r.out"; then
            verdict="same as $ref"
        else
            verdict="MISMATCH with $ref"
            status=1
        fi
        printf '%-16s %-14s %8.3f %8.3f %8s %10s  %s\n' "$name" "$r" "$wall" "$n" "$guest" "$ratio" "$verdict"
    done
    unset net
done
for r in "${runners[@]}"; do printf 'startup %-14s %.3f s\n' "$r" "${startup[$r]}"; done
echo "kernels and logs: $out"
if [[ $status -ne 0 ]]; then echo "*** some runs failed or printed different output" >&2; fi
exit $status
