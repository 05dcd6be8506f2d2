#!/usr/bin/env node
// ONNX Runtime (CPU) reference runner for graft.
//
// Usage:
//   node tools/ort/run.js --model M.onnx --out DIR [options] NAME=FILE.npy ...
//
// Options:
//   --model PATH        ONNX model to load (required)
//   --out DIR           directory for the outputs (required unless --bench)
//   --threads N         intra-op threads (default 1)
//   --opt LEVEL         graph optimisation: all|extended|basic|disabled (default all)
//   --output NAME       only fetch/write this output (repeatable; default: all
//                       graph outputs, in graph order)
//   --bench ITERS       after the warm-up runs, time ITERS runs and print one
//                       JSON line {"median_ms":..,"min_ms":..,...} on stdout
//   --warmup W          warm-up runs before timing (default 3; only with --bench)
//   --profile PREFIX    with --bench, record ONNX Runtime's own profile of the
//                       timed runs (its JSON, PREFIX_<date>.json) and print on
//                       stderr the time per op type and the slowest nodes, per
//                       run: ORT's side of `graft bench --profile`
//   --verbose           let ONNX Runtime log warnings
//   -h, --help          show this help
//
// Every positional argument NAME=FILE.npy feeds the model input NAME with the
// array stored in FILE.npy (dtypes <f4 <f8 <i8 <i4 <i2 |i1 |u1 <u2 <u4 <u8
// <f2 |b1, C order, any rank including 0-d).
//
// Outputs are written as DIR/<index>_<sanitised name>.npy, where index is the
// position in the fetched output list, plus DIR/outputs.json:
//   {"output": {"index": 0, "file": "0_output.npy", "dtype": "<f4", "shape": [2, 10]}, ...}
//
// Exit status: 0 on success, 1 on a runtime failure, 2 on a usage error.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

class UsageError extends Error {}

const USAGE = `usage: node tools/ort/run.js --model M.onnx --out DIR [--threads N]
                   [--opt all|extended|basic|disabled] [--output NAME ...]
                   [--bench ITERS [--warmup W] [--profile PREFIX]] [--verbose]
                   NAME=FILE.npy ...`;

// ---------------------------------------------------------------------------
// .npy support

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

// numpy descr (without byte order char) -> ORT tensor type, typed array, size
const DTYPES = {
  f4: { ort: 'float32', array: Float32Array, size: 4 },
  f8: { ort: 'float64', array: Float64Array, size: 8 },
  f2: { ort: 'float16', array: Uint16Array, size: 2 },
  i8: { ort: 'int64', array: BigInt64Array, size: 8 },
  i4: { ort: 'int32', array: Int32Array, size: 4 },
  i2: { ort: 'int16', array: Int16Array, size: 2 },
  i1: { ort: 'int8', array: Int8Array, size: 1 },
  u8: { ort: 'uint64', array: BigUint64Array, size: 8 },
  u4: { ort: 'uint32', array: Uint32Array, size: 4 },
  u2: { ort: 'uint16', array: Uint16Array, size: 2 },
  u1: { ort: 'uint8', array: Uint8Array, size: 1 },
  b1: { ort: 'bool', array: Uint8Array, size: 1 },
};

// ORT tensor type -> numpy descr
const ORT_TO_DESCR = {
  float32: '<f4', float64: '<f8', float16: '<f2',
  int64: '<i8', int32: '<i4', int16: '<i2', int8: '|i1',
  uint64: '<u8', uint32: '<u4', uint16: '<u2', uint8: '|u1',
  bool: '|b1',
};

function parseDescr(descr, file) {
  const m = /^([<>|=]?)([a-z])(\d+)$/.exec(descr);
  if (!m) throw new Error(`${file}: unsupported dtype ${JSON.stringify(descr)}`);
  const [, order, kind, bytes] = m;
  const key = kind + bytes;
  const dt = DTYPES[key];
  if (!dt) {
    throw new Error(`${file}: unsupported dtype ${JSON.stringify(descr)} ` +
      `(supported: ${Object.values(ORT_TO_DESCR).join(' ')})`);
  }
  if (order === '>' && dt.size > 1) {
    throw new Error(`${file}: big-endian dtype ${JSON.stringify(descr)} is not supported`);
  }
  return dt;
}

// Parses the Python-literal header dict, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
function parseHeader(text, file) {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) {
    throw new Error(`${file}: malformed .npy header ${JSON.stringify(text.trim())}`);
  }
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    if (!/^\d+L?$/.test(s)) throw new Error(`${file}: bad shape entry ${JSON.stringify(s)}`);
    return parseInt(s, 10);
  });
  return { descr: descr[1], fortranOrder: fortran[1] === 'True', shape: dims };
}

function readNpy(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${e.message}`);
  }
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) {
    throw new Error(`${file}: not a .npy file (bad magic)`);
  }
  const major = buf[6];
  let headerLen;
  let headerStart;
  let encoding = 'latin1';
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new Error(`${file}: truncated .npy header`);
    headerLen = buf.readUInt32LE(8);
    headerStart = 12;
    if (major === 3) encoding = 'utf8';
  } else {
    throw new Error(`${file}: unsupported .npy version ${major}.${buf[7]}`);
  }
  const dataStart = headerStart + headerLen;
  if (buf.length < dataStart) throw new Error(`${file}: truncated .npy header`);
  const hdr = parseHeader(buf.toString(encoding, headerStart, dataStart), file);
  const dt = parseDescr(hdr.descr, file);
  const count = hdr.shape.reduce((a, b) => a * b, 1);
  if (hdr.fortranOrder && hdr.shape.filter((d) => d > 1).length > 1) {
    throw new Error(`${file}: Fortran-order arrays are not supported (save with C order)`);
  }
  const nbytes = count * dt.size;
  if (buf.length - dataStart < nbytes) {
    throw new Error(`${file}: data truncated: shape [${hdr.shape}] ${hdr.descr} needs ` +
      `${nbytes} bytes, file has ${buf.length - dataStart}`);
  }
  if (buf.length - dataStart > nbytes) {
    throw new Error(`${file}: ${buf.length - dataStart - nbytes} unexpected trailing bytes`);
  }
  // Copy into a fresh, aligned ArrayBuffer.
  const ab = new ArrayBuffer(nbytes);
  buf.copy(Buffer.from(ab), 0, dataStart, dataStart + nbytes);
  return { type: dt.ort, descr: hdr.descr, shape: hdr.shape, data: new dt.array(ab) };
}

function formatShape(shape) {
  if (shape.length === 0) return '()';
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

function npyBytes(descr, shape, dataBuf) {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${formatShape(shape)}, }`;
  let major = 1;
  let prefix = 10;
  // Total header (magic + version + length + dict + '\n') padded to 64 bytes.
  let total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  }
  header = header + ' '.repeat(total - prefix - header.length - 1) + '\n';
  const head = Buffer.alloc(prefix);
  MAGIC.copy(head, 0);
  head[6] = major;
  head[7] = 0;
  if (major === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), dataBuf]);
}

function writeNpy(file, descr, shape, typed) {
  const data = Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
  fs.writeFileSync(file, npyBytes(descr, shape, data));
}

// ---------------------------------------------------------------------------
// command line

function parseArgs(argv) {
  const opts = {
    model: null, out: null, threads: 1, opt: 'all', outputs: [],
    bench: null, warmup: null, profile: null, verbose: false, feeds: [],
  };
  const needValue = (i, flag) => {
    if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
    return argv[i + 1];
  };
  const intValue = (s, flag, min) => {
    if (!/^\d+$/.test(s) || parseInt(s, 10) < min) {
      throw new UsageError(`${flag} needs an integer >= ${min}, got ${JSON.stringify(s)}`);
    }
    return parseInt(s, 10);
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline = null;
    if (a.startsWith('--') && a.includes('=')) {
      inline = a.slice(a.indexOf('=') + 1);
      a = a.slice(0, a.indexOf('='));
    }
    const value = () => {
      if (inline !== null) return inline;
      const v = needValue(i, a);
      i++;
      return v;
    };
    switch (a) {
      case '-h': case '--help':
        opts.help = true; break;
      case '--model': opts.model = value(); break;
      case '--out': opts.out = value(); break;
      case '--threads': opts.threads = intValue(value(), a, 1); break;
      case '--opt': {
        const v = value();
        if (!['all', 'extended', 'basic', 'disabled'].includes(v)) {
          throw new UsageError(`--opt must be all, extended, basic or disabled, got ${JSON.stringify(v)}`);
        }
        opts.opt = v;
        break;
      }
      case '--output': opts.outputs.push(value()); break;
      case '--bench': opts.bench = intValue(value(), a, 1); break;
      case '--warmup': opts.warmup = intValue(value(), a, 0); break;
      case '--profile': opts.profile = value(); break;
      case '--verbose': opts.verbose = true; break;
      default: {
        if (a.startsWith('-')) throw new UsageError(`unknown option ${argv[i]}`);
        const eq = a.indexOf('=');
        if (eq <= 0 || eq === a.length - 1) {
          throw new UsageError(`expected NAME=FILE.npy, got ${JSON.stringify(a)}`);
        }
        opts.feeds.push({ name: a.slice(0, eq), file: a.slice(eq + 1) });
      }
    }
  }
  if (opts.help) return opts;
  if (!opts.model) throw new UsageError('--model is required');
  if (!opts.out && opts.bench === null) throw new UsageError('--out is required (unless --bench is given)');
  if (opts.warmup !== null && opts.bench === null) throw new UsageError('--warmup needs --bench');
  if (opts.profile !== null && opts.bench === null) throw new UsageError('--profile needs --bench');
  if (opts.warmup === null) opts.warmup = 3;
  const seen = new Set();
  for (const f of opts.feeds) {
    if (seen.has(f.name)) throw new UsageError(`input ${f.name} given twice`);
    seen.add(f.name);
  }
  return opts;
}

function sanitise(name) {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return s === '' || s === '.' || s === '..' ? '_' : s;
}

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    throw new Error('cannot load onnxruntime-node (' + e.message.split('\n')[0] + '); ' +
      `install it with: cd ${path.relative(process.cwd(), __dirname) || '.'} && npm install --ignore-scripts`);
  }
}

// Compares an input array with the model's declared input type and shape
// (where ONNX Runtime exposes them) to give an error that names the input.
function checkInput(session, feed, arr) {
  const meta = (session.inputMetadata || []).find((m) => m && m.name === feed.name);
  if (!meta || !meta.isTensor) return;
  if (meta.type && meta.type !== arr.type) {
    throw new Error(`input ${feed.name}: ${feed.file} holds ${arr.type} (${arr.descr}), ` +
      `the model expects ${meta.type}`);
  }
  // An empty shape means either a scalar or an unknown rank: not checked.
  const want = meta.shape || [];
  if (want.length === 0) return;
  const bad = want.length !== arr.shape.length ||
    want.some((d, i) => typeof d === 'number' && d >= 0 && d !== arr.shape[i]);
  if (bad) {
    throw new Error(`input ${feed.name}: ${feed.file} has shape [${arr.shape.join(', ')}], ` +
      `the model expects [${want.map((d) => (typeof d === 'number' ? d : JSON.stringify(d))).join(', ')}]`);
  }
}

function msSince(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(argv) {
  const opts = parseArgs(argv);
  if (opts.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (os.endianness() !== 'LE') throw new Error('only little-endian hosts are supported');
  if (!fs.existsSync(opts.model)) throw new Error(`model file not found: ${opts.model}`);
  const ort = loadOrt();

  let session;
  try {
    session = await ort.InferenceSession.create(opts.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: opts.opt,
      logSeverityLevel: opts.verbose ? 2 : 3,
      ...(opts.profile !== null ? { enableProfiling: true, profileFilePrefix: opts.profile } : {}),
    });
  } catch (e) {
    throw new Error(`cannot load model ${opts.model}: ${e.message}`);
  }

  // inputs
  const feeds = {};
  const given = new Set(opts.feeds.map((f) => f.name));
  for (const f of opts.feeds) {
    if (!session.inputNames.includes(f.name)) {
      throw new Error(`model has no input ${JSON.stringify(f.name)} ` +
        `(inputs: ${session.inputNames.map((n) => JSON.stringify(n)).join(', ')})`);
    }
    const arr = readNpy(f.file);
    checkInput(session, f, arr);
    try {
      feeds[f.name] = new ort.Tensor(arr.type, arr.data, arr.shape);
    } catch (e) {
      throw new Error(`input ${f.name} (${f.file}): ${e.message}`);
    }
  }
  const missing = session.inputNames.filter((n) => !given.has(n));
  if (missing.length) {
    throw new Error(`missing model input(s): ${missing.map((n) => JSON.stringify(n)).join(', ')} ` +
      '(pass NAME=FILE.npy)');
  }

  // outputs
  let fetches = session.outputNames.slice();
  if (opts.outputs.length) {
    for (const n of opts.outputs) {
      if (!session.outputNames.includes(n)) {
        throw new Error(`model has no output ${JSON.stringify(n)} ` +
          `(outputs: ${session.outputNames.map((o) => JSON.stringify(o)).join(', ')})`);
      }
    }
    fetches = opts.outputs;
  }

  const run = async () => {
    try {
      return await session.run(feeds, fetches);
    } catch (e) {
      throw new Error(`inference failed: ${e.message}`);
    }
  };

  const results = await run();

  if (opts.out) {
    fs.mkdirSync(opts.out, { recursive: true });
    const index = {};
    fetches.forEach((name, i) => {
      const t = results[name];
      if (!t) throw new Error(`output ${name} missing from the results`);
      const descr = ORT_TO_DESCR[t.type];
      if (!descr) throw new Error(`output ${name}: tensor type ${t.type} cannot be written as .npy`);
      const fileName = `${i}_${sanitise(name)}.npy`;
      const shape = Array.from(t.dims, Number);
      writeNpy(path.join(opts.out, fileName), descr, shape, t.data);
      index[name] = { index: i, file: fileName, dtype: descr, shape };
    });
    const lines = Object.entries(index).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    fs.writeFileSync(path.join(opts.out, 'outputs.json'), `{\n${lines.join(',\n')}\n}\n`);
  }

  if (opts.bench !== null) {
    for (let i = 0; i < opts.warmup; i++) await run();
    const times = [];
    for (let i = 0; i < opts.bench; i++) {
      const t0 = process.hrtime.bigint();
      await run();
      times.push(msSince(t0));
    }
    times.sort((a, b) => a - b);
    const n = times.length;
    const median = n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
    const mean = times.reduce((a, b) => a + b, 0) / n;
    const r = (x) => Math.round(x * 1e4) / 1e4;
    process.stdout.write(JSON.stringify({
      median_ms: r(median), min_ms: r(times[0]), max_ms: r(times[n - 1]), mean_ms: r(mean),
      iters: n, warmup: opts.warmup, threads: opts.threads, opt: opts.opt,
    }) + '\n');
    if (opts.profile !== null) {
      session.endProfiling();
      process.stderr.write(profileSummary(opts.profile, 1 + opts.warmup + n));
    }
  }
}

// profileSummary reads the newest ONNX Runtime profile written under
// prefix and sums its kernels' times per op type and per node, per run
// (runs: the session's runs, warm-up included, which the profile holds).
function profileSummary(prefix, runs) {
  const dir = path.dirname(prefix);
  const base = path.basename(prefix) + '_';
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith('.json'))
    .map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (!files.length) throw new Error(`no ONNX Runtime profile found at ${prefix}_*.json`);
  const events = JSON.parse(fs.readFileSync(files[0], 'utf8'));
  const byOp = new Map();
  const byNode = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = (e.args && e.args.op_name) || '?';
    const node = e.name.slice(0, -'_kernel_time'.length);
    byOp.set(op, (byOp.get(op) || 0) + e.dur);
    const n = byNode.get(node) || { op, us: 0 };
    n.us += e.dur;
    byNode.set(node, n);
  }
  const ms = (us) => (us / runs / 1000).toFixed(3).padStart(9);
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  const lines = [`ONNX Runtime profile ${files[0]}, per run (kernels ${ms(total).trim()} ms):`];
  for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1])) {
    lines.push(`  ${op.padEnd(26)} ${ms(us)} ms ${(100 * us / total).toFixed(1).padStart(6)}%`);
  }
  lines.push('slowest nodes:');
  for (const [node, v] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, 10)) {
    lines.push(`  ${ms(v.us)} ms  ${v.op.padEnd(20)} ${JSON.stringify(node)}`);
  }
  return lines.join('\n') + '\n';
}

module.exports = { readNpy, writeNpy, npyBytes, sanitise };

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    if (e instanceof UsageError) {
      process.stderr.write(`run.js: ${e.message}\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`run.js: error: ${e.message}\n`);
    process.exit(1);
  });
}
