#!/usr/bin/env bash
# The experiments of docs/results.md: JT, JT+AT, JT+Mixup, CRMT-JT, CRMT-AT, CRMT-Mix and the
# ablation (orthogonal head only, step 1 only, step 2 only) on AV-digits (two presets),
# Satellite and the digits split, 3 seeds each, with experiments/run_experiment.
#
#   bash scripts/run-experiments.sh [--only NAME[,NAME...] | --tables]
#
# NAME: avdigits-clean, avdigits-snr5, avdigits-clean-conv, satellite, digits (default: all).
#  1. data: scripts/prepare-satellite.sh and scripts/prepare-avdigits.sh (presets clean and
#     audio_snr-5) when their outputs are missing;
#  2. a Release build of run_experiment in build-exp/ (CRMT_EXP_BUILD_DIR);
#  3. the experiments, two at a time (OPENBLAS_NUM_THREADS=1 each: 2 cores), each writing
#     experiments/output/NAME.log (everything printed, with the exact command),
#     NAME.raw.tsv (one line per method and seed), NAME-{robust,cert,pref}.md (table rows,
#     mean ± sample sd over the seeds), experiments/output/timing.txt and
#     experiments/output/tables.md (the tables of docs/results.md, grouped);
#     --tables only regenerates tables.md from the existing output.
# Not run by CI: 27 minutes measured on 2 shared cores (docs/results.md has the times).
#
# Environment: CRMT_EXP_BUILD_DIR (default build-exp), CRMT_EXP_OUT (default
# experiments/output), CRMT_EXP_PARALLEL (default 2), CRMT_SKIP_APT=1 (passed to the data
# scripts).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CRMT_ROOT"

build=${CRMT_EXP_BUILD_DIR:-$CRMT_ROOT/build-exp}
out=${CRMT_EXP_OUT:-$CRMT_ROOT/experiments/output}
parallel=${CRMT_EXP_PARALLEL:-2}
only=all
tables_only=0
case "${1:-}" in
    --only) only=${2:?--only needs a list} ;;
    --tables) tables_only=1 ;;
esac
want() { [ "$only" = all ] || [[ ",$only," == *",$1,"* ]]; }
start=$SECONDS

sat=data/generated/satellite
av=data/generated/avdigits
# The experiments, longest first (they run in that order, two at a time).
order=(avdigits-clean avdigits-snr5 satellite avdigits-clean-conv digits)

# experiments/output/tables.md: per experiment, the method table and the ablation (rows of
# the -robust and -cert files; JT and CRMT-JT appear in both).
tables() {
    local n f kind l labels
    for n in "${order[@]}"; do
        [ -f "$out/$n-robust.md" ] || continue
        echo "## $n"
        echo
        echo '```'
        grep -m1 '^command:' "$out/$n.log" | sed 's/^command: //'
        echo '```'
        for kind in methods ablation; do
            if [ "$kind" = methods ]; then
                labels=("JT" "JT+AT" "JT+Mixup" "CRMT-JT" "CRMT-AT" "CRMT-Mix")
            else
                labels=("JT" "orthogonal head only" "step 1 only" "step 2 only (rho 0)" "CRMT-JT")
            fi
            for f in robust cert; do
                echo
                head -n 2 "$out/$n-$f.md"
                for l in "${labels[@]}"; do grep -F "| $l |" "$out/$n-$f.md" | head -n 1 || true; done
            done
        done
        echo
        echo "Modality preference:"
        echo
        cat "$out/$n-pref.md"
        echo
    done
}

# 1. Data.
if [ "$tables_only" = 1 ]; then only=none; fi
if want satellite && [ ! -f "$sat/.stamp" ]; then
    crmt_log "data: Satellite"
    bash scripts/prepare-satellite.sh "$sat"
fi
av_presets=()
for p in clean audio_snr-5; do
    [ -f "$av/$p/.stamp" ] || av_presets+=("$p")
done
if { want avdigits-clean || want avdigits-snr5 || want avdigits-clean-conv; } &&
    [ "${#av_presets[@]}" -gt 0 ]; then
    crmt_log "data: AV-digits presets ${av_presets[*]}"
    CRMT_AVDIGITS_PRESETS="${av_presets[*]}" bash scripts/prepare-avdigits.sh "$av"
fi

# 2. Build.
if [ "$tables_only" = 1 ]; then
    tables >"$out/tables.md"
    echo "tables: $out/tables.md"
    exit 0
fi
crmt_log "build: run_experiment in $build"
if [ ! -f "$build/CMakeCache.txt" ]; then
    mkdir -p "$build"
    cmake -S "$CRMT_ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/crmt-configure.log" 2>&1 ||
        { cat "$build/crmt-configure.log"; exit 1; }
fi
cmake --build "$build" --target run_experiment -j "$CRMT_JOBS" >/dev/null
exe=$build/experiments/run_experiment
exe=${exe#"$CRMT_ROOT"/} # relative to the repository root (the working directory)
out_rel=${out#"$CRMT_ROOT"/}

# 3. Experiments. Common settings: 3 seeds (1, 2, 3), SGD momentum 0.9, weight decay 1e-4,
# constant learning rate, batch 64; every method gets 4 candidates chosen on the validation
# split; CRMT step 2: 10 epochs, lr 0.002, 1-point validation guard; a of CRMT heads starts
# at 0.1; missing modality = training mean (zeros also reported in the -pref table).
common=(--seeds 3 --seed 1 --batch 64 --momentum 0.9 --wd 1e-4 --schedule constant
        --lr4 0.05,0.02,0.01,0.005 --lr2 0.02,0.005 --rho2 0.03,0.3 --lr2-at 0.02,0.01
        --int-epochs 10 --int-lr 0.002 --int-drop 0.01 --a-init 0.1 --fill mean)
# AV-digits: 6000 of the 12000 training pairs, 10 epochs; l2 budget 1 (the official 0.2 does
# not move these inputs: image norm about 9, standardised audio about 24); AT at 0.5 / 1.
avdigits=(--train-limit 6000 --epochs 10 --modality-names image,audio --eps 1
          --radii 0.25,0.5,1,2 --at-eps2 0.5,1 --at-eps 0.5)
# Satellite and digits: official budgets (eps 0.2, AT 0.1 / 0.2), 30 epochs.
small=(--epochs 30 --eps 0.2 --radii 0.05,0.1,0.2,0.5 --at-eps2 0.1,0.2 --at-eps 0.1)

declare -A cmd
cmd[avdigits-clean]="--data $av/clean --name avdigits-clean --method all --enc mlp:256:128 ${common[*]} ${avdigits[*]}"
cmd[avdigits-snr5]="--data $av/audio_snr-5 --name avdigits-snr5 --method all --enc mlp:256:128 ${common[*]} ${avdigits[*]}"
cmd[avdigits-clean-conv]="--data $av/clean --name avdigits-clean-conv --method jt,ojt,crmt-jt --enc 0=img:1x28x28,conv:8:5:2:2,relu,conv:16:3:2:1,relu,flatten,lin:128 --enc 1=mlp:256:128 ${common[*]} ${avdigits[*]}"
cmd[satellite]="--data $sat --name satellite --method all --enc mlp:256:128 --modality-names visible,nir ${common[*]} ${small[*]}"
cmd[digits]="--digits unbalanced --name digits --method all --enc mlp:256:128 --modality-names rows0-1,rows2-7 ${common[*]} ${small[*]}"

mkdir -p "$out"
run_one() {
    local name=$1 t=$SECONDS
    rm -f "$out/$name.log" "$out/$name.raw.tsv" "$out/$name"-{robust,cert,pref}.md "$out/$name.failed"
    # shellcheck disable=SC2086
    if OPENBLAS_NUM_THREADS=1 "$exe" ${cmd[$name]} --md "$out_rel/$name" --raw "$out_rel/$name.raw.tsv" \
        >"$out/$name.log" 2>&1; then
        printf '%-22s %5d s\n' "$name" $((SECONDS - t)) >>"$out/timing.txt"
        echo "done: $name ($((SECONDS - t)) s)"
    else
        touch "$out/$name.failed"
        echo "error: $name failed, see $out/$name.log" >&2
    fi
}
: >"$out/timing.txt"
todo=()
for n in "${order[@]}"; do want "$n" && todo+=("$n"); done
crmt_log "experiments: ${todo[*]} ($parallel at a time), output in $out"
for n in "${todo[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
    run_one "$n" &
done
wait
fail=0
for n in "${todo[@]}"; do [ ! -f "$out/$n.failed" ] || fail=1; done
{
    echo "machine: $(nproc) cores, $(uname -srm); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "total $((SECONDS - start)) s"
} >>"$out/timing.txt"
cat "$out/timing.txt"

tables >"$out/tables.md"
echo "tables: $out/tables.md"
for n in "${todo[@]}"; do
    grep -m1 "^command:" "$out/$n.log" 2>/dev/null || true
done
exit "$fail"
