// Validates GraphQL documents (and their variables) against Shopify's published Admin API schema, one schema per
// API version, as the npm package @shopify/dev-mcp ships them (dist/data/admin_<version>.json.gz introspections).
// Driven by tests/integration/test_shopify_schema.py; it does not decide which documents synchub sends.
//
// stdin:  {"documents": [{"label": "...", "query": "...", "variables": {...} | null, "versions": ["2026-10", ...]}]}
// stdout: {"versions": [every version the package ships], "results": [{"label", "version", "errors": [text]}]}
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { buildClientSchema, getOperationAST, parse, validate } from "graphql";
import { getVariableValues } from "graphql/execution/values.js";

// the package exports no data path: read it from this folder's node_modules (npm ci of package-lock.json)
const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, "node_modules", "@shopify", "dev-mcp", "dist", "data");
const shipped = readdirSync(dataDir)
  .map((f) => /^admin_(.+)\.json\.gz$/.exec(f))
  .filter(Boolean)
  .map((m) => m[1])
  .sort();
const schemas = new Map();

function schemaOf(version) {
  if (!schemas.has(version)) {
    const raw = JSON.parse(gunzipSync(readFileSync(join(dataDir, `admin_${version}.json.gz`))).toString("utf8"));
    schemas.set(version, buildClientSchema(raw.data ?? raw));
  }
  return schemas.get(version);
}

const input = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const doc of input.documents) {
  for (const version of doc.versions) {
    const errors = [];
    if (!shipped.includes(version)) {
      errors.push(`no published schema for API version ${version} in @shopify/dev-mcp`);
    } else {
      const schema = schemaOf(version);
      let ast = null;
      try {
        ast = parse(doc.query);
      } catch (e) {
        errors.push(`syntax: ${e.message}`);
      }
      if (ast) {
        for (const e of validate(schema, ast)) errors.push(e.message);
        const op = getOperationAST(ast);
        if (!errors.length && op) {
          const coerced = getVariableValues(schema, op.variableDefinitions ?? [], doc.variables ?? {});
          for (const e of coerced.errors ?? []) errors.push(`variables: ${e.message}`);
        }
      }
    }
    results.push({ label: doc.label, version, errors });
  }
}
process.stdout.write(JSON.stringify({ versions: shipped, results }));
