// Compose subgraph SDL files into a supergraph with the Guild's federation composition.
// usage: node compose.mjs OUT name=path.graphql [name=path.graphql ...]
// Prints composition errors and exits 1 when the subgraphs do not compose.
import { readFileSync, writeFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices } from "@theguild/federation-composition";

const [out, ...specs] = process.argv.slice(2);
if (!out || specs.length === 0) {
  console.error("usage: node compose.mjs OUT name=path.graphql ...");
  process.exit(2);
}
const services = specs.map((spec) => {
  const [name, path] = spec.split("=");
  return { name, typeDefs: parse(readFileSync(path, "utf8")), url: `http://${name}.invalid/graphql` };
});
const result = composeServices(services);
if (result.errors && result.errors.length > 0) {
  for (const error of result.errors) console.error(error.message);
  process.exit(1);
}
writeFileSync(out, result.supergraphSdl.trimEnd() + "\n");
