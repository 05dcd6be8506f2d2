#!/usr/bin/env node
// ONNX Runtime's pass counts on ONNX's backend-test suites (libonnx-testdata),
// the reference beside graft's TestNodeConformance and TestModelConformance.
//
// Usage:
//   node tools/ort/conformance.js [--root DIR] [--json FILE] SUITE ...
//
// SUITE is a folder under --root (default /usr/share/libonnx-testdata/data),
// e.g. node, pytorch-converted, pytorch-operator, simple. Each test is a
// folder with model.onnx and test_data_set_N/{input_K,output_K}.pb; input_K
// feeds the K-th of the session's inputs (the graph inputs that are not
// initializers). A test passes when every data set's every output matches
// with graft's tolerances: |got - want| <= 1e-5 + 1e-3 |want| (NaN equals
// NaN, an infinity itself), strings and bools exactly.
//
// It prints one line per suite ("SUITE: ONNX Runtime P/T passed") and then
// every failing test with the reason; --json writes {suite: {test: "ok" or
// reason}}. The TensorProto files are decoded here (a minimal protobuf
// reader), so the count does not depend on what graft can load.
//
// Exit status: 0 when it ran (whatever the counts), 2 on a usage error.
'use strict';

const fs = require('fs');
const path = require('path');

// ---------------------------------------------------------------------------
// minimal protobuf reading of onnx.TensorProto

class Reader {
  constructor(buf) { this.buf = buf; this.pos = 0; }
  done() { return this.pos >= this.buf.length; }
  varint() { // as BigInt, to keep int64 exact
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  }
  bytes() {
    const n = Number(this.varint());
    if (this.pos + n > this.buf.length) throw new Error('truncated field');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  skip(wire) {
    switch (wire) {
      case 0: this.varint(); break;
      case 1: this.pos += 8; break;
      case 2: this.bytes(); break;
      case 5: this.pos += 4; break;
      default: throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

// Reads a repeated scalar field, packed (wire 2) or not.
function repeated(r, wire, one, size) {
  const out = [];
  if (wire === 2) {
    const b = r.bytes();
    const sub = new Reader(b);
    if (size) {
      for (let i = 0; i + size <= b.length; i += size) out.push(one(new Reader(b.subarray(i, i + size))));
    } else {
      while (!sub.done()) out.push(one(sub));
    }
  } else {
    out.push(one(r));
  }
  return out;
}

const signed64 = (v) => BigInt.asIntN(64, v);
const signed32 = (v) => Number(BigInt.asIntN(32, v));

// ONNX data_type -> ORT type, typed array for raw_data
const ONNX_TYPES = {
  1: { ort: 'float32', array: Float32Array },
  2: { ort: 'uint8', array: Uint8Array },
  3: { ort: 'int8', array: Int8Array },
  4: { ort: 'uint16', array: Uint16Array },
  5: { ort: 'int16', array: Int16Array },
  6: { ort: 'int32', array: Int32Array },
  7: { ort: 'int64', array: BigInt64Array },
  8: { ort: 'string', array: null },
  9: { ort: 'bool', array: Uint8Array },
  10: { ort: 'float16', array: Uint16Array },
  11: { ort: 'float64', array: Float64Array },
  12: { ort: 'uint32', array: Uint32Array },
  13: { ort: 'uint64', array: BigUint64Array },
};

function readTensorProto(file) {
  const r = new Reader(fs.readFileSync(file));
  const dims = [];
  let dataType = 0;
  let raw = null;
  const floats = []; const ints32 = []; const ints64 = []; const doubles = [];
  const uints64 = []; const strings = [];
  while (!r.done()) {
    const key = Number(r.varint());
    const field = key >> 3;
    const wire = key & 7;
    switch (field) {
      case 1: dims.push(...repeated(r, wire, (s) => Number(signed64(s.varint())))); break;
      case 2: dataType = Number(r.varint()); break;
      case 4: floats.push(...repeated(r, wire === 5 ? 5 : wire, (s) => {
        const v = s.buf.readFloatLE(s.pos); s.pos += 4; return v;
      }, 4)); break;
      case 5: ints32.push(...repeated(r, wire, (s) => signed32(s.varint()))); break;
      case 6: strings.push(Buffer.from(r.bytes()).toString('utf8')); break;
      case 7: ints64.push(...repeated(r, wire, (s) => signed64(s.varint()))); break;
      case 9: raw = Buffer.from(r.bytes()); break;
      case 10: doubles.push(...repeated(r, wire, (s) => {
        const v = s.buf.readDoubleLE(s.pos); s.pos += 8; return v;
      }, 8)); break;
      case 11: uints64.push(...repeated(r, wire, (s) => s.varint())); break;
      case 14: if (Number(r.varint()) !== 0) throw new Error(`${file}: external data is not supported`); break;
      default: r.skip(wire);
    }
  }
  const t = ONNX_TYPES[dataType];
  if (!t) throw new Error(`${file}: unsupported data_type ${dataType}`);
  const count = dims.reduce((a, b) => a * b, 1);
  let data;
  if (t.ort === 'string') {
    data = strings;
  } else if (raw) {
    const ab = new ArrayBuffer(raw.length);
    raw.copy(Buffer.from(ab));
    data = new t.array(ab);
  } else {
    const src = { 1: floats, 11: doubles, 7: ints64, 13: uints64 }[dataType] || ints32;
    data = t.array.from(src);
  }
  if (data.length !== count) throw new Error(`${file}: ${data.length} elements for shape [${dims}]`);
  return { type: t.ort, dims, data };
}

// ---------------------------------------------------------------------------
// comparison (graft's closeEnough)

function float16ToNumber(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function compare(got, want) {
  if (!got) return 'output missing';
  const gd = Array.from(got.dims, Number);
  if (gd.length !== want.dims.length || gd.some((d, i) => d !== want.dims[i])) {
    return `shape [${gd}], want [${want.dims}]`;
  }
  if (got.type !== want.type) return `dtype ${got.type}, want ${want.type}`;
  const num = (x) => (want.type === 'float16' ? float16ToNumber(x) : Number(x));
  for (let i = 0; i < want.data.length; i++) {
    if (want.type === 'string' || want.type === 'bool') {
      if (got.data[i] !== want.data[i] && Number(got.data[i]) !== Number(want.data[i])) {
        return `element ${i}: got ${JSON.stringify(got.data[i])}, want ${JSON.stringify(want.data[i])}`;
      }
      continue;
    }
    const g = num(got.data[i]);
    const w = num(want.data[i]);
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (!Number.isFinite(w) && g === w) continue;
    if (!(Math.abs(g - w) <= 1e-5 + 1e-3 * Math.abs(w))) return `element ${i}: got ${g}, want ${w}`;
  }
  return null;
}

// ---------------------------------------------------------------------------

async function runTest(ort, dir) {
  let session;
  try {
    session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
      executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 4,
    });
  } catch (e) {
    return `cannot load: ${e.message.split('\n')[0]}`;
  }
  const sets = fs.readdirSync(dir).filter((d) => /^test_data_set_\d+$/.test(d)).sort();
  if (!sets.length) return 'no test_data_set_N';
  for (const set of sets) {
    const files = fs.readdirSync(path.join(dir, set));
    const count = (prefix) => files.filter((f) => new RegExp(`^${prefix}_\\d+\\.pb$`).test(f)).length;
    const feeds = {};
    const nin = count('input');
    if (nin > session.inputNames.length) return `${set}: ${nin} inputs for ${session.inputNames.length} session inputs`;
    for (let k = 0; k < nin; k++) {
      const t = readTensorProto(path.join(dir, set, `input_${k}.pb`));
      feeds[session.inputNames[k]] = new ort.Tensor(t.type, t.data, t.dims);
    }
    let results;
    try {
      results = await session.run(feeds);
    } catch (e) {
      return `${set}: run failed: ${e.message.split('\n')[0]}`;
    }
    const nout = count('output');
    for (let k = 0; k < nout; k++) {
      const want = readTensorProto(path.join(dir, set, `output_${k}.pb`));
      const why = compare(results[session.outputNames[k]], want);
      if (why) return `${set}: output ${k}: ${why}`;
    }
  }
  return 'ok';
}

async function main(argv) {
  let root = '/usr/share/libonnx-testdata/data';
  let json = null;
  const suites = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root' && i + 1 < argv.length) root = argv[++i];
    else if (argv[i] === '--json' && i + 1 < argv.length) json = argv[++i];
    else if (argv[i].startsWith('-')) throw Object.assign(new Error(`unknown option ${argv[i]}`), { usage: true });
    else suites.push(argv[i]);
  }
  if (!suites.length) throw Object.assign(new Error('name at least one suite'), { usage: true });
  const ort = require('onnxruntime-node');
  const all = {};
  const lines = [];
  for (const suite of suites) {
    const sdir = path.join(root, suite);
    if (!fs.existsSync(sdir)) throw new Error(`no suite ${sdir}`);
    const tests = fs.readdirSync(sdir).filter((d) => d.startsWith('test_')).sort();
    const res = {};
    for (const t of tests) {
      try {
        res[t] = await runTest(ort, path.join(sdir, t));
      } catch (e) {
        res[t] = e.message;
      }
    }
    all[suite] = res;
    const pass = Object.values(res).filter((v) => v === 'ok').length;
    process.stdout.write(`${suite}: ONNX Runtime ${pass}/${tests.length} passed\n`);
    for (const [t, why] of Object.entries(res)) if (why !== 'ok') lines.push(`${suite}: failed: ${t} (${why})`);
  }
  process.stdout.write(lines.map((l) => l + '\n').join(''));
  if (json) fs.writeFileSync(json, JSON.stringify(all, null, 1) + '\n');
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`conformance.js: ${e.message}\n`);
  if (e.usage) process.stderr.write('usage: node tools/ort/conformance.js [--root DIR] [--json FILE] SUITE ...\n');
  process.exit(e.usage ? 2 : 1);
});
