#!/usr/bin/env node
// Checks a live GruService against ONNX Runtime reference vectors written by ../shared/refs/make_vectors.js
// (model-N.safetensors + model-N.expected.json). Each model is uploaded as onnx-check-N, all its sequences
// (ragged lengths) go in ONE request, and every value must satisfy |actual - expected| <= 1e-5 * max(1, |expected|).
// Node 20, no npm dependencies. Normally run by verify-against-onnx.sh.
//   node verify-against-onnx.mjs --url URL --vectors DIR   check every model in DIR; exit 1 on any mismatch
//   node verify-against-onnx.mjs --gaps --vectors DIR      print the coverage DIR lacks (nothing: fully covered)
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const TOL = 1e-5;
const { values: opt } = parseArgs({ options: { url: { type: 'string' }, vectors: { type: 'string' }, gaps: { type: 'boolean' } } });
if (!opt.vectors || !(opt.gaps || opt.url)) {
  console.error('usage: node verify-against-onnx.mjs (--url URL | --gaps) --vectors DIR');
  process.exit(2);
}

const models = fs.readdirSync(opt.vectors)
  .map(f => /^model-(\d+)\.expected\.json$/.exec(f)).filter(Boolean).map(m => +m[1]).sort((a, b) => a - b)
  .map(seed => ({ seed, ...JSON.parse(fs.readFileSync(path.join(opt.vectors, `model-${seed}.expected.json`), 'utf8')) }));

// The claim covers both tasks, both GRU variants and bidirectional models, so a run must contain each of them.
const wanted = [
  ['forecast', c => c.task === 'forecast'], ['classify', c => c.task === 'classify'],
  ['linear_before_reset', c => c.linear_before_reset], ['reset_before_matmul', c => !c.linear_before_reset],
  ['bidirectional', c => c.bidirectional]];
const gaps = wanted.filter(([, has]) => !models.some(m => has(m.config))).map(([name]) => name);
if (opt.gaps) {
  if (gaps.length) console.log(gaps.join(', '));
  process.exit(0);
}
if (models.length === 0 || gaps.length) {
  console.error(`FAIL: ${models.length} models in ${opt.vectors}; missing: ${gaps.join(', ')}`);
  process.exit(1);
}

const base = opt.url.replace(/\/+$/, '');

async function call(method, url, body, contentType) {
  // Uploads need an API key with scope manage (and inference one with scope infer when the service locks it).
  const headers = body ? { 'Content-Type': contentType } : {};
  if (process.env.API_KEY) headers['X-Api-Key'] = process.env.API_KEY;
  const res = await fetch(url, { method, body, headers });
  const text = await res.text();
  let json; try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text };
}

// Walks expected and actual together: shape differences are failures, numbers give scaled errors.
function compare(expected, actual, where, out) {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      out.problems.push(`${where}: expected ${expected.length} entries, got ${JSON.stringify(actual)?.slice(0, 80)}`);
      return;
    }
    expected.forEach((e, i) => compare(e, actual[i], `${where}[${i}]`, out));
    return;
  }
  let err = typeof actual === 'number' ? Math.abs(actual - expected) / Math.max(1, Math.abs(expected)) : Infinity;
  if (Number.isNaN(err)) err = Infinity;
  out.values++;
  out.worst = Math.max(out.worst, err);
  if (err > TOL) out.problems.push(`${where}: expected ${expected}, got ${actual} (scaled error ${err.toExponential(2)})`);
}

async function check({ seed, config: c, inputs, expected }) {
  const name = `onnx-check-${seed}`, url = `${base}/v1/models/${name}`;
  const out = { values: 0, worst: 0, problems: [] };
  const put = await call('PUT', url, fs.readFileSync(path.join(opt.vectors, `model-${seed}.safetensors`)), 'application/octet-stream');
  if (put.status !== 201) throw new Error(`PUT ${name} answered ${put.status}: ${put.text.slice(0, 300)}`);
  for (const key of ['task', 'input_size', 'hidden_size', 'num_layers', 'bidirectional', 'linear_before_reset'])
    if (put.json[key] !== c[key]) out.problems.push(`card ${key}: expected ${c[key]}, got ${put.json[key]}`);

  const res = await call('POST', `${url}/${c.task}`, JSON.stringify({ inputs }), 'application/json');
  if (res.status !== 200) throw new Error(`POST ${c.task} answered ${res.status}: ${res.text.slice(0, 300)}`);
  if (c.task === 'forecast') compare(expected, res.json.forecasts, 'forecasts', out);
  else {
    const preds = res.json.predictions ?? [];
    compare(expected, preds.map(p => p.probabilities), 'probabilities', out);
    // The reported label must be the most probable class of the probabilities it comes with.
    preds.forEach((p, i) => {
      const top = p.probabilities.indexOf(Math.max(...p.probabilities));
      if (p.index !== top || p.label !== c.classes[top]) out.problems.push(`predictions[${i}]: index ${p.index} / label ${p.label}, argmax is ${top}`);
    });
  }
  // Passing models are removed so a --url run leaves a live service as it was; failing ones stay for inspection.
  if (out.problems.length === 0) await call('DELETE', url);
  return out;
}

let values = 0, worst = 0, worstSeed = models[0].seed, failed = 0;
for (const m of models) {
  const c = m.config;
  const shape = c.task === 'forecast' ? `horizon=${c.horizon} out=${c.output_size}` : `classes=${c.classes.length}`;
  const head = `seed ${m.seed} ${c.task} I=${c.input_size} H=${c.hidden_size} ${shape} L=${c.num_layers}` +
    ` ${c.bidirectional ? 'bidirectional' : 'forward'} ${c.linear_before_reset ? 'linear_before_reset' : 'reset_before_matmul'}` +
    ` input_norm=${c.input_mean ? 'y' : 'n'}` + (c.task === 'forecast' ? ` target_norm=${c.target_mean ? 'y' : 'n'}` : '') +
    ` seqs=${m.inputs.length} steps=${m.inputs.map(s => s.length).join('/')}`;
  let r;
  try { r = await check(m); } catch (e) { r = { values: 0, worst: Infinity, problems: [e.cause ? `${e.message}: ${e.cause.message ?? e.cause.code}` : e.message] }; }
  values += r.values;
  if (r.worst > worst) { worst = r.worst; worstSeed = m.seed; }
  const ok = r.problems.length === 0;
  if (!ok) failed++;
  console.log(`${head} worst=${r.worst.toExponential(2)} ${ok ? 'ok' : 'FAIL'}`);
  for (const p of r.problems.slice(0, 8)) console.log(`    ${p}`);
  if (r.problems.length > 8) console.log(`    ... and ${r.problems.length - 8} more`);
}
console.log(`SUMMARY models=${models.length} failed=${failed} values=${values} worst_scaled_error=${worst.toExponential(2)}` +
  ` (seed ${worstSeed}) tolerance=${TOL.toExponential()} ${failed ? 'FAIL' : 'PASS'}`);
if (failed) console.log(`failing models that were stored stay on ${base} as onnx-check-SEED for inspection`);
process.exit(failed ? 1 : 0);
