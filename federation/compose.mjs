// Compose subgraph SDL files into a supergraph with the Guild's federation composition.
// usage: node compose.mjs OUT [--url name=URL ...] name=path.graphql [name=path.graphql ...]
// Each subgraph is reached at its --url (recorded in @join__graph(url:), where a gateway reads
// it); without one, at http://NAME.invalid/graphql, a placeholder (`omnigraph export-schema`
// composes only to learn that the subgraphs compose).
// Prints composition errors and exits 1 when the subgraphs do not compose.
import { readFileSync, writeFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices } from "@theguild/federation-composition";

const usage = "usage: node compose.mjs OUT [--url name=URL ...] name=path.graphql ...";
const [out, ...rest] = process.argv.slice(2);
const urls = new Map();
const specs = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === "--url") {
    const pair = rest[++i] ?? "";
    const at = pair.indexOf("=");
    if (at < 1) {
      console.error(`--url needs name=URL, got ${JSON.stringify(pair)}`);
      process.exit(2);
    }
    urls.set(pair.slice(0, at), pair.slice(at + 1));
  } else {
    specs.push(rest[i]);
  }
}
if (!out || specs.length === 0) {
  console.error(usage);
  process.exit(2);
}
const services = specs.map((spec) => {
  const at = spec.indexOf("=");
  const [name, path] = [spec.slice(0, at), spec.slice(at + 1)];
  const url = urls.get(name) ?? `http://${name}.invalid/graphql`;
  urls.delete(name);
  return { name, typeDefs: parse(readFileSync(path, "utf8")), url };
});
if (urls.size > 0) {
  console.error(`--url for an unknown subgraph: ${[...urls.keys()].join(", ")}`);
  process.exit(2);
}
const result = composeServices(services);
if (result.errors && result.errors.length > 0) {
  for (const error of result.errors) console.error(error.message);
  process.exit(1);
}
writeFileSync(out, result.supergraphSdl.trimEnd() + "\n");
