// Checks Kubernetes manifests against the API's JSON schemas, offline:
// kubernetes-models carries the schemas of every built-in kind (compiled
// from the Kubernetes OpenAPI spec) and validates objects with ajv, so a
// wrong type, a missing required field or a value outside an enum fails.
// Fields the schema does not know are not rejected (as kubeconform
// without -strict).
//
//   node tools/k8s/validate.js deploy/k8s/*.yaml
//
// Prints one line per object and exits 1 if any fails or has a kind with
// no schema here. Install once: cd tools/k8s && npm ci.
'use strict';
const fs = require('fs');
const yaml = require('js-yaml');

// schemaFor returns the kubernetes-models class of an object's
// apiVersion and kind, or undefined.
function schemaFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const path = group === '' ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`;
  try {
    return require(path)[kind];
  } catch (e) {
    return undefined;
  }
}

let failed = 0;
for (const file of process.argv.slice(2)) {
  let docs;
  try {
    docs = yaml.loadAll(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    console.log(`${file}: ${e.message.split('\n')[0]}`);
    failed++;
    continue;
  }
  for (const doc of docs) {
    if (!doc) continue;
    const name = `${doc.kind} ${doc.metadata && doc.metadata.name}`;
    const Kind = schemaFor(String(doc.apiVersion), String(doc.kind));
    if (!Kind) {
      console.log(`${file}: ${name}: no schema for ${doc.apiVersion} ${doc.kind}`);
      failed++;
      continue;
    }
    try {
      new Kind(doc).validate();
      console.log(`${file}: ${name}: valid`);
    } catch (e) {
      console.log(`${file}: ${name}: ${e.message}`);
      failed++;
    }
  }
}
process.exit(failed ? 1 : 0);
