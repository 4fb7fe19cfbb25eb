#!/usr/bin/env bash
# One device session: checks of the merged work. Logs under $OUT.
set -u
o=$OUT; r=.gpu/run; k=bin/kasmina
bash scripts/gpu_check.sh .gpu $o/g --resume-check > $o/check.txt 2>&1
$r $k bench --device cuda --filter 'morph/' --repetitions 7 --out $o/morph.json > $o/g/bench-morph.log 2>&1
# NCCL world size 1 vs plain
KASMINA_DEBUG_RANK_STATE=$o/nc/a $r $k train configs/spirals_seeds.yaml --device cuda --out $o/nc/ra > $o/nc-a.log 2>&1; echo "plain rc=$?" >> $o/check.txt
KASMINA_COLLECTIVE=nccl KASMINA_DEBUG_RANK_STATE=$o/nc/b $r $k train configs/spirals_seeds.yaml --device cuda --out $o/nc/rb > $o/nc-b.log 2>&1; echo "nccl rc=$?" >> $o/check.txt
# eval / export / torch rebuild on a grown fmnist run
$r $k train configs/fmnist_grow.yaml --device cuda --set train.epochs=4 --out $o/ex/run > $o/ex-train.log 2>&1; echo "grow rc=$?" >> $o/check.txt
$r $k eval $o/ex/run --json $o/ex/e.json > $o/ex-eval.log 2>&1; echo "eval rc=$?" >> $o/check.txt
$r $k export $o/ex/run --format safetensors $o/ex/net.st > $o/ex-export.log 2>&1; echo "export rc=$?" >> $o/check.txt
python3 -c "import safetensors" 2>/dev/null || export PYTHONPATH=$PWD/.gpu/py
KASMINA_DATA_DIR=$PWD/.gpu/data/fashion-mnist python3 scripts/rebuild_torch.py $o/ex/net.st --device cuda --expect $o/ex/e.json --data-dir $PWD/.gpu/data/fashion-mnist > $o/ex-torch.log 2>&1; echo "torch rc=$?" >> $o/check.txt
# IR blueprints: NVRTC compile, cold then warm
$r $k blueprint compile configs/blueprints/builtins_ir.yaml --arch sm_90 --dir $o/kc > $o/kc1.log 2>&1; echo "compile rc=$?" >> $o/check.txt
$r $k blueprint compile configs/blueprints/builtins_ir.yaml --arch sm_90 --dir $o/kc > $o/kc2.log 2>&1
rm -rf $o/kc $o/ex/run/checkpoints $o/g/run-* $o/g/resume-*/*/checkpoints
cd $o && tar czf logs.tgz --exclude='*.st' * && find . -mindepth 1 -maxdepth 1 ! -name logs.tgz ! -name check.txt -exec rm -rf {} +
tail -40 check.txt
