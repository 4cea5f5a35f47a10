// The FP32 pass of one model through ONNX Runtime (npm onnxruntime-node, CPU): the same test
// images as lbfp_eval_bench (pixel / 255, the first N of the IDX test split), the same batch and
// threads. Prints one line "ort <model> images=N threads=T seconds=S images_per_s=R top1=P
// cpu_seconds=C" (C: user + system time of the process over the timed batches) and
// writes the predicted class of every image, one per line, to PREDICTIONS.
// Usage: node eval_ort.js ORT_MODULE_DIR MODEL.onnx DATA_DIR THREADS IMAGES BATCH PREDICTIONS
// With ORT_PROFILE=PREFIX in the environment, ONNX Runtime also profiles the run (its JSON file
// PREFIX_<date>.json) and each node's kernel time over the run, summed, goes to stderr, like
// lbfp_eval_bench's LBFP_EVAL_BENCH_LAYERS=1 (the profiling slows the timed run down a little).
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const [moduleDir, model, dataDir, threadsArg, imagesArg, batchArg, predictions] =
    process.argv.slice(2);
const ort = require(path.join(moduleDir, 'onnxruntime-node'));

function readIdx(stem) {
  for (const name of [stem, stem + '.gz']) {
    const file = path.join(dataDir, name);
    if (fs.existsSync(file)) {
      const raw = fs.readFileSync(file);
      return name.endsWith('.gz') ? zlib.gunzipSync(raw) : raw;
    }
  }
  throw new Error(`${dataDir}/${stem}[.gz] not found`);
}

// Each node's kernel time in the newest profile PREFIX*.json, in the order the nodes first ran.
function printProfile(session, prefix) {
  session.endProfiling();
  const dir = path.dirname(path.resolve(prefix));
  const stem = path.basename(prefix);
  const files = fs.readdirSync(dir)
                    .filter((f) => f.startsWith(stem) && f.endsWith('.json'))
                    .map((f) => path.join(dir, f))
                    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (files.length === 0) throw new Error(`no profile ${prefix}*.json written`);
  const total = new Map();
  for (const e of JSON.parse(fs.readFileSync(files[0], 'utf8'))) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const key = `${e.name.slice(0, -'_kernel_time'.length)} ${e.args.op_name}`;
    total.set(key, (total.get(key) || 0) + e.dur);
  }
  for (const [key, us] of total) console.error(`  ${key}  ${(us / 1e6).toFixed(3)} s`);
  console.error(`  (profile: ${files[0]})`);
}

async function main() {
  const images = readIdx('t10k-images-idx3-ubyte');
  const labels = readIdx('t10k-labels-idx1-ubyte');
  const count = Math.min(Number(imagesArg), images.readUInt32BE(4));
  const rows = images.readUInt32BE(8), cols = images.readUInt32BE(12);
  const px = rows * cols;
  const batch = Number(batchArg);
  const threads = Number(threadsArg);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...(process.env.ORT_PROFILE ? {enableProfiling: true, profileFilePrefix: process.env.ORT_PROFILE}
                                : {}),
  });
  const input = session.inputNames[0], output = session.outputNames[0];
  // The inputs are built before the clock starts, as lbfp_eval_bench builds its floats.
  const feeds = [];
  for (let first = 0; first < count; first += batch) {
    const n = Math.min(batch, count - first);
    const x = new Float32Array(n * px);
    for (let i = 0; i < n * px; ++i) x[i] = images[16 + first * px + i] / 255;
    feeds.push(new ort.Tensor('float32', x, [n, 1, rows, cols]));
  }
  await session.run({[input]: feeds[0]});  // warm-up (not timed), as the C++ side warms up too
  const predicted = [];
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  for (const t of feeds) {
    const out = (await session.run({[input]: t}))[output];
    const classes = out.dims[1];
    for (let i = 0; i < t.dims[0]; ++i) {
      let best = 0;
      for (let c = 1; c < classes; ++c) {
        if (out.data[i * classes + c] > out.data[i * classes + best]) best = c;
      }
      predicted.push(best);
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  let right = 0;
  for (let i = 0; i < count; ++i) right += predicted[i] === labels[8 + i] ? 1 : 0;
  fs.writeFileSync(predictions, predicted.join('\n') + '\n');
  if (process.env.ORT_PROFILE) printProfile(session, process.env.ORT_PROFILE);
  console.log(`ort ${path.basename(model, '.onnx')} images=${count} threads=${threads} ` +
              `seconds=${seconds.toFixed(3)} images_per_s=${(count / seconds).toFixed(0)} ` +
              `top1=${(100 * right / count).toFixed(2)} cpu_seconds=${cpuSeconds.toFixed(3)}`);
}

main().catch((e) => { console.error(e.message || e); process.exit(2); });
